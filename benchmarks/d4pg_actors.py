"""D4PG's actor processes: environment steps per second with 1 actor process against 2, in an
env-bound setting, the learner paused. The learner's loop here only receives transitions and, for
the rate limiter, counts minibatches as sampled the moment it may, with no update: what is measured
is how fast the actors act (policy forward pass, noise, env step, sending the transition) and how
fast the learner takes transitions in, which is what more actors can speed up.

    python -m benchmarks.d4pg_actors [--env-id dmc/walker-walk] [--steps 20000] [--actors 1 2]
                                     [--output results/benchmarks/d4pg_actors.md]

Each row: the 1-minute load average before it (other work takes cores from the actors), the CPU
that processes outside the run used meanwhile (cores), steps per second from the first transition
received to the last (process start-up excluded), and the ratio to the first row. Runs go one after
another. Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

import envs
from algos import d4pg
from benchmarks.a3c_scaling import cpu_seconds_by_process, others_cpu_seconds
from common.actor_pool import ActorPool, RateLimiter


def steps_per_second(env_id: str, actors: int, steps: int, seed: int) -> float:
    """Counted env steps per second over `steps` steps taken by `actors` actor processes."""
    config = d4pg.Config(env_id=env_id, actors=actors)
    environment = envs.resolve(env_id)
    torch.manual_seed(seed)
    policy, _ = d4pg.make_networks(*envs.spaces(environment), config)
    limiter = RateLimiter(config.samples_per_insert, config.min_replay_size, config.error_buffer)
    received, started = 0, None
    with ActorPool(actors, d4pg.make_actor, (config, environment), policy, limiter, seed, steps) as pool:
        while received < steps:
            while pool.can_sample(config.batch_size, received):
                pool.sampled(config.batch_size)  # the learner is paused: no update, only the count
            for transition in pool.receive():
                received += transition.counted
                started = started or time.perf_counter()
    return (received - 1) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.d4pg_actors", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="dmc/walker-walk")
    parser.add_argument("--steps", type=int, default=20_000, help="counted env steps per run")
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="actor processes; the first is the baseline")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("results/benchmarks/d4pg_actors.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)

    lines = [f"D4PG actors on {args.env_id}, learner paused, {args.steps:,} env steps per run, Acme's networks; "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}",
             "| actor processes | load before | cores used by others | env steps/s | ratio |", "|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    baseline = None
    for actors in args.actors:
        load, processes, wall = os.getloadavg()[0], cpu_seconds_by_process(), time.perf_counter()
        rate = steps_per_second(args.env_id, actors, args.steps, args.seed)
        others = others_cpu_seconds(processes, cpu_seconds_by_process()) / (time.perf_counter() - wall)
        baseline = baseline or rate
        lines.append(f"| {actors} | {load:.2f} | {others:.2f} | {rate:,.0f} | {rate / baseline:.2f}x |")
        print(lines[-1], flush=True)
    lines.append(f"load average after: {os.getloadavg()[0]:.2f}")
    print(lines[-1])
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(f"# D4PG: env steps per second with 1 and 2 actor processes\n\n`python -m benchmarks.d4pg_actors` "
                           f"({time.strftime('%Y-%m-%d')})\n\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
