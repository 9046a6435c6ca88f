"""PPO's and TRPO's MuJoCo training speed against Stable-Baselines3's PPO and sb3-contrib's TRPO at identical settings.

    python -m benchmarks.mujoco_policy_gradient [--env-id HalfCheetah-v5] [--steps 20480] [--repeats 2]
                                                [--output results/benchmarks/mujoco_policy_gradient.md]

Both sides are the suite's own runs: `python -m algos.ppo` (the `mujoco` preset, Table 3) and `python -m
examples.sb3_control --algorithm ppo`, which gives SB3's PPO that preset field by field (its SETTINGS table), on the
same training envs, with the same run logger and one torch thread; TRPO likewise against sb3-contrib's. So a
row's two numbers differ only in the implementation's code. Each run is a fresh process; the pairs alternate (ours,
reference, ours, reference, ...) so that a drift in the machine's speed falls on both. Steps/s counts training only
(evaluation excluded, as summary.json does); steps per CPU-second and the machine's own speed (common.machine_speed)
say whether the host was fast or slow that day: compare ratios, not absolute rates, across days.

What is the same and what is not is in each reference run's deviations.json (PPO: advantages standardised per
rollout, SB3 per minibatch; TRPO: Fisher-vector products on every 5th transition, sb3-contrib's on all of them).
Not a test: the numbers depend on the machine. Run it with nothing else running.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

from core.files import write_atomic

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# (our algorithm, the reference's name): the reference runs as examples.sb3_control --algorithm <ours>
PAIRS = [("ppo", "Stable-Baselines3 2.9.2 PPO"), ("trpo", "sb3-contrib 2.9.2 TRPO")]


def run(module: str, algorithm: str, env_id: str, steps: int) -> dict:
    """One fresh process training `steps` with one evaluation episode at the end; its summary.json."""
    with tempfile.TemporaryDirectory() as run_dir:
        extra = ["--algorithm", algorithm] if module == "examples.sb3_control" else []
        command = [sys.executable, "-m", module, *extra, "--env-id", env_id, "--total-steps", str(steps),
                   "--eval-interval", str(10 * steps), "--eval-episodes", "1", "--seed", "0", "--run-dir", run_dir]
        process = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if process.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {(process.stderr.strip().splitlines() or ['?'])[-1]}")
        return json.loads((Path(run_dir) / "summary.json").read_text())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.mujoco_policy_gradient", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env-id", default="HalfCheetah-v5")
    parser.add_argument("--steps", type=int, default=20_480, help="training steps per run (PPO: 10 updates)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per side, alternating")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "results/benchmarks/mujoco_policy_gradient.md")
    args = parser.parse_args(argv)
    rows = []
    for algorithm, reference in PAIRS:
        sides = {"ours": [], "reference": []}
        load = os.getloadavg()[0]
        for _ in range(args.repeats):
            sides["ours"].append(run(f"algos.{algorithm}", algorithm, args.env_id, args.steps))
            sides["reference"].append(run("examples.sb3_control", algorithm, args.env_id, args.steps))

        def middle(side: str, field: str) -> float:
            return median(summary[field] for summary in sides[side])

        row = (f"| {algorithm} | {reference} | {args.env_id} | {args.steps:,} | {args.repeats} | "
               f"{middle('ours', 'steps_per_second'):,.0f} | {middle('reference', 'steps_per_second'):,.0f} | "
               f"{middle('ours', 'steps_per_second') / middle('reference', 'steps_per_second'):.2f}x | "
               f"{middle('ours', 'steps_per_cpu_second') / middle('reference', 'steps_per_cpu_second'):.2f}x | "
               f"{middle('ours', 'peak_rss_mb'):,.0f} | {middle('reference', 'peak_rss_mb'):,.0f} | "
               f"{median(s['machine_speed'] for side in sides.values() for s in side):,.0f} | {load:.2f} |")
        print(row, flush=True)
        rows.append(row)
    lines = ["# PPO and TRPO on MuJoCo against Stable-Baselines3 and sb3-contrib at identical settings", "",
             f"`python -m benchmarks.mujoco_policy_gradient --env-id {args.env_id} --steps {args.steps} --repeats "
             f"{args.repeats}` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; one fresh process per run, one "
             "torch thread, CPU, seed 0; the two sides alternate. Medians over the repeats. Machine speed: "
             "common.machine_speed's workload in updates per CPU-second, the median over every run's samples "
             "(2026-12-07's slow host measured about 1,100).", "",
             "| ours | reference | environment | steps | runs a side | ours steps/s | reference steps/s | ours / "
             "reference (wall clock) | ours / reference (CPU) | ours MB | reference MB | machine speed | load before |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|", *rows]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output, "\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
