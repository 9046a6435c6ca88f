"""Scores of a uniformly random policy, measured here: the floor every learning bar is set against.

    python -m benchmarks.random_scores [ENV_ID ...] [--episodes 200]

Plays whole episodes with uniformly random actions under each environment's default protocol, as
`envs.evaluate` plays evaluations, and writes results/baselines/random_scores.csv (one row per
environment: mean and standard deviation of the raw episode return, the number of episodes, the
protocol and the seed). Tests read the floor from that file, so a measured baseline lives in one place.
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

import numpy as np

import envs
from core.files import write_atomic

OUTPUT = Path(__file__).resolve().parent.parent / "results" / "baselines" / "random_scores.csv"
COLUMNS = ("env_id", "protocol", "episodes", "mean", "std", "seed")
DEFAULT_ENVS = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "InvertedPendulum-v5",
                "MinAtar/Breakout-v1")


def measure(env_id: str, episodes: int, seed: int = 0) -> dict:
    environment = envs.resolve(env_id)
    _, sampler = envs.spaces(environment)
    sampler.seed(seed)
    returns = envs.evaluate(lambda observations: np.stack([sampler.sample() for _ in observations]),
                            environment, episodes, seed, round_index=0)
    return {"env_id": env_id, "protocol": environment.record["protocol"], "episodes": episodes,
            "mean": round(float(np.mean(returns)), 4), "std": round(float(np.std(returns)), 4), "seed": seed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_ids", nargs="*", default=DEFAULT_ENVS, help="environments (default: %(default)s)")
    parser.add_argument("--episodes", type=int, default=200, help="episodes per environment (default: 200)")
    args = parser.parse_args()
    rows = {}
    if OUTPUT.exists():
        with open(OUTPUT) as handle:
            rows = {row["env_id"]: row for row in csv.DictReader(handle)}
    for env_id in args.env_ids:
        rows[env_id] = measure(env_id, args.episodes)
        print(rows[env_id], flush=True)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows[key] for key in sorted(rows))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(OUTPUT, buffer.getvalue())


if __name__ == "__main__":
    main()
