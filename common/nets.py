"""Network pieces the algorithms share: observation encoders, an MLP, and the action distribution.

Encoders (`--network`), each ending in its activation, so heads are single linear layers:
    mlp          flat vectors: hidden_layers x hidden_size tanh layers
    nature_cnn   Atari 4x84x84 stacks: DQN Nature's 32-64-64 convolutions + 512 units (Mnih et al. 2015);
                 also A2C in OpenAI Baselines and PPO (Schulman et al. 2017)
    a3c_cnn      Atari: the smaller 16-32 convolutions + 256 units of Mnih et al. 2013, used by A3C
    minatar_cnn  MinAtar 10x10xC grids: 16 3x3 convolutions + 128 units (Young & Tian 2019)
    auto         mlp for vectors, minatar_cnn for 10x10xC, the algorithm's Atari network for 4x84x84
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.distributions import Categorical, Distribution, Independent, Normal

import envs

ENCODERS = ("auto", "mlp", "nature_cnn", "a3c_cnn", "minatar_cnn")
# Argument checks on every distribution built in the hot loop cost more than the small networks themselves.
torch.distributions.Distribution.set_default_validate_args(False)


def mlp(sizes: list[int], activation: type[nn.Module] = nn.Tanh, output_gain: float = 1.0) -> nn.Sequential:
    """Linear layers with `activation` between them (none after the last), orthogonally initialised."""
    layers: list[nn.Module] = []
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = index == len(sizes) - 2
        layers.append(orthogonal(nn.Linear(fan_in, fan_out), output_gain if last else 2**0.5))
        if not last:
            layers.append(activation())
    return nn.Sequential(*layers)


def orthogonal(layer: nn.Module, gain: float = 2**0.5) -> nn.Module:
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


class Scale(nn.Module):
    """Cast observations to float and scale them (pixels by 1/255); channel-last grids become channel-first."""

    def __init__(self, factor: float, channels_last: bool = False):
        super().__init__()
        self.factor, self.channels_last = factor, channels_last

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        x = observations.float()
        if self.factor != 1.0:
            x = x * self.factor
        return x.permute(0, 3, 1, 2) if self.channels_last else x


def encoder(space: gym.spaces.Box, kind: str, atari_default: str = "nature_cnn",
            hidden_layers: int = 2, hidden_size: int = 64) -> tuple[nn.Module, int]:
    """(module mapping a batch of observations to features, number of features)."""
    shape = space.shape
    if kind == "auto":
        kind = "mlp" if len(shape) == 1 else "minatar_cnn" if shape[:2] == (10, 10) else atari_default
    if kind == "mlp":
        size = int(np.prod(shape))
        if hidden_layers == 0:
            return nn.Sequential(Scale(1.0), nn.Flatten()), size
        layers = mlp([size, *[hidden_size] * hidden_layers], output_gain=2**0.5)
        return nn.Sequential(Scale(1.0), nn.Flatten(), layers, nn.Tanh()), hidden_size
    if kind == "nature_cnn":
        convolutions = [(shape[0], 32, 8, 4), (32, 64, 4, 2), (64, 64, 3, 1)]
        return _cnn(Scale(1 / 255), convolutions, shape, 512), 512
    if kind == "a3c_cnn":
        return _cnn(Scale(1 / 255), [(shape[0], 16, 8, 4), (16, 32, 4, 2)], shape, 256), 256
    if kind == "minatar_cnn":
        return _cnn(Scale(1.0, channels_last=True), [(shape[2], 16, 3, 1)], (shape[2], *shape[:2]), 128), 128
    raise ValueError(f"network: expected one of {ENCODERS}, got {kind!r}")


def _cnn(scale: nn.Module, convolutions: list[tuple], input_shape: tuple, units: int) -> nn.Sequential:
    layers: list[nn.Module] = [scale]
    for in_channels, out_channels, kernel, stride in convolutions:
        layers += [orthogonal(nn.Conv2d(in_channels, out_channels, kernel, stride)), nn.ReLU()]
    layers.append(nn.Flatten())
    with torch.no_grad():
        flat = nn.Sequential(*layers[1:])(torch.zeros(1, *input_shape)).shape[1]
    return nn.Sequential(*layers, orthogonal(nn.Linear(flat, units)), nn.ReLU())


def action_sizes(space: gym.Space) -> tuple[int, bool]:
    """(policy output size, discrete?) of an action space."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n), True
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0]), False
    raise TypeError(f"action space {space} is not supported: expected Discrete or a 1-D Box")


def observation_box(space: gym.Space) -> gym.spaces.Box:
    """The observation space, which must be a Box."""
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"observation space {space} is not supported: expected a Box of numbers")
    return space


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

    def act(self, output: torch.Tensor, deterministic: bool) -> torch.Tensor:
        if deterministic:
            return self.mode(output)
        if self.discrete:
            # Categorical(logits=output).sample()'s own operations without building the distribution: the same
            # actions from the same random stream, a third faster (acting is a quarter of a CartPole PPO step).
            probabilities = torch.softmax(output - output.logsumexp(-1, keepdim=True), -1)
            return torch.multinomial(probabilities.reshape(-1, output.shape[-1]), 1, True).T.reshape(output.shape[:-1])
        return self(output).sample()


def spaces(environment) -> tuple[gym.spaces.Box, int, bool]:
    """(observation space, action size, discrete?) of an `envs.Environment`, from one probe env: what a
    network is built from when it is loaded from a checkpoint rather than trained."""
    observation, action = envs.spaces(environment)
    return observation_box(observation), *action_sizes(action)
