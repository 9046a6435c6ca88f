"""Runs on a Ray cluster, one Ray task each: `python -m runner --backend ray [--address auto|HOST:PORT]`
(without an address, a Ray instance is started on this machine). Setting up a cluster: docs/ray.md.

Every node needs the project at the same path with the same Python environment (a shared home, a
cluster image, or `ray up`'s setup commands); runs import it from there.

Where files live. Without a shared filesystem (the default) a run works in a temporary directory on its
node. RunHome, an actor on the driver's node, is where its files come home: every checkpoint is sent
there as soon as it is written, and when the run ends its directory is sent as an archive and unpacked
into RESULTS/..., summary.json last, so that a run directory counts as finished only once all of it is
there. With `--shared-fs` the nodes see the driver's results directory and runs write in place.

Faults. A task lost with its node or its worker process is retried by Ray, at most `retries` times (set
explicitly: Ray's default has changed between releases), on any node with room; the retry continues
from the last checkpoint that reached the driver. A run whose algorithm raised is a result (failed,
with its traceback) and is not retried, as with local processes. A run still lost after its retries
is recorded as failed with Ray's reason. Each run directory's placement.json says how many attempts
it took, on which nodes, and from which step each one started. A driver killed and started again skips
finished runs and continues the others from the checkpoints in their directories.

Resources. Each task asks for the cores, GPUs and memory of runner/resources.py (the spec's
`resources:` where it says them), so that Ray packs runs onto nodes by them and its out-of-memory
killer sees what each run declared.
"""

from __future__ import annotations

import io
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from common.rundir import CHECKPOINT
from core.files import write_atomic, write_json
from runner.backends import PROJECT_ROOT, execute, run_in_subprocess
from runner.resources import GB
from runner.sweep import FINISHED, Job, prepare, read_summary

STATUS_SECONDS = 2.0  # how often the driver asks for progress
CHECKPOINT_POLL_SECONDS = 0.5  # how often a run's node looks for a new checkpoint to send home
SUMMARY = "summary.json"


@ray.remote(num_cpus=0)
class RunHome:
    """On the driver's node: receives what runs send home and writes it into their run directories."""

    def __init__(self):
        self.attempts: dict[str, list[dict]] = {}
        self.steps: dict[str, int] = {}

    def begin(self, run_dir: str, node: str, send_checkpoint: bool = True) -> tuple[dict | None, bytes | None, int]:
        """A task starts the run: its summary if it already finished (a task retried after its result
        came home), else the checkpoint to continue from (or None; never sent to a node that reads the run
        directory itself) and its step."""
        summary = read_summary(run_dir)
        if summary is not None and summary.get("status") in FINISHED:
            return summary, None, 0
        path = Path(run_dir) / CHECKPOINT
        step = self.steps.get(run_dir, last_evaluated_step(Path(run_dir)) if path.is_file() else 0)
        self.attempts.setdefault(run_dir, []).append({"node": node, "started_at_step": step})
        return None, path.read_bytes() if send_checkpoint and path.is_file() else None, step

    def keep_checkpoint(self, run_dir: str, data: bytes, step: int) -> None:
        write_atomic(Path(run_dir) / CHECKPOINT, data)
        self.steps[run_dir] = step

    def finish(self, run_dir: str, archive: bytes) -> None:
        """Unpack the run's directory into place, summary.json last, with where its attempts ran."""
        directory = Path(run_dir)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            members = tar.getmembers()
            tar.extractall(directory, members=[m for m in members if m.name != SUMMARY], filter="data")
            summary = tar.extractfile(SUMMARY).read()
        self.record_placement(run_dir)
        write_atomic(directory / SUMMARY, summary)

    def record_placement(self, run_dir: str) -> None:
        """placement.json: the node and starting step of each attempt at the run."""
        write_json(Path(run_dir) / "placement.json", {"attempts": self.attempts.get(run_dir, [])})

    def status(self) -> dict:
        return {"steps": dict(self.steps), "attempts": {run: len(tries) for run, tries in self.attempts.items()}}


def last_evaluated_step(run_dir: Path) -> int:
    """The step of a run directory's last evaluation (each checkpoint follows one)."""
    try:
        lines = (run_dir / "eval.csv").read_text().strip().splitlines()
        return int(lines[-1].split(",")[0]) if len(lines) > 1 else 0
    except (OSError, ValueError):
        return 0


def call_home(reference):
    """ray.get, from a thread. A task blocked in ray.get on its main thread lends its CPUs back to the node
    (Ray's guard against deadlock), and Ray then starts another run on cores this run is still using."""
    outcome = {}

    def wait() -> None:
        try:
            outcome["value"] = ray.get(reference)
        except BaseException as error:  # raised again on the task's own thread
            outcome["error"] = error

    waiter = threading.Thread(target=wait)
    waiter.start()
    waiter.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def node_name() -> str:
    return f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"


