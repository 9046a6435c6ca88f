"""Same seed on CPU => the same training episodes; different seeds => different ones."""

import csv

import pytest

import algos
from common.config import config_from_dict

# The synchronous algorithms; A3C and async Q-learning are checked with one worker in test_a3c.py.
SHORT = {"reinforce": {"batch_size": 500}, "a2c": {"num_envs": 4}, "ppo": {"num_envs": 2, "n_steps": 256}}


def rows_without_wall_time(path):
    """wall_time is the one column that may differ between identical runs."""
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(handle)]


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
