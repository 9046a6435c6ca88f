"""PPO: proximal policy optimization with the clipped surrogate objective
(Schulman et al. 2017, "Proximal Policy Optimization Algorithms", arXiv:1707.06347).

N actors each run the policy for T steps; GAE(lambda) turns the rollout into advantages A_t and
value targets R_t = A_t + V_old(s_t); then K epochs of Adam steps on shuffled minibatches of the
rollout minimise (the paper's equation 9, as a loss)
    -mean(min(r_t A_t, clip(r_t, 1 - eps, 1 + eps) A_t))        r_t = pi(a_t|s_t) / pi_old(a_t|s_t)
  + c1 * mean((V(s_t) - R_t)^2)
  - c2 * mean(entropy of pi(.|s_t))

Presets (`--preset`, default auto; a preset fills every hyperparameter not given explicitly):
- atari  (Table 5; also MinAtar): 8 actors, horizon 128, 3 epochs, minibatch 32 x 8 = 256 (4 per
  rollout), Adam 2.5e-4 x alpha, eps 0.1 x alpha with alpha falling linearly 1 -> 0, c1 1, c2 0.01,
  gamma 0.99, lambda 0.95; the Nature CNN shared by policy and value (section 6.4); 10M agent steps
  (= 40M frames). These are the dataclass defaults below.
- mujoco (Table 3 and section 6.1; every continuous-action task, DM Control included): horizon 2048,
  10 epochs, minibatch 64, Adam 3e-4, eps 0.2, neither annealed, gamma 0.99, lambda 0.95; separate
  64-64 tanh policy and value networks (so c1 only scales the value gradient), a state-independent
  log std, no entropy bonus; 1M steps. One environment: the table lists no actors, and the code
  released with the paper (Baselines ppo1, run_mujoco) ran one.
- classic (NOT from the paper; the other discrete vector tasks: CartPole, Acrobot, MountainCar):
  rl-baselines3-zoo's tuned CartPole-v1 setting (hyperparams/ppo.yml): 8 actors, horizon 32, 20
  epochs over one minibatch of 256, Adam 1e-3 and eps 0.2 both annealed, gamma 0.98, lambda 0.8,
  c1 0.5, no entropy bonus, separate 64-64 tanh networks; 100k steps. Not tuned for the others.
  CleanRL ppo.py's setting (4 x 128 steps, 4 epochs of 4 minibatches, Adam 2.5e-4 annealed, eps 0.2,
  c2 0.01) was tried first: at 500k steps its last-100 mean reached 475 on only 3-4 of 5 CartPole
  seeds, one falling back to ~200.
Table 5's alpha is 1 - (steps done before the update) / total_steps, fixed for the update, as in Baselines.
Every preset scores a run as the paper does, by the mean return of the last 100 training episodes
(score_rule train_last_100); evaluation returns go to eval.csv beside it.

Not in the paper's tables, taken from the OpenAI Baselines code (these are the deviations each run
lists in deviations.json, with any hyperparameter that differs from its paper preset):
- the global gradient norm is clipped to 0.5 (ppo2; ppo1 did not clip); `--max-grad-norm 0` turns it off;
- Adam eps 1e-5 (ppo1 and ppo2; torch's default is 1e-8);
- advantages are standardised to mean 0, std 1 over each rollout (ppo1's pposgd_simple, the code
  released with the paper; the paper's text does not mention it). ppo2 standardises per minibatch
  (`--normalize-advantages minibatch`); `none` is the paper's text taken literally;
- mujoco preset: observations normalised by their running mean and std (clip 10) and rewards divided
  by the running std of the discounted return (clip 10): ppo2's VecNormalize, the setting of
  Baselines' MuJoCo benchmarks (envs/normalize.py). ppo1 instead normalised observations inside the
  policy (clip 5) and did not scale rewards. The policy is evaluated on raw-reward episodes, its
  observations normalised with the training statistics, frozen; they are saved to normalization.json;
- orthogonal initialisation (gain sqrt 2, 0.01 for the policy output, 1 for the value): ppo2's.
A deliberate deviation from the paper's code: time-limit truncations bootstrap from V(last state),
where Baselines treated every episode end as terminal. Gymnasium's autoreset steps (the step after an
episode ends only resets) enter no loss and no minibatch.
As the paper (off by default): value clipping (ppo2: the value's change is clipped to +-eps around
the rollout's value, `--clip-value-loss`); the value loss is the paper's squared error (ppo2 halves it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from common.config import RunConfig, resolve_device
from core.errors import require
from common.nets import ENCODERS, ActionHead, action_sizes, encoder, observation_space, orthogonal
from common.rundir import RunLogger, RunResult, check_finite
from core.files import write_json
from envs.normalize import ClippedNormalizeObservation, add_normalization, save_normalization

ADVANTAGE_NORMALIZATION = ("none", "rollout", "minibatch")

# Table 5 and section 6.4. Budget: 10M agent steps = 40M frames; eval_interval (env steps) is ours.
ATARI_TABLE_5 = dict(
    num_envs=8, n_steps=128, epochs=3, minibatch_size=256, learning_rate=2.5e-4, anneal_lr=True, clip_range=0.1,
    anneal_clip=True, discount=0.99, gae_lambda=0.95, value_coef=1.0, entropy_coef=0.01, shared_network=True,
    network="auto", hidden_layers=2, hidden_size=64, normalize_observations=False, normalize_rewards=False,
    total_steps=10_000_000, eval_interval=500_000, score_rule="train_last_100",
)
# Table 3 and sections 6.1-6.2. Budget: 1M env steps; the normalization is Baselines ppo2's.
MUJOCO_TABLE_3 = dict(
    num_envs=1, n_steps=2048, epochs=10, minibatch_size=64, learning_rate=3e-4, anneal_lr=False, clip_range=0.2,
    anneal_clip=False, discount=0.99, gae_lambda=0.95, value_coef=1.0, entropy_coef=0.0, shared_network=False,
    network="auto", hidden_layers=2, hidden_size=64, normalize_observations=True, normalize_rewards=True,
    total_steps=1_000_000, eval_interval=50_000, score_rule="train_last_100",
)
# rl-baselines3-zoo's tuned CartPole-v1 hyperparameters, budget 100k env steps: not the paper's.
CLASSIC_NOT_FROM_THE_PAPER = dict(
    num_envs=8, n_steps=32, epochs=20, minibatch_size=256, learning_rate=1e-3, anneal_lr=True, clip_range=0.2,
    anneal_clip=True, discount=0.98, gae_lambda=0.8, value_coef=0.5, entropy_coef=0.0, shared_network=False,
    network="auto", hidden_layers=2, hidden_size=64, normalize_observations=False, normalize_rewards=False,
    total_steps=100_000, eval_interval=10_000, score_rule="train_last_100",
)
# The settings a paper preset takes from the paper itself; the rest of a preset is the budget and
# Baselines' code, which `deviations` reports on its own terms.
PAPER_SETTINGS = ("num_envs", "n_steps", "epochs", "minibatch_size", "learning_rate", "anneal_lr", "clip_range",
                  "anneal_clip", "discount", "gae_lambda", "value_coef", "entropy_coef", "shared_network",
                  "score_rule")


@dataclass
class Config(RunConfig):
    PRESETS: ClassVar[dict[str, dict]] = {
        "atari": ATARI_TABLE_5, "mujoco": MUJOCO_TABLE_3, "classic": CLASSIC_NOT_FROM_THE_PAPER}

    preset: str = "auto"
    """hyperparameters not given explicitly: atari (Table 5), mujoco (Table 3), classic (not from the paper), auto (atari for ALE/ and MinAtar/, mujoco for continuous actions, classic otherwise)"""
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
    """multiply the step size by alpha, falling linearly from 1 to 0 over total_steps (Table 5)"""
    clip_range: float = 0.1
    """epsilon of the clipped surrogate at the start of training (Table 5: 0.1 x alpha)"""
    anneal_clip: bool = True
    """multiply epsilon by alpha too (Table 5)"""
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
    """normalise observations by their running mean and std, clipped to +-10 (Baselines' VecNormalize; mujoco preset)"""
    normalize_rewards: bool = False
    """divide rewards by the running std of the discounted return, clipped to +-10 (Baselines' VecNormalize; mujoco preset)"""
    total_steps: int = 10_000_000
    """training budget in environment steps (agent steps, summed over actors; Atari: 10M = 40M frames)"""
    eval_interval: int = 500_000
    """environment steps between evaluations (one more runs at the end of training)"""
    score_rule: str = "train_last_100"
    """how the run's final score is computed: eval_last_10pct | train_last_100 (the PPO paper's)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.preset in ("auto", *self.PRESETS), "preset", f"auto or one of {list(self.PRESETS)}", self.preset)
        require(self.num_envs > 0, "num_envs", "a positive number", self.num_envs)
        require(self.n_steps > 0, "n_steps", "a positive number of steps", self.n_steps)
        require(self.epochs > 0, "epochs", "a positive number", self.epochs)
        require(0 < self.minibatch_size <= self.num_envs * self.n_steps, "minibatch_size",
                f"a positive number of transitions, at most num_envs x n_steps = {self.num_envs * self.n_steps}",
                self.minibatch_size)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.clip_range > 0, "clip_range", "a positive number", self.clip_range)
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
        """atari for Atari and MinAtar, mujoco for continuous actions, classic for the other discrete tasks."""
        family, _ = envs.family_of(env_id)
        if family in ("atari", "minatar"):
            return "atari"
        if family == "dmc":
            return "mujoco"  # DM Control tasks all have continuous actions
        return "mujoco" if has_continuous_actions(env_id) else "classic"


def has_continuous_actions(env_id: str) -> bool:
    """Whether a gymnasium id's action space is a Box. MuJoCo envs are known from the registry (listed,
    or registered from gymnasium.envs.mujoco) without building them, which costs a model load; any
    other id (classic control builds in microseconds) is built once and asked."""
    envs.check_env_id(env_id)
    entry_point = gym.spec(env_id).entry_point
    module = entry_point if isinstance(entry_point, str) else getattr(entry_point, "__module__", "")
    if env_id in envs.standard.MUJOCO or module.startswith("gymnasium.envs.mujoco"):
        return True
    env = gym.make(env_id)
    try:
        return isinstance(env.action_space, gym.spaces.Box)
    finally:
        env.close()


def deviations(config: Config) -> list[str]:
    """What this run does that the paper did not: the Baselines choices kept (module docstring)
    and every paper setting that differs from its preset's value."""
    preset = Config.preset_for(config.env_id) if config.preset == "auto" else config.preset
    notes = []
    if preset == "classic":
        notes.append("preset classic: not from the paper (rl-baselines3-zoo's tuned CartPole-v1 setting)")
    else:
        paper = Config.PRESETS[preset]
        notes += [f"{name} = {getattr(config, name)!r}, where the paper's {preset} setting is {paper[name]!r}"
                  for name in PAPER_SETTINGS if getattr(config, name) != paper[name]]
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


