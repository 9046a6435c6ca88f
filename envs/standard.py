"""Classic control and MuJoCo (gymnasium v5): environments used as gymnasium registers them.

MuJoCo's v5 tasks are the PPO paper's continuous benchmark (Schulman et al. 2017, Figure 3);
their time limits (1000 steps, 50 for Reacher) end episodes by truncation. Any other registered
gymnasium id also runs here, under the same protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym


@dataclass(frozen=True)
class GymnasiumProtocol:
    name: str = "gymnasium"


PROTOCOLS = {"gymnasium": GymnasiumProtocol()}
DEFAULT_PROTOCOL = "gymnasium"
CLASSIC_CONTROL = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1")
MUJOCO = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Swimmer-v5", "InvertedPendulum-v5",
          "InvertedDoublePendulum-v5", "Reacher-v5", "Ant-v5", "Humanoid-v5")


def env_ids() -> list[str]:
    return [*CLASSIC_CONTROL, *MUJOCO]


def is_registered(env_id: str) -> bool:
    try:
        gym.spec(env_id)
        return True
    except gym.error.Error:
        return False


def make_env(env_id: str, protocol: GymnasiumProtocol, training: bool) -> gym.Env:
    return gym.make(env_id)


def describe(protocol: GymnasiumProtocol) -> dict:
    return {"observations": "raw", "rewards": "raw (no clipping or scaling)",
            "time_limit": "the registered one, a truncation: learners bootstrap from the value of the last state"}
