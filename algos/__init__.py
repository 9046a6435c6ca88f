"""The algorithms, one file each. Every module has a `Config` (paper defaults and presets),
`train(config, seed, run_dir, resume=False) -> RunResult`, `policy_from_checkpoint(config, environment,
state) -> act` (re-evaluation) and a command line (`python -m algos.NAME --help`).

An outside algorithm runs in a spec beside ours by its dotted module path (`algo: my_package.my_agent`): any
importable module with a `Config` (a `common.config.RunConfig` built with `@config_class`) and a `train` of
the same signature that writes its run directory through `common.rundir.RunLogger`. examples/random_agent.py
is a complete one; docs/external_algorithms.md says what each piece must do.
"""

import importlib
from types import ModuleType

ALGORITHMS = ("reinforce", "a2c", "a3c", "async_q", "ppo", "trpo", "dqn", "c51", "ddpg", "d4pg", "sac")
REQUIRED = ("Config", "train")  # what an outside algorithm's module must define


def load(name: str) -> ModuleType:
    """One of ours by name, or an outside algorithm by its dotted module path; KeyError for a name that is
    neither, ImportError for a module that cannot be imported or lacks Config and train."""
    if name in ALGORITHMS:
        return importlib.import_module(f"algos.{name}")
    if "." not in name:
        raise KeyError(name)
    module = importlib.import_module(name)
    missing = [attribute for attribute in REQUIRED if not hasattr(module, attribute)]
    if missing:
        raise ImportError(f"{name}: an outside algorithm's module must define {list(REQUIRED)}; it lacks {missing}")
    return module
