"""Settings every algorithm shares: what to train on, the budget, and how a run is scored; and presets.

Each algorithm's `Config` inherits `RunConfig`, is decorated with `@config_class` (a dataclass that
remembers which fields the caller gave), and adds its own hyperparameters. Fields are documented by
the string literal under them; `common.cli` turns those into `--help`.

Presets. The dataclass defaults are the algorithm's paper setting, written once, with their citation.
A class may name other presets in `PRESETS`, each written as its differences from the defaults (the
defaults' own preset maps to {}). `preset="auto"` asks `preset_for(env_id)`. However a config is built
(Python, the command line, a spec), `__post_init__` resolves the preset the same way: a preset's value
replaces a default wherever the caller did not give that field. A built config never says "auto".

Options. A published variant switched on by a bool field may change other settings in its paper (the
prioritized replay's smaller step size). `OPTION_EFFECTS` declares those changes beside the option, with
their source, as data; they apply after the preset, to the fields the caller did not give, and
`differences_from_preset` compares a run with the preset and its options' effects together.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass
from typing import ClassVar

import torch

import envs
from core.errors import ConfigError, require

@dataclass(frozen=True)
class OptionEffect:
    """What switching an option on does to settings the caller did not give, and the source that says so."""

    source: str
    sets: dict[str, object] = dataclasses.field(default_factory=dict)
    """field -> the value it takes"""
    divides: dict[str, float] = dataclasses.field(default_factory=dict)
    """field -> the divisor of the value it has under the preset"""
    presets: tuple[str, ...] = ()
    """the presets it applies under; () under every preset"""

    def apply(self, values: dict, preset: str) -> None:
        if self.presets and preset not in self.presets:
            return
        values.update(self.sets)
        for name, divisor in self.divides.items():
            values[name] = values[name] / divisor


# Fields a run chooses (what to train on, for how long, on which device): never a deviation from a preset.
CPU_CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)  # ours to use
RUN_FIELDS = ("env_id", "env_backend", "preset", "total_steps", "eval_interval", "eval_episodes", "device",
              "torch_threads")
SCORE_RULES = {
    "eval_last_10pct": "mean evaluation return over the evaluations in the last 10% of training",
    "train_last_100": "mean return of the last 100 training episodes (the PPO paper's rule)",
}


def config_class(klass: type) -> type:
    """@dataclass, plus a record of the fields the caller gave (positionally or by name), so that a
    preset fills only the others."""
    klass = dataclass(klass)
    generated_init = klass.__init__
    names = [field.name for field in dataclasses.fields(klass) if field.init]

    @functools.wraps(generated_init)
    def __init__(self, *args, **kwargs):
        object.__setattr__(self, "_given", frozenset(names[: len(args)]) | frozenset(kwargs))
        generated_init(self, *args, **kwargs)

    klass.__init__ = __init__
    return klass


@config_class
class RunConfig:
    PRESETS: ClassVar[dict[str, dict]] = {}
    """preset name -> its differences from the dataclass defaults; empty: the class has one setting"""
    CHECKED_ON: ClassVar[dict[str, tuple[str, ...]]] = {}
    """preset not from a paper -> the tasks it was tuned or measured on; a run elsewhere says so"""
    NOT_FROM_A_PAPER: ClassVar[tuple[str, ...]] = ()
    """presets that are no paper's: a run's deviations say so"""
    OPTIONS: ClassVar[tuple[str, ...]] = ()
    """the published variants the class offers as switches (bool fields): choosing one is no deviation"""
    OPTION_EFFECTS: ClassVar[dict[str, tuple[OptionEffect, ...]]] = {}
    """option (a bool field) -> what switching it on changes beyond itself, applied in this order"""
    NOT_DEVIATIONS: ClassVar[tuple[str, ...]] = ()
    """fields beside RUN_FIELDS whose given value is no deviation from the preset (each class says why)"""

    env_id: str = "CartPole-v1"
    """environment id: ALE/<Game>-v5, dmc/<domain>-<task>, MinAtar/<Game>-v1 or a gymnasium id"""
    env_protocol: str = "default"
    """environment protocol, optionally with options, e.g. dqn2015, machado2018:full_action_space=true, dmc:action_repeat=4"""
    env_backend: str = "gymnasium"
    """vector env engine: gymnasium, gymnasium_async (one process per env) or ale_vector (Atari only, C++ threads)"""
    preset: str = "auto"
    """where the settings you do not give come from: auto (chosen by environment family) or a preset named below"""
    total_steps: int = 100_000
    """training budget in environment steps (agent steps, summed over parallel envs)"""
    eval_interval: int = 10_000
    """environment steps between evaluations (one more runs at the end of training)"""
    eval_episodes: int = 10
    """whole episodes played per evaluation"""
    eval_deterministic: bool = False
    """evaluate with the most likely action instead of sampling from the policy"""
    eval_epsilon: float = 0.0
    """during evaluation, replace an action by a uniformly random one with this probability"""
    score_rule: str = "eval_last_10pct"
    """how the run's final score is computed: eval_last_10pct | train_last_100"""
    device: str = "auto"
    """torch device: auto (cuda if available, else cpu), cpu, cuda, cuda:N"""
    torch_threads: int = 1
    """intra-op CPU threads; small networks run fastest on one, and parallel runs do not fight"""

    def __post_init__(self) -> None:
        if type(self).PRESETS:
            self._apply_preset()
        require(self.total_steps > 0, "total_steps", "a positive number of environment steps", self.total_steps)
        require(self.eval_interval > 0, "eval_interval", "a positive number of environment steps", self.eval_interval)
        require(self.eval_episodes > 0, "eval_episodes", "a positive number of episodes", self.eval_episodes)
        require(self.score_rule in SCORE_RULES, "score_rule", f"one of {sorted(SCORE_RULES)}", self.score_rule)
        require(self.torch_threads > 0, "torch_threads", "a positive number", self.torch_threads)
        require(0.0 <= self.eval_epsilon <= 1.0, "eval_epsilon", "a probability in [0, 1]", self.eval_epsilon)
        envs.resolve(self.env_id, self.env_protocol, self.env_backend)
        try:
            torch.device(self.device if self.device != "auto" else "cpu")
        except RuntimeError:
            raise ConfigError("device", "auto, cpu, cuda or cuda:N", self.device) from None

    @staticmethod
    def preset_for(env_id: str) -> str:
        """The preset `auto` stands for on this environment (classes with PRESETS override this)."""
        raise NotImplementedError

    def _apply_preset(self) -> None:
        envs.check_env_id(self.env_id)  # preset_for needs a known id
        name = self.preset_for(self.env_id) if self.preset == "auto" else self.preset
        require(name in self.PRESETS, "preset", f"auto or one of {list(self.PRESETS)}", self.preset)
        if not hasattr(self, "_given"):
            raise TypeError(f"{type(self).__name__} must be decorated with @config_class, not @dataclass: "
                            "a preset must know which fields the caller gave")
        given = self._given
        for field_name, value in self.preset_values(name, self.options_on()).items():
            if field_name not in given:
                setattr(self, field_name, value)
        self.preset = name

    def cores(self) -> int:
        """CPU cores a run keeps busy: one process computing on torch_threads threads."""
        return self.torch_threads

    def replay_transitions(self) -> int:
        """Transitions a run's replay memory holds when full (none without one): its memory's estimate."""
        return 0

    def options_on(self) -> tuple[str, ...]:
        """The options with effects that this config switches on."""
        return tuple(option for option in self.OPTION_EFFECTS if getattr(self, option))

    @classmethod
    def preset_values(cls, name: str, options: tuple[str, ...] = ()) -> dict:
        """Every field's value under a preset: the defaults with the preset's differences applied, then the
        effects of the given options."""
        values = {**{f.name: f.default for f in dataclasses.fields(cls)}, **cls.PRESETS[name], "preset": name}
        for option, effects in cls.OPTION_EFFECTS.items():
            if option in options:
                for effect in effects:
                    effect.apply(values, name)
        return values

    def task_values(self) -> dict[str, object]:
        """Settings derived from the task when not given (a return distribution's support): field -> the task's
        value, or None where the task does not tell it (then the caller's is no deviation)."""
        return {}

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def unchecked_preset_note(self, docs: str) -> str | None:
        """One line for a run on a task its preset (one not from a paper) was not tuned or measured on."""
        checked = self.CHECKED_ON.get(self.preset)
        if checked is None or self.env_id in checked:
            return None
        algo = type(self).__module__.rsplit(".", 1)[-1]
        return (f"{algo}: note: preset {self.preset} was checked on {' and '.join(checked)} only, not on "
                f"{self.env_id}, where it may not learn ({docs})")

    def differences_from_preset(self) -> list[str]:
        """Every setting the caller gave that differs from the run's preset with its options' effects (run
        fields aside), and a note when the preset is no paper's: what a run's deviations.json lists, so that a
        number is never mistaken for the preset's."""
        if not type(self).PRESETS:
            return []
        reference = {**self.preset_values(self.preset, self.options_on()), **self.task_values(),
                     **{option: getattr(self, option) for option in self.OPTIONS}}
        notes = [f"preset {self.preset}: not from a paper"] if self.preset in self.NOT_FROM_A_PAPER else []
        return notes + [f"{name} = {getattr(self, name)!r}, where the {self.preset} preset has {reference[name]!r}"
                        for name in sorted(self.given()) if name not in RUN_FIELDS + self.NOT_DEVIATIONS
                        and reference[name] is not None and getattr(self, name) != reference[name]]

    def given(self) -> frozenset[str]:
        """The fields the caller set explicitly (the rest are defaults or the preset's)."""
        return getattr(self, "_given", frozenset())


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def config_from_dict(config_class: type, values: dict, source: str = "config"):
    """Build a config from a plain dict (a spec's overrides, the given command-line options),
    rejecting unknown keys and wrong types; the preset is resolved by the class, as for any caller."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{source}.{key}", f"one of the hyperparameters {sorted(fields)}", key)
    values = {key: _coerce(config_class, key, value, source) for key, value in values.items()}
    try:
        return config_class(**values)
    except ConfigError as error:
        raise ConfigError(f"{source}.{error.field}", error.expected, error.got) from None


def field_type(config_class: type, name: str) -> type:
    """The Python type of a config field (fields are int, float, bool or str)."""
    annotation = {f.name: f.type for f in dataclasses.fields(config_class)}[name]
    name = annotation if isinstance(annotation, str) else annotation.__name__
    return {"int": int, "float": float, "bool": bool, "str": str}[name]


def _coerce(config_class: type, key: str, value: object, source: str) -> object:
    expected_type = field_type(config_class, key)
    if expected_type is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # YAML writes 1e-3 as a float but 1 as an int
    if not isinstance(value, expected_type) or (expected_type is int and isinstance(value, bool)):
        raise ConfigError(f"{source}.{key}", f"a value of type {expected_type.__name__}", value)
    return value
