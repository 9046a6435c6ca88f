"""Runs that must learn, in CI (one per algorithm family, seconds each). The nightly tier's bars are each spec's
`expect:` section, checked by tests/test_expectations.py."""

import pytest

import algos
from helpers import random_score


def test_reinforce_with_variance_reduction_learns_cartpole_quickly(tmp_path):
    module = algos.load("reinforce")
    config = module.Config(total_steps=20_000, eval_interval=5_000, reward_to_go=True, baseline=True,
                           normalize_advantages=True, device="cpu")
    result = module.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed"
    assert result.score >= 200 > 5 * random_score("CartPole-v1")


def test_a2c_learns_cartpole_quickly(tmp_path):
    # the classic preset (auto on CartPole) at 40k steps: seeds 1-3 scored 249.5, 249.4, 289.0
    module = algos.load("a2c")
    config = module.Config(env_id="CartPole-v1", total_steps=40_000, eval_interval=10_000, device="cpu")
    result = module.train(config, seed=1, run_dir=tmp_path)
    assert result.status == "completed" and config.preset == "classic"
    assert result.score >= 150 > 5 * random_score("CartPole-v1")  # mean of the last 100 training episodes


# Acrobot-v1 pays -1 per step until the tip swings above the bar (500 steps at most): returns are
# negative, the other sign than CartPole's. A random policy scores -497.7 (results/baselines).
# Each algorithm runs its default preset (auto: classic) for 100k steps; measured here, seeds 1-5,
# mean of the last 100 training episodes:
#   A2C  -102.5, -107.7, -95.9, -94.3, -109.3   (about 20 s each on one core)
#   PPO   -80.9,  -84.6, -81.8, -83.6,  -79.2   (about 30 s)
ACROBOT_BARS = {"a2c": -150.0, "ppo": -120.0}


@pytest.mark.parametrize("name", sorted(ACROBOT_BARS))
def test_actor_critic_learns_acrobot_at_its_default_preset(tmp_path, name):
    module = algos.load(name)
    config = module.Config(env_id="Acrobot-v1", total_steps=100_000, eval_interval=20_000, device="cpu")
    result = module.train(config, seed=1, run_dir=tmp_path)
    assert result.status == "completed" and config.score_rule == "train_last_100"
    assert result.score >= ACROBOT_BARS[name] > random_score("Acrobot-v1") + 300, result.score
