"""The score table: one row per (variant, environment) with our mean score and its bootstrap CI, the published
score beside it with a verdict, and every expected seed that produced no score, named with the reason."""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from rliable import library as rly

from analysis.report_file import Column, Table, table_of
from runner.claims import Normalization, PublishedNumber, normalize
from runner.sweep import PLAN, TierPlan

CONFIDENCE = 0.95
BOOTSTRAP_SEED = 0  # fixed, so that rerunning the analysis reproduces every CI digit for digit
MAX_ERROR_CHARS = 100


@dataclass
class SeedRun:
    variant: str
    algo: str
    env: str
    seed: int
    run_dir: Path
    summary: dict | None
    problem: str | None
    """why this seed has no score (missing, unfinished, failed, diverged); None when its score counts"""


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def error_headline(traceback_text: str | None) -> str:
    """summary.json keeps the whole traceback; its last line names the exception, e.g. `ValueError: bad shape`."""
    lines = [line.strip() for line in (traceback_text or "").splitlines() if line.strip()]
    if not lines:
        return ""
    kind, separator, message = lines[-1].partition(": ")
    if " " not in kind:
        kind = kind.rsplit(".", 1)[-1]  # common.rundir.Diverged -> Diverged
    headline = kind + separator + message
    return headline if len(headline) <= MAX_ERROR_CHARS else headline[:MAX_ERROR_CHARS - 1] + "…"


def seed_problem(run_dir: Path, summary: dict | None) -> str | None:
    if not run_dir.is_dir():
        return "missing"
    if summary is None:
        return "unfinished (no summary.json)"
    if summary.get("status") == "completed":
        score = summary.get("score")
        return None if score is not None and math.isfinite(score) else "completed without a score"
    error = error_headline(summary.get("error"))
    return f"{summary.get('status')} ({error})" if error else str(summary.get("status"))


def experiment_dirs(results_dir: Path) -> list[Path]:
    """The experiments of a tier's results: those a sweep planned here (runs/plan.json) and those with a committed
    spec.json (the plan as the last analysis copied it)."""
    return sorted({path.parent for path in results_dir.glob("*/spec.json")}
                  | {path.parent.parent for path in results_dir.glob(f"*/{PLAN}")})


def load_runs(experiment_dir: Path, plan: TierPlan) -> list[SeedRun]:
    runs = []
    for job in plan.jobs:
        run_dir = experiment_dir / job.run_dir
        summary = read_json(run_dir / "summary.json")
        runs.append(SeedRun(job.variant, job.algo, job.env_id, job.seed, run_dir, summary, seed_problem(run_dir, summary)))
    return runs



def with_best_of_references(plan: TierPlan, runs: list[SeedRun]) -> TierPlan:
    """The plan with its `best_of` scale resolved from the runs (the PPO paper's Table 1, section 6.1): on each
    task, 1 is the highest mean over completed seeds among the listed variants, 0 the random policy's score.
    A plan without `best_of`, or a task none of those variants completed, is left as it is."""
    normalization = plan.normalization
    if not normalization.best_of:
        return plan
    reference = dict(normalization.reference)
    for env_id in plan.environments:
        means = {variant: (float(np.mean(scores)), len(scores)) for variant in normalization.best_of
                 if (scores := [run.summary["score"] for run in runs
                                if run.variant == variant and run.env == env_id and run.problem is None])}
        if means:
            best = max(means, key=lambda variant: means[variant][0])
            reference[env_id] = {"score": means[best][0],
                                 "source": f"the best setting's mean, {best} over {means[best][1]} seed(s), among "
                                           f"{len(means)} setting(s) run ({normalization.best_of_source})"}
    return plan.model_copy(update={"normalization": replace(normalization, reference=reference)})

@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """rliable 1.2 draws every resample with np.random.choice, numpy's global RNG (the random_state it accepts goes
    to arch, whose resampling rliable overrides), so the global RNG is seeded, then given back to the caller as it
    was."""
    caller_state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(caller_state)


def bootstrap_ci(scores: np.ndarray, reps: int) -> tuple[float, float]:
    """Percentile-bootstrap CI of the mean across seeds; none from fewer than two seeds."""
    if len(scores) < 2:
        return math.nan, math.nan
    with seeded_global_rng(BOOTSTRAP_SEED), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # arch deprecates the random_state that rliable passes on
        _, intervals = rly.get_interval_estimates(
            {"seeds": np.asarray(scores, dtype=float).reshape(-1, 1)}, lambda runs: np.array([runs.mean()]),
            reps=reps, confidence_interval_size=CONFIDENCE, random_state=np.random.RandomState(BOOTSTRAP_SEED))
    low, high = intervals["seeds"][:, 0]
    return float(low), float(high)


def verdict(published: float, ci_low: float, ci_high: float) -> str:
    if math.isnan(published):
        return ""
    if math.isnan(ci_low):
        return "no CI (fewer than 2 seeds)"
    if published > ci_high:
        return "above our CI"
    return "below our CI" if published < ci_low else "inside our CI"


