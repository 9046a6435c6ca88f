"""What the top of RESULTS_DIR/report.html says, gathered as data (analysis.html renders it).

Every page lists the claims judged in its tier's verdicts.json files. A smoke page cannot judge a claim (its
budgets are too small), so it leads instead with what the smoke run did check:
    - each stage of the pipeline: plans written, runs finished (or failed, diverged, never started), checkpoints,
      evaluations and scores written, and the analysis' tables, figures and verdicts;
    - each algorithm's first learning signal: its smoke score on each task beside a random policy's
      (results/baselines/random_scores.csv), with a plain word;
    - beside them, the verdicts committed for the nightly tier next door (RESULTS_DIR/../nightly), with the commit
      they were made at and the command that makes them again.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

from analysis.table import SeedRun, load_runs, read_json
from analysis.verdicts_file import ClaimVerdict, read_verdicts_file
from common.rundir import CHECKPOINT
from runner.claims import RANDOM_SCORES
from runner.sweep import TierPlan, read_plan
ABOVE, NOT_YET, NO_SCORE, NO_RANDOM = "above random", "not above random yet", "no score yet", "no random score measured"
NIGHTLY = "nightly"


# ---------------------------------------------------------------------------------------------------------------
# What the smoke run checked
# ---------------------------------------------------------------------------------------------------------------

def plan_or_none(experiment_dir: Path) -> TierPlan | None:
    """The experiment's plan (the spec resolved for one tier, with its jobs); None when there is none."""
    try:
        return read_plan(experiment_dir)
    except FileNotFoundError:
        return None


def plans_tier(results_dir: Path, experiments: list[str]) -> str | None:
    """The tier every experiment's plan names; None when they name none or several."""
    tiers = {plan.tier for name in experiments if (plan := plan_or_none(results_dir / name))}
    return next(iter(tiers)) if len(tiers) == 1 else None


@dataclass(frozen=True)
class Evaluations:
    """What a run's eval.csv holds: how many evaluations, and the best one."""
    count: int
    best_mean: float | None
    best_step: int | None


def read_evaluations(run_dir: Path) -> Evaluations:
    path = run_dir / "eval.csv"
    if not path.is_file():
        return Evaluations(0, None, None)
    with open(path, newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if math.isfinite(float(row["mean"]))]
    best = max(rows, key=lambda row: float(row["mean"]), default=None)
    return Evaluations(len(rows), float(best["mean"]) if best else None, int(float(best["step"])) if best else None)


@dataclass(frozen=True)
class RunProblem:
    """A run that gave no score, and what to look at."""
    variant: str
    env: str
    seed: int
    problem: str  # as the score table names it: missing, unfinished (no summary.json), failed (ValueError: ...)
    run_dir: Path


@dataclass(frozen=True)
class ExperimentCheck:
    """One experiment's runs, stage by stage, and the files the analysis wrote for it."""
    name: str
    title: str
    planned: int
    completed: int
    diverged: int
    failed: int
    unfinished: int  # started, no summary.json
    missing: int  # never started
    checkpoints: int  # runs with a checkpoint.pt
    evaluated: int  # runs with at least one evaluation
    evaluations: int  # evaluations, all runs together
    scored: int  # runs with a score
    figures: int
    claims: int  # in its verdicts.json
    outputs_missing: tuple[str, ...]  # of what the analysis writes per experiment (ANALYSIS_OUTPUTS)
    problems: tuple[RunProblem, ...]

    @property
    def ran(self) -> bool:
        """Some run of it is on disk, so the analysis wrote its files (else it kept the ones it had)."""
        return self.missing < self.planned

    @property
    def analysed(self) -> bool:
        return not self.outputs_missing


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline over every experiment: `done` of `total`, and in words."""
    name: str
    done: int
    total: int
    detail: str

    @property
    def status(self) -> str:
        """passed (all), partial (some), failed (none), or empty (nothing to do)."""
        if self.total == 0:
            return "empty"
        return "passed" if self.done == self.total else "failed" if self.done == 0 else "partial"


@dataclass(frozen=True)
class RandomScore:
    """A uniformly random policy's return on a task, over `episodes` episodes (benchmarks/random_scores.py)."""
    env_id: str
    mean: float
    std: float
    episodes: int

    @property
    def bar(self) -> float:
        """What a score must beat to be called above random: one standard deviation of a random episode's return
        above its mean, so that a lucky evaluation of an untrained policy is not called learning."""
        return self.mean + self.std


