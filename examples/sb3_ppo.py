"""Stable-Baselines3's PPO with rl-baselines3-zoo's Atari settings, run as an outside algorithm
(`algo: examples.sb3_ppo`, docs/external_algorithms.md): the reference our Atari path is compared
with in experiments/ppo_atari_parity.yaml.

Training is entirely SB3's, as rl-zoo runs it (or, with `env_path: ours`, SB3's learner on our training
envs): the game's NoFrameskip-v4 id, a Monitor (whole games,
raw scores), SB3's AtariWrapper (1..30 no-ops, frame skip 4 with a max over the last two frames, a lost
life ends the training episode, FIRE then action 2 after every reset, 84x84 grayscale by cv2 INTER_AREA,
rewards clipped to their sign), VecFrameStack(4), PPO with CnnPolicy (the Nature CNN, shared by policy
and value). The fields below are rl-zoo's; every other setting is SB3's default, and each run writes
the values in effect to sb3_settings.json. The suite adds only its bookkeeping: training returns,
evaluations on our protocol's evaluation envs (the same observations: 4 x 84 x 84 frames), checkpoints
and the summary.

A resumed run restores the network, Adam and the step counter; its games restart (SB3's envs cannot be
saved), so it does not repeat an uninterrupted run exactly.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch

import envs
from common.config import RunConfig, config_class
from common.rundir import RunLogger, RunResult
from core.errors import ConfigError, require
from core.files import write_json

RL_ZOO = "rl-baselines3-zoo hyperparams/ppo.yml, entry `atari`"
ENV_PATHS = ("sb3", "ours")


@config_class
class Config(RunConfig):
    PRESETS: ClassVar[dict[str, dict]] = {}  # one setting: rl-zoo's

    n_envs: int = 8
    """parallel envs (rl-zoo atari: n_envs 8)"""
    n_steps: int = 128
    """steps per env per rollout (rl-zoo atari: n_steps 128)"""
    n_epochs: int = 4
    """passes over each rollout (rl-zoo atari: n_epochs 4)"""
    batch_size: int = 256
    """minibatch size (rl-zoo atari: batch_size 256)"""
    learning_rate: float = 2.5e-4
    """Adam step size at the start, falling linearly to 0 (rl-zoo atari: lin_2.5e-4)"""
    clip_range: float = 0.1
    """clipping epsilon at the start, falling linearly to 0 (rl-zoo atari: lin_0.1)"""
    vf_coef: float = 0.5
    """value loss weight (rl-zoo atari: vf_coef 0.5)"""
    ent_coef: float = 0.01
    """entropy bonus weight (rl-zoo atari: ent_coef 0.01)"""
    frame_stack: int = 4
    """frames stacked by VecFrameStack (rl-zoo atari: frame_stack 4)"""
    env_path: str = "sb3"
    """sb3: SB3's AtariWrapper on the NoFrameskip-v4 game, as rl-zoo trains; ours: the suite's training envs under
    env_protocol (SB3's learner on our environments: which side of a difference the environments are on)"""
    total_steps: int = 10_000_000
    """training budget in agent steps summed over envs (rl-zoo atari: n_timesteps 1e7)"""
    score_rule: str = "train_last_100"
    """how the run's final score is computed: train_last_100 (as our PPO) | eval_last_10pct"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(envs.family_of(self.env_id)[0] == "atari", "env_id", "an Atari game (ALE/<Game>-v5)", self.env_id)
        reference_game(self.env_id)
        require(self.env_path in ENV_PATHS, "env_path", f"one of {list(ENV_PATHS)}", self.env_path)
        for name in ("n_envs", "n_steps", "n_epochs", "batch_size", "frame_stack"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.clip_range > 0, "clip_range", "a positive number", self.clip_range)


def reference_game(env_id: str) -> str:
    """ALE/Pong-v5 -> PongNoFrameskip-v4, the id rl-zoo trains on (no sticky actions, minimal action set)."""
    name = env_id.removeprefix("ALE/").removesuffix("-v5") + "NoFrameskip-v4"
    if name not in gym.registry:
        raise ConfigError("env_id", f"a game with a NoFrameskip-v4 id in ale-py's registry ({name} is not)", env_id)
    return name


def sb3_policy_act(policy, deterministic: bool):
    """act(observations) for the suite's evaluation envs, whose frames SB3's CnnPolicy reads as they are."""
    return lambda observations: policy.predict(observations, deterministic=deterministic)[0]


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    single = envs.make_single(environment, training=False)
    policy = ActorCriticCnnPolicy(single.observation_space, single.action_space, lambda _: 0.0)
    single.close()
    policy.load_state_dict(state["parameters"]["policy"])
    return sb3_policy_act(policy, config.eval_deterministic)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_atari_env
    from stable_baselines3.common.vec_env import DummyVecEnv, VecFrameStack

    torch.set_num_threads(config.torch_threads)
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    if config.env_path == "sb3":
        game = reference_game(config.env_id)
        training_env = {"env_id": game, "wrappers": "Monitor, SB3 AtariWrapper (defaults), VecFrameStack",
                        "frame_stack": config.frame_stack, "source": RL_ZOO,
                        "evaluation": "the suite's envs under the protocol above"}
        # What trained is SB3's env path; what evaluated is ours: the record says both.
        environment = dataclasses.replace(environment, record={**environment.record, "training": training_env})
        env = VecFrameStack(make_atari_env(game, n_envs=config.n_envs, seed=seed), n_stack=config.frame_stack)
        frames_per_length_unit = 4  # the Monitor counts emulator frames
    else:
        # Our training envs one by one (their frames already stacked, channels first): SB3 resets each at its end.
        env = DummyVecEnv([lambda: envs.make_single(environment, training=True)] * config.n_envs)
        env.seed(seed)
        frames_per_length_unit = 1  # our episode statistics count agent steps
    model = PPO("CnnPolicy", env, n_steps=config.n_steps, n_epochs=config.n_epochs, batch_size=config.batch_size,
                learning_rate=lambda remaining: config.learning_rate * remaining,
                clip_range=lambda remaining: config.clip_range * remaining,
                vf_coef=config.vf_coef, ent_coef=config.ent_coef, seed=seed, device="cpu", verbose=0)
    act = sb3_policy_act(model.policy, config.eval_deterministic)

    with RunLogger(run_dir, config, environment, seed, "examples.sb3_ppo", "cpu", resume) as log:
        write_json(log.dir / "sb3_settings.json", sb3_settings(model))
        log.checkpoint_with(lambda: {"parameters": model.get_parameters(), "step": model.num_timesteps})
        saved = log.resume()
        if saved is not None:
            model.set_parameters(saved["parameters"])
            model.num_timesteps = saved["step"]

        class Bookkeeping(BaseCallback):
            def _on_step(self) -> bool:
                step = self.num_timesteps
                ended = [info["episode"] for info in self.locals["infos"] if "episode" in info]
                if ended:
                    # The suite counts agent steps (4 frames each, the no-op frames of a reset aside).
                    lengths = [episode["l"] // frames_per_length_unit for episode in ended]
                    log.log_episodes(step, {"episode": {"r": np.array([episode["r"] for episode in ended]),
                                                        "l": np.array(lengths)},
                                            "_episode": np.ones(len(ended), dtype=bool)})
                log.advance(step)
                log.evaluate_if_due(step, act)
                return step < config.total_steps  # stop once the budget is spent, after the final evaluation

        if model.num_timesteps < config.total_steps:
            model.learn(total_timesteps=config.total_steps - model.num_timesteps, callback=Bookkeeping(),
                        reset_num_timesteps=saved is None)
    env.close()
    return log.result


def sb3_settings(model) -> dict:
    """The PPO settings in effect, rl-zoo's and SB3's defaults alike, read from the model."""
    optimizer = model.policy.optimizer
    return json.loads(json.dumps({
        "gamma": model.gamma, "gae_lambda": model.gae_lambda, "n_steps": model.n_steps, "n_epochs": model.n_epochs,
        "batch_size": model.batch_size, "vf_coef": model.vf_coef, "ent_coef": model.ent_coef,
        "max_grad_norm": model.max_grad_norm, "normalize_advantage": model.normalize_advantage,
        "clip_range_vf": None if model.clip_range_vf is None else "set", "target_kl": model.target_kl,
        "optimizer": type(optimizer).__name__, "adam_eps": optimizer.defaults.get("eps"),
        "share_features_extractor": model.policy.share_features_extractor, "ortho_init": model.policy.ortho_init,
        "features_extractor": type(model.policy.features_extractor).__name__,
        "normalize_images": model.policy.normalize_images,
    }, default=str))


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "examples.sb3_ppo", __doc__)
