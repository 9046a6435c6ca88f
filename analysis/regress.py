"""`python -m analysis regress`: did the latest commit make any (spec, variant, env) worse than the baseline commit,
in score, in speed or in runs that stop finishing? Read from the tier's history (analysis.history).

What is compared. The baseline is the history as it stood when a commit was the newest: the commit `--accept`
recorded in results/history/<tier>_accepted.json, with the date of its newest run (`--baseline accepted`, the
default), or a commit given by hash or unique prefix, up to its newest run. A nightly's runs need not share one
commit (a sweep that resumes keeps its finished runs; work goes on while it runs), so each (spec, variant, env) has
its own baseline commit: the commit of its newest run no later than that date. Its runs at its latest commit (the
newest row per seed) are compared with its runs at its baseline commit. One whose latest commit is its baseline has
nothing new; one with no run before the baseline date is named and skipped.

Score: a one-sided permutation test of "the new scores are lower", on the difference of means. A nightly has 3-5
seeds a side; at that size nothing can check the normality a t-test assumes, and RL scores are not normal anyway:
they pile up at caps (CartPole's 500, InvertedPendulum's 1000) and split into seeds that learned and seeds that did
not. The permutation test assumes only that, without a regression, baseline and new scores are exchangeable, and it
is exact at small n: all C(n+m, n) ways to relabel the pooled scores are enumerated (a seeded Monte Carlo of
MONTE_CARLO_DRAWS relabelings above EXACT_LIMIT of them), and p is the share of relabelings whose new side is at
least as far below the baseline as observed. Its granularity is honest about what few seeds can show: with 3 seeds
a side the smallest possible p is 1/C(6,3) = 0.05. When the new mean is not below the baseline's there is no drop
to test and p = 1 (so identical scores, as from a deterministic rerun, never alarm); this only makes the test more
conservative.

False alarms. One nightly makes one test per (spec, variant, env), twenty or so; at 5% each, one of them would alarm
on most nights by chance alone. The p-values are adjusted with Benjamini-Hochberg and a comparison alarms when its
q-value is at most alpha: among the alarms of a night, the expected share of false ones is at most alpha. BH stays
valid under the positive dependence these tests have (the same algorithm in several specs, shared code and a shared
machine) and, unlike Bonferroni's correction, keeps the power to see a real drop among twenty comparisons. A
comparison whose seeds gave exactly the same scores on both sides (runs are deterministic per seed, so code that did
not change reproduces them; or every seed hit the cap) is not a sample that could raise a false alarm but the same
outcome twice: it gets p = 1 and stays out of the BH family, so that unchanged algorithms do not dilute the power
to see a change in the one that did. The family's size sets what few seeds can show: one drop among m tested
comparisons needs p <= alpha / m, and 5 seeds a side reach p = 1/252, enough for m <= 12 at alpha 0.05.

Minimum effect. A drop alarms only if it is also at least --min-drop (default 10%) of the baseline's |mean score|
(any drop from a baseline mean of 0): with many seeds a real but immaterial change would otherwise be
"significant". A drop smaller than that, or one the test cannot resolve with the seeds at hand, passes.

Speed: judged on steps per CPU-second of the run's own processes (its workers included), not on wall-clock steps/s,
and that relative to the machine's own speed as the run measured it (common.machine_speed). Other jobs on the
machine take turns with a run on its cores, which slows its wall clock but hardly changes the CPU time a step costs;
slower code costs more CPU per step under any load (docs/regression.md has the measurements). A host that runs the
whole virtual machine slower (seen here: half speed for a day) slows the CPU time too, and the fixed workload with
it. A comparison whose runs on either side did not measure the machine falls back to steps per CPU-second, and one
that lacks CPU time (history rows made before it was recorded) to wall-clock steps/s; its line says which. The
ratio of median speeds, new over baseline, is a regression when it is below 1 / (1 + tolerance). The tolerance is
--speed-tolerance if given; else measured from the history, per measure: the largest difference in median speed
between the same runs made twice (the same algo, env, config and seeds at one commit on one machine, in two specs;
the newest NOISE_REPEATS such repeats), kept within SPEED_TOLERANCE_RANGE (a few repeats understate the noise; the
upper bound keeps a 2x slowdown always flagged); else the measure's default, DEFAULT_SPEED_TOLERANCE, what was
measured on this machine (docs/regression.md says where). Speeds from different machines are not compared.

Failing runs: more of the new seeds diverged or failed (in share) than of the baseline's. Such seeds have no score,
so the score test cannot see them.

Exit status: 0 no regression, 1 a regression (each named with its size and confidence), 2 bad input (no history,
unknown baseline commit, no accepted baseline yet). `--accept` records the latest commit as the baseline and exits 0.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from analysis.history import DEFAULT_HISTORY_DIR, GROUP, history_path, is_clean, load_history, short_commit
from core.files import write_json

DEFAULT_ALPHA = 0.05
DEFAULT_MIN_DROP = 0.10
SPEED_MEASURES = {  # measure -> (history column, what it is, the unit a regression line names), best first
    "relative": ("relative_speed", "steps per CPU-second over the machine's own speed as each run measured it "
                 "(common.machine_speed)", "steps per CPU-second per unit of machine speed"),
    "cpu": ("steps_per_cpu_second", "steps per CPU-second of the run's own processes (the baseline or the new runs "
            "did not measure the machine's speed)", "steps per CPU-second"),
    "wall": ("steps_per_second", "wall-clock steps/s (the baseline or the new runs have no CPU time)",
             "wall-clock steps/s"),
}
SPEED_MARKS = {"relative": "", "cpu": " (CPU, host not measured)", "wall": " (wall clock)"}  # on a comparison's line
# Measured on this machine (docs/regression.md). The relative measure divides CPU speed by a CPU speed measured in
# the same conditions, so load's share of CPU time (the floor of 50%) stays in it until measured otherwise.
DEFAULT_SPEED_TOLERANCE = {"relative": 0.50, "cpu": 0.50, "wall": 0.30}
SPEED_TOLERANCE_RANGE = {"relative": (0.50, 0.80), "cpu": (0.50, 0.80), "wall": (0.10, 0.80)}  # 2x stays seen
NOISE_REPEATS = 10  # the newest repeated runs the measured tolerance is taken from
EXACT_LIMIT = 100_000  # relabelings enumerated; C(10+10, 10) = 184,756 is the first common size beyond it
MONTE_CARLO_DRAWS = 20_000
MONTE_CARLO_SEED = 0  # fixed, so that the same history always gives the same p-values
ACCEPTED_BY = "analysis regress --accept"


def permutation_p_value(baseline: Sequence[float], new: Sequence[float]) -> float:
    """One-sided p-value of "new scores are lower" from relabelings of the pooled scores (scipy's permutation test of
    the new side's sum: exact up to EXACT_LIMIT relabelings, a seeded Monte Carlo of MONTE_CARLO_DRAWS beyond); 1 when
    the new mean is not below the baseline's."""
    baseline, new = np.asarray(baseline, dtype=float), np.asarray(new, dtype=float)
    if len(baseline) == 0 or len(new) == 0:
        raise ValueError(f"permutation test: expected scores on both sides, got {len(baseline)} and {len(new)}")
    # exact sums: identical score sets give identical means, whatever their order
    if math.fsum(new) / len(new) >= math.fsum(baseline) / len(baseline):
        return 1.0
    # The pooled total is fixed, so "the new side's sum is at most the observed" is "its mean is at least as far
    # below the baseline's" (scipy's comparison allows for rounding of the same numbers summed in another order).
    exact = math.comb(len(baseline) + len(new), len(new)) <= EXACT_LIMIT
    result = stats.permutation_test((new, baseline), lambda x, y, axis: np.sum(x, axis=axis), vectorized=True,
                                    permutation_type="independent", alternative="less",
                                    n_resamples=np.inf if exact else MONTE_CARLO_DRAWS, rng=MONTE_CARLO_SEED)
    return float(result.pvalue)


def benjamini_hochberg(p_values: Sequence[float]) -> list[float]:
    """q-values, scipy's Benjamini-Hochberg adjustment: q_(i) = min over j >= i of p_(j) * m / j, at most 1."""
    return stats.false_discovery_control(p_values, method="bh").tolist() if len(p_values) else []


@dataclass(frozen=True)
class Baseline:
    commit: str
    as_of: str
    """ISO date: each (spec, variant, env) is compared with its newest commit no later than this"""
    source: str
    """how it was chosen: accepted (--accept recorded it) or given (--baseline COMMIT)"""


@dataclass
class Comparison:
    """One (spec, variant, env) at its latest commit against its baseline commit."""
    spec: str
    variant: str
    env_id: str
    baseline_commit: str
    new_commit: str
    baseline_scores: list[float]
    new_scores: list[float]
    speed_measure: str
    """a key of SPEED_MEASURES: the first that every finished run on both sides recorded"""
    baseline_speed: float
    """median speed of the runs that finished, in speed_measure; NaN when there are none or they ran elsewhere"""
    new_speed: float
    baseline_failing: tuple[int, int]
    """(seeds that diverged or failed, seeds run)"""
    new_failing: tuple[int, int]
    config_changed: bool
    p: float = math.nan
    q: float = math.nan

    @property
    def name(self) -> str:
        return f"{self.spec} / {self.variant} / {self.env_id}"

    @property
    def identical_scores(self) -> bool:
        return sorted(self.baseline_scores) == sorted(self.new_scores)

    @property
    def baseline_mean(self) -> float:
        return float(np.mean(self.baseline_scores)) if self.baseline_scores else math.nan

    @property
    def new_mean(self) -> float:
        return float(np.mean(self.new_scores)) if self.new_scores else math.nan

    @property
    def drop(self) -> float:
        return self.baseline_mean - self.new_mean

    @property
    def relative_drop(self) -> float:
        if self.baseline_mean == 0:
            return math.inf if self.drop > 0 else 0.0
        return self.drop / abs(self.baseline_mean)

    @property
    def speed_ratio(self) -> float:
        return self.new_speed / self.baseline_speed

    def score_regressed(self, alpha: float, min_drop: float) -> bool:
        return self.q <= alpha and self.relative_drop >= min_drop  # NaN q (nothing to test) compares False

    def speed_regressed(self, tolerance: float) -> bool:
        return self.speed_ratio < 1 / (1 + tolerance)

    def failing_regressed(self) -> bool:
        (old, old_runs), (new, new_runs) = self.baseline_failing, self.new_failing
        return new * old_runs > old * new_runs  # new / new_runs > old / old_runs, without dividing


def newest_per_seed(runs: pd.DataFrame) -> pd.DataFrame:
    """A seed run twice at one commit (its config changed) counts once: its newest run."""
    return runs.sort_values("date", kind="stable").drop_duplicates("seed", keep="last")


def median_speed(runs: pd.DataFrame, measure: str) -> float:
    speeds = runs[SPEED_MEASURES[measure][0]][runs.status != "failed"].dropna()
    return float(speeds.median()) if len(speeds) else math.nan


def speed_measure(*sides: pd.DataFrame) -> str:
    """relative when every finished run on every side measured the machine's speed and its CPU time, cpu when they
    recorded CPU time, else wall."""
    finished = [runs[runs.status != "failed"] for runs in sides]
    return next(measure for measure, (column, _, _) in SPEED_MEASURES.items()
                if measure == "wall" or all(len(runs) and column in runs and runs[column].notna().all() for runs in finished))


def with_relative_speed(frame: pd.DataFrame) -> pd.DataFrame:
    """The history with the relative measure's column: steps per CPU-second over the machine's speed."""
    return frame.assign(relative_speed=frame.steps_per_cpu_second / frame.machine_speed)


def failing(runs: pd.DataFrame) -> tuple[int, int]:
    return int(runs.status.isin(["diverged", "failed"]).sum()), len(runs)


def latest_commits(frame: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    """(spec, variant, env) -> the commit of its newest row."""
    newest = frame.sort_values("date", kind="stable").groupby(GROUP).tail(1).sort_values(GROUP)
    return {(row.spec, row.variant, row.env_id): row.commit for row in newest.itertuples()}


def compare(frame: pd.DataFrame, baseline: Baseline) -> tuple[list[Comparison], list[str], list[str]]:
    """The comparisons with their p- and q-values; the names of the (spec, variant, env)s whose latest commit is their
    baseline (nothing new) and of those with no run before the baseline."""
    baseline_commits = latest_commits(frame[frame.date <= baseline.as_of])
    comparisons, unchanged, no_baseline = [], [], []
    for key, commit in latest_commits(frame).items():
        spec, variant, env_id = key
        name = f"{spec} / {variant} / {env_id}"
        if key not in baseline_commits:
            no_baseline.append(name)
            continue
        if commit == baseline_commits[key]:
            unchanged.append(name)
            continue
        rows = frame[(frame.spec == spec) & (frame.variant == variant) & (frame.env_id == env_id)]
        old = newest_per_seed(rows[rows.commit == baseline_commits[key]])
        new = newest_per_seed(rows[rows.commit == commit])
        same_machine = set(old.machine) == set(new.machine)
        measure = speed_measure(old, new)
        comparisons.append(Comparison(
            spec, variant, env_id, baseline_commits[key], commit,
            baseline_scores=old.score.dropna().tolist(), new_scores=new.score.dropna().tolist(), speed_measure=measure,
            baseline_speed=median_speed(old, measure) if same_machine else math.nan,
            new_speed=median_speed(new, measure),
            baseline_failing=failing(old), new_failing=failing(new),
            config_changed=set(old.config_hash) != set(new.config_hash)))
    scored = [c for c in comparisons if c.baseline_scores and c.new_scores]
    for comparison in scored:
        comparison.p = permutation_p_value(comparison.baseline_scores, comparison.new_scores)
    tested = [c for c in scored if not c.identical_scores]
    for comparison, q in zip(tested, benjamini_hochberg([c.p for c in tested])):
        comparison.q = q
    return comparisons, unchanged, no_baseline


def measured_speed_noise(frame: pd.DataFrame, measure: str) -> tuple[float, int] | None:
    """(the largest relative difference in median speed between the same runs made twice, among the newest
    NOISE_REPEATS such repeats; how many were used), or None when the history holds no repeat. A repeat is the same
    algo, env, config and seeds at one commit on one machine, in two specs (a2c on CartPole-v1 is in two nightly
    specs): only the machine's load differs. The newest only, so that one bad night long ago does not widen the
    tolerance for good."""
    column = SPEED_MEASURES[measure][0]
    completed = frame[(frame.status == "completed") & frame[column].notna()]
    repeats = []  # (date of the later run, relative difference)
    for _, job in completed.groupby(["machine", "commit", "algo", "env_id", "config_hash"]):
        occasions = [runs.set_index("seed") for _, runs in job.groupby("spec")]
        for first, second in combinations(occasions, 2):
            seeds = first.index.intersection(second.index)
            if len(seeds):
                faster, slower = sorted([first[column][seeds].median(), second[column][seeds].median()], reverse=True)
                date = max(first.date[seeds].max(), second.date[seeds].max())
                repeats.append((date, faster / slower - 1))
    newest = sorted(repeats)[-NOISE_REPEATS:]
    return (max(spread for _, spread in newest), len(newest)) if newest else None


def speed_tolerance(frame: pd.DataFrame, measure: str) -> tuple[float, str]:
    """The tolerance of a speed measure and where it comes from."""
    measured = measured_speed_noise(frame, measure)
    if measured is None:
        return DEFAULT_SPEED_TOLERANCE[measure], ("the default (no repeated runs in the history to measure this "
                                                  "machine's noise; docs/regression.md says where it comes from)")
    largest, pairs = measured
    low, high = SPEED_TOLERANCE_RANGE[measure]
    return min(max(largest, low), high), (f"measured: the same runs made twice differed by up to {largest:.0%} "
                                          f"({pairs} repeat(s)); kept within [{low:.0%}, {high:.0%}]")


def accepted_path(history_dir: Path, tier: str) -> Path:
    return history_dir / f"{tier}_accepted.json"


def resolve_baseline(frame: pd.DataFrame, baseline: str, accepted: Path, history: Path) -> Baseline:
    """The baseline the comparison starts from; ValueError saying what to do when there is none."""
    commits = list(frame.sort_values("date").commit.drop_duplicates())
    if baseline == "accepted":
        if not accepted.is_file():
            raise ValueError(f"no accepted baseline yet ({accepted} does not exist): run `python -m analysis regress "
                             "--accept` to accept the latest commit's results, or pass --baseline COMMIT")
        try:
            record = json.loads(accepted.read_text())
            commit, as_of = str(record["commit"]), str(record["date"])
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{accepted}: expected a JSON object with 'commit' and 'date' fields "
                             f"({error!r})") from error
        if commit not in commits:
            raise ValueError(f"{accepted}: the accepted commit {commit} has no runs in {history}")
        return Baseline(commit, as_of, "accepted")
    matches = [commit for commit in commits if commit == baseline] or [c for c in commits if c.startswith(baseline)]
    if len(matches) == 1:
        return Baseline(matches[0], frame.date[frame.commit == matches[0]].max(), "given")
    if matches:
        raise ValueError(f"--baseline {baseline!r}: ambiguous, it starts {len(matches)} commits: {', '.join(matches)}")
    raise ValueError(f"--baseline {baseline!r}: no runs at such a commit in {history}; its commits, oldest first: "
                     f"{', '.join(short_commit(commit) for commit in commits)}")


def accept(frame: pd.DataFrame, path: Path) -> dict:
    """Record the commit of the newest run as the baseline, with the date of its newest run: the history up to that
    date is the baseline. A baseline is code that can be checked out again: never a -dirty commit (the history takes
    no new dirty runs; older rows may still be)."""
    commit = frame.sort_values("date", kind="stable").commit.iloc[-1]
    if not is_clean(commit):
        raise ValueError(f"the newest runs were made at {commit}, not a clean commit, so they cannot be a baseline: "
                         "commit the code, rerun the nightly tier and accept then")
    record = {"commit": commit, "date": frame.date[frame.commit == commit].max(), "accepted_by": ACCEPTED_BY}
    write_json(path, record)
    return record


def seeds_text(scores: list[float]) -> str:
    return ", ".join(f"{score:g}" for score in scores)


def speed_text(speed: float) -> str:
    """Steps/s to the step; a relative speed (steps per CPU-second over the workload's updates per CPU-second, about
    0.1-20) to three digits."""
    return f"{speed:,.0f}" if speed >= 100 else f"{speed:.3g}"


def regressions(comparison: Comparison, alpha: float, min_drop: float, tolerances: dict[str, float]) -> list[str]:
    """One line per way this comparison got worse, with its size and confidence."""
    c = comparison
    tolerance = tolerances[c.speed_measure]
    found = []
    if c.score_regressed(alpha, min_drop):
        found.append(f"SCORE {c.name}: mean score {c.baseline_mean:,.2f} -> {c.new_mean:,.2f}, a drop of "
                     f"{c.drop:,.2f} ({c.relative_drop:.1%} of the baseline); one-sided permutation p = {c.p:.4f}, "
                     f"Benjamini-Hochberg q = {c.q:.4f} ({len(c.baseline_scores)} baseline seeds "
                     f"[{seeds_text(c.baseline_scores)}] vs {len(c.new_scores)} new [{seeds_text(c.new_scores)}])")
    if c.speed_regressed(tolerance):
        unit = SPEED_MEASURES[c.speed_measure][2]
        found.append(f"SPEED {c.name}: median {speed_text(c.baseline_speed)} -> {speed_text(c.new_speed)} {unit}, ratio "
                     f"{c.speed_ratio:.2f} ({1 / c.speed_ratio:.2f}x slower), beyond the tolerance (ratio below "
                     f"{1 / (1 + tolerance):.2f})")
    if c.failing_regressed():
        found.append(f"FAILING RUNS {c.name}: {c.new_failing[0]} of {c.new_failing[1]} seeds diverged or failed "
                     f"(baseline: {c.baseline_failing[0]} of {c.baseline_failing[1]})")
    return found


def comparison_line(c: Comparison, flagged: bool, name_width: int) -> str:
    if math.isnan(c.p):
        test = "not tested: no scores on one side"
    elif c.identical_scores:
        test = "identical scores"
    else:
        test = f"p={c.p:.4f} q={c.q:.4f}"
    change = 0.0 - c.relative_drop  # 0.0 - 0.0 prints +0.0%, not -0.0%
    means = f"{c.baseline_mean:>9,.1f} -> {c.new_mean:>9,.1f} ({change:+7.1%})" if not math.isnan(c.p) else ""
    speed = (f"x{c.speed_ratio:.2f}{SPEED_MARKS[c.speed_measure]}"
             if not math.isnan(c.speed_ratio) else "n/a (no speeds, or another machine)")
    notes = "  [config changed]" if c.config_changed else ""
    return (f"  {'REGRESSED' if flagged else 'ok':<10}{c.name:<{name_width}}  {len(c.baseline_scores)} vs "
            f"{len(c.new_scores)} seeds  score {means} {test}  steps/s {speed}{notes}")


def commits_text(commits: set[str]) -> str:
    return ", ".join(short_commit(commit) for commit in sorted(commits)) or "(none)"


def report(comparisons: list[Comparison], unchanged: list[str], no_baseline: list[str], baseline: Baseline,
           args: argparse.Namespace, tolerances: dict[str, tuple[float, str]]) -> int:
    """Print what was compared and every regression; the exit status."""
    print(f"Regression check of the {args.tier} history: {len(comparisons)} comparison(s) of (spec, variant, env).")
    print(f"Baseline: {short_commit(baseline.commit)} ({baseline.source}; the history up to {baseline.as_of}), runs at "
          f"{commits_text({c.baseline_commit for c in comparisons})}; new runs at "
          f"{commits_text({c.new_commit for c in comparisons})}.")
    print(f"Score: one-sided permutation test of lower new scores, Benjamini-Hochberg q <= {args.alpha} over "
          f"{sum(not math.isnan(c.q) for c in comparisons)} test(s) (comparisons with identical scores are not "
          f"tests), and a drop of at least {args.min_drop:.0%}.")
    for measure in [m for m in SPEED_MEASURES if m in {c.speed_measure for c in comparisons}] or ["relative"]:
        tolerance, source = tolerances[measure]
        print(f"Speed, in {SPEED_MEASURES[measure][1]}: a regression below {1 / (1 + tolerance):.2f}x the "
              f"baseline's median (tolerance {tolerance:.0%}, {source}).")
    if unchanged:
        print(f"Nothing new since the baseline for {len(unchanged)} (spec, variant, env): their latest runs are the "
              "baseline's.")
    for name in no_baseline:
        print(f"Not compared, no run before the baseline: {name}")
    found = {c.name: regressions(c, args.alpha, args.min_drop, {m: t for m, (t, _) in tolerances.items()})
             for c in comparisons}
    if comparisons:
        print()
        width = max(len(c.name) for c in comparisons)
        print("\n".join(comparison_line(c, bool(found[c.name]), width) for c in comparisons))
    lines = [line for c in comparisons for line in found[c.name]]
    if not lines:
        print(f"\nNo regression in {len(comparisons)} comparison(s).")
        return 0
    print(f"\n{len(lines)} regression(s):")
    print("\n".join(f"- {line}" for line in lines))
    return 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m analysis regress",
        description="Compare each (spec, variant, env) at its latest commit in the tier's history with the baseline "
                    "commit: scores with a one-sided permutation test and Benjamini-Hochberg control of false alarms, "
                    "speed as a ratio of median steps/s with a tolerance for this machine's noise, and seeds that "
                    "diverged or failed. Exit 0: no regression; 1: regressions, each named with its size and "
                    "confidence; 2: bad input. docs/regression.md explains the choices.")
    parser.add_argument("--tier", default="nightly", help="whose history (default nightly)")
    parser.add_argument("--baseline", default="accepted", metavar="COMMIT|accepted",
                        help="the commit to compare with: 'accepted' (default), the one --accept recorded in "
                             "DIR/<tier>_accepted.json, or a commit hash or a unique prefix of one")
    parser.add_argument("--accept", action="store_true",
                        help="record the latest commit as the accepted baseline (after an intended change) and exit")
    parser.add_argument("--history", type=Path, default=DEFAULT_HISTORY_DIR, metavar="DIR",
                        help=f"the history directory (default {DEFAULT_HISTORY_DIR})")
    parser.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                        help=f"false discovery rate of the score alarms (default {DEFAULT_ALPHA})")
    parser.add_argument("--min-drop", type=float, default=DEFAULT_MIN_DROP, metavar="FRACTION",
                        help=f"smallest score drop that alarms, as a fraction of the baseline's |mean| "
                             f"(default {DEFAULT_MIN_DROP})")
    parser.add_argument("--speed-tolerance", type=float, metavar="T",
                        help="a speed regression is a new/baseline speed ratio below 1/(1+T), speed being steps per "
                             "CPU-second (wall-clock steps/s where a side has no CPU time); default: measured from the "
                             f"history's repeated runs, else {DEFAULT_SPEED_TOLERANCE}")
    args = parser.parse_args(argv)
    if not 0 < args.alpha < 1:
        parser.error(f"--alpha: expected a level between 0 and 1, got {args.alpha}")
    if args.min_drop < 0:
        parser.error(f"--min-drop: expected a fraction >= 0, got {args.min_drop}")
    if args.speed_tolerance is not None and args.speed_tolerance < 0:
        parser.error(f"--speed-tolerance: expected a fraction >= 0, got {args.speed_tolerance}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    accepted = accepted_path(args.history, args.tier)
    try:
        frame = with_relative_speed(load_history(args.history, args.tier))
        if args.accept:
            record = accept(frame, accepted)
            print(f"Accepted {record['commit']} (runs of {record['date']}) as the {args.tier} baseline: {accepted}")
            return 0
        baseline = resolve_baseline(frame, args.baseline, accepted, history_path(args.history, args.tier))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    tolerances = {measure: (args.speed_tolerance, "given") if args.speed_tolerance is not None
                  else speed_tolerance(frame, measure) for measure in SPEED_MEASURES}
    comparisons, unchanged, no_baseline = compare(frame, baseline)
    return report(comparisons, unchanged, no_baseline, baseline, args, tolerances)


if __name__ == "__main__":
    sys.exit(main())
