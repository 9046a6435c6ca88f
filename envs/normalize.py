"""Observation and reward normalization as OpenAI Baselines' VecNormalize ran it for PPO on MuJoCo.

Observations: (obs - running mean) / sqrt(running var + 1e-8), clipped to +-clip.
Rewards: r_t / sqrt(running var of the discounted return + 1e-8), clipped to +-clip, where the
return R_t = gamma * R_{t-1} + r_t restarts at 0 after every episode end. Baselines' defaults are
gamma 0.99 and clip 10 for both.

Reported scores stay raw: the env factory records episode statistics (RecordEpisodeStatistics)
inside every sub-env, beneath these vector wrappers, so info["episode"] sums unscaled rewards.

Observations reuse gymnasium's NormalizeObservation and add the clipping, which gymnasium lacks.
Rewards reuse NormalizeReward's running statistics, reset and freezing, but replace its step: in
gymnasium 1.4 the accumulated return (a) restarts only on termination, never on truncation, so in
time-limited tasks (HalfCheetah, Swimmer) it runs on across episodes and its variance, the scale,
comes out smaller than Baselines'; and (b) drops the running return on the terminating step itself
(R_T = r_T, not gamma * R_{T-1} + r_T). It does not clip either.

The statistics are the policy's input scale, so a trained agent is only usable with them: save them
beside checkpoints (`save_normalization`) and evaluate with them loaded and frozen.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv, VectorWrapper
from gymnasium.wrappers.utils import RunningMeanStd
from gymnasium.wrappers.vector import NormalizeObservation, NormalizeReward

from core.errors import ConfigError, require
from core.files import write_json

EPSILON = 1e-8  # Baselines' VecNormalize: keeps the division finite while the variance is ~0


class ClippedNormalizeObservation(NormalizeObservation):
    """gymnasium's running mean/std observation normalization, clipped to +-clip."""

    def __init__(self, env: VectorEnv, clip: float):
        super().__init__(env, epsilon=EPSILON)
        self.clip = clip

    def observations(self, observations: np.ndarray) -> np.ndarray:
        return np.clip(super().observations(observations), -self.clip, self.clip)


class ClippedNormalizeReward(NormalizeReward):
    """Rewards divided by the running std of the discounted return, restarted after every episode end, clipped."""

    def __init__(self, env: VectorEnv, gamma: float, clip: float):
        super().__init__(env, gamma=gamma, epsilon=EPSILON)
        if self._autoreset_mode != AutoresetMode.NEXT_STEP:
            raise ConfigError("autoreset_mode", "next-step autoreset (gymnasium's default)", self._autoreset_mode)
        self.clip = clip

    def step(self, actions):
        observations, rewards, terminated, truncated, info = self.env.step(actions)
        # The step after an episode end only resets (reward 0): it is in no episode, so no return sample.
        in_episode = ~self._prev_dones.astype(bool)
        self.accumulated_reward[in_episode] = self.gamma * self.accumulated_reward[in_episode] + rewards[in_episode]
        if self.update_running_mean and in_episode.any():
            self.return_rms.update(self.accumulated_reward[in_episode])
        episode_ended = terminated | truncated
        self.accumulated_reward[episode_ended] = 0
        self._prev_dones = episode_ended.astype(np.float32)
        scaled = np.clip(rewards / np.sqrt(self.return_rms.var + EPSILON), -self.clip, self.clip)
        return observations, scaled, terminated, truncated, info


def add_normalization(env: VectorEnv, observations: bool, returns: bool, gamma: float = 0.99,
                      clip: float = 10.0) -> VectorEnv:
    """`env` with normalized observations and/or return-scaled rewards; put it on top of the env factory's env."""
    require(0 <= gamma <= 1, "gamma", "a discount in [0, 1]", gamma)
    require(clip > 0, "clip", "a positive bound for normalized values", clip)
    if _find(env, ClippedNormalizeObservation) is not None or _find(env, ClippedNormalizeReward) is not None:
        raise ConfigError("env", "an env without normalization (it would be applied twice)", env)
    if observations:
        env = ClippedNormalizeObservation(env, clip)
    if returns:
        env = ClippedNormalizeReward(env, gamma, clip)
    return env


def normalization_state(env: VectorEnv) -> dict:
    """The running statistics as plain JSON values; "observations" or "returns" is None when not normalized."""
    observation_wrapper, return_wrapper = _wrappers(env)
    return {
        "gamma": None if return_wrapper is None else return_wrapper.gamma,
        "clip": (return_wrapper if observation_wrapper is None else observation_wrapper).clip,
        "observations": None if observation_wrapper is None else _statistics(observation_wrapper.obs_rms),
        "returns": None if return_wrapper is None else _statistics(return_wrapper.return_rms),
    }


