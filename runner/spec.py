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

Every error names the file, the field and what was expected; a key written twice in one mapping
(which YAML would silently resolve to the last value) names the line of the second one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
import csv
from pathlib import Path

import yaml

import algos
import envs
from common.config import SCORE_RULES, config_from_dict
from core.errors import ConfigError
from envs.scores import TABLES
from runner.claims import (AGGREGATES, CLAIM_KINDS, CLAIM_SCORES, CLAIM_STATISTICS, DEFAULT_POI_MARGIN,
                           DIAGNOSIS_KINDS, JUDGING_TIERS, MARGIN_KINDS, PUBLISHED_DIR, Claim, Diagnosis, Expectation,
                           Normalization, published_entries, random_scores)

TIERS = ("smoke", "nightly", "paper", "reference", "controls")
SPECS_DIR = Path(__file__).resolve().parent.parent / "experiments"  # the committed specs, one YAML file each


class SpecError(ValueError):
    def __init__(self, path: Path, field: str, expected: str, got: object = None):
        got_text = "" if got is None else f", got {got!r}"
        super().__init__(f"{path}: {field}: expected {expected}{got_text}")


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
    published: tuple[dict, ...]
    """{variant, env_id, score, source, protocol} per published number, read from the `published:` CSV"""
    claims: tuple[Claim, ...] = ()
    published_summary: dict | None = None
    """the paper's summary rows (published.summary), as written in the spec"""
    normalization: Normalization = Normalization(None, {})
    expectations: tuple[Expectation, ...] = ()
    context: tuple[dict, ...] = ()
    """{variant, env_id, score, source, protocol, label} per number of an implementation (not the paper's), read from
    each `context:` CSV: shown beside ours for context, judged by no claim"""

    def run_config(self, variant: Variant, env_id: str, tier: Tier) -> dict:
        """The hyperparameters of one run: variant overrides, then the tier's budget and overrides."""
        return {**variant.overrides, **tier.overrides, "env_id": env_id, "total_steps": tier.total_steps[env_id],
                "eval_interval": tier.eval_interval[env_id], "score_rule": self.score_rule}


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


def _free_mapping(value: object, path: Path, field: str) -> dict:
    if not isinstance(value, dict):
        raise SpecError(path, field, "a mapping", value)
    return value


