"""The sweep runner: crash isolation, and a killed sweep that resumes without redoing finished runs."""

import json
import os
import signal
import subprocess
import sys
import time

from helpers import PROJECT_ROOT, run_module, write_spec


def summaries(results):
    return {path.parent: path for path in results.rglob("summary.json")}


def test_a_crashing_run_is_recorded_and_the_others_finish(tmp_path):
    # Blackjack's tuple observations are not supported: those runs crash at start-up.
    spec = write_spec(tmp_path, environments=["CartPole-v1", "Blackjack-v1"],
                      variants={"reinforce": {"algo": "reinforce", "overrides": {"batch_size": 500}}},
                      tiers={"smoke": {"total_steps": 1000, "seeds": 1, "eval_interval": 1000,
                                       "overrides": {"eval_episodes": 2}}})
    results = tmp_path / "results"
    process = run_module("runner", str(spec), "--results", str(results), "--workers", "2")
    assert process.returncode == 1
    runs = results / "smoke" / "tiny" / "runs" / "reinforce"
    crashed = json.loads((runs / "Blackjack-v1" / "seed_0" / "summary.json").read_text())
    assert crashed["status"] == "failed" and "is not supported" in crashed["error"]
    finished = json.loads((runs / "CartPole-v1" / "seed_0" / "summary.json").read_text())
    assert finished["status"] == "completed" and finished["score"] is not None
    assert "1 run(s) failed" in process.stderr


def test_killed_sweep_resumes_only_unfinished_runs(tmp_path):
    spec = write_spec(tmp_path, variants={"reinforce": {"algo": "reinforce", "overrides": {"batch_size": 500}}},
                      tiers={"smoke": {"total_steps": 3000, "seeds": 4, "eval_interval": 1500,
                                       "overrides": {"eval_episodes": 2}}})
    results = tmp_path / "results"
    command = [sys.executable, "-m", "runner", str(spec), "--results", str(results), "--workers", "1"]
    sweep = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.time() + 300
    while not summaries(results) and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(sweep.pid, signal.SIGKILL)  # the whole sweep, its run processes included
    sweep.wait()
    finished_before = {run: (path.stat().st_mtime_ns, path.read_text()) for run, path in summaries(results).items()}
    assert 1 <= len(finished_before) < 4, "the kill should land mid-sweep"

    process = run_module("runner", str(spec), "--results", str(results), "--workers", "1")
    assert process.returncode == 0, process.stderr
    assert f"{len(finished_before)} already finished, {4 - len(finished_before)} to run" in process.stdout
    after = summaries(results)
    assert len(after) == 4
    assert all(json.loads(path.read_text())["status"] == "completed" for path in after.values())
    for run, (mtime, text) in finished_before.items():
        assert (after[run].stat().st_mtime_ns, after[run].read_text()) == (mtime, text), f"{run} was rerun"
