"""A2C: synchronous advantage actor-critic, the lockstep counterpart of A3C
(Mnih et al. 2016, "Asynchronous Methods for Deep Reinforcement Learning", Algorithm S3),
as OpenAI Baselines built it and as the PPO paper's A2C column ran it.

N environments step in lockstep as one batch; every `n_steps` the learner computes n-step
bootstrapped returns, the advantage R_t - V(s_t), and one gradient step on
    policy loss  -log pi(a_t|s_t) * advantage
  + value_coef * (R_t - V(s_t))^2
  - entropy_coef * entropy of pi(.|s_t)

Defaults are OpenAI Baselines' A2C: 16 envs, 5-step rollouts, discount 0.99, RMSProp with
learning rate 7e-4 decayed linearly to 0, alpha 0.99, eps 1e-5, entropy 0.01, value 0.5,
gradient-norm clip 0.5. Actor and critic share their encoder: DQN Nature's CNN on Atari (as
Baselines), the MinAtar CNN on MinAtar, a 2x64 tanh MLP on vectors (`--network` chooses).

Deliberate deviations:
- torch's RMSprop adds eps outside the square root and starts its square average at 0;
  TF1's RMSProp (Baselines) adds it inside and starts at 1. With eps 1e-5 the difference is
  confined to the first updates.
- Time-limit truncations bootstrap from V(last state), where Baselines treats them as terminal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import envs
from common.config import RunConfig, resolve_device
from core.errors import require
from common.actor_critic import ActorCritic, actor_critic_loss, n_step_returns
from common.nets import ENCODERS, action_sizes, observation_space
from common.rundir import RunLogger, RunResult, check_finite


@dataclass
class Config(RunConfig):
    num_envs: int = 16
    """environments stepped in lockstep"""
    n_steps: int = 5
    """steps per environment between updates (the n of the n-step return; A3C's t_max)"""
    discount: float = 0.99
    """reward discount gamma"""
    learning_rate: float = 7e-4
    """RMSProp step size at the start of training"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the training budget"""
    rmsprop_alpha: float = 0.99
    """RMSProp smoothing constant of the squared-gradient average"""
    rmsprop_eps: float = 1e-5
    """RMSProp epsilon"""
    entropy_coef: float = 0.01
    """weight of the entropy bonus"""
    value_coef: float = 0.5
    """weight of the value loss"""
    max_grad_norm: float = 0.5
    """clip the global gradient norm to this"""
    shared_network: bool = True
    """actor and critic share the observation encoder (else each has its own)"""
    network: str = "auto"
    """observation encoder: auto (mlp for vectors, minatar_cnn, nature_cnn for Atari), mlp, nature_cnn, a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP encoder"""
    hidden_size: int = 64
    """units per hidden layer of the MLP encoder"""

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


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(config.env_id, config.num_envs, seed, config.env_protocol, backend=config.env_backend)
    space = observation_space(env)
    action_size, discrete = action_sizes(env)
    model = ActorCritic(space, action_size, discrete, config).to(device)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=config.learning_rate,
                                    alpha=config.rmsprop_alpha, eps=config.rmsprop_eps)
    T, N = config.n_steps, config.num_envs
    observations = np.zeros((T + 1, N, *space.shape), dtype=space.dtype)
    actions = np.zeros((T, N) if discrete else (T, N, action_size), dtype=np.int64 if discrete else np.float32)
    rewards, terminated, truncated, valid = (np.zeros((T, N), dtype=d) for d in (np.float32, bool, bool, bool))
    tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
    episode_ended = np.zeros(N, dtype=bool)  # these envs' next step is an autoreset

    def act(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model.head.act(model(tensor(obs))[0], config.eval_deterministic).cpu().numpy()

    with RunLogger(run_dir, config, seed, "a2c", str(device)) as log:
        step = 0
        while step < config.total_steps:
            for t in range(T):
                observations[t] = observation
                with torch.no_grad():
                    output, _ = model(tensor(observation))
                    actions[t] = model.head(output).sample().cpu().numpy()
                observation, rewards[t], terminated[t], truncated[t], info = env.step(actions[t])
                valid[t] = ~episode_ended
                episode_ended = terminated[t] | truncated[t]
                step += int(valid[t].sum())
                log.log_episodes(step, info)
            observations[T] = observation

            if config.anneal_lr:
                optimizer.param_groups[0]["lr"] = config.learning_rate * max(0.0, 1.0 - step / config.total_steps)
            output, values = model(tensor(observations).flatten(0, 1))
            output, values = output.view(T + 1, N, -1)[:T], values.view(T + 1, N)
            returns = n_step_returns(tensor(rewards), values.detach(), tensor(terminated), tensor(truncated), config.discount)
            distribution = model.head(output)
            loss, parts = actor_critic_loss(distribution.log_prob(tensor(actions)), distribution.entropy(), values[:T],
                                            returns, tensor(valid), config.value_coef, config.entropy_coef)
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
