"""A run directory: the files every training run leaves behind, each written atomically.

    config.json   resolved hyperparameters, seed, device, protocol record, git commit, package versions
    metrics.csv   one row per finished training episode: step, wall_time, return, length
    eval.csv      one row per evaluation: step, wall_time, mean, std, episodes
    summary.json  status (completed | diverged | failed), score under the score rule, training steps per
                  second (evaluation time excluded), training steps per CPU-second of the run's own processes
                  (what the speed alarm judges: load from other jobs slows the wall clock, not the CPU time a
                  step costs), the machine's load average while it ran, the machine's own speed at the run's
                  start and end on a fixed workload (common.machine_speed: what the host gave it), peak RSS (this process's, plus the peaks its
                  worker processes reported in `worker_peak_rss_mb`: an upper bound, as peaks need not
                  coincide), wall, CPU and evaluation time
    checkpoint.pt everything needed to continue the run (networks, optimizers, normalisation statistics,
                  RNG states, step counters, the logger's rows; what else is the algorithm's to say), saved
                  after every evaluation, the last one at the end of training; written atomically
    deviations.json  the preset and every given setting that differs from it (common.config); PPO, DQN
                  and C51 add the paper-code choices in effect
    events.*      TensorBoard scalars (losses, returns)

Resuming: an algorithm builds its objects, then asks `log.resume()`, which returns the state its
`log.checkpoint_with(callback)` saved (and restores the RNGs and the logger's rows), or None for a fresh
run. Use it as a context manager around the training loop; it turns the way the loop ended into the
summary: normally -> completed, `Diverged` -> diverged (returned, not raised), any other exception
-> failed (written, then re-raised so that bugs stay loud). Interrupts write no summary, so a
rerun of the sweep redoes the run.
"""

from __future__ import annotations

import math
import os
import random
import resource
import subprocess
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

import envs
from common.config import SCORE_RULES, RunConfig
from common.machine_speed import calibration_speed
from core.errors import ConfigError, require
from core.files import write_csv, write_json

CHECKPOINT = "checkpoint.pt"
CHECKPOINT_FORMAT = 1
PACKAGES = ("torch", "gymnasium", "numpy", "ale-py", "mujoco", "dm-control")
METRICS_COLUMNS = ("step", "wall_time", "return", "length")
EVAL_COLUMNS = ("step", "wall_time", "mean", "std", "episodes")


class Diverged(RuntimeError):
    """A loss or parameter became NaN/inf: the run stops and is never given a score."""


def check_finite(step: int, **losses: float) -> None:
    for name, value in losses.items():
        if not math.isfinite(value):
            raise Diverged(f"{name} became {value} at step {step}")


@dataclass
class RunResult:
    status: str
    score: float
    score_rule: str
    steps: int
    steps_per_second: float  # training only: evaluation time is not counted
    peak_rss_mb: float
    wall_time: float
    eval_time: float
    cpu_time: float  # seconds of CPU of this process and the worker processes it joined, evaluation included
    steps_per_cpu_second: float  # training only, like steps_per_second: NaN where no CPU time was measured
    load_average: float | None  # the machine's 1-minute load average, mean of samples at each evaluation and the end
    machine_speed: float | None  # common.machine_speed's workload, updates per CPU-second: mean of start and end samples
    error: str | None = None


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def cpu_seconds() -> float:
    """CPU time of this process (all its threads) and of the child processes it has waited for. A3C's workers and
    D4PG's actors are the forkserver's children, not this process's: they report their own (worker_usage)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def worker_usage() -> tuple[float, float]:
    """What a worker process reports at its end (A3C's workers, D4PG's actors): (its peak RSS in MB, its CPU
    seconds). RunLogger.add_worker_usage adds them to the run's."""
    return peak_rss_mb(), time.process_time()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=40"], capture_output=True,
                             text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def uncommitted_changes() -> list[str] | None:
    """`git status --porcelain` of the checkout's tracked files, one line per changed file: the changes that make
    git_commit() say -dirty (untracked files do not); None when this is not a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=30,
                             cwd=Path(__file__).resolve().parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines() if out.returncode == 0 else None


def package_versions() -> dict[str, str]:
    versions = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def compute_score(rule: str, total_steps: int, episode_returns: list[float], evals: list[tuple[int, float]]) -> float:
    """The run's final score; NaN when the rule has nothing to average (e.g. no finished episode)."""
    if rule == "train_last_100":
        window = episode_returns[-100:]
    elif rule == "eval_last_10pct":
        window = [mean for step, mean in evals if step >= 0.9 * total_steps]
    else:
        raise ValueError(f"score_rule: expected one of {sorted(SCORE_RULES)}, got {rule!r}")
    return float(np.mean(window)) if window else float("nan")