def table_row(group: list[SeedRun], published: PublishedNumber | None, reps: int, normalization: Normalization) -> dict:
    scored = [run for run in group if run.problem is None]
    scores = np.array([run.summary["score"] for run in scored], dtype=float)
    ci_low, ci_high = bootstrap_ci(scores, reps)
    published_score = published.score if published else math.nan
    speeds = [run.summary["steps_per_second"] for run in scored]
    memories = [run.summary["peak_rss_mb"] for run in scored]
    return {
        "variant": group[0].variant, "algo": group[0].algo, "env": group[0].env,
        "seeds_completed": len(scored), "seeds_expected": len(group),
        "mean_score": float(scores.mean()) if len(scores) else math.nan, "ci_low": ci_low, "ci_high": ci_high,
        "normalized_mean": (normalize(group[0].env, float(scores.mean()), normalization)
                            if len(scores) else None) or math.nan,
        "seed_scores": {run.seed: run.summary["score"] for run in scored},
        "median_steps_per_second": float(np.median(speeds)) if speeds else math.nan,
        "max_peak_rss_mb": float(max(memories)) if memories else math.nan,
        "published_score": published_score, "published_source": published.source if published else "",
        "verdict": verdict(published_score, ci_low, ci_high),
        "ratio_to_published": float(scores.mean()) / published_score
        if len(scores) and published_score not in (0.0,) and not math.isnan(published_score) else math.nan,
        "distance_in_ci_units": (published_score - float(scores.mean())) / ((ci_high - ci_low) / 2)
        if not math.isnan(published_score) and not math.isnan(ci_low) and ci_high > ci_low else math.nan,
        "missing_failed": ", ".join(f"seed {run.seed} {run.problem}" for run in group if run.problem),
    }


def score_table(runs: list[SeedRun], plan: TierPlan, reps: int) -> pd.DataFrame:
    """Rows in the spec's variant order, then environment order; seeds are the jobs the plan expected."""
    variant_order = plan.variant_names()
    env_order = list(dict.fromkeys(plan.environments + [run.env for run in runs]))
    published = {(entry.variant, entry.env_id): entry for entry in plan.published}
    pairs = sorted({(run.variant, run.env) for run in runs},
                   key=lambda pair: (variant_order.index(pair[0]), env_order.index(pair[1])))
    context = {}  # (variant, env) -> "number (label)", for every implementation's number the spec lists there
    for entry in plan.context:
        context.setdefault((entry.variant, entry.env_id), []).append(f"{format_number(entry.score)} ({entry.label})")
    rows = [table_row([run for run in runs if (run.variant, run.env) == pair], published.get(pair), reps,
                      plan.normalization) | {"context": "; ".join(context.get(pair, []))} for pair in pairs]
    return pd.DataFrame(rows)


def table_csv(table: pd.DataFrame) -> str:
    return table.assign(seed_scores=table.seed_scores.map(json.dumps)).to_csv(index=False)


def format_number(value: float, decimals: int = 1) -> str:
    if math.isnan(value):
        return "n/a"
    return f"{value:,.{decimals}f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}"


NUMERIC_COLUMNS = {"seeds", "score (mean)", "95% CI", "normalised", "steps/s (median)", "peak RSS MB (max)",
                   "published", "ours / published"}


def row_cells(row, with_published: bool, with_context: bool) -> dict[str, str]:
    cells = {
        "variant": row.variant, "algo": row.algo, "env": row.env,
        "seeds": f"{row.seeds_completed}/{row.seeds_expected}",
        "score (mean)": format_number(row.mean_score),
        "95% CI": "n/a" if math.isnan(row.ci_low) else f"[{format_number(row.ci_low)}, {format_number(row.ci_high)}]",
        "normalised": "" if math.isnan(row.normalized_mean) else f"{row.normalized_mean:.3f}",
        "per-seed scores": ", ".join(f"s{seed} {format_number(score)}" for seed, score in row.seed_scores.items()),
        "steps/s (median)": format_number(row.median_steps_per_second, 0),
        "peak RSS MB (max)": format_number(row.max_peak_rss_mb, 0),
    }
    if with_published:
        cells |= {"published": "" if math.isnan(row.published_score) else format_number(row.published_score),
                  "ours / published": "" if math.isnan(row.ratio_to_published) else f"{row.ratio_to_published:.2f}",
                  "published vs our CI": row.verdict + ("" if math.isnan(row.distance_in_ci_units) else
                                                        f" ({row.distance_in_ci_units:+.1f} half-widths)"),
                  "published source": row.published_source}
    if with_context:
        cells["context: implementations, not the paper"] = row.context
    cells["missing / failed"] = row.missing_failed
    return {header: str(cell) for header, cell in cells.items()}


def scores_table(table: pd.DataFrame) -> Table | None:
    """The score table as a report shows it; None when the spec lists no jobs. The published columns appear only when
    the spec lists a published score for some row; the context column only when it lists an implementation's number
    for some row."""
    if table.empty:
        return None
    with_published = bool(table.published_source.ne("").any())
    with_context = "context" in table and bool(table.context.ne("").any())
    rows = [row_cells(row, with_published, with_context) for row in table.itertuples(index=False)]
    return table_of([Column(header=header, numeric=header in NUMERIC_COLUMNS) for header in rows[0]],
                    [list(row.values()) for row in rows])
