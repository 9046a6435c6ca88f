"""What DQN and C51 share: the family's settings, network pieces, optimizers, epsilon schedule, and the
Q-learning agent that common/off_policy.py's loop drives.

Settings. `ValueBasedConfig`'s defaults are DQN's Extended Data Table 1 (Mnih et al. 2015, Nature 518),
each field citing it; the other presets are written below as their differences from the table:
`minatar` (Young & Tian 2019) and `classic` (ours, not from a paper; docs/algorithms/value_based.md
tells how it was found). An algorithm's `Config` inherits them and writes its own paper's changes.

The agent. An algorithm gives `q_learning_agent` its network, whose `q_values(observations)` acting
maximises, and its loss `loss(online, target, batch, config) -> (loss, per-transition error for the
priorities, mean Q of the minibatch)`; the `QLearner` acts epsilon-greedily, takes the optimizer's step,
updates the priorities and copies the target network; the off-policy loop stores, logs, evaluates and
checkpoints.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from common.config import config_class, resolve_device
from common.nets import ENCODERS, Scale, action_sizes, encoder, observation_box, orthogonal
from common.off_policy import Build, OffPolicyConfig
from common.replay import Batch, PrioritizedReplayBuffer, ReplayBuffer
from common.rundir import check_finite
from core.errors import ConfigError, require

OPTIMIZERS = ("dqn_rmsprop", "torch_rmsprop", "adam")

# Young & Tian 2019 (MinAtar, arXiv:1903.03176), section 4 and their examples/dqn.py, as differences from
# Table 1. MinAtar has no frame skip (frames = steps). Their curves are training-episode returns (the
# script runs no evaluation): the score rule is train_last_100; evaluations use Table 1's epsilon 0.05.
MINATAR_2019 = dict(
    buffer_size=100_000, learning_starts=5_000, train_frequency=1, target_update_period=1_000,
    epsilon_anneal_steps=100_000,
    optimizer="torch_rmsprop",  # torch's centered RMSprop, eps 0.01 outside the square root, as their code
    total_steps=5_000_000, eval_interval=100_000, eval_episodes=10, score_rule="train_last_100",
    checkpoint_replay=True,  # 100k MinAtar grids: tens of MB
)
# Ours, NOT from a paper: Table 1's loop at CartPole's scale. Adam (torch's epsilon 1e-8, also for C51),
# minibatch 64, target copy every 500 steps (CleanRL's dqn.py), 3-step returns (Rainbow's n, Hessel et al.
# 2018; uncorrected for exploration, as theirs), epsilon 1 -> 0.05 over the first 10k steps counted from
# step 0 (as SB3), gradient norm clipped to 10 (SB3's default), greedy evaluations of 10 episodes.
CLASSIC_NOT_FROM_A_PAPER = dict(
    buffer_size=100_000, batch_size=64, learning_starts=1_000, target_update_period=500, n_step=3,
    final_epsilon=0.05, epsilon_anneal_steps=10_000, anneal_after_learning_starts=False, optimizer="adam",
    learning_rate=5e-4, adam_eps=1e-8, max_grad_norm=10.0,
    total_steps=100_000, eval_interval=2_500, eval_episodes=10, eval_epsilon=0.0,
    checkpoint_replay=True,  # 100k small vectors: a few MB
)


@config_class
class ValueBasedConfig(OffPolicyConfig):
    """What DQN and C51 share: replay, schedule, optimizer and network; the defaults are Table 1's."""

    # These presets leave the protocol to the env family, and saving the replay changes no result.
    NOT_DEVIATIONS: ClassVar[tuple[str, ...]] = ("env_protocol", "checkpoint_replay")

    batch_size: int = 32
    """transitions per minibatch update (Table 1: 32)"""
    learning_starts: int = 50_000
    """env steps of uniformly random play that fill the replay memory before learning starts
    (Table 1 replay start size: 50,000)"""
    train_frequency: int = 4
    """env steps between learning phases (Table 1 update frequency: 4 agent steps per update)"""
    target_update_period: int = 10_000
    """env steps between copies of the online network into the target network (Table 1: 10,000, in
    agent steps as DeepMind's code counts them; the table's text says parameter updates = 40,000 agent steps)"""
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
    """optimizer step size (Table 1: 0.00025); if not given, --prioritized divides the preset's by 4 and
    --dueling on the atari preset uses 6.25e-5 (their papers)"""
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
        for name in ("target_update_period", "n_step", "epsilon_anneal_steps"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))
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


