"""Figures of a claim's statistics across tasks, in rliable's manner: aggregate scores with their CIs, score
distributions, probabilities of improvement and IQM sample-efficiency curves, all of scores normalized per task.

Each function writes one PNG atomically (analysis.figures.save_figure) and returns its path. Variants keep one
colour in every figure: pass the experiment's `palette` (variant -> colour); variants it lacks get seaborn's default
colours in the order given.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: analyses run on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402
from rliable import library as rly  # noqa: E402

from analysis.figures import save_figure  # noqa: E402
from analysis.verdicts import CHANCE, bootstrap  # noqa: E402

STYLE = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11, "ytick.labelsize": 11,
         "legend.fontsize": 11, "figure.titlesize": 13}
CI_NOTE = "95% stratified-bootstrap CI"
PROFILE_POINTS = 101  # thresholds tau along the score axis
BAR_HEIGHT = 0.6


def variant_colors(variants: list[str], palette: dict | None) -> dict:
    """The palette's colour, else seaborn's default colour at the variant's position (as analysis.__main__ builds
    the palette)."""
    defaults = sns.color_palette(n_colors=len(variants))
    return {variant: (palette or {}).get(variant, default) for variant, default in zip(variants, defaults)}


def runs_by_tasks(scores: dict[str, np.ndarray], figure: str) -> dict[str, np.ndarray]:
    if not scores:
        raise ValueError(f"{figure}: expected scores of at least one variant, got none")
    matrices = {variant: np.asarray(matrix, dtype=float) for variant, matrix in scores.items()}
    for variant, matrix in matrices.items():
        if matrix.ndim != 2 or matrix.size == 0 or not np.all(np.isfinite(matrix)):
            raise ValueError(f"{figure}: scores of {variant}: expected a non-empty runs x tasks matrix of finite "
                             f"scores, got shape {matrix.shape}")
    return matrices


def interval_rows(axes: plt.Axes, rows: list[tuple[str, tuple[float, float, float]]], colors: list) -> None:
    """One horizontal bar per row spanning its CI, with a black tick at the point estimate; first row on top."""
    for row, ((_, (point, low, high)), color) in enumerate(zip(rows, colors)):
        axes.barh(row, high - low, left=low, height=BAR_HEIGHT, color=color, alpha=0.75)
        axes.vlines(point, row - BAR_HEIGHT / 2, row + BAR_HEIGHT / 2, color="black", linewidth=2.5)
    axes.set_yticks(range(len(rows)), [label for label, _ in rows])
    axes.set_ylim(len(rows) - 0.5, -0.5)
    axes.grid(axis="x", alpha=0.3)


def plot_aggregates(estimates: dict[str, dict[str, tuple[float, float, float]]], path: Path,
                    palette: dict | None = None) -> Path:
    """One panel per aggregate (as from analysis.verdicts.aggregate_estimates), one bar per variant."""
    if not estimates:
        raise ValueError("plot_aggregates: expected estimates of at least one variant, got none")
    variants = list(estimates)
    colors = variant_colors(variants, palette)
    metric_names = list(estimates[variants[0]])
    with plt.rc_context(STYLE):
        figure, all_axes = plt.subplots(1, len(metric_names), sharey=True, squeeze=False,
                                        figsize=(3.6 * len(metric_names), 1.6 + 0.55 * len(variants)))
        for axes, metric in zip(all_axes[0], metric_names):
            interval_rows(axes, [(variant, estimates[variant][metric]) for variant in variants],
                          [colors[variant] for variant in variants])
            axes.set_title(f"{metric} (lower is better)" if metric == "Optimality gap" else metric)
            axes.set_xlabel("normalized score")
        figure.suptitle(f"Aggregate normalized scores over all runs and tasks\nbars: {CI_NOTE}; black: estimate",
                        y=1.0, va="bottom")
        save_figure(figure, path)
    return path


def plot_performance_profiles(scores: dict[str, np.ndarray], path: Path, reps: int, random_state: int,
                              palette: dict | None = None) -> Path:
    """Score distributions: the fraction of all runs x tasks whose normalized score exceeds tau, for tau across the
    range of the scores, with the CI of each fraction."""
    matrices = runs_by_tasks(scores, "plot_performance_profiles")
    everything = np.concatenate([matrix.ravel() for matrix in matrices.values()])
    low_tau, high_tau = everything.min(), everything.max()
    if low_tau == high_tau:  # every run scored the same: widen so that the step at that score shows
        low_tau, high_tau = low_tau - 0.5, high_tau + 0.5
    taus = np.linspace(low_tau, high_tau, PROFILE_POINTS)
    colors = variant_colors(list(matrices), palette)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(7.5, 4.8))
        for variant, matrix in matrices.items():
            profile, low, high = bootstrap(matrix, lambda runs: rly.score_distributions(runs, taus), reps,
                                           random_state)
            axes.plot(taus, profile, color=colors[variant], linewidth=2.5,
                      label=f"{variant} ({matrix.shape[0]} runs x {matrix.shape[1]} tasks)")
            axes.fill_between(taus, low, high, color=colors[variant], alpha=0.2)
        axes.set_xlabel("normalized score τ")
        axes.set_ylabel("fraction of runs with score > τ")
        axes.set_ylim(-0.02, 1.02)
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
        axes.set_title(f"Score distributions (shaded: {CI_NOTE})")
        save_figure(figure, path)
    return path


def plot_probability_of_improvement(pairs: dict[tuple[str, str], tuple[float, float, float]], path: Path,
                                    palette: dict | None = None) -> Path:
    """One bar per pair (X, Y) spanning the CI of P(X > Y), in X's colour; 0.5 marks indistinguishable."""
    if not pairs:
        raise ValueError("plot_probability_of_improvement: expected at least one (X, Y) pair, got none")
    colors = variant_colors(list(dict.fromkeys(variant for pair in pairs for variant in pair)), palette)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(7.5, 1.6 + 0.6 * len(pairs)))
        interval_rows(axes, [(f"P({x} > {y})", estimate) for (x, y), estimate in pairs.items()],
                      [colors[x] for x, _ in pairs])
        axes.axvline(CHANCE, color="grey", linestyle="--", linewidth=1.5)
        axes.set_xlim(0, 1)
        axes.set_xlabel("probability of improvement P(X > Y)")
        axes.set_title(f"Probability that a run of X beats a run of Y on the same task\n"
                       f"bars: {CI_NOTE}; black: estimate; dashed: {CHANCE}, indistinguishable")
        save_figure(figure, path)
    return path