class ActorCritic(nn.Module):
    def __init__(self, space, action_size: int, discrete: bool, config: Config):
        super().__init__()
        self.actor_body, features = encoder(space, config.network, "nature_cnn", config.hidden_layers, config.hidden_size)
        self.critic_body = self.actor_body if config.shared_network else encoder(
            space, config.network, "nature_cnn", config.hidden_layers, config.hidden_size)[0]
        self.actor = orthogonal(nn.Linear(features, action_size), 0.01)  # near-uniform initial policy
        self.critic = orthogonal(nn.Linear(features, 1), 1.0)
        self.head = ActionHead(action_size, discrete)

    def policy(self, observations: torch.Tensor) -> torch.Tensor:
        """Policy outputs (logits or Gaussian means) alone: acting needs no value."""
        return self.actor(self.actor_body(observations))

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy outputs and state values."""
        features = self.actor_body(observations)
        critic_features = features if self.critic_body is self.actor_body else self.critic_body(observations)
        return self.actor(features), self.critic(critic_features).squeeze(-1)


def gae(rewards: torch.Tensor, values: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) advantages and value targets (advantage + V(s_t)) over a (T, N) rollout.

    `values` holds V(s_0) ... V(s_T) (T+1 rows), where s_{t+1} is the observation step t returned:
    the last state of the episode when step t ended it. At an episode end the sum of TD errors
    stops: delta_t = r_t - V(s_t) after a termination, r_t + gamma V(last state) - V(s_t) after a
    truncation; the rollout's end bootstraps from V(s_T). Rows after an episode end are gymnasium's
    autoreset steps: their outputs are meaningless and the caller masks them out.
    """
    advantages = torch.empty_like(rewards)
    running = torch.zeros_like(values[-1])
    continues = ~(terminated | truncated)
    for t in reversed(range(rewards.shape[0])):
        next_value = torch.where(terminated[t], torch.zeros_like(running), values[t + 1])
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * torch.where(continues[t], running, torch.zeros_like(running))
        advantages[t] = running
    return advantages, advantages + values[:-1]


