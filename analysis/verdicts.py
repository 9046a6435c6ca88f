"""Verdicts on a paper's claims from per-run scores already normalized per task, with rliable's statistics.

A comparison claim ("C51 is better than DQN") is judged on the statistic its sentence names: the probability of
improvement P(A > B) and its 95% stratified-bootstrap CI for a claim about runs or tasks ("beats DQN on most games"),
or the 95% CI of the difference of an aggregate (IQM, median or mean) for a claim about that aggregate ("A's mean
human-normalised score is above B's"). Both figures are computed from one bootstrap and both are reported; the
verdict says which one decided it. A "matches the published number" claim is judged on whether the published number
lies in the CI of our mean.

Every bootstrap here is rliable's with a fixed `reps` and `random_state`, so the same scores always give the same
numbers, digit for digit, and `random_state=analysis.table.BOOTSTRAP_SEED` gives the same CI of a mean as the score
table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rliable import library as rly
from rliable import metrics

from analysis.table import CONFIDENCE, seeded_global_rng

KINDS = ("better", "at_least_as_good", "equivalent")
STATISTICS = ("probability_of_improvement", "aggregate_difference")
AGGREGATES = {"iqm": ("IQM", metrics.aggregate_iqm), "median": ("Median", metrics.aggregate_median),
              "mean": ("Mean", metrics.aggregate_mean)}
AGGREGATE_METRICS = {"IQM": metrics.aggregate_iqm, "Median": metrics.aggregate_median, "Mean": metrics.aggregate_mean,
                     "Optimality gap": metrics.aggregate_optimality_gap}  # the gap below 1.0, a normalized score
CHANCE = 0.5  # P(A > B) when a run of A is as likely to beat a run of B as to lose to it
MIN_SEEDS = 2  # per side and task: one seed gives no bootstrap CI


def area_under_curve(steps: Sequence[float], scores: Sequence[float], total_steps: float) -> float:
    """The mean score over training: the area under the evaluation curve from step 0 to `total_steps`, divided by
    `total_steps`. The curve is linear between evaluations, holds the first score before the first evaluation (an
    agent is scored at its first evaluation) and the last score after the last; evaluations past `total_steps` only
    shape the curve up to it. Equal steps are allowed (training episodes of parallel environments that end at the
    same step): the curve jumps there, and the jump adds no area."""
    steps = np.asarray(steps, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if steps.ndim != 1 or steps.shape != scores.shape:
        raise ValueError(f"area_under_curve: expected steps and scores as two 1-D sequences of the same length, "
                         f"got shapes {steps.shape} and {scores.shape}")
    if len(steps) == 0:
        raise ValueError("area_under_curve: expected at least one evaluation, got an empty curve")
    if not (np.all(np.isfinite(steps)) and np.all(np.isfinite(scores))):
        raise ValueError("area_under_curve: expected finite steps and scores, got NaN or infinity")
    if np.any(np.diff(steps) < 0):
        first = int(np.argmax(np.diff(steps) < 0))
        raise ValueError(f"area_under_curve: expected steps in increasing order, got {steps[first]:g} before "
                         f"{steps[first + 1]:g} (position {first}); sort the curve by step first")
    if not total_steps > 0:
        raise ValueError(f"area_under_curve: expected total_steps > 0, got {total_steps}")
    xs = np.concatenate([[min(steps[0], 0.0)], steps, [max(steps[-1], total_steps)]])  # held flat to both ends
    ys = np.concatenate([[scores[0]], scores, [scores[-1]]])
    area_to_point = np.concatenate([[0.0], np.cumsum(np.diff(xs) * (ys[:-1] + ys[1:]) / 2)])

    def area_to(x: float) -> float:
        if x >= xs[-1]:
            return area_to_point[-1]
        point = np.searchsorted(xs, x, side="right") - 1  # xs[point] <= x < xs[point + 1]
        y = np.interp(x, xs[point:point + 2], ys[point:point + 2])
        return area_to_point[point] + (x - xs[point]) * (ys[point] + y) / 2

    return float((area_to(total_steps) - area_to(0.0)) / total_steps)


def bootstrap(scores: np.ndarray | tuple[np.ndarray, ...], statistics: Callable[..., np.ndarray], reps: int,
              random_state: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimates and 95% percentile-bootstrap bounds of `statistics` (which returns a 1-D array), by rliable's
    stratified bootstrap: runs are resampled with replacement within each task. `scores` is one runs x tasks (x ..)
    array, or a tuple of them that are resampled independently of each other (rliable's
    StratifiedIndependentBootstrap), which lets two sides have different numbers of runs."""
    if reps < 1:
        raise ValueError(f"reps: expected a positive number of bootstrap resamples, got {reps}")
    with seeded_global_rng(random_state):
        points, intervals = rly.get_interval_estimates({"scores": scores}, statistics, reps=reps,
                                                       confidence_interval_size=CONFIDENCE)
    low, high = intervals["scores"]
    return np.atleast_1d(points["scores"]).astype(float), np.asarray(low, float), np.asarray(high, float)


