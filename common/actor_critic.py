"""What the actor-critic algorithms (A2C, A3C, PPO, TRPO) share: the network with a policy and a value
head over one encoder (or two), the policy evaluation runs, the n-step bootstrapped return, GAE(lambda)
and the advantage actor-critic loss.

`config` is any algorithm config with the fields network, hidden_layers, hidden_size and shared_network.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from common.nets import ActionHead, encoder, orthogonal
from envs.normalize import observation_normalizer


class ActorCritic(nn.Module):
    def __init__(self, space, action_size: int, discrete: bool, config, atari_network: str = "nature_cnn"):
        super().__init__()
        self.actor_body, features = encoder(space, config.network, atari_network, config.hidden_layers, config.hidden_size)
        self.critic_body = self.actor_body if config.shared_network else encoder(
            space, config.network, atari_network, config.hidden_layers, config.hidden_size)[0]
        self.actor = orthogonal(nn.Linear(features, action_size), 0.01)  # near-uniform initial policy
        self.critic = orthogonal(nn.Linear(features, 1), 1.0)
        self.head = ActionHead(action_size, discrete)

    def policy(self, observations: torch.Tensor) -> torch.Tensor:
        """Policy outputs (logits or Gaussian means) alone: acting needs no value."""
        return self.actor(self.actor_body(observations))

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy outputs (logits or Gaussian means) and state values."""
        features = self.actor_body(observations)
        critic_features = features if self.critic_body is self.actor_body else self.critic_body(observations)
        return self.actor(features), self.critic(critic_features).squeeze(-1)


def acting_policy(model: ActorCritic, deterministic: bool, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """Observations -> actions as evaluation plays them: the most likely action, or a sample."""

    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            output = model.policy(torch.as_tensor(observations, device=device))
            return model.head.act(output, deterministic).cpu().numpy()

    return act


def evaluation_policy(model: ActorCritic, deterministic: bool, device: torch.device,
                      statistics: dict | None) -> Callable[[np.ndarray], np.ndarray]:
    """What evaluation plays: the policy, on observations normalised with the frozen `statistics`
    (envs.normalize.normalization_state) when the run normalised its observations."""
    act = acting_policy(model, deterministic, device)
    if statistics is None or statistics["observations"] is None:
        return act
    normalize = observation_normalizer(statistics)
    return lambda observations: act(normalize(observations))


def n_step_returns(rewards: torch.Tensor, values: torch.Tensor, terminated: torch.Tensor,
                   truncated: torch.Tensor, discount: float) -> torch.Tensor:
    """Bootstrapped returns R_t = r_t + discount * R_{t+1} over a (T, N) rollout.

    `values` holds V(s_0) ... V(s_T) (T+1 rows), where s_{t+1} is the observation step t returned:
    the last state of the episode when step t ended it. A terminated episode adds nothing after
    its last reward; a truncated one bootstraps from V(last state); the rollout's end bootstraps
    from V(s_T). Rows after an episode end are gymnasium's autoreset steps: their returns are
    meaningless and the caller masks them out.
    """
    returns = torch.empty_like(rewards)
    running = values[-1]
    for t in reversed(range(rewards.shape[0])):
        following = torch.where(truncated[t], values[t + 1], running)
        running = rewards[t] + discount * torch.where(terminated[t], torch.zeros_like(running), following)
        returns[t] = running
    return returns


def actor_critic_loss(log_probs: torch.Tensor, entropy: torch.Tensor, values: torch.Tensor, returns: torch.Tensor,
                      valid: torch.Tensor, value_coef: float, entropy_coef: float) -> tuple[torch.Tensor, dict]:
    """A2C's loss over the valid (non-autoreset) transitions; also returns its parts for logging."""
    advantages = (returns - values).detach()
    policy_loss = -(log_probs * advantages)[valid].mean()
    value_loss = (returns - values).pow(2)[valid].mean()
    entropy_bonus = entropy[valid].mean()
    loss = policy_loss + value_coef * value_loss - entropy_coef * entropy_bonus
    return loss, {"policy_loss": policy_loss.item(), "value_loss": value_loss.item(), "entropy": entropy_bonus.item()}


def gae(rewards: torch.Tensor, values: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor,
        gamma: float, lam: float) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE(lambda) advantages and value targets (advantage + V(s_t)) over a (T, N) rollout.

    `values` holds V(s_0) ... V(s_T) (T+1 rows), where s_{t+1} is the observation step t returned:
    the last state of the episode when step t ended it. At an episode end the sum of TD errors
    stops: delta_t = r_t - V(s_t) after a termination, r_t + gamma V(last state) - V(s_t) after a
    truncation; the rollout's end bootstraps from V(s_T). Rows after an episode end are gymnasium's
    autoreset steps: their outputs are meaningless and the caller masks them out.
    """
    # The TD errors of all steps at once; only the discounted sum runs step by step (a third of the operations).
    deltas = rewards + gamma * torch.where(terminated, torch.zeros_like(rewards), values[1:]) - values[:-1]
    continues = ~(terminated | truncated)
    advantages = torch.empty_like(rewards)
    zeros = running = torch.zeros_like(values[-1])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * torch.where(continues[t], running, zeros)
        advantages[t] = running
    return advantages, advantages + values[:-1]


def standardize(advantages: torch.Tensor) -> torch.Tensor:
    """Mean 0, std 1; the population std, as Baselines (numpy's), so a single sample gives 0, not NaN."""
    return (advantages - advantages.mean()) / (advantages.std(correction=0) + 1e-8)
