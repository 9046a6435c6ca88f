"""Checkpoints: a run killed after a checkpoint and resumed ends exactly as the uninterrupted run (CPU,
one process); the asynchronous algorithms, whose Hogwild workers never repeat, resume from the step
their checkpoint saved."""

import pytest

import algos
from common.config import config_from_dict
from common.rundir import CHECKPOINT
from helpers import rows_without_wall_time, stop_after_checkpoints

SMALL = {"env_id": "CartPole-v1", "total_steps": 3_000, "eval_interval": 1_000, "eval_episodes": 2, "device": "cpu"}
SETTINGS = {
    "reinforce": {"batch_size": 500},
    "a2c": {},
    "ppo": {},
    "trpo": {"n_steps": 500},
    "dqn": {"learning_starts": 500},
    "c51": {"learning_starts": 500},
    "a3c": {"workers": 1},
    "async_q": {"workers": 1},
}
SYNCHRONOUS = ("reinforce", "a2c", "ppo", "trpo", "dqn", "c51")
ASYNCHRONOUS = ("a3c", "async_q")


def interrupted_then_resumed(name, tmp_path, monkeypatch):
    module = algos.load(name)
    config = config_from_dict(module.Config, {**SMALL, **SETTINGS[name]})
    run_dir = tmp_path / "resumed"
    with monkeypatch.context() as patch:
        stop_after_checkpoints(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            module.train(config, 3, run_dir)
    assert (run_dir / CHECKPOINT).exists() and not (run_dir / "summary.json").exists()
    interrupted_evals = rows_without_wall_time(run_dir / "eval.csv")
    return module, config, run_dir, interrupted_evals, module.train(config, 3, run_dir, resume=True)


@pytest.mark.parametrize("name", SYNCHRONOUS)
def test_a_resumed_run_ends_as_the_uninterrupted_run(name, tmp_path, monkeypatch):
    module, config, run_dir, _, resumed = interrupted_then_resumed(name, tmp_path, monkeypatch)
    whole = module.train(config, 3, tmp_path / "whole")
    assert resumed.status == whole.status == "completed"
    assert resumed.steps == whole.steps and resumed.score == whole.score
    for name in ("metrics.csv", "eval.csv"):
        assert rows_without_wall_time(run_dir / name) == rows_without_wall_time(tmp_path / "whole" / name)


@pytest.mark.parametrize("name", ASYNCHRONOUS)
def test_an_asynchronous_run_resumes_from_its_checkpoint(name, tmp_path, monkeypatch):
    _, config, run_dir, interrupted_evals, resumed = interrupted_then_resumed(name, tmp_path, monkeypatch)
    assert resumed.status == "completed" and resumed.steps >= config.total_steps
    evals = rows_without_wall_time(run_dir / "eval.csv")
    assert len(interrupted_evals) == 2 and evals[:2] == interrupted_evals  # kept, not redone from step 0
    assert [int(row["step"]) for row in evals] == sorted(int(row["step"]) for row in evals)


def test_resuming_with_other_settings_is_refused(tmp_path, monkeypatch):
    module, config, run_dir, _, _ = interrupted_then_resumed("reinforce", tmp_path, monkeypatch)
    other = config_from_dict(module.Config, {**SMALL, **SETTINGS["reinforce"], "discount": 0.9})
    with pytest.raises(Exception, match="resume: expected a checkpoint of this run"):
        module.train(other, 3, run_dir, resume=True)
