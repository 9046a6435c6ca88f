"""An experiment's figures: learning curves against environment steps and against wall-clock time (mean and 95% CI
across seeds of the quantity the score rule scores, published numbers as dashed lines), and every seed's final score.

All use completed seeds only, the same seeds the table scores, so a curve never mixes in runs that crashed midway.
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: sweeps run on machines without a display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import EngFormatter  # noqa: E402

from analysis.judging import TRAINING_WINDOW, learning_curve  # noqa: E402
from analysis.table import BOOTSTRAP_SEED, SeedRun  # noqa: E402
from runner.sweep import TierPlan  # noqa: E402

PANEL_HEIGHT = 3.6  # inches
PANELS_PER_ROW = 4
GRID_POINTS = 200  # per (variant, env): a smooth line, and few enough x values that the bootstrap CI stays fast
X_AXES = {  # learning-curve x column -> its axis label, and a note for the subtitle
    "step": ("environment steps", ""),
    "wall_time": ("wall-clock time (s)", "\na line ends where its variant's shortest seed ends"),
}


def curve_quantity(score_rule: str) -> str:
    """What a learning curve shows: the quantity the score rule scores, so a curve ends at the table's score."""
    if score_rule.startswith("train"):
        return f"mean return of the last {TRAINING_WINDOW} training episodes"
    return "evaluation return (mean per episode)"


def read_curves(runs: list[SeedRun], score_rule: str, x: str) -> pd.DataFrame:
    """variant, env, seed, `x` and score of every completed seed's learning curve, in order of `x`; read with
    analysis.judging.learning_curve, as the verdicts read it.

    Asynchronous workers log episodes slightly out of order, hence the stable sort. Several episodes can end at the
    same x (vectorised environments); the curve's value there is the one after the last of them.
    """
    curves = []
    for run in runs:
        if run.problem is not None:
            continue
        curve = learning_curve(run, score_rule).sort_values(x, kind="stable").drop_duplicates(x, keep="last")
        if not curve.empty:
            curves.append(curve[[x, "score"]].assign(variant=run.variant, env=run.env, seed=run.seed))
    if not curves:
        return pd.DataFrame(columns=["variant", "env", "seed", x, "score"])
    return pd.concat(curves, ignore_index=True)


def align(curves: pd.DataFrame, x: str, points: int = GRID_POINTS) -> pd.DataFrame:
    """Put every seed of a (variant, env) on the same x values, so that a mean and CI across seeds exist at each.

    Seeds evaluate at different steps (an evaluation runs at the first step past each interval, and algorithms that
    collect whole episodes overshoot by a different amount in every seed), end their training episodes at different
    steps, and take different times. Each seed is linearly interpolated onto a shared grid of at most `points`
    values spanning the x all seeds cover; seeds that already share their x values keep them.
    """
    aligned = []
    for (variant, env), group in curves.groupby(["variant", "env"], sort=False):
        seeds = dict(list(group.groupby("seed")))  # a GroupBy has .keys, which dict() would misread
        xs = [seed_curve[x].to_numpy(dtype=float) for seed_curve in seeds.values()]
        if len(xs[0]) <= points and all(np.array_equal(xs[0], seed_x) for seed_x in xs):
            grid = xs[0]
        else:
            grid = np.linspace(max(seed_x[0] for seed_x in xs), min(seed_x[-1] for seed_x in xs),
                               min(points, max(len(seed_x) for seed_x in xs)))
        for seed, seed_curve in seeds.items():
            aligned.append(pd.DataFrame({"variant": variant, "env": env, "seed": seed, x: grid,
                                         "score": np.interp(grid, seed_curve[x], seed_curve.score)}))
    return pd.concat(aligned, ignore_index=True)


def published_lines(plan: TierPlan, envs: list[str]) -> dict[str, list[tuple[str, float]]]:
    """env -> (variant, score) of every published number the spec lists for that env."""
    lines: dict[str, list[tuple[str, float]]] = {env: [] for env in envs}
    for entry in plan.published:
        if entry.env_id in lines:
            lines[entry.env_id].append((entry.variant, entry.score))
    return lines


