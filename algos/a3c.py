"""A3C: asynchronous advantage actor-critic (Mnih et al. 2016, "Asynchronous Methods for Deep
Reinforcement Learning", ICML; arXiv:1602.01783, Algorithm S3 and supplementary sections 7-8).

`workers` processes each own one environment and a local copy of the network. A worker syncs its
copy from the global network, acts for t_max steps or to the end of the episode, and accumulates
the n-step advantage actor-critic gradient of the rollout (Algorithm S3):

    R = 0 at a terminal state, V(s_t) otherwise (and V(last state) at a time-limit truncation)
    for i = t-1 .. t_start:  R <- r_i + discount * R
        d_theta   += grad log pi(a_i|s_i) (R - V(s_i)) + entropy_coef * grad H(pi(.|s_i))
        d_theta_v += grad (R - V(s_i))^2

then applies it once, lock-free, to the global network in shared memory, with RMSProp whose
statistics all workers share too. No barrier: each worker runs at its own pace. The network,
n-step returns and loss are A2C's (common/actor_critic.py), so A2C and A3C differ in synchrony;
the worker processes, shared RMSProp and coordinator are common/async_workers.py.

Presets: atari (the defaults: the paper's, or its authors' where it gives none) for Atari and
MinAtar; classic (ours, not the paper's) for the others, measured on CartPole and Acrobot: a run on
another task says so when it starts. Sources and measurements: docs/algorithms/async.md.

Deliberate deviations (why, and what was measured: docs/algorithms/async.md):
- `workers` defaults to this machine's CPU cores, not the paper's 16 threads on 16 cores.
- Processes, not threads (the GIL); the global step T advances after each update, not each step,
  so the budget may overshoot by < workers * t_max.
- A rollout also stops at a truncation, which bootstraps from V(last state); the paper treats every
  episode end as terminal. Gymnasium's autoreset step is never learned from or counted.
- One loss with value_coef 0.5 (grad 0.5 (R - V)^2 = -(R - V) grad V) instead of separate d_theta_v.
- Evaluations run in the coordinating process on a snapshot of the global network taken at an
  evaluation boundary, while the workers go on. A resumed run restarts each worker's episode.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

import envs
from common import async_workers
from common.actor_critic import ActorCritic, actor_critic_loss, n_step_returns
from common.async_workers import AsyncConfig, SharedRMSprop, Steps, WorkerLink
from common.config import OptionEffect, config_class
from common.nets import ActionHead, action_sizes, encoder, observation_box, orthogonal, spaces
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import require

# Ours, measured on CartPole-v1 and Acrobot-v1 (docs/algorithms/async.md); not the paper's, which has no
# vector tasks. learning_rate 3e-3 (within the paper's LogUniform(1e-4, 1e-2) range): vector tasks'
# gradients are small beside RMSProp's epsilon 0.1, and at 7e-4 the policy crawls (CartPole evaluation
# 32 after 50k steps). shared_network false, as Stable-Baselines3's default A2C networks for vectors:
# with a shared encoder, Acrobot's value gradients (values near -100) swamp the policy, which never
# leaves -500. No entropy bonus, as rl-baselines3-zoo's CartPole-v1 and Acrobot-v1 A2C: evaluation
# samples from the policy, and with 0.01 it stays noisy (CartPole 300k steps: 426-500 at the end).
CLASSIC_NOT_FROM_THE_PAPER = {"learning_rate": 3e-3, "entropy_coef": 0.0, "shared_network": False}


@config_class
class Config(AsyncConfig):
    CHECKED_ON = {"classic": ("CartPole-v1", "Acrobot-v1")}  # where the classic preset was measured
    PRESETS: ClassVar[dict[str, dict]] = {"atari": {}, "classic": CLASSIC_NOT_FROM_THE_PAPER}
    OPTIONS: ClassVar[tuple[str, ...]] = ("lstm",)
    # a preset's separate networks are feed-forward ones
    OPTION_EFFECTS: ClassVar[dict[str, tuple[OptionEffect, ...]]] = {
        "lstm": (OptionEffect("section 8: one LSTM feeds the policy and the value", sets={"shared_network": True}),)}

    t_max: int = 5
    """steps per worker between updates, fewer when the episode ends: the n of the n-step return (section 8: 5)"""
    entropy_coef: float = 0.01
    """weight beta of the entropy bonus (section 8: 0.01)"""
    value_coef: float = 0.5
    """weight of the value loss (R - V)^2 (ours: makes its gradient the pseudocode's -(R - V) grad V)"""
    lstm: bool = False
    """the paper's recurrent agent (A3C LSTM): an LSTM after the encoder, its state carried through an episode"""
    lstm_size: int = 256
    """cells of the LSTM (section 8: 256)"""
    shared_network: bool = True
    """actor and critic share all non-output layers (section 8); false: each its own encoder (feed-forward only:
    with lstm it is true unless given)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.t_max > 0, "t_max", "a positive number of steps", self.t_max)
        require(self.lstm_size > 0, "lstm_size", "a positive number of cells", self.lstm_size)
        require(self.shared_network or not self.lstm, "shared_network", "true with lstm (one LSTM feeds both outputs)",
                self.shared_network)


class RecurrentActorCritic(nn.Module):
    """The paper's recurrent A3C: the encoder, an LSTM, then linear policy and value outputs."""

    def __init__(self, space, action_size: int, discrete: bool, config: Config):
        super().__init__()
        self.body, features = encoder(space, config.network, "a3c_cnn", config.hidden_layers, config.hidden_size)
        self.lstm = nn.LSTMCell(features, config.lstm_size)
        self.actor = orthogonal(nn.Linear(config.lstm_size, action_size), 0.01)  # near-uniform initial policy
        self.critic = orthogonal(nn.Linear(config.lstm_size, 1), 1.0)
        self.head = ActionHead(action_size, discrete)

    def forward(self, observations: torch.Tensor, state: tuple | None):
        """Policy outputs (T, B, A) and values (T, B) along a (T, B, ...) sequence, and the LSTM
        state after it; `state` None is the zero state of an episode's start."""
        length, batch = observations.shape[:2]
        features = self.body(observations.flatten(0, 1)).view(length, batch, -1)
        outputs = []
        for t in range(length):
            state = self.lstm(features[t], state)
            outputs.append(state[0])
        hidden = torch.stack(outputs)
        return self.actor(hidden), self.critic(hidden).squeeze(-1), state


def unfit_preset_note(config: Config, discrete: bool) -> str | None:
    """One line for a run on a task its preset was not measured on, naming what fits instead."""
    if not discrete:
        return (f"a3c: note: no A3C preset is tuned for continuous actions (Pendulum-v1 at 100k steps scored -1271, "
                f"a random policy's score); PPO's mujoco preset fits: python -m algos.ppo --env-id {config.env_id}")
    return config.unchecked_preset_note("docs/algorithms/async.md")


def make_model(space, action_size: int, discrete: bool, config: Config) -> nn.Module:
    if config.lstm:
        return RecurrentActorCritic(space, action_size, discrete, config)
    return ActorCritic(space, action_size, discrete, config, atari_network="a3c_cnn")


def unroll(model: nn.Module, observations: torch.Tensor, state: tuple | None):
    """(policy outputs (T, B, A), values (T, B), state after) for either network; the
    feed-forward one has no state."""
    if isinstance(model, RecurrentActorCritic):
        return model(observations, state)
    length, batch = observations.shape[:2]
    outputs, values = model(observations.flatten(0, 1))
    return outputs.view(length, batch, -1), values.view(length, batch), None


def collect_rollout(env, model: nn.Module, observation: np.ndarray, state: tuple | None, t_max: int):
    """Act on the policy for t_max steps or to the end of the episode: (the steps, the LSTM state
    before them, the observation and LSTM state to go on from). The state goes back to zero when
    the episode ends; the one before the rollout is the start of its truncated backpropagation."""
    start_state = state

    def choose(observation: np.ndarray) -> np.ndarray:
        nonlocal state
        with torch.no_grad():
            output, _, state = unroll(model, torch.as_tensor(observation)[None], state)
            return model.head(output[0]).sample().numpy()

    steps, observation = async_workers.collect(env, choose, observation, t_max)
    return steps, start_state, observation, None if steps.ended else state


def rollout_loss(model: nn.Module, steps: Steps, state: tuple | None, discount: float, value_coef: float,
                 entropy_coef: float) -> tuple[torch.Tensor, dict]:
    """Algorithm S3's accumulated loss of one rollout: A2C's loss summed (not averaged) over its
    steps, the LSTM unrolled from `state` (no gradient flows into it)."""
    length = len(steps.rewards)
    tensor = torch.as_tensor
    outputs, values, _ = unroll(model, tensor(steps.observations), state)
    returns = n_step_returns(tensor(steps.rewards), values.detach(), tensor(steps.terminated),
                             tensor(steps.truncated), discount)
    distribution = model.head(outputs[:length])
    loss, parts = actor_critic_loss(distribution.log_prob(tensor(steps.actions)), distribution.entropy(),
                                    values[:length], returns, torch.ones(length, 1, dtype=torch.bool),
                                    value_coef, entropy_coef)
    return loss * length, parts  # the pseudocode sums per-step gradients; A2C's loss is their mean


def worker(link: WorkerLink, config: Config, environment: envs.Environment, seed: int, shared_model: nn.Module,
           optimizer: SharedRMSprop) -> None:
    """One actor-learner (Algorithm S3), in its own process."""
    seed = link.seed(seed)
    torch.manual_seed(seed)
    env, observation = envs.make(environment, 1, seed)
    model = make_model(observation_box(env.single_observation_space), *action_sizes(env.single_action_space), config)
    parameters, shared_parameters = list(model.parameters()), list(shared_model.parameters())
    state = None
    while not link.done():
        async_workers.sync(parameters, shared_parameters)
        steps, start_state, observation, state = collect_rollout(env, model, observation, state, config.t_max)
        loss, parts = rollout_loss(model, steps, start_state, config.discount, config.value_coef, config.entropy_coef)
        check_finite(link.step, loss=loss.item())
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        lr = async_workers.annealed(config.learning_rate, link.step, config.total_steps, config.anneal_lr)
        optimizer.step([parameter.grad for parameter in parameters], lr)
        _, step = link.add_steps(len(steps.rewards), shared_model)
        if steps.episode is not None:
            link.episode(step, *steps.episode)
        link.scalars(step, {**{f"losses/{name}": value for name, value in parts.items()}, "charts/learning_rate": lr})
    env.close()


def policy(model: nn.Module, deterministic: bool):
    """An `act` for one evaluation (a batch of environments, one episode each), starting from a zero
    LSTM state and carrying it from step to step."""
    state = None

    def act(observations: np.ndarray) -> np.ndarray:
        nonlocal state
        with torch.no_grad():
            output, _, state = unroll(model, torch.as_tensor(observations)[None], state)
            return model.head.act(output[0], deterministic).numpy()

    return act


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The evaluation `act` of a saved run's global network, for one evaluation (ask again for the next:
    the LSTM's state starts from zero)."""
    model = make_model(*spaces(environment), config)
    model.load_state_dict(state["model"])
    return policy(model, config.eval_deterministic)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    config = async_workers.resolve_learning_rate(config, seed)  # before config.json is written
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    space, action_size, discrete = spaces(environment)
    note = unfit_preset_note(config, discrete)
    if note:
        print(note, file=sys.stderr)
    shared_model = make_model(space, action_size, discrete, config).share_memory()
    optimizer = SharedRMSprop(shared_model.parameters(), config.rmsprop_alpha, config.rmsprop_eps)
    with RunLogger(run_dir, config, environment, seed, "a3c", "cpu", resume) as log:
        saved = log.resume()
        if saved is not None:  # into the shared tensors, before any worker starts
            shared_model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
        async_workers.run_workers(
            log, config, worker, (config, environment, seed, shared_model, optimizer), shared_model,
            policy=lambda model: policy(model, config.eval_deterministic),
            shared_state=lambda: {"model": shared_model.state_dict(), "optimizer": optimizer.state_dict()},
            saved=saved)
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.a3c", __doc__)
