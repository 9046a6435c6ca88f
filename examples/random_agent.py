"""A uniformly random agent, written as an outside algorithm would be: it is not in algos/, a spec names it by
its module path (`algo: examples.random_agent`), and the runner, the analysis and the verdicts treat its runs
like ours. It learns nothing: it is the floor every algorithm's claims are measured against, and the smallest
complete example of the interface (docs/external_algorithms.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np

import envs
from common.config import RunConfig, config_class
from common.rundir import RunLogger, RunResult


@config_class
class Config(RunConfig):
    """RunConfig's fields (env_id, total_steps, eval_interval, score_rule, ...) and nothing of its own."""
    PRESETS: ClassVar[dict[str, dict]] = {}  # no presets: nothing to tune


def random_policy(environment: envs.Environment, seed: int):
    """act(observations) -> one uniformly random action per observation, from the task's action space."""
    _, space = envs.spaces(environment)
    space.seed(seed)
    return lambda observations: np.stack([space.sample() for _ in range(len(observations))])


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    return random_policy(environment, state["seed"])


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    env, observations = envs.make(environment, 1, seed)
    act = random_policy(environment, seed)
    step, resets = 0, envs.AutoresetSteps(1)
    with RunLogger(run_dir, config, environment, seed, "examples.random_agent", "cpu", resume) as log:
        saved = log.resume()
        if saved is not None:
            step = saved["step"]
        log.checkpoint_with(lambda: {"step": step, "seed": seed})
        while step < config.total_steps:
            observations, _, terminated, truncated, info = env.step(act(observations))
            if not resets.record(terminated, truncated)[0]:  # gymnasium's autoreset step: not a step of the budget
                continue
            step += 1
            log.log_episodes(step, info)
            log.advance(step)
            log.evaluate_if_due(step, act)
    env.close()
    return log.result
