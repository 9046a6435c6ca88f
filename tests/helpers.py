"""Small spec files and command runners shared by the tests."""

import csv
from contextlib import contextmanager
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def write_spec(directory: Path, name: str = "tiny", **changes) -> Path:
    """A valid two-variant CartPole spec whose smoke tier takes seconds; `changes` replace top-level keys."""
    spec = {
        "name": name,
        "title": "tiny test experiment",
        "reproduces": {"paper": "none", "table": "none", "claim": "the pipeline works"},
        "score_rule": "eval_last_10pct",
        "environments": ["CartPole-v1"],
        "variants": {
            "reinforce": {"algo": "reinforce", "overrides": {"batch_size": 500}},
            "a2c": {"algo": "a2c", "overrides": {"num_envs": 4}},
        },
        "tiers": {"smoke": {"total_steps": 2000, "seeds": 2, "eval_interval": 1000,
                            "overrides": {"eval_episodes": 2}}},
        **changes,
    }
    path = directory / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def plan_record(**fields) -> dict:
    """A tier plan as runs/plan.json and spec.json hold it (runner.sweep.TierPlan): a smoke tier on CartPole-v1 with
    no variant and no job; `fields` replace its keys."""
    return {"name": "tiny", "title": "tiny test experiment", "reproduces": {}, "tier": "smoke",
            "score_rule": "eval_last_10pct", "score_rule_text": "mean evaluation return over the last 10% of training",
            "total_steps": {"CartPole-v1": 2000}, "environments": ["CartPole-v1"], "variants": [], "seeds": [],
            "jobs": []} | fields


def variant_record(name: str, algo: str | None = None) -> dict:
    """A plan's variant: its name, its algorithm (the name by default) and no overrides."""
    return {"name": name, "algo": algo or name, "overrides": {}}


def run_module(*args: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, **kwargs)


def rows_without_wall_time(path: Path) -> list[dict]:
    """A run's metrics.csv or eval.csv rows without wall_time, the one column that may differ between identical runs."""
    with open(path) as handle:
        return [{k: v for k, v in row.items() if k != "wall_time"} for row in csv.DictReader(handle)]


def random_score(env_id: str) -> float:
    """Mean return of a uniformly random policy, measured by benchmarks/random_scores.py (the one place
    measured baselines live): every learning bar is set well above it."""
    with open(PROJECT_ROOT / "results" / "baselines" / "random_scores.csv") as handle:
        for row in csv.DictReader(handle):
            if row["env_id"] == env_id:
                return float(row["mean"])
    raise KeyError(f"{env_id}: no random-policy score; run python -m benchmarks.random_scores {env_id}")


def stop_after_checkpoints(monkeypatch, count: int) -> list[int]:
    """Make a run die, as a killed process would (no summary), right after its `count`-th checkpoint is
    written; return the list the steps of the checkpoints written are appended to."""
    from common.rundir import RunLogger

    original, saved = RunLogger.save_checkpoint, []

    def save_then_die(self):
        original(self)
        saved.append(self.step)
        if len(saved) == count:
            raise KeyboardInterrupt

    monkeypatch.setattr(RunLogger, "save_checkpoint", save_then_die)
    return saved


@contextmanager
def cpu_bound_jobs(count: int):
    """`count` processes that spin on the CPU until the block ends: load from other jobs on the machine."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def clone_working_tree(source: Path, clone: Path) -> Path:
    """A git clone of `source` whose last commit is `source`'s working tree as it is (uncommitted changes and new
    files included, ignored files not), so that a test in the clone runs the code under test, committed: on a
    fresh checkout, as in CI, that commit is empty."""
    def git(*args: str, cwd: Path = clone, **options) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, **options)

    git("clone", "-q", str(source), str(clone), cwd=source)
    git("config", "user.email", "tests@rlrepro")
    git("config", "user.name", "rlrepro tests")
    patch = git("diff", "HEAD", "--binary", cwd=source).stdout
    if patch:
        git("apply", "--whitespace=nowarn", input=patch)
    for name in git("ls-files", "--others", "--exclude-standard", "-z", cwd=source).stdout.decode().split("\0"):
        if name:
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            (clone / name).write_bytes((source / name).read_bytes())
    git("add", "-A")
    git("commit", "-q", "--allow-empty", "-m", "the working tree under test")
    return clone
