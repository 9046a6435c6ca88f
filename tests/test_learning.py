"""Runs that must learn. The short ones run in CI (one per algorithm family, seconds each);
the `slow` ones run the nightly tier of an experiment spec and check the issues' bars on it."""

import json
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

import algos
from core.files import path_part
from helpers import random_score, run_module


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


def nightly_scores(project_root: Path, results: Path, experiment: str) -> Callable[[str, str], list[float]]:
    """Run an experiment's nightly tier into `results` (or reuse a finished sweep there: the runner
    skips completed runs) and return a lookup (variant, env id) -> the seeds' scores."""
    process = run_module("runner", str(project_root / "experiments" / f"{experiment}.yaml"),
                         "--tier", "nightly", "--results", str(results), timeout=3 * 3600)
    assert process.returncode == 0, process.stderr
    runs = results / "nightly" / experiment / "runs"

    def scores(variant: str, env_id: str) -> list[float]:
        return [json.loads(p.read_text())["score"] for p in sorted((runs / variant / path_part(env_id)).glob("seed_*/summary.json"))]
    return scores


@pytest.mark.slow
def test_nightly_pg_variance_reduction_reproduces_the_homework_conclusion(tmp_path, project_root):
    scores = nightly_scores(project_root, tmp_path, "pg_variance_reduction")
    for variant in ("reward_to_go_baseline", "a2c"):
        assert len(scores(variant, "CartPole-v1")) == 5
        assert np.mean(scores(variant, "CartPole-v1")) >= 475, (variant, scores(variant, "CartPole-v1"))
    # plain REINFORCE is visibly worse at the same budget
    assert np.mean(scores("reinforce", "CartPole-v1")) < np.mean(scores("reward_to_go_baseline", "CartPole-v1")) - 50


@pytest.mark.slow
def test_nightly_a2c_and_a3c_reach_the_cartpole_cap_on_four_of_five_seeds(tmp_path, project_root):
    scores = nightly_scores(project_root, tmp_path, "a2c_vs_a3c")
    for variant in ("a2c", "a3c"):  # issue 4's bar
        assert len(scores(variant, "CartPole-v1")) == 5
        assert sum(score >= 475 for score in scores(variant, "CartPole-v1")) >= 4, (variant, scores(variant, "CartPole-v1"))


@pytest.mark.slow
def test_nightly_ppo_baselines_meet_issue_4s_bars(tmp_path, project_root):
    scores = nightly_scores(project_root, tmp_path, "ppo_baselines")
    assert sum(score >= 475 for score in scores("ppo", "CartPole-v1")) >= 4, scores("ppo", "CartPole-v1")
    # >= 900 within 150k steps: the last-100 training mean at 150k is the stricter reading
    assert sum(score >= 900 for score in scores("ppo", "InvertedPendulum-v5")) >= 4, scores("ppo", "InvertedPendulum-v5")
    minatar = scores("ppo", "MinAtar/Breakout-v1")
    assert len(minatar) == 5 and min(minatar) >= 10 * random_score("MinAtar/Breakout-v1"), minatar
