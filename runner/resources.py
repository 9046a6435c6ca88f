"""What one run asks of a cluster node: CPU cores, GPUs and memory. A scheduler that packs runs onto
nodes (the Ray backend) needs it, and so does an out-of-memory killer that must not pick the wrong run.

A spec's tier says it where it knows better (`resources: {cpus: 1, gpus: 0.25, memory_gb: 10}`, for the
tier or one variant); the rest comes from the run's own settings:
- cpus: what the run's config declares (`cores()`): one per process it keeps busy, A3C's and async Q's
  `workers`, D4PG's `actors` plus its learner, one otherwise (runs use one torch thread);
- memory: a run without replay peaked at 0.4-1.0 GB here (results/benchmarks/algo_throughput.md), so
  BASE_MEMORY_GB with headroom; a replay memory (the config's `replay_transitions()`) adds its states: one
  84x84 frame per transition for Atari
  (frame stacks are rebuilt from single frames, common/replay.py; 1M transitions measured 7.35 GB,
  results/benchmarks/replay_memory.md), the whole observation otherwise, times REPLAY_OVERHEAD for the
  actions, rewards, flags and priorities stored beside them;
- gpus: none unless the spec asks (runs pick CUDA when they see one: device auto).
"""

from __future__ import annotations

from functools import cache

import numpy as np

import algos
import envs
from common.config import config_from_dict
from runner.sweep import Job

BASE_MEMORY_GB = 2.0
REPLAY_OVERHEAD = 1.05  # measured: 7.35 GB for 1M Atari transitions of 7,056-byte frames (x1.04)
GB = 10 ** 9  # decimal, as the measurements are written


@cache
def state_bytes(env_id: str, protocol: str, backend: str) -> int:
    """Bytes of one state as a replay memory stores it."""
    environment = envs.resolve(env_id, protocol, backend)
    frame_stack = getattr(environment.protocol, "frame_stack", 1)
    space, _ = envs.spaces(environment)
    return int(np.prod(space.shape[1:] if frame_stack > 1 else space.shape)) * space.dtype.itemsize


def run_cores(algo: str, run_config: dict) -> int:
    """Cores a run keeps busy, as its config declares them."""
    return config_from_dict(algos.load(algo).Config, run_config).cores()


def default_resources(job: Job) -> dict:
    """cpus, gpus, memory_gb of one run, from its settings alone."""
    config = config_from_dict(algos.load(job.algo).Config, job.config)
    memory_gb = BASE_MEMORY_GB
    if transitions := config.replay_transitions():
        replay = transitions * state_bytes(config.env_id, config.env_protocol, config.env_backend)
        memory_gb += replay * REPLAY_OVERHEAD / GB
    return {"cpus": config.cores(), "gpus": 0, "memory_gb": round(memory_gb, 2)}


def run_resources(job: Job, spec_says: dict) -> dict:
    """What the spec's tier says, and the run's own estimate for the rest."""
    return {**default_resources(job), **spec_says}
