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


def aggregates_section(runs: list[SeedRun], plan: TierPlan, verdicts: list[ClaimVerdict], palette: dict,
                       figures: Path, reps: int) -> list[str]:
    """Markdown lines of the report's aggregate section; its figures are written to `figures`."""
    normalization = plan.normalization
    tasks = scaled_tasks(runs, normalization)
    matrices = score_matrices(runs, tasks, normalization) if tasks else {}
    if not matrices:
        return ["*No task with a declared scale (human-normalised Atari or a reference score) has completed runs: "
                "nothing to aggregate.*"]
    estimates = aggregate_estimates(matrices, reps, BOOTSTRAP_SEED)
    metric_names = list(next(iter(estimates.values())))
    lines = [f"Normalised final scores over {len(tasks)} task(s): {', '.join(tasks)}; "
             + "; ".join(f"{env_id}: {normalization.describe(env_id)}" for env_id in tasks) + ".", "",
             "| variant | seeds | " + " | ".join(metric_names) + " |", "|---|---|" + "---|" * len(metric_names)]
    for variant, metrics in estimates.items():
        cells = [f"{format_number(point, 2)} [{format_number(low, 2)}, {format_number(high, 2)}]"
                 for point, low, high in metrics.values()]
        lines.append(f"| {variant} | {matrices[variant].shape[0]} | " + " | ".join(cells) + " |")
    lines.append("")
    plot_aggregates(estimates, figures / "aggregates.png", palette=palette)
    plot_performance_profiles(matrices, figures / "performance_profiles.png", reps, BOOTSTRAP_SEED, palette=palette)
    lines += ["![Aggregate scores](figures/aggregates.png)", "",
              "![Performance profiles](figures/performance_profiles.png)", ""]
    pairs = {(verdict.a, verdict.b): (verdict.probability_of_improvement, *verdict.poi_ci)
             for verdict in verdicts if verdict.probability_of_improvement is not None
             and verdict.score == "final"}  # the final-score claims: what this section aggregates
    if pairs:
        plot_probability_of_improvement(pairs, figures / "probability_of_improvement.png", palette=palette)
        lines += ["![Probability of improvement](figures/probability_of_improvement.png)", ""]
    curves = {variant: arrays for variant in matrices
              if (arrays := curve_arrays(runs, variant, tasks, plan.score_rule, normalization)) is not None}
    if curves:
        x_label = "environment steps" if len(tasks) == 1 else "fraction of each task's budget"
        plot_sample_efficiency(curves, figures / "sample_efficiency.png", reps, BOOTSTRAP_SEED, palette=palette,
                               x_label=x_label)
        lines += [f"![IQM against {x_label}](figures/sample_efficiency.png)", ""]
    return lines


def summary_rows_section(runs: list[SeedRun], plan: TierPlan, reps: int) -> list[str]:
    """The paper's own summary rows (e.g. A3C's Table 1: mean and median human-normalised score and training time
    per method) beside the same statistics of ours over the Atari games this tier ran, each normalised with the
    table its scores were measured under; or, for a `best_of` scale (PPO's Table 1), each setting's mean
    normalised score over its runs beside the published one."""
    summary = plan.published_summary
    if not summary:
        return []
    with open(PUBLISHED_DIR / summary.file, newline="") as handle:
        rows = {row[summary.key]: row for row in csv.DictReader(handle)}
    if summary.table == "best_of":
        return best_of_summary_lines(runs, plan.normalization, summary, rows, reps)
    ours_table = plan.normalization.atari_table
    columns = summary.columns
    lines = ["## The paper's summary rows", "",
             f"Published: {summary.file} (normalised with `{summary.table}`); ours: the mean over seeds of each "
             f"Atari game this tier ran, normalised with `{ours_table}` (the protocol our games were played under).",
             "", "| variant | published training | published mean | published median | our games | our mean | our median |",
             "|---|---|---|---|---|---|---|"]
    for variant, method in summary.rows.items():
        published = rows[method]
        per_game = {}
        for run in runs:
            if run.variant == variant and run.problem is None and envs.family_of(run.env)[0] == "atari" and ours_table:
                per_game.setdefault(run.env, []).append(human_normalized(run.env, run.summary["score"], ours_table).normalized)
        means = [100 * float(np.mean(scores)) for scores in per_game.values()]
        ours = (f"{np.mean(means):.1f}%", f"{np.median(means):.1f}%") if means else ("not run", "not run")
        lines.append(f"| {variant} | {published.get(columns.get('training', ''), '')} | {published[columns['mean']]}% | "
                     f"{published[columns['median']]}% | {len(means)} | {ours[0]} | {ours[1]} |")
    return lines + [""]


def best_of_summary_lines(runs: list[SeedRun], normalization: Normalization, summary: PublishedSummary, rows: dict,
                          reps: int) -> list[str]:
    """Each setting's mean normalised score over its runs (seeds x tasks), with a stratified-bootstrap CI, beside
    the published average; a setting that has not run on every task yet says how far it got."""
    tasks = scaled_tasks(runs, normalization)
    matrices = score_matrices(runs, tasks, normalization) if tasks else {}
    chosen = {variant: matrices[variant] for variant in summary.rows if variant in matrices}
    estimates = aggregate_estimates(chosen, reps, BOOTSTRAP_SEED) if chosen else {}
    column = summary.columns["mean"]
    lines = ["## The paper's table beside ours", "",
             f"Published: {summary.file}, column `{column}`. Ours: the mean normalised score over each setting's runs "
             f"on the {len(tasks)} task(s) scaled so far ({', '.join(tasks) or 'none'}), each task scaled so that "
             "the random policy scores 0 and the best setting's mean 1 (the references are listed at the top), with "
             f"its 95% stratified-bootstrap CI ({reps} resamples).", "",
             "| setting | published | ours [95% CI] | runs (seeds x tasks) |", "|---|---|---|---|"]
    for variant, row_key in summary.rows.items():
        completed = sum(1 for run in runs if run.variant == variant and run.problem is None)
        if variant in estimates:
            point, low, high = estimates[variant]["Mean"]
            ours = f"{format_number(point, 2)} [{format_number(low, 2)}, {format_number(high, 2)}]"
            shape = f"{chosen[variant].shape[0]} x {chosen[variant].shape[1]}"
        else:
            ours = "not run on every task yet"
            shape = f"{completed} run(s) completed"
        lines.append(f"| {variant} | {rows[row_key][column]} | {ours} | {shape} |")
    return lines + [""]