def _mapping(value: object, path: Path, field: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    for key in _free_mapping(value, path, field):
        if key not in required + optional:
            raise SpecError(path, f"{field}.{key}" if field else key, f"one of the keys {list(required + optional)}", key)
    for key in required:
        if key not in value:
            raise SpecError(path, f"{field}.{key}" if field else key, "a value (the key is required)")
    return value


def _typed(value: object, kind: type | tuple[type, ...], path: Path, field: str) -> object:
    if not isinstance(value, kind) or isinstance(value, bool):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise SpecError(path, field, f"a value of type {names}", value)
    return value


def _env_list(value: object, path: Path, field: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise SpecError(path, field, "a non-empty list of gymnasium env ids", value)
    for index, env_id in enumerate(value):
        try:
            envs.check_env_id(_typed(env_id, str, path, f"{field}[{index}]"))
        except ConfigError as error:
            raise SpecError(path, f"{field}[{index}]", error.expected, env_id) from None
    return tuple(value)


def _per_environment(value: object, environments: tuple[str, ...], path: Path, field: str) -> dict[str, int]:
    """One number for every environment, or a mapping that gives each of them its own."""
    if not isinstance(value, dict):
        return {env_id: _typed(value, int, path, field) for env_id in environments}
    for env_id in value:
        if env_id not in environments:
            raise SpecError(path, f"{field}.{env_id}", f"one of the tier's environments {list(environments)}", env_id)
    return {env_id: _typed(value.get(env_id), int, path, f"{field}.{env_id}") for env_id in environments}


def _tier_environments(body: dict, environments: tuple[str, ...], path: Path, field: str) -> tuple[str, ...]:
    tier_envs = _env_list(body.get("environments", list(environments)), path, f"{field}.environments")
    for env_id in tier_envs:
        if env_id not in environments:
            raise SpecError(path, f"{field}.environments", f"a subset of {list(environments)}", env_id)
    return tier_envs


def _tier(body: object, environments: tuple[str, ...], variant_names: list[str], path: Path, field: str) -> Tier:
    body = _mapping(body, path, field, ("total_steps", "seeds", "eval_interval"),
                    ("environments", "overrides", "variants", "resources"))
    tier_envs = _tier_environments(body, environments, path, field)
    tier = Tier(
        total_steps=_per_environment(body["total_steps"], tier_envs, path, f"{field}.total_steps"),
        seeds=_typed(body["seeds"], int, path, f"{field}.seeds"),
        eval_interval=_per_environment(body["eval_interval"], tier_envs, path, f"{field}.eval_interval"),
        environments=tier_envs,
        overrides=_free_mapping(body.get("overrides", {}), path, f"{field}.overrides"),
        resources=_resources(body.get("resources", {}), path, f"{field}.resources"),
    )
    if tier.seeds < 1:
        raise SpecError(path, f"{field}.seeds", "a positive number of seeds", tier.seeds)
    per_variant = {}
    for name, own in _free_mapping(body.get("variants", {}), path, f"{field}.variants").items():
        own_field = f"{field}.variants.{name}"
        if name not in variant_names:
            raise SpecError(path, own_field, f"one of the spec's variants {variant_names}", name)
        own = _mapping(own, path, own_field, ("why",),
                       ("environments", "total_steps", "eval_interval", "overrides", "resources"))
        _typed(own["why"], str, path, f"{own_field}.why")
        if own.get("environments") == []:  # the variant does not run in this tier; its why says why
            own_envs = ()
        else:
            own_envs = _tier_environments(own, tier_envs, path, own_field) if "environments" in own else tier_envs
        steps = {env_id: tier.total_steps[env_id] for env_id in own_envs}
        interval = {env_id: tier.eval_interval[env_id] for env_id in own_envs}
        per_variant[name] = replace(
            tier, environments=own_envs,
            total_steps=_per_environment(own["total_steps"], own_envs, path, f"{own_field}.total_steps")
            if "total_steps" in own else steps,
            eval_interval=_per_environment(own["eval_interval"], own_envs, path, f"{own_field}.eval_interval")
            if "eval_interval" in own else interval,
            overrides={**tier.overrides, **_free_mapping(own.get("overrides", {}), path, f"{own_field}.overrides")},
            resources={**tier.resources, **_resources(own.get("resources", {}), path, f"{own_field}.resources")},
            why=own["why"])
    return replace(tier, per_variant=per_variant)


def _resources(value: object, path: Path, field: str) -> dict:
    """cpus (> 0), gpus (>= 0, fractions share a GPU), memory_gb (> 0): each optional."""
    body = _mapping(value, path, field, (), ("cpus", "gpus", "memory_gb"))
    for key, amount in body.items():
        _typed(amount, (int, float), path, f"{field}.{key}")
        if amount < 0 or (amount == 0 and key != "gpus"):
            raise SpecError(path, f"{field}.{key}", "0 or more GPUs" if key == "gpus" else "a positive amount", amount)
    return dict(body)


def _text(value: object, path: Path, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(path, field, "a non-empty text", value)
    return value


def _choice(value: object, choices: tuple[str, ...] | list[str], path: Path, field: str) -> str:
    if value not in choices:
        raise SpecError(path, field, f"one of {list(choices)}", value)
    return value


def _numbers_file(section: dict, variant_names: list[str], path: Path, field: str) -> None:
    """A `published:` or `context:` section's CSV, key and columns, checked against the file and the variants."""
    for key in ("file", "key", "protocol", "source"):
        _text(section[key], path, f"{field}.{key}")
    csv_path = PUBLISHED_DIR / section["file"]
    if not csv_path.is_file():
        raise SpecError(path, f"{field}.file", f"a CSV file in {PUBLISHED_DIR}", section["file"])
    header = csv_path.read_text().splitlines()[0].split(",")
    _choice(section["key"], header, path, f"{field}.key")
    for variant, column in _free_mapping(section["columns"], path, f"{field}.columns").items():
        _choice(variant, variant_names, path, f"{field}.columns.{variant}")
        _choice(column, header, path, f"{field}.columns.{variant}")


def _published(section: object, variant_names: list[str], environments: tuple[str, ...], path: Path) -> list[dict]:
    if section is None:
        return []
    section = _mapping(section, path, "published", ("file", "key", "columns", "protocol", "source"), ("summary",))
    _numbers_file(section, variant_names, path, "published")
    if "summary" in section:
        _published_summary(section["summary"], variant_names, path)
    return published_entries(section, list(section["columns"]), environments)


def _context(value: object, variant_names: list[str], environments: tuple[str, ...], path: Path) -> list[dict]:
    """Numbers of implementations, not of the paper (e.g. a library's benchmark page): each entry labelled."""
    entries = []
    for index, section in enumerate(_typed(value, list, path, "context")):
        field = f"context[{index}]"
        section = _mapping(section, path, field, ("file", "key", "columns", "protocol", "source", "label"))
        _numbers_file(section, variant_names, path, field)
        label = _text(section["label"], path, f"{field}.label")
        entries += [entry | {"label": label} for entry in published_entries(section, list(section["columns"]),
                                                                          environments)]
    return entries


def _published_summary(summary: object, variant_names: list[str], path: Path) -> None:
    summary = _mapping(summary, path, "published.summary", ("file", "key", "rows", "columns", "table"))
    csv_path = PUBLISHED_DIR / _text(summary["file"], path, "published.summary.file")
    if not csv_path.is_file():
        raise SpecError(path, "published.summary.file", f"a CSV file in {PUBLISHED_DIR}", summary["file"])
    with open(csv_path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    header = list(rows[0]) if rows else []
    _choice(summary["key"], header, path, "published.summary.key")
    methods = [row[summary["key"]] for row in rows]
    for variant, method in _free_mapping(summary["rows"], path, "published.summary.rows").items():
        _choice(variant, variant_names, path, f"published.summary.rows.{variant}")
        _choice(method, methods, path, f"published.summary.rows.{variant}")
    columns = _mapping(summary["columns"], path, "published.summary.columns", ("mean",), ("median", "training"))
    for name, column in columns.items():
        _choice(column, header, path, f"published.summary.columns.{name}")
    # an Atari human/random table, or best_of: the spec's normalization.best_of scale (the PPO paper's Table 1)
    _choice(summary["table"], [*sorted(TABLES), "best_of"], path, "published.summary.table")


def _claims(entries: object, variant_names: list[str], environments: tuple[str, ...], tier_names: tuple[str, ...],
            published: list[dict], path: Path) -> tuple[Claim, ...]:
    claims = []
    for index, entry in enumerate(_typed(entries, list, path, "claims")):
        field = f"claims[{index}]"
        entry = _mapping(entry, path, field, ("id", "sentence", "kind", "a", "statistic"),
                         ("b", "score", "aggregate", "margin", "tiers", "environments", "why", "diagnosis"))
        claim_id = _text(entry["id"], path, f"{field}.id")
        if claim_id in {claim.id for claim in claims}:
            raise SpecError(path, f"{field}.id", "an id no other claim has", claim_id)
        kind = _choice(entry["kind"], CLAIM_KINDS, path, f"{field}.kind")
        a = _choice(entry["a"], variant_names, path, f"{field}.a")
        b = entry.get("b")
        if kind == "matches_published":
            if b is not None:
                raise SpecError(path, f"{field}.b", "no second variant for matches_published", b)
            if not any(row["variant"] == a for row in published):
                raise SpecError(path, f"{field}.a", "a variant with published numbers (published.columns)", a)
        else:
            _choice(b, [name for name in variant_names if name != a], path, f"{field}.b")
        statistic = _choice(entry["statistic"], CLAIM_STATISTICS[kind], path, f"{field}.statistic")
        margin = entry.get("margin")
        if kind not in MARGIN_KINDS and margin is not None:
            raise SpecError(path, f"{field}.margin", f"no margin except for a claim of kind {' or '.join(MARGIN_KINDS)}",
                            margin)
        if kind in MARGIN_KINDS:
            if margin is None and statistic == "aggregate_difference":
                raise SpecError(path, f"{field}.margin", "a margin in the aggregate's units (how far from b still "
                                "counts as good as b), required with statistic aggregate_difference")
            margin = DEFAULT_POI_MARGIN if margin is None else margin
            if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0 or (
                    statistic == "probability_of_improvement" and margin >= 0.5):
                raise SpecError(path, f"{field}.margin", "a number >= 0 (below 0.5 for probability_of_improvement)",
                                margin)
        claim_tiers = entry.get("tiers", [tier for tier in JUDGING_TIERS if tier in tier_names])
        for tier_index, tier in enumerate(_typed(claim_tiers, list, path, f"{field}.tiers")):
            _choice(tier, tier_names, path, f"{field}.tiers[{tier_index}]")
        claim_envs = entry.get("environments")
        if claim_envs is not None:
            for env_index, env_id in enumerate(_typed(claim_envs, list, path, f"{field}.environments")):
                _choice(env_id, environments, path, f"{field}.environments[{env_index}]")
        diagnosis = _diagnosis(entry.get("diagnosis", {}), claim_tiers, path, f"{field}.diagnosis")
        claims.append(Claim(claim_id, _text(entry["sentence"], path, f"{field}.sentence"), kind, a, b,
                            _choice(entry.get("score", "final"), CLAIM_SCORES, path, f"{field}.score"),
                            _choice(entry.get("aggregate", "iqm"), AGGREGATES, path, f"{field}.aggregate"),
                            statistic, None if margin is None else float(margin), tuple(claim_tiers), tuple(claim_envs) if claim_envs is not None else None,
                            _text(entry["why"], path, f"{field}.why") if "why" in entry else "", diagnosis))
    return tuple(claims)


def _diagnosis(section: object, claim_tiers: list[str], path: Path, field: str) -> dict[str, Diagnosis]:
    diagnoses = {}
    for tier, entry in _free_mapping(section, path, field).items():
        _choice(tier, claim_tiers, path, f"{field}.{tier}")
        entry = _mapping(entry, path, f"{field}.{tier}", ("kind", "text"), ("evidence",))
        evidence = _typed(entry.get("evidence", []), list, path, f"{field}.{tier}.evidence")
        diagnoses[tier] = Diagnosis(_choice(entry["kind"], list(DIAGNOSIS_KINDS), path, f"{field}.{tier}.kind"),
                                    _text(entry["text"], path, f"{field}.{tier}.text"),
                                    tuple(_text(item, path, f"{field}.{tier}.evidence[{index}]")
                                          for index, item in enumerate(evidence)))
    return diagnoses


def _normalization(section: object, environments: tuple[str, ...], variant_names: list[str],
                   path: Path) -> Normalization:
    section = _mapping(section, path, "normalization", (), ("atari", "reference", "best_of"))
    atari = section.get("atari")
    if atari is not None:
        _choice(atari, sorted(TABLES), path, "normalization.atari")
    reference = {}
    measured = random_scores()
    best_of, best_of_source = (), ""
    if "best_of" in section:
        body = _mapping(section["best_of"], path, "normalization.best_of", ("variants", "source"))
        best_of = tuple(_choice(name, variant_names, path, f"normalization.best_of.variants[{index}]")
                        for index, name in enumerate(_typed(body["variants"], list, path,
                                                            "normalization.best_of.variants")))
        best_of_source = _text(body["source"], path, "normalization.best_of.source")
        unmeasured = [env_id for env_id in environments if env_id not in measured and envs.family_of(env_id)[0] != "atari"]
        if unmeasured:
            raise SpecError(path, "normalization.best_of", "tasks whose random-policy scores are measured in "
                            "results/baselines/random_scores.csv (python -m benchmarks.random_scores)", unmeasured)
    for env_id, body in _free_mapping(section.get("reference", {}), path, "normalization.reference").items():
        field = f"normalization.reference.{env_id}"
        _choice(env_id, environments, path, field)
        body = _mapping(body, path, field, ("score", "source"))
        _typed(body["score"], (int, float), path, f"{field}.score")
        _text(body["source"], path, f"{field}.source")
        if env_id not in measured:
            raise SpecError(path, field, "a task whose random-policy score is measured in "
                            "results/baselines/random_scores.csv (python -m benchmarks.random_scores)", env_id)
        if body["score"] == measured[env_id]:
            raise SpecError(path, f"{field}.score", "a reference score other than the random policy's", body["score"])
        reference[env_id] = {"score": float(body["score"]), "source": body["source"]}
    return Normalization(atari, reference, best_of, best_of_source)


def _expectations(section: object, tiers: dict, variant_names: list[str], path: Path) -> tuple[Expectation, ...]:
    expectations = []
    for tier_name, entries in _free_mapping(section, path, "expect").items():
        _choice(tier_name, list(tiers), path, f"expect.{tier_name}")
        for index, entry in enumerate(_typed(entries, list, path, f"expect.{tier_name}")):
            field = f"expect.{tier_name}[{index}]"
            entry = _mapping(entry, path, field, ("variant", "env_id"), ("min_score", "at_least", "mean_at_least"))
            variant = _choice(entry["variant"], variant_names, path, f"{field}.variant")
            tier = tiers[tier_name].for_variant(variant)
            _choice(entry["env_id"], tier.environments, path, f"{field}.env_id")
            if ("mean_at_least" in entry) == ("min_score" in entry or "at_least" in entry):
                raise SpecError(path, field, "either min_score with at_least (seeds), or mean_at_least", entry)
            if "mean_at_least" in entry:
                bar = (None, None, float(_typed(entry["mean_at_least"], (int, float), path, f"{field}.mean_at_least")))
            else:
                for key in ("min_score", "at_least"):
                    if key not in entry:
                        raise SpecError(path, f"{field}.{key}", "a value (min_score and at_least go together)")
                at_least = _typed(entry["at_least"], int, path, f"{field}.at_least")
                if not 1 <= at_least <= tier.seeds:
                    raise SpecError(path, f"{field}.at_least", f"a number of seeds from 1 to the tier's {tier.seeds}",
                                    at_least)
                bar = (float(_typed(entry["min_score"], (int, float), path, f"{field}.min_score")), at_least, None)
            expectations.append(Expectation(tier_name, variant, entry["env_id"], *bar))
    return tuple(expectations)


def load_spec(path: Path | str) -> Spec:
    path = Path(path)
    data = _mapping(_read_yaml(path), path, "", ("name", "title", "reproduces", "score_rule", "variants", "tiers"),
                    ("environments", "published", "claims", "normalization", "expect", "context"))
    name = _typed(data["name"], str, path, "name")
    if name != path.stem:
        raise SpecError(path, "name", f"the file's name {path.stem!r}", name)
    reproduces = _mapping(data["reproduces"], path, "reproduces", ("paper", "table", "claim"))
    for key, text in reproduces.items():
        _typed(text, str, path, f"reproduces.{key}")
    score_rule = _typed(data["score_rule"], str, path, "score_rule")
    if score_rule not in SCORE_RULES:
        raise SpecError(path, "score_rule", f"one of {sorted(SCORE_RULES)}", score_rule)
    if "environments" in data:
        environments = _env_list(data["environments"], path, "environments")
    else:  # every tier names its own; the spec's are all of them
        tier_bodies = _free_mapping(data["tiers"], path, "tiers")
        listed = [(_free_mapping(body, path, f"tiers.{tier}").get("environments"), tier) for tier, body in tier_bodies.items()]
        for tier_envs, tier in listed:
            if tier_envs is None:
                raise SpecError(path, f"tiers.{tier}.environments", "a list of env ids (the spec lists no environments)")
        environments = _env_list(list(dict.fromkeys(env for tier_envs, _ in listed for env in tier_envs)), path, "tiers")

    variants = []
    for variant_name, body in _free_mapping(data["variants"], path, "variants").items():
        field = f"variants.{variant_name}"
        body = _mapping(body, path, field, ("algo",), ("overrides",))
        try:
            algos.load(_typed(body["algo"], str, path, f"{field}.algo"))
        except KeyError:
            raise SpecError(path, f"{field}.algo", f"one of the algorithms {list(algos.ALGORITHMS)}, or an outside "
                            "algorithm's dotted module path (docs/external_algorithms.md)", body["algo"]) from None
        except ImportError as error:
            raise SpecError(path, f"{field}.algo", f"an importable module with {list(algos.REQUIRED)}",
                            f"{body['algo']} ({error})") from None
        variants.append(Variant(variant_name, body["algo"], _free_mapping(body.get("overrides", {}), path, f"{field}.overrides")))
    if not variants:
        raise SpecError(path, "variants", "at least one variant")

    variant_names = [variant.name for variant in variants]
    tiers = {tier_name: _tier(body, environments, variant_names, path, f"tiers.{tier_name}")
             for tier_name, body in _mapping(data["tiers"], path, "tiers", ("smoke",), TIERS[1:]).items()}

    published = _published(data.get("published"), variant_names, environments, path)
    claims = _claims(data.get("claims", []), variant_names, environments, tuple(tiers), published, path)
    normalization = _normalization(data.get("normalization", {}), environments, variant_names, path)
    if ((data.get("published") or {}).get("summary") or {}).get("table") == "best_of" and not normalization.best_of:
        raise SpecError(path, "published.summary.table", "an Atari table, or best_of with normalization.best_of "
                        "naming the variants whose best mean scores 1", "best_of")
    expectations = _expectations(data.get("expect", {}), tiers, variant_names, path)
    context = _context(data.get("context", []), variant_names, environments, path)
    spec = Spec(path, name, _typed(data["title"], str, path, "title"), reproduces, score_rule, environments,
                tuple(variants), tiers, tuple(published), claims, (data.get("published") or {}).get("summary"),
                normalization, expectations, tuple(context))
    # Build every run's config now, so a bad hyperparameter fails before anything is written.
    for tier_name, tier in tiers.items():
        for variant in variants:
            config_class = algos.load(variant.algo).Config
            variant_tier = tier.for_variant(variant.name)
            for env_id in variant_tier.environments:
                try:
                    config_from_dict(config_class, spec.run_config(variant, env_id, variant_tier), source="overrides")
                except ConfigError as error:
                    raise SpecError(path, f"variants.{variant.name} in tier {tier_name}: {error.field}",
                                    error.expected, error.got) from None
    return spec
