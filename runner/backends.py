"""Where runs execute. A backend takes jobs and reports each one's summary as it finishes; the
sweep neither knows nor cares whether that happens in local processes or on a Ray cluster
(runner/ray_backend.py)."""

from __future__ import annotations

import ctypes
import signal
import subprocess
import sys
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Callable, Protocol

from core.files import write_json
from runner.sweep import Job, prepare, read_summary

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 30
PR_SET_PDEATHSIG = 1  # prctl option: the signal a child gets when its parent dies (linux/prctl.h)


class Backend(Protocol):
    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None]) -> None:
        """Run every job; call on_done(job, summary) as each one ends, in whatever order."""


class LocalBackend:
    """One fresh OS process per run (so a crash, a leak or a segfault stays in its run, and peak
    memory is the run's own), each started as soon as the cores the running runs keep busy leave room
    for it: a run declares its cores (runner.resources: A3C's workers, D4PG's actors and learner, one
    otherwise), so a 2-worker A3C run on 2 cores runs alone and an equal-wall-clock budget means what it
    says. A run that asks for more cores than there are runs alone. Runs start in the sweep's order,
    except that a run that fits goes before one that waits for more cores (backfilling): no core idles
    while a run could use it, and the multi-core runs wait until the one-core runs no longer fill the
    machine."""

    def __init__(self, cores: int, cores_of: Callable[[Job], int] = lambda job: 1):
        self.cores = cores
        self.cores_of = cores_of

    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None]) -> None:
        waiting, running, free = list(jobs), {}, self.cores
        pool = ThreadPoolExecutor(self.cores)  # every run keeps at least one core busy
        try:
            while waiting or running:
                for job in list(waiting):  # in the sweep's order, each run that fits in the cores left
                    cores = min(self.cores_of(job), self.cores)
                    if cores <= free:
                        waiting.remove(job)
                        free -= cores
                        running[pool.submit(run_in_subprocess, job)] = (job, cores)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    job, cores = running.pop(future)
                    free += cores
                    on_done(job, future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C: start nothing new


def run_in_subprocess(job: Job) -> dict:
    resuming = prepare(job)
    return execute(Path(job.run_dir), "resumed from checkpoint.pt after an interruption" if resuming else None)


def execute(run_dir: Path, resume_note: str | None) -> dict:
    """`python -m runner.job RUN_DIR` (job.json, and a checkpoint to continue when resuming) in a child
    process that dies with this one; its output goes to log.txt. Returns the run's summary, written as
    failed when the process died before the run could say how it ended."""
    log_path = run_dir / "log.txt"
    with open(log_path, "a" if resume_note else "w") as log:
        if resume_note:
            log.write(f"\n--- {resume_note} ---\n")
            log.flush()
        process = subprocess.run([sys.executable, "-m", "runner.job", str(run_dir)], stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT,
                                 preexec_fn=die_with_parent)
    summary = read_summary(run_dir)
    if summary is None:
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-LOG_TAIL_LINES:])
        summary = {"status": "failed", "score": None, "error": f"exit code {process.returncode}; log ends:\n{tail}"}
        write_json(run_dir / "summary.json", summary)
    return summary


def die_with_parent() -> None:
    """In the child, before it starts: be killed when the process that started it dies (Linux), so that a
    sweep killed outright, or a Ray worker lost with its node, leaves no orphan writing into a run directory."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
