"""REINFORCE (Williams 1992) with the variance-reduction options that the CS285 policy-gradient
homework compares (UC Berkeley CS285, Homework 2, "Policy Gradients"; Sutton & Barto 2018, ch. 13).

    return estimate      full-trajectory return G_0 for every step, or reward-to-go G_t
    baseline             none, or a learned state-value V(s) subtracted from the return
    normalisation        advantages standardised to mean 0, std 1 per batch, or not

One preset, cs285, the defaults: the homework's CartPole settings (experiment 1, small batch):
batches of 1000 environment steps (`-b 1000`) for 100 iterations (`-n 100`), a 2x64 tanh MLP
policy, Adam at 5e-3, one gradient step per batch; the baseline is a second 2x64 MLP fitted with
5 Adam steps per batch at 5e-3. Measurements: docs/algorithms/policy_gradient.md.

Deliberate deviations, each recorded in config.json with the hyperparameters:
- discount 0.99, where the homework's default is 1.0: CartPole-v1 ends in a time-limit truncation at
  500 steps, and we bootstrap there, so the undiscounted value of a balancing state is unbounded.
- At a time-limit truncation the return is bootstrapped from the baseline's V(last state) when a
  baseline exists; without one, the Monte-Carlo return stops at the limit (nothing to bootstrap from).
- Sampling runs one environment, like the homework, so every update uses whole, on-policy episodes:
  sampling stops at the first episode end once the batch holds `batch_size` steps.
- Checkpoints are taken between batches, where no episode is under way, with the env's state; where
  an env cannot be saved (MuJoCo), a resumed run plays new episodes from a fresh seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np
import torch
from torch import nn

import envs
from common.config import RunConfig, config_class, resolve_device
from common.nets import ActionHead, action_sizes, encoder, observation_box, orthogonal, spaces
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import require


@config_class
class Config(RunConfig):
    PRESETS: ClassVar[dict[str, dict]] = {"cs285": {}}

    batch_size: int = 1000
    """environment steps per policy update; sampling finishes the episode under way (CS285 -b 1000)"""
    reward_to_go: bool = False
    """weight each log-probability by the return from its step on (G_t) instead of the whole episode's (G_0)"""
    baseline: bool = False
    """subtract a learned state value V(s) from the return"""
    normalize_advantages: bool = False
    """standardise the advantages of each batch to mean 0 and standard deviation 1"""
    discount: float = 0.99
    """reward discount gamma (the homework uses 1.0; see the module docstring)"""
    learning_rate: float = 5e-3
    """Adam step size of the policy (CS285 -lr 5e-3)"""
    hidden_layers: int = 2
    """hidden layers of the policy and baseline MLPs (CS285 -l 2)"""
    hidden_size: int = 64
    """units per hidden layer (CS285 -s 64, tanh)"""
    baseline_learning_rate: float = 5e-3
    """Adam step size of the baseline (CS285 -blr 5e-3)"""
    baseline_gradient_steps: int = 5
    """full-batch regression steps of the baseline per batch (CS285 -bgs 5)"""
    total_steps: int = 100_000
    """training budget in environment steps (CS285 experiment 1: -n 100 iterations of -b 1000)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.batch_size > 0, "batch_size", "a positive number of environment steps", self.batch_size)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.baseline_gradient_steps > 0, "baseline_gradient_steps", "a positive number", self.baseline_gradient_steps)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """cs285 everywhere: the homework's CartPole setting is REINFORCE's one preset."""
        return "cs285"


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
    episodes, batch_steps, resets = [], 0, envs.AutoresetSteps(1)
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
            resets.record(terminated, truncated)
            if resets.pending[0]:
                break
            observation = next_observation
        episodes.append(Episode(np.array(observations), np.array(actions), np.array(rewards),
                                bool(truncated[0]) and not terminated[0], next_observation[0]))
        batch_steps += len(rewards)
        # take the autoreset step now, so that the next episode starts clean
        observation = resets.take_now(env, env.action_space.sample())
    return episodes, observation, step


def policy_act(policy: Policy, deterministic: bool, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """Observations -> actions as evaluation plays them: the most likely action, or a sample."""

    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return policy.head.act(policy.net(torch.as_tensor(observations, device=device)), deterministic).cpu().numpy()

    return act


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The evaluation `act` of a saved run, on `environment` (its spaces must be the run's)."""
    policy = Policy(*spaces(environment), config)
    policy.load_state_dict(state["policy"])
    return policy_act(policy, config.eval_deterministic, torch.device("cpu"))


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(environment, 1, seed)
    space = observation_box(env.single_observation_space)
    action_size, discrete = action_sizes(env.single_action_space)
    policy = Policy(space, action_size, discrete, config).to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    learners = {"policy": policy, "optimizer": optimizer}
    if config.baseline:
        value = mlp_with_head(space, 1, config, gain=1.0).to(device)
        value_optimizer = torch.optim.Adam(value.parameters(), lr=config.baseline_learning_rate)
        learners.update(value=value, value_optimizer=value_optimizer)
    returns_of = reward_to_go if config.reward_to_go else trajectory_return
    act = policy_act(policy, config.eval_deterministic, device)

    step = 0
    with RunLogger(run_dir, config, environment, seed, "reinforce", str(device), resume) as log:
        # Taken between batches: the env has just reset, so its state and first observation are all it needs.
        log.checkpoint_with(lambda: {**{name: part.state_dict() for name, part in learners.items()},
                                     "env": envs.snapshot(env), "observation": observation, "step": step})
        saved = log.resume()
        if saved is not None:
            for name, part in learners.items():
                part.load_state_dict(saved[name])
            step = saved["step"]
            env.close()
            env, fresh_observation = envs.restore(saved["env"], environment, 1, seed, step)
            observation = saved["observation"] if fresh_observation is None else fresh_observation
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
