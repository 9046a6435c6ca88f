"""Experiment specs: YAML files in experiments/, validated before anything runs.

A spec names the paper result it reproduces, the algorithm variants (an algorithm plus
hyperparameter overrides), the environments, the scoring rule and three budget tiers:

    name: pg_variance_reduction          # must match the file name
    title: ...
    reproduces: {paper: ..., table: ..., claim: ...}
    score_rule: eval_last_10pct          # see common.config.SCORE_RULES
    environments: [CartPole-v1]         # optional when every tier lists its own
    variants:
      reinforce: {algo: reinforce, overrides: {reward_to_go: false}}
    tiers:
      smoke:   {total_steps: 20000, seeds: 3, eval_interval: 2000}
      nightly: {total_steps: 200000, seeds: 5, eval_interval: 10000, environments: [...], overrides: {...}}
      paper:   {total_steps: {CartPole-v1: 500000, MinAtar/Breakout-v1: 5000000}, ...}   # per environment
      paper:   {...}
    claims: [...]; published: {...}; normalization: {...}; expect: {...}   # optional: runner/claims.py
    context: [{file, key, columns, protocol, source, label}]   # optional: implementations' numbers, shown, never judged

A tier may give a variant its own environments, budget or overrides, with the reason:

    nightly: {..., variants: {a3c: {total_steps: 180000, why: "equal wall-clock: ..."}}}

`environments: []` leaves the variant out of the tier; its claims there say "not judged" with the why.

and may say what one run needs of a cluster node (the Ray backend packs runs by it; what is not said
comes from the run's settings, runner/resources.py), for the whole tier or one variant:

    paper: {..., resources: {cpus: 1, gpus: 0.25, memory_gb: 10}}

The file's shape is the pydantic model SpecFile (its JSON schema, `python -m runner.spec --schema`, is committed
as docs/spec.schema.json); the rules that join its sections (a claim's variants are the spec's, a budget's
environments are the tier's, a published column is in its CSV) are checked where the spec is resolved, in
SpecFile.to_spec. Every error names the file, the field and what was expected; a key written twice in one
mapping (which YAML would silently resolve to the last value) names the line of the second one.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

import algos
import envs
from common.config import SCORE_RULES, config_from_dict
from core.errors import ConfigError
from envs.scores import TABLES
from runner.claims import (AGGREGATES, CLAIM_KINDS, CLAIM_SCORES, CLAIM_STATISTICS, DEFAULT_POI_MARGIN,
                           DIAGNOSIS_KINDS, JUDGING_TIERS, MARGIN_KINDS, PUBLISHED_DIR, Claim, Diagnosis, Expectation,
                           Normalization, PublishedNumber, PublishedSummary, published_entries, random_scores)

SPECS_DIR = Path(__file__).resolve().parent.parent / "experiments"  # the committed specs, one YAML file each
RULE = "spec_rule"  # the pydantic error type of a rule of ours, as opposed to one of pydantic's own checks


def located(path: Path, field: str, expected: str, got: object = None) -> str:
    """How a bad input file is named, here and in analysis: `FILE: FIELD: expected WHAT, got VALUE`."""
    return f"{path}: {field}: expected {expected}" + ("" if got is None else f", got {got!r}")


class SpecError(ValueError):
    def __init__(self, path: Path, field: str, expected: str, got: object = None):
        super().__init__(located(path, field, expected, got))


def rule(field: str, expected: str, got: object = None) -> PydanticCustomError:
    """A broken rule, at `field` under the mapping that checks it ("" for the mapping itself)."""
    return PydanticCustomError(RULE, "{field}: expected {expected}", {"field": field, "expected": expected, "got": got})


def supported_env_id(env_id: str) -> str:
    try:
        envs.check_env_id(env_id)
    except ConfigError as error:
        raise rule("", error.expected, env_id) from None
    return env_id


def known_algorithm(algo: str) -> str:
    try:
        algos.load(algo)
    except KeyError:
        raise rule("", f"one of the algorithms {list(algos.ALGORITHMS)}, or an outside algorithm's dotted module path "
                   "(docs/external_algorithms.md)", algo) from None
    except ImportError as error:
        raise rule("", f"an importable module with {list(algos.REQUIRED)}", f"{algo} ({error})") from None
    return algo


def one_or_per_environment(value: object) -> object:
    """A wrong budget named as itself: left to the union below, pydantic would report it once per member."""
    if isinstance(value, dict):
        for env_id, amount in value.items():
            if not isinstance(amount, int) or isinstance(amount, bool):
                raise rule(str(env_id), "a value of type int", amount)
    elif not isinstance(value, int) or isinstance(value, bool):
        raise rule("", "a value of type int, or a mapping that gives each environment its own", value)
    return value


EnvId = Annotated[str, AfterValidator(supported_env_id)]
Text = Annotated[str, Field(pattern=r"\S")]  # not blank
PerEnvironment = Annotated[int | dict[str, int], BeforeValidator(one_or_per_environment)]
"""one number for every environment of the tier, or env id -> its own"""
AtariTable = Literal[tuple(sorted(TABLES))]


class SpecSection(BaseModel):
    """A mapping of a spec file. Strict: YAML's `3` is not "3", nor is `true` 1. `extra="forbid"` writes each
    mapping's keys into the JSON schema; `known_keys` refuses any other key first, naming those it allows."""
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, use_attribute_docstrings=True)

    @model_validator(mode="before")
    @classmethod
    def known_keys(cls, data: object) -> object:
        for key in data if isinstance(data, dict) else ():
            if key not in cls.model_fields:
                raise rule(str(key), f"one of the keys {list(cls.model_fields)}", key)
        return data


