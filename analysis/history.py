"""The history of every finished run, one CSV per tier, and `python -m analysis history`: the trend over commits.

    results/history/<tier>.csv      one row per finished run (completed, diverged or failed), append-only

A row records where and when the run was made (commit, date, machine), what it was (tier, spec, variant, algo,
env_id, seed and config_hash, the first 12 hex digits of the SHA-256 of the job's resolved config as canonical JSON)
and what it gave (score, steps_per_second, peak_rss_mb, wall_time, status; a diverged or failed run has an empty
score). `python -m analysis results/nightly` (and results/paper) ingests the runs it analysed; a run that is
already in the store (same commit, tier, spec, variant, env_id, seed and config_hash) is not added again. Rows are
kept sorted by date and then by the rest of the row, so a new nightly appends lines at the end and the committed
file diffs cleanly.

Plain CSV, so that the tools users already know read it as it is, no import step:
    DuckDB   SELECT spec, variant, commit, avg(score) FROM 'results/history/nightly.csv' GROUP BY ALL
    pandas   pd.read_csv("results/history/nightly.csv", dtype={"commit": str, "config_hash": str})
    SQLite   .import --csv results/history/nightly.csv history

`python -m analysis history [--tier nightly] [--spec NAME] [--algo NAME]` prints, per (spec, variant, env), one line
per commit in date order (seeds scored, mean score, median steps/s) and draws score and steps/s against commit
order to results/history/<tier>_trend.png.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import sys
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: nightly machines have no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis.table import SeedRun, experiment_dirs, load_runs  # noqa: E402
from core.files import write_csv  # noqa: E402
from runner.sweep import read_plan  # noqa: E402

COLUMNS = ("commit", "date", "machine", "tier", "spec", "variant", "algo", "env_id", "seed", "config_hash",
           "score", "steps_per_second", "peak_rss_mb", "wall_time", "status",
           "cpu_time", "steps_per_cpu_second", "load_average", "machine_speed")
# The history's earlier headers: before CPU time was recorded, and before the machine's speed was; their rows read
# with the missing cells empty.
EARLIER_COLUMNS = (COLUMNS[:15], COLUMNS[:18])
RUN_KEY = ("commit", "tier", "spec", "variant", "env_id", "seed", "config_hash")  # one row per key
GROUP = ["spec", "variant", "env_id"]  # what the trend and the regression check follow over commits
STATUSES = ("completed", "diverged", "failed")
HISTORY_TIERS = ("nightly", "paper")  # smoke runs are too short to mean anything over time
NUMERIC = ("score", "steps_per_second", "peak_rss_mb", "wall_time", "cpu_time", "steps_per_cpu_second",
           "load_average", "machine_speed")
DIRTY = "-dirty"  # git describe's mark of a tree with uncommitted changes
DEFAULT_HISTORY_DIR = Path("results") / "history"


def history_path(history_dir: Path, tier: str) -> Path:
    return history_dir / f"{tier}.csv"


def machine_description() -> str:
    """The CPU model and core count, e.g. "Intel(R) Xeon(R) Processor, 2 cores": speeds compare only on one machine."""
    model = ""  # stays empty where /proc/cpuinfo is missing (macOS) or names no model (some ARM boards)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    return f"{model or platform.processor() or platform.machine() or 'unknown CPU'}, {os.cpu_count()} cores"


def config_hash(config: dict) -> str:
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def short_commit(commit: str) -> str:
    """The first 10 hex digits, keeping git's "-dirty" mark (uncommitted changes) in sight."""
    head, dirty, _ = commit.partition("-dirty")
    return head[:10] + dirty


