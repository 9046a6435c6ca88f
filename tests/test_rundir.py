"""Run-directory files: atomic writes, score rules, how the end of a run becomes its summary, and the
checkpoint the logger saves and gives back."""

import json
import random

import numpy as np
import pytest
import torch

import envs
from algos.reinforce import Config
from common.rundir import CHECKPOINT, Diverged, RunLogger, check_finite, compute_score
from core.files import write_atomic


def test_write_atomic_replaces_whole_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    write_atomic(target, "old")
    write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["a.json"]


def test_score_rules():
    evals = [(50, 10.0), (90, 20.0), (100, 40.0)]
    assert compute_score("eval_last_10pct", 100, [], evals) == pytest.approx(30.0)  # steps 90 and 100
    returns = list(range(150))
    assert compute_score("train_last_100", 100, returns, []) == pytest.approx(sum(range(50, 150)) / 100)
    assert compute_score("train_last_100", 100, [], []) != compute_score("train_last_100", 100, [], [])  # NaN


def test_check_finite_raises_diverged():
    check_finite(3, loss=1.0)
    with pytest.raises(Diverged, match="loss became nan at step 3"):
        check_finite(3, loss=float("nan"))


def make_logger(tmp_path, resume=False):
    config = Config(total_steps=100, eval_interval=50)
    return RunLogger(tmp_path, config, envs.resolve(config.env_id), seed=0, algo="test", device="cpu", resume=resume)


def test_divergence_is_recorded_without_a_score(tmp_path):
    with make_logger(tmp_path) as log:
        log.log_eval(100, [50.0])
        check_finite(100, loss=float("inf"))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "diverged" and summary["score"] is None
    assert "loss became inf" in summary["error"]
    assert log.result.status == "diverged"


def test_a_crash_is_recorded_and_re_raised(tmp_path):
    with pytest.raises(ZeroDivisionError):
        with make_logger(tmp_path):
            1 / 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and "ZeroDivisionError" in summary["error"]


def test_an_interrupt_leaves_no_summary(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with make_logger(tmp_path):
            raise KeyboardInterrupt
    assert not (tmp_path / "summary.json").exists()
    assert (tmp_path / "config.json").exists()


def test_a_checkpoint_gives_back_the_state_the_rows_and_the_random_streams(tmp_path):
    log = make_logger(tmp_path)
    assert log.resume() is None  # nothing saved: a fresh run
    log.checkpoint_with(lambda: {"weights": torch.arange(3.0), "step": 50})
    log.log_episodes(40, {"episode": {"r": np.array([9.0]), "l": np.array([9])}, "_episode": np.array([True])})
    log.log_eval(50, [20.0, 22.0])
    log.advance(50)
    torch.manual_seed(1), np.random.seed(1), random.seed(1)
    log.save_checkpoint()
    expected = (torch.rand(1), np.random.rand(), random.random())  # what the RNGs draw next, after the checkpoint
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.startswith(".")) == []  # no temporary left

    resumed = make_logger(tmp_path, resume=True)
    torch.manual_seed(7), np.random.seed(7), random.seed(7)  # whatever the new process did before resuming
    state = resumed.resume()
    assert torch.equal(state["weights"], torch.arange(3.0)) and state["step"] == 50
    assert (torch.rand(1), np.random.rand(), random.random()) == expected
    assert resumed.step == 50 and resumed.next_eval_step == log.next_eval_step
    assert [row[2] for row in resumed.evals] == [21.0] and [row[2] for row in resumed.episodes] == [9.0]
    assert (tmp_path / CHECKPOINT).exists()


def test_a_run_measures_the_machines_speed_without_touching_its_random_streams(tmp_path):
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    with make_logger(tmp_path) as log:
        assert torch.equal(torch.rand(1), expected)  # the start's sample left the seeded stream where it was
        log.advance(10)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["machine_speed"] > 0 and len(log.machine_speed_samples) == 2  # at the start and at the end
