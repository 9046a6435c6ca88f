"""Seeded short runs of the replay-driven algorithms whose metrics.csv and eval.csv were recorded before their two
training loops became one (tests/data/golden/, made at commit 4dbc976, the last commit with common/value_based.py's
loop). tests/test_golden_runs.py reruns them and asks for the same rows, wall_time aside: the refactoring changed no
number of the committed results. Each case runs whole, and killed after its first checkpoint then resumed.

    python tests/golden_runs.py --write     # record the goldens (only at a commit whose numbers are the reference)
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path[:0] = [str(TESTS), str(TESTS.parent)]

import algos  # noqa: E402  (after the path above, when run as a script)
from common.config import config_from_dict  # noqa: E402
from helpers import stop_after_checkpoints  # noqa: E402

GOLDEN_DIR = TESTS / "data" / "golden"
SEED = 3
CARTPOLE = {"env_id": "CartPole-v1", "device": "cpu", "total_steps": 3_000, "learning_starts": 500,
            "eval_interval": 1_500, "eval_episodes": 2, "hidden_size": 32}
PENDULUM = {"env_id": "Pendulum-v1", "device": "cpu", "total_steps": 1_500, "learning_starts": 500,
            "eval_interval": 750, "eval_episodes": 2, "batch_size": 32}
# name: (algorithm, settings). Resumes run without the saved replay memory too: that path refills the memory.
CASES = {
    "dqn": ("dqn", CARTPOLE),
    "dqn_double_dueling_prioritized": ("dqn", {**CARTPOLE, "double": True, "dueling": True, "prioritized": True}),
    "c51": ("c51", CARTPOLE),
    "ddpg": ("ddpg", {**PENDULUM, "first_layer_units": 32, "second_layer_units": 32}),
    "ddpg_without_batch_norm": ("ddpg", {**PENDULUM, "first_layer_units": 32, "second_layer_units": 32,
                                         "batch_norm": False}),
    "sac": ("sac", {**PENDULUM, "hidden_size": 32}),
}
KINDS = ("whole", "resumed", "resumed_without_replay")
FILES = ("metrics.csv", "eval.csv")


def run(case: str, kind: str, run_dir: Path) -> None:
    """One case's run of one kind into run_dir."""
    algo, settings = CASES[case]
    module = algos.load(algo)
    config = config_from_dict(module.Config, {**settings, "checkpoint_replay": kind != "resumed_without_replay"})
    if kind == "whole":
        module.train(config, SEED, run_dir)
        return
    with pytest.MonkeyPatch.context() as patch:
        stop_after_checkpoints(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            module.train(config, SEED, run_dir)
    module.train(config, SEED, run_dir, resume=True)


def write(scratch: Path) -> None:
    for case in CASES:
        for kind in KINDS:
            run_dir = scratch / case / kind
            run(case, kind, run_dir)
            (GOLDEN_DIR / case / kind).mkdir(parents=True, exist_ok=True)
            for name in FILES:
                shutil.copyfile(run_dir / name, GOLDEN_DIR / case / kind / name)
            print(f"recorded {case} / {kind}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="record the golden files into tests/data/golden/")
    parser.add_argument("--scratch", type=Path, default=Path("/tmp/rlrepro_golden_runs"),
                        help="where the runs are made (outside the checkout)")
    arguments = parser.parse_args()
    if not arguments.write:
        parser.error("nothing to do: --write records the goldens")
    shutil.rmtree(arguments.scratch, ignore_errors=True)
    write(arguments.scratch)
