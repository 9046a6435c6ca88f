"""The one place environments are made, seeded, described and evaluated.

An environment is an env id plus a protocol: every setting that changes a score. Families:

    Atari      ALE/<Game>-v5          protocols dqn2015 (default), machado2018      envs/atari.py
    DM Control dmc/<domain>-<task>    protocol dmc (action_repeat, pixels)          envs/dmc.py
    MinAtar    MinAtar/<Game>-v1      protocol minatar2019                          envs/minatar.py
    gymnasium  CartPole-v1, Hopper-v5, ... any registered id; protocol gymnasium    envs/standard.py

A protocol is named, optionally with options: `machado2018:full_action_space=true`,
`dmc:action_repeat=4`. Every algorithm gets a gymnasium vector env whose info["episode"] holds raw
returns of whole episodes (whole games on Atari), recorded before any training-only change
(life-loss signal, reward clipping). Gymnasium 1.x vector envs reset in the *next* step after an
episode ends: that step's action is ignored and it returns the first observation of the new episode
with reward 0. Learners must not learn from it; the observation returned on the ending step is the
true last state, from which they bootstrap when the episode was truncated by a time limit.
"""

from __future__ import annotations

import dataclasses
from types import ModuleType
from typing import Callable

import gymnasium as gym
import numpy as np

from common.config import ConfigError
from envs import atari, dmc, minatar, standard

FAMILIES: dict[str, ModuleType] = {"atari": atari, "dmc": dmc, "minatar": minatar}
BACKENDS = ("gymnasium", "gymnasium_async", "ale_vector")
AUTORESET = "next-step: the step after an episode ends only resets and is never learned from"


def family_of(env_id: str) -> tuple[str, ModuleType]:
    for name, family in FAMILIES.items():
        if family.is_family(env_id):
            return name, family
    return "gymnasium", standard


def check_env_id(env_id: str) -> None:
    name, family = family_of(env_id)
    known = env_id in family.env_ids() or (family is standard and standard.is_registered(env_id))
    if not known:
        choices = "; ".join(f"{n}: {', '.join(f.env_ids())}" for n, f in {**FAMILIES, "gymnasium": standard}.items())
        raise ConfigError("env_id", f"an id of a supported family ({choices}; or any registered gymnasium id)", env_id)


def resolve_protocol(env_id: str, protocol: str = "default"):
    """The protocol dataclass named by `protocol` ("default", "NAME" or "NAME:key=value,...")."""
    family_name, family = family_of(env_id)
    name, _, options = protocol.partition(":")
    name = family.DEFAULT_PROTOCOL if name in ("", "default") else name
    if name not in family.PROTOCOLS:
        raise ConfigError("env_protocol", f"one of {['default', *family.PROTOCOLS]} for {family_name} env {env_id}", protocol)
    chosen = family.PROTOCOLS[name]
    fields = {f.name: type(getattr(chosen, f.name)) for f in dataclasses.fields(chosen) if f.name != "name"}
    changes = {}
    for option in filter(None, options.split(",")):
        key, _, text = option.partition("=")
        if key not in fields:
            raise ConfigError("env_protocol", f"options of {name} among {sorted(fields)}", key)
        changes[key] = _parse_option(key, text, fields[key])
    return dataclasses.replace(chosen, **changes)


def _parse_option(key: str, text: str, kind: type) -> object:
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        return kind(text)
    except ValueError:
        raise ConfigError(f"env_protocol option {key}", f"a {kind.__name__}", text) from None


def protocol_record(env_id: str, protocol: str = "default", backend: str = "gymnasium") -> dict:
    """Every setting that changes a score, written into each run's config.json."""
    check_env_id(env_id)
    family_name, family = family_of(env_id)
    chosen = resolve_protocol(env_id, protocol)
    record = {"env_id": env_id, "family": family_name, "protocol": chosen.name, **family.describe(chosen),
              "backend": backend, "gymnasium_version": gym.__version__, "autoreset": AUTORESET}
    spec = gym.spec(env_id) if family is standard else None
    if spec is not None:
        record["max_episode_steps"] = spec.max_episode_steps
    return record


def env_seeds(seed: int, count: int, stream: int = 0) -> list[int]:
    """Independent per-env seeds derived from the run seed; `stream` separates training from evaluation."""
    return [int(s) for s in np.random.SeedSequence([seed, stream]).generate_state(count)]


def make_single(env_id: str, protocol, training: bool) -> gym.Env:
    """One environment under a resolved protocol, with raw episode statistics recorded inside the
    training-only wrappers."""
    family = family_of(env_id)[1]
    env = gym.wrappers.RecordEpisodeStatistics(family.make_env(env_id, protocol, training))  # raw returns
    if training and hasattr(family, "learning_wrappers"):
        env = family.learning_wrappers(env, protocol)
    if isinstance(env.action_space, gym.spaces.Box):
        env = gym.wrappers.ClipAction(env)  # Gaussian policies sample outside the bounds
    return env


def make_vector(env_id: str, num_envs: int, seed: int, protocol: str = "default", training: bool = True,
                backend: str = "gymnasium") -> gym.vector.VectorEnv:
    check_env_id(env_id)
    if backend not in BACKENDS:
        raise ConfigError("env_backend", f"one of {list(BACKENDS)}", backend)
    chosen = resolve_protocol(env_id, protocol)
    if backend == "ale_vector":
        if family_of(env_id)[1] is not atari:
            raise ConfigError("env_backend", "gymnasium or gymnasium_async (ale_vector runs Atari only)", backend)
        return atari.make_batched(env_id, num_envs, chosen, training)
    vector = gym.vector.AsyncVectorEnv if backend == "gymnasium_async" else gym.vector.SyncVectorEnv
    return vector([lambda: make_single(env_id, chosen, training)] * num_envs)


def make(env_id: str, num_envs: int, seed: int, protocol: str = "default", training: bool = True,
         backend: str = "gymnasium") -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """A seeded vector env and its first observations."""
    env = make_vector(env_id, num_envs, seed, protocol, training, backend)
    observation, _ = env.reset(seed=env_seeds(seed, num_envs))
    env.action_space.seed(seed)
    return env, observation


def evaluate(act: Callable[[np.ndarray], np.ndarray], env_id: str, episodes: int, seed: int, round_index: int,
             protocol: str = "default", epsilon: float = 0.0) -> list[float]:
    """Raw returns of `episodes` whole episodes (whole games on Atari), one per env, played in
    lockstep under the protocol's evaluation rules; with probability `epsilon` an action is
    replaced by a uniformly random one (the DQN family evaluates with epsilon 0.05)."""
    env = make_vector(env_id, episodes, seed, protocol, training=False)
    observation, _ = env.reset(seed=env_seeds(seed, episodes, stream=1 + round_index))
    env.action_space.seed(seed + round_index)
    explore = np.random.default_rng([seed, round_index])
    returns: list[float | None] = [None] * episodes
    while any(r is None for r in returns):
        actions = act(observation)
        if epsilon > 0:
            random_actions = env.action_space.sample()
            replace = (explore.random(episodes) < epsilon).reshape(-1, *[1] * (np.ndim(actions) - 1))
            actions = np.where(replace, random_actions, actions)
        observation, _, _, _, info = env.step(actions)
        if "episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                if returns[i] is None:
                    returns[i] = float(info["episode"]["r"][i])
    env.close()
    return returns
