"""One experiment's report as data (analysis.report_file.ExperimentReport, written as report.json) and its report.md
rendered from it; the index of all of them (RESULTS_DIR/report.json and report.md, each experiment's report with
deeper headings and paths from RESULTS_DIR). The words of the facts at the top of a report are put together here,
once, for report.md and report.html alike (fact_list)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from analysis.rendering import budget, macro, plural, render
from analysis.report_file import (REPORT_JSON, Block, Claims, ExperimentReport, Facts, Figure, IndexReport, RunsCommit,
                                  Section, Source, Table, Text, VariantBudget, code, read_experiment_report, strong,
                                  text)
from analysis.table import SeedRun, read_json
from common.rundir import package_versions
from runner.sweep import SWEEPS, SweepRecord, TierPlan

FIGURES = (Figure(path="figures/learning_curves.png", alt="Learning curves"),
           Figure(path="figures/wall_clock_curves.png", alt="Learning curves against wall-clock time"),
           Figure(path="figures/final_scores.png", alt="Final scores per seed"))  # analysis.figures draws them


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


def facts(plan: TierPlan, runs: list[SeedRun], reps: int, analysis_commit: str) -> Facts:
    """What was run and under which protocol, at which commits and with which versions."""
    return Facts(
        reproduces=plan.reproduces, tier=plan.tier, total_steps=plan.total_steps, seeds=plan.seeds,
        per_variant=[VariantBudget(variant=name, total_steps=own.total_steps, environments=own.environments,
                                   why=own.why) for name, own in plan.per_variant.items()],
        published=[Source(source=source, protocol=protocol)
                   for source, protocol in dict.fromkeys((entry.source, entry.protocol) for entry in plan.published)],
        context=[Source(source=source, protocol=protocol, label=label) for label, source, protocol in
                 dict.fromkeys((entry.label, entry.source, entry.protocol) for entry in plan.context)],
        normalization={env_id: plan.normalization.describe(env_id) for env_id in plan.environments},
        score_rule=plan.score_rule, score_rule_text=plan.score_rule_text, reps=reps,
        protocols=recorded_protocols(runs), commit=analysis_commit,
        runs_commits=[RunsCommit(commit=commit, runs=count) for commit, count in runs_commits(runs).most_common()],
        written=f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M}", versions=package_versions())


@dataclass(frozen=True)
class Fact:
    """One line of the facts at the top of a report: `- **label:** value` in Markdown, a term and its definition on
    the page; `items` under it."""
    label: str
    value: Text
    items: list[Text] = field(default_factory=list)


def fact_list(facts: Facts) -> list[Fact]:
    """The facts of a report in words, in the order they are shown."""
    lines = []
    if facts.reproduces:
        cited = ", ".join(str(facts.reproduces[key]) for key in ("paper", "table") if facts.reproduces.get(key))
        claim = facts.reproduces.get("claim")
        lines.append(Fact("Reproduces", text(cited + (f": {claim}" if claim else ""))))
    lines.append(Fact("Tier", text(facts.tier)))
    lines.append(Fact("Budget", text(
        f"{budget(facts.total_steps)} environment steps per run; {len(facts.seeds)} seeds "
        f"({', '.join(map(str, facts.seeds))}) per variant and environment"),
        [text(code(own.variant), f": {budget(own.total_steps)} steps on {', '.join(own.environments)}: {own.why}"
              if own.environments else f": not run in this tier: {own.why}")
         for own in facts.per_variant]))
    lines += [Fact("Published numbers", text(source.source + (f"; measured under: {source.protocol}"
                                                               if source.protocol else "")))
              for source in facts.published]
    lines += [Fact(f"Context, not the paper's ({source.label})", text(f"{source.source}; measured under: "
                                                                      f"{source.protocol}"))
              for source in facts.context]
    lines += [Fact(f"Normalised ({env_id})", text(how)) for env_id, how in facts.normalization.items()]
    lines.append(Fact("Score", text(f"{facts.score_rule_text} (", code(facts.score_rule), "); 95% CI: percentile "
                                    "bootstrap of the mean over completed seeds (rliable, "
                                    f"{facts.reps} resamples)")))
    if not facts.protocols:
        lines.append(Fact("Protocol", text("not recorded (no run has written its config.json yet)")))
    elif len(set(facts.protocols.values())) == 1:
        lines.append(Fact("Protocol", text(next(iter(facts.protocols.values())))))
    else:
        lines += [Fact(f"Protocol ({env_id})", text(protocol)) for env_id, protocol in facts.protocols.items()]
    lines.append(Fact("Report written at commit", text(code(facts.commit))))
    if [entry.commit for entry in facts.runs_commits] == [facts.commit]:
        lines.append(Fact("Runs' commit", text("the same")))
    elif facts.runs_commits:
        commits = []
        for number, entry in enumerate(facts.runs_commits):
            commits += [code(entry.commit), f" ({plural(entry.runs, 'run')})" + (", " if number + 1 <
                                                                                 len(facts.runs_commits) else "")]
        lines.append(Fact("Runs' commit" + "s" * (len(facts.runs_commits) != 1), text(*commits)))
    lines.append(Fact("Written", text(f"{facts.written} UTC; "
                                      + ", ".join(f"{name} {version}" for name, version in facts.versions.items()))))
    return lines


def experiment_report(plan: TierPlan, runs: list[SeedRun], claims: Claims, scores: Table | None,
                      aggregates: list[Block], summary: Section | None, reps: int,
                      analysis_commit: str) -> ExperimentReport:
    """report.json: what was run and under which protocol, at which commits and with which versions; then the claims,
    the scores and the aggregates."""
    return ExperimentReport(experiment=plan.name, title=plan.title, facts=facts(plan, runs, reps, analysis_commit),
                            claims=claims, scores=scores, figures=list(FIGURES), aggregates=aggregates,
                            summary=summary)


def report_markdown(report: ExperimentReport, depth: int = 0, folder: str = "") -> str:
    """report.md; inside the index, with headings `depth` levels deeper and paths from `folder`."""
    return render("report.md.j2", report=report, facts=fact_list(report.facts), depth=depth, folder=folder)


def markdown_text(words: Text) -> str:
    """Text as report.md writes it."""
    return str(macro("blocks.md.j2", "text")(words))


def markdown_table(table: Table | None) -> str:
    """A table of a report as report.md shows it (the score table is also printed when the analysis ends)."""
    return str(macro("blocks.md.j2", "table")(table)) if table else "*(the spec lists no jobs)*"


def legacy_index_section(report: str, experiment: str) -> str:
    """A report.md written before reports kept their data (report.json), inside RESULTS_DIR/report.md: headings one
    level deeper, links from RESULTS_DIR. Only for the committed reports of that time, until they are made again."""
    report = re.sub(r"^#", "##", report, flags=re.MULTILINE)
    return re.sub(r"\]\((?![a-z]+:|/)", f"]({experiment}/", report)


def index_section(results_dir: Path, name: str, title: str) -> str:
    """An experiment's report inside RESULTS_DIR/report.md: from its report.json; from its report.md when it was
    written before there was one; else a line that says there is no report."""
    experiment_dir = results_dir / name
    if (experiment_dir / REPORT_JSON).is_file():
        return report_markdown(read_experiment_report(experiment_dir / REPORT_JSON, name), 1, f"{name}/")
    if (experiment_dir / "report.md").is_file():
        return legacy_index_section((experiment_dir / "report.md").read_text(), name)
    return f"## {title}\n\nNo runs on disk and no report yet.\n"


def index_markdown(index: IndexReport, results_dir: Path) -> str:
    """RESULTS_DIR/report.md: a link to each experiment's report, then each report."""
    return render("index.md.j2", index=index, sections=[index_section(results_dir, entry.name, entry.title)
                                                        for entry in index.experiments])


def sweep_line(results_dir: Path) -> Text | None:
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
    return text(f"Newest sweep: {sweep.runs_to_run} of {sweep.runs_planned} runs of {len(sweep.experiments)} "
                f"experiment(s) ({', '.join(sweep.experiments)}) on {sweep.workers} worker(s) ({sweep.backend}, "
                f"{sweep.machine_cores} cores), started {started} at commit ", code(sweep.commit), ": ",
                strong(f"wall time {sweep.wall_seconds / 60:.1f} min"), f", {how}; {sweep.runs_failed} run(s) failed.")
