"""Stable-Baselines3's DQN with rl-baselines3-zoo's Atari settings, run as an outside algorithm
(`algo: examples.sb3_dqn`, docs/external_algorithms.md): the reference our DQN is compared with in
experiments/dqn_atari_parity.yaml.

Training is entirely SB3's, as rl-zoo runs it (or, with `env_path: ours`, SB3's learner on our training
envs; examples/sb3_atari.py): SB3's Atari envs, one of them, and DQN with CnnPolicy (the Nature CNN and a
linear head, SB3's default initialisation), the Huber loss, Adam, a hard target copy, epsilon falling
linearly from 1 from the first step. The fields below are rl-zoo's; every other setting is SB3's default,
and each run writes the values in effect to sb3_settings.json. The suite adds only its bookkeeping:
training returns, evaluations on our protocol's evaluation envs (epsilon-greedy with our DQN's evaluation
epsilon), checkpoints and the summary.

A resumed run restores the network and the step counter; its games and its replay memory restart (SB3's
envs cannot be saved), so it does not repeat an uninterrupted run exactly.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
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
    buffer_size: int = 100_000
    """replay memory in transitions (rl-zoo atari: buffer_size 1e5)"""
    learning_rate: float = 1e-4
    """Adam step size, constant (rl-zoo atari: learning_rate 1e-4)"""
    batch_size: int = 32
    """minibatch size (rl-zoo atari: batch_size 32)"""
    learning_starts: int = 100_000
    """steps before the first update (rl-zoo atari: learning_starts 1e5)"""
    target_update_interval: int = 1_000
    """env steps between target network copies (rl-zoo atari: target_update_interval 1000)"""
    train_freq: int = 4
    """env steps between updates (rl-zoo atari: train_freq 4)"""
    gradient_steps: int = 1
    """minibatch updates each time (rl-zoo atari: gradient_steps 1)"""
    exploration_fraction: float = 0.1
    """share of the budget over which epsilon falls from 1 (rl-zoo atari: exploration_fraction 0.1)"""
    exploration_final_eps: float = 0.01
    """epsilon after the fall (rl-zoo atari: exploration_final_eps 0.01)"""
    eval_epsilon: float = 0.05
    """probability of a random action in evaluation games (our DQN's, Mnih et al. 2015)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("buffer_size", "batch_size", "target_update_interval", "train_freq", "gradient_steps"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))
        require(self.learning_starts >= 0, "learning_starts", "0 or more", self.learning_starts)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(0 < self.exploration_fraction <= 1, "exploration_fraction", "a number in (0, 1]",
                self.exploration_fraction)
        for name in ("exploration_final_eps", "eval_epsilon"):
            require(0 <= getattr(self, name) <= 1, name, "a probability in [0, 1]", getattr(self, name))


def epsilon_greedy(q_network, epsilon: float, seed: int):
    """act(observations) for the suite's evaluation envs: SB3's greedy action, or with probability epsilon a
    uniformly random one (from a generator of its own, so evaluations repeat for a seed)."""
    rng = np.random.default_rng(seed)

    def act(observations: np.ndarray) -> np.ndarray:
        greedy, _ = q_network.predict(observations, deterministic=True)
        explore = rng.random(len(greedy)) < epsilon
        return np.where(explore, rng.integers(q_network.action_space.n, size=len(greedy)), greedy)

    return act


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    from stable_baselines3.dqn.policies import CnnPolicy

    policy = CnnPolicy(*envs.spaces(environment), lambda _: 0.0)
    policy.load_state_dict(state["parameters"]["policy"])
    return epsilon_greedy(policy, config.eval_epsilon, 0)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    from stable_baselines3 import DQN

    torch.set_num_threads(config.torch_threads)
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    env, environment, frames_per_length_unit = training_envs(config, environment, seed, 1, "dqn")
    model = DQN("CnnPolicy", env, buffer_size=config.buffer_size, learning_rate=config.learning_rate,
                batch_size=config.batch_size, learning_starts=config.learning_starts,
                target_update_interval=config.target_update_interval, train_freq=config.train_freq,
                gradient_steps=config.gradient_steps, exploration_fraction=config.exploration_fraction,
                exploration_final_eps=config.exploration_final_eps, optimize_memory_usage=False, seed=seed,
                device="cpu", verbose=0)
    act = epsilon_greedy(model.policy, config.eval_epsilon, seed)

    with RunLogger(run_dir, config, environment, seed, "examples.sb3_dqn", "cpu", resume) as log:
        write_json(log.dir / "sb3_settings.json", sb3_settings(model))
        learn(model, config, log, act, frames_per_length_unit)
    env.close()
    return log.result


def sb3_settings(model) -> dict:
    """The DQN settings in effect, rl-zoo's and SB3's defaults alike, read from the model."""
    optimizer = model.policy.optimizer
    return json.loads(json.dumps({
        "gamma": model.gamma, "buffer_size": model.buffer_size, "batch_size": model.batch_size,
        "learning_starts": model.learning_starts, "target_update_interval": model.target_update_interval,
        "tau": model.tau, "train_freq": model.train_freq, "gradient_steps": model.gradient_steps,
        "exploration_initial_eps": model.exploration_initial_eps,
        "exploration_final_eps": model.exploration_final_eps, "exploration_fraction": model.exploration_fraction,
        "max_grad_norm": model.max_grad_norm, "optimize_memory_usage": model.optimize_memory_usage,
        "optimizer": type(optimizer).__name__, "adam_eps": optimizer.defaults.get("eps"),
        "features_extractor": type(model.policy.q_net.features_extractor).__name__,
        "normalize_images": model.policy.normalize_images,
    }, default=str))


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "examples.sb3_dqn", __doc__)