class Reproduces(SpecSection):
    paper: str
    table: str
    claim: str


class VariantSection(SpecSection):
    algo: Annotated[str, AfterValidator(known_algorithm)]
    """one of algos.ALGORITHMS, or an outside algorithm's dotted module path (docs/external_algorithms.md)"""
    overrides: dict[str, Any] = {}
    """hyperparameters that differ from the algorithm's Config defaults"""


class Resources(SpecSection):
    """What one run asks of a cluster node, where the spec knows better than the run's settings (runner/resources.py)."""
    cpus: float | None = Field(None, gt=0)
    gpus: float | None = Field(None, ge=0)
    """a fraction shares a GPU"""
    memory_gb: float | None = Field(None, gt=0)

    def said(self) -> dict:
        return self.model_dump(exclude_none=True)


class VariantTierSection(SpecSection):
    """A variant's own settings in one tier, with the reason they differ; `environments: []` leaves it out."""
    why: Text
    environments: list[EnvId] | None = None
    total_steps: PerEnvironment | None = None
    eval_interval: PerEnvironment | None = None
    overrides: dict[str, Any] = {}
    resources: Resources = Resources()


class TierSection(SpecSection):
    total_steps: PerEnvironment
    """env steps per run: one number, or one per environment"""
    seeds: int = Field(ge=1)
    eval_interval: PerEnvironment
    """env steps between evaluations: one number, or one per environment"""
    environments: list[EnvId] | None = Field(None, min_length=1)
    """a subset of the spec's environments (default: all of them)"""
    overrides: dict[str, Any] = {}
    """hyperparameters of every run of the tier"""
    variants: dict[str, VariantTierSection] = {}
    """a variant's own environments, budget or overrides in this tier, with the reason"""
    resources: Resources = Resources()


class TiersSection(SpecSection):
    smoke: TierSection
    nightly: TierSection | None = None
    paper: TierSection | None = None
    reference: TierSection | None = None
    controls: TierSection | None = None


TIERS = tuple(TiersSection.model_fields)


class DiagnosisSection(SpecSection):
    kind: Literal[tuple(DIAGNOSIS_KINDS)]
    text: Text
    evidence: list[Text] = []


