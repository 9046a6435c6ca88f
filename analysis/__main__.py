"""`python -m analysis RESULTS_DIR`: tables, figures and reports for every experiment of a sweep."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import seaborn as sns

from analysis import history, regress
from analysis.aggregates import aggregates_section, summary_rows_section
from analysis.figures import plot_final_scores, plot_learning_curves, plot_wall_clock_curves
from analysis.html import write_html_report
from analysis.judging import claims_section, judge_all
from analysis.report import experiment_report, index_markdown, markdown_table, report_markdown, sweep_line
from analysis.report_file import REPORT_JSON, ExperimentReport, IndexEntry, IndexReport, report_json
from analysis.table import (experiment_dirs, load_runs, read_json, score_table, scores_table, table_csv,
                            with_best_of_references)
from analysis.verdicts_file import VerdictsFile, read_verdicts_file
from common.rundir import git_commit
from core.files import write_atomic, write_json
from runner.spec import SPECS_DIR, SpecError, load_spec
from runner.sweep import PLAN, TierPlan, read_plan

DEFAULT_REPS = 2000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Aggregate a sweep's results. For every RESULTS_DIR/<experiment>/spec.json, write table.csv, "
                    "verdicts.json, report.json (the report as data), report.md (rendered from it) and "
                    "figures/*.png beside it, then RESULTS_DIR/report.json and report.md (an index of all "
                    "experiments) and RESULTS_DIR/report.html (one page of them all), and print the score tables. "
                    "Seeds that are missing, unfinished, failed or diverged are named in each row's 'missing / "
                    "failed' column, never averaged. An experiment with no run directory on disk keeps the report, "
                    "table and figures it has (e.g. committed ones), so that one experiment can be rerun and "
                    "re-analysed alone. Reports record the git commit they were written at and the commits the runs "
                    "were made at. Subcommands: "
                    "`python -m analysis history --help` (the trend of every result over commits) and "
                    "`python -m analysis regress --help` (the regression alarm).")
    parser.add_argument("results_dir", type=Path, metavar="RESULTS_DIR",
                        help="directory of experiment folders written by the sweep runner, e.g. results/smoke")
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]",
                        help="analyse only these experiments; the others' reports stay as they are")
    parser.add_argument("--reps", type=int, default=DEFAULT_REPS,
                        help=f"bootstrap resamples per 95%% CI (default {DEFAULT_REPS}); the random state is fixed, "
                             "so the same results and --reps always give the same CIs")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps: expected a positive number of resamples, got {args.reps}")
    return args


def find_experiments(results_dir: Path) -> list[Path]:
    """The experiment folders; raises ValueError with what to do when there are none."""
    if not results_dir.is_dir():
        raise ValueError(f"{results_dir} is not a directory; pass the sweep's results directory, e.g. results/smoke")
    if (results_dir / "spec.json").is_file() or (results_dir / PLAN).is_file():
        raise ValueError(f"{results_dir} is a single experiment; pass its parent directory {results_dir.parent}")
    experiments = experiment_dirs(results_dir)
    if not experiments:
        raise ValueError(f"{results_dir} holds no <experiment>/runs/plan.json or <experiment>/spec.json; run the sweep "
                         "first or check the path")
    return experiments


def analyse_experiment(experiment_dir: Path, plan: TierPlan, reps: int, commit: str) -> ExperimentReport | None:
    """Write the experiment's table, figures and report (report.json, and report.md rendered from it) and return the
    report; None, writing nothing, when none of its runs is on disk (its existing report stays as it is)."""
    runs = load_runs(experiment_dir, plan)
    if not any(run.run_dir.is_dir() for run in runs):
        return None
    plan = with_best_of_references(plan, runs)
    table = score_table(runs, plan, reps)
    variants = plan.variant_names()
    palette = dict(zip(variants, sns.color_palette(n_colors=len(variants))))  # one colour per variant in both figures
    plot_learning_curves(runs, plan, palette, experiment_dir / "figures" / "learning_curves.png")
    plot_wall_clock_curves(runs, plan, palette, experiment_dir / "figures" / "wall_clock_curves.png")
    plot_final_scores(runs, table, plan, palette, experiment_dir / "figures" / "final_scores.png")
    verdicts = judge_all(plan, runs, reps)
    # Where the verdicts came from travels with them, so a page that shows them needs no other file.
    runs_commits = sorted({config["git_commit"] for run in runs if run.run_dir.is_dir()
                           if (config := read_json(run.run_dir / "config.json")) and config.get("git_commit")})
    write_json(experiment_dir / "verdicts.json", VerdictsFile(
        experiment=plan.name, title=plan.title, tier=plan.tier, reps=reps, verdicts=verdicts, commit=commit,
        runs_commits=runs_commits, date=datetime.now(timezone.utc).date().isoformat()).model_dump(mode="json"))
    write_atomic(experiment_dir / "table.csv", table_csv(table))
    # the plan these results answer, committed beside the report
    write_json(experiment_dir / "spec.json", plan.model_dump(mode="json"))
    report = experiment_report(
        plan, runs, claims_section(verdicts, reps), scores_table(table),
        aggregates_section(runs, plan, verdicts, palette, experiment_dir / "figures", reps),
        summary_rows_section(runs, plan, reps), reps, commit)
    write_atomic(experiment_dir / REPORT_JSON, report_json(report))
    write_atomic(experiment_dir / "report.md", report_markdown(report))
    return report


def with_current_diagnoses(plan: TierPlan) -> TierPlan:
    """The plan with each claim's diagnosis taken from experiments/<name>.yaml as it is now: a diagnosis is written
    after its results are seen, so the one the runs' commit carried is older than they are. A spec no longer on disk
    (or no longer valid) leaves the plan's own."""
    path = SPECS_DIR / f"{plan.name}.yaml"
    try:
        current = {claim.id: claim for claim in load_spec(path).claims} if path.is_file() else {}
    except SpecError:
        return plan
    return plan.model_copy(update={"claims": [
        replace(claim, diagnosis=current[claim.id].diagnosis) if claim.id in current else claim
        for claim in plan.claims]})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["history"]:
        return history.main(argv[1:])
    if argv[:1] == ["regress"]:
        return regress.main(argv[1:])
    args = parse_args(argv)
    try:
        experiments = find_experiments(args.results_dir)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {path.name for path in experiments})
        if unknown:
            print(f"error: --only: expected experiments of {args.results_dir}: {[p.name for p in experiments]}, "
                  f"got {unknown}", file=sys.stderr)
            return 2
    commit = git_commit()
    entries, tables = [], []
    for number, experiment_dir in enumerate(experiments, 1):
        plan = with_current_diagnoses(read_plan(experiment_dir))
        print(f"[{number}/{len(experiments)}] analysing {experiment_dir}", file=sys.stderr)
        skipped = args.only and experiment_dir.name not in args.only.split(",")
        report = None if skipped else analyse_experiment(experiment_dir, plan, args.reps, commit)
        if skipped:
            pass  # not asked for: its report stays as it is, and the index still links it
        elif report is None:
            has_report = any((experiment_dir / name).is_file() for name in ("report.md", REPORT_JSON))
            kept = "its report.md, table.csv and figures are left as they are" if has_report else "it has no report yet"
            print(f"  no runs of {plan.name} on disk: {kept}", file=sys.stderr)
        else:
            tables.append(f"## {plan.title} ({plan.name}, {plan.tier} tier)\n\n{markdown_table(report.scores)}\n")
        entries.append(IndexEntry(name=experiment_dir.name, title=plan.title))
    index = IndexReport(title=f"Results: {args.results_dir.name}", commit=commit, sweep=sweep_line(args.results_dir),
                        experiments=entries)
    try:
        markdown = index_markdown(index, args.results_dir)
    except ValueError as error:  # a kept experiment's report.json that cannot be read
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_atomic(args.results_dir / REPORT_JSON, report_json(index))
    write_atomic(args.results_dir / "report.md", markdown)
    print("\n".join(tables))
    print(verdict_summary(experiments))
    print(f"Full report with figures: {args.results_dir / 'report.md'}")
    print(f"Page (open in a browser, works offline): {write_html_report(args.results_dir)}")
    if args.results_dir.name in history.HISTORY_TIERS:  # smoke runs are not history
        tier, history_dir = args.results_dir.name, args.results_dir.parent / "history"
        added, dirty = history.ingest(args.results_dir, tier, history_dir)
        print(f"History: {added} new run(s) added to {history.history_path(history_dir, tier)}")
        if dirty:
            print(f"History: {dirty} run(s) left out, made from uncommitted changes (-dirty): a baseline must be code "
                  "that can be checked out again; commit, then rerun them", file=sys.stderr)
    return 0


