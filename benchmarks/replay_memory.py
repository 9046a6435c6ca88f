"""Memory and speed of the Atari replay buffer (common/replay.py) at the DQN paper's size: fill a
1,000,000-slot buffer of 84x84 frames (4-frame stacks rebuilt at sampling) in a fresh process,
report its peak resident memory (ru_maxrss) and the bytes of the buffer's own arrays, then time
sample() for a batch of 32, add() and, for prioritized replay, update_priorities(). Issue 5 asks
for at most 8 GB; the floor is one byte per pixel of 1M frames, 84*84*1M = 7.06 GB.

    python -m benchmarks.replay_memory [--capacity 1000000] [--num-envs 8 [1 ...]] [--episode-length 2500]
                                       [--output results/benchmarks/replay_memory.md]

Frames are synthetic: random 84x84 uint8 frames stacked like envs.atari.FrameStack (zeros after
each reset) — no emulator runs, since memory and sampling do not depend on the pixels. Every
episode lasts --episode-length steps and is followed by gymnasium's autoreset step, so the slot
each episode keeps for its final observation is counted. Each buffer (uniform, prioritized) is
filled in its own process, one after the other, so each peak is its own. Sample times keep the
previous batch alive while the next is drawn, as a training loop does.

Not a test: times depend on the machine and on what else runs on it (the load average is shown).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

GB = 1e9  # decimal, as the 7.06 GB floor


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def median_microseconds(call, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1e6)


def measure(kind: str, capacity: int, num_envs: int, episode_length: int, seed: int) -> dict:
    """Fill one buffer and time it; runs in a fresh process so that ru_maxrss is this buffer's peak."""
    import gymnasium as gym

    from common.replay import PrioritizedReplayBuffer, ReplayBuffer

    rng = np.random.default_rng(seed)
    frame_pool = rng.integers(0, 256, (257, 84, 84), dtype=np.uint8)  # a prime count: stacks rarely repeat
    rss_before = peak_rss_bytes()
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    buffer_class = PrioritizedReplayBuffer if kind == "prioritized" else ReplayBuffer
    buffer = buffer_class(capacity, space, gym.spaces.Discrete(6), num_envs=num_envs, frame_stack=4, seed=seed)

    stacks = np.zeros((num_envs, 4, 84, 84), np.uint8)
    stacks[:, -1] = frame_pool[:num_envs]
    steps_in_episode = np.arange(num_envs) * episode_length // num_envs  # envs end their episodes at different times
    resetting = np.zeros(num_envs, bool)
    env_steps = capacity // num_envs + 10  # every ring written through once
    add_seconds, start = 0.0, time.perf_counter()
    for step in range(env_steps):
        next_stacks = np.empty_like(stacks)
        next_stacks[:, :-1] = stacks[:, 1:]
        next_stacks[resetting, :-1] = 0  # the autoreset step returns a fresh, zero-filled stack
        next_stacks[:, -1] = frame_pool[(step * num_envs + np.arange(num_envs)) % len(frame_pool)]
        steps_in_episode = np.where(resetting, 0, steps_in_episode + 1)
        ended = steps_in_episode == episode_length
        terminated = ended & (rng.random(num_envs) < 0.5)  # half the episodes end by a time limit
        truncated = ended & ~terminated
        actions, rewards = rng.integers(0, 6, num_envs), np.sign(rng.normal(size=num_envs)) * ~resetting
        add_start = time.perf_counter()
        buffer.add(stacks, actions, rewards, next_stacks, terminated, truncated)
        add_seconds += time.perf_counter() - add_start
        stacks, resetting = next_stacks, ended
    fill_seconds = time.perf_counter() - start

    sample_args = {"step": 0} if kind == "prioritized" else {}  # at step 0 the importance exponent is 0.4
    batches = [buffer.sample(32, **sample_args)]

    def draw() -> None:  # the previous batch stays alive while the next is drawn, as in a training loop
        batches.append(buffer.sample(32, **sample_args))
        batches.pop(0)

    median_microseconds(draw, 100)  # warm-up
    result = {
        "kind": kind, "capacity": capacity, "num_envs": num_envs, "episode_length": episode_length,
        "sampleable": len(buffer), "buffer_bytes": buffer.nbytes, "rss_before_buffer": rss_before,
        "fill_seconds": fill_seconds, "add_microseconds": add_seconds / env_steps * 1e6,
        "sample_microseconds": median_microseconds(draw, 3000),
    }
    if kind == "prioritized":
        td_errors = np.abs(rng.normal(size=32))
        result["update_microseconds"] = median_microseconds(
            lambda: buffer.update_priorities(batches[-1].indices, td_errors), 3000)
    result["peak_rss"] = peak_rss_bytes()
    return result


