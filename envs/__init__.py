"""The one place environments are made, seeded, described and evaluated.

An environment is an env id plus a protocol: every setting that changes a score. Families:

    Atari      ALE/<Game>-v5          protocols dqn2015 (default), machado2018      envs/atari.py
    DM Control dmc/<domain>-<task>    protocol dmc (action_repeat, pixels)          envs/dmc.py
    MinAtar    MinAtar/<Game>-v1      protocol minatar2019                          envs/minatar.py
    gymnasium  CartPole-v1, Hopper-v5, ... any registered id; protocol gymnasium    envs/standard.py
               (and ours: CartPoleNoVelocity-v1, CartPole without its velocities)

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
import functools
import pickle
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import gymnasium as gym
import numpy as np

from core.errors import ConfigError
from envs import atari, dmc, minatar, standard

FAMILIES: dict[str, ModuleType] = {"atari": atari, "dmc": dmc, "minatar": minatar}
BACKENDS = ("gymnasium", "gymnasium_async", "ale_vector")
AUTORESET = "next-step: the step after an episode ends only resets and is never learned from"


class AutoresetSteps:
    """The one owner of AUTORESET for every loop that steps a vector env: which envs' next step is gymnasium's
    autoreset step. That step ignores its action, returns the new episode's first observation with reward 0 and
    is not one of the agent's steps: nothing counts it, stores it or learns from it."""

    def __init__(self, num_envs: int):
        self.pending = np.zeros(num_envs, dtype=bool)  # these envs' next step is an autoreset step

    def record(self, terminated: np.ndarray, truncated: np.ndarray, which: np.ndarray | None = None) -> np.ndarray:
        """After a step of the envs `which` (all by default): which of them took a real step rather than an
        autoreset one. Those whose episodes the step ended reset on their next step."""
        which = slice(None) if which is None else which
        real = ~self.pending[which]
        self.pending[which] = (np.asarray(terminated, dtype=bool) | np.asarray(truncated, dtype=bool)) & real
        return real

    def take_now(self, env: gym.vector.VectorEnv, action: np.ndarray) -> np.ndarray:
        """Take the pending autoreset step at once (all envs' episodes just ended; `action` is ignored): the new
        episodes' first observations."""
        observation = env.step(action)[0]
        self.pending[:] = False
        return observation

    def state(self) -> np.ndarray:
        return self.pending.copy()

    def restore(self, saved: np.ndarray | bool, fresh: bool) -> None:
        """Continue from `state()`; an env that could not be saved starts fresh episodes, with no reset pending."""
        self.pending = np.zeros_like(self.pending) if fresh else np.array(saved, dtype=bool).reshape(self.pending.shape)


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


@dataclass(frozen=True)
class Environment:
    """An environment id resolved once: its family, its protocol with options applied, the backend
    that steps it, and the record of every setting that changes a score. Everything below takes it."""

    id: str
    family: str
    protocol: object  # the family's protocol dataclass
    backend: str
    record: dict = dataclasses.field(compare=False, hash=False)

    @property
    def module(self) -> ModuleType:
        return {**FAMILIES, "gymnasium": standard}[self.family]


def resolve(env_id: str, protocol: str = "default", backend: str = "gymnasium") -> Environment:
    """Check the id, the protocol and its options, and the backend; return the one resolved value."""
    check_env_id(env_id)
    family_name, family = family_of(env_id)
    chosen = resolve_protocol(env_id, protocol)
    if backend not in BACKENDS:
        raise ConfigError("env_backend", f"one of {list(BACKENDS)}", backend)
    if backend == "ale_vector" and family is not atari:
        raise ConfigError("env_backend", "gymnasium or gymnasium_async (ale_vector runs Atari only)", backend)
    record = {"env_id": env_id, "family": family_name, "protocol": chosen.name, **family.describe(chosen),
              "backend": backend, "gymnasium_version": gym.__version__, "autoreset": AUTORESET}
    if family is standard:
        record.update(standard.describe_id(env_id), max_episode_steps=gym.spec(env_id).max_episode_steps)
    return Environment(env_id, family_name, chosen, backend, record)


def env_seeds(seed: int, count: int, stream: int = 0) -> list[int]:
    """Independent per-env seeds derived from the run seed; `stream` separates training from evaluation."""
    return [int(s) for s in np.random.SeedSequence([seed, stream]).generate_state(count)]