def read_json_file(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: expected a readable JSON file of a finished run ({error})") from error


def number(value: float | int | None) -> str:
    """repr: the shortest text that reads back as the same float, so rewriting a row never changes it."""
    return "" if value is None else repr(float(value))


def run_row(run: SeedRun, tier: str, spec: str, machine: str) -> dict[str, str]:
    job = read_json_file(run.run_dir / "job.json")
    config = read_json_file(run.run_dir / "config.json")
    summary = run.summary or {}
    finished = datetime.fromtimestamp((run.run_dir / "summary.json").stat().st_mtime, tz=timezone.utc)
    if "config" not in job:
        raise ValueError(f"{run.run_dir / 'job.json'}: expected a 'config' field (the job's resolved config)")
    return {
        "commit": str(config.get("git_commit", "unknown")), "date": finished.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine, "tier": tier, "spec": spec, "variant": run.variant, "algo": run.algo,
        "env_id": run.env, "seed": str(run.seed), "config_hash": config_hash(job["config"]),
        "score": number(summary.get("score")) if summary.get("status") == "completed" else "",
        "steps_per_second": number(summary.get("steps_per_second")), "peak_rss_mb": number(summary.get("peak_rss_mb")),
        "wall_time": number(summary.get("wall_time")), "status": str(summary.get("status")),
        "cpu_time": number(summary.get("cpu_time")), "steps_per_cpu_second": number(summary.get("steps_per_cpu_second")),
        "load_average": number(summary.get("load_average")), "machine_speed": number(summary.get("machine_speed")),
    }


def results_rows(results_dir: Path, tier: str) -> list[dict[str, str]]:
    """A row for every run with a summary of every experiment under results_dir."""
    if not results_dir.is_dir():
        raise ValueError(f"{results_dir}: expected a sweep's results directory, e.g. results/nightly")
    machine = machine_description()
    rows = []
    for experiment_dir in experiment_dirs(results_dir):
        plan = read_plan(experiment_dir)
        rows += [run_row(run, tier, plan.name, machine) for run in load_runs(experiment_dir, plan)
                 if run.summary is not None and run.summary.get("status") in STATUSES]
    return rows


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) not in (COLUMNS, *EARLIER_COLUMNS):
            raise ValueError(f"{path}: expected the columns {', '.join(COLUMNS)}, got {reader.fieldnames}")
        return [{column: row.get(column) or "" for column in COLUMNS} for row in reader]


def is_clean(commit: str) -> bool:
    """A run made at a committed tree, which can be checked out again: not "<commit>-dirty", not "unknown"."""
    return commit != "unknown" and not commit.endswith(DIRTY)


def row_order(row: dict[str, str]) -> tuple:
    """Date first, so that a new nightly's rows go at the end; the rest makes the order total."""
    return (row["date"], row["tier"], row["spec"], row["variant"], row["env_id"], int(row["seed"]), row["commit"],
            row["config_hash"])


def ingest(results_dir: Path, tier: str, history_dir: Path) -> tuple[int, int]:
    """Add the finished runs under results_dir that the tier's history does not hold yet and that were made at a clean
    commit; returns (how many were added, how many were left out as made from uncommitted changes). A baseline must
    be code that can be checked out again, so a dirty run never enters the history."""
    path = history_path(history_dir, tier)
    rows = read_rows(path)
    known = {tuple(row[column] for column in RUN_KEY) for row in rows}
    added, dirty = [], 0
    for row in results_rows(results_dir, tier):
        key = tuple(row[column] for column in RUN_KEY)
        if not is_clean(row["commit"]):
            dirty += 1
        elif key not in known:
            known.add(key)
            added.append(row)
    if added:
        history_dir.mkdir(parents=True, exist_ok=True)
        ordered = sorted(rows + added, key=row_order)
        write_csv(path, COLUMNS, [tuple(row[column] for column in COLUMNS) for row in ordered])
    return len(added), dirty


def load_history(history_dir: Path, tier: str) -> pd.DataFrame:
    """The tier's history as a typed frame; ValueError saying how to make one when there is none."""
    path = history_path(history_dir, tier)
    rows = read_rows(path)
    if not rows:
        state = "is empty" if path.is_file() else "does not exist"
        raise ValueError(f"{path} {state}: run the {tier} tier (./run_all.sh --tier {tier}); its analysis, "
                         f"`python -m analysis results/{tier}`, adds the runs to the history")
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["seed"] = frame["seed"].astype(int)
    for column in NUMERIC:
        frame[column] = pd.to_numeric(frame[column])
    return frame