class ClaimSection(SpecSection):
    """runner/claims.py describes each key."""
    id: Text
    sentence: Text
    kind: Literal[CLAIM_KINDS]
    a: str
    statistic: Literal[tuple(dict.fromkeys(name for names in CLAIM_STATISTICS.values() for name in names))]
    b: str | None = None
    score: Literal[CLAIM_SCORES] = "final"
    aggregate: Literal[tuple(AGGREGATES)] = "iqm"
    margin: float | None = Field(None, ge=0)
    tiers: list[str] | None = None
    """the tiers whose budgets can judge it (default: those of nightly, paper, reference and controls the spec has)"""
    environments: list[str] | None = None
    why: Text | None = None
    diagnosis: dict[str, DiagnosisSection] = {}

    @model_validator(mode="after")
    def fits_its_kind(self) -> ClaimSection:
        """The statistic, the second variant and the margin that the claim's kind allows."""
        if self.statistic not in CLAIM_STATISTICS[self.kind]:
            raise rule("statistic", f"one of {list(CLAIM_STATISTICS[self.kind])}", self.statistic)
        if self.kind == "matches_published" and self.b is not None:
            raise rule("b", "no second variant for matches_published", self.b)
        if self.kind not in MARGIN_KINDS and self.margin is not None:
            raise rule("margin", f"no margin except for a claim of kind {' or '.join(MARGIN_KINDS)}", self.margin)
        if self.kind in MARGIN_KINDS and self.margin is None and self.statistic == "aggregate_difference":
            raise rule("margin", "a margin in the aggregate's units (how far from b still counts as good as b), "
                       "required with statistic aggregate_difference")
        if self.statistic == "probability_of_improvement" and (self.margin or 0) >= 0.5:
            raise rule("margin", "a number >= 0 (below 0.5 for probability_of_improvement)", self.margin)
        return self


def csv_header(file: str) -> list[str]:
    """The columns of a CSV in results/published/."""
    path = PUBLISHED_DIR / file
    if not path.is_file():
        raise rule("file", f"a CSV file in {PUBLISHED_DIR}", file)
    with open(path, newline="") as handle:
        return next(csv.reader(handle), [])


class NumbersSection(SpecSection):
    """A CSV of results/published/ with one row per task: the column naming the task, and each variant's column."""
    file: Text
    key: Text
    columns: dict[str, str]
    """variant -> the column holding its number"""
    protocol: Text
    """how the numbers were measured"""
    source: Text

    @model_validator(mode="after")
    def columns_are_in_the_file(self) -> NumbersSection:
        header = csv_header(self.file)
        if self.key not in header:
            raise rule("key", f"one of {header}", self.key)
        for variant, column in self.columns.items():
            if column not in header:
                raise rule(f"columns.{variant}", f"one of {header}", column)
        return self


class SummaryColumns(SpecSection):
    mean: str
    median: str | None = None
    training: str | None = None


class SummarySection(SpecSection):
    """The paper's own summary rows (Atari human-normalised), one row per method."""
    file: Text
    key: Text
    rows: dict[str, str]
    """variant -> the row of its method"""
    columns: SummaryColumns
    # an Atari human/random table, or best_of: the spec's normalization.best_of scale (the PPO paper's Table 1)
    table: Literal[(*sorted(TABLES), "best_of")]

    @model_validator(mode="after")
    def rows_and_columns_are_in_the_file(self) -> SummarySection:
        header = csv_header(self.file)
        if self.key not in header:
            raise rule("key", f"one of {header}", self.key)
        with open(PUBLISHED_DIR / self.file, newline="") as handle:
            methods = [row[self.key] for row in csv.DictReader(handle)]
        for variant, method in self.rows.items():
            if method not in methods:
                raise rule(f"rows.{variant}", f"one of {methods}", method)
        for name, column in self.columns.model_dump(exclude_none=True).items():
            if column not in header:
                raise rule(f"columns.{name}", f"one of {header}", column)
        return self


class PublishedSection(NumbersSection):
    summary: SummarySection | None = None


class ContextSection(NumbersSection):
    """Numbers of an implementation, not of the paper (e.g. a library's benchmark page): shown, never judged."""
    label: Text


class BestOfSection(SpecSection):
    variants: list[str]
    source: Text


class ReferenceScore(SpecSection):
    score: float
    """the score that maps to 1 (the random policy's, measured, maps to 0)"""
    source: Text


class NormalizationSection(SpecSection):
    atari: AtariTable | None = None
    reference: dict[str, ReferenceScore] = {}
    best_of: BestOfSection | None = None