def random_policy_scores(path: Path = RANDOM_SCORES) -> dict[str, RandomScore]:
    if not path.is_file():
        return {}
    with open(path, newline="") as handle:
        return {row["env_id"]: RandomScore(row["env_id"], float(row["mean"]), float(row["std"]), int(row["episodes"]))
                for row in csv.DictReader(handle)}


@dataclass(frozen=True)
class LearningSignal:
    """One variant on one task: its smoke score (mean over the seeds that scored) beside a random policy's."""
    experiment: str
    variant: str
    algo: str
    env: str
    seeds_scored: int
    seeds_planned: int
    score: float | None
    best_evaluation: float | None  # the best evaluation of any seed
    best_evaluation_step: int | None
    random: RandomScore | None
    word: str  # ABOVE, NOT_YET, NO_SCORE or NO_RANDOM


def learning_word(score: float | None, random: RandomScore | None) -> str:
    if random is None:
        return NO_RANDOM
    if score is None:
        return NO_SCORE
    return ABOVE if score > random.bar else NOT_YET


@dataclass(frozen=True)
class SmokeChecks:
    experiments: list[ExperimentCheck]
    stages: list[Stage]
    signals: list[LearningSignal]
    without_plan: list[str]  # experiments of the index with no plan on disk


# what analysis writes per experiment
ANALYSIS_OUTPUTS = ("report.md", "report.json", "table.csv", "verdicts.json", "figures/*.png")


def experiment_check(experiment_dir: Path, plan: TierPlan, runs: list[SeedRun],
                     evaluations: dict[Path, Evaluations]) -> ExperimentCheck:
    statuses = [(run.summary or {}).get("status") if run.run_dir.is_dir() else None for run in runs]
    verdicts = read_json(experiment_dir / "verdicts.json") if (experiment_dir / "verdicts.json").is_file() else None
    return ExperimentCheck(
        name=experiment_dir.name, title=plan.title, planned=len(runs),
        completed=statuses.count("completed"), diverged=statuses.count("diverged"), failed=statuses.count("failed"),
        unfinished=sum(run.run_dir.is_dir() and run.summary is None for run in runs),
        missing=sum(not run.run_dir.is_dir() for run in runs),
        checkpoints=sum((run.run_dir / CHECKPOINT).is_file() for run in runs),
        evaluated=sum(evaluations[run.run_dir].count > 0 for run in runs),
        evaluations=sum(evaluations[run.run_dir].count for run in runs),
        scored=sum(run.problem is None for run in runs),
        figures=len(list((experiment_dir / "figures").glob("*.png"))),
        claims=len((verdicts or {}).get("verdicts") or []),
        outputs_missing=tuple(name for name in ANALYSIS_OUTPUTS if not any(experiment_dir.glob(name))),
        problems=tuple(RunProblem(run.variant, run.env, run.seed, run.problem, run.run_dir)
                       for run in runs if run.problem))


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'s' * (count != 1)}"


def pipeline_stages(checks: list[ExperimentCheck], plans: int) -> list[Stage]:
    def total(field: str) -> int:
        return sum(getattr(check, field) for check in checks)

    planned, ran = total("planned"), [check for check in checks if check.ran]
    not_finished = [f"{total(field):,} {label}" for field, label in
                    (("failed", "failed"), ("diverged", "diverged"), ("unfinished", "unfinished"),
                     ("missing", "never started"))
                    if total(field)]
    missing_outputs = [output for output in ANALYSIS_OUTPUTS if any(output in check.outputs_missing for check in ran)]
    return [
        Stage("Specs loaded and planned", sum(check.planned > 0 for check in checks), plans,
              f"{plural(planned, 'run')} planned"),
        Stage("Runs finished", total("completed"), planned,
              ", ".join(not_finished) if not_finished else "none failed, diverged or unfinished"),
        Stage("Checkpoints written", total("checkpoints"), planned, f"{CHECKPOINT} after each evaluation"),
        Stage("Evaluations done", total("evaluated"), planned, f"{plural(total('evaluations'), 'evaluation')}"),
        Stage("Scores computed", total("scored"), planned, "under each spec's score rule"),
        Stage("Analysis written", sum(check.analysed for check in ran), len(ran),
              f"missing: {', '.join(missing_outputs)}" if missing_outputs else
              f"reports, tables, {plural(sum(check.figures for check in ran), 'figure')}, "
              f"{plural(sum(check.claims for check in ran), 'claim')} in verdicts.json"),
    ]


