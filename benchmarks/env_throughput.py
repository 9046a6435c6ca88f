"""Environment steps per second with a random policy: the ceiling every training loop is measured
against. One row per (environment, backend, number of envs); each row runs for a fixed wall time.

    python -m benchmarks.env_throughput [--seconds 3] [--num-envs 8] [--output results/benchmarks/env_throughput.md]

Not a test: numbers depend on the machine, so they are recorded with its description.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import date
from importlib import metadata
from pathlib import Path

import numpy as np

import envs
from core.files import write_atomic

CASES = [  # (env id, backends, description)
    ("CartPole-v1", ("gymnasium",), "classic control"),
    ("MinAtar/Breakout-v1", ("gymnasium",), "MinAtar, minatar2019 protocol"),
    ("Hopper-v5", ("gymnasium", "gymnasium_async"), "MuJoCo (gymnasium v5)"),
    ("dmc/cheetah-run", ("gymnasium", "gymnasium_async"), "DeepMind Control, state observations"),
    ("ALE/Pong-v5", ("gymnasium", "gymnasium_async", "ale_vector", "envpool"), "Atari, dqn2015 training protocol"),
]


def envpool_pong(num_envs: int):
    """EnvPool's own Atari pool, configured as close to dqn2015 as it goes (measured only: see envs/atari.py)."""
    import envpool

    return envpool.make("Pong-v5", env_type="gymnasium", num_envs=num_envs, seed=0, episodic_life=True,
                        reward_clip=True, noop_max=30, repeat_action_probability=0.0, use_fire_reset=False)


def steps_per_second(env_id: str, backend: str, num_envs: int, seconds: float) -> float:
    if backend == "envpool":
        env = envpool_pong(num_envs)
        env.reset()
    else:
        env, _ = envs.make(envs.resolve(env_id, backend=backend), num_envs, seed=0)
    env.action_space.seed(0)
    if backend == "envpool":  # its action_space is one env's, and it wants int32
        rng = np.random.default_rng(0)
        sample = lambda: rng.integers(0, env.action_space.n, num_envs, dtype=np.int32)  # noqa: E731
    else:
        sample = env.action_space.sample
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(20):
            env.step(sample())
        steps += 20 * num_envs
    rate = steps / (time.perf_counter() - start)
    env.close()
    return rate


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"
    versions = ", ".join(f"{name} {metadata.version(name)}" for name in
                         ("gymnasium", "ale-py", "envpool", "mujoco", "dm-control", "MinAtar"))
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}; {versions}; {date.today()}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.env_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="wall time per row")
    parser.add_argument("--num-envs", type=int, default=8, help="envs in the vectorized rows")
    parser.add_argument("--output", type=Path, default=Path("results/benchmarks/env_throughput.md"))
    args = parser.parse_args()

    rows = []
    for env_id, backends, description in CASES:
        single = steps_per_second(env_id, "gymnasium", 1, args.seconds)
        rows.append((env_id, description, "gymnasium", 1, single))
        print(f"{env_id:22s} gymnasium        x1  {single:10,.0f} steps/s", flush=True)
        for backend in backends:
            rate = steps_per_second(env_id, backend, args.num_envs, args.seconds)
            rows.append((env_id, description, backend, args.num_envs, rate))
            print(f"{env_id:22s} {backend:16s} x{args.num_envs}  {rate:10,.0f} steps/s", flush=True)

    lines = ["# Environment throughput, random policy", "",
             f"`python -m benchmarks.env_throughput --seconds {args.seconds:g} --num-envs {args.num_envs}` on {machine()}.", "",
             "Steps are agent steps summed over envs (an Atari step is 4 emulator frames). `gymnasium` steps envs one after",
             "another in this process, `gymnasium_async` runs one process per env, `ale_vector` is ale-py's batched C++",
             "engine (threads), `envpool` is EnvPool's pool with its own preprocessing (measured, not used for training).", "",
             "| environment | family | backend | envs | steps/s |", "|---|---|---|---|---|"]
    lines += [f"| {e} | {d} | {b} | {n} | {np.round(r):,.0f} |" for e, d, b, n, r in rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output, "\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
