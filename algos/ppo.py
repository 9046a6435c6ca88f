"""PPO: proximal policy optimization (Schulman et al. 2017, "Proximal Policy Optimization Algorithms",
arXiv:1707.06347).

N actors each run the policy for T steps; GAE(lambda) gives advantages A_t and value targets
R_t = A_t + V_old(s_t); then K epochs of Adam steps on shuffled minibatches minimise (equation 9)
    -mean(L_t)  +  c1 mean((V(s_t) - R_t)^2)  -  c2 mean(entropy of pi(.|s_t))
where L_t is one of the surrogate objectives Table 1 compares (`objective`; r_t = pi(a_t|s_t) / pi_old(a_t|s_t)):
    clip         min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t)                   equation 7, the default
    adaptive_kl  r_t A_t - beta KL[pi_old(.|s_t), pi(.|s_t)], beta adapted        equation 8 and section 4
    fixed_kl     the same at a fixed beta                                         equation 8
    none         r_t A_t                                                          equation 6 (L^CPI)
The KL is the exact divergence of the two policies (Gaussian or categorical) at s_t. Section 4's rule:
after each update, d = the rollout's mean KL; beta halves when d < d_targ / 1.5 and doubles when
d > 1.5 d_targ, for the next update.

Presets (auto picks one by family; sources and measurements: docs/algorithms/policy_gradient.md):
- atari: the defaults, Table 5: 8 actors, horizon 128, 3 epochs, minibatch 256, Adam 2.5e-4 and
  eps 0.1, both x alpha falling 1 -> 0, c1 1, c2 0.01, gamma 0.99, lambda 0.95, the Nature CNN
  shared (section 6.4), 10M agent steps = 40M frames; FIRE pressed at reset, as Baselines' wrappers.
- minatar: Table 5 on MinAtar, which the paper did not run (and whose protocol has no FIRE option).
- atari_sb3_zoo (NOT the paper's): rl-baselines3-zoo's Atari setting, to compare with Stable-Baselines3.
- mujoco (continuous actions, DM Control too): Table 3: horizon 2048, 10 epochs, minibatch 64, Adam
  3e-4, eps 0.2, no annealing, no entropy bonus, separate 64-64 tanh networks (6.1), 1M steps; one
  env (Baselines ppo1's run_mujoco); observations and rewards normalised as Baselines ppo2's VecNormalize.
- classic (NOT from the paper; other discrete tasks): rl-baselines3-zoo's tuned CartPole-v1 setting.
A run's score is the paper's: the mean return of the last 100 training episodes (eval.csv beside it).

From the OpenAI Baselines code, not the paper (each run lists them in deviations.json): gradient-norm
clip 0.5 (ppo2), Adam eps 1e-5, advantages standardised per rollout (ppo1; `minibatch` is ppo2's),
orthogonal initialisation. Value clipping (ppo2) is off, as in the paper; the value loss is the
paper's squared error. Deliberate deviations: time-limit truncations bootstrap from V(last state)
(Baselines: terminal); gymnasium's autoreset steps enter no loss. Checkpoints hold the envs' state and
the normalisation statistics; where an env cannot be saved (MuJoCo), a resumed run restarts its episodes.
"""

from __future__ import annotations

import sys
from pathlib import Path
import copy
from typing import ClassVar

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import kl_divergence

import envs
from common.actor_critic import ActorCritic, acting_policy, evaluation_policy, gae, standardize
from common.config import RunConfig, config_class, resolve_device
from common.nets import ENCODERS, action_sizes, observation_box, spaces
from common.rollout import Rollout
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import require
from core.files import write_json
from envs.normalize import normalization_state, normalized, save_normalization