def learning_signals(experiment: str, plan: TierPlan, runs: list[SeedRun], evaluations: dict[Path, Evaluations],
                     random: dict[str, RandomScore]) -> list[LearningSignal]:
    """One per (variant, task), in the plan's variant order, then task order."""
    variant_order = plan.variant_names()
    env_order = list(dict.fromkeys(plan.environments + [run.env for run in runs]))
    pairs = sorted({(run.variant, run.env) for run in runs},
                   key=lambda pair: (variant_order.index(pair[0]), env_order.index(pair[1])))
    signals = []
    for variant, env in pairs:
        group = [run for run in runs if (run.variant, run.env) == (variant, env)]
        scores = [run.summary["score"] for run in group if run.problem is None]
        best = max((evaluations[run.run_dir] for run in group if evaluations[run.run_dir].count),
                   key=lambda evaluation: evaluation.best_mean, default=None)
        score = sum(scores) / len(scores) if scores else None
        signals.append(LearningSignal(experiment, variant, group[0].algo, env, len(scores), len(group), score,
                                      best.best_mean if best else None, best.best_step if best else None,
                                      random.get(env), learning_word(score, random.get(env))))
    return signals


def smoke_checks(results_dir: Path, experiments: list[str], random_scores_csv: Path = RANDOM_SCORES) -> SmokeChecks:
    """What the run of RESULTS_DIR checked, for the experiments of its index, in the index's order."""
    random = random_policy_scores(random_scores_csv)
    checks, signals, without_plan = [], [], []
    for name in experiments:
        experiment_dir = results_dir / name
        plan = plan_or_none(experiment_dir)
        if plan is None:
            without_plan.append(name)
            continue
        runs = load_runs(experiment_dir, plan)
        evaluations = {run.run_dir: read_evaluations(run.run_dir) for run in runs}
        checks.append(experiment_check(experiment_dir, plan, runs, evaluations))
        signals += learning_signals(name, plan, runs, evaluations, random)
    return SmokeChecks(checks, pipeline_stages(checks, len(experiments)), signals, without_plan)


# ---------------------------------------------------------------------------------------------------------------
# The committed nightly verdicts
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CommittedVerdicts:
    """An experiment's verdicts.json in another tier's directory, with where it came from."""
    experiment: str
    title: str
    tier: str
    verdicts: list[ClaimVerdict]
    commit: str | None  # the commit the analysis ran at; None in files written before verdicts.json recorded it
    runs_commits: list[str]
    date: str | None  # UTC ISO date of the analysis
    report_link: str | None  # the experiment's report.md, relative to the page
    reproduce: str  # the command that makes these verdicts again
    problem: str | None  # why the file could not be read; then verdicts is empty


def committed_verdicts(tier_dir: Path, page_dir: Path) -> list[CommittedVerdicts]:
    """Every TIER_DIR/<experiment>/verdicts.json, sorted by experiment; [] when there is no such directory. A file
    that cannot be read is kept, with its problem, so the page says so instead of failing."""
    committed = []
    for path in sorted(tier_dir.glob("*/verdicts.json")):
        name = path.parent.name
        report = path.parent / "report.md"
        link = Path(os.path.relpath(report, page_dir)).as_posix() if report.is_file() else None
        reproduce = f"./run_all.sh --tier {tier_dir.name} --only {name}"
        try:
            content = read_verdicts_file(path, name)
        except ValueError as error:
            committed.append(CommittedVerdicts(name, name, tier_dir.name, [], None, [], None, link, reproduce,
                                               str(error)))
            continue
        committed.append(CommittedVerdicts(name, content.title or name, content.tier or tier_dir.name,
                                           content.verdicts, content.commit, content.runs_commits, content.date, link,
                                           reproduce, None))
    return committed


def nightly_dir(results_dir: Path) -> Path:
    """The nightly tier beside a results tier: results/smoke -> results/nightly."""
    return results_dir.resolve().parent / NIGHTLY
