"""A2C: synchronous advantage actor-critic, the lockstep counterpart of A3C (Mnih et al. 2016,
"Asynchronous Methods for Deep Reinforcement Learning", Algorithm S3), as OpenAI Baselines released
it (baselines/a2c, 2017) and as the PPO paper's A2C column ran it (Schulman et al. 2017, Table 6).

N environments step in lockstep; every `n_steps` one gradient step on
    -log pi(a_t|s_t) (R_t - V(s_t))  +  value_coef (R_t - V(s_t))^2  -  entropy_coef H(pi(.|s_t))
where R_t is the n-step bootstrapped return (common/actor_critic.py; rollouts: common/rollout.py).

Presets (auto picks one by family; sources and measurements: docs/algorithms/policy_gradient.md):
- atari: the defaults, Baselines' a2c: 16 envs, 5-step rollouts, RMSProp 7e-4 decayed linearly to
  0, alpha 0.99, eps 1e-5, entropy 0.01, value 0.5, gradient-norm clip 0.5, the Nature CNN shared by
  actor and critic, 10M agent steps (40M frames); FIRE pressed at reset, as Baselines' wrappers did.
- minatar: the same hyperparameters on MinAtar (which has no FIRE option); not from a paper.
- classic (NOT from a paper; discrete vector tasks): rl-baselines3-zoo's CartPole-v1 A2C: 8 envs,
  no entropy bonus, separate actor and critic 64-64 tanh MLPs (Stable-Baselines3's default); 500k steps.
No preset is tuned for continuous actions: such a run says so when it starts (PPO's mujoco preset fits).
A run's score is the mean return of its last 100 training episodes, the rule of the PPO paper's A2C
column; evaluation returns go to eval.csv beside it.

Deliberate deviations:
- torch's RMSprop adds eps outside the square root and starts its square average at 0; TF1's
  (Baselines) adds it inside and starts at 1. With eps 1e-5 only the first updates differ.
- Time-limit truncations bootstrap from V(last state), where Baselines treats them as terminal.
- Checkpoints hold the envs' whole state; where an env cannot be saved (MuJoCo), a resumed run
  restarts its episodes.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

import envs
from common.actor_critic import ActorCritic, acting_policy, actor_critic_loss, n_step_returns
from common.config import RunConfig, config_class, resolve_device
from common.nets import ENCODERS, action_sizes, observation_box, spaces
from common.rollout import Rollout
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import require




@config_class
class Config(RunConfig):
    CHECKED_ON = {"classic": ("CartPole-v1", "Acrobot-v1")}  # where the classic preset was measured
    PRESETS: ClassVar[dict[str, dict]] = {
        # Baselines' wrap_deepmind pressed FIRE after every reset in games that need it (FireResetEnv).
        "atari": {"env_protocol": "dqn2015:fire_reset=true"},
        "minatar": {},
        # rl-baselines3-zoo hyperparams/a2c.yml, CartPole-v1 (n_envs 8, ent_coef 0.0, n_timesteps 5e5)
        # with SB3's separate pi and vf networks; its Acrobot-v1 entry has the same settings plus
        # 16 envs and VecNormalize. Our eval_interval. Not from a paper.
        "classic": {"num_envs": 8, "entropy_coef": 0.0, "shared_network": False,
                    "total_steps": 500_000, "eval_interval": 25_000},
    }

    num_envs: int = 16
    """environments stepped in lockstep (Baselines' run_atari: 16)"""
    n_steps: int = 5
    """steps per environment between updates: the n of the n-step return (Baselines: 5; A3C's t_max)"""
    discount: float = 0.99
    """reward discount gamma (Baselines: 0.99)"""
    learning_rate: float = 7e-4
    """RMSProp step size at the start of training (Baselines: 7e-4)"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the training budget (Baselines' lrschedule linear)"""
    rmsprop_alpha: float = 0.99
    """RMSProp smoothing constant of the squared-gradient average (Baselines: 0.99)"""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon (Baselines: 1e-5)"""
    entropy_coef: float = 0.01
    """weight of the entropy bonus (Baselines: 0.01)"""
    value_coef: float = 0.5
    """weight of the value loss (Baselines: 0.5)"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this (Baselines: 0.5)"""
    shared_network: bool = True
    """actor and critic share the observation encoder, else each has its own (Baselines: shared)"""
    network: str = "auto"
    """observation encoder: auto (mlp for vectors, minatar_cnn, nature_cnn for Atari), mlp, nature_cnn, a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP encoder (Baselines' mlp: 2)"""
    hidden_size: int = 64
    """units per hidden layer of the MLP encoder (Baselines' mlp: 64, tanh)"""
    total_steps: int = 10_000_000
    """training budget in environment steps, summed over envs (Atari: 10M = 40M frames, the PPO paper's A2C budget)"""
    eval_interval: int = 500_000
    """environment steps between evaluations (one more runs at the end of training)"""
    score_rule: str = "train_last_100"
    """how the run's final score is computed: eval_last_10pct | train_last_100 (the PPO paper's A2C column)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.num_envs > 0, "num_envs", "a positive number", self.num_envs)
        require(self.n_steps > 0, "n_steps", "a positive number of steps", self.n_steps)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.max_grad_norm > 0, "max_grad_norm", "a positive number", self.max_grad_norm)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.network in ENCODERS, "network", f"one of {list(ENCODERS)}", self.network)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """atari for ALE/, minatar for MinAtar/, classic for every other task (tuned on discrete classic control)."""
        family, _ = envs.family_of(env_id)
        return family if family in ("atari", "minatar") else "classic"


def unfit_preset_note(config: Config, discrete: bool) -> str | None:
    """One line for a run on a task its preset was not tuned or checked on, naming what fits instead."""
    if not discrete:
        return (f"a2c: note: no A2C preset is tuned for continuous actions; {config.env_id} runs preset "
                f"{config.preset} and may not learn. PPO's mujoco preset fits: python -m algos.ppo --env-id {config.env_id}")
    return config.unchecked_preset_note("docs/algorithms/policy_gradient.md")


def make_model(space, action_size: int, discrete: bool, config: Config) -> ActorCritic:
    return ActorCritic(space, action_size, discrete, config)


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The evaluation `act` of a saved run, on `environment` (its spaces must be the run's)."""
    model = make_model(*spaces(environment), config)
    model.load_state_dict(state["model"])
    return acting_policy(model, config.eval_deterministic, torch.device("cpu"))


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(environment, config.num_envs, seed)
    space = observation_box(env.single_observation_space)
    action_size, discrete = action_sizes(env.single_action_space)
    note = unfit_preset_note(config, discrete)
    if note:
        print(note, file=sys.stderr)
    model = make_model(space, action_size, discrete, config).to(device)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate,
                                    alpha=config.rmsprop_alpha, eps=config.rmsprop_eps)
    T, N = config.n_steps, config.num_envs
    rollout = Rollout(T, N, space, action_size, discrete, observation)
    tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
    sample = acting_policy(model, deterministic=False, device=device)  # training always samples
    act = acting_policy(model, config.eval_deterministic, device)

    step = 0
    with RunLogger(run_dir, config, environment, seed, "a2c", str(device), resume) as log:
        log.checkpoint_with(lambda: {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                     "rollout": rollout.state(env), "step": step})
        saved = log.resume()
        if saved is not None:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            step = saved["step"]
            env.close()
            env = rollout.resume(saved["rollout"], environment, seed, step)
        while step < config.total_steps:
            step = rollout.collect(env, sample, step, log)
            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.learning_rate * max(0.0, 1.0 - step / config.total_steps)
            output, values = model(tensor(rollout.observations).flatten(0, 1))
            output, values = output.view(T + 1, N, -1)[:T], values.view(T + 1, N)
            returns = n_step_returns(tensor(rollout.rewards), values.detach(), tensor(rollout.terminated),
                                     tensor(rollout.truncated), config.discount)
            distribution = model.head(output)
            loss, parts = actor_critic_loss(distribution.log_prob(tensor(rollout.actions)), distribution.entropy(),
                                            values[:T], returns, tensor(rollout.valid), config.value_coef,
                                            config.entropy_coef)
            check_finite(step, loss=loss.item())
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            optimizer.step()
            log.after_update(step, parts, act)
    env.close()
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.a2c", __doc__)
