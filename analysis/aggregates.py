"""An experiment's scores across tasks, as rliable reports them: IQM, median, mean and optimality gap of the
normalised final scores with stratified-bootstrap CIs, score distributions (performance profiles), the
probability of improvement of each claim's pair, and IQM against environment steps.

Only tasks with a declared scale take part (human-normalised Atari, or a spec's reference score); a variant is
aggregated over the tasks on which it has completed seeds, with the same number of seeds on each (the smallest).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

import envs

from analysis.aggregate_figures import (plot_aggregates, plot_performance_profiles, plot_probability_of_improvement,
                                        plot_sample_efficiency)
from analysis.judging import learning_curve
from analysis.report_file import (Block, Column, Figure, Figures, Paragraph, Section, TableBlock, code, emphasis,
                                  table_of, text)
from analysis.table import BOOTSTRAP_SEED, SeedRun, format_number
from analysis.verdicts import aggregate_estimates
from analysis.verdicts_file import ClaimVerdict
from envs.scores import human_normalized
from runner.claims import PUBLISHED_DIR, Normalization, PublishedSummary, normalize
from runner.sweep import TierPlan

CURVE_POINTS = 50  # points of the IQM-against-steps curve


def scaled_tasks(runs: list[SeedRun], normalization: Normalization) -> list[str]:
    return [env_id for env_id in dict.fromkeys(run.env for run in runs)
            if normalize(env_id, 0.0, normalization) is not None]


def score_matrices(runs: list[SeedRun], tasks: list[str], normalization: Normalization) -> dict[str, np.ndarray]:
    """variant -> (seeds x tasks) normalised final scores, for the variants that completed seeds on every task."""
    matrices = {}
    for variant in dict.fromkeys(run.variant for run in runs):
        columns = [[normalize(env_id, run.summary["score"], normalization) for run in runs
                    if run.variant == variant and run.env == env_id and run.problem is None] for env_id in tasks]
        seeds = min(len(column) for column in columns)
        if seeds:
            matrices[variant] = np.array([column[:seeds] for column in columns], dtype=float).T
    return matrices


def curve_arrays(runs: list[SeedRun], variant: str, tasks: list[str], score_rule: str,
                 normalization: Normalization) -> tuple[np.ndarray, np.ndarray] | None:
    """(x, seeds x tasks x points) of normalised learning curves. x is environment steps on one task; across
    tasks with different budgets it is the fraction of each task's budget."""
    fractions = np.linspace(0.0, 1.0, CURVE_POINTS)
    per_task, last_steps = [], []
    for env_id in tasks:
        seeds = [run for run in runs if run.variant == variant and run.env == env_id and run.problem is None]
        curves = [learning_curve(run, score_rule).sort_values("step", kind="stable") for run in seeds]
        curves = [curve for curve in curves if not curve.empty]
        if not curves:
            return None
        last_steps.append(min(curve.step.iloc[-1] for curve in curves))
        per_task.append([[normalize(env_id, value, normalization) for value in
                          np.interp(fractions * last_steps[-1], curve.step, curve.score)] for curve in curves])
    seeds = min(len(task) for task in per_task)
    x = fractions * last_steps[0] if len(tasks) == 1 else fractions
    return x, np.array([[task[seed] for task in per_task] for seed in range(seeds)], dtype=float)


def interval_cell(point: float, low: float, high: float) -> str:
    return f"{format_number(point, 2)} [{format_number(low, 2)}, {format_number(high, 2)}]"


def aggregates_section(runs: list[SeedRun], plan: TierPlan, verdicts: list[ClaimVerdict], palette: dict,
                       figures: Path, reps: int) -> list[Block]:
    """The report's aggregate section; its figures are written to `figures`."""
    normalization = plan.normalization
    tasks = scaled_tasks(runs, normalization)
    matrices = score_matrices(runs, tasks, normalization) if tasks else {}
    if not matrices:
        return [Paragraph(text=text(emphasis(
            "No task with a declared scale (human-normalised Atari or a reference score) has completed runs: nothing "
            "to aggregate.")))]
    estimates = aggregate_estimates(matrices, reps, BOOTSTRAP_SEED)
    metric_names = list(next(iter(estimates.values())))
    blocks = [
        Paragraph(text=text(f"Normalised final scores over {len(tasks)} task(s): {', '.join(tasks)}; "
                            + "; ".join(f"{env_id}: {normalization.describe(env_id)}" for env_id in tasks) + ".")),
        TableBlock(table=table_of(
            [Column(header="variant"), Column(header="seeds", numeric=True),
             *(Column(header=name, numeric=True) for name in metric_names)],
            [[variant, str(matrices[variant].shape[0]), *(interval_cell(*values) for values in metrics.values())]
             for variant, metrics in estimates.items()]))]
    plot_aggregates(estimates, figures / "aggregates.png", palette=palette)
    plot_performance_profiles(matrices, figures / "performance_profiles.png", reps, BOOTSTRAP_SEED, palette=palette)
    drawn = [Figure(path="figures/aggregates.png", alt="Aggregate scores"),
             Figure(path="figures/performance_profiles.png", alt="Performance profiles")]
    pairs = {(verdict.a, verdict.b): (verdict.probability_of_improvement, *verdict.poi_ci)
             for verdict in verdicts if verdict.probability_of_improvement is not None
             and verdict.score == "final"}  # the final-score claims: what this section aggregates
    if pairs:
        plot_probability_of_improvement(pairs, figures / "probability_of_improvement.png", palette=palette)
        drawn.append(Figure(path="figures/probability_of_improvement.png", alt="Probability of improvement"))
    curves = {variant: arrays for variant in matrices
              if (arrays := curve_arrays(runs, variant, tasks, plan.score_rule, normalization)) is not None}
    if curves:
        x_label = "environment steps" if len(tasks) == 1 else "fraction of each task's budget"
        plot_sample_efficiency(curves, figures / "sample_efficiency.png", reps, BOOTSTRAP_SEED, palette=palette,
                               x_label=x_label)
        drawn.append(Figure(path="figures/sample_efficiency.png", alt=f"IQM against {x_label}"))
    return blocks + [Figures(figures=drawn)]


