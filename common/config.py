"""Settings every algorithm shares: what to train on, the budget, and how a run is scored.

Each algorithm's `Config` dataclass inherits `RunConfig` and adds its own hyperparameters.
Fields are documented by the string literal under them; `common.cli` turns those into `--help`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

SCORE_RULES = {
    "eval_last_10pct": "mean evaluation return over the evaluations in the last 10% of training",
    "train_last_100": "mean return of the last 100 training episodes (the PPO paper's rule)",
}


class ConfigError(ValueError):
    """A setting that cannot work; the message names the field and what was expected."""

    def __init__(self, field: str, expected: str, got: object):
        self.field, self.expected, self.got = field, expected, got
        super().__init__(f"{field}: expected {expected}, got {got!r}")


def require(condition: bool, field: str, expected: str, got: object) -> None:
    if not condition:
        raise ConfigError(field, expected, got)


@dataclass
class RunConfig:
    env_id: str = "CartPole-v1"
    """environment id: ALE/<Game>-v5, dmc/<domain>-<task>, MinAtar/<Game>-v1 or a gymnasium id"""
    env_protocol: str = "default"
    """environment protocol, optionally with options, e.g. dqn2015, machado2018:full_action_space=true, dmc:action_repeat=4"""
    env_backend: str = "gymnasium"
    """vector env engine: gymnasium, gymnasium_async (one process per env) or ale_vector (Atari only, C++ threads)"""
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
        require(self.total_steps > 0, "total_steps", "a positive number of environment steps", self.total_steps)
        require(self.eval_interval > 0, "eval_interval", "a positive number of environment steps", self.eval_interval)
        require(self.eval_episodes > 0, "eval_episodes", "a positive number of episodes", self.eval_episodes)
        require(self.score_rule in SCORE_RULES, "score_rule", f"one of {sorted(SCORE_RULES)}", self.score_rule)
        require(self.torch_threads > 0, "torch_threads", "a positive number", self.torch_threads)
        require(0.0 <= self.eval_epsilon <= 1.0, "eval_epsilon", "a probability in [0, 1]", self.eval_epsilon)
        import envs  # envs imports this module for ConfigError

        envs.check_env_id(self.env_id)
        envs.resolve_protocol(self.env_id, self.env_protocol)
        require(self.env_backend in envs.BACKENDS, "env_backend", f"one of {list(envs.BACKENDS)}", self.env_backend)
        try:
            torch.device(self.device if self.device != "auto" else "cpu")
        except RuntimeError:
            raise ConfigError("device", "auto, cpu, cuda or cuda:N", self.device) from None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def config_from_dict(config_class: type, values: dict, source: str = "config"):
    """Build a config from a plain dict (a spec's overrides, the given command-line options),
    rejecting unknown keys and wrong types. A config class with `PRESETS` (name -> values) and a
    `preset` field gets the chosen preset's values wherever `values` is silent; preset "auto" asks
    the class's `preset_for(env_id)`."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"{source}.{key}", f"one of the hyperparameters {sorted(fields)}", key)
    values = {key: _coerce(config_class, key, value, source) for key, value in values.items()}
    if hasattr(config_class, "PRESETS"):
        preset = values.get("preset", fields["preset"].default)
        if preset == "auto":
            preset = config_class.preset_for(values.get("env_id", fields["env_id"].default))
        if preset not in config_class.PRESETS:
            raise ConfigError(f"{source}.preset", f"auto or one of {list(config_class.PRESETS)}", preset)
        values = {**config_class.PRESETS[preset], **values, "preset": preset}
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
