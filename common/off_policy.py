"""What DDPG and SAC share: actions in [-1, 1] scaled to an environment's bounds, Polyak target updates,
and the replay-driven training loop with its checkpoints.

An algorithm gives `train_off_policy` a function that builds its `Learner` from the observation size,
the number of action dimensions, the device and the seed. Learners act in [-1, 1] per dimension;
`ActionScale` maps that box onto the environment's bounds, so the replay memory stores actions in
[-1, 1]. The loop acts in one environment (uniformly random actions for the first `learning_starts`
steps, then the learner's exploratory ones), stores every transition in common/replay.py's
ReplayBuffer (time-limit truncations bootstrap; gymnasium's autoreset steps are neither counted nor
stored), makes one update per env step from then on, logs averages every LOG_INTERVAL steps,
evaluates the learner's deterministic policy and checkpoints after every evaluation.

Config fields the loop reads, besides RunConfig's (each algorithm's Config defines them with its
paper's values): buffer_size, batch_size, learning_starts, discount, checkpoint_replay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from common.config import RunConfig, resolve_device
from common.replay import Batch, ReplayBuffer
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import ConfigError
from core.files import write_json

LOG_INTERVAL = 1_000  # env steps between logged averages of the losses (and the finiteness check)


class Learner(Protocol):
    """An off-policy continuous-control learner; every action it takes or gives is in [-1, 1]."""

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


def continuous_action_space(env: gym.vector.VectorEnv, env_id: str, algo: str) -> gym.spaces.Box:
    """The env's action space, which must be a 1-D box with finite bounds."""
    space = env.single_action_space
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise ConfigError("env_id", f"an environment with continuous (1-D Box) actions: {algo} acts by "
                          f"gradient through the action, and {env_id} has {space}", env_id)
    if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
        raise ConfigError("env_id", f"an environment whose action bounds are finite ({algo}'s tanh output is "
                          "scaled onto them)", env_id)
    return space


def observation_size(env: gym.vector.VectorEnv, algo: str) -> int:
    space = env.single_observation_space
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
    probe = envs.make_vector(environment, 1, training=False)
    try:
        return observation_size(probe, algo), continuous_action_space(probe, environment.id, algo)
    finally:
        probe.close()


def scaled_policy(learner: Learner, space: gym.spaces.Box) -> Callable[[np.ndarray], np.ndarray]:
    """What evaluation plays: the learner's deterministic actions on the environment's scale."""
    scale = ActionScale(space)
    return lambda observations: scale.to_env(learner.act(observations))


def train_off_policy(config: RunConfig, seed: int, run_dir: Path | str, resume: bool, algo: str, paper: str,
                     make_learner: Callable[[int, int, torch.device, int], Learner], deviations: list[str]) -> RunResult:
    """Act, store, learn once per env step after learning_starts, log, evaluate, checkpoint (module docstring);
    `resume` continues from the run's checkpoint."""
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    env, observation = envs.make(environment, 1, seed)
    action_space = continuous_action_space(env, config.env_id, algo)
    action_size = int(action_space.shape[0])
    learner = make_learner(observation_size(env, algo), action_size, device, seed)
    unit_box = gym.spaces.Box(-1.0, 1.0, (action_size,), np.float32)
    replay = ReplayBuffer(config.buffer_size, env.single_observation_space, unit_box, num_envs=1,
                          discount=config.discount, device=device, seed=seed)
    scale = ActionScale(action_space)
    evaluation_policy = scaled_policy(learner, action_space)
    rng = np.random.default_rng(seed)  # the uniformly random actions before learning starts

    action = np.zeros((1, action_size), dtype=np.float32)
    step, episode_ended = 0, False
    learning_resumes = config.learning_starts  # moves on when a resumed run restarts with an empty memory
    loss_sums: dict[str, torch.Tensor] = {}
    updates_logged = 0
    with RunLogger(run_dir, config, environment, seed, algo, str(device), resume) as log:
        saved = log.resume()
        if saved is not None:
            learner.load_state_dict(saved["learner"])
            env.close()
            env, fresh_observation = envs.restore(saved["env"], environment, 1, seed, saved["step"])
            observation = saved["observation"] if fresh_observation is None else fresh_observation
            episode_ended = saved["episode_ended"] and fresh_observation is None
            if fresh_observation is not None:
                learner.end_episode()  # the episode under way is gone
            action[:] = saved["action"]
            step, learning_resumes = saved["step"], saved["learning_resumes"]
            loss_sums, updates_logged = saved["loss_sums"], saved["updates_logged"]
            rng.bit_generator.state = saved["rng"]
            if saved["replay"] is not None:
                replay = saved["replay"]
            else:  # refill before learning: updates on a few fresh transitions would overfit them
                learning_resumes = step + max(config.learning_starts, config.batch_size)
        log.checkpoint_with(lambda: {
            "learner": learner.state_dict(), "env": envs.snapshot(env), "observation": observation,
            "episode_ended": episode_ended, "action": action.copy(), "step": step,
            "learning_resumes": learning_resumes, "loss_sums": loss_sums, "updates_logged": updates_logged,
            "rng": rng.bit_generator.state, "replay": replay if config.checkpoint_replay else None})
        write_json(log.dir / "deviations.json", {"paper": paper, "preset": config.preset, "deviations": deviations})
        while step < config.total_steps:
            if not episode_ended:  # on gymnasium's autoreset step the action is ignored: choose none
                if step < config.learning_starts:
                    action[:] = rng.uniform(-1.0, 1.0, action.shape)
                else:
                    action[:] = learner.explore(observation)
            next_observation, rewards, terminated, truncated, info = env.step(scale.to_env(action))
            replay.add(observation, action, rewards, next_observation, terminated, truncated)  # skips autoresets
            observation = next_observation
            if episode_ended:
                episode_ended = False
                continue
            episode_ended = bool(terminated[0] or truncated[0])
            if episode_ended:
                learner.end_episode()
            step += 1
            log.log_episodes(step, info)
            if step > learning_resumes and len(replay) >= config.batch_size:
                for name, value in learner.update(replay.sample(config.batch_size)).items():
                    loss_sums[name] = loss_sums[name] + value if name in loss_sums else value
                updates_logged += 1
            if step % LOG_INTERVAL == 0 or step == config.total_steps:
                if updates_logged:
                    averages = {name: value.item() / updates_logged for name, value in loss_sums.items()}
                    check_finite(step, **averages)
                    log.log_scalars(step, **averages)
                    loss_sums, updates_logged = {}, 0
                log.advance(step)
            log.evaluate_if_due(step, evaluation_policy)
    env.close()
    return log.result
