"""The history store on a hand-built results tree: one row per finished run with the right fields and config hash,
idempotent ingest that leaves the file byte for byte, new commits appended; and `python -m analysis history`."""

from __future__ import annotations

import csv
import hashlib
import json
import os
from datetime import datetime, timezone

import pytest

from analysis.__main__ import main as analysis_main
from analysis.history import COLUMNS, history_path, ingest, load_history, main
from helpers import plan_record

OLD_COMMIT = "1111111111111111111111111111111111111111"
NEW_COMMIT = "2222222222222222222222222222222222222222"
CONFIG = {"total_steps": 1000, "env_id": "CartPole-v1", "learning_rate": 0.001}
# sha256 of the canonical form, keys sorted and no spaces, written out by hand
CANONICAL_CONFIG = b'{"env_id":"CartPole-v1","learning_rate":0.001,"total_steps":1000}'
OLD_TIME = datetime(2026, 11, 1, 2, 0, tzinfo=timezone.utc).timestamp()
NEW_TIME = datetime(2026, 11, 2, 2, 0, tzinfo=timezone.utc).timestamp()
# experiment -> (variant, algo) -> seed -> (status, score); seeds absent here have no run directory
EXPERIMENTS = {
    "pg": {("reinforce", "reinforce"): {0: ("completed", 100.0), 1: ("completed", 120.5), 2: ("diverged", None)},
           ("a2c", "a2c"): {0: ("completed", 500.0), 1: ("failed", None), 2: ("unfinished", None)}},
    "dqn_family": {("dqn", "dqn"): {0: ("completed", 480.0), 1: ("completed", 495.0)}},
}
FINISHED_RUNS = 7  # every run with a summary: completed, diverged and failed


def write_run(run_dir, job, commit, status, score, when, speed=1000.0):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "job.json").write_text(json.dumps(job))
    (run_dir / "config.json").write_text(json.dumps({"git_commit": commit, "packages": {"torch": "2.13.0+cpu"},
                                                     "hyperparameters": job["config"]}))
    if status == "unfinished":
        return
    summary = run_dir / "summary.json"
    summary.write_text(json.dumps({"status": status, "score": score, "score_rule": "eval_last_10pct", "steps": 1000,
                                   "steps_per_second": speed + job["seed"], "peak_rss_mb": 400.0, "wall_time": 12.5,
                                   "eval_time": 1.0, "error": None if status == "completed" else "Boom: x"}))
    os.utime(summary, (when, when))


def build_results(results_dir, commit=OLD_COMMIT, when=OLD_TIME, config=CONFIG, speed=1000.0, scale=1.0):
    """results_dir/<experiment>/{spec.json, runs/...} as a sweep writes them."""
    for experiment, variants in EXPERIMENTS.items():
        experiment_dir = results_dir / experiment
        jobs = []
        for (variant, algo), seeds in variants.items():
            for seed, (status, score) in seeds.items():
                run_dir = f"runs/{variant}/CartPole-v1/seed_{seed}"
                jobs.append({"variant": variant, "algo": algo, "env_id": "CartPole-v1", "seed": seed,
                             "run_dir": run_dir})
                job = {"experiment": experiment, "variant": variant, "algo": algo, "env_id": "CartPole-v1",
                       "seed": seed, "config": config, "run_dir": str(experiment_dir / run_dir)}
                write_run(experiment_dir / run_dir, job, commit, status, score and score * scale, when, speed)
            jobs.append({"variant": variant, "algo": algo, "env_id": "CartPole-v1", "seed": 9,
                         "run_dir": f"runs/{variant}/CartPole-v1/seed_9"})  # expected, never run
        (experiment_dir / "spec.json").write_text(json.dumps(plan_record(name=experiment, tier="nightly", jobs=jobs)))


@pytest.fixture
def results(tmp_path):
    results_dir = tmp_path / "results" / "nightly"
    build_results(results_dir)
    return results_dir, tmp_path / "results" / "history"


def read_rows(history_dir):
    with open(history_path(history_dir, "nightly"), newline="") as handle:
        return list(csv.DictReader(handle))


def test_ingest_writes_one_row_per_finished_run_with_its_fields(results):
    results_dir, history_dir = results
    assert ingest(results_dir, "nightly", history_dir) == (FINISHED_RUNS, 0)
    rows = read_rows(history_dir)
    assert list(rows[0]) == list(COLUMNS)
    assert len(rows) == FINISHED_RUNS
    by_run = {(row["spec"], row["variant"], int(row["seed"])): row for row in rows}
    assert ("pg", "a2c", 2) not in by_run  # unfinished: no summary, not history yet
    row = by_run[("pg", "reinforce", 1)]
    assert row["commit"] == OLD_COMMIT and row["tier"] == "nightly" and row["algo"] == "reinforce"
    assert row["env_id"] == "CartPole-v1" and row["status"] == "completed"
    assert row["date"] == "2026-11-01T02:00:00Z"
    assert row["config_hash"] == hashlib.sha256(CANONICAL_CONFIG).hexdigest()[:12]
    assert float(row["score"]) == 120.5 and float(row["steps_per_second"]) == 1001.0
    assert float(row["peak_rss_mb"]) == 400.0 and float(row["wall_time"]) == 12.5
    assert row["machine"].endswith(f", {os.cpu_count()} cores")
    assert by_run[("pg", "reinforce", 2)]["status"] == "diverged" and by_run[("pg", "reinforce", 2)]["score"] == ""
    assert by_run[("pg", "a2c", 1)]["status"] == "failed" and by_run[("pg", "a2c", 1)]["score"] == ""
    assert by_run[("pg", "a2c", 1)]["steps_per_second"] != ""