def save_figure(figure: plt.Figure, path: Path) -> None:
    """Render beside the target, then rename: a report never embeds half a PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    figure.savefig(temp, format="png", dpi=120, bbox_inches="tight")
    plt.close(figure)
    os.replace(temp, path)


def save_placeholder(path: Path, message: str) -> None:
    figure, axes = plt.subplots(figsize=(6, 1.5))
    axes.axis("off")
    axes.text(0.5, 0.5, message, ha="center", va="center")
    save_figure(figure, path)


def add_title(figure: plt.Figure, plan: TierPlan, subtitle: str) -> None:
    figure.suptitle(f"{plan.title} ({plan.tier} tier)\n{subtitle}", y=1.0, va="bottom")


def curve_figure(runs: list[SeedRun], plan: TierPlan, palette: dict, x: str) -> plt.Figure | None:
    """One panel per env: the learning curves against `x` (step or wall_time), and each published number as a
    dashed line in its variant's colour. None when no completed seed has a curve yet."""
    curves = read_curves(runs, plan.score_rule, x)
    if curves.empty:
        return None
    envs = list(dict.fromkeys(curves.env))
    grid = sns.relplot(
        data=align(curves, x), kind="line", x=x, y="score", hue="variant", hue_order=list(palette), palette=palette,
        col="env", col_order=envs, col_wrap=PANELS_PER_ROW if len(envs) > PANELS_PER_ROW else None,
        errorbar=("ci", 95), seed=BOOTSTRAP_SEED, height=PANEL_HEIGHT, aspect=1.3,
        facet_kws={"sharey": False, "sharex": False}, linewidth=2, legend=False)
    # The legend is built here, not by seaborn, so that it can name the published lines too.
    plotted = set(curves.variant)
    legend = {variant: Line2D([], [], color=colour, linewidth=2) for variant, colour in palette.items()
              if variant in plotted}
    published = published_lines(plan, envs)
    for env, lines in published.items():
        for variant, score in lines:
            grid.axes_dict[env].axhline(score, color=palette[variant], linestyle="--", linewidth=1.5)
            legend[f"published ({variant})"] = Line2D([], [], color=palette[variant], linestyle="--", linewidth=1.5)
    grid.add_legend(legend_data=legend)
    grid.set_titles("{col_name}")
    x_label, x_note = X_AXES[x]
    grid.set_axis_labels(x_label, curve_quantity(plan.score_rule))
    for axes in grid.axes.flat:
        if x == "step":
            axes.xaxis.set_major_formatter(EngFormatter(sep=""))
        axes.grid(alpha=0.3)
    published_note = "; dashed: published" if any(published.values()) else ""
    add_title(grid.figure, plan, f"mean over completed seeds, shaded: 95% bootstrap CI{published_note}{x_note}")
    return grid.figure


def plot_curves(runs: list[SeedRun], plan: TierPlan, palette: dict, path: Path, x: str) -> None:
    figure = curve_figure(runs, plan, palette, x)
    if figure is None:
        return save_placeholder(path, "No completed seed has a learning curve yet.")
    save_figure(figure, path)


def plot_learning_curves(runs: list[SeedRun], plan: TierPlan, palette: dict, path: Path) -> None:
    plot_curves(runs, plan, palette, path, "step")


def plot_wall_clock_curves(runs: list[SeedRun], plan: TierPlan, palette: dict, path: Path) -> None:
    """Which variant learns more per second of wall-clock time, e.g. A2C vs A3C, or A3C vs DQN at equal time."""
    plot_curves(runs, plan, palette, path, "wall_time")


def plot_final_scores(runs: list[SeedRun], table: pd.DataFrame, plan: TierPlan, palette: dict, path: Path) -> None:
    """Seeds as dots; the table's mean and rliable CI in black, so the figure and the table agree exactly."""
    scores = pd.DataFrame([{"variant": run.variant, "env": run.env, "score": run.summary["score"]}
                           for run in runs if run.problem is None])
    if scores.empty:
        return save_placeholder(path, "No completed seed has a score yet.")
    variants = list(palette)
    grid = sns.catplot(
        data=scores, kind="strip", x="variant", y="score", hue="variant", order=variants, hue_order=variants,
        palette=palette, col="env", col_order=list(dict.fromkeys(table.env)), sharey=False, legend=False,
        jitter=0.15, size=7, alpha=0.75, height=PANEL_HEIGHT, aspect=max(1.0, 0.4 * len(variants)))
    for env, axes in grid.axes_dict.items():
        for row in table[table.env == env].itertuples():
            ci = None if np.isnan(row.ci_low) else [[row.mean_score - row.ci_low], [row.ci_high - row.mean_score]]
            axes.errorbar(variants.index(row.variant), row.mean_score, yerr=ci, fmt="_", color="black",
                          markersize=24, markeredgewidth=2, elinewidth=1.5, capsize=8, zorder=3)
            if not np.isnan(row.published_score):
                axes.scatter(variants.index(row.variant) + 0.25, row.published_score, marker="*", s=160,
                             color="crimson", zorder=4)
        axes.tick_params(axis="x", labelrotation=20)
        axes.grid(axis="y", alpha=0.3)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("", f"final score ({plan.score_rule})")
    published = "; red star: published" if table.published_score.notna().any() else ""
    add_title(grid.figure, plan, f"dots: seeds; black: mean and 95% bootstrap CI across seeds{published}")
    save_figure(grid.figure, path)