class ExpectationSection(SpecSection):
    """A pass bar: min_score on at_least of the tier's seeds, or the seeds' mean_at_least."""
    variant: str
    env_id: str
    min_score: float | None = None
    at_least: int | None = None
    mean_at_least: float | None = None

    @model_validator(mode="after")
    def one_kind_of_bar(self) -> ExpectationSection:
        if (self.mean_at_least is not None) == (self.min_score is not None or self.at_least is not None):
            raise rule("", "either min_score with at_least (seeds), or mean_at_least",
                       self.model_dump(exclude_none=True))
        for key in ("min_score", "at_least"):
            if self.mean_at_least is None and getattr(self, key) is None:
                raise rule(key, "a value (min_score and at_least go together)")
        return self


@dataclass(frozen=True)
class Variant:
    name: str
    algo: str
    overrides: dict


@dataclass(frozen=True)
class Tier:
    total_steps: dict[str, int]    # per environment
    seeds: int
    eval_interval: dict[str, int]  # per environment
    environments: tuple[str, ...]
    overrides: dict
    per_variant: dict = field(default_factory=dict)
    """variant name -> the Tier that variant runs (its own environments, budget or overrides)"""
    why: str = ""
    """in a variant's own Tier: why its settings differ from the tier's"""
    resources: dict = field(default_factory=dict)
    """what one run asks of a cluster node, where the spec says it: cpus, gpus, memory_gb (runner/resources.py)"""

    def for_variant(self, name: str) -> Tier:
        return self.per_variant.get(name, self)


@dataclass(frozen=True)
class Spec:
    path: Path
    name: str
    title: str
    reproduces: dict
    score_rule: str
    environments: tuple[str, ...]
    variants: tuple[Variant, ...]
    tiers: dict
    published: tuple[PublishedNumber, ...]
    """read from the `published:` CSV"""
    claims: tuple[Claim, ...] = ()
    published_summary: PublishedSummary | None = None
    normalization: Normalization = Normalization()
    expectations: tuple[Expectation, ...] = ()
    context: tuple[PublishedNumber, ...] = ()
    """the numbers of implementations (not the paper's), read from each `context:` CSV with its label: shown beside
    ours for context, judged by no claim"""

    def run_config(self, variant: Variant, env_id: str, tier: Tier) -> dict:
        """The hyperparameters of one run: variant overrides, then the tier's budget and overrides."""
        return {**variant.overrides, **tier.overrides, "env_id": env_id, "total_steps": tier.total_steps[env_id],
                "eval_interval": tier.eval_interval[env_id], "score_rule": self.score_rule}


def choice(value: object, choices: list | tuple, field: str) -> None:
    if value not in choices:
        raise rule(field, f"one of {list(choices)}", value)


def per_environment(value: int | dict[str, int], environments: tuple[str, ...], field: str) -> dict[str, int]:
    """Each environment's number, from one for all or from the mapping that must give each its own."""
    if not isinstance(value, dict):
        return dict.fromkeys(environments, value)
    for env_id in value:
        if env_id not in environments:
            raise rule(f"{field}.{env_id}", f"one of the tier's environments {list(environments)}", env_id)
    for env_id in environments:
        if env_id not in value:
            raise rule(f"{field}.{env_id}", "a value of type int")
    return {env_id: value[env_id] for env_id in environments}


def subset(environments: list[str], of: tuple[str, ...], field: str) -> tuple[str, ...]:
    for env_id in environments:
        if env_id not in of:
            raise rule(field, f"a subset of {list(of)}", env_id)
    return tuple(environments)


