"""The one replay-driven training loop, for DQN, C51, DDPG and SAC: act in one environment, store every
transition in common/replay.py's memory (time-limit truncations bootstrap; gymnasium's autoreset steps are
neither counted nor stored), learn from minibatches every `train_frequency` steps once `learning_starts`
steps are stored, log averages every LOG_INTERVAL steps, evaluate and checkpoint after every evaluation.

What the loop asks of an algorithm is an `Agent` (how it acts, what one update does, what it does at the
end of each step) and the memory it learns from, both built by the algorithm's `build` function from the
training environment. `OffPolicyConfig` holds the settings the loop reads; each family's config inherits
it and writes its own paper's values. For continuous control, `continuous_agent` adapts a `Learner` that
acts in [-1, 1] per dimension (DDPG, SAC): `ActionScale` maps that box onto the environment's bounds, so
the memory stores actions in [-1, 1], and the first `learning_starts` actions are uniformly random.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, ClassVar, Protocol

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from common.config import RunConfig, config_class, resolve_device
from common.replay import Batch, ReplayBuffer
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import ConfigError, require
from core.files import write_json

LOG_INTERVAL = 1_000  # env steps between logged averages of the losses (and the finiteness check)


@config_class
class OffPolicyConfig(RunConfig):
    """The settings the loop reads. Every family writes batch_size and learning_starts with its paper's values;
    the others are the same in DQN's, DDPG's and SAC's papers."""

    NOT_DEVIATIONS: ClassVar[tuple[str, ...]] = ("checkpoint_replay",)  # saving the memory changes no number

    batch_size: int = dataclasses.field(kw_only=True)
    """transitions per minibatch update"""
    learning_starts: int = dataclasses.field(kw_only=True)
    """env steps stored before learning starts (continuous control: of uniformly random actions)"""
    buffer_size: int = 1_000_000
    """replay memory size in transitions (DQN's Extended Data Table 1, DDPG's section 7, SAC's Table 1: 10^6)"""
    discount: float = 0.99
    """reward discount gamma (DQN's Table 1, DDPG's section 7, SAC's Table 1: 0.99)"""
    train_frequency: int = 1
    """env steps between learning phases (DDPG's Algorithm 1 and SAC's Table 1: every step)"""
    gradient_steps: int = 1
    """minibatch updates per learning phase (DDPG's Algorithm 1 and SAC's Table 1: 1)"""
    checkpoint_replay: bool = False
    """save the replay memory in every checkpoint, so that a resumed run ends exactly as an uninterrupted one.
    It costs the memory's size on disk at every checkpoint (a full 10^6-transition memory: hundreds of MB for
    vectors, ~7 GB of Atari frames). Off: a resumed run starts with an empty memory and learns again once
    learning_starts more steps (and a minibatch) are stored"""

    def replay_transitions(self) -> int:
        return self.buffer_size

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.batch_size > 0, "batch_size", "a positive number of transitions", self.batch_size)
        require(self.buffer_size >= self.batch_size, "buffer_size", f"at least batch_size = {self.batch_size}",
                self.buffer_size)
        require(self.learning_starts >= 0, "learning_starts", "0 or more env steps", self.learning_starts)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        for name in ("train_frequency", "gradient_steps"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))