@dataclass
class Verdict:
    claim: str
    kind: str
    verdict: str
    """reproduced, contradicted, inconclusive or not judged"""
    probability_of_improvement: float | None
    poi_ci: tuple[float, float] | None
    aggregate: str
    difference: float | None
    """aggregate(A) - aggregate(B)"""
    difference_ci: tuple[float, float] | None
    tasks: int
    seeds_a: int
    """runs per task used for A: the fewest any judged task has"""
    seeds_b: int
    reason: str
    decided_by: str = "probability_of_improvement"
    """the statistic the verdict was decided on (STATISTICS); the other is shown beside it"""


def finite_scores(scores: dict[str, np.ndarray], side: str) -> tuple[dict[str, np.ndarray], int]:
    """The finite scores of each task that has any, and how many non-finite scores were left out."""
    kept, dropped = {}, 0
    for task, task_scores in scores.items():
        task_scores = np.asarray(task_scores, dtype=float)
        if task_scores.ndim != 1:
            raise ValueError(f"scores of {side} on {task}: expected a 1-D array of per-seed scores, "
                             f"got shape {task_scores.shape}")
        finite = task_scores[np.isfinite(task_scores)]
        dropped += len(task_scores) - len(finite)
        if len(finite):
            kept[task] = finite
    return kept, dropped


def listed(tasks) -> str:
    return ", ".join(tasks) if tasks else "none"


def run_counts(scores: dict[str, np.ndarray], tasks: list[str], side: str) -> tuple[int, list[str]]:
    """The fewest runs any task has (what every task is cut to, so that the side is a runs x tasks matrix), and a
    note when the tasks have different numbers."""
    counts = [len(scores[task]) for task in tasks]
    fewest = min(counts)
    if fewest == max(counts):
        return fewest, []
    return fewest, [f"{side} has {fewest} to {max(counts)} seeds per task, so its first {fewest} on each are used"]


def decide(kind: str, poi: float, low: float, high: float, margin: float, label_a: str,
           label_b: str) -> tuple[str, str]:
    """The verdict and the sentence that says why, from P(A > B) and its CI."""
    estimate = f"P({label_a} > {label_b}) = {poi:.3f}, 95% CI [{low:.3f}, {high:.3f}]"
    if kind == "better":
        if low > CHANCE:
            return "reproduced", f"{estimate} lies above {CHANCE}: {label_a} is better than {label_b}"
        if high < CHANCE:
            return "contradicted", f"{estimate} lies below {CHANCE}: {label_b} is better than {label_a}"
        if low == high == CHANCE:
            return "inconclusive", (f"{estimate}: {label_a} and {label_b} are indistinguishable (every resample "
                                    f"ties), and equal is not better")
        return "inconclusive", (f"{estimate} contains {CHANCE}: {label_a} and {label_b} are indistinguishable "
                                f"with these runs")
    if kind == "equivalent":
        band = f"[{CHANCE - margin:.3f}, {CHANCE + margin:.3f}]"
        if CHANCE - margin <= low and high <= CHANCE + margin:
            return "reproduced", f"{estimate} lies within {CHANCE} +- margin {margin} = {band}: equivalent"
        if high < CHANCE - margin or low > CHANCE + margin:
            return "contradicted", f"{estimate} lies outside {band}: one is clearly better"
        return "inconclusive", f"{estimate} is not within {band}, nor outside it"
    threshold = CHANCE - margin
    if high < threshold:
        return "contradicted", (f"{estimate} lies below {CHANCE} - margin {margin} = {threshold:.3f}: "
                                f"{label_b} is clearly better than {label_a}")
    if low >= threshold:
        return "reproduced", (f"{estimate} lies at or above {CHANCE} - margin {margin} = {threshold:.3f}: "
                              f"{label_a} is no worse than {label_b} beyond the margin")
    return "inconclusive", f"{estimate} straddles {CHANCE} - margin {margin} = {threshold:.3f}"