class SpecFile(SpecSection):
    """An experiment spec, as written in experiments/<name>.yaml (runner/spec.py and runner/claims.py describe it)."""
    name: str
    """the file's name without .yaml"""
    title: str
    reproduces: Reproduces
    score_rule: Literal[tuple(sorted(SCORE_RULES))]
    """how a run's score is read from its evaluations or training episodes (common.config.SCORE_RULES)"""
    variants: dict[str, VariantSection] = Field(min_length=1)
    """variant name -> an algorithm and its overrides"""
    tiers: TiersSection
    environments: list[EnvId] | None = Field(None, min_length=1)
    """gymnasium env ids; optional when every tier lists its own"""
    published: PublishedSection | None = None
    """the paper's numbers, from a CSV in results/published/"""
    claims: list[ClaimSection] = []
    """the paper's claims, each judged in the tiers that can judge it"""
    normalization: NormalizationSection = NormalizationSection()
    """how scores become comparable across tasks"""
    expect: dict[str, list[ExpectationSection]] = {}
    """tier -> the bars its runs must reach"""
    context: list[ContextSection] = []
    """implementations' numbers (not the paper's), shown beside ours, judged by no claim"""

    def to_spec(self, path: Path) -> Spec:
        """The resolved spec: each tier's and variant's environments and budgets, the published numbers read, the
        defaults of claims filled in. Raises `rule` errors for the rules that join sections."""
        environments = self.all_environments()
        variant_names = list(self.variants)
        tiers = {name: self.tier(name, body, environments) for name, body in self.tiers if body is not None}
        published = self.published_numbers(environments)
        for index, numbers in enumerate(self.context):
            for variant in numbers.columns:
                choice(variant, variant_names, f"context[{index}].columns.{variant}")
        normalization = self.resolved_normalization(environments)
        summary = self.published.summary if self.published else None
        if summary is not None and summary.table == "best_of" and not normalization.best_of:
            raise rule("published.summary.table", "an Atari table, or best_of with normalization.best_of naming the "
                       "variants whose best mean scores 1", "best_of")
        return Spec(path, self.name, self.title, self.reproduces.model_dump(), self.score_rule, environments,
                    tuple(Variant(name, body.algo, body.overrides) for name, body in self.variants.items()), tiers,
                    tuple(published), self.resolved_claims(environments, tuple(tiers), published),
                    PublishedSummary(summary.file, summary.key, summary.rows,
                                     summary.columns.model_dump(exclude_none=True), summary.table) if summary else None,
                    normalization, self.resolved_expectations(tiers),
                    tuple(entry for numbers in self.context for entry in published_entries(
                        numbers.model_dump(), list(numbers.columns), environments, numbers.label)))

    def all_environments(self) -> tuple[str, ...]:
        if self.environments is not None:
            return tuple(self.environments)
        for name, body in self.tiers:  # every tier names its own; the spec's are all of them
            if body is not None and body.environments is None:
                raise rule(f"tiers.{name}.environments", "a list of env ids (the spec lists no environments)")
        return tuple(dict.fromkeys(env_id for _, body in self.tiers if body is not None for env_id in body.environments))

    def tier(self, name: str, body: TierSection, environments: tuple[str, ...]) -> Tier:
        field = f"tiers.{name}"
        tier_envs = subset(body.environments or list(environments), environments, f"{field}.environments")
        tier = Tier(per_environment(body.total_steps, tier_envs, f"{field}.total_steps"), body.seeds,
                    per_environment(body.eval_interval, tier_envs, f"{field}.eval_interval"), tier_envs,
                    body.overrides, resources=body.resources.said())
        per_variant = {}
        for variant, own in body.variants.items():
            own_field = f"{field}.variants.{variant}"
            if variant not in self.variants:
                raise rule(own_field, f"one of the spec's variants {list(self.variants)}", variant)
            own_envs = tier_envs if own.environments is None else subset(own.environments, tier_envs,
                                                                            f"{own_field}.environments")
            per_variant[variant] = replace(
                tier, environments=own_envs,
                total_steps={env_id: tier.total_steps[env_id] for env_id in own_envs} if own.total_steps is None
                else per_environment(own.total_steps, own_envs, f"{own_field}.total_steps"),
                eval_interval={env_id: tier.eval_interval[env_id] for env_id in own_envs} if own.eval_interval is None
                else per_environment(own.eval_interval, own_envs, f"{own_field}.eval_interval"),
                overrides={**tier.overrides, **own.overrides}, resources={**tier.resources, **own.resources.said()},
                why=own.why)
        return replace(tier, per_variant=per_variant)

    def published_numbers(self, environments: tuple[str, ...]) -> list[PublishedNumber]:
        if self.published is None:
            return []
        for variant in self.published.columns:
            choice(variant, list(self.variants), f"published.columns.{variant}")
        for variant in self.published.summary.rows if self.published.summary else ():
            choice(variant, list(self.variants), f"published.summary.rows.{variant}")
        return published_entries(self.published.model_dump(), list(self.published.columns), environments)

    def resolved_claims(self, environments: tuple[str, ...], tier_names: tuple[str, ...],
                        published: list[PublishedNumber]) -> tuple[Claim, ...]:
        claims = []
        for index, claim in enumerate(self.claims):
            field = f"claims[{index}]"
            if claim.id in {earlier.id for earlier in claims}:
                raise rule(f"{field}.id", "an id no other claim has", claim.id)
            choice(claim.a, list(self.variants), f"{field}.a")
            if claim.kind == "matches_published":
                if not any(number.variant == claim.a for number in published):
                    raise rule(f"{field}.a", "a variant with published numbers (published.columns)", claim.a)
            else:
                choice(claim.b, [name for name in self.variants if name != claim.a], f"{field}.b")
            claim_tiers = claim.tiers if claim.tiers is not None else [t for t in JUDGING_TIERS if t in tier_names]
            for tier_index, tier in enumerate(claim_tiers):
                choice(tier, tier_names, f"{field}.tiers[{tier_index}]")
            for env_index, env_id in enumerate(claim.environments or ()):
                choice(env_id, environments, f"{field}.environments[{env_index}]")
            for tier in claim.diagnosis:
                choice(tier, claim_tiers, f"{field}.diagnosis.{tier}")
            margin = DEFAULT_POI_MARGIN if claim.margin is None and claim.kind in MARGIN_KINDS else claim.margin
            claims.append(Claim(claim.id, claim.sentence, claim.kind, claim.a, claim.b, claim.score, claim.aggregate,
                                claim.statistic, margin, tuple(claim_tiers),
                                None if claim.environments is None else tuple(claim.environments), claim.why or "",
                                {tier: Diagnosis(d.kind, d.text, tuple(d.evidence))
                                 for tier, d in claim.diagnosis.items()}))
        return tuple(claims)

    def resolved_normalization(self, environments: tuple[str, ...]) -> Normalization:
        section = self.normalization
        measured = random_scores()
        best_of = ()
        if section.best_of is not None:
            for index, name in enumerate(section.best_of.variants):
                choice(name, list(self.variants), f"normalization.best_of.variants[{index}]")
            best_of = tuple(section.best_of.variants)
            unmeasured = [env_id for env_id in environments
                          if env_id not in measured and envs.family_of(env_id)[0] != "atari"]
            if unmeasured:
                raise rule("normalization.best_of", "tasks whose random-policy scores are measured in "
                           "results/baselines/random_scores.csv (python -m benchmarks.random_scores)", unmeasured)
        for env_id, reference in section.reference.items():
            field = f"normalization.reference.{env_id}"
            choice(env_id, environments, field)
            if env_id not in measured:
                raise rule(field, "a task whose random-policy score is measured in results/baselines/random_scores.csv "
                           "(python -m benchmarks.random_scores)", env_id)
            if reference.score == measured[env_id]:
                raise rule(f"{field}.score", "a reference score other than the random policy's", reference.score)
        return Normalization(section.atari, {env_id: reference.model_dump()
                                             for env_id, reference in section.reference.items()},
                             best_of, section.best_of.source if section.best_of else "")

    def resolved_expectations(self, tiers: dict[str, Tier]) -> tuple[Expectation, ...]:
        expectations = []
        for tier_name, bars in self.expect.items():
            choice(tier_name, list(tiers), f"expect.{tier_name}")
            for index, bar in enumerate(bars):
                field = f"expect.{tier_name}[{index}]"
                choice(bar.variant, list(self.variants), f"{field}.variant")
                tier = tiers[tier_name].for_variant(bar.variant)
                choice(bar.env_id, tier.environments, f"{field}.env_id")
                if bar.at_least is not None and not 1 <= bar.at_least <= tier.seeds:
                    raise rule(f"{field}.at_least", f"a number of seeds from 1 to the tier's {tier.seeds}", bar.at_least)
                expectations.append(Expectation(tier_name, bar.variant, bar.env_id, bar.min_score, bar.at_least,
                                                bar.mean_at_least))
        return tuple(expectations)


