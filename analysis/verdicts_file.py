"""verdicts.json: every claim of an experiment judged in one tier, as analysis.judging wrote it. The pages read it
back (this tier's, and the nightly's committed beside a smoke page), so each field is checked on the way in, and a
bad file is named with its field and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, FiniteFloat, ValidationError

from runner.claims import Diagnosis
from runner.spec import first_problem, located, rule

VERDICTS = ("reproduced", "contradicted", "inconclusive", "not judged")


def low_to_high(interval: tuple[float, float]) -> tuple[float, float]:
    if interval[0] > interval[1]:
        raise rule("", "[low, high] with low <= high", list(interval))
    return interval


Interval = Annotated[tuple[FiniteFloat, FiniteFloat], AfterValidator(low_to_high)]
Count = Annotated[int, Field(ge=0)]


class PublishedMatch(BaseModel):
    """A matches_published claim on one task: our mean and CI against the published number."""
    model_config = ConfigDict(strict=True)
    env_id: str
    seeds: Count
    mean: FiniteFloat | None
    ci: Interval | None
    published: FiniteFloat
    ratio: float | None  # ours / published
    distance_in_ci_units: float | None  # (published - mean) / our CI's half-width
    verdict: Literal["reproduced", "below", "above", "not judged"]


class ClaimVerdict(BaseModel):
    """One claim judged in one tier: the claim as the spec words it, its verdict and the statistics that decided it.
    Files written before a field was recorded have its default."""
    model_config = ConfigDict(strict=True)
    claim: str  # the claim's id
    sentence: str
    form: str  # what was compared, how (runner.claims.Claim.form)
    verdict: Literal[VERDICTS]
    probability_of_improvement: Annotated[FiniteFloat, Field(ge=0, le=1)] | None
    poi_ci: Interval | None
    aggregate: str
    difference: FiniteFloat | None  # aggregate(A) - aggregate(B)
    difference_ci: Interval | None
    tasks: Count
    seeds_a: Count
    seeds_b: Count
    reason: str
    kind: str = ""
    why: str = ""
    a: str = ""
    b: str | None = None
    score: str = "final"
    statistic: str = "probability_of_improvement"
    margin: float | None = None
    decided_by: str = "probability_of_improvement"  # the statistic the verdict was decided on
    scale: str | None = None  # raw or normalised
    environments: list[str] = []
    judged_in_tier: bool = True  # False: the tier cannot judge it (its budget, or a variant it leaves out)
    per_task: list[PublishedMatch] = []
    wall_times: dict[str, float] = {}  # equal-wall-clock claims: each side's median seconds
    wall_times_equal: bool | None = None
    wall_clock_note: str | None = None
    diagnosis: Diagnosis | None = None  # the spec's, for this tier

    def needs_diagnosis(self) -> bool:
        """Judged and not "reproduced": the report must say why (a claim the tier cannot judge says so itself)."""
        return self.verdict != "reproduced" and self.judged_in_tier


class VerdictsFile(BaseModel):
    model_config = ConfigDict(strict=True)
    experiment: str
    verdicts: list[ClaimVerdict]
    title: str | None = None
    tier: str | None = None
    reps: int | None = None  # bootstrap resamples per CI
    commit: str | None = None  # the commit the analysis ran at; files written before it was recorded have none
    runs_commits: list[str] = []  # the commits the runs were made at
    date: str | None = None  # UTC ISO date of the analysis


def read_verdicts_file(path: Path, experiment: str) -> VerdictsFile | None:
    """An experiment's verdicts.json, checked field by field; None when there is no file."""
    if not path.is_file():
        return None
    try:
        content = VerdictsFile.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as error:
        raise ValueError(located(path, *first_problem(error))) from None
    if content.experiment != experiment:
        raise ValueError(located(path, "experiment", f"its folder's name {experiment!r}", content.experiment))
    return content
