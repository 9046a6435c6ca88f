"""DQN: deep Q-learning with experience replay and a target network
(Mnih et al. 2015, "Human-level control through deep reinforcement learning", Nature 518;
defaults from its Methods and Extended Data Table 1), with the published variants as options.

One environment; epsilon-greedy acting; every transition goes into a replay memory; every
`train_frequency` steps, `gradient_steps` minibatch updates minimise the Huber loss of the TD error
    y = R + discount * Q_target(s', argmax_a Q_target(s', a))      (R, discount: see algos/replay.py)
against a target network copied from the online one every `target_update_period` steps. The Huber
loss (delta 1) is the paper's "clip the error term to [-1, 1]": its gradient is the clipped error.

Options, each off by default and each the published variant:
- `--double`      Double DQN target (van Hasselt, Guez & Silver 2016, AAAI, eq. 4): the online network
                  picks argmax_a Q(s', a), the target network values it.
- `--dueling`     dueling head (Wang et al. 2016, ICML, eq. 9): Q = V + A - mean_a A, the streams
                  splitting below the last hidden layer (two 512-unit layers on Atari, as the paper).
- `--prioritized` proportional prioritized replay (Schaul et al. 2016, ICLR, Algorithm 1 and
                  section 4): P(i) ~ (|delta_i| + eps)^alpha with alpha 0.6, importance weights
                  (1 / N P(i))^beta normalised by their maximum, beta annealed 0.4 -> 1 over training,
                  and the step size divided by 4 (prioritized minibatches have larger errors).
- `--n-step N`    N-step returns (Sutton 1988; as in Rainbow, Hessel et al. 2018); the paper's is 1.

Presets (`--preset`, default auto; a preset fills every hyperparameter not given explicitly):
- atari   (Extended Data Table 1; these are the dataclass defaults): replay 1M transitions, minibatch
  32, replay start 50k, one update every 4 agent steps, target copy every 10k agent steps,
  discount 0.99, epsilon 1 -> 0.1 over 1M agent steps then fixed, evaluation epsilon 0.05,
  DeepMind's RMSProp (lr 2.5e-4, gradient and squared-gradient momentum 0.95, min squared gradient
  0.01), the Nature CNN, 12.5M agent steps = 50M frames (action repeat 4 is the dqn2015 protocol's).
- minatar (Young & Tian 2019, "MinAtar", arXiv:1903.03176, section 4 and its examples/dqn.py):
  replay 100k, minibatch 32, replay start 5k, one update every step, target copy every 1k steps,
  epsilon 1 -> 0.1 over 100k steps, torch's centered RMSProp (lr 2.5e-4, alpha 0.95, eps 0.01 added
  outside the square root, as their code), one 16-filter 3x3 convolution + 128 units, 5M steps.
  Their curves are training-episode returns (examples/dqn.py runs no evaluation): the score rule is
  train_last_100; our evaluations use the Nature paper's epsilon 0.05.
- classic (NOT from a paper; ours, for CartPole and other small vector tasks): the paper's loop at
  CartPole's scale: Adam 5e-4, minibatch 64, replay 100k (the whole run), start 1k, an update every
  4 steps, target copy every 500 steps (CleanRL's dqn.py), 3-step returns (Rainbow's n, Hessel et
  al. 2018; uncorrected for exploration, as theirs), epsilon 1 -> 0.05 over the first 10k steps
  (from step 0, as SB3), gradient norm clipped to 10 (SB3's default), two 256-unit ReLU layers,
  100k steps, greedy evaluation of 10 episodes every 2.5k steps. Why 3-step returns: with 1-step
  returns DQN's greedy policy kept flipping between ~100 and 500 long after it first balanced for
  500 steps, and the mean evaluation over the last 10% reached 450 on only 2 of 5 seeds (seeds 1-5).
  The values looked like the bottleneck: CartPole's values approach 1 / (1 - 0.99) = 100, a target copy moves them about one Bellman
  backup, and at 100k steps the mean Q was still rising (16 at 10k, 61 at 50k, 75 at 98k), so the
  two actions' values differed by less than their error. A 3-step return carries three backups per
  copy: 5 of 5 seeds then score >= 450 (500, 500, 500, 497, 500; C51 5 of 5 as well). Tried before,
  with 1-step returns, none reaching 4 of 5: 200k steps (3 of 5, collapsing again after ~120k);
  a 200k replay that forgets nothing (1 of 5); a target copy every 100 steps (Q diverges on every
  seed: mean Q 1e8 by step 90k); the learning rate annealed to 0 (worse); rl-baselines3-zoo's tuned
  CartPole-v1 DQN (Adam 2.3e-3, 128 updates every 256 steps, a target copy every 10 steps: 1 of 5
  here, 3 of 5 with Stable-Baselines3's own DQN).

Ambiguities of Table 1, decided:
- Target update period: the table counts it in parameter updates (10k updates = 40k agent steps);
  DeepMind's released code (dqn/NeuralQLearner.lua: `numSteps % target_q`) counts agent steps, as do
  Dopamine, CleanRL and SB3. We count agent steps: 10,000 agent steps = 2,500 updates.
- "Final exploration frame 1,000,000" and "replay start size 50,000": the released code counts both
  in agent steps and starts annealing epsilon only once learning starts (`anneal_after_learning_starts`);
  so do we, and so does Dopamine's dqn_nature.gin.
- RMSProp: the paper's is DeepMind's centered variant, `DQNRMSprop` below, exact:
      g = 0.95 g + 0.05 grad,  n = 0.95 n + 0.05 grad^2,  param -= lr * grad / sqrt(n - g^2 + 0.01)
  torch.optim.RMSprop(centered=True) differs: eps is added outside the square root, and one decay
  serves both averages. The released code applies it to the gradient *summed* over the minibatch;
  our loss is the minibatch mean (B times smaller gradients), so the identical update adds 0.01 / B^2
  inside the square root (Dopamine's 1e-5 is this number rounded).

Deliberate deviations:
- Time-limit truncations bootstrap from the last state; the Atari life-loss signal is a termination.
- Orthogonal initialisation (common/nets.py), not Torch7's default.
- Budgets are agent steps; autoreset steps (gymnasium's step after an episode end) are not counted
  and not stored.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import envs
from algos.replay import Batch, PrioritizedReplayBuffer, ReplayBuffer
from common.config import RunConfig, resolve_device
from core.errors import ConfigError, require
from common.nets import ENCODERS, Scale, action_sizes, encoder, observation_space, orthogonal
from common.rundir import RunLogger, RunResult, check_finite
from core.files import write_json

OPTIMIZERS = ("dqn_rmsprop", "torch_rmsprop", "adam")
LOG_INTERVAL = 1_000  # env steps between logged averages of the losses, mean Q and epsilon
BUDGET = ("total_steps", "eval_interval", "eval_episodes")  # preset values that are budgets, not settings

# Extended Data Table 1 (and Methods). Units: transitions, agent steps (1 agent step = 4 frames).
NATURE_TABLE_1 = dict(
    buffer_size=1_000_000, batch_size=32, learning_starts=50_000, train_frequency=4, gradient_steps=1,
    target_update_period=10_000, discount=0.99, n_step=1, final_epsilon=0.1, epsilon_anneal_steps=1_000_000,
    anneal_after_learning_starts=True, optimizer="dqn_rmsprop", learning_rate=2.5e-4, gradient_momentum=0.95,
    squared_gradient_momentum=0.95, min_squared_gradient=0.01, max_grad_norm=0.0, network="auto",
    total_steps=12_500_000, eval_interval=250_000, eval_episodes=30, eval_epsilon=0.05, score_rule="eval_last_10pct",
)
# Young & Tian 2019 (MinAtar), section 4 and examples/dqn.py. MinAtar has no frame skip: frames = steps.
MINATAR_2019 = dict(
    buffer_size=100_000, batch_size=32, learning_starts=5_000, train_frequency=1, gradient_steps=1,
    target_update_period=1_000, discount=0.99, n_step=1, final_epsilon=0.1, epsilon_anneal_steps=100_000,
    anneal_after_learning_starts=True, optimizer="torch_rmsprop", learning_rate=2.5e-4, gradient_momentum=0.95,
    squared_gradient_momentum=0.95, min_squared_gradient=0.01, max_grad_norm=0.0, network="auto",
    total_steps=5_000_000, eval_interval=100_000, eval_episodes=10, eval_epsilon=0.05, score_rule="train_last_100",
)
# Ours, for CartPole-sized tasks (module docstring): not a paper's.
CLASSIC_NOT_FROM_A_PAPER = dict(
    buffer_size=100_000, batch_size=64, learning_starts=1_000, train_frequency=4, gradient_steps=1,
    target_update_period=500, discount=0.99, n_step=3, final_epsilon=0.05, epsilon_anneal_steps=10_000,
    anneal_after_learning_starts=False, optimizer="adam", learning_rate=5e-4, adam_eps=1e-8, max_grad_norm=10.0,
    network="auto", hidden_layers=2, hidden_size=256,
    total_steps=100_000, eval_interval=2_500, eval_episodes=10, eval_epsilon=0.0, score_rule="eval_last_10pct",
)


@dataclass
class ValueBasedConfig(RunConfig):
    """What DQN and C51 share: replay, schedule, optimizer and network (C51 changes the defaults)."""

    preset: str = "auto"
    """hyperparameters not given explicitly: atari (the paper's), minatar, classic (not from a paper),
    auto (by env family)"""
    buffer_size: int = 1_000_000
    """replay memory size in transitions (Table 1: 1,000,000)"""
    batch_size: int = 32
    """transitions per minibatch update (Table 1: 32)"""
    learning_starts: int = 50_000
    """env steps of uniformly random play that fill the replay memory before learning starts
    (Table 1 replay start size: 50,000)"""
    train_frequency: int = 4
    """env steps between learning phases (Table 1 update frequency: 4 agent steps per update)"""
    gradient_steps: int = 1
    """minibatch updates per learning phase (the paper: 1)"""
    target_update_period: int = 10_000
    """env steps between copies of the online network into the target network (Table 1: 10,000, in
    agent steps as DeepMind's code counts them; the table's text says parameter updates = 40,000 agent steps)"""
    discount: float = 0.99
    """reward discount gamma (Table 1: 0.99)"""
    n_step: int = 1
    """N of the N-step return bootstrapped from s_{t+N} (the paper: 1)"""
    final_epsilon: float = 0.1
    """exploration epsilon after annealing from 1 (Table 1 final exploration: 0.1)"""
    epsilon_anneal_steps: int = 1_000_000
    """env steps over which epsilon falls linearly from 1 to final_epsilon (Table 1 final exploration
    frame: 1,000,000; DeepMind's code counts agent steps)"""
    anneal_after_learning_starts: bool = True
    """epsilon starts falling at learning_starts (DeepMind's and MinAtar's code); off: at step 0 (Stable-Baselines3)"""
    optimizer: str = "dqn_rmsprop"
    """dqn_rmsprop (DeepMind's centered RMSProp, epsilon inside the square root: the paper's),
    torch_rmsprop (torch's centered RMSprop: MinAtar's code) or adam"""
    learning_rate: float = 2.5e-4
    """optimizer step size (Table 1: 0.00025); divided by 4 under --prioritized (Schaul et al. 2016)"""
    gradient_momentum: float = 0.95
    """RMSProp decay of the gradient average (Table 1 gradient momentum: 0.95)"""
    squared_gradient_momentum: float = 0.95
    """RMSProp decay of the squared-gradient average (Table 1 squared gradient momentum: 0.95)"""
    min_squared_gradient: float = 0.01
    """RMSProp epsilon (Table 1 min squared gradient: 0.01, added inside the square root to the statistics
    of the minibatch-summed gradient; torch_rmsprop adds it outside the square root)"""
    adam_eps: float = 1e-8
    """Adam epsilon (torch's and SB3's default 1e-8)"""
    max_grad_norm: float = 0.0
    """clip the global gradient norm to this; 0: no clipping (the paper clips the TD error instead)"""
    network: str = "auto"
    """encoder: auto (mlp for vectors, minatar_cnn for MinAtar, nature_cnn for Atari), mlp (ReLU),
    nature_cnn, a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP for vector observations"""
    hidden_size: int = 256
    """units per hidden layer of the MLP"""
    total_steps: int = 12_500_000
    """training budget in env steps (agent steps; Atari: 12.5M = the paper's 50M frames)"""
    eval_interval: int = 250_000
    """env steps between evaluations (one more at the end of training)"""
    eval_episodes: int = 30
    """whole episodes per evaluation (the paper: 30 games)"""
    eval_epsilon: float = 0.05
    """during evaluation, the probability of a uniformly random action instead of the greedy one (the paper: 0.05)"""
    eval_deterministic: bool = True
    """Q-learning evaluates greedily (with eval_epsilon random actions): must stay true"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.preset in ("auto", *self.PRESETS), "preset", f"auto or one of {list(self.PRESETS)}", self.preset)
        require(self.batch_size > 0, "batch_size", "a positive number of transitions", self.batch_size)
        require(self.buffer_size >= self.batch_size, "buffer_size", f"at least batch_size = {self.batch_size}",
                self.buffer_size)
        require(self.learning_starts >= 0, "learning_starts", "0 or more env steps", self.learning_starts)
        for name in ("train_frequency", "gradient_steps", "target_update_period", "n_step", "epsilon_anneal_steps"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(0.0 <= self.final_epsilon <= 1.0, "final_epsilon", "a probability in [0, 1]", self.final_epsilon)
        require(self.optimizer in OPTIMIZERS, "optimizer", f"one of {list(OPTIMIZERS)}", self.optimizer)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        for name in ("gradient_momentum", "squared_gradient_momentum"):
            require(0.0 <= getattr(self, name) < 1.0, name, "a number in [0, 1)", getattr(self, name))
        require(self.optimizer != "torch_rmsprop" or self.gradient_momentum == self.squared_gradient_momentum,
                "gradient_momentum", f"equal to squared_gradient_momentum = {self.squared_gradient_momentum} "
                "(torch's RMSprop has one decay for both averages)", self.gradient_momentum)
        require(self.min_squared_gradient > 0, "min_squared_gradient", "a positive number", self.min_squared_gradient)
        require(self.adam_eps > 0, "adam_eps", "a positive number", self.adam_eps)
        require(self.max_grad_norm >= 0, "max_grad_norm", "0 (no clipping) or a positive number", self.max_grad_norm)
        require(self.network in ENCODERS, "network", f"one of {list(ENCODERS)}", self.network)
        require(self.hidden_layers > 0, "hidden_layers", "1 or more layers", self.hidden_layers)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.eval_deterministic, "eval_deterministic", "true (Q-learning evaluates greedily)",
                self.eval_deterministic)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """atari for Atari, minatar for MinAtar, classic for every other environment."""
        family, _ = envs.family_of(env_id)
        return family if family in ("atari", "minatar") else "classic"


@dataclass
class Config(ValueBasedConfig):
    PRESETS: ClassVar[dict[str, dict]] = {
        "atari": NATURE_TABLE_1, "minatar": MINATAR_2019, "classic": CLASSIC_NOT_FROM_A_PAPER}
    NOT_FROM_A_PAPER: ClassVar[tuple[str, ...]] = ("classic",)

    double: bool = False
    """Double DQN target: the online network picks the next action, the target network values it
    (van Hasselt et al. 2016)"""
    dueling: bool = False
    """dueling head Q = V + A - mean A, the two streams split below the last hidden layer (Wang et al. 2016)"""
    prioritized: bool = False
    """proportional prioritized replay with importance weights, and learning_rate / 4 (Schaul et al. 2016)"""
    priority_exponent: float = 0.6
    """alpha of prioritized replay: P(i) ~ priority^alpha (Schaul et al. 2016, proportional variant: 0.6)"""
    importance_sampling_start: float = 0.4
    """beta of the importance weights at the start, annealed linearly to 1 over total_steps (Schaul et al. 2016: 0.4)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.priority_exponent >= 0, "priority_exponent", "0 or more", self.priority_exponent)
        require(0.0 <= self.importance_sampling_start <= 1.0, "importance_sampling_start", "a number in [0, 1]",
                self.importance_sampling_start)


# --- networks ---------------------------------------------------------------------------------------

def torso(space: gym.spaces.Box, config: ValueBasedConfig) -> tuple[nn.Module, int, int]:
    """The network below its last hidden layer: (module, its output size, units of the last hidden layer).
    Heads add that last layer themselves, so that the dueling streams can each have their own."""
    kind = "mlp" if config.network == "auto" and len(space.shape) == 1 else config.network
    if kind == "mlp":
        sizes = [int(np.prod(space.shape))] + [config.hidden_size] * (config.hidden_layers - 1)
        layers: list[nn.Module] = [Scale(1.0)] if len(space.shape) == 1 else [Scale(1.0), nn.Flatten()]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers += [orthogonal(nn.Linear(fan_in, fan_out)), nn.ReLU()]
        return nn.Sequential(*layers), sizes[-1], config.hidden_size
    body, units = encoder(space, kind, "nature_cnn")
    # Every convolutional encoder of common.nets ends in Linear(flat features -> units) + ReLU: keep what is below.
    return body[:-2], body[-2].in_features, units


def head(features: int, units: int, outputs: int) -> nn.Sequential:
    """The last hidden layer and the linear output layer."""
    return nn.Sequential(orthogonal(nn.Linear(features, units)), nn.ReLU(), orthogonal(nn.Linear(units, outputs), 1.0))


def dueling_aggregate(values: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """Wang et al. 2016, eq. 9: Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a'); values (B, 1), advantages (B, A)."""
    return values + advantages - advantages.mean(-1, keepdim=True)


class QNetwork(nn.Module):
    def __init__(self, space: gym.spaces.Box, action_count: int, config: Config):
        super().__init__()
        self.torso, features, units = torso(space, config)
        self.dueling = config.dueling
        if self.dueling:
            self.value, self.advantage = head(features, units, 1), head(features, units, action_count)
        else:
            self.head = head(features, units, action_count)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Q(s, a) for every action: (B, actions)."""
        features = self.torso(observations)
        if self.dueling:
            return dueling_aggregate(self.value(features), self.advantage(features))
        return self.head(features)

    q_values = forward  # what acting maximises (C51's network computes it from its distributions)


# --- the update -------------------------------------------------------------------------------------

class DQNRMSprop(torch.optim.Optimizer):
    """DeepMind's centered RMSProp (dqn/NeuralQLearner.lua, the paper's 'RMSProp'), with both averages
    starting at 0:  g = m g + (1 - m) grad,  n = s n + (1 - s) grad^2,
                    param -= lr * grad / sqrt(n - g^2 + min_squared_gradient)."""

    def __init__(self, params, lr: float, gradient_momentum: float, squared_gradient_momentum: float,
                 min_squared_gradient: float):
        super().__init__(params, dict(lr=lr, gradient_momentum=gradient_momentum,
                                      squared_gradient_momentum=squared_gradient_momentum,
                                      min_squared_gradient=min_squared_gradient))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                grad, state = parameter.grad, self.state[parameter]
                if not state:
                    state["gradient_average"] = torch.zeros_like(parameter)
                    state["square_average"] = torch.zeros_like(parameter)
                gradient_average, square_average = state["gradient_average"], state["square_average"]
                gradient_average.lerp_(grad, 1 - group["gradient_momentum"])
                square_average.mul_(group["squared_gradient_momentum"]).addcmul_(
                    grad, grad, value=1 - group["squared_gradient_momentum"])
                denominator = (square_average - gradient_average.square()).add_(group["min_squared_gradient"]).sqrt_()
                parameter.addcdiv_(grad, denominator, value=-group["lr"])


def make_optimizer(parameters, config: ValueBasedConfig, learning_rate: float) -> torch.optim.Optimizer:
    if config.optimizer == "dqn_rmsprop":
        # DeepMind's code steps on the gradient summed over the minibatch, ours is the mean (B times
        # smaller): the same update adds min_squared_gradient / B^2 to the mean's statistics.
        return DQNRMSprop(parameters, learning_rate, config.gradient_momentum, config.squared_gradient_momentum,
                          config.min_squared_gradient / config.batch_size**2)
    if config.optimizer == "torch_rmsprop":
        return torch.optim.RMSprop(parameters, lr=learning_rate, alpha=config.squared_gradient_momentum,
                                   eps=config.min_squared_gradient, centered=True)
    # fused: one kernel for all parameters, markedly faster for small networks
    return torch.optim.Adam(parameters, lr=learning_rate, eps=config.adam_eps, fused=True)


def q_learning_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q_target: torch.Tensor,
                       next_q_online: torch.Tensor | None = None) -> torch.Tensor:
    """y = R + discount * Q_target(s', a*) with a* = argmax_a Q_target(s', a), or argmax_a Q_online(s', a)
    when next_q_online is given (Double DQN). R is the (N-step) return, discount gamma^m, or 0 after a
    termination (a truncation keeps gamma^m: it bootstraps)."""
    chooser = next_q_target if next_q_online is None else next_q_online
    next_values = next_q_target.gather(-1, chooser.argmax(-1, keepdim=True)).squeeze(-1)
    return returns + discounts * next_values


def td_loss(q_taken: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch mean of the importance-weighted Huber loss (delta 1) of the TD errors, whose gradient
    is the TD error clipped to [-1, 1] (the paper's error clipping); and the errors themselves."""
    errors = targets - q_taken
    return (weights * F.huber_loss(q_taken, targets, reduction="none", delta=1.0)).mean(), errors.detach()


def dqn_loss(online: QNetwork, target: QNetwork, batch: Batch, config: Config) -> tuple[torch.Tensor, ...]:
    """(loss, |TD error| per transition for the priorities, mean Q(s, a) of the minibatch)."""
    q_taken = online(batch.observations).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        next_q_online = online(batch.next_observations) if config.double else None
        targets = q_learning_targets(batch.returns, batch.discounts, target(batch.next_observations), next_q_online)
    loss, errors = td_loss(q_taken, targets, batch.weights)
    return loss, errors.abs(), q_taken.detach().mean()


def exploration_epsilon(step: int, config: ValueBasedConfig) -> float:
    """1 until learning starts; then linear to final_epsilon over epsilon_anneal_steps, counted from
    learning_starts or from step 0 (anneal_after_learning_starts); then constant."""
    if step < config.learning_starts:
        return 1.0
    start = config.learning_starts if config.anneal_after_learning_starts else 0
    progress = min(1.0, (step - start) / config.epsilon_anneal_steps)
    return 1.0 + (config.final_epsilon - 1.0) * progress


# --- the loop (C51 runs it with its own network and loss) --------------------------------------------

@dataclass(frozen=True)
class Prioritization:
    """Schaul et al. 2016's proportional variant as they ran it with DQN."""

    alpha: float
    beta_start: float  # annealed linearly to 1 over the training budget
    learning_rate_scale: float = 0.25  # section 4: step size divided by 4


def deviations_from_preset(config: ValueBasedConfig) -> list[str]:
    """Every setting that differs from the run's preset (budgets aside), or that the preset is no paper's."""
    preset = config.preset_for(config.env_id) if config.preset == "auto" else config.preset
    notes = [f"preset {preset}: not from a paper"] if preset in config.NOT_FROM_A_PAPER else []
    notes += [f"{name} = {getattr(config, name)!r}, where the {preset} preset has {value!r}"
              for name, value in type(config).PRESETS[preset].items()
              if name not in BUDGET and getattr(config, name) != value]
    return notes


def train_loop(config: ValueBasedConfig, seed: int, run_dir: Path | str, algo: str, paper: str,
               make_network: Callable[[gym.spaces.Box, int, ValueBasedConfig], nn.Module],
               loss_function: Callable[[nn.Module, nn.Module, Batch, ValueBasedConfig], tuple[torch.Tensor, ...]],
               prioritization: Prioritization | None = None) -> RunResult:
    """Act epsilon-greedily in one environment, store every transition, learn from minibatches with
    `loss_function(online, target, batch, config) -> (loss, per-transition error, mean Q)`, copy the
    target network, log and evaluate. The network's `q_values` is what acting maximises."""
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(config.env_id, 1, seed, config.env_protocol, backend=config.env_backend)
    space = observation_space(env)
    action_count, discrete = action_sizes(env)
    if not discrete:
        raise ConfigError("env_id", "an environment with discrete actions (Q-learning maximises over them)",
                          config.env_id)
    online = make_network(space, action_count, config).to(device)
    target = copy.deepcopy(online).requires_grad_(False)
    online_parameters, target_parameters = list(online.parameters()), list(target.parameters())
    learning_rate = config.learning_rate * (prioritization.learning_rate_scale if prioritization else 1.0)
    optimizer = make_optimizer(online_parameters, config, learning_rate)
    # Atari protocols stack frames: the memory stores each frame once and rebuilds the stacks.
    frame_stack = getattr(envs.resolve_protocol(config.env_id, config.env_protocol), "frame_stack", 1)
    replay_settings = dict(num_envs=1, n_step=config.n_step, discount=config.discount, frame_stack=frame_stack,
                           device=device, seed=seed)
    if prioritization:
        replay = PrioritizedReplayBuffer(config.buffer_size, env.single_observation_space, env.single_action_space,
                                         alpha=prioritization.alpha, **replay_settings)
    else:
        replay = ReplayBuffer(config.buffer_size, env.single_observation_space, env.single_action_space,
                              **replay_settings)
    rng = np.random.default_rng(seed)

    def greedy(observations: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return online.q_values(torch.as_tensor(observations, device=device)).argmax(-1).cpu().numpy()

    def learn(step: int) -> tuple[float, float]:
        if prioritization:
            beta = prioritization.beta_start + (1.0 - prioritization.beta_start) * step / config.total_steps
            batch = replay.sample(config.batch_size, beta)
        else:
            batch = replay.sample(config.batch_size)
        loss, errors, mean_q = loss_function(online, target, batch, config)
        loss_value = loss.item()
        check_finite(step, loss=loss_value)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(online_parameters, config.max_grad_norm)
        optimizer.step()
        if prioritization:
            replay.update_priorities(batch.indices, errors.cpu().numpy())
        return loss_value, mean_q.item()

    actions = np.zeros(1, dtype=np.int64)
    step, updates_since_copy, episode_ended = 0, 0, False
    loss_sum, q_sum, updates_logged = 0.0, 0.0, 0
    with RunLogger(run_dir, config, seed, algo, str(device)) as log:
        write_json(log.dir / "deviations.json", {"paper": paper, "preset": config.preset,
                                                 "deviations": deviations_from_preset(config)})
        while step < config.total_steps:
            if not episode_ended:  # on gymnasium's autoreset step the action is ignored: choose none
                epsilon = exploration_epsilon(step, config)
                actions[0] = rng.integers(action_count) if rng.random() < epsilon else greedy(observation)[0]
            next_observation, rewards, terminated, truncated, info = env.step(actions)
            replay.add(observation, actions, rewards, next_observation, terminated, truncated)  # skips autoresets
            observation = next_observation
            if episode_ended:
                episode_ended = False
                continue
            episode_ended = bool(terminated[0] or truncated[0])
            step += 1
            log.log_episodes(step, info)
            learning = step > config.learning_starts and len(replay) >= config.batch_size
            if learning and step % config.train_frequency == 0:
                for _ in range(config.gradient_steps):
                    loss_value, mean_q = learn(step)
                    loss_sum, q_sum, updates_logged = loss_sum + loss_value, q_sum + mean_q, updates_logged + 1
                updates_since_copy += config.gradient_steps
            if step % config.target_update_period == 0 and updates_since_copy:  # a copy without updates changes nothing
                with torch.no_grad():
                    for target_parameter, parameter in zip(target_parameters, online_parameters):
                        target_parameter.copy_(parameter)
                updates_since_copy = 0
            if step % LOG_INTERVAL == 0 or step == config.total_steps:
                if updates_logged:
                    log.log_scalars(step, **{"losses/loss": loss_sum / updates_logged,
                                             "charts/mean_q": q_sum / updates_logged})
                    loss_sum, q_sum, updates_logged = 0.0, 0.0, 0
                log.log_scalars(step, **{"charts/epsilon": epsilon})
                log.advance(step)
            log.evaluate_if_due(step, greedy)
    env.close()
    return log.result


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    prioritization = None
    if config.prioritized:
        prioritization = Prioritization(config.priority_exponent, config.importance_sampling_start)
    return train_loop(config, seed, run_dir, "dqn", "Mnih et al. 2015, Nature 518, Extended Data Table 1",
                      QNetwork, dqn_loss, prioritization)


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.dqn", __doc__)