def verdict_summary(experiments: list[Path]) -> str:
    """One line per claim of every experiment, from the verdicts.json files the analysis wrote (or kept)."""
    lines = ["## Verdicts", ""]
    for experiment_dir in experiments:
        judged = read_verdicts_file(experiment_dir / "verdicts.json", experiment_dir.name)
        if judged is None:
            lines.append(f"- {experiment_dir.name}: no verdicts (not analysed with claims yet)")
            continue
        if not judged.verdicts:
            lines.append(f"- {experiment_dir.name}: no claim is judged in the {judged.tier} tier (the spec's claims "
                         "name the tiers whose budgets can judge them, nightly and paper by default)")
        for verdict in judged.verdicts:
            poi, difference = verdict.probability_of_improvement, verdict.difference
            if verdict.decided_by == "aggregate_difference" and difference is not None:
                low, high = verdict.difference_ci
                estimate = f", {verdict.aggregate} difference {difference:+.3g} [{low:+.3g}, {high:+.3g}] (decides)"
            elif poi is not None:
                low, high = verdict.poi_ci
                estimate = f", P({verdict.a} > {verdict.b}) = {poi:.2f} [{low:.2f}, {high:.2f}]"
            else:
                estimate = ""
            lines.append(f"- {experiment_dir.name} / {verdict.claim}: {verdict.verdict.upper()}{estimate} "
                         f"({verdict.form}; {verdict.tasks} task(s))"
                         + (f": {verdict.reason}" if verdict.verdict == "not judged" else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
