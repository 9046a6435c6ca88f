"""Same seed on CPU => the same training episodes; different seeds => different ones."""

import pytest

import algos
from common.config import config_from_dict
from helpers import rows_without_wall_time

# A3C and async Q-learning are not reproducible by design with several workers (Hogwild), so with one.
# Their evaluations run on snapshots taken at interval boundaries, so with one worker those repeat too.
# DQN and C51 start learning after 500 steps (not their preset's 1,000), so that updates shape the episodes.
SHORT = {"reinforce": {"batch_size": 500}, "a2c": {"num_envs": 4}, "ppo": {"num_envs": 2, "n_steps": 256}, "trpo": {"n_steps": 500},
         "a3c": {"workers": 1, "learning_rate": 1e-2}, "async_q": {"workers": 1, "learning_rate": 1e-2},
         "dqn": {"learning_starts": 500}, "c51": {"learning_starts": 500}}


@pytest.mark.parametrize("name", sorted(SHORT))
def test_same_seed_same_metrics(tmp_path, name):
    module = algos.load(name)
    config = config_from_dict(module.Config, {"total_steps": 3000, "eval_interval": 1500, "eval_episodes": 2,
                                              "device": "cpu", **SHORT[name]})
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        result = module.train(config, seed, tmp_path / label)
        assert result.status == "completed"
    first, second, other = (rows_without_wall_time(tmp_path / label / "metrics.csv") for label in "abc")
    assert len(first) > 10
    assert first == second
    assert first != other
    evals = [rows_without_wall_time(tmp_path / label / "eval.csv") for label in "ab"]
    assert len(evals[0]) == 2 and evals[0] == evals[1]