class RunLogger:
    def __init__(self, run_dir: Path | str, config: RunConfig, environment: envs.Environment, seed: int, algo: str,
                 device: str, resume: bool = False):
        require(not type(config).PRESETS or config.preset in type(config).PRESETS, "preset",
                f"a preset resolved by building the config through its class, one of {list(type(config).PRESETS)}",
                config.preset)
        self.dir = Path(run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.environment = environment
        self.seed = seed
        self.algo = algo
        self.next_eval_step = config.eval_interval
        self.episodes: list[tuple] = []
        self.evals: list[tuple] = []
        self.step = 0
        self.machine_speed_samples = [calibration_speed()]  # before the clocks start: not the run's own time
        self.start = time.perf_counter()
        self.eval_time = 0.0
        self.cpu_start = cpu_seconds()
        self.eval_cpu_time = 0.0
        self.load_samples: list[float] = []  # the machine's 1-minute load average: how many jobs shared its cores
        self.earlier_peak_rss_mb = 0.0  # a resumed run's peak before the interruption
        self.worker_peak_rss_mb = 0.0  # summed peaks of worker processes (A3C, D4PG), which report them
        self.worker_cpu_time = 0.0  # CPU seconds the worker processes reported at their end (this run's part)
        self.result: RunResult | None = None
        self.checkpoint_state: Callable[[], dict] | None = None
        self.saved = self._load_checkpoint() if resume else None
        write_json(self.dir / "config.json", {
            "algo": algo, "seed": seed, "device": device, "hyperparameters": config.to_dict(),
            "env_id": config.env_id, "protocol": environment.record, "score_rule": SCORE_RULES[config.score_rule],
            "git_commit": git_commit(), "packages": package_versions(),
        })
        # Algorithms with more to say (the paper's code choices in effect) rewrite it with their notes added.
        write_json(self.dir / "deviations.json", {"algo": algo, "preset": config.preset,
                                                  "deviations": config.differences_from_preset()})
        from torch.utils.tensorboard import SummaryWriter  # slow import; only runs need it

        self.tensorboard = SummaryWriter(str(self.dir))
        self.progress = tqdm(total=config.total_steps, unit="step", dynamic_ncols=True, leave=False,
                             desc=f"{algo} {config.env_id} seed {seed}", disable=not sys.stderr.isatty())

    # --- checkpoints --------------------------------------------------------------------------------

    def _load_checkpoint(self) -> dict | None:
        path = self.dir / CHECKPOINT
        if not path.exists():
            return None
        saved = torch.load(path, weights_only=False)
        mine = {"format": CHECKPOINT_FORMAT, "algo": self.algo, "seed": self.seed, "config": self.config.to_dict()}
        theirs = {name: saved.get(name) for name in mine}
        if theirs != mine:
            differing = sorted(name for name in mine if theirs[name] != mine[name])
            raise ConfigError("resume", f"a checkpoint of this run's algorithm, seed and settings in {path} "
                              f"(delete it to start afresh)", f"a checkpoint that differs in {differing}")
        return saved

    def resume(self) -> dict | None:
        """The algorithm's saved state, with the RNGs and the logger's rows and counters restored to the
        moment it was saved; None when there is nothing to resume. Call it after building every object
        that draws random numbers, so that the restored RNG states are the ones the loop continues with."""
        if self.saved is None:
            return None
        logger = self.saved["logger"]
        self.episodes, self.evals = list(logger["episodes"]), list(logger["evals"])
        self.step, self.next_eval_step, self.eval_time = logger["step"], logger["next_eval_step"], logger["eval_time"]
        self.earlier_peak_rss_mb = logger["peak_rss_mb"]
        self.start = time.perf_counter() - logger["wall_time"]
        # Checkpoints written before CPU time was measured lack these: such a run's CPU speed is unknown (NaN).
        self.cpu_start = cpu_seconds() - logger.get("cpu_time", math.nan)
        self.eval_cpu_time = logger.get("eval_cpu_time", 0.0)
        self.load_samples = list(logger.get("load_samples", []))
        self.machine_speed_samples = list(logger.get("machine_speed_samples", [])) + self.machine_speed_samples
        self.progress.update(self.step)
        rng = self.saved["rng"]
        torch.set_rng_state(rng["torch"])
        np.random.set_state(rng["numpy"])
        random.setstate(rng["python"])
        self.flush()
        return self.saved["algorithm"]

    def checkpoint_with(self, state: Callable[[], dict]) -> None:
        """`state()` returns what the algorithm needs to continue; it is saved after every evaluation."""
        self.checkpoint_state = state

    def save_checkpoint(self) -> None:
        if self.checkpoint_state is None:
            return
        payload = {
            "format": CHECKPOINT_FORMAT, "algo": self.algo, "seed": self.seed, "config": self.config.to_dict(),
            "step": self.step, "algorithm": self.checkpoint_state(),
            "logger": {"episodes": self.episodes, "evals": self.evals, "step": self.step,
                       "next_eval_step": self.next_eval_step, "eval_time": self.eval_time,
                       "wall_time": time.perf_counter() - self.start,
                       "cpu_time": cpu_seconds() - self.cpu_start, "eval_cpu_time": self.eval_cpu_time,
                       "load_samples": self.load_samples, "machine_speed_samples": self.machine_speed_samples,
                       "peak_rss_mb": max(peak_rss_mb(), self.earlier_peak_rss_mb)},
            "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        }
        path = self.dir / CHECKPOINT
        temp = path.with_name(f".{path.name}.tmp")
        with open(temp, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)

    def add_worker_usage(self, peak_rss: float, cpu_time: float) -> None:
        """A worker process's worker_usage(): its peak adds to the run's (an upper bound: peaks need not coincide),
        its CPU seconds to the run's CPU time. A resumed run counts its workers' CPU from the resumption on."""
        self.worker_peak_rss_mb += peak_rss
        self.worker_cpu_time += cpu_time

    def sample_load(self) -> None:
        if hasattr(os, "getloadavg"):
            self.load_samples.append(os.getloadavg()[0])

    def __enter__(self) -> "RunLogger":
        return self

    def log_episodes(self, step: int, info: dict) -> None:
        """Record the episodes that a gymnasium vector env's RecordEpisodeStatistics says just ended."""
        if "episode" not in info:
            return
        ended = info["_episode"]
        for episode_return, length in zip(info["episode"]["r"][ended], info["episode"]["l"][ended]):
            self.log_episode(step, float(episode_return), int(length))

    def log_episode(self, step: int, episode_return: float, length: int) -> None:
        """Record one finished episode's raw return and length."""
        self.episodes.append((step, round(time.perf_counter() - self.start, 3), episode_return, length))
        self.tensorboard.add_scalar("charts/episode_return", episode_return, step)

    def log_scalars(self, step: int, **scalars: float) -> None:
        for name, value in scalars.items():
            self.tensorboard.add_scalar(name, value, step)

    def log_eval(self, step: int, returns: list[float]) -> None:
        self.evals.append((step, round(time.perf_counter() - self.start, 3), float(np.mean(returns)),
                           float(np.std(returns)), len(returns)))
        self.tensorboard.add_scalar("eval/mean_return", np.mean(returns), step)
        self.flush()

    def after_update(self, step: int, losses: dict[str, float], act: Callable[[np.ndarray], np.ndarray]) -> None:
        """What follows every learning update: log its losses, move the progress bar, evaluate when due."""
        self.log_scalars(step, **{f"losses/{name}": value for name, value in losses.items()})
        self.advance(step)
        self.evaluate_if_due(step, act)

    def evaluate_if_due(self, step: int, act: Callable[[np.ndarray], np.ndarray]) -> None:
        """Evaluate every `eval_interval` steps and once at the end of training."""
        if step < self.next_eval_step and step < self.config.total_steps:
            return
        self.sample_load()
        config, started, started_cpu = self.config, time.perf_counter(), cpu_seconds()
        returns = envs.evaluate(act, self.environment, config.eval_episodes, self.seed, round_index=len(self.evals),
                                epsilon=config.eval_epsilon)
        self.eval_time += time.perf_counter() - started
        self.eval_cpu_time += cpu_seconds() - started_cpu
        self.log_eval(step, returns)
        while self.next_eval_step <= step:
            self.next_eval_step += self.config.eval_interval
        self.advance(step)
        self.save_checkpoint()

    def advance(self, step: int) -> None:
        """Move the progress bar to `step`, showing steps/s and the recent training return."""
        self.progress.update(step - self.step)
        self.step = step
        if self.episodes:
            self.progress.set_postfix(ret=f"{np.mean([row[2] for row in self.episodes[-20:]]):.1f}", refresh=False)

    def flush(self) -> None:
        write_csv(self.dir / "metrics.csv", METRICS_COLUMNS, self.episodes)
        write_csv(self.dir / "eval.csv", EVAL_COLUMNS, self.evals)
        self.tensorboard.flush()

    def __exit__(self, kind, error, trace) -> bool:
        self.progress.close()
        if kind is not None and not issubclass(kind, Exception):
            self.tensorboard.close()
            return False  # KeyboardInterrupt, SystemExit: no summary, so the run counts as unfinished
        wall_time = time.perf_counter() - self.start
        training_time = wall_time - self.eval_time
        cpu_time = cpu_seconds() - self.cpu_start + self.worker_cpu_time
        training_cpu_time = cpu_time - self.eval_cpu_time
        self.sample_load()
        self.machine_speed_samples.append(calibration_speed())
        status = "completed" if kind is None else "diverged" if issubclass(kind, Diverged) else "failed"
        score = compute_score(self.config.score_rule, self.config.total_steps,
                              [row[2] for row in self.episodes], [(row[0], row[2]) for row in self.evals])
        self.result = RunResult(
            status=status,
            score=score if status == "completed" else float("nan"),
            score_rule=self.config.score_rule,
            steps=self.step,
            steps_per_second=self.step / training_time if training_time > 0 else 0.0,
            peak_rss_mb=max(peak_rss_mb(), self.earlier_peak_rss_mb) + self.worker_peak_rss_mb,
            wall_time=wall_time,
            eval_time=self.eval_time,
            cpu_time=cpu_time,
            steps_per_cpu_second=self.step / training_cpu_time if training_cpu_time > 0 else math.nan,
            load_average=float(np.mean(self.load_samples)) if self.load_samples else None,
            machine_speed=float(np.mean(self.machine_speed_samples)),
            error=None if kind is None else "".join(traceback.format_exception(kind, error, trace)),
        )
        self.flush()
        self.tensorboard.close()
        summary = asdict(self.result)
        summary["score"] = None if math.isnan(score) or status != "completed" else score  # strict JSON has no NaN
        for name in ("cpu_time", "steps_per_cpu_second"):
            summary[name] = None if math.isnan(summary[name]) else summary[name]
        write_json(self.dir / "summary.json", summary)
        return status == "diverged"
