"""The speed alarm sees code, not load, on real runs: A2C on CartPole, three seeds two at a time (as the nightly runs
them on two cores), rerun unchanged while one CPU-bound job per core shares the machine, and rerun with its code made
twice as costly (tests/data/train_with_cpu_slowdown.py). The load halves the wall clock's steps/s, which the old
wall-clock alarm flagged; the alarm judges steps per CPU-second and flags only the slowdown."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from analysis.history import COLUMNS, machine_description
from analysis.regress import DEFAULT_SPEED_TOLERANCE, main as regress
from core.files import write_csv
from helpers import cpu_bound_jobs

SLOWED_TRAINING = Path(__file__).resolve().parent / "data" / "train_with_cpu_slowdown.py"
SEEDS = (0, 1, 2)
STEPS = 20_000
PARALLEL = 2  # the nightly's workers on this 2-core machine
COMMITS = {"baseline": "a" * 40, "loaded": "b" * 40, "slowed": "c" * 40}


def train(run_dir: Path, seed: int, factor: float) -> dict:
    subprocess.run([sys.executable, str(SLOWED_TRAINING), "a2c", "CartPole-v1", str(STEPS), str(seed), str(run_dir),
                    str(factor)], check=True, capture_output=True, timeout=600)
    return json.loads((run_dir / "summary.json").read_text())


def runs(tmp_path: Path, name: str, factor: float = 1.0) -> list[dict]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(lambda seed: train(tmp_path / name / f"seed_{seed}", seed, factor), SEEDS))


def history_rows(commit: str, day: int, summaries: list[dict]) -> list[tuple]:
    machine = machine_description()
    rows = []
    for seed, summary in zip(SEEDS, summaries):
        row = {"commit": commit, "date": f"2026-12-0{day}T00:00:0{seed}Z", "machine": machine, "tier": "nightly",
               "spec": "speed_alarm", "variant": "a2c", "algo": "a2c", "env_id": "CartPole-v1", "seed": str(seed),
               "config_hash": "c0ffee000000", "score": repr(summary["score"]), "status": summary["status"]}
        row |= {name: repr(float(summary[name])) for name in
                ("steps_per_second", "peak_rss_mb", "wall_time", "cpu_time", "steps_per_cpu_second", "load_average",
                 "machine_speed")}
        rows.append(tuple(row[column] for column in COLUMNS))
    return rows


def alarm(tmp_path: Path, name: str, baseline: list[dict], new: list[dict], capsys) -> tuple[int, str]:
    history = tmp_path / f"history_{name}"
    history.mkdir()
    write_csv(history / "nightly.csv", COLUMNS, history_rows(COMMITS["baseline"], 1, baseline)
              + history_rows(COMMITS[name], 2, new))
    status = regress(["--history", str(history), "--baseline", COMMITS["baseline"]])
    return status, capsys.readouterr().out


def median(summaries: list[dict], measure: str) -> float:
    return statistics.median(summary[measure] for summary in summaries)


def test_load_is_not_flagged_and_a_2x_slowdown_is(tmp_path, capsys):
    baseline = runs(tmp_path, "baseline")
    with cpu_bound_jobs(os.cpu_count()):
        loaded = runs(tmp_path, "loaded")
    slowed = runs(tmp_path, "slowed", factor=2.0)
    assert [s["score"] for s in loaded] == [s["score"] for s in baseline] == [s["score"] for s in slowed]

    wall_ratio = median(loaded, "steps_per_second") / median(baseline, "steps_per_second")
    assert wall_ratio < 1 / (1 + DEFAULT_SPEED_TOLERANCE["wall"])  # the load was real: wall clock alone would alarm

    status, out = alarm(tmp_path, "loaded", baseline, loaded, capsys)
    assert status == 0, out
    # judged relative to the machine's own speed, which every run measured
    assert "steps per CPU-second over the machine's own speed" in out and "(wall clock)" not in out
    assert "host not measured" not in out

    status, out = alarm(tmp_path, "slowed", baseline, slowed, capsys)
    assert status == 1, out
    flagged = [line for line in out.splitlines() if line.startswith("- ")]
    assert len(flagged) == 1 and flagged[0].startswith("- SPEED speed_alarm / a2c / CartPole-v1"), out
    assert "steps per CPU-second" in flagged[0]
