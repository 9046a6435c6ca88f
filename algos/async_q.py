"""Asynchronous one-step Q-learning (Mnih et al. 2016, "Asynchronous Methods for Deep
Reinforcement Learning", ICML; arXiv:1602.01783, Algorithm 1 and supplementary section 8).

`workers` processes each own one environment and act epsilon-greedily on the shared Q-network.
Every step adds the gradient of the one-step error to the worker's accumulator,

    y = r                                         at a terminal state
    y = r + discount * max_a' Q(s', a'; theta-)   otherwise (also at a time-limit truncation)
    d_theta += grad (y - Q(s, a; theta))^2

and every `async_update_steps` steps or at an episode end the worker applies the accumulated
gradient to the shared network, lock-free, with shared RMSProp (algos/a3c.py's SharedRMSprop).
The target network theta- is shared too; the worker whose steps carry the global counter T past
a multiple of `target_update_steps` copies theta into it. The process plumbing (workers, the
global counter, logging and evaluation in the coordinator) is algos/_async.py, as for A3C.

Exploration (section 8): each worker draws its final epsilon from {0.1, 0.01, 0.5} with
probabilities {0.4, 0.3, 0.3} and anneals epsilon from 1 to it over the first 4 million frames of
the global count. Defaults: discount 0.99, RMSProp decay 0.99, target update every 40,000 frames,
I_AsyncUpdate 5, learning rate annealed linearly to 0 and, as in algos/a3c.py, RMSProp epsilon
0.1, gradient-norm clip 40 and learning rate 7e-4 or the paper's per-run LogUniform(1e-4, 1e-2)
draw (`--lr-protocol sampled`). Atari uses the network of Mnih et al. 2013 (`a3c_cnn`).

Deliberate deviations:
- A worker acts and computes its accumulated gradient with a local copy of theta taken at the
  start of each accumulation (at most async_update_steps steps old), as A3C does, where the
  pseudocode reads the shared theta at every step: the gradients of a window then come in one
  batched pass. Targets use theta- at the time of the update.
- Budgets are counted in agent steps (the paper counts frames, 4 per agent step on Atari), and T
  advances after each update, not each step.
- `workers` defaults to this machine's CPU cores (the paper: 16); see algos/a3c.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import envs
from algos import _async
from algos.a3c import SharedRMSprop
from common.config import RunConfig
from core.errors import ConfigError, require
from common.nets import ENCODERS, action_sizes, encoder, observation_space, orthogonal
from common.rundir import RunResult, check_finite

FINAL_EPSILONS = (0.1, 0.01, 0.5)  # section 8: each worker's final exploration rate ...
FINAL_EPSILON_PROBABILITIES = (0.4, 0.3, 0.3)  # ... drawn with these probabilities


@dataclass
class Config(RunConfig):
    workers: int = _async.CPU_CORES
    """actor-learner processes, one environment each (paper: 16; default: this machine's CPU cores)"""
    async_update_steps: int = 5
    """steps a worker accumulates gradients over before applying them, fewer at an episode end (I_AsyncUpdate)"""
    target_update_steps: int = 10_000
    """global env steps between copies of the network into the target network (paper: 40,000 frames =
    10,000 agent steps at action repeat 4)"""
    epsilon_anneal_steps: int = 1_000_000
    """global env steps over which epsilon falls from 1 to each worker's final value (paper: 4 million
    frames = 1 million agent steps)"""
    discount: float = 0.99
    """reward discount gamma"""
    learning_rate: float = 7e-4
    """RMSProp step size at the start of training (as algos/a3c.py); replaced by the draw under lr_protocol sampled"""
    lr_protocol: str = "fixed"
    """fixed: learning_rate for every seed; sampled: each run draws its rate from LogUniform(1e-4, 1e-2)
    with its seed, as the paper did (then keep the best k of n seeds)"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the training budget"""
    rmsprop_alpha: float = 0.99
    """decay of the shared squared-gradient average"""
    rmsprop_eps: float = 0.1
    """RMSProp epsilon, inside the square root (as algos/a3c.py)"""
    max_grad_norm: float = 40.0
    """clip each worker's accumulated gradient norm to this before applying it (the authors' A3C value;
    none given for Q-learning)"""
    network: str = "auto"
    """observation encoder: auto (mlp for vectors, minatar_cnn, a3c_cnn for Atari), mlp, nature_cnn,
    a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP encoder"""
    hidden_size: int = 64
    """units per hidden layer of the MLP encoder"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.workers > 0, "workers", "a positive number of processes", self.workers)
        for name in ("async_update_steps", "target_update_steps", "epsilon_anneal_steps"):
            require(getattr(self, name) > 0, name, "a positive number of steps", getattr(self, name))
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.lr_protocol in _async.LR_PROTOCOLS, "lr_protocol", f"one of {list(_async.LR_PROTOCOLS)}", self.lr_protocol)
        require(0.0 <= self.rmsprop_alpha < 1.0, "rmsprop_alpha", "a number in [0, 1)", self.rmsprop_alpha)
        require(self.rmsprop_eps > 0, "rmsprop_eps", "a positive number", self.rmsprop_eps)
        require(self.max_grad_norm > 0, "max_grad_norm", "a positive number", self.max_grad_norm)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.network in ENCODERS, "network", f"one of {list(ENCODERS)}", self.network)
        require(self.device in ("auto", "cpu"), "device",
                "cpu or auto (the workers update one network in shared CPU memory)", self.device)


class QNetwork(nn.Module):
    def __init__(self, space, action_count: int, config: Config):
        super().__init__()
        self.body, features = encoder(space, config.network, "a3c_cnn", config.hidden_layers, config.hidden_size)
        self.values = orthogonal(nn.Linear(features, action_count), 1.0)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Q(s, a) for every action: (B, actions)."""
        return self.values(self.body(observations))


def one_step_q_loss(q_taken: torch.Tensor, rewards: torch.Tensor, next_target_max: torch.Tensor,
                    terminated: torch.Tensor, discount: float) -> torch.Tensor:
    """Algorithm 1's accumulated loss: the sum over the window of (y - Q(s, a))^2, where
    y = r + discount * max_a' Q_target(s', a'), and y = r after a terminal. A truncated episode's
    s' is its last state, so it bootstraps like any other step."""
    targets = rewards + discount * torch.where(terminated, torch.zeros_like(next_target_max), next_target_max)
    return (targets.detach() - q_taken).pow(2).sum()


def exploration_epsilon(step: int, final_epsilon: float, anneal_steps: int) -> float:
    """Epsilon falls linearly from 1 to `final_epsilon` over the first `anneal_steps` global steps."""
    return 1.0 + (final_epsilon - 1.0) * min(1.0, step / anneal_steps)


def worker(link: _async.WorkerLink, config: Config, seed: int, shared_q: nn.Module, target_q: nn.Module,
           optimizer: SharedRMSprop) -> None:
    """One actor-learner (Algorithm 1), in its own process."""
    seed = _async.worker_seed(seed, link.rank)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    final_epsilon = float(rng.choice(FINAL_EPSILONS, p=FINAL_EPSILON_PROBABILITIES))
    env, observation = envs.make(config.env_id, 1, seed, config.env_protocol, backend=config.env_backend)
    action_count, _ = action_sizes(env)
    q = QNetwork(observation_space(env), action_count, config)
    epsilon = 1.0  # set again before each accumulation, from the global step

    def choose(observation: np.ndarray) -> np.ndarray:
        if rng.random() < epsilon:
            return rng.integers(action_count, size=1)
        with torch.no_grad():
            return q(torch.as_tensor(observation)).argmax(-1).numpy()

    parameters, shared_parameters = list(q.parameters()), list(shared_q.parameters())
    target_parameters = list(target_q.parameters())
    while not link.done():
        _async.sync(parameters, shared_parameters)
        epsilon = exploration_epsilon(link.step, final_epsilon, config.epsilon_anneal_steps)
        steps, observation = _async.collect(env, choose, observation, config.async_update_steps)
        observations = torch.as_tensor(steps.observations).flatten(0, 1)  # s_0 .. s_T
        with torch.no_grad():
            next_target_max = target_q(observations[1:]).max(-1).values
        q_taken = q(observations[:-1]).gather(-1, torch.as_tensor(steps.actions)).squeeze(-1)
        loss = one_step_q_loss(q_taken, torch.as_tensor(steps.rewards).squeeze(-1), next_target_max,
                               torch.as_tensor(steps.terminated).squeeze(-1), config.discount)
        check_finite(link.step, loss=loss.item())
        q.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        lr = _async.annealed(config.learning_rate, link.step, config.total_steps, config.anneal_lr)
        optimizer.step([parameter.grad for parameter in parameters], lr)
        before, step = link.add_steps(len(steps.rewards), shared_q)
        if _async.crossed(before, step, config.target_update_steps):
            _async.sync(target_parameters, shared_parameters)
        if steps.episode is not None:
            link.episode(step, *steps.episode)
        link.scalars(step, {"losses/td_loss": loss.item() / len(steps.rewards), "charts/epsilon": epsilon,
                            "charts/learning_rate": lr})
    env.close()


def greedy_policy(model: nn.Module):
    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(observations)).argmax(-1).numpy()

    return act


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    config = _async.resolve_learning_rate(config, seed)  # before config.json is written
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    probe = envs.make_vector(config.env_id, 1, seed, config.env_protocol, backend=config.env_backend)
    space, (action_count, discrete) = observation_space(probe), action_sizes(probe)
    probe.close()
    if not discrete:
        raise ConfigError("env_id", "an environment with discrete actions (Q-learning maximises over them)",
                          config.env_id)
    shared_q = QNetwork(space, action_count, config).share_memory()
    target_q = QNetwork(space, action_count, config)
    target_q.load_state_dict(shared_q.state_dict())
    target_q.share_memory()
    optimizer = SharedRMSprop(shared_q.parameters(), config.rmsprop_alpha, config.rmsprop_eps)
    return _async.run_workers(config, seed, run_dir, "async_q", worker, (config, seed, shared_q, target_q, optimizer),
                              shared_q, greedy_policy)


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.async_q", __doc__)
