"""Asynchronous one-step Q-learning (Mnih et al. 2016, "Asynchronous Methods for Deep
Reinforcement Learning", ICML; arXiv:1602.01783, Algorithm 1 and supplementary sections 7-8).

`workers` processes each own one environment and act epsilon-greedily on the shared Q-network.
Every step adds the gradient of the one-step error to the worker's accumulator,

    y = r                                         at a terminal state
    y = r + discount * max_a' Q(s', a'; theta-)   otherwise (also at a time-limit truncation)
    d_theta += grad (y - Q(s, a; theta))^2

and every `async_update_steps` steps or at an episode end the worker applies the accumulated
gradient to the shared network, lock-free, with shared RMSProp. The target network theta- is
shared too; the worker whose steps carry the global counter T past a multiple of
`target_update_steps` copies theta into it. Each worker draws its final epsilon from {0.1, 0.01,
0.5} with probabilities {0.4, 0.3, 0.3} and anneals epsilon from 1 to it over the global count.
Evaluation is greedy (plus eval_epsilon random actions). The worker processes, shared RMSProp and
coordinator are common/async_workers.py, as for A3C (algos/a3c.py).

Presets: atari (the defaults: the paper's; RMSProp epsilon, gradient clip and learning rate as
A3C's, from its authors) for Atari and MinAtar; classic (ours, not the paper's) for the others. With
2 workers, classic learns CartPole but not Acrobot reliably: docs/algorithms/async.md.

Deliberate deviations (why: docs/algorithms/async.md):
- A worker acts and computes its accumulated gradient with a local copy of theta taken at the
  start of each accumulation (at most async_update_steps steps old), as A3C does, where the
  pseudocode reads the shared theta at every step. Targets use theta- at the time of the update.
- Budgets are counted in agent steps (the paper counts frames, 4 per agent step on Atari), and T
  advances after each update, not each step.
- `workers` defaults to this machine's CPU cores (the paper: 16), in processes, as A3C's.
- A resumed run restarts each worker's episode; the workers keep their final epsilons.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

import envs
from common import async_workers
from common.async_workers import AsyncConfig, SharedRMSprop, WorkerLink
from common.config import config_class
from common.nets import action_sizes, encoder, observation_box, orthogonal, spaces
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import ConfigError, require

FINAL_EPSILONS = (0.1, 0.01, 0.5)  # section 8: each worker's final exploration rate ...
FINAL_EPSILON_PROBABILITIES = (0.4, 0.3, 0.3)  # ... drawn with these probabilities

# Ours, measured (docs/algorithms/async.md), not the paper's: the paper's schedules at the scale of a
# classic-control budget (~100k steps, where 1M steps of exploration would never end), and A3C's
# classic learning rate (vector tasks' gradients are small beside RMSProp's epsilon 0.1).
CLASSIC_NOT_FROM_THE_PAPER = {"epsilon_anneal_steps": 10_000, "target_update_steps": 1_000, "learning_rate": 1e-2}


@config_class
class Config(AsyncConfig):
    CHECKED_ON = {"classic": ("CartPole-v1",)}  # where the classic preset learns (not Acrobot-v1)
    PRESETS: ClassVar[dict[str, dict]] = {"atari": {}, "classic": CLASSIC_NOT_FROM_THE_PAPER}

    async_update_steps: int = 5
    """steps a worker accumulates gradients over before applying them, fewer at an episode end
    (section 8: I_AsyncUpdate = 5)"""
    target_update_steps: int = 10_000
    """global env steps between copies of the network into the target network (section 8: 40,000 frames =
    10,000 agent steps at action repeat 4)"""
    epsilon_anneal_steps: int = 1_000_000
    """global env steps over which epsilon falls from 1 to each worker's final value (section 8: 4 million
    frames = 1 million agent steps)"""
    eval_deterministic: bool = True
    """Q-learning evaluates greedily (with eval_epsilon random actions): must stay true"""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("async_update_steps", "target_update_steps", "epsilon_anneal_steps"):
            require(getattr(self, name) > 0, name, "a positive number of steps", getattr(self, name))
        require(self.eval_deterministic, "eval_deterministic", "true (Q-learning evaluates greedily)",
                self.eval_deterministic)


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


def final_epsilons(seed: int, workers: int) -> list[float]:
    """Each worker's final epsilon (section 8), drawn once from the run seed: a resumed run's workers keep theirs."""
    rng = np.random.default_rng([seed, async_workers.ALGORITHM_STREAM])
    return [float(e) for e in rng.choice(FINAL_EPSILONS, size=workers, p=FINAL_EPSILON_PROBABILITIES)]


def worker(link: WorkerLink, config: Config, environment: envs.Environment, seed: int, shared_q: nn.Module,
           target_q: nn.Module, optimizer: SharedRMSprop) -> None:
    """One actor-learner (Algorithm 1), in its own process."""
    final_epsilon = final_epsilons(seed, config.workers)[link.rank]
    seed = link.seed(seed)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env, observation = envs.make(environment, 1, seed)
    action_count, _ = action_sizes(env.single_action_space)
    q = QNetwork(observation_box(env.single_observation_space), action_count, config)
    epsilon = 1.0  # set again before each accumulation, from the global step

    def choose(observation: np.ndarray) -> np.ndarray:
        if rng.random() < epsilon:
            return rng.integers(action_count, size=1)
        with torch.no_grad():
            return q(torch.as_tensor(observation)).argmax(-1).numpy()

    parameters, shared_parameters = list(q.parameters()), list(shared_q.parameters())
    target_parameters = list(target_q.parameters())
    while not link.done():
        async_workers.sync(parameters, shared_parameters)
        epsilon = exploration_epsilon(link.step, final_epsilon, config.epsilon_anneal_steps)
        steps, observation = async_workers.collect(env, choose, observation, config.async_update_steps)
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
        lr = async_workers.annealed(config.learning_rate, link.step, config.total_steps, config.anneal_lr)
        optimizer.step([parameter.grad for parameter in parameters], lr)
        before, step = link.add_steps(len(steps.rewards), shared_q)
        if async_workers.crossed(before, step, config.target_update_steps):
            async_workers.sync(target_parameters, shared_parameters)
        if steps.episode is not None:
            link.episode(step, *steps.episode)
        link.scalars(step, {"losses/td_loss": loss.item() / len(steps.rewards), "charts/epsilon": epsilon,
                            "charts/learning_rate": lr})
    env.close()


def argmax_policy(model: nn.Module):
    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.as_tensor(observations)).argmax(-1).numpy()

    return act


def q_network(config: Config, environment: envs.Environment) -> QNetwork:
    space, action_count, discrete = spaces(environment)
    if not discrete:
        raise ConfigError("env_id", "an environment with discrete actions (Q-learning maximises over them)",
                          environment.id)
    return QNetwork(space, action_count, config)


def unfit_preset_note(config: Config) -> str | None:
    """One line for a run on a task its preset was not measured to learn."""
    return config.unchecked_preset_note("docs/algorithms/async.md: it does not learn Acrobot-v1 reliably")


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The greedy `act` of a saved run's shared Q-network."""
    model = q_network(config, environment)
    model.load_state_dict(state["q"])
    return argmax_policy(model)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    config = async_workers.resolve_learning_rate(config, seed)  # before config.json is written
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    note = unfit_preset_note(config)
    if note:
        print(note, file=sys.stderr)
    shared_q = q_network(config, environment)
    target_q = copy.deepcopy(shared_q).share_memory()
    shared_q.share_memory()
    optimizer = SharedRMSprop(shared_q.parameters(), config.rmsprop_alpha, config.rmsprop_eps)
    with RunLogger(run_dir, config, environment, seed, "async_q", "cpu", resume) as log:
        saved = log.resume()
        if saved is not None:  # into the shared tensors, before any worker starts
            shared_q.load_state_dict(saved["q"])
            target_q.load_state_dict(saved["target_q"])
            optimizer.load_state_dict(saved["optimizer"])
        async_workers.run_workers(
            log, config, worker, (config, environment, seed, shared_q, target_q, optimizer), shared_q,
            policy=argmax_policy,
            shared_state=lambda: {"q": shared_q.state_dict(), "target_q": target_q.state_dict(),
                                  "optimizer": optimizer.state_dict()},
            saved=saved)
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.async_q", __doc__)