def standardize(advantages: torch.Tensor) -> torch.Tensor:
    """Mean 0, std 1; the population std, as Baselines (numpy's), so a single sample gives 0, not NaN."""
    return (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)


def ppo_loss(new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, advantages: torch.Tensor,
             values: torch.Tensor, returns: torch.Tensor, old_values: torch.Tensor, entropy: torch.Tensor,
             clip: float, value_coef: float, entropy_coef: float, clip_value: bool) -> tuple[torch.Tensor, dict]:
    """The paper's equation 9 as a loss to minimise, over one minibatch of valid transitions; with
    `clip_value`, ppo2's pessimistic value loss max((V - R)^2, (V_old + clip(V - V_old, +-clip) - R)^2).
    Also returns its parts, the approximate KL(old || new) and the fraction of clipped ratios."""
    log_ratio = new_log_probs - old_log_probs
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    policy_loss = -surrogate.mean()
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
                  "approx_kl": approx_kl.item(), "clip_fraction": clip_fraction.item()}


def frozen_observation_normalizer(env: gym.vector.VectorEnv) -> Callable[[np.ndarray], np.ndarray]:
    """Raw observations -> what the training env's observation normalization gives, with its statistics
    left unchanged: evaluation envs are built raw, and the policy only knows normalised inputs."""
    wrapper = env
    while not isinstance(wrapper, ClippedNormalizeObservation):
        wrapper = wrapper.env

    def normalize(observations: np.ndarray) -> np.ndarray:
        updating, wrapper.update_running_mean = wrapper.update_running_mean, False
        try:
            return wrapper.observations(observations)
        finally:
            wrapper.update_running_mean = updating

    return normalize


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(config.env_id, config.num_envs, seed, config.env_protocol, backend=config.env_backend)
    normalize_eval_observations = None
    if config.normalize_observations or config.normalize_rewards:
        env = add_normalization(env, config.normalize_observations, config.normalize_rewards, config.discount)
        observation, _ = env.reset(seed=envs.env_seeds(seed, config.num_envs))  # again, now through the statistics
        if config.normalize_observations:
            normalize_eval_observations = frozen_observation_normalizer(env)
    space = observation_space(env)
    action_size, discrete = action_sizes(env)
    model = ActorCritic(space, action_size, discrete, config).to(device)
    # fused: Adam's update rule in one kernel for all parameters, about a third faster for these small networks
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate, eps=config.adam_eps, fused=True)
    T, N = config.n_steps, config.num_envs
    observations = np.zeros((T + 1, N, *space.shape), dtype=space.dtype)
    actions = np.zeros((T, N) if discrete else (T, N, action_size), dtype=np.int64 if discrete else np.float32)
    rewards, terminated, truncated, valid = (np.zeros((T, N), dtype=d) for d in (np.float32, bool, bool, bool))
    tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
    episode_ended = np.zeros(N, dtype=bool)  # these envs' next step is an autoreset

    def act(obs: np.ndarray) -> np.ndarray:
        if normalize_eval_observations is not None:
            obs = normalize_eval_observations(obs)
        with torch.no_grad():
            return model.head.act(model.policy(tensor(obs)), config.eval_deterministic).cpu().numpy()

    with RunLogger(run_dir, config, seed, "ppo", str(device)) as log:
        write_json(log.dir / "deviations.json", {"paper": "Schulman et al. 2017, arXiv:1707.06347",
                                                 "preset": config.preset, "deviations": deviations(config)})
        step = 0
        while step < config.total_steps:
            alpha = 1.0 - step / config.total_steps  # Table 5's alpha, as Baselines: fixed for the whole update
            for t in range(T):
                observations[t] = observation
                with torch.no_grad():
                    actions[t] = model.head(model.policy(tensor(observation))).sample().cpu().numpy()
                observation, rewards[t], terminated[t], truncated[t], info = env.step(actions[t])
                valid[t] = ~episode_ended
                episode_ended = terminated[t] | truncated[t]
                step += int(valid[t].sum())
                log.log_episodes(step, info)
            observations[T] = observation

            # The parameters did not move during the rollout: one batched pass gives pi_old and V_old.
            with torch.no_grad():
                output, values = model(tensor(observations).flatten(0, 1))
                values = values.view(T + 1, N)
                old_log_probs = model.head(output.view(T + 1, N, -1)[:T]).log_prob(tensor(actions))
                advantages, returns = gae(tensor(rewards), values, tensor(terminated), tensor(truncated),
                                          config.discount, config.gae_lambda)
            keep = tensor(valid).flatten()
            count = int(keep.sum())
            if count == 0:
                continue  # only possible with n_steps 1: the rollout was all autoreset steps
            batch = {"observations": tensor(observations[:T]).flatten(0, 1)[keep],
                     "actions": tensor(actions).flatten(0, 1)[keep], "old_log_probs": old_log_probs.flatten()[keep],
                     "advantages": advantages.flatten()[keep], "returns": returns.flatten()[keep],
                     "old_values": values[:T].flatten()[keep]}
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
                    loss, parts = ppo_loss(distribution.log_prob(part["actions"]), part["old_log_probs"],
                                           part["advantages"], new_values, part["returns"], part["old_values"],
                                           distribution.entropy(), clip, config.value_coef, config.entropy_coef,
                                           config.clip_value_loss)
                    check_finite(step, loss=loss.item())
                    optimizer.zero_grad()
                    loss.backward()
                    if config.max_grad_norm > 0:
                        nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                    optimizer.step()
                    for name, value in parts.items():
                        totals[name] = totals.get(name, 0.0) + value
            log.log_scalars(step, **{"charts/learning_rate": optimizer.param_groups[0]["lr"], "charts/clip_range": clip})
            log.after_update(step, {name: value / (config.epochs * minibatches) for name, value in totals.items()}, act)
        if config.normalize_observations or config.normalize_rewards:
            save_normalization(env, log.dir / "normalization.json")
    env.close()
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.ppo", __doc__)
