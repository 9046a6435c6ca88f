"""The Markdown report of one experiment, and the index of all of them (each report with deeper headings and
paths from RESULTS_DIR)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from analysis.rendering import render
from analysis.table import SeedRun, read_json
from common.rundir import package_versions
from runner.sweep import SWEEPS, SweepRecord, TierPlan


def recorded_protocols(runs: list[SeedRun]) -> dict[str, str]:
    """env id -> the protocol its runs recorded in config.json (the first run that wrote one)."""
    protocols = {}
    for run in runs:
        config = read_json(run.run_dir / "config.json") if run.env not in protocols else None
        if config and config.get("protocol"):
            protocols[run.env] = ", ".join(f"{key}={value}" for key, value in config["protocol"].items())
    return protocols


def runs_commits(runs: list[SeedRun]) -> Counter:
    """How many runs on disk each commit made, as their config.json recorded it."""
    return Counter((read_json(run.run_dir / "config.json") or {}).get("git_commit", "not recorded")
                   for run in runs if run.run_dir.is_dir())


def experiment_report(plan: TierPlan, runs: list[SeedRun], claims_md: str, table_md: str, aggregates_md: str,
                      reps: int, analysis_commit: str) -> str:
    """report.md: what was run and under which protocol, at which commits and with which versions; then the claims,
    the scores and the aggregates."""
    return render(
        "report.md.j2", plan=plan, reps=reps, claims_md=claims_md, table_md=table_md, aggregates_md=aggregates_md,
        cited=", ".join(str(plan.reproduces[key]) for key in ("paper", "table") if plan.reproduces.get(key)),
        published_sources=dict.fromkeys((entry.source, entry.protocol) for entry in plan.published),
        context_sources=dict.fromkeys((entry.label, entry.source, entry.protocol) for entry in plan.context),
        protocols=recorded_protocols(runs), analysis_commit=analysis_commit, runs_commits=runs_commits(runs),
        written=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}", versions=package_versions())


def index_section(report: str, experiment: str) -> str:
    """An experiment's report.md inside RESULTS_DIR/report.md: headings one level deeper, links from RESULTS_DIR."""
    report = re.sub(r"^#", "##", report, flags=re.MULTILINE)
    return re.sub(r"\]\((?![a-z]+:|/)", f"]({experiment}/", report)


def sweep_line(results_dir: Path) -> str | None:
    """What the newest sweep of this tier ran and its wall time, from RESULTS/<tier>/sweeps/ (runner.sweep); None when
    no sweep recorded one here."""
    records = sorted((results_dir / SWEEPS).glob("*.json"))
    if not records:
        return None
    sweep = SweepRecord(**json.loads(records[-1].read_text()))
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(sweep.started))
    how = ("in one go: every planned run made from its start, nothing kept or resumed" if sweep.in_one_go else
           f"{sweep.runs_planned - sweep.runs_to_run} of its runs were kept from before and {sweep.runs_resumed} "
           f"resumed from a checkpoint, so this is not the tier's time in one go"
           + (", and it was interrupted" if sweep.interrupted else ""))
    return (f"Newest sweep: {sweep.runs_to_run} of {sweep.runs_planned} runs of {len(sweep.experiments)} experiment(s) "
            f"({', '.join(sweep.experiments)}) on {sweep.workers} worker(s) ({sweep.backend}, {sweep.machine_cores} "
            f"cores), started {started} at commit `{sweep.commit}`: **wall time {sweep.wall_seconds / 60:.1f} min**, "
            f"{how}; {sweep.runs_failed} run(s) failed.")
