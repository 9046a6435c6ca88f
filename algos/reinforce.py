"""REINFORCE (Williams 1992) with the variance-reduction options that the CS285 policy-gradient
homework compares (UC Berkeley CS285, Homework 2, "Policy Gradients"; Sutton & Barto 2018, ch. 13).

    return estimate      full-trajectory return G_0 for every step, or reward-to-go G_t
    baseline             none, or a learned state-value V(s) subtracted from the return
    normalisation        advantages standardised to mean 0, std 1 per batch, or not

Defaults are the homework's CartPole settings: batch of 1000 environment steps per update
(`-b 1000`), a 2x64 tanh MLP policy, Adam at 5e-3, one gradient step per batch; the baseline is a
second 2x64 MLP fitted with 5 Adam steps per batch at 5e-3.

Deliberate deviations, each recorded in config.json with the hyperparameters:
- discount 0.99, where the homework's default is 1.0: CartPole-v1 ends in a time-limit truncation at
  500 steps, and we bootstrap there, so the undiscounted value of a balancing state is unbounded.
- At a time-limit truncation the return is bootstrapped from the baseline's V(last state) when a
  baseline exists; without one, the Monte-Carlo return stops at the limit (nothing to bootstrap from).
- Sampling runs one environment, like the homework, so every update uses whole, on-policy episodes:
  sampling stops at the first episode end once the batch holds `batch_size` steps.
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
from common.nets import ActionHead, action_sizes, encoder, observation_space, orthogonal
from common.rundir import RunLogger, RunResult, check_finite


@dataclass
class Config(RunConfig):
    batch_size: int = 1000
    """environment steps per policy update; sampling finishes the episode under way (CS285 -b)"""
    reward_to_go: bool = False
    """weight each log-probability by the return from its step on (G_t) instead of the whole episode's (G_0)"""
    baseline: bool = False
    """subtract a learned state value V(s) from the return"""
    normalize_advantages: bool = False
    """standardise the advantages of each batch to mean 0 and standard deviation 1"""
    discount: float = 0.99
    """reward discount gamma (the homework uses 1.0; see the module docstring)"""
    learning_rate: float = 5e-3
    """Adam step size of the policy"""
    hidden_layers: int = 2
    """hidden layers of the policy and baseline MLPs"""
    hidden_size: int = 64
    """units per hidden layer"""
    baseline_learning_rate: float = 5e-3
    """Adam step size of the baseline"""
    baseline_gradient_steps: int = 5
    """full-batch regression steps of the baseline per batch"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.batch_size > 0, "batch_size", "a positive number of environment steps", self.batch_size)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.baseline_gradient_steps > 0, "baseline_gradient_steps", "a positive number", self.baseline_gradient_steps)


def mlp_with_head(space, outputs: int, config: Config, gain: float) -> nn.Sequential:
    body, features = encoder(space, "mlp", hidden_layers=config.hidden_layers, hidden_size=config.hidden_size)
    return nn.Sequential(body, orthogonal(nn.Linear(features, outputs), gain))


class Policy(nn.Module):
    def __init__(self, space, action_size: int, discrete: bool, config: Config):
        super().__init__()
        self.net = mlp_with_head(space, action_size, config, gain=0.01)  # near-uniform initial policy
        self.head = ActionHead(action_size, discrete)

    def forward(self, observations: torch.Tensor) -> torch.distributions.Distribution:
        return self.head(self.net(observations))


def reward_to_go(rewards: np.ndarray, discount: float, bootstrap_value: float = 0.0) -> np.ndarray:
    """G_t = sum_{k>=t} discount^(k-t) r_k + discount^(T-t) V(s_T) for each step t of one episode."""
    returns = np.empty(len(rewards), dtype=np.float64)
    running = bootstrap_value
    for t in reversed(range(len(rewards))):
        running = rewards[t] + discount * running
        returns[t] = running
    return returns


def trajectory_return(rewards: np.ndarray, discount: float, bootstrap_value: float = 0.0) -> np.ndarray:
    """The whole episode's discounted return G_0, repeated for every step."""
    return np.full(len(rewards), reward_to_go(rewards, discount, bootstrap_value)[0])