def decide_difference(kind: str, aggregate: str, difference: float, low: float, high: float, margin: float,
                      label_a: str, label_b: str) -> tuple[str, str]:
    """The verdict and the sentence that says why, from aggregate(A) - aggregate(B) and its CI."""
    estimate = f"{aggregate}({label_a}) - {aggregate}({label_b}) = {difference:+.4g}, 95% CI [{low:+.4g}, {high:+.4g}]"
    if kind == "better":
        if low > 0:
            return "reproduced", f"{estimate} lies above 0: {label_a}'s {aggregate} is above {label_b}'s"
        if high < 0:
            return "contradicted", f"{estimate} lies below 0: {label_b}'s {aggregate} is above {label_a}'s"
        return "inconclusive", f"{estimate} contains 0: the {aggregate}s are indistinguishable with these runs"
    if kind == "equivalent":
        if -margin <= low and high <= margin:
            return "reproduced", f"{estimate} lies within +-margin {margin:g}: equivalent"
        if high < -margin or low > margin:
            return "contradicted", f"{estimate} lies outside +-margin {margin:g}: the {aggregate}s differ"
        return "inconclusive", f"{estimate} is not within +-margin {margin:g}, nor outside it"
    if high < -margin:
        return "contradicted", (f"{estimate} lies below -margin {margin:g}: {label_b}'s {aggregate} is clearly above "
                                f"{label_a}'s")
    if low >= -margin:
        return "reproduced", (f"{estimate} lies at or above -margin {margin:g}: {label_a}'s {aggregate} is no worse "
                              f"than {label_b}'s beyond the margin")
    return "inconclusive", f"{estimate} straddles -margin {margin:g}"


def judge(claim_id: str, kind: str, scores_a: dict[str, np.ndarray], scores_b: dict[str, np.ndarray],
          aggregate: str, reps: int, random_state: int, margin: float = 0.1, *, label_a: str = "A",
          label_b: str = "B", statistic: str = "probability_of_improvement") -> Verdict:
    """Judge the claim that A is `better` than B, `at_least_as_good` (non-inferior within `margin`) or `equivalent`
    (within `margin` either way: the 95% CI inside the band, so equivalence is shown, not assumed from a tie), from
    task -> per-seed normalized scores of each side, on `statistic`: the probability of improvement (margin on the
    probability scale) or the aggregate's difference (margin in the aggregate's units).

    Tasks with finite scores on both sides are judged; each needs at least two seeds per side. The probability of
    improvement is rliable's (per task, the Mann-Whitney probability that a run of A beats a run of B, ties counting
    one half; averaged over tasks). Its CI and that of the aggregate difference come from one stratified bootstrap
    that resamples A's runs and B's runs independently within each task (rliable's StratifiedIndependentBootstrap);
    the difference's CI is that of aggregate(resampled A) - aggregate(resampled B). `label_a` and `label_b` name the
    sides in the reason.
    """
    if kind not in KINDS:
        raise ValueError(f"claim {claim_id}: kind expected one of {KINDS}, got {kind!r}")
    if statistic not in STATISTICS:
        raise ValueError(f"claim {claim_id}: statistic expected one of {STATISTICS}, got {statistic!r}")
    if aggregate not in AGGREGATES:
        raise ValueError(f"claim {claim_id}: aggregate expected one of {tuple(AGGREGATES)}, got {aggregate!r}")
    if not (0 <= margin < CHANCE if statistic == "probability_of_improvement" else 0 <= margin):
        raise ValueError(f"claim {claim_id}: margin expected in [0, {CHANCE}) for P(A > B), >= 0 for a difference, "
                         f"got {margin}")
    aggregate_name, aggregate_of = AGGREGATES[aggregate]
    finite_a, dropped_a = finite_scores(scores_a, label_a)
    finite_b, dropped_b = finite_scores(scores_b, label_b)
    tasks = [task for task in finite_a if task in finite_b]
    one_sided = [task for task in {**finite_a, **finite_b} if task not in tasks]
    notes = [f"{dropped} non-finite score(s) of {side} left out"
             for side, dropped in ((label_a, dropped_a), (label_b, dropped_b)) if dropped]
    if one_sided:
        notes.append(f"tasks without scores on both sides left out: {listed(one_sided)}")

    def not_judged(seeds_a: int, seeds_b: int, why: str) -> Verdict:
        return Verdict(claim_id, kind, "not judged", None, None, aggregate_name, None, None, len(tasks), seeds_a,
                       seeds_b, why, statistic)

    if not tasks:
        return not_judged(0, 0, f"no task has finite scores for both sides ({label_a}: {listed(finite_a)}; "
                                f"{label_b}: {listed(finite_b)})")
    seeds_a, uneven_a = run_counts(finite_a, tasks, label_a)
    seeds_b, uneven_b = run_counts(finite_b, tasks, label_b)
    too_few = [f"{side} has {len(scores[task])} on {task}"
               for side, scores in ((label_a, finite_a), (label_b, finite_b))
               for task in tasks if len(scores[task]) < MIN_SEEDS]
    if too_few:
        return not_judged(seeds_a, seeds_b, f"a verdict needs at least {MIN_SEEDS} seeds per side and task, and "
                                            f"{'; '.join(too_few)} (one seed gives no CI)")
    runs_a = np.column_stack([finite_a[task][:seeds_a] for task in tasks])
    runs_b = np.column_stack([finite_b[task][:seeds_b] for task in tasks])
    (poi, difference), low, high = bootstrap(
        (runs_a, runs_b),
        lambda a, b: np.array([metrics.probability_of_improvement(a, b), aggregate_of(a) - aggregate_of(b)]),
        reps, random_state)
    if statistic == "probability_of_improvement":
        verdict, why = decide(kind, poi, low[0], high[0], margin, label_a, label_b)
    else:
        verdict, why = decide_difference(kind, aggregate_name, difference, low[1], high[1], margin, label_a, label_b)
    return Verdict(claim_id, kind, verdict, float(poi), (float(low[0]), float(high[0])), aggregate_name,
                   float(difference), (float(low[1]), float(high[1])), len(tasks), seeds_a, seeds_b,
                   "; ".join([why] + uneven_a + uneven_b + notes), statistic)


