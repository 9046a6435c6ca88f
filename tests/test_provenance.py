"""Provenance of committed results, in a clone of the repository: a nightly-tier sweep records the clean commit in
every run and leaves the tree clean until analysis writes the reports; a tree with uncommitted changes is refused,
naming the files; --allow-dirty runs, and its runs never enter the history nor become the baseline."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import clone_working_tree, write_spec

TINY_TIER = {"total_steps": 2000, "seeds": 1, "eval_interval": 1000, "overrides": {"eval_episodes": 2}}
TINY_NIGHTLY = {"smoke": TINY_TIER, "nightly": TINY_TIER}


def git(clone: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=clone, capture_output=True, text=True, check=True).stdout


def python(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=clone, capture_output=True, text=True, timeout=600)


@pytest.fixture
def clone(tmp_path, project_root) -> Path:
    """A clone of the code under test, committed, with its own empty history so that nothing committed is compared."""
    clone = clone_working_tree(project_root, tmp_path / "clone")
    git(clone, "rm", "-rq", "--ignore-unmatch", "results/history")
    git(clone, "commit", "-qm", "an empty history")
    return clone


def history_commits(clone: Path) -> list[str]:
    with open(clone / "results" / "history" / "nightly.csv", newline="") as handle:
        return [row["commit"] for row in csv.DictReader(handle)]


def test_a_nightly_sweep_records_the_clean_commit_and_touches_no_tracked_file(clone, tmp_path):
    spec = write_spec(tmp_path, tiers=TINY_NIGHTLY)
    commit = git(clone, "rev-parse", "HEAD").strip()
    sweep = python(clone, "runner", str(spec), "--tier", "nightly")
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert git(clone, "status", "--porcelain") == ""  # nothing tracked changed, nothing untracked appeared
    configs = sorted((clone / "results" / "nightly" / "tiny" / "runs").glob("*/*/seed_*/config.json"))
    assert len(configs) == 2
    assert {json.loads(path.read_text())["git_commit"] for path in configs} == {commit}

    analysis = python(clone, "analysis", "results/nightly", "--reps", "100")
    assert analysis.returncode == 0, analysis.stderr[-2000:]
    assert (clone / "results" / "nightly" / "tiny" / "spec.json").is_file()  # the plan, beside its report
    assert history_commits(clone) == [commit, commit]
    index = (clone / "results" / "nightly" / "report.md").read_text()
    assert "Newest sweep: 2 of 2 runs of 1 experiment(s) (tiny) on 2 worker(s) (local, " in index
    assert f"at commit `{commit}`: **wall time " in index and "in one go" in index


def test_a_dirty_tree_is_refused_and_allow_dirty_never_makes_a_baseline(clone, tmp_path):
    spec = write_spec(tmp_path, tiers=TINY_NIGHTLY)
    clean = python(clone, "runner", str(spec), "--tier", "nightly")
    assert clean.returncode == 0, clean.stderr[-2000:]
    assert python(clone, "analysis", "results/nightly", "--reps", "100").returncode == 0
    git(clone, "add", "-A", "results")
    git(clone, "commit", "-qm", "nightly results")
    clean_commit = git(clone, "rev-parse", "HEAD").strip()
    with open(clone / "README.md", "a") as readme:
        readme.write("\nan uncommitted change\n")

    refused = python(clone, "runner", str(spec), "--tier", "nightly", "--results", "elsewhere",
                     "--rerun-other-commits")
    assert refused.returncode == 2
    assert "uncommitted changes" in refused.stderr and "README.md" in refused.stderr
    assert not (clone / "elsewhere").exists()  # nothing written

    dirty = python(clone, "runner", str(spec), "--tier", "nightly", "--allow-dirty", "--rerun-other-commits")
    assert dirty.returncode == 0, dirty.stderr[-2000:]
    configs = (clone / "results" / "nightly" / "tiny" / "runs").glob("*/*/seed_*/config.json")
    assert {json.loads(path.read_text())["git_commit"] for path in configs} == {f"{clean_commit}-dirty"}
    analysis = python(clone, "analysis", "results/nightly", "--reps", "100")
    assert analysis.returncode == 0, analysis.stderr[-2000:]
    assert "2 run(s) left out, made from uncommitted changes" in analysis.stderr
    assert not any(commit.endswith("-dirty") for commit in history_commits(clone))

    accepted = python(clone, "analysis", "regress", "--accept")
    assert accepted.returncode == 0, accepted.stderr
    record = json.loads((clone / "results" / "history" / "nightly_accepted.json").read_text())
    assert not record["commit"].endswith("-dirty")
