"""A3C's throughput with 1 worker against N workers on CartPole-v1, the same budget of
environment steps each: does asynchrony turn cores into steps per second? The issue asks for
2 workers >= 1.6x the steps per second of 1 worker on a 2-core machine.

    python -m benchmarks.a3c_scaling [--total-steps 40000] [--workers 1 2] [--seed 0]

Two rates per run: `training` counts the steps between the first and the last finished episode
the coordinator logged, over the wall time between them (process start-up and the final
evaluation excluded); `end to end` is the run's summary (steps / whole wall time), which favours
every run after the first: the forkserver the workers are forked from starts once per process,
in the first run. Runs go one after another. Other work on the machine takes cores from the workers, so a ratio measured under
load says little: each row also shows the cores that processes outside the run kept busy while
it ran (CPU time from /proc over the run's wall time; processes that start and end within the
run are missed).

Not a test: numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import tempfile
import time
from pathlib import Path

from algos import a3c


def cpu_seconds_by_process() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) for every process /proc shows."""
    table, tick = {}, os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            table[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return table


def others_cpu_seconds(before: dict, after: dict) -> float:
    """CPU seconds used between two tables by processes outside this process's tree."""
    ours, changed = {os.getpid()}, True
    while changed:  # the forkserver is our child and the workers are its children
        grown = ours | {pid for pid, (parent, _) in {**before, **after}.items() if parent in ours}
        changed, ours = grown != ours, grown
    return sum(cpu - before.get(pid, (0, 0.0))[1] for pid, (_, cpu) in after.items() if pid not in ours)


def training_steps_per_second(run_dir: Path) -> float:
    with open(run_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    first, last = rows[0], rows[-1]
    return (int(last["step"]) - int(first["step"])) / (float(last["wall_time"]) - float(first["wall_time"]))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.a3c_scaling", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--total-steps", type=int, default=40_000, help="environment steps per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="worker counts to compare; the first is the baseline")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print(f"A3C on CartPole-v1, {args.total_steps:,} env steps per run, paper defaults; "
          f"{os.cpu_count()} cores, Python {platform.python_version()}")
    print("| workers | load before | cores used by others | training steps/s | end to end steps/s | wall s | ratio (training) |")
    print("|---|---|---|---|---|---|---|")
    baseline = None
    with tempfile.TemporaryDirectory() as directory:
        for workers in args.workers:
            load = os.getloadavg()[0]
            config = a3c.Config(workers=workers, preset="atari", total_steps=args.total_steps, eval_interval=args.total_steps,
                                eval_episodes=1)
            start, processes = time.perf_counter(), cpu_seconds_by_process()
            result = a3c.train(config, args.seed, Path(directory) / f"workers_{workers}")
            wall = time.perf_counter() - start
            others = others_cpu_seconds(processes, cpu_seconds_by_process()) / wall
            rate = training_steps_per_second(Path(directory) / f"workers_{workers}")
            baseline = baseline or rate
            print(f"| {workers} | {load:.2f} | {others:.2f} | {rate:,.0f} | {result.steps_per_second:,.0f} | {wall:.1f} | "
                  f"{rate / baseline:.2f}x |", flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