def iqm_per_point(runs: np.ndarray) -> np.ndarray:
    """rliable's metrics.aggregate_iqm over runs x tasks at each evaluation point (the last axis), for all points in
    one call: a curve's bootstrap calls this thousands of times."""
    return scipy.stats.trim_mean(runs.reshape(-1, runs.shape[-1]), proportiontocut=0.25, axis=0)


def plot_sample_efficiency(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, reps: int,
                           random_state: int, palette: dict | None = None, x_label: str = "environment steps") -> Path:
    """IQM of the normalized score against environment steps; curves maps variant -> (steps of shape (points,),
    scores of shape (runs, tasks, points)). As in rliable, the runs are resampled at each point on its own, so the
    band is a pointwise CI."""
    if not curves:
        raise ValueError("plot_sample_efficiency: expected curves of at least one variant, got none")
    colors = variant_colors(list(curves), palette)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(figsize=(7.5, 4.8))
        for variant, (steps, scores) in curves.items():
            steps, scores = np.asarray(steps, dtype=float), np.asarray(scores, dtype=float)
            if steps.ndim != 1 or scores.ndim != 3 or scores.shape[2] != len(steps) or scores.size == 0:
                raise ValueError(f"plot_sample_efficiency: {variant}: expected steps of shape (points,) and scores "
                                 f"of shape (runs, tasks, points), got {steps.shape} and {scores.shape}")
            iqm, low, high = bootstrap(scores, iqm_per_point, reps, random_state)
            axes.plot(steps, iqm, color=colors[variant], linewidth=2.5,
                      label=f"{variant} ({scores.shape[0]} runs x {scores.shape[1]} tasks)")
            axes.fill_between(steps, low, high, color=colors[variant], alpha=0.2)
        axes.xaxis.set_major_formatter(EngFormatter(sep=""))
        axes.set_xlabel(x_label)
        axes.set_ylabel("IQM of normalized score")
        axes.grid(alpha=0.3)
        axes.legend(loc="best")
        axes.set_title(f"Sample efficiency (shaded: pointwise {CI_NOTE})")
        save_figure(figure, path)
    return path
