"""Turn specs and a tier into jobs, skip what is already finished, run the rest on a backend.

Layout of the results:  RESULTS/<tier>/<experiment>/runs/plan.json     the resolved plan
                        RESULTS/<tier>/<experiment>/runs/<variant>/<env>/seed_<n>/   one run
(<env> is the env id with "/" written "-": ALE-Pong-v5, one directory level). Everything the sweep writes is under
runs/, which git ignores: a sweep never touches a tracked file, so the tree it started from stays clean and every
run records that commit. Analysis copies the plan to <experiment>/spec.json beside the report it writes. A run directory holds
job.json (what was asked) next to the run's own files. A job counts as done when its summary says
completed or diverged (both are results; a diverged run would only diverge again) and its job.json
equals the job asked for now. A run that was interrupted (no summary) for the same job continues
from its last checkpoint; any other is started afresh.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, model_validator

from common.config import SCORE_RULES
from common.rundir import CHECKPOINT
from core.files import path_part, write_json
from runner.claims import Claim, Expectation, Normalization, PublishedNumber, PublishedSummary
from runner.spec import Spec, Tier, Variant

FINISHED = ("completed", "diverged")
PLAN = Path("runs") / "plan.json"  # under the experiment's directory
SWEEPS = "sweeps"  # under the tier's directory, ignored by git: one record per sweep, read by analysis


@dataclass(frozen=True)
class Job:
    experiment: str
    variant: str
    algo: str
    env_id: str
    seed: int
    config: dict
    run_dir: str

    def to_dict(self) -> dict:
        return asdict(self)


def plan(spec: Spec, tier_name: str, results: Path, seeds: int | None = None) -> list[Job]:
    tier: Tier = spec.tiers[tier_name]
    seed_list = range(seeds if seeds is not None else tier.seeds)
    experiment_dir = results / tier_name / spec.name
    # Seed-major: a sweep stopped half-way has every variant on every task for its first seeds, which compare.
    return [
        Job(spec.name, variant.name, variant.algo, env_id, seed,
            spec.run_config(variant, env_id, tier.for_variant(variant.name)),
            str(experiment_dir / "runs" / variant.name / path_part(env_id) / f"seed_{seed}"))
        for seed in seed_list for variant in spec.variants for env_id in tier.for_variant(variant.name).environments
    ]


class PlannedJob(BaseModel):
    variant: str
    algo: str
    env_id: str
    seed: int
    run_dir: str  # relative to the experiment's directory


class VariantPlan(BaseModel):
    """A variant the tier gives its own environments, budget or overrides, with the spec's reason."""
    environments: list[str]  # empty: the variant does not run in this tier
    total_steps: dict[str, int]  # env steps, per environment
    overrides: dict
    why: str


class TierPlan(BaseModel):
    """What the runner hands to analysis (runs/plan.json; analysis copies it to spec.json beside its report): the
    spec resolved for one tier, and every run it asked for, including those that never finished."""
    name: str
    title: str
    reproduces: dict[str, str]
    tier: str
    score_rule: str
    score_rule_text: str
    total_steps: dict[str, int]  # env steps, per environment
    environments: list[str]
    variants: list[Variant]
    seeds: list[int]
    jobs: list[PlannedJob]
    per_variant: dict[str, VariantPlan] = {}
    published: list[PublishedNumber] = []
    published_summary: PublishedSummary | None = None
    context: list[PublishedNumber] = []
    claims: list[Claim] = []
    normalization: Normalization = Normalization()
    expect: list[Expectation] = []

    @model_validator(mode="before")
    @classmethod
    def older_claims(cls, data: object) -> object:
        """Plans written before claims named their statistic, margin and diagnoses were decided by P(A > B), at the
        default margin, with none; before normalization was recorded they have null there."""
        if not isinstance(data, dict):
            return data
        data = {key: value for key, value in data.items() if key != "normalization" or value is not None}
        older = {"statistic": "probability_of_improvement", "margin": None, "diagnosis": {}}
        return data | {"claims": [older | claim if isinstance(claim, dict) else claim
                                  for claim in data.get("claims") or []]}

    def variant_names(self) -> list[str]:
        return [variant.name for variant in self.variants]

    def budget(self, variant: str, env_id: str) -> int:
        """The variant's env steps on the task: its own where the tier gives it one."""
        own = self.per_variant.get(variant)
        return (own.total_steps if own else self.total_steps)[env_id]


