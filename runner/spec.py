"""Experiment specs: YAML files in experiments/, validated before anything runs.

A spec names the paper result it reproduces, the algorithm variants (an algorithm plus
hyperparameter overrides), the environments, the scoring rule and three budget tiers:

    name: pg_variance_reduction          # must match the file name
    title: ...
    reproduces: {paper: ..., table: ..., claim: ...}
    score_rule: eval_last_10pct          # see common.config.SCORE_RULES
    environments: [CartPole-v1]
    variants:
      reinforce: {algo: reinforce, overrides: {reward_to_go: false}}
    tiers:
      smoke:   {total_steps: 20000, seeds: 3, eval_interval: 2000}
      nightly: {total_steps: 200000, seeds: 5, eval_interval: 10000, environments: [...], overrides: {...}}
      paper:   {total_steps: {CartPole-v1: 500000, MinAtar/Breakout-v1: 5000000}, ...}   # per environment
      paper:   {...}
    published: [{variant: ..., env_id: ..., score: ..., source: ...}]   # optional

Every error names the file, the field and what was expected; a key written twice in one mapping
(which YAML would silently resolve to the last value) names the line of the second one.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from pathlib import Path

import yaml

import algos
import envs
from common.config import SCORE_RULES, config_from_dict
from core.errors import ConfigError

TIERS = ("smoke", "nightly", "paper")


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


def load_spec(path: Path | str) -> Spec:
    path = Path(path)
    data = _mapping(_read_yaml(path), path, "", ("name", "title", "reproduces", "score_rule", "environments", "variants", "tiers"),
                    ("published",))
    name = _typed(data["name"], str, path, "name")
    if name != path.stem:
        raise SpecError(path, "name", f"the file's name {path.stem!r}", name)
    reproduces = _mapping(data["reproduces"], path, "reproduces", ("paper", "table", "claim"))
    for key, text in reproduces.items():
        _typed(text, str, path, f"reproduces.{key}")
    score_rule = _typed(data["score_rule"], str, path, "score_rule")
    if score_rule not in SCORE_RULES:
        raise SpecError(path, "score_rule", f"one of {sorted(SCORE_RULES)}", score_rule)
    environments = _env_list(data["environments"], path, "environments")

    variants = []
    for variant_name, body in _free_mapping(data["variants"], path, "variants").items():
        field = f"variants.{variant_name}"
        body = _mapping(body, path, field, ("algo",), ("overrides",))
        if body["algo"] not in algos.ALGORITHMS:
            raise SpecError(path, f"{field}.algo", f"one of the algorithms {list(algos.ALGORITHMS)}", body["algo"])
        variants.append(Variant(variant_name, body["algo"], _free_mapping(body.get("overrides", {}), path, f"{field}.overrides")))
    if not variants:
        raise SpecError(path, "variants", "at least one variant")

    tiers = {}
    for tier_name, body in _mapping(data["tiers"], path, "tiers", ("smoke",), TIERS[1:]).items():
        field = f"tiers.{tier_name}"
        body = _mapping(body, path, field, ("total_steps", "seeds", "eval_interval"), ("environments", "overrides"))
        tier_envs = _env_list(body.get("environments", list(environments)), path, f"{field}.environments")
        for env_id in tier_envs:
            if env_id not in environments:
                raise SpecError(path, f"{field}.environments", f"a subset of the spec's environments {list(environments)}", env_id)
        tiers[tier_name] = Tier(
            total_steps=_per_environment(body["total_steps"], tier_envs, path, f"{field}.total_steps"),
            seeds=_typed(body["seeds"], int, path, f"{field}.seeds"),
            eval_interval=_per_environment(body["eval_interval"], tier_envs, path, f"{field}.eval_interval"),
            environments=tier_envs,
            overrides=_free_mapping(body.get("overrides", {}), path, f"{field}.overrides"),
        )
        if tiers[tier_name].seeds < 1:
            raise SpecError(path, f"{field}.seeds", "a positive number of seeds", tiers[tier_name].seeds)

    published = _typed(data.get("published", []), list, path, "published")
    for index, entry in enumerate(published):
        _mapping(entry, path, f"published[{index}]", ("variant", "env_id", "score", "source"))
        _typed(entry["score"], (int, float), path, f"published[{index}].score")
    spec = Spec(path, name, _typed(data["title"], str, path, "title"), reproduces, score_rule, environments,
                tuple(variants), tiers, tuple(published))
    # Build every run's config now, so a bad hyperparameter fails before anything is written.
    for tier_name, tier in tiers.items():
        for variant in variants:
            config_class = algos.load(variant.algo).Config
            for env_id in tier.environments:
                try:
                    config_from_dict(config_class, spec.run_config(variant, env_id, tier), source="overrides")
                except ConfigError as error:
                    raise SpecError(path, f"variants.{variant.name} in tier {tier_name}: {error.field}",
                                    error.expected, error.got) from None
    return spec
