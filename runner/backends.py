"""Where runs execute. A backend takes jobs and reports each one's summary as it finishes; the
sweep neither knows nor cares whether that happens in local processes or (later) on a Ray cluster."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Protocol

from core.files import write_json
from runner.sweep import Job, prepare, read_summary

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG_TAIL_LINES = 30


class Backend(Protocol):
    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None]) -> None:
        """Run every job; call on_done(job, summary) as each one ends, in whatever order."""


class LocalBackend:
    """One fresh OS process per run (so a crash, a leak or a segfault stays in its run, and peak
    memory is the run's own), at most `workers` at a time."""

    def __init__(self, workers: int):
        self.workers = workers

    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None]) -> None:
        pool = ThreadPoolExecutor(self.workers)
        futures = {pool.submit(run_in_subprocess, job): job for job in jobs}
        try:
            for future in as_completed(futures):
                on_done(futures[future], future.result())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # on Ctrl-C: start nothing new


def run_in_subprocess(job: Job) -> dict:
    resuming = prepare(job)
    log_path = Path(job.run_dir) / "log.txt"
    with open(log_path, "a" if resuming else "w") as log:
        if resuming:
            log.write("\n--- resumed from checkpoint.pt after an interruption ---\n")
            log.flush()
        process = subprocess.run([sys.executable, "-m", "runner.job", job.run_dir], stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=PROJECT_ROOT)
    summary = read_summary(job.run_dir)
    if summary is None:  # the process died before the run could say how it ended
        tail = "".join(log_path.read_text(errors="replace").splitlines(keepends=True)[-LOG_TAIL_LINES:])
        summary = {"status": "failed", "score": None, "error": f"exit code {process.returncode}; log ends:\n{tail}"}
        write_json(Path(job.run_dir) / "summary.json", summary)
    return summary