def matches_published(ours: np.ndarray, published: float, reps: int, random_state: int) -> dict:
    """Whether a published per-task number lies in the 95% percentile-bootstrap CI of our mean across seeds.

    verdict: "reproduced" inside the CI, "below" when our whole CI is below the published number, "above" when above
    it, "not judged" from fewer than two finite scores (mean and ratio are still given from one).
    distance_in_ci_units is (published - mean) / half-width of our CI: beyond +-1 the published number is outside.
    """
    if not math.isfinite(published):
        raise ValueError(f"published: expected a finite number, got {published}")
    scores = np.asarray(ours, dtype=float).ravel()
    scores = scores[np.isfinite(scores)]
    mean = float(scores.mean()) if len(scores) else None
    result = {"seeds": len(scores), "mean": mean, "ci": None, "published": float(published),
              "ratio": mean / published if mean is not None and published != 0 else None,
              "distance_in_ci_units": None, "verdict": "not judged"}
    if len(scores) < MIN_SEEDS:
        return result
    _, low, high = bootstrap(scores.reshape(-1, 1), lambda runs: np.array([runs.mean()]), reps, random_state)
    low, high = float(low[0]), float(high[0])
    half_width = (high - low) / 2
    if high < published:
        verdict = "below"
    elif low > published:
        verdict = "above"
    else:
        verdict = "reproduced"
    return result | {"ci": (low, high), "verdict": verdict,
                     "distance_in_ci_units": (published - mean) / half_width if half_width > 0 else None}


def aggregate_estimates(scores: dict[str, np.ndarray], reps: int,
                        random_state: int) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM, median, mean and optimality gap (below 1.0) of each variant's runs x tasks matrix of normalized scores,
    each as (point, lower, upper) with a 95% stratified-bootstrap CI. Each variant's bootstrap starts from
    `random_state`, so its numbers do not depend on which other variants are passed."""
    estimates = {}
    for variant, matrix in scores.items():
        matrix = np.asarray(matrix, dtype=float)
        if matrix.ndim != 2 or matrix.size == 0 or not np.all(np.isfinite(matrix)):
            raise ValueError(f"scores of {variant}: expected a non-empty runs x tasks matrix of finite scores, "
                             f"got shape {matrix.shape}")
        points, low, high = bootstrap(
            matrix, lambda runs: np.array([metric(runs) for metric in AGGREGATE_METRICS.values()]), reps,
            random_state)
        estimates[variant] = {name: (float(points[i]), float(low[i]), float(high[i]))
                              for i, name in enumerate(AGGREGATE_METRICS)}
    return estimates