def load_normalization_state(env: VectorEnv, state: dict) -> None:
    """Replace the running statistics; the env must normalize the same things with the same gamma and clip."""
    observation_wrapper, return_wrapper = _wrappers(env)
    built = normalization_state(env)
    for key in ("gamma", "clip"):
        require(state.get(key) == built[key], f"normalization state {key}", f"{built[key]}, as the env was built",
                state.get(key))
    for key, wrapper, statistics in (("observations", observation_wrapper, "obs_rms"),
                                     ("returns", return_wrapper, "return_rms")):
        require((state.get(key) is None) == (wrapper is None), f"normalization state {key}",
                "statistics exactly when the env normalizes them", state.get(key))
        if wrapper is not None:
            _set_statistics(getattr(wrapper, statistics), state[key], f"normalization state {key}")


def normalized(env: VectorEnv, observations: bool, returns: bool, gamma: float, clip: float = 10.0,
               seeds: list[int] | None = None, statistics: dict | None = None) -> tuple[VectorEnv, np.ndarray]:
    """`env` with observation and/or return normalisation (add_normalization), its statistics from
    `statistics` (a checkpoint's) or from scratch, and its first observations, reset again through the
    statistics (with `seeds`, or continuing the envs' own random streams)."""
    env = add_normalization(env, observations, returns, gamma, clip)
    if statistics is not None:
        load_normalization_state(env, statistics)
    first, _ = env.reset(seed=seeds)
    return env, first


def observation_normalizer(statistics: dict) -> Callable[[np.ndarray], np.ndarray]:
    """Raw observations -> normalised as the training env normalises them, with `statistics`
    (normalization_state) frozen: evaluation envs are built raw, and the policy only knows normalised inputs."""
    mean, var = np.asarray(statistics["observations"]["mean"]), np.asarray(statistics["observations"]["var"])
    clip = statistics["clip"]

    def normalize(observations: np.ndarray) -> np.ndarray:
        # The running statistics take the observations' dtype: computing in it gives the wrapper's very numbers.
        kind = observations.dtype
        scaled = (observations - mean.astype(kind)) / np.sqrt(var.astype(kind) + EPSILON)
        return np.clip(scaled.astype(np.float32), -clip, clip)

    return normalize


def freeze(env: VectorEnv) -> None:
    """Stop updating the statistics: evaluation uses the training statistics unchanged."""
    for wrapper in _wrappers(env):
        if wrapper is not None:
            wrapper.update_running_mean = False


def save_normalization(env: VectorEnv, path: Path | str) -> None:
    write_json(Path(path), normalization_state(env))


def load_normalization(env: VectorEnv, path: Path | str) -> None:
    load_normalization_state(env, json.loads(Path(path).read_text()))


def _find(env: VectorEnv, wrapper_type: type) -> VectorWrapper | None:
    while isinstance(env, VectorWrapper):
        if isinstance(env, wrapper_type):
            return env
        env = env.env
    return None


def _wrappers(env: VectorEnv) -> tuple[ClippedNormalizeObservation | None, ClippedNormalizeReward | None]:
    observation_wrapper, return_wrapper = _find(env, ClippedNormalizeObservation), _find(env, ClippedNormalizeReward)
    if observation_wrapper is None and return_wrapper is None:
        raise ConfigError("env", "an env wrapped by envs.normalize.add_normalization", env)
    return observation_wrapper, return_wrapper


def _statistics(running: RunningMeanStd) -> dict:
    # the dtype too: statistics start float32 and become float64 after the first update of float64 observations
    return {"mean": np.asarray(running.mean).tolist(), "var": np.asarray(running.var).tolist(),
            "count": float(running.count), "dtype": str(np.asarray(running.mean).dtype)}


def _set_statistics(running: RunningMeanStd, values: dict, field: str) -> None:
    dtype = values.get("dtype", running.mean.dtype)  # files written before the dtype was recorded
    mean, var = np.asarray(values["mean"], dtype=dtype), np.asarray(values["var"], dtype=dtype)
    require(mean.shape == var.shape == running.mean.shape, field, f"mean and var of shape {running.mean.shape}",
            (mean.shape, var.shape))
    running.mean, running.var, running.count = mean, var, float(values["count"])