def commit_trend(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (spec, variant, env) and commit, in the order the commits were first run: seeds scored, mean score and
    median steps/s of the runs that finished."""
    finished = frame.assign(scored=frame.score.notna(),
                            finished_speed=frame.steps_per_second.where(frame.status != "failed"))
    trend = (finished.groupby(GROUP + ["commit"], sort=False)
             .agg(first_date=("date", "min"), runs=("seed", "size"), seeds=("scored", "sum"),
                  mean_score=("score", "mean"), median_steps_per_second=("finished_speed", "median"))
             .reset_index())
    return trend.sort_values(GROUP + ["first_date", "commit"], kind="stable").reset_index(drop=True)


def trend_text(trend: pd.DataFrame) -> str:
    blocks = []
    for (spec, variant, env_id), group in trend.groupby(GROUP, sort=True):
        lines = [f"{spec} / {variant} / {env_id}",
                 f"  {'commit':<18}{'first run':<18}{'seeds':>7}{'mean score':>13}{'median steps/s':>16}"]
        for row in group.itertuples():
            lines.append(f"  {short_commit(row.commit):<18}{row.first_date[:16].replace('T', ' '):<18}"
                         f"{f'{row.seeds}/{row.runs}':>7}{row.mean_score:>13,.1f}{row.median_steps_per_second:>16,.0f}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def plot_trend(trend: pd.DataFrame, title: str, path: Path) -> None:
    """Score and steps/s against commit order (the order commits were first run), one line per (spec, variant,
    env), with the legend below."""
    commits = list(trend.sort_values(["first_date", "commit"]).commit.drop_duplicates())
    position = {commit: index for index, commit in enumerate(commits)}
    lines = trend.groupby(GROUP, sort=True)
    figure, (score_axis, speed_axis) = plt.subplots(
        2, 1, figsize=(max(10.0, 0.6 * len(commits) + 4), 6 + 0.2 * lines.ngroups), sharex=True, layout="constrained")
    for colour, ((spec, variant, env_id), group) in zip(sns.color_palette("husl", lines.ngroups), lines):
        x = group.commit.map(position)
        label = f"{spec} / {variant} / {env_id}"
        score_axis.plot(x, group.mean_score, marker="o", color=colour, label=label)
        speed_axis.plot(x, group.median_steps_per_second, marker="o", color=colour)
    score_axis.set_ylabel("mean score over seeds")
    speed_axis.set_ylabel("median steps/s")
    speed_axis.set_xticks(range(len(commits)), [short_commit(commit) for commit in commits], rotation=45, ha="right")
    speed_axis.set_xlabel("commit (in the order first run)")
    score_axis.set_title(title)
    figure.legend(loc="outside lower center", ncols=2 if lines.ngroups > 6 else 1, fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")  # the legend may be wider than the axes
    plt.close(figure)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis history",
        description="Print the trend over commits of every (spec, variant, env) in a tier's history "
                    "(results/history/<tier>.csv): per commit, in the order commits were first run, the seeds "
                    "scored, the mean score and the median steps/s; and plot score and steps/s against commit order.")
    parser.add_argument("--tier", default="nightly", help="whose history (default nightly)")
    parser.add_argument("--spec", help="only this spec (experiment), e.g. ppo_baselines")
    parser.add_argument("--algo", help="only this algorithm, e.g. ppo")
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY_DIR, metavar="DIR",
                        help=f"the history directory (default {DEFAULT_HISTORY_DIR})")
    parser.add_argument("--figure", type=Path, metavar="PATH", help="where to write the figure "
                        "(default DIR/<tier>_trend.png)")
    return parser.parse_args(argv)


def select(frame: pd.DataFrame, column: str, value: str | None, path: Path) -> pd.DataFrame:
    if value is None:
        return frame
    if value not in set(frame[column]):
        known = ", ".join(sorted(set(frame[column])))
        raise ValueError(f"--{column} {value!r}: no such runs in {path}; it has {known}")
    return frame[frame[column] == value]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        frame = load_history(args.history, args.tier)
        path = history_path(args.history, args.tier)
        frame = select(select(frame, "spec", args.spec, path), "algo", args.algo, path)
        if frame.empty:
            raise ValueError(f"{path} has no runs of spec {args.spec!r} with algo {args.algo!r}")
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    trend = commit_trend(frame)
    scope = " ".join(part for part in (args.spec, args.algo) if part) or "all specs"
    figure = args.figure or args.history / f"{args.tier}_trend.png"
    plot_trend(trend, f"{args.tier} history: {scope}", figure)
    print(f"Trend over commits, {args.tier} tier, {scope} (seeds = scored / runs):\n")
    print(trend_text(trend))
    print(f"\nFigure: {figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
