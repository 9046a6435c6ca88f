"""An outside algorithm (examples/random_agent.py, named by its module path) runs in a spec beside ours, and its
claim is judged; a module that is not an algorithm is refused with the field."""

import json

import pytest
import yaml

from helpers import run_module, write_spec
from runner.spec import load_spec

CLAIM = {"id": "reinforce_beats_random", "sentence": "learning beats acting at random", "kind": "better",
         "a": "reinforce", "b": "random", "tiers": ["smoke"]}


def test_an_outside_algorithm_runs_beside_ours_and_is_judged(tmp_path):
    spec = write_spec(tmp_path, variants={"reinforce": {"algo": "reinforce", "overrides": {"batch_size": 500}},
                                          "random": {"algo": "examples.random_agent"}}, claims=[CLAIM])
    results = tmp_path / "results"
    run = run_module("runner", str(spec), "--results", str(results))
    assert run.returncode == 0, run.stderr
    for seed in (0, 1):
        summary = json.loads((results / "smoke/tiny/runs/random/CartPole-v1" / f"seed_{seed}/summary.json").read_text())
        assert summary["status"] == "completed" and summary["steps"] == 2000
    analysis = run_module("analysis", str(results / "smoke"), "--reps", "200")
    assert analysis.returncode == 0, analysis.stderr
    verdict = json.loads((results / "smoke/tiny/verdicts.json").read_text())["verdicts"][0]
    assert verdict["claim"] == "reinforce_beats_random" and verdict["verdict"] != "not judged", verdict


@pytest.mark.parametrize("algo, expected", [
    ("json", "expected one of the algorithms"),  # no dot: neither ours nor a module path
    ("examples.nowhere", "expected an importable module"),
    ("json.decoder", "lacks ['Config', 'train']"),
])
def test_a_module_that_is_not_an_algorithm_is_refused(tmp_path, algo, expected):
    path = write_spec(tmp_path, variants={"theirs": {"algo": algo}})
    with pytest.raises(ValueError) as error:
        load_spec(path)
    assert "variants.theirs.algo" in str(error.value) and expected in str(error.value)
    assert yaml.safe_load(path.read_text())  # the spec itself is valid YAML: the algorithm is what is wrong