ADVANTAGE_NORMALIZATION = ("none", "rollout", "minibatch")
# The surrogate objectives of Table 1 and the settings each one reads (the others are ignored).
OBJECTIVES = {
    "clip": ("clip_range", "anneal_clip"),
    "adaptive_kl": ("kl_coef", "kl_target"),
    "fixed_kl": ("kl_coef",),
    "none": (),
}
PAPER = "Schulman et al. 2017, arXiv:1707.06347"
# Where each preset comes from, for deviations.json.
PRESET_SOURCES = {
    "atari": "Table 5 and section 6.4; FIRE at reset from Baselines' Atari wrappers",
    "minatar": "Table 5, on MinAtar: not run by the paper",
    "atari_sb3_zoo": "not the paper's: rl-baselines3-zoo's Atari setting under Stable-Baselines3's PPO defaults",
    "mujoco": "Table 3 and sections 6.1-6.2; one env as Baselines ppo1's run_mujoco",
    "classic": "not from the paper: rl-baselines3-zoo's tuned CartPole-v1 setting",
}


@config_class
class Config(RunConfig):
    CHECKED_ON = {"classic": ("CartPole-v1", "Acrobot-v1")}  # where the classic preset was measured
    PRESETS: ClassVar[dict[str, dict]] = {
        # Baselines' wrap_deepmind pressed FIRE after every reset in games that need it (FireResetEnv).
        "atari": {"env_protocol": "dqn2015:fire_reset=true"},
        "minatar": {},
        # rl-baselines3-zoo hyperparams/ppo.yml, `atari`: Table 5 but n_epochs 4 and vf_coef 0.5, under SB3's PPO
        # defaults (advantages standardised per minibatch, no value clipping): experiments/ppo_atari_parity.yaml.
        "atari_sb3_zoo": {"env_protocol": "dqn2015:fire_reset=true", "epochs": 4, "value_coef": 0.5,
                          "normalize_advantages": "minibatch"},
        # Table 3; normalisation: Baselines ppo2's VecNormalize (its MuJoCo benchmark setting); our eval_interval.
        "mujoco": dict(num_envs=1, n_steps=2048, epochs=10, minibatch_size=64, learning_rate=3e-4, anneal_lr=False,
                       clip_range=0.2, anneal_clip=False, entropy_coef=0.0, shared_network=False,
                       normalize_observations=True, normalize_rewards=True, total_steps=1_000_000,
                       eval_interval=50_000),
        # rl-baselines3-zoo hyperparams/ppo.yml, CartPole-v1 (n_envs 8, n_steps 32, batch_size 256, n_epochs 20,
        # learning_rate lin_0.001, clip_range lin_0.2, gamma 0.98, gae_lambda 0.8, ent_coef 0, n_timesteps 1e5)
        # with SB3's value coefficient 0.5 and separate pi and vf networks; our eval_interval.
        "classic": dict(num_envs=8, n_steps=32, epochs=20, minibatch_size=256, learning_rate=1e-3, clip_range=0.2,
                        discount=0.98, gae_lambda=0.8, value_coef=0.5, entropy_coef=0.0, shared_network=False,
                        total_steps=100_000, eval_interval=10_000),
    }

    num_envs: int = 8
    """parallel actors N (Table 5: 8)"""
    n_steps: int = 128
    """horizon T: environment steps per actor per rollout (Table 5: 128)"""
    epochs: int = 3
    """K: passes over each rollout (Table 5: 3)"""
    minibatch_size: int = 256
    """transitions per minibatch (Table 5: 32 x 8 actors); a rollout gives ceil(valid transitions / this) minibatches"""
    learning_rate: float = 2.5e-4
    """Adam step size at the start of training (Table 5: 2.5e-4 x alpha)"""
    anneal_lr: bool = True
    """multiply the step size by alpha = 1 - (steps before this update) / total_steps (Table 5; fixed per update, as Baselines)"""
    clip_range: float = 0.1
    """epsilon of the clipped surrogate at the start of training (Table 5: 0.1 x alpha)"""
    anneal_clip: bool = True
    """multiply epsilon by alpha too (Table 5)"""
    objective: str = "clip"
    """the surrogate objective: clip (equation 7), adaptive_kl (equation 8, beta adapted as section 4),
    fixed_kl (equation 8, fixed beta) or none (equation 6): Table 1's settings"""
    kl_coef: float = 1.0
    """beta, the KL penalty's weight: fixed_kl keeps it, adaptive_kl starts from it (Table 1: fixed 0.3, 1, 3, 10;
    adaptive starts at 1, whose value 'is not important in practice', section 4)"""
    kl_target: float = 0.01
    """d_targ of adaptive_kl: the rollout's mean KL after an update that keeps beta unchanged, within a factor
    1.5 (section 4; Table 1: 0.003, 0.01, 0.03)"""
    discount: float = 0.99
    """reward discount gamma (Table 5)"""
    gae_lambda: float = 0.95
    """lambda of generalized advantage estimation (Table 5)"""
    value_coef: float = 1.0
    """c1: weight of the squared-error value loss (Table 5: 1)"""
    entropy_coef: float = 0.01
    """c2: weight of the entropy bonus (Table 5: 0.01)"""
    clip_value_loss: bool = False
    """also clip the value's change to +-epsilon around the rollout's value (Baselines ppo2; not in the paper)"""
    normalize_advantages: str = "rollout"
    """standardise advantages: rollout (Baselines ppo1), minibatch (ppo2) or none (the paper's text)"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this; 0 turns clipping off (Baselines ppo2; not in the paper's tables)"""
    adam_eps: float = 1e-5
    """Adam epsilon (Baselines; the paper gives none)"""
    shared_network: bool = True
    """policy and value share the observation encoder (Atari, section 6.4); else each has its own (MuJoCo, 6.1)"""
    network: str = "auto"
    """observation encoder: auto (mlp for vectors, minatar_cnn, nature_cnn for Atari), mlp, nature_cnn, a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP encoder (section 6.1: 2)"""
    hidden_size: int = 64
    """units per hidden layer of the MLP encoder (section 6.1: 64, tanh)"""
    normalize_observations: bool = False
    """normalise observations by their running mean and std, clipped to +-10 (Baselines ppo2's VecNormalize; mujoco preset)"""
    normalize_rewards: bool = False
    """divide rewards by the running std of the discounted return, clipped to +-10 (Baselines ppo2's VecNormalize; mujoco preset)"""
    total_steps: int = 10_000_000
    """training budget in environment steps, summed over actors (Atari: 10M = 40M frames, section 6.4)"""
    eval_interval: int = 500_000
    """environment steps between evaluations (one more runs at the end of training)"""
    score_rule: str = "train_last_100"
    """how the run's final score is computed: eval_last_10pct | train_last_100 (the paper's: Table 6)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.num_envs > 0, "num_envs", "a positive number", self.num_envs)
        require(self.n_steps > 0, "n_steps", "a positive number of steps", self.n_steps)
        require(self.epochs > 0, "epochs", "a positive number", self.epochs)
        require(0 < self.minibatch_size <= self.num_envs * self.n_steps, "minibatch_size",
                f"a positive number of transitions, at most num_envs x n_steps = {self.num_envs * self.n_steps}",
                self.minibatch_size)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.clip_range > 0, "clip_range", "a positive number", self.clip_range)
        require(self.objective in OBJECTIVES, "objective", f"one of {list(OBJECTIVES)}", self.objective)
        require(self.kl_coef > 0, "kl_coef", "a positive weight", self.kl_coef)
        require(self.kl_target > 0, "kl_target", "a positive KL", self.kl_target)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", "a number in [0, 1]", self.gae_lambda)
        require(self.value_coef >= 0, "value_coef", "0 or more", self.value_coef)
        require(self.entropy_coef >= 0, "entropy_coef", "0 or more", self.entropy_coef)
        require(self.normalize_advantages in ADVANTAGE_NORMALIZATION, "normalize_advantages",
                f"one of {list(ADVANTAGE_NORMALIZATION)}", self.normalize_advantages)
        require(self.max_grad_norm >= 0, "max_grad_norm", "0 (no clipping) or a positive number", self.max_grad_norm)
        require(self.adam_eps > 0, "adam_eps", "a positive number", self.adam_eps)
        require(self.network in ENCODERS, "network", f"one of {list(ENCODERS)}", self.network)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """atari for ALE/, minatar for MinAtar/, mujoco for continuous actions (DM Control too), classic for the other discrete tasks."""
        family, _ = envs.family_of(env_id)
        if family in ("atari", "minatar"):
            return family
        return "mujoco" if family == "dmc" or has_continuous_actions(env_id) else "classic"


def has_continuous_actions(env_id: str) -> bool:
    """Whether a (known) gymnasium id's action space is a Box. MuJoCo envs are known from the registry
    (listed, or registered from gymnasium.envs.mujoco) without building them, which costs a model load;
    any other id (classic control builds in microseconds) is built once and asked."""
    entry_point = gym.spec(env_id).entry_point
    module = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    if env_id in envs.standard.MUJOCO or module.startswith("gymnasium.envs.mujoco"):
        return True
    env = gym.make(env_id)
    try:
        return isinstance(env.action_space, gym.spaces.Box)
    finally:
        env.close()


def unfit_preset_note(config: Config) -> str | None:
    """One line for a run on a task its (non-paper) preset was not tuned or checked on."""
    return config.unchecked_preset_note("docs/algorithms/policy_gradient.md")


def deviations(config: Config, environment: envs.Environment) -> list[str]:
    """What this run does that its preset's source did not: every setting that differs from the preset,
    and the Baselines code choices in effect (module docstring)."""
    notes = [] if config.preset in ("atari", "mujoco") else [f"preset {config.preset}: {PRESET_SOURCES[config.preset]}"]
    if note := unfit_preset_note(config):
        notes.append(note)
    notes += config.differences_from_preset()
    if config.objective != "clip":
        ignored = sorted({name for fields in OBJECTIVES.values() for name in fields} - set(OBJECTIVES[config.objective]))
        notes.append(f"surrogate objective {config.objective} (Table 1's comparison; not PPO's clipped objective): "
                     f"{', '.join(ignored)} unused by the policy loss")
    if getattr(environment.protocol, "fire_reset", False):
        notes.append("FIRE pressed after every reset (Baselines' Atari wrappers; not in the paper's text)")
    if config.max_grad_norm > 0:
        notes.append(f"global gradient norm clipped to {config.max_grad_norm} (Baselines ppo2; not in the paper)")
    notes.append(f"Adam eps {config.adam_eps} (Baselines uses 1e-5; the paper gives none)")
    if config.normalize_advantages != "none":
        notes.append(f"advantages standardised per {config.normalize_advantages} (Baselines "
                     f"{'ppo1' if config.normalize_advantages == 'rollout' else 'ppo2'}; not in the paper's text)")
    if config.clip_value_loss:
        notes.append("value loss clipped around the rollout's values with the policy's epsilon (Baselines ppo2)")
    if config.normalize_observations:
        notes.append("observations normalised by running mean/std, clipped to +-10 (Baselines ppo2 VecNormalize)")
    if config.normalize_rewards:
        notes.append("rewards divided by the running std of the discounted return, clipped to +-10 "
                     "(Baselines ppo2 VecNormalize)")
    notes.append("time-limit truncations bootstrap from V(last state); Baselines treated them as terminal")
    return notes


def ppo_loss(new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
             values: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor, entropy: torch.Tensor,
             clip: float, value_coef: float, entropy_coef: float, clip_value: bool, objective: str = "clip",
             kl: torch.Tensor | None = None, kl_coef: float = 0.0) -> tuple[torch.Tensor, dict]:
    """Equation 9 as a loss to minimise, over one minibatch of valid transitions, with `objective`'s
    surrogate (the module docstring); `kl` is KL[pi_old, pi] per transition, which the KL objectives
    need. With `clip_value`, ppo2's pessimistic value loss
    max((V - R)^2, (V_old + clip(V - V_old, +-clip) - R)^2). Also returns its parts, the approximate
    KL(old || new) and the fraction of ratios outside [1 - clip, 1 + clip]."""
    log_ratio = new_log_probs - old_log_probs
    ratio = log_ratio.exp()
    if objective == "clip":
        surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    else:
        surrogate = ratio * advantages
    policy_loss = -surrogate.mean()
    parts = {}
    if objective in ("adaptive_kl", "fixed_kl"):
        penalty = kl.mean()
        policy_loss = policy_loss + kl_coef * penalty
        parts["kl"] = penalty.item()
    value_error = (values - returns).pow(2)
    if clip_value:
        clipped_values = old_values + (values - old_values).clamp(-clip, clip)
        value_error = torch.max(value_error, (clipped_values - returns).pow(2))
    value_loss = value_error.mean()
    entropy_bonus = entropy.mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy_bonus
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()  # non-negative, unbiased estimator of KL(old || new)
        clip_fraction = ((ratio - 1).abs() > clip).float().mean()
    return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy_bonus.item(),
                  "approx_kl": approx_kl.item(), "clip_fraction": clip_fraction.item(), **parts}


def adapted_kl_coef(kl_coef: float, mean_kl: float, kl_target: float) -> float:
    """Section 4: beta for the next update, from the KL d the last update reached: halved when
    d < d_targ / 1.5, doubled when d > 1.5 d_targ, else kept."""
    if mean_kl < kl_target / 1.5:
        return kl_coef / 2
    if mean_kl > kl_target * 1.5:
        return kl_coef * 2
    return kl_coef


def make_model(space, action_size: int, discrete: bool, config: Config) -> ActorCritic:
    return ActorCritic(space, action_size, discrete, config)


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The evaluation `act` of a saved run, on `environment` (its spaces must be the run's)."""
    model = make_model(*spaces(environment), config)
    model.load_state_dict(state["model"])
    return evaluation_policy(model, config.eval_deterministic, torch.device("cpu"), state["normalization"])


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    T, N = config.n_steps, config.num_envs
    normalizing = config.normalize_observations or config.normalize_rewards
    normalize = lambda env, **given: normalized(  # noqa: E731
        env, config.normalize_observations, config.normalize_rewards, config.discount, **given)
    env, observation = envs.make(environment, N, seed)
    if normalizing:
        env, observation = normalize(env, seeds=envs.env_seeds(seed, N))
    space = observation_box(env.single_observation_space)
    action_size, discrete = action_sizes(env.single_action_space)
    model = make_model(space, action_size, discrete, config).to(device)
    # fused: Adam's update rule in one kernel for all parameters, about a third faster for these small networks
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=config.adam_eps, fused=True)
    rollout = Rollout(T, N, space, action_size, discrete, observation)
    tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
    sample = acting_policy(model, deterministic=False, device=device)  # training always samples
    statistics = lambda: normalization_state(env) if normalizing else None  # noqa: E731

    note = unfit_preset_note(config)
    if note:
        print(note, file=sys.stderr)
    penalized = config.objective in ("adaptive_kl", "fixed_kl")
    step, kl_coef = 0, config.kl_coef
    with RunLogger(run_dir, config, environment, seed, "ppo", str(device), resume) as log:
        write_json(log.dir / "deviations.json", {"paper": PAPER, "preset": config.preset,
                                                 "source": PRESET_SOURCES[config.preset],
                                                 "deviations": deviations(config, environment)})
        log.checkpoint_with(lambda: {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "rollout": rollout.state(env), "step": step, "normalization": statistics(),
                                     "kl_coef": kl_coef})
        saved = log.resume()
        if saved is not None:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            step = saved["step"]
            kl_coef = saved.get("kl_coef", config.kl_coef)  # checkpoints from before the KL objectives: all clip runs
            env.close()
            # A saved env holds its normalisation wrappers; a fresh one gets them with the saved statistics.
            prepare = (lambda fresh: normalize(fresh, statistics=saved["normalization"])) if normalizing else None
            env = rollout.resume(saved["rollout"], environment, seed, step, prepare)
        while step < config.total_steps:
            alpha = 1.0 - step / config.total_steps  # Table 5's alpha, as Baselines: fixed for the whole update
            step = rollout.collect(env, sample, step, log)

            # The parameters did not move during the rollout: one batched pass gives pi_old and V_old.
            with torch.no_grad():
                output, values = model(tensor(rollout.observations).flatten(0, 1))
                values = values.view(T + 1, N)
                old_outputs = output.view(T + 1, N, -1)[:T]
                old_log_probs = model.head(old_outputs).log_prob(tensor(rollout.actions))
                advantages, returns = gae(tensor(rollout.rewards), values, tensor(rollout.terminated),
                                          tensor(rollout.truncated), config.discount, config.gae_lambda)
            keep = tensor(rollout.valid).flatten()
            count = int(keep.sum())
            if count == 0:
                continue  # only possible with n_steps 1: the rollout was all autoreset steps
            batch = {"observations": tensor(rollout.observations[:T]).flatten(0, 1)[keep],
                     "actions": tensor(rollout.actions).flatten(0, 1)[keep],
                     "old_log_probs": old_log_probs.flatten()[keep], "advantages": advantages.flatten()[keep],
                     "returns": returns.flatten()[keep], "old_values": values[:T].flatten()[keep]}
            if penalized:  # the exact KL needs pi_old: its outputs and its own parameters (a Gaussian's log std)
                batch["old_outputs"] = old_outputs.flatten(0, 1)[keep]
                old_head = copy.deepcopy(model.head)
            if config.normalize_advantages == "rollout":
                batch["advantages"] = standardize(batch["advantages"])
            optimizer.param_groups[0]["lr"] = config.learning_rate * (alpha if config.anneal_lr else 1.0)
            clip = config.clip_range * (alpha if config.anneal_clip else 1.0)
            minibatches = -(-count // config.minibatch_size)
            totals: dict[str, float] = {}
            for _ in range(config.epochs):
                for indices in torch.randperm(count, device=device).tensor_split(minibatches):
                    part = {name: value[indices] for name, value in batch.items()}
                    if config.normalize_advantages == "minibatch":
                        part["advantages"] = standardize(part["advantages"])
                    output, new_values = model(part["observations"])
                    distribution = model.head(output)
                    kl = kl_divergence(old_head(part["old_outputs"]), distribution) if penalized else None
                    loss, parts = ppo_loss(distribution.log_prob(part["actions"]), part["old_log_probs"],
                                           part["advantages"], new_values, part["returns"], part["old_values"],
                                           distribution.entropy(), clip, config.value_coef, config.entropy_coef,
                                           config.clip_value_loss, config.objective, kl, kl_coef)
                    check_finite(step, loss=loss.item())
                    optimizer.zero_grad()
                    loss.backward()
                    if config.max_grad_norm > 0:
                        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    for name, value in parts.items():
                        totals[name] = totals.get(name, 0.0) + value
            log.log_scalars(step, **{"charts/learning_rate": optimizer.param_groups[0]["lr"], "charts/clip_range": clip})
            if penalized:
                with torch.no_grad():
                    mean_kl = kl_divergence(old_head(batch["old_outputs"]),
                                            model.head(model.policy(batch["observations"]))).mean().item()
                log.log_scalars(step, **{"charts/kl_coef": kl_coef, "charts/kl_after_update": mean_kl})
                if config.objective == "adaptive_kl":
                    kl_coef = adapted_kl_coef(kl_coef, mean_kl, config.kl_target)
            losses = {name: value / (config.epochs * minibatches) for name, value in totals.items()}
            log.after_update(step, losses, evaluation_policy(model, config.eval_deterministic, device, statistics()))
        if normalizing:
            save_normalization(env, log.dir / "normalization.json")
    env.close()
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.ppo", __doc__)
