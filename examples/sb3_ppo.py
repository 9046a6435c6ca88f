"""Stable-Baselines3's PPO with rl-baselines3-zoo's Atari settings, run as an outside algorithm
(`algo: examples.sb3_ppo`, docs/external_algorithms.md): the reference our Atari path is compared
with in experiments/ppo_atari_parity.yaml.

Training is entirely SB3's, as rl-zoo runs it (or, with `env_path: ours`, SB3's learner on our training
envs; examples/sb3_atari.py): SB3's Atari envs and PPO with CnnPolicy (the Nature CNN, shared by policy
and value). The fields below are rl-zoo's; every other setting is SB3's default, and each run writes
the values in effect to sb3_settings.json. The suite adds only its bookkeeping: training returns,
evaluations on our protocol's evaluation envs (the same observations: 4 x 84 x 84 frames), checkpoints
and the summary.

A resumed run restores the network, Adam and the step counter; its games restart (SB3's envs cannot be
saved), so it does not repeat an uninterrupted run exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

import envs
from common.config import config_class
from common.rundir import RunLogger, RunResult
from core.errors import require
from core.files import write_json
from examples.sb3_atari import SB3AtariConfig, training_envs
from examples.sb3_run import learn


@config_class
class Config(SB3AtariConfig):
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

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_envs", "n_steps", "n_epochs", "batch_size"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.clip_range > 0, "clip_range", "a positive number", self.clip_range)


def sb3_policy_act(policy, deterministic: bool):
    """act(observations) for the suite's evaluation envs, whose frames SB3's CnnPolicy reads as they are."""
    return lambda observations: policy.predict(observations, deterministic=deterministic)[0]


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    policy = ActorCriticCnnPolicy(*envs.spaces(environment), lambda _: 0.0)
    policy.load_state_dict(state["parameters"]["policy"])
    return sb3_policy_act(policy, config.eval_deterministic)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    from stable_baselines3 import PPO

    torch.set_num_threads(config.torch_threads)
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    env, environment, frames_per_length_unit = training_envs(config, environment, seed, config.n_envs, "ppo")
    model = PPO("CnnPolicy", env, n_steps=config.n_steps, n_epochs=config.n_epochs, batch_size=config.batch_size,
                learning_rate=lambda remaining: config.learning_rate * remaining,
                clip_range=lambda remaining: config.clip_range * remaining,
                vf_coef=config.vf_coef, ent_coef=config.ent_coef, seed=seed, device="cpu", verbose=0)
    act = sb3_policy_act(model.policy, config.eval_deterministic)

    with RunLogger(run_dir, config, environment, seed, "examples.sb3_ppo", "cpu", resume) as log:
        write_json(log.dir / "sb3_settings.json", sb3_settings(model))
        learn(model, config, log, act, frames_per_length_unit)
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