@ray.remote
def run_on_node(job: dict, home, shared_fs: bool) -> dict:
    """One run, on whichever node Ray chose; returns its summary."""
    if shared_fs:
        summary, _, _ = call_home(home.begin.remote(job["run_dir"], node_name(), False))
        if summary is None:
            summary = run_in_subprocess(Job(**job))
            call_home(home.record_placement.remote(job["run_dir"]))
        return summary
    summary, checkpoint, step = call_home(home.begin.remote(job["run_dir"], node_name()))
    if summary is not None:
        return summary
    work = Path(tempfile.mkdtemp(prefix="rlrepro-run-"))
    try:
        write_json(work / "job.json", job)
        if checkpoint is not None:
            write_atomic(work / CHECKPOINT, checkpoint)
        stop = threading.Event()
        sender = threading.Thread(target=send_checkpoints_home, args=(work, job["run_dir"], home, stop), daemon=True)
        sender.start()
        note = f"resumed at step {step} on {node_name()} from the checkpoint the driver kept" if checkpoint else None
        summary = execute(work, note)
        stop.set()
        sender.join()
        call_home(home.finish.remote(job["run_dir"], archive(work)))
        return summary
    finally:
        shutil.rmtree(work, ignore_errors=True)


def send_checkpoints_home(work: Path, run_dir: str, home, stop: threading.Event) -> None:
    """Send each new checkpoint of the run in `work` to the driver, until `stop`."""
    path, sent = work / CHECKPOINT, None
    while not stop.wait(CHECKPOINT_POLL_SECONDS):
        try:
            written = path.stat().st_mtime_ns
        except FileNotFoundError:
            continue
        if written != sent:
            sent = written
            ray.get(home.keep_checkpoint.remote(run_dir, path.read_bytes(), last_evaluated_step(work)))


def archive(work: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(work.iterdir()):
            tar.add(path, arcname=path.name)
    return buffer.getvalue()


class RayBackend:
    def __init__(self, address: str | None, retries: int, shared_fs: bool, resources: Callable[[Job], dict],
                 local_cpus: int):
        self.address, self.retries, self.shared_fs, self.resources = address, retries, shared_fs, resources
        self.local_cpus = local_cpus  # the size of the Ray instance started here when there is no address

    def run(self, jobs: list[Job], on_done: Callable[[Job, dict], None],
            on_status: Callable[[dict], None] | None = None) -> None:
        # Runs import the project from its path on every node (module docstring).
        ray.init(address=self.address, num_cpus=None if self.address else self.local_cpus,
                 runtime_env={"env_vars": {"PYTHONPATH": str(PROJECT_ROOT)}},
                 log_to_driver=False, include_dashboard=False, configure_logging=False)
        try:
            self._run(jobs, on_done, on_status)
        finally:
            ray.shutdown()

    def _run(self, jobs, on_done, on_status) -> None:
        here = ray.get_runtime_context().get_node_id()
        home = RunHome.options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()
        pending, started = {}, time.monotonic()
        for job in jobs:
            prepare(job)  # the driver's run directory: job.json, or an interrupted run's files kept to resume
            need = self.resources(job)
            task = run_on_node.options(num_cpus=need["cpus"], num_gpus=need["gpus"], memory=int(need["memory_gb"] * GB),
                                       max_retries=self.retries, retry_exceptions=False)
            pending[task.remote(job.to_dict(), home, self.shared_fs)] = job
        progress = SweepProgress(jobs, started)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=STATUS_SECONDS)
            for reference in ready:
                job = pending.pop(reference)
                try:
                    summary = ray.get(reference)
                except ray.exceptions.RayError as error:  # lost after its retries, or the task itself broke
                    summary = {"status": "failed", "score": None,
                               "error": f"lost on the cluster after {self.retries} retries: {error}"}
                    write_json(Path(job.run_dir) / SUMMARY, summary)
                progress.done(job, summary)
                on_done(job, summary)
            if on_status is not None:
                on_status(progress.status(ray.get(home.status.remote()), len(pending)))


class SweepProgress:
    """Runs done / running / failed / retried, aggregate steps/s and the time left, for the driver."""

    def __init__(self, jobs: list[Job], started: float):
        self.budget = {job.run_dir: job.config["total_steps"] for job in jobs}
        self.first_step = {job.run_dir: last_evaluated_step(Path(job.run_dir)) for job in jobs}
        self.finished: dict[str, int] = {}
        self.failed = 0
        self.started = started

    def done(self, job: Job, summary: dict) -> None:
        self.finished[job.run_dir] = summary.get("steps") or self.budget[job.run_dir]
        self.failed += summary.get("status") == "failed"

    def status(self, home: dict, running_or_queued: int) -> dict:
        steps = {run: self.finished.get(run, home["steps"].get(run, self.first_step[run])) for run in self.budget}
        made = sum(steps[run] - self.first_step[run] for run in self.budget)
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = made / elapsed
        left = sum(max(self.budget[run] - steps[run], 0) for run in self.budget if run not in self.finished)
        return {"done": len(self.finished) - self.failed, "failed": self.failed,
                "running": sum(1 for run in home["attempts"] if run not in self.finished),
                "queued_or_running": running_or_queued,
                "retried": sum(1 for tries in home["attempts"].values() if tries > 1),
                "steps_per_second": rate, "seconds_left": left / rate if rate > 0 else None}
