"""Run one algorithm's train() with its code made FACTOR times as costly in CPU: after every step of the vector
environment, the process spins until it has spent (FACTOR - 1) times the CPU it spent since the last step (acting,
learning, stepping). A slowdown of the code, not of the machine: under any load it costs the same CPU per step.

    python tests/data/train_with_cpu_slowdown.py ALGO ENV_ID TOTAL_STEPS SEED RUN_DIR FACTOR
"""

import sys
import time
from pathlib import Path

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import algos  # noqa: E402
from common.config import config_from_dict  # noqa: E402


def slow_down(factor: float) -> None:
    original = gym.vector.SyncVectorEnv.step
    since = [None]  # the CPU time at the end of the last step: the first step only starts the count

    def step(self, actions):
        result = original(self, actions)
        if since[0] is not None:
            until = time.process_time() + (factor - 1) * (time.process_time() - since[0])
            while time.process_time() < until:
                pass
        since[0] = time.process_time()
        return result

    gym.vector.SyncVectorEnv.step = step


def main(algo: str, env_id: str, total_steps: str, seed: str, run_dir: str, factor: str) -> None:
    if float(factor) != 1.0:
        slow_down(float(factor))
    module = algos.load(algo)
    config = config_from_dict(module.Config, {"env_id": env_id, "total_steps": int(total_steps)})
    module.train(config, int(seed), run_dir)


if __name__ == "__main__":
    main(*sys.argv[1:])