def run_record(config: ValueBasedConfig, paper: str) -> dict:
    """A run's deviations.json: its paper, preset, options on, and settings that differ from the preset."""
    return {"paper": paper, "preset": config.preset, "options": [name for name in config.OPTIONS if getattr(config, name)],
            "deviations": config.differences_from_preset()}


# --- networks ---------------------------------------------------------------------------------------

NetworkMaker = Callable[[gym.spaces.Box, int, ValueBasedConfig], nn.Module]  # (observations, actions, config)
# (online, target, minibatch, config) -> (loss, per-transition error for the priorities, mean Q of the minibatch)
Loss = Callable[[nn.Module, nn.Module, Batch, ValueBasedConfig], tuple[torch.Tensor, ...]]


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


def discrete_spaces(observation: gym.Space, action: gym.Space, env_id: str) -> tuple[gym.spaces.Box, int]:
    """(observation space, number of actions); Q-learning needs discrete actions."""
    action_count, discrete = action_sizes(action)
    if not discrete:
        raise ConfigError("env_id", "an environment with discrete actions (Q-learning maximises over them)", env_id)
    return observation_box(observation), action_count


def greedy_policy(network: nn.Module, device: torch.device) -> Callable[[np.ndarray], np.ndarray]:
    """argmax_a of the network's q_values: what evaluation plays (envs.evaluate adds eval_epsilon)."""

    def act(observations: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network.q_values(torch.as_tensor(observations, device=device)).argmax(-1).cpu().numpy()

    return act


def policy_from_checkpoint(config: ValueBasedConfig, environment: envs.Environment, state: dict,
                           make_network: NetworkMaker):
    """The greedy `act` of a checkpoint's online network, on `environment` (any protocol with the same spaces)."""
    space, action_count = discrete_spaces(*envs.spaces(environment), environment.id)
    device = resolve_device(config.device)
    network = make_network(space, action_count, config).to(device)
    network.load_state_dict(state["agent"]["online"])
    return greedy_policy(network, device)


# --- optimizers and exploration -----------------------------------------------------------------------

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


def make_optimizer(parameters, config: ValueBasedConfig) -> torch.optim.Optimizer:
    if config.optimizer == "dqn_rmsprop":
        # DeepMind's code steps on the gradient summed over the minibatch, ours is the mean (B times
        # smaller): the same update adds min_squared_gradient / B^2 to the mean's statistics.
        return DQNRMSprop(parameters, config.learning_rate, config.gradient_momentum,
                          config.squared_gradient_momentum, config.min_squared_gradient / config.batch_size**2)
    if config.optimizer == "torch_rmsprop":
        return torch.optim.RMSprop(parameters, lr=config.learning_rate, alpha=config.squared_gradient_momentum,
                                   eps=config.min_squared_gradient, centered=True)
    # fused: one kernel for all parameters, markedly faster for small networks
    return torch.optim.Adam(parameters, lr=config.learning_rate, eps=config.adam_eps, fused=True)


def exploration_epsilon(step: int, config: ValueBasedConfig) -> float:
    """1 until learning starts; then linear to final_epsilon over epsilon_anneal_steps, counted from
    learning_starts or from step 0 (anneal_after_learning_starts); then constant."""
    if step < config.learning_starts:
        return 1.0
    start = config.learning_starts if config.anneal_after_learning_starts else 0
    progress = min(1.0, (step - start) / config.epsilon_anneal_steps)
    return 1.0 + (config.final_epsilon - 1.0) * progress


@dataclass(frozen=True)
class Prioritization:
    """Schaul et al. 2016's proportional variant: P(i) ~ priority^alpha, importance-sampling exponent beta
    annealed linearly from beta_start to 1 over the training budget (the memory anneals it)."""

    alpha: float
    beta_start: float


# --- the agent the off-policy loop drives ---------------------------------------------------------------

class QLearner:
    """Epsilon-greedy acting on the online network's q_values; each update one minibatch step on the
    algorithm's loss (and new priorities); the target network copied every target_update_period env steps."""

    def __init__(self, online: nn.Module, action_count: int, loss_function: Loss, config: ValueBasedConfig,
                 device: torch.device, prioritized: bool):
        self.online, self.target = online, copy.deepcopy(online).requires_grad_(False)
        self.online_parameters, self.target_parameters = list(online.parameters()), list(self.target.parameters())
        self.optimizer = make_optimizer(self.online_parameters, config)
        self.action_count, self.loss_function, self.config, self.prioritized = (action_count, loss_function, config,
                                                                                prioritized)
        self.act = greedy_policy(online, device)
        self.epsilon = exploration_epsilon(0, config)
        self.updates_since_copy = 0

    def explore(self, step: int, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        self.epsilon = exploration_epsilon(step, self.config)
        return np.array([rng.integers(self.action_count) if rng.random() < self.epsilon else self.act(observation)[0]],
                        dtype=np.int64)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        return action

    def end_episode(self) -> None:
        pass

    def update(self, replay: ReplayBuffer, step: int) -> dict[str, float]:
        batch = replay.sample(self.config.batch_size, step) if self.prioritized else replay.sample(self.config.batch_size)
        loss, errors, mean_q = self.loss_function(self.online, self.target, batch, self.config)
        loss_value = loss.item()
        check_finite(step, loss=loss_value)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.max_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.online_parameters, self.config.max_grad_norm)
        self.optimizer.step()
        if self.prioritized:
            replay.update_priorities(batch.indices, errors.cpu().numpy())
        self.updates_since_copy += 1
        return {"losses/loss": loss_value, "charts/mean_q": mean_q.item()}

    def end_step(self, step: int) -> None:
        if step % self.config.target_update_period == 0 and self.updates_since_copy:  # else the copy changes nothing
            with torch.no_grad():
                for target_parameter, parameter in zip(self.target_parameters, self.online_parameters):
                    target_parameter.copy_(parameter)
            self.updates_since_copy = 0

    def log_scalars(self) -> dict[str, float]:
        return {"charts/epsilon": self.epsilon}

    def state_dict(self) -> dict:
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "updates_since_copy": self.updates_since_copy}

    def load_state_dict(self, state: dict) -> None:
        for name in ("online", "target", "optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.updates_since_copy = state["updates_since_copy"]


def q_learning_agent(config: ValueBasedConfig, make_network: NetworkMaker, loss_function: Loss,
                     prioritization: Prioritization | None = None) -> Build:
    """The `build` of a Q-learning algorithm for the off-policy loop: its network and loss in a QLearner, and
    the memory (prioritized or uniform; Atari frames stored once, their stacks rebuilt at sampling)."""
    require(config.preset in config.PRESETS, "preset", f"a resolved preset, one of {list(config.PRESETS)}",
            config.preset)

    def build(env: gym.vector.VectorEnv, environment: envs.Environment, device: torch.device,
              seed: int) -> tuple[QLearner, ReplayBuffer]:
        space, action_count = discrete_spaces(env.single_observation_space, env.single_action_space, environment.id)
        learner = QLearner(make_network(space, action_count, config).to(device), action_count, loss_function, config,
                           device, prioritization is not None)
        settings = dict(num_envs=1, n_step=config.n_step, discount=config.discount, device=device, seed=seed,
                        frame_stack=getattr(environment.protocol, "frame_stack", 1))
        if prioritization:
            replay = PrioritizedReplayBuffer(config.buffer_size, env.single_observation_space, env.single_action_space,
                                             alpha=prioritization.alpha, beta_start=prioritization.beta_start,
                                             beta_steps=config.total_steps, **settings)
        else:
            replay = ReplayBuffer(config.buffer_size, env.single_observation_space, env.single_action_space, **settings)
        return learner, replay

    return build
