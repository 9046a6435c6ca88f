"""Small network pieces the policy-gradient algorithms share: an MLP and the action distribution."""

from __future__ import annotations

import gymnasium as gym
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh, output_gain: float = 1.0) -> nn.Sequential:
    """Linear layers with `activation` between them (none after the last), orthogonally initialised."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = index == len(sizes) - 2
        linear = nn.Linear(fan_in, fan_out)
        nn.init.orthogonal_(linear.weight, output_gain if last else 2**0.5)
        nn.init.zeros_(linear.bias)
        layers.append(linear)
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


def space_sizes(env: gym.vector.VectorEnv) -> tuple[int, int, bool]:
    """(observation size, policy output size, discrete?) for flat observations."""
    observations = env.single_observation_space
    if not isinstance(observations, gym.spaces.Box):
        raise TypeError(f"observation space {observations} is not supported: expected a Box of numbers")
    observation_size = int(torch.tensor(observations.shape).prod())
    space = env.single_action_space
    if isinstance(space, gym.spaces.Discrete):
        return observation_size, int(space.n), True
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return observation_size, int(space.shape[0]), False
    raise TypeError(f"action space {space} is not supported: expected Discrete or a 1-D Box")


class ActionHead(nn.Module):
    """Turns network outputs into a distribution: softmax for discrete actions, a Gaussian with a
    state-independent learned log standard deviation for continuous ones."""

    def __init__(self, action_size: int, discrete: bool):
        super().__init__()
        self.discrete = discrete
        self.log_std = None if discrete else nn.Parameter(torch.zeros(action_size))

    def forward(self, output: torch.Tensor) -> Distribution:
        if self.discrete:
            return Categorical(logits=output)
        return Independent(Normal(output, self.log_std.exp()), 1)

    def mode(self, output: torch.Tensor) -> torch.Tensor:
        return output.argmax(-1) if self.discrete else output
