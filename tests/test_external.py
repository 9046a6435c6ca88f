"""An outside algorithm (examples/random_agent.py, named by its module path) runs in a spec beside ours, and its
claim is judged; a module that is not an algorithm is refused with the field."""

import csv
import importlib
import json

import pytest
import yaml

from helpers import run_module, write_spec
from runner.spec import load_spec

CLAIM = {"id": "reinforce_beats_random", "sentence": "learning beats acting at random", "kind": "better",
         "statistic": "probability_of_improvement", "a": "reinforce", "b": "random", "tiers": ["smoke"]}


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


# Each SB3 reference at a tiny scale, and settings its sb3_settings.json must show: rl-zoo's and SB3's defaults.
SB3_REFERENCES = {
    "sb3_ppo": ({"n_envs": 2, "n_steps": 64, "batch_size": 64},
                {"n_epochs": 4, "normalize_advantage": True, "clip_range_vf": None}),
    "sb3_dqn": ({"buffer_size": 1000, "learning_starts": 128},
                {"exploration_final_eps": 0.01, "target_update_interval": 1000, "optimizer": "Adam", "tau": 1.0}),
}


@pytest.mark.parametrize("name", SB3_REFERENCES)
def test_the_sb3_reference_trains_checkpoints_and_resumes_from_its_step(tmp_path, monkeypatch, name):
    """examples/sb3_ppo.py and sb3_dqn.py (the parity specs' references): a run killed after its first
    checkpoint continues from that step, keeping the rows written before, and ends at the budget."""
    from helpers import stop_after_checkpoints

    module = importlib.import_module(f"examples.{name}")
    scale, expected_settings = SB3_REFERENCES[name]
    config = module.Config(env_id="ALE/Pong-v5", env_protocol="dqn2015:fire_reset=true", total_steps=512,
                           eval_interval=256, eval_episodes=1, **scale)
    saved = stop_after_checkpoints(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        module.train(config, seed=0, run_dir=tmp_path)
    assert saved == [256] and not (tmp_path / "summary.json").exists()
    monkeypatch.undo()
    result = module.train(config, seed=0, run_dir=tmp_path, resume=True)
    assert result.steps == 512
    evals = [int(row["step"]) for row in csv.DictReader(open(tmp_path / "eval.csv"))]
    assert evals == [256, 512]  # the first evaluation survived the kill; nothing before 256 was redone
    settings = json.loads((tmp_path / "sb3_settings.json").read_text())
    assert {key: settings[key] for key in expected_settings} == expected_settings
    record = json.loads((tmp_path / "config.json").read_text())["protocol"]
    assert record["training"]["env_id"] == "PongNoFrameskip-v4" and record["fire_reset"] is True


def test_the_sb3_reference_refuses_a_task_that_is_not_atari():
    from examples import sb3_ppo

    with pytest.raises(ValueError, match="env_id"):
        sb3_ppo.Config(env_id="CartPole-v1")


def test_the_sb3_learner_also_trains_on_our_environments(tmp_path):
    """env_path ours: SB3's PPO on the suite's training envs (frames stacked by us, channels first)."""
    from examples import sb3_ppo

    config = sb3_ppo.Config(env_id="ALE/Pong-v5", env_protocol="dqn2015:fire_reset=true", env_path="ours", n_envs=2,
                            n_steps=64, batch_size=64, total_steps=256, eval_interval=256, eval_episodes=1)
    result = sb3_ppo.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed" and result.steps == 256
    record = json.loads((tmp_path / "config.json").read_text())["protocol"]
    assert "training" not in record and record["protocol"] == "dqn2015"  # what trained is what the record says
    with pytest.raises(ValueError, match="env_path"):
        sb3_ppo.Config(env_id="ALE/Pong-v5", env_path="theirs")
