"""The algorithms, one file each. Every module has a `Config` (paper defaults and presets),
`train(config, seed, run_dir, resume=False) -> RunResult`, `policy_from_checkpoint(config, environment,
state) -> act` (re-evaluation) and a command line (`python -m algos.NAME --help`)."""

import importlib
from types import ModuleType

ALGORITHMS = ("reinforce", "a2c", "a3c", "async_q", "ppo", "dqn", "c51")


def load(name: str) -> ModuleType:
    if name not in ALGORITHMS:
        raise KeyError(name)
    return importlib.import_module(f"algos.{name}")
