"""Every spec's `expect:` bars against its nightly results (slow: runs the nightly tier, or reuses the finished
runs of a previous nightly sweep in results/, which the runner skips)."""

import json
from pathlib import Path

import pytest

from core.files import path_part
from helpers import run_module
from runner.spec import load_spec

EXPERIMENTS = Path(__file__).resolve().parent.parent / "experiments"
SPECS_WITH_BARS = sorted(path.stem for path in EXPERIMENTS.glob("*.yaml") if load_spec(path).expectations)


@pytest.mark.slow
@pytest.mark.parametrize("experiment", SPECS_WITH_BARS)
def test_nightly_results_meet_the_specs_bars(project_root, experiment):
    spec_path = project_root / "experiments" / f"{experiment}.yaml"
    # --allow-dirty: the bars are checked on the code under test, committed or not; nothing here becomes history
    process = run_module("runner", str(spec_path), "--tier", "nightly", "--allow-dirty", timeout=3 * 3600)
    assert process.returncode == 0, process.stderr
    spec = load_spec(spec_path)
    runs = project_root / "results" / "nightly" / experiment / "runs"
    failures = []
    for bar in (bar for bar in spec.expectations if bar.tier == "nightly"):
        summaries = sorted((runs / bar.variant / path_part(bar.env_id)).glob("seed_*/summary.json"))
        scores = [score for path in summaries if (score := json.loads(path.read_text()).get("score")) is not None]
        failure = bar.failure(scores, spec.tiers["nightly"].for_variant(bar.variant).seeds)
        if failure:
            failures.append(failure)
    assert not failures, failures