def machine() -> str:
    import torch  # only the parent describes the machine

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else "?"

    return (f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, numpy {np.__version__}, "
            f"torch {torch.__version__}; {date.today()}")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replay_memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--capacity", type=int, default=1_000_000, help="buffer slots (transitions), all envs together")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[8],
                        help="envs adding in lockstep, one row each; 8 fills in a minute (memory does not depend on "
                             "it), 1 is DQN's setting and times add() as DQN calls it")
    parser.add_argument("--episode-length", type=int, default=2500, help="agent steps per synthetic episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("results/benchmarks/replay_memory.md"))
    parser.add_argument("--measure", choices=("uniform", "prioritized"), help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.capacity, args.num_envs[0], args.episode_length, args.seed)))
        return

    rows = []
    for num_envs, kind in [(n, kind) for n in args.num_envs for kind in ("uniform", "prioritized")]:
        load = os.getloadavg()[0]
        print(f"filling a {kind} buffer of {args.capacity:,} slots from {num_envs} envs in a fresh process ...",
              flush=True)
        child = subprocess.run([sys.executable, "-m", "benchmarks.replay_memory", "--measure", kind,
                                "--capacity", str(args.capacity), "--num-envs", str(num_envs),
                                "--episode-length", str(args.episode_length), "--seed", str(args.seed)],
                               capture_output=True, text=True, check=True)
        row = json.loads(child.stdout.strip().splitlines()[-1]) | {"load": load}
        rows.append(row)
        print(f"  peak RSS {row['peak_rss'] / GB:.2f} GB (buffer arrays {row['buffer_bytes'] / GB:.2f} GB), "
              f"fill {row['fill_seconds']:.0f} s, sample(32) {row['sample_microseconds']:.0f} us", flush=True)

    command = (f"python -m benchmarks.replay_memory --capacity {args.capacity} "
               f"--num-envs {' '.join(map(str, args.num_envs))} "
               f"--episode-length {args.episode_length}")
    lines = ["# Replay buffer memory and speed at the DQN paper's size", "",
             f"`{command}` on {machine()}.", "",
             "Synthetic 84x84 frames, 4-frame stacks rebuilt at sampling, envs adding in lockstep, "
             f"episodes of {args.episode_length:,} steps each followed by its autoreset step. Each buffer is filled "
             "in a fresh process; peak RSS is that process's ru_maxrss, interpreter and imports included (their "
             "share is the \"before buffer\" column). The issue's bound is 8 GB; the floor, one byte per pixel of "
             f"{args.capacity:,} frames, is {args.capacity * 84 * 84 / GB:.2f} GB. GB = 10^9 bytes. Times are "
             "medians; add() is one call for all envs, the synthetic env's own work excluded; sample() keeps the "
             "previous batch alive, as a training loop does.", "",
             "| buffer | envs | slots | sampleable transitions | buffer arrays GB | peak RSS GB | before buffer GB "
             "| fill s | add() us | sample(32) us | update_priorities(32) us | load average |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        update = f"{row['update_microseconds']:.0f}" if "update_microseconds" in row else "-"
        lines.append(f"| {row['kind']} | {row['num_envs']} | {row['capacity']:,} | {row['sampleable']:,} "
                     f"| {row['buffer_bytes'] / GB:.3f} | {row['peak_rss'] / GB:.3f} | {row['rss_before_buffer'] / GB:.3f} "
                     f"| {row['fill_seconds']:.0f} | {row['add_microseconds']:.0f} | {row['sample_microseconds']:.0f} "
                     f"| {update} | {row['load']:.2f} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    from core.files import write_atomic  # imported here: the children's memory should be the buffer's, not envs'

    write_atomic(args.output, "\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
