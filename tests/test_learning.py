"""Runs that must learn. The short ones run in CI (one per algorithm family, seconds each);
the `slow` one is the nightly tier of pg_variance_reduction and checks the issue's claim."""

import json

import numpy as np
import pytest

import algos
from helpers import run_module

RANDOM_CARTPOLE_RETURN = 22  # a uniformly random policy's mean return on CartPole-v1


def test_reinforce_with_variance_reduction_learns_cartpole_quickly(tmp_path):
    module = algos.load("reinforce")
    config = module.Config(total_steps=20_000, eval_interval=5_000, reward_to_go=True, baseline=True,
                           normalize_advantages=True, device="cpu")
    result = module.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed"
    assert result.score >= 200 > 5 * RANDOM_CARTPOLE_RETURN


def test_a2c_learns_cartpole_quickly(tmp_path):
    module = algos.load("a2c")
    config = module.Config(total_steps=40_000, eval_interval=10_000, num_envs=8, entropy_coef=0.0,
                           shared_network=False, device="cpu")
    result = module.train(config, seed=1, run_dir=tmp_path)
    assert result.status == "completed"
    assert result.score >= 150


@pytest.mark.slow
def test_nightly_pg_variance_reduction_reproduces_the_homework_conclusion(tmp_path, project_root):
    process = run_module("runner", str(project_root / "experiments" / "pg_variance_reduction.yaml"),
                         "--tier", "nightly", "--results", str(tmp_path), timeout=3 * 3600)
    assert process.returncode == 0, process.stderr
    runs = tmp_path / "nightly" / "pg_variance_reduction" / "runs"

    def scores(variant):
        return [json.loads(p.read_text())["score"] for p in sorted((runs / variant).rglob("summary.json"))]

    for variant in ("reward_to_go_baseline", "a2c"):
        assert len(scores(variant)) == 5
        assert np.mean(scores(variant)) >= 475, (variant, scores(variant))
    assert sum(score >= 475 for score in scores("a2c")) >= 4  # issue 4's bar for A2C
    # plain REINFORCE is visibly worse at the same budget
    assert np.mean(scores("reinforce")) < np.mean(scores("reward_to_go_baseline")) - 50
