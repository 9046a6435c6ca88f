"""MinAtar (Young & Tian 2019): five miniature Atari games on a 10x10 grid with one boolean channel
per object kind — the Atari-like tasks a CPU can afford.

Protocol `minatar2019`, the paper's: sticky actions with probability 0.1, difficulty ramping on,
no frame skip, the game's own episode ends; the minimal action set (the `-v1` ids).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
from minatar.gym import register_envs

if "MinAtar/Breakout-v1" not in gym.registry:
    register_envs()

GAMES = ("Asterix", "Breakout", "Freeway", "Seaquest", "SpaceInvaders")


@dataclass(frozen=True)
class MinAtarProtocol:
    name: str
    sticky_action_probability: float = 0.1
    """chance that the previous action repeats instead of the chosen one"""
    difficulty_ramping: bool = True
    """games speed up as they go on"""


PROTOCOLS = {"minatar2019": MinAtarProtocol("minatar2019")}
DEFAULT_PROTOCOL = "minatar2019"


def is_family(env_id: str) -> bool:
    return env_id.startswith("MinAtar/")


def env_ids() -> list[str]:
    return [f"MinAtar/{game}-v1" for game in GAMES]


class SeededReset(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """MinAtar's reset seeds its game but not gymnasium's np_random, which gymnasium expects; do both."""

    def __init__(self, env: gym.Env):
        gym.utils.RecordConstructorArgs.__init__(self)  # lets gymnasium rebuild the env from its spec
        super().__init__(env)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        if seed is not None:
            gym.Env.reset(self.env.unwrapped, seed=seed)
        return self.env.reset(seed=seed, options=options)


def make_env(env_id: str, protocol: MinAtarProtocol, training: bool) -> gym.Env:
    return SeededReset(gym.make(env_id, sticky_action_prob=protocol.sticky_action_probability,
                    difficulty_ramping=protocol.difficulty_ramping))


def describe(protocol: MinAtarProtocol) -> dict:
    return {"sticky_action_probability": protocol.sticky_action_probability,
            "difficulty_ramping": protocol.difficulty_ramping, "action_set": "minimal",
            "observations": "10x10xC booleans", "rewards": "raw", "episode_end": "the game's own"}
