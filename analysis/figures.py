"""An experiment's two figures: learning curves (mean and 95% CI across seeds) and every seed's final score.

Both use completed seeds only, the same seeds the table scores, so a curve never mixes in runs that crashed midway.
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
from matplotlib.ticker import EngFormatter  # noqa: E402

from analysis.table import BOOTSTRAP_SEED, SeedRun  # noqa: E402

PANEL_HEIGHT = 3.6  # inches
PANELS_PER_ROW = 4


def read_eval_curves(runs: list[SeedRun]) -> pd.DataFrame:
    curves = [pd.read_csv(run.run_dir / "eval.csv").assign(variant=run.variant, env=run.env, seed=run.seed)
              for run in runs if run.problem is None and (run.run_dir / "eval.csv").is_file()]
    curves = [curve for curve in curves if not curve.empty]
    if not curves:
        return pd.DataFrame(columns=["variant", "env", "seed", "step", "eval_return"])
    return pd.concat(curves, ignore_index=True).rename(columns={"mean": "eval_return"})


def align_steps(curves: pd.DataFrame) -> pd.DataFrame:
    """Put every seed of a (variant, env) on the same steps, so that a mean and CI across seeds exist at each x.

    An evaluation runs at the first step past each interval, and algorithms that collect whole episodes overshoot
    by a different amount in every seed; each seed is linearly interpolated onto a shared grid spanning the steps
    all seeds cover.
    """
    aligned = []
    for (variant, env), group in curves.groupby(["variant", "env"], sort=False):
        steps = [seed_curve.step.to_numpy() for _, seed_curve in group.groupby("seed")]
        if all(np.array_equal(steps[0], seed_steps) for seed_steps in steps):
            grid = steps[0]
        else:
            grid = np.linspace(max(s.min() for s in steps), min(s.max() for s in steps), max(len(s) for s in steps))
        for seed, seed_curve in group.groupby("seed"):
            aligned.append(pd.DataFrame({"variant": variant, "env": env, "seed": seed, "step": grid,
                                         "eval_return": np.interp(grid, seed_curve.step, seed_curve.eval_return)}))
    return pd.concat(aligned, ignore_index=True)


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


def add_title(figure: plt.Figure, spec: dict, subtitle: str) -> None:
    figure.suptitle(f"{spec['title']} ({spec['tier']} tier)\n{subtitle}", y=1.0, va="bottom")


def plot_learning_curves(runs: list[SeedRun], spec: dict, palette: dict, path: Path) -> None:
    curves = read_eval_curves(runs)
    if curves.empty:
        return save_placeholder(path, "No completed seed has an evaluation yet.")
    envs = list(dict.fromkeys(curves.env))
    grid = sns.relplot(
        data=align_steps(curves), kind="line", x="step", y="eval_return", hue="variant",
        hue_order=list(palette), palette=palette, col="env", col_order=envs,
        col_wrap=PANELS_PER_ROW if len(envs) > PANELS_PER_ROW else None, errorbar=("ci", 95), seed=BOOTSTRAP_SEED,
        height=PANEL_HEIGHT, aspect=1.3, facet_kws={"sharey": False, "sharex": False}, linewidth=2)
    grid.set_titles("{col_name}")
    grid.set_axis_labels("environment steps", "evaluation return (mean per episode)")
    for axes in grid.axes.flat:
        axes.xaxis.set_major_formatter(EngFormatter(sep=""))
        axes.grid(alpha=0.3)
    add_title(grid.figure, spec, "mean over completed seeds, shaded: 95% bootstrap CI")
    save_figure(grid.figure, path)


def plot_final_scores(runs: list[SeedRun], table: pd.DataFrame, spec: dict, palette: dict, path: Path) -> None:
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
    grid.set_axis_labels("", f"final score ({spec['score_rule']})")
    published = "; red star: published" if table.published_score.notna().any() else ""
    add_title(grid.figure, spec, f"dots: seeds; black: mean and 95% bootstrap CI across seeds{published}")
    save_figure(grid.figure, path)
