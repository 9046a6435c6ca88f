"""Classic control and MuJoCo (gymnasium v5): environments used as gymnasium registers them.

MuJoCo's v5 tasks are the PPO paper's continuous benchmark (Schulman et al. 2017, Figure 3);
their time limits (1000 steps, 50 for Reacher) end episodes by truncation. Any other registered
gymnasium id also runs here, under the same protocol.

Ours, registered here: CartPoleNoVelocity-v1, CartPole-v1 with the velocities hidden (a task that
needs memory, the test of a recurrent agent; rl-baselines3-zoo's CartPoleNoVel-v1 zeroes them instead).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleEnv


@dataclass(frozen=True)
class GymnasiumProtocol:
    name: str = "gymnasium"


PROTOCOLS = {"gymnasium": GymnasiumProtocol()}
DEFAULT_PROTOCOL = "gymnasium"
CLASSIC_CONTROL = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1")
MEMORY = ("CartPoleNoVelocity-v1",)  # ours: partially observed, so a memoryless policy cannot solve them
MUJOCO = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5", "Swimmer-v5", "InvertedPendulum-v5",
          "InvertedDoublePendulum-v5", "Reacher-v5", "Ant-v5", "Humanoid-v5")


def env_ids() -> list[str]:
    return [*CLASSIC_CONTROL, *MEMORY, *MUJOCO]


class CartPoleNoVelocity(CartPoleEnv):
    """CartPole-v1 observing the cart's position and the pole's angle only (state indices 0 and 2):
    the velocities must be inferred from past observations. Dynamics, reward and termination are
    CartPole-v1's; so is the time limit (500 steps, registered below)."""

    VISIBLE = [0, 2]  # x, theta of (x, x_dot, theta, theta_dot)

    def __init__(self, render_mode: str | None = None):
        super().__init__(render_mode=render_mode)
        full = self.observation_space
        self.observation_space = gym.spaces.Box(full.low[self.VISIBLE], full.high[self.VISIBLE], dtype=np.float32)

    def step(self, action):
        observation, *rest = super().step(action)
        return observation[self.VISIBLE], *rest

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        observation, info = super().reset(seed=seed, options=options)
        return observation[self.VISIBLE], info


if "CartPoleNoVelocity-v1" not in gym.registry:
    gym.register("CartPoleNoVelocity-v1", entry_point="envs.standard:CartPoleNoVelocity", max_episode_steps=500,
                 reward_threshold=475.0)


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


def describe_id(env_id: str) -> dict:
    """What an id of ours changes in the record, beside the protocol's description."""
    if env_id == "CartPoleNoVelocity-v1":
        return {"observations": "raw, CartPole-v1's cart position and pole angle only (velocities hidden)"}
    return {}