def write_plan(spec: Spec, tier_name: str, results: Path, jobs: list[Job]) -> None:
    """runs/plan.json: what analysis needs to know what was expected, including the runs that never finished."""
    tier: Tier = spec.tiers[tier_name]
    experiment_dir = results / tier_name / spec.name
    (experiment_dir / PLAN).parent.mkdir(parents=True, exist_ok=True)
    plan = TierPlan(
        name=spec.name, title=spec.title, reproduces=spec.reproduces, tier=tier_name, score_rule=spec.score_rule,
        score_rule_text=SCORE_RULES[spec.score_rule], total_steps=tier.total_steps,
        environments=list(tier.environments), variants=list(spec.variants), seeds=sorted({job.seed for job in jobs}),
        jobs=[PlannedJob(variant=job.variant, algo=job.algo, env_id=job.env_id, seed=job.seed,
                         run_dir=str(Path(job.run_dir).relative_to(experiment_dir))) for job in jobs],
        per_variant={name: VariantPlan(environments=list(own.environments), total_steps=own.total_steps,
                                       overrides=own.overrides, why=own.why) for name, own in tier.per_variant.items()},
        published=list(spec.published), published_summary=spec.published_summary, context=list(spec.context),
        claims=list(spec.claims), normalization=spec.normalization,
        expect=[expectation for expectation in spec.expectations if expectation.tier == tier_name])
    write_json(experiment_dir / PLAN, plan.model_dump(mode="json"))


def read_plan(experiment_dir: Path) -> TierPlan:
    """The sweep's plan when its runs are on disk, else the spec.json the last analysis wrote beside its report."""
    path = experiment_dir / PLAN
    return TierPlan.model_validate_json((path if path.is_file() else experiment_dir / "spec.json").read_text())


@dataclass
class SweepRecord:
    """One invocation of the sweep: what it ran and how long it took, start to end. Written when it ends (or is
    interrupted) to RESULTS/<tier>/sweeps/<start>.json; the tier's report states the newest one's wall time."""
    tier: str
    experiments: list[str]
    runs_planned: int
    runs_to_run: int
    runs_resumed: int  # of runs_to_run, continuing from a checkpoint
    workers: int
    backend: str
    commit: str
    started: float  # Unix time
    ended: float | None = None
    wall_seconds: float | None = None
    runs_failed: int = 0
    interrupted: bool = False
    machine_cores: int = field(default_factory=lambda: os.cpu_count() or 0)

    def finish(self, results: Path, failed: int, interrupted: bool) -> float:
        self.ended, self.runs_failed, self.interrupted = time.time(), failed, interrupted
        self.wall_seconds = self.ended - self.started
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(self.started))
        (results / self.tier / SWEEPS).mkdir(parents=True, exist_ok=True)
        write_json(results / self.tier / SWEEPS / f"{stamp}.json", asdict(self))
        return self.wall_seconds

    @property
    def in_one_go(self) -> bool:
        """Every planned run made by this sweep from its start: nothing kept from before, nothing resumed, not
        interrupted."""
        return self.runs_to_run == self.runs_planned and self.runs_resumed == 0 and not self.interrupted


def read_summary(run_dir: Path | str) -> dict | None:
    try:
        return json.loads((Path(run_dir) / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def asked_for(job: Job) -> bool:
    """Whether the run directory holds this very job (the same settings, seed and place)."""
    try:
        return json.loads((Path(job.run_dir) / "job.json").read_text()) == job.to_dict()
    except (OSError, ValueError):
        return False


def made_at(job: Job, commit: str) -> bool:
    """Whether the run directory's run was made by the code at `commit` (its config.json records it)."""
    try:
        return json.loads((Path(job.run_dir) / "config.json").read_text()).get("git_commit") == commit
    except (OSError, ValueError):
        return False


def is_done(job: Job, at_commit: str | None = None) -> bool:
    """Finished for the job asked now; with `at_commit`, only a run made by that commit's code counts (a nightly
    regression benchmark reruns what older code produced)."""
    summary = read_summary(job.run_dir)
    return (summary is not None and summary.get("status") in FINISHED and asked_for(job)
            and (at_commit is None or made_at(job, at_commit)))


def forget_other_commits(job: Job, commit: str) -> None:
    """Remove a run made by other code, so that it starts afresh rather than continuing from its checkpoint."""
    if Path(job.run_dir).exists() and not made_at(job, commit):
        shutil.rmtree(job.run_dir)


def resumable(job: Job) -> bool:
    """Interrupted (killed, no summary) after a checkpoint, for the job asked now. A failed run starts
    afresh: its crash may come from the state it saved."""
    run_dir = Path(job.run_dir)
    return read_summary(run_dir) is None and (run_dir / CHECKPOINT).is_file() and asked_for(job)


def prepare(job: Job) -> bool:
    """Keep an interrupted run's directory so that it resumes, or start it afresh, so that no file of
    another attempt survives; True when the run resumes."""
    run_dir = Path(job.run_dir)
    if resumable(job):
        return True
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    write_json(run_dir / "job.json", job.to_dict())
    return False
