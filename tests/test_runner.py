"""The sweep runner: crash isolation, a killed sweep that resumes without redoing finished runs and
continues interrupted ones from their checkpoints, and where run directories go."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from common.rundir import CHECKPOINT
from helpers import PROJECT_ROOT, run_module, write_spec
from runner.spec import load_spec
from runner.sweep import plan


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


def test_run_directories_do_not_nest_on_env_ids_with_a_slash(tmp_path):
    spec = load_spec(write_spec(tmp_path, environments=["CartPole-v1", "MinAtar/Breakout-v1"]))
    jobs = plan(spec, "smoke", tmp_path / "results")
    experiment_runs = tmp_path / "results" / "smoke" / "tiny" / "runs"
    relative = {Path(job.run_dir).relative_to(experiment_runs).parts for job in jobs}
    assert ("reinforce", "MinAtar-Breakout-v1", "seed_0") in relative
    assert all(len(parts) == 3 for parts in relative)  # variant / env / seed, whatever the id


def test_a_run_killed_after_a_checkpoint_continues_from_it(tmp_path):
    spec = write_spec(tmp_path, variants={"reinforce": {"algo": "reinforce", "overrides": {"batch_size": 500}}},
                      tiers={"smoke": {"total_steps": 12_000, "seeds": 1, "eval_interval": 2000,
                                       "overrides": {"eval_episodes": 2}}})
    results = tmp_path / "results"
    run_dir = results / "smoke" / "tiny" / "runs" / "reinforce" / "CartPole-v1" / "seed_0"
    command = [sys.executable, "-m", "runner", str(spec), "--results", str(results), "--workers", "1"]
    sweep = subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.time() + 300
    while not (run_dir / CHECKPOINT).exists() and time.time() < deadline:
        time.sleep(0.05)
    os.killpg(sweep.pid, signal.SIGKILL)
    sweep.wait()
    assert not (run_dir / "summary.json").exists(), "the kill should land mid-run"
    saved_evals = [tuple(row) for row in torch.load(run_dir / CHECKPOINT, weights_only=False)["logger"]["evals"]]
    assert saved_evals, "the checkpoint holds at least one evaluation"

    process = run_module("runner", str(spec), "--results", str(results), "--workers", "1")
    assert process.returncode == 0, process.stderr
    assert "0 already finished, 1 to run (1 continuing from a checkpoint)" in process.stdout
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "completed"
    with open(run_dir / "eval.csv") as handle:
        rows = [(int(row["step"]), float(row["wall_time"]), float(row["mean"]), float(row["std"]), int(row["episodes"]))
                for row in csv.DictReader(handle)]
    # a fresh start would have timed its evaluations anew: the saved ones come back with their wall times
    assert rows[: len(saved_evals)] == saved_evals and len(rows) > len(saved_evals)
    assert "resumed from checkpoint.pt" in (run_dir / "log.txt").read_text()


@pytest.mark.parametrize("results_args, analysed", [
    ([], "results/nightly"),
    (["--results", "/data/sweeps"], "/data/sweeps/nightly"),
    (["--results=/data/sweeps"], "/data/sweeps/nightly"),
])
def test_run_all_analyses_the_results_directory_it_was_given(tmp_path, project_root, results_args, analysed):
    """run_all.sh with a stand-in Python that records its calls (and a setup.sh that installs nothing)."""
    shutil.copy(project_root / "run_all.sh", tmp_path / "run_all.sh")
    (tmp_path / "python").write_text('#!/usr/bin/env bash\necho "$@" >> "$(dirname "$0")/calls.txt"\n')
    (tmp_path / "python").chmod(0o755)
    (tmp_path / "setup.sh").write_text(f'PY="{tmp_path / "python"}"\n')
    process = subprocess.run(["bash", str(tmp_path / "run_all.sh"), "--tier", "nightly", *results_args],
                             capture_output=True, text=True, timeout=60)
    assert process.returncode == 0, process.stderr
    calls = (tmp_path / "calls.txt").read_text().splitlines()
    history = analysed.removesuffix("nightly") + "history"  # the nightly tier ends with the regression alarm
    assert calls == [" ".join(["-m runner --tier nightly", *results_args]), f"-m analysis {analysed}",
                     f"-m analysis regress --tier nightly --history {history}"]


def test_rerun_other_commits_reruns_only_what_other_code_made(tmp_path):
    from runner.sweep import Job, forget_other_commits, is_done
    jobs = {}
    for made_by in ("abc", "def"):
        run_dir = tmp_path / made_by
        run_dir.mkdir()
        job = Job("e", "v", "dqn", "CartPole-v1", 0, {"total_steps": 10}, str(run_dir))
        (run_dir / "job.json").write_text(json.dumps(job.to_dict()))
        (run_dir / "summary.json").write_text(json.dumps({"status": "completed", "score": 1.0}))
        (run_dir / "config.json").write_text(json.dumps({"git_commit": made_by}))
        jobs[made_by] = job
    assert is_done(jobs["abc"]) and is_done(jobs["def"])  # by default a finished run is kept, whatever made it
    assert is_done(jobs["abc"], at_commit="abc") and not is_done(jobs["def"], at_commit="abc")
    forget_other_commits(jobs["def"], "abc")
    forget_other_commits(jobs["abc"], "abc")
    assert not Path(jobs["def"].run_dir).exists() and Path(jobs["abc"].run_dir).exists()


def test_the_local_backend_keeps_the_declared_cores_busy_and_never_more(monkeypatch):
    """On 2 cores: a 1-core run, a 2-core A3C run, two 1-core runs and a run asking for 4. The second 1-core run
    goes beside the first while the A3C run waits for both cores (no core idles while a run could use it); the
    2-core and 4-core runs each run alone."""
    from runner import backends
    from runner.sweep import Job

    cores = {"one": 1, "a3c": 2, "two": 1, "three": 1, "d4pg": 4}
    busy, events, lock = [0], [], threading.Lock()

    def fake_run(job):
        with lock:
            busy[0] += min(cores[job.variant], 2)
            events.append(("start", job.variant, busy[0]))
        time.sleep(0.05)
        with lock:
            busy[0] -= min(cores[job.variant], 2)
            events.append(("end", job.variant, busy[0]))
        return {"status": "completed"}

    monkeypatch.setattr(backends, "run_in_subprocess", fake_run)
    jobs = [Job("e", name, "a2c", "CartPole-v1", 0, {}, name) for name in cores]
    finished = []
    backends.LocalBackend(2, lambda job: cores[job.variant]).run(jobs, lambda job, summary: finished.append(job.variant))
    assert sorted(finished) == sorted(cores)
    assert max(level for _, _, level in events) <= 2
    starts = [name for kind, name, _ in events if kind == "start"]
    assert starts[:2] == ["one", "two"]  # "two" fits beside "one" and goes before the A3C run that does not
    alone = {name for kind, name, level in events if kind == "start" and name in ("a3c", "d4pg")}
    assert alone == {"a3c", "d4pg"}
    for name in ("a3c", "d4pg"):  # nothing else ran while it did
        start = events.index(next(e for e in events if e[:2] == ("start", name)))
        end = events.index(next(e for e in events if e[:2] == ("end", name)))
        assert end == start + 1, events


def test_variants_runs_the_named_variants_first_and_the_plan_keeps_the_others(tmp_path):
    spec = write_spec(tmp_path, tiers={"smoke": {"total_steps": 1000, "seeds": 1, "eval_interval": 1000,
                                                 "overrides": {"eval_episodes": 2}}})
    results = tmp_path / "results"
    process = run_module("runner", str(spec), "--results", str(results), "--variants", "a2c")
    assert process.returncode == 0, process.stderr
    assert "0 already finished, 1 to run" in process.stdout and "1 of other variants left for later" in process.stdout
    runs = results / "smoke" / "tiny" / "runs"
    assert [run.parent.parent.name for run in summaries(results)] == ["a2c"]
    planned = json.loads((runs / "plan.json").read_text())
    assert sorted(job["variant"] for job in planned["jobs"]) == ["a2c", "reinforce"]

    process = run_module("runner", str(spec), "--results", str(results))  # the rest, later
    assert process.returncode == 0 and "1 already finished, 1 to run" in process.stdout

    wrong = run_module("runner", str(spec), "--results", str(results), "--variants", "a2c,ppo")
    assert wrong.returncode == 2 and "--variants" in wrong.stderr and "'ppo'" in wrong.stderr