class Agent(Protocol):
    """What the loop asks of an algorithm."""

    def explore(self, step: int, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """The action for the training env's observation (1, ...) at env step `step`, as the memory stores it;
        random choices draw from `rng`, the loop's checkpointed generator."""

    def env_action(self, action: np.ndarray) -> np.ndarray:
        """What the environment receives for a stored action."""

    def end_episode(self) -> None:
        """The training episode ended (e.g. restart a temporally correlated noise process)."""

    def update(self, replay: ReplayBuffer, step: int) -> dict[str, float | torch.Tensor]:
        """One minibatch update from the memory; returns scalars to average for the log, by TensorBoard name."""

    def end_step(self, step: int) -> None:
        """After each env step's learning (e.g. a periodic target copy)."""

    def log_scalars(self) -> dict[str, float]:
        """Scalars logged as they are at every LOG_INTERVAL (e.g. the exploration epsilon)."""

    def act(self, observations: np.ndarray) -> np.ndarray:
        """What evaluation plays for a batch of observations (N, ...), on the environment's scale."""

    def state_dict(self) -> dict:
        """Networks, target networks, optimizers, exploration state: all the agent needs to continue."""

    def load_state_dict(self, state: dict) -> None: ...


class Learner(Protocol):
    """A continuous-control learner (DDPG, SAC); every action it takes or gives is in [-1, 1]."""

    def explore(self, observation: np.ndarray) -> np.ndarray:
        """(1, A) float32 action for the training env's observation (1, ...), exploration included."""

    def end_episode(self) -> None:
        """The training episode ended (e.g. restart a temporally correlated noise process)."""

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        """One learning step on a minibatch; returns detached scalar tensors to average for the log, by
        TensorBoard name (e.g. losses/critic, charts/mean_q)."""

    def act(self, observations: np.ndarray) -> np.ndarray:
        """(N, A) actions that evaluation plays for a batch of observations."""

    def state_dict(self) -> dict:
        """Networks, target networks, optimizers, exploration state: all the learner needs to continue."""

    def load_state_dict(self, state: dict) -> None: ...


class ActionScale:
    """[-1, 1] per dimension <-> an environment's finite action bounds, affinely."""

    def __init__(self, space: gym.spaces.Box):
        self.low, self.high = space.low.astype(np.float64), space.high.astype(np.float64)

    def to_env(self, actions: np.ndarray) -> np.ndarray:
        return (self.low + (np.asarray(actions, dtype=np.float64) + 1.0) * 0.5 * (self.high - self.low)).astype(
            np.float32)


def continuous_action_space(space: gym.Space, env_id: str, algo: str) -> gym.spaces.Box:
    """The action space, which must be a 1-D box with finite bounds."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ConfigError("env_id", f"an environment with continuous (1-D Box) actions: {algo} acts by "
                          f"gradient through the action, and {env_id} has {space}", env_id)
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise ConfigError("env_id", f"an environment whose action bounds are finite ({algo}'s tanh output is "
                          "scaled onto them)", env_id)
    return space


def observation_size(space: gym.Space, algo: str) -> int:
    """The size of a vector observation space."""
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ConfigError("env_id", f"an environment with vector observations ({algo}'s networks are MLPs)", space)
    return int(space.shape[0])


def soft_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """target <- (1 - tau) target + tau online, for the parameters and the floating-point buffers
    (batch-normalisation statistics), in one fused call."""
    with torch.no_grad():
        pairs = [(t, o) for t, o in zip(target.state_dict(keep_vars=True).values(),
                                        online.state_dict(keep_vars=True).values()) if t.is_floating_point()]
        torch._foreach_lerp_([t for t, _ in pairs], [o for _, o in pairs], tau)


def spaces_of(environment: envs.Environment, algo: str) -> tuple[int, gym.spaces.Box]:
    """(observation size, action space) from one probe env: what a network is built from when it is loaded
    from a checkpoint rather than trained."""
    observation, action = envs.spaces(environment)
    return observation_size(observation, algo), continuous_action_space(action, environment.id, algo)


def scaled_policy(learner: Learner, space: gym.spaces.Box) -> Callable[[np.ndarray], np.ndarray]:
    """What evaluation plays: the learner's deterministic actions on the environment's scale."""
    scale = ActionScale(space)
    return lambda observations: scale.to_env(learner.act(observations))


class ContinuousAgent:
    """A Learner acting on an environment's action scale: uniformly random actions in the unit box for the
    first learning_starts steps, then the learner's exploratory ones; one update draws a uniform minibatch."""

    def __init__(self, learner: Learner, space: gym.spaces.Box, config: OffPolicyConfig):
        self.learner, self.scale = learner, ActionScale(space)
        self.act = scaled_policy(learner, space)  # what evaluation plays
        self.learning_starts, self.batch_size = config.learning_starts, config.batch_size
        self.action_shape = (1, int(space.shape[0]))

    def explore(self, step: int, observation: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if step < self.learning_starts:
            return rng.uniform(-1.0, 1.0, self.action_shape).astype(np.float32)
        return np.asarray(self.learner.explore(observation), dtype=np.float32)

    def env_action(self, action: np.ndarray) -> np.ndarray:
        return self.scale.to_env(action)

    def end_episode(self) -> None:
        self.learner.end_episode()

    def update(self, replay: ReplayBuffer, step: int) -> dict[str, torch.Tensor]:
        return self.learner.update(replay.sample(self.batch_size))

    def end_step(self, step: int) -> None:
        pass  # the learners' targets follow by Polyak averaging within each update

    def log_scalars(self) -> dict[str, float]:
        return {}

    def state_dict(self) -> dict:
        return self.learner.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.learner.load_state_dict(state)


Build = Callable[[gym.vector.VectorEnv, envs.Environment, torch.device, int], tuple[Agent, ReplayBuffer]]


def continuous_agent(config: OffPolicyConfig, algo: str,
                     make_learner: Callable[[int, int, torch.device, int], Learner]) -> Build:
    """The `build` of a continuous-control algorithm: its learner from (observation size, action dimensions,
    device, seed), and a uniform memory of actions in [-1, 1]."""

    def build(env: gym.vector.VectorEnv, environment: envs.Environment, device: torch.device,
              seed: int) -> tuple[Agent, ReplayBuffer]:
        action_space = continuous_action_space(env.single_action_space, environment.id, algo)
        action_size = int(action_space.shape[0])
        learner = make_learner(observation_size(env.single_observation_space, algo), action_size, device, seed)
        unit_box = gym.spaces.Box(-1.0, 1.0, (action_size,), np.float32)
        replay = ReplayBuffer(config.buffer_size, env.single_observation_space, unit_box, num_envs=1,
                              discount=config.discount, device=device, seed=seed)
        return ContinuousAgent(learner, action_space, config), replay

    return build


def train_off_policy(config: OffPolicyConfig, seed: int, run_dir: Path | str, resume: bool, algo: str, build: Build,
                     record: dict) -> RunResult:
    """Act, store, learn, log, evaluate, checkpoint (module docstring); `record` is the run's deviations.json
    (its paper, preset and deviations); `resume` continues from the run's checkpoint."""
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(environment, 1, seed)
    agent, replay = build(env, environment, device, seed)
    rng = np.random.default_rng(seed)  # the agent's random choices while exploring

    action = None  # chosen on the first step, which is never an autoreset step
    step, resets = 0, envs.AutoresetSteps(1)
    learning_resumes = config.learning_starts  # moves on when a resumed run restarts with an empty memory
    sums: dict[str, float | torch.Tensor] = {}
    updates_logged = 0
    with RunLogger(run_dir, config, environment, seed, algo, str(device), resume) as log:
        saved = log.resume()
        if saved is not None:
            agent.load_state_dict(saved["agent"])
            env.close()
            env, fresh_observation = envs.restore(saved["env"], environment, 1, seed, saved["step"])
            observation = saved["observation"] if fresh_observation is None else fresh_observation
            resets.restore(saved["episode_ended"], fresh=fresh_observation is not None)
            if fresh_observation is not None:
                agent.end_episode()  # the episode under way is gone
            action = saved["action"]
            step, learning_resumes = saved["step"], saved["learning_resumes"]
            sums, updates_logged = saved["sums"], saved["updates_logged"]
            rng.bit_generator.state = saved["rng"]
            if saved["replay"] is not None:
                replay = saved["replay"]
            else:  # refill as a new run fills it: updates on a few fresh transitions would overfit them
                learning_resumes = step + config.learning_starts
        log.checkpoint_with(lambda: {
            "agent": agent.state_dict(), "env": envs.snapshot(env), "observation": observation,
            "episode_ended": resets.state(), "action": action, "step": step, "learning_resumes": learning_resumes,
            "sums": sums, "updates_logged": updates_logged, "rng": rng.bit_generator.state,
            "replay": replay if config.checkpoint_replay else None})
        write_json(log.dir / "deviations.json", record)
        while step < config.total_steps:
            if not resets.pending[0]:  # on gymnasium's autoreset step the action is ignored: choose none
                action = agent.explore(step, observation, rng)
            next_observation, rewards, terminated, truncated, info = env.step(agent.env_action(action))
            replay.add(observation, action, rewards, next_observation, terminated, truncated)  # skips autoresets
            observation = next_observation
            if not resets.record(terminated, truncated)[0]:
                continue
            if resets.pending[0]:
                agent.end_episode()
            step += 1
            log.log_episodes(step, info)
            if step > learning_resumes and len(replay) >= config.batch_size and step % config.train_frequency == 0:
                for _ in range(config.gradient_steps):
                    for name, value in agent.update(replay, step).items():
                        sums[name] = sums[name] + value if name in sums else value
                    updates_logged += 1
            agent.end_step(step)
            if step % LOG_INTERVAL == 0 or step == config.total_steps:
                if updates_logged:
                    averages = {name: float(value) / updates_logged for name, value in sums.items()}
                    check_finite(step, **averages)
                    log.log_scalars(step, **averages)
                    sums, updates_logged = {}, 0
                if scalars := agent.log_scalars():
                    log.log_scalars(step, **scalars)
                log.advance(step)
            log.evaluate_if_due(step, agent.act)
    env.close()
    return log.result