class _DuplicateKey(Exception):
    def __init__(self, key: object, first_line: int, line: int):
        super().__init__(key)
        self.key, self.first_line, self.line = key, first_line, line


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping instead of keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_lines: dict = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                continue  # SafeLoader's own error names it
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise _DuplicateKey(key, first_lines[key], line)
            first_lines[key] = line
        return super().construct_mapping(node, deep)


def _read_yaml(path: Path) -> object:
    try:
        return yaml.load(path.read_text(), Loader=_UniqueKeyLoader)
    except (OSError, yaml.YAMLError) as error:
        raise SpecError(path, "(file)", "a readable YAML file", str(error).splitlines()[0]) from None
    except _DuplicateKey as duplicate:
        raise SpecError(path, f"line {duplicate.line}", f"each key once per mapping (the first {duplicate.key!r} "
                        f"is at line {duplicate.first_line})", duplicate.key) from None


def field_path(location: tuple, under: str = "") -> str:
    """`tiers.smoke.seeds`, `claims[0].kind`: a pydantic location, then a rule's field under it."""
    path = ""
    for part in (*location, *([under] if under else [])):
        path += f"[{part}]" if isinstance(part, int) else f".{part}" if path and not part.startswith("[") else part
    return path or "(the whole file)"


EXPECTED = {  # pydantic's error types, worded as what was expected
    "missing": "a value (the key is required)",
    "int_type": "a value of type int",
    "float_type": "a value of type int or float",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "string_type": "a value of type str",
    "list_type": "a value of type list",
    "tuple_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "dataclass_type": "a mapping",
    "string_pattern_mismatch": "a non-empty text",
    "too_short": "at least one entry",
}
BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
BOUND_KEYS = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def first_problem(error: ValidationError) -> tuple[str, str, object]:
    """The field, what was expected there and what was given, of the first problem pydantic or a rule found."""
    first = error.errors(include_url=False)[0]
    context = first.get("ctx") or {}
    if first["type"] == RULE:
        return field_path(first["loc"], context["field"]), context["expected"], context["got"]
    if first["type"] == "literal_error":  # pydantic words the choices "'a', 'b' or 'c'"; ours have no " or "
        expected = f"one of [{context['expected'].replace(' or ', ', ')}]"
    elif first["type"] in BOUNDS:
        expected = f"a number {BOUNDS[first['type']]} {context[BOUND_KEYS[first['type']]]:g}"
    else:
        expected = EXPECTED.get(first["type"], first["msg"])
    return field_path(first["loc"]), expected, None if first["type"] == "missing" else first["input"]