def test_the_config_hash_ignores_key_order(tmp_path):
    reordered = dict(reversed(list(CONFIG.items())))
    for name, config in (("a", CONFIG), ("b", reordered)):
        build_results(tmp_path / name / "nightly", config=config)
        ingest(tmp_path / name / "nightly", "nightly", tmp_path / name / "history")
    assert {row["config_hash"] for row in read_rows(tmp_path / "a" / "history")} == \
           {row["config_hash"] for row in read_rows(tmp_path / "b" / "history")}


def test_ingesting_twice_adds_nothing_and_leaves_the_file_byte_for_byte(results):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    before = history_path(history_dir, "nightly").read_bytes()
    assert ingest(results_dir, "nightly", history_dir) == (0, 0)
    assert history_path(history_dir, "nightly").read_bytes() == before
    assert [path.name for path in history_dir.iterdir()] == ["nightly.csv"]  # no temporary file left behind


def test_a_new_commits_runs_are_appended_after_the_old_rows(results):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    before = history_path(history_dir, "nightly").read_text()
    build_results(results_dir, commit=NEW_COMMIT, when=NEW_TIME)  # the nightly reran every job at a new commit
    assert ingest(results_dir, "nightly", history_dir) == (FINISHED_RUNS, 0)
    after = history_path(history_dir, "nightly").read_text()
    assert after.startswith(before)  # a diff that only adds lines
    assert [row["commit"] for row in read_rows(history_dir)] == [OLD_COMMIT] * 7 + [NEW_COMMIT] * 7


def test_a_changed_config_at_the_same_commit_is_a_new_row(results):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    build_results(results_dir, config=CONFIG | {"learning_rate": 0.0001}, when=NEW_TIME)
    assert ingest(results_dir, "nightly", history_dir) == (FINISHED_RUNS, 0)
    assert len({row["config_hash"] for row in read_rows(history_dir)}) == 2


def test_a_history_file_with_other_columns_is_refused_by_name(results):
    results_dir, history_dir = results
    history_dir.mkdir(parents=True)
    history_path(history_dir, "nightly").write_text("commit,score\nabc,1\n")
    with pytest.raises(ValueError, match=r"nightly\.csv: expected the columns commit, date"):
        ingest(results_dir, "nightly", history_dir)


def test_load_history_types_the_columns(results):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    frame = load_history(history_dir, "nightly")
    assert frame.seed.dtype.kind == "i" and frame.score.dtype.kind == "f"
    assert frame.score.isna().sum() == 2  # the diverged and the failed run
    assert set(frame.commit) == {OLD_COMMIT}


def test_history_cli_prints_the_trend_in_commit_order_and_writes_a_png(results, capsys):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    build_results(results_dir, commit=NEW_COMMIT, when=NEW_TIME, speed=500.0, scale=0.5)
    ingest(results_dir, "nightly", history_dir)
    assert main(["--history", str(history_dir), "--spec", "pg"]) == 0
    out = capsys.readouterr().out
    assert "pg / reinforce / CartPole-v1" in out and "dqn_family" not in out
    block = out.split("pg / reinforce / CartPole-v1")[1]
    assert block.index("1111111111") < block.index("2222222222")  # the old commit first
    assert "110.2" in block and "55.1" in block  # mean of the 2 scored seeds: (100 + 120.5) / 2, then halved
    assert "2/3" in block  # 2 of 3 runs scored: seed 2 diverged
    figure = history_dir / "nightly_trend.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_history_cli_filters_by_algorithm_and_takes_a_figure_path(results, tmp_path, capsys):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    figure = tmp_path / "elsewhere" / "dqn.png"
    assert analysis_main(["history", "--history", str(history_dir), "--algo", "dqn", "--figure", str(figure)]) == 0
    out = capsys.readouterr().out
    assert "dqn_family / dqn / CartPole-v1" in out and "reinforce" not in out
    assert figure.is_file()


@pytest.mark.parametrize("arguments, message", [
    (["--spec", "nope"], "--spec 'nope': no such runs"),
    (["--algo", "sac"], "--algo 'sac': no such runs"),
    (["--tier", "paper"], "paper.csv does not exist"),
])
def test_history_cli_bad_input_exits_2_with_the_reason(results, capsys, arguments, message):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    assert main(["--history", str(history_dir), *arguments]) == 2
    assert message in capsys.readouterr().err


def test_history_cli_on_an_empty_history_exits_2(tmp_path, capsys):
    (tmp_path / "nightly.csv").write_text(",".join(COLUMNS) + "\n")
    assert main(["--history", str(tmp_path)]) == 2
    assert "nightly.csv is empty" in capsys.readouterr().err


def test_runs_made_from_uncommitted_changes_are_left_out(tmp_path):
    results_dir, history_dir = tmp_path / "nightly", tmp_path / "history"
    build_results(results_dir, commit=OLD_COMMIT + "-dirty")
    assert ingest(results_dir, "nightly", history_dir) == (0, FINISHED_RUNS)
    assert not history_path(history_dir, "nightly").exists()


def test_a_history_from_before_cpu_time_was_recorded_reads_with_those_cells_empty(results):
    results_dir, history_dir = results
    ingest(results_dir, "nightly", history_dir)
    path = history_path(history_dir, "nightly")
    old_columns = COLUMNS[:COLUMNS.index("status") + 1]
    with open(path, newline="") as handle:
        rows = [{column: row[column] for column in old_columns} for row in csv.DictReader(handle)]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, old_columns)
        writer.writeheader()
        writer.writerows(rows)
    frame = load_history(history_dir, "nightly")
    assert len(frame) == FINISHED_RUNS and frame.steps_per_cpu_second.isna().all()