def policy_gradient_loss(log_probs: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """The surrogate whose gradient is the policy-gradient estimate: -mean(log pi(a|s) * A)."""
    return -(log_probs * advantages).mean()


@dataclass
class Episode:
    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    truncated: bool
    last_observation: np.ndarray


def collect_episodes(env, observation, policy, device, batch_size, log, step):
    """Play whole episodes on the single env until the batch holds at least `batch_size` steps."""
    episodes, batch_steps = [], 0
    while batch_steps < batch_size:
        observations, actions, rewards = [], [], []
        while True:
            with torch.no_grad():
                action = policy(torch.as_tensor(observation, dtype=torch.float32, device=device)).sample().cpu().numpy()
            next_observation, reward, terminated, truncated, info = env.step(action)
            observations.append(observation[0])
            actions.append(action[0])
            rewards.append(reward[0])
            step += 1
            log.log_episodes(step, info)
            if terminated[0] or truncated[0]:
                break
            observation = next_observation
        episodes.append(Episode(np.array(observations), np.array(actions), np.array(rewards),
                                bool(truncated[0]) and not terminated[0], next_observation[0]))
        batch_steps += len(rewards)
        # The vector env resets on the next step and ignores its action: take that step now so the
        # next episode starts clean; it is not a transition and is not counted or learned from.
        observation, *_ = env.step(env.action_space.sample())
    return episodes, observation, step


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(config.env_id, 1, seed, config.env_protocol, backend=config.env_backend)
    space = observation_space(env)
    action_size, discrete = action_sizes(env)
    policy = Policy(space, action_size, discrete, config).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    if config.baseline:
        value = mlp_with_head(space, 1, config, gain=1.0).to(device)
        value_optimizer = torch.optim.Adam(value.parameters(), lr=config.baseline_learning_rate)
    returns_of = reward_to_go if config.reward_to_go else trajectory_return

    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            output = policy.net(torch.as_tensor(observations, device=device))
            return policy.head.act(output, config.eval_deterministic).cpu().numpy()

    with RunLogger(run_dir, config, seed, "reinforce", str(device)) as log:
        step = 0
        while step < config.total_steps:
            episodes, observation, step = collect_episodes(env, observation, policy, device, config.batch_size, log, step)
            observations = torch.as_tensor(np.concatenate([e.observations for e in episodes]), dtype=torch.float32, device=device)
            actions = torch.as_tensor(np.concatenate([e.actions for e in episodes]), device=device)
            bootstrap_values = np.zeros(len(episodes))
            if config.baseline:
                with torch.no_grad():
                    last = torch.as_tensor(np.stack([e.last_observation for e in episodes]), dtype=torch.float32, device=device)
                    truncated = np.array([e.truncated for e in episodes])
                    bootstrap_values = np.where(truncated, value(last).squeeze(-1).cpu().numpy(), 0.0)
            returns = torch.as_tensor(np.concatenate([
                returns_of(e.rewards, config.discount, b) for e, b in zip(episodes, bootstrap_values)
            ]), dtype=torch.float32, device=device)

            advantages = returns
            if config.baseline:
                with torch.no_grad():
                    advantages = returns - value(observations).squeeze(-1)
            if config.normalize_advantages:
                advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)

            policy_loss = policy_gradient_loss(policy(observations).log_prob(actions), advantages)
            optimizer.zero_grad()
            policy_loss.backward()
            optimizer.step()
            losses = {"policy_loss": policy_loss.item()}
            if config.baseline:
                for _ in range(config.baseline_gradient_steps):
                    value_loss = nn.functional.mse_loss(value(observations).squeeze(-1), returns)
                    value_optimizer.zero_grad()
                    value_loss.backward()
                    value_optimizer.step()
                losses["value_loss"] = value_loss.item()
            check_finite(step, **losses)
            log.after_update(step, losses, act)
    env.close()
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.reinforce", __doc__)
