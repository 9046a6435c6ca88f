"""The one place environments are made, seeded, described and evaluated.

Every algorithm gets a gymnasium vector env with episode statistics recorded on the raw rewards.
Gymnasium 1.x vector envs reset in the *next* step after an episode ends: that step's action is
ignored and it returns the first observation of the new episode with reward 0. Learners must not
learn from it; the observation returned on the ending step is the true last state, from which
they bootstrap when the episode was truncated by a time limit.
"""

from __future__ import annotations

from typing import Callable

import gymnasium as gym
import numpy as np

from common.config import ConfigError

AUTORESET = "next-step: the step after an episode ends only resets and is never learned from"


def check_env_id(env_id: str) -> None:
    try:
        gym.spec(env_id)
    except gym.error.Error:
        raise ConfigError("env_id", "a registered gymnasium id such as CartPole-v1 "
                          "(python -c 'import gymnasium; gymnasium.pprint_registry()' lists them)", env_id) from None


def env_seeds(seed: int, count: int, stream: int = 0) -> list[int]:
    """Independent per-env seeds derived from the run seed; `stream` separates training from evaluation."""
    return [int(s) for s in np.random.SeedSequence([seed, stream]).generate_state(count)]


def _make_vector(env_id: str, num_envs: int) -> gym.vector.VectorEnv:
    check_env_id(env_id)
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="sync")
    env = gym.wrappers.vector.RecordEpisodeStatistics(env)  # innermost: returns are raw
    if isinstance(env.single_action_space, gym.spaces.Box):
        env = gym.wrappers.vector.ClipAction(env)  # Gaussian policies sample outside the bounds
    return env


def make(env_id: str, num_envs: int, seed: int) -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """A seeded vector env and its first observations."""
    env = _make_vector(env_id, num_envs)
    obs, _ = env.reset(seed=env_seeds(seed, num_envs))
    env.action_space.seed(seed)
    return env, obs


def protocol(env_id: str) -> dict:
    """Every environment setting that changes a score, recorded with each run."""
    spec = gym.spec(env_id)
    return {
        "env_id": env_id,
        "gymnasium_version": gym.__version__,
        "max_episode_steps": spec.max_episode_steps,
        "time_limit": "truncation: learners bootstrap from the value of the last state",
        "autoreset": AUTORESET,
        "rewards": "raw (no clipping or scaling)",
        "observations": "raw",
        "evaluation": "whole episodes on separately seeded envs, raw returns",
    }


def evaluate(act: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int, seed: int, round_index: int) -> list[float]:
    """Raw returns of `episodes` whole episodes, one per env, played in lockstep."""
    env = _make_vector(env_id, episodes)
    obs, _ = env.reset(seed=env_seeds(seed, episodes, stream=1 + round_index))
    returns: list[float | None] = [None] * episodes
    while any(r is None for r in returns):
        obs, _, _, _, info = env.step(act(obs))
        if "episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                if returns[i] is None:
                    returns[i] = float(info["episode"]["r"][i])
    env.close()
    return returns
