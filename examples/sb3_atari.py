"""What the Stable-Baselines3 references on Atari (examples/sb3_ppo.py, examples/sb3_dqn.py) share: the game id
rl-baselines3-zoo trains on and the training envs (SB3's own path or ours). The loop that runs SB3's `learn` inside
the suite's run directory (training returns, evaluations, checkpoints, resuming) is examples/sb3_run.py, shared with
the references on other tasks (examples/sb3_control.py).

SB3's envs: the game's NoFrameskip-v4 id, a Monitor (whole games, raw scores), SB3's AtariWrapper (1..30
no-ops, frame skip 4 with a max over the last two frames, a lost life ends the training episode, FIRE then
action 2 after every reset, 84x84 grayscale by cv2 INTER_AREA, rewards clipped to their sign) and
VecFrameStack, as rl-zoo runs them. With `env_path: ours`, SB3's learner trains on the suite's training envs
instead: which side of a difference the environments are on.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import gymnasium as gym

import envs
from common.config import RunConfig, config_class
from core.errors import ConfigError, require
from examples.sb3_run import our_training_envs

RL_ZOO = "rl-baselines3-zoo hyperparams/{algo}.yml, entry `atari`"
ENV_PATHS = ("sb3", "ours")


@config_class
class SB3AtariConfig(RunConfig):
    """The fields the SB3 Atari references share; each adds rl-zoo's settings for its algorithm."""

    PRESETS: ClassVar[dict[str, dict]] = {}  # one setting: rl-zoo's

    frame_stack: int = 4
    """frames stacked by VecFrameStack (rl-zoo atari: frame_stack 4)"""
    env_path: str = "sb3"
    """sb3: SB3's AtariWrapper on the NoFrameskip-v4 game, as rl-zoo trains; ours: the suite's training envs under
    env_protocol (SB3's learner on our environments: which side of a difference the environments are on)"""
    total_steps: int = 10_000_000
    """training budget in agent steps summed over envs (rl-zoo atari: n_timesteps 1e7)"""
    score_rule: str = "train_last_100"
    """how the run's final score is computed: train_last_100 (as the parity specs) | eval_last_10pct"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(envs.family_of(self.env_id)[0] == "atari", "env_id", "an Atari game (ALE/<Game>-v5)", self.env_id)
        reference_game(self.env_id)
        require(self.env_path in ENV_PATHS, "env_path", f"one of {list(ENV_PATHS)}", self.env_path)
        require(self.frame_stack > 0, "frame_stack", "a positive number", self.frame_stack)


def reference_game(env_id: str) -> str:
    """ALE/Pong-v5 -> PongNoFrameskip-v4, the id rl-zoo trains on (no sticky actions, minimal action set)."""
    name = env_id.removeprefix("ALE/").removesuffix("-v5") + "NoFrameskip-v4"
    if name not in gym.registry:
        raise ConfigError("env_id", f"a game with a NoFrameskip-v4 id in ale-py's registry ({name} is not)", env_id)
    return name


def training_envs(config, environment: envs.Environment, seed: int, count: int, algo: str):
    """(SB3 vector env, the environment record with what trained, emulator frames per Monitor length unit)."""
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import VecFrameStack

    if config.env_path == "sb3":
        game = reference_game(config.env_id)
        training = {"env_id": game, "wrappers": "Monitor, SB3 AtariWrapper (defaults), VecFrameStack",
                    "frame_stack": config.frame_stack, "source": RL_ZOO.format(algo=algo),
                    "evaluation": "the suite's envs under the protocol above"}
        # What trained is SB3's env path; what evaluated is ours: the record says both.
        environment = dataclasses.replace(environment, record={**environment.record, "training": training})
        env = VecFrameStack(make_atari_env(game, n_envs=count, seed=seed), n_stack=config.frame_stack)
        return env, environment, 4  # the Monitor counts emulator frames
    # Our training envs one by one (their frames already stacked, channels first): SB3 resets each at its end.
    return our_training_envs(environment, count, seed), environment, 1  # our episode statistics count agent steps
