"""Run-directory files: atomic writes, score rules, and how the end of a run becomes its summary."""

import json

import pytest

from algos.reinforce import Config
from common.rundir import Diverged, RunLogger, check_finite, compute_score
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


def make_logger(tmp_path):
    config = Config(total_steps=100, eval_interval=50)
    return RunLogger(tmp_path, config, seed=0, algo="test", device="cpu")


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
