"""The Markdown report of one experiment, and the index of all of them (each report with deeper headings and
paths from RESULTS_DIR)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from analysis.table import SeedRun, read_json
from common.rundir import package_versions
from runner.sweep import SWEEPS, SweepRecord, TierPlan


def protocol_lines(runs: list[SeedRun]) -> list[str]:
    """The protocol the runs recorded in config.json: one line, or one per environment when they differ."""
    protocols = {}
    for run in runs:
        config = read_json(run.run_dir / "config.json") if run.env not in protocols else None
        if config and config.get("protocol"):
            protocols[run.env] = ", ".join(f"{key}={value}" for key, value in config["protocol"].items())
    if not protocols:
        return ["- **Protocol:** not recorded (no run has written its config.json yet)"]
    if len(set(protocols.values())) == 1:
        return [f"- **Protocol:** {next(iter(protocols.values()))}"]
    return [f"- **Protocol ({env}):** {protocol}" for env, protocol in protocols.items()]


def provenance_line() -> str:
    """When the report was written and with which versions of what computed it."""
    versions = ", ".join(f"{name} {version}" for name, version in package_versions().items())
    return f"- **Written:** {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC; {versions}"


def commit_lines(runs: list[SeedRun], analysis_commit: str) -> list[str]:
    """The commit this report was made at, and the commits the runs' config.json recorded when they differ."""
    commits = Counter((read_json(run.run_dir / "config.json") or {}).get("git_commit", "not recorded")
                      for run in runs if run.run_dir.is_dir())
    lines = [f"- **Report written at commit:** `{analysis_commit}`"]
    if not commits:
        return lines
    if set(commits) == {analysis_commit}:
        return lines + ["- **Runs' commit:** the same"]
    runs_text = ", ".join(f"`{commit}` ({count} run{'s' * (count != 1)})" for commit, count in commits.most_common())
    return lines + [f"- **Runs' commit{'s' * (len(commits) != 1)}:** {runs_text}"]


def budget_text(total_steps: dict[str, int]) -> str:
    """One number, or one per environment when the spec gives each its own."""
    if len(set(total_steps.values())) == 1:
        return f"{next(iter(total_steps.values())):,}"
    return ", ".join(f"{steps:,} ({env_id})" for env_id, steps in total_steps.items())


def variant_budget_lines(plan: TierPlan) -> list[str]:
    """Variants the tier gives their own environments or budget, with the spec's reason."""
    return [f"  - `{name}`: {budget_text(own.total_steps)} steps on {', '.join(own.environments)}: {own.why}"
            for name, own in plan.per_variant.items()]


def published_lines(plan: TierPlan) -> list[str]:
    sources = dict.fromkeys((entry.source, entry.protocol) for entry in plan.published)
    return [f"- **Published numbers:** {source}" + (f"; measured under: {protocol}" if protocol else "")
            for source, protocol in sources]


def context_lines(plan: TierPlan) -> list[str]:
    sources = dict.fromkeys((entry.label, entry.source, entry.protocol) for entry in plan.context)
    return [f"- **Context, not the paper's ({label}):** {source}; measured under: {protocol}"
            for label, source, protocol in sources]


def normalization_lines(plan: TierPlan) -> list[str]:
    """How each environment's scores are made comparable (the table's `normalised` column)."""
    return [f"- **Normalised ({env_id}):** {plan.normalization.describe(env_id)}" for env_id in plan.environments]


def experiment_report(plan: TierPlan, runs: list[SeedRun], claims_md: str, table_md: str, aggregates_md: str,
                      reps: int, analysis_commit: str) -> str:
    reproduces = plan.reproduces
    cited = ", ".join(str(reproduces[key]) for key in ("paper", "table") if reproduces.get(key))
    seeds = plan.seeds
    lines = [f"# {plan.title}", "", f"Experiment `{plan.name}`.", ""]
    if reproduces:
        lines.append(f"- **Reproduces:** {cited}" + (f": {reproduces['claim']}" if reproduces.get("claim") else ""))
    lines += [
        f"- **Tier:** {plan.tier}",
        f"- **Budget:** {budget_text(plan.total_steps)} environment steps per run; {len(seeds)} seeds "
        f"({', '.join(map(str, seeds))}) per variant and environment",
        *variant_budget_lines(plan),
        *published_lines(plan),
        *context_lines(plan),
        *normalization_lines(plan),
        f"- **Score:** {plan.score_rule_text} (`{plan.score_rule}`); 95% CI: percentile bootstrap of the mean "
        f"over completed seeds (rliable, {reps} resamples)",
        *protocol_lines(runs),
        *commit_lines(runs, analysis_commit),
        provenance_line(),
        "",
        "## Claims",
        "",
        claims_md,
        "",
        "## Scores",
        "",
        table_md,
        "",
        "![Learning curves](figures/learning_curves.png)",
        "",
        "![Learning curves against wall-clock time](figures/wall_clock_curves.png)",
        "",
        "![Final scores per seed](figures/final_scores.png)",
        "",
        "## Aggregates across tasks (rliable)",
        "",
        aggregates_md,
        "",
    ]
    return "\n".join(lines)


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