def summary_rows_section(runs: list[SeedRun], plan: TierPlan, reps: int) -> Section | None:
    """The paper's own summary rows (e.g. A3C's Table 1: mean and median human-normalised score and training time
    per method) beside the same statistics of ours over the Atari games this tier ran, each normalised with the
    table its scores were measured under; or, for a `best_of` scale (PPO's Table 1), each setting's mean
    normalised score over its runs beside the published one. None when the spec names no such table."""
    summary = plan.published_summary
    if not summary:
        return None
    with open(PUBLISHED_DIR / summary.file, newline="") as handle:
        rows = {row[summary.key]: row for row in csv.DictReader(handle)}
    if summary.table == "best_of":
        return best_of_summary(runs, plan.normalization, summary, rows, reps)
    ours_table = plan.normalization.atari_table
    columns = summary.columns
    table_rows = []
    for variant, method in summary.rows.items():
        published = rows[method]
        per_game = {}
        for run in runs:
            if run.variant == variant and run.problem is None and envs.family_of(run.env)[0] == "atari" and ours_table:
                per_game.setdefault(run.env, []).append(human_normalized(run.env, run.summary["score"], ours_table).normalized)
        means = [100 * float(np.mean(scores)) for scores in per_game.values()]
        ours = (f"{np.mean(means):.1f}%", f"{np.median(means):.1f}%") if means else ("not run", "not run")
        table_rows.append([variant, published.get(columns.get("training", ""), ""), f"{published[columns['mean']]}%",
                           f"{published[columns['median']]}%", str(len(means)), *ours])
    headers = ("variant", "published training", "published mean", "published median", "our games", "our mean",
               "our median")
    return Section(heading="The paper's summary rows", blocks=[
        Paragraph(text=text(f"Published: {summary.file} (normalised with ", code(summary.table), "); ours: the mean "
                            "over seeds of each Atari game this tier ran, normalised with ", code(str(ours_table)),
                            " (the protocol our games were played under).")),
        TableBlock(table=table_of([Column(header=header, numeric=header in ("published mean", "published median",
                                                                           "our games", "our mean", "our median"))
                                   for header in headers], table_rows))])


def best_of_summary(runs: list[SeedRun], normalization: Normalization, summary: PublishedSummary, rows: dict,
                    reps: int) -> Section:
    """Each setting's mean normalised score over its runs (seeds x tasks), with a stratified-bootstrap CI, beside
    the published average; a setting that has not run on every task yet says how far it got."""
    tasks = scaled_tasks(runs, normalization)
    matrices = score_matrices(runs, tasks, normalization) if tasks else {}
    chosen = {variant: matrices[variant] for variant in summary.rows if variant in matrices}
    estimates = aggregate_estimates(chosen, reps, BOOTSTRAP_SEED) if chosen else {}
    column = summary.columns["mean"]
    table_rows = []
    for variant, row_key in summary.rows.items():
        completed = sum(1 for run in runs if run.variant == variant and run.problem is None)
        if variant in estimates:
            ours = interval_cell(*estimates[variant]["Mean"])
            shape = f"{chosen[variant].shape[0]} x {chosen[variant].shape[1]}"
        else:
            ours = "not run on every task yet"
            shape = f"{completed} run(s) completed"
        table_rows.append([variant, rows[row_key][column], ours, shape])
    return Section(heading="The paper's table beside ours", blocks=[
        Paragraph(text=text(f"Published: {summary.file}, column ", code(column), ". Ours: the mean normalised score "
                            f"over each setting's runs on the {len(tasks)} task(s) scaled so far "
                            f"({', '.join(tasks) or 'none'}), each task scaled so that the random policy scores 0 and "
                            "the best setting's mean 1 (the references are listed at the top), with its 95% "
                            f"stratified-bootstrap CI ({reps} resamples).")),
        TableBlock(table=table_of([Column(header="setting"), Column(header="published", numeric=True),
                                   Column(header="ours [95% CI]", numeric=True), Column(header="runs (seeds x tasks)")],
                                  table_rows))])