def load_spec(path: Path | str) -> Spec:
    path = Path(path)
    try:
        spec = SpecFile.model_validate(_read_yaml(path)).to_spec(path)
    except ValidationError as error:
        raise SpecError(path, *first_problem(error)) from None
    except PydanticCustomError as broken:  # a rule that joins sections, checked by to_spec
        raise SpecError(path, field_path((), broken.context["field"]), broken.context["expected"],
                        broken.context["got"]) from None
    if spec.name != path.stem:
        raise SpecError(path, "name", f"the file's name {path.stem!r}", spec.name)
    # Build every run's config now, so a bad hyperparameter fails before anything is written.
    for tier_name, tier in spec.tiers.items():
        for variant in spec.variants:
            config_class = algos.load(variant.algo).Config
            variant_tier = tier.for_variant(variant.name)
            for env_id in variant_tier.environments:
                try:
                    config_from_dict(config_class, spec.run_config(variant, env_id, variant_tier), source="overrides")
                except ConfigError as error:
                    raise SpecError(path, f"variants.{variant.name} in tier {tier_name}: {error.field}",
                                    error.expected, error.got) from None
    return spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner.spec", description="Check experiment specs, or print the "
                                     "JSON schema of their format (committed as docs/spec.schema.json).")
    parser.add_argument("specs", nargs="*", type=Path, help="spec files to check (default: every one in experiments/)")
    parser.add_argument("--schema", action="store_true", help="print the JSON schema of a spec file and exit")
    args = parser.parse_args(argv)
    if args.schema:
        print(json.dumps(SpecFile.model_json_schema(), indent=2))
        return 0
    for path in args.specs or sorted(SPECS_DIR.glob("*.yaml")):
        try:
            load_spec(path)
        except SpecError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print(f"{path}: valid")
    return 0


if __name__ == "__main__":
    sys.exit(main())