class ClipAction(gym.ActionWrapper, gym.utils.RecordConstructorArgs):
    """Actions clipped to the action space's bounds; gymnasium's own wrapper holds a lambda, which a
    checkpoint cannot pickle."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)  # lets gymnasium rebuild the env from its spec
        super().__init__(env)

    def action(self, action: np.ndarray) -> np.ndarray:
        return np.clip(action, self.action_space.low, self.action_space.high)


def make_single(env: Environment, training: bool) -> gym.Env:
    """One environment under its resolved protocol, with raw episode statistics recorded inside the
    training-only wrappers."""
    single = gym.wrappers.RecordEpisodeStatistics(env.module.make_env(env.id, env.protocol, training))  # raw returns
    if training and hasattr(env.module, "learning_wrappers"):
        single = env.module.learning_wrappers(single, env.protocol)
    if isinstance(single.action_space, gym.spaces.Box):
        single = ClipAction(single)  # Gaussian policies sample outside the bounds
    return single


def make_vector(env: Environment, num_envs: int, training: bool = True) -> gym.vector.VectorEnv:
    if env.backend == "ale_vector":
        return atari.make_batched(env.id, num_envs, env.protocol, training)
    vector = gym.vector.AsyncVectorEnv if env.backend == "gymnasium_async" else gym.vector.SyncVectorEnv
    return vector([functools.partial(make_single, env, training)] * num_envs)  # picklable: checkpoints hold envs


def make(env: Environment, num_envs: int, seed: int, training: bool = True) -> tuple[gym.vector.VectorEnv, np.ndarray]:
    """A seeded vector env and its first observations."""
    vector = make_vector(env, num_envs, training)
    observation, _ = vector.reset(seed=env_seeds(seed, num_envs))
    vector.action_space.seed(seed)
    return vector, observation


def snapshot(vector: gym.vector.VectorEnv) -> bytes | None:
    """The vector env's whole state (episodes in flight, RNGs) as bytes, or None where it cannot be saved:
    the ale_vector engine, gymnasium_async's worker processes, and envs that pickle as their constructor
    arguments (gymnasium's EzPickle: MuJoCo), which would unpickle into new episodes. Classic control,
    DeepMind Control, MinAtar and Atari on the gymnasium backend (envs/atari.py's SavableGame) can."""
    base = vector
    while isinstance(base, gym.vector.VectorWrapper):  # e.g. observation normalisation
        base = base.env
    if not all(_pickles_its_state(single) for single in getattr(base, "envs", [None])):
        return None
    try:
        return pickle.dumps(vector)
    except (pickle.PicklingError, AttributeError, TypeError):
        return None


def _pickles_its_state(single: gym.Env | None) -> bool:
    if single is None:
        return False  # not a SyncVectorEnv of gymnasium envs
    while isinstance(single, gym.Wrapper):
        if getattr(single, "SAVES_STATE", False):
            return True
        single = single.env
    return not isinstance(single, gym.utils.EzPickle)


def restore(saved: bytes | None, env: Environment, num_envs: int, seed: int, step: int
            ) -> tuple[gym.vector.VectorEnv, np.ndarray | None]:
    """The env a checkpoint saved, or, where it could not be saved, a new one whose episodes start afresh
    (seeded from the run's seed and the step, so that a resumed run still repeats); the observations are
    None when the saved env continues (the algorithm saved its own), else the new first observations."""
    if saved is not None:
        return pickle.loads(saved), None
    vector = make_vector(env, num_envs)
    observation, _ = vector.reset(seed=env_seeds(seed, num_envs, stream=2**20 + step))
    vector.action_space.seed(seed + step)
    return vector, observation


def spaces(env: Environment) -> tuple[gym.Space, gym.Space]:
    """(observation space, action space) of one env of `env`, from a probe: what a network is built from when
    it is loaded from a checkpoint rather than trained."""
    probe = make_vector(env, 1, training=False)
    try:
        return probe.single_observation_space, probe.single_action_space
    finally:
        probe.close()


def evaluate(act: Callable[[np.ndarray], np.ndarray], env: Environment, episodes: int, seed: int, round_index: int,
             epsilon: float = 0.0) -> list[float]:
    """Raw returns of `episodes` whole episodes (whole games on Atari), one per env, played in
    lockstep under the protocol's evaluation rules; with probability `epsilon` an action is
    replaced by a uniformly random one (the DQN family evaluates with epsilon 0.05)."""
    vector = make_vector(dataclasses.replace(env, backend="gymnasium"), episodes, training=False)
    observation, _ = vector.reset(seed=env_seeds(seed, episodes, stream=1 + round_index))
    vector.action_space.seed(seed + round_index)
    explore = np.random.default_rng([seed, round_index])
    returns: list[float | None] = [None] * episodes
    while any(r is None for r in returns):
        actions = act(observation)
        if epsilon > 0:
            random_actions = vector.action_space.sample()
            replace = (explore.random(episodes) < epsilon).reshape(-1, *[1] * (np.ndim(actions) - 1))
            actions = np.where(replace, random_actions, actions)
        observation, _, _, _, info = vector.step(actions)
        if "episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                if returns[i] is None:
                    returns[i] = float(info["episode"]["r"][i])
    vector.close()
    return returns
