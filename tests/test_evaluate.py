"""`python -m runner.evaluate`: a saved run played again, under its own settings (it must repeat the run's own
evaluation), under another protocol option, episode count and seed (repeatably), and rescored under another
score rule; and the errors a user can make."""

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from algos import reinforce
from helpers import run_module
from runner.evaluate import main

SEED = 2


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory):
    """Greedy evaluation, and only one: at the end of training (round 0), from the weights the checkpoint holds."""
    run_dir = tmp_path_factory.mktemp("cartpole")
    config = reinforce.Config(env_id="CartPole-v1", total_steps=4_000, eval_interval=10**6, eval_episodes=5,
                              eval_deterministic=True, batch_size=500, device="cpu")
    assert reinforce.train(config, seed=SEED, run_dir=run_dir).status == "completed"
    return run_dir


@pytest.fixture(scope="module")
def minatar_run(tmp_path_factory):
    """A policy that samples its actions at evaluation (reinforce's default), on a family with protocol options."""
    run_dir = tmp_path_factory.mktemp("minatar")
    config = reinforce.Config(env_id="MinAtar/Breakout-v1", total_steps=3_000, eval_interval=1_500, eval_episodes=2,
                              batch_size=500, device="cpu")
    assert reinforce.train(config, seed=SEED, run_dir=run_dir).status == "completed"
    return run_dir


def reevaluation(run_dir, name):
    return json.loads((run_dir / "reevaluations" / name).read_text())


def test_the_runs_own_settings_repeat_its_last_evaluation(cartpole_run):
    assert main([str(cartpole_run)]) == 0
    result = reevaluation(cartpole_run, f"gymnasium__episodes-5__epsilon-0__seed-{SEED}.json")
    with open(cartpole_run / "eval.csv") as handle:
        (last_evaluation,) = csv.DictReader(handle)
    assert len(result["returns"]) == result["episodes"] == 5
    # the same greedy policy on the same seeded episodes: policy_from_checkpoint is what training evaluated
    assert result["mean"] == pytest.approx(float(last_evaluation["mean"]), abs=1e-9)
    assert result["std"] == pytest.approx(float(last_evaluation["std"]), abs=1e-9)
    assert result["checkpoint_step"] >= 4_000 and result["protocol"]["env_id"] == "CartPole-v1"
    assert result["git_commit"] and result["run_git_commit"] and (result["seed"], result["epsilon"]) == (SEED, 0.0)


def test_another_protocol_option_episode_count_and_seed_repeat_exactly(minatar_run):
    arguments = [str(minatar_run), "--env-protocol", "minatar2019:sticky_action_probability=0.0", "--episodes", "20",
                 "--seed", "7"]
    name = "minatar2019_sticky_action_probability=0.0__episodes-20__epsilon-0__seed-7.json"
    assert main(arguments) == 0
    first = reevaluation(minatar_run, name)
    assert first["protocol"]["sticky_action_probability"] == 0.0 and first["env_protocol"].endswith("=0.0")
    assert len(first["returns"]) == 20 and len(set(first["returns"])) > 1  # sampled actions: returns differ
    assert main(arguments) == 0
    assert reevaluation(minatar_run, name)["returns"] == first["returns"]
    assert main([*arguments[:-1], "8"]) == 0
    assert reevaluation(minatar_run, name.replace("seed-7", "seed-8"))["returns"] != first["returns"]


def test_epsilon_is_applied_and_recorded(cartpole_run):
    assert main([str(cartpole_run), "--eval-epsilon", "1.0", "--episodes", "30"]) == 0
    result = reevaluation(cartpole_run, f"gymnasium__episodes-30__epsilon-1__seed-{SEED}.json")
    assert result["epsilon"] == 1.0
    assert result["mean"] < 60  # every action random: the random policy's ~22 (results/baselines), not the trained one


def test_rescoring_under_another_rule_reads_the_runs_logs(minatar_run):
    assert main([str(minatar_run), "--score-rule", "train_last_100"]) == 0
    result = reevaluation(minatar_run, "score__train_last_100.json")
    with open(minatar_run / "metrics.csv") as handle:
        returns = [float(row["return"]) for row in csv.DictReader(handle)]
    assert result["score"] == pytest.approx(np.mean(returns[-100:]))
    summary = json.loads((minatar_run / "summary.json").read_text())
    assert (result["run_score_rule"], result["run_score"]) == ("eval_last_10pct", summary["score"])


def test_a_run_without_checkpoint_exits_2_saying_so(cartpole_run, tmp_path, capsys):
    shutil.copy(cartpole_run / "config.json", tmp_path / "config.json")
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "checkpoint.pt does not exist" in error and "Traceback" not in error
    assert main([str(tmp_path / "nowhere")]) == 2


def test_help_explains_and_bad_combinations_exit_2(cartpole_run):
    process = run_module("runner.evaluate", "--help", timeout=120)
    assert process.returncode == 0 and "reevaluations" in process.stdout and "--score-rule" in process.stdout
    process = run_module("runner.evaluate", str(cartpole_run), "--score-rule", "train_last_100", "--episodes", "3",
                         timeout=120)
    assert process.returncode == 2 and "takes none of" in process.stderr


def test_a_protocol_that_changes_the_spaces_is_refused(minatar_run, tmp_path, capsys):
    """A stand-in Pong run (MinAtar weights, never loaded: the spaces are compared before the network is built)."""
    shutil.copy(minatar_run / "config.json", tmp_path / "config.json")
    checkpoint = torch.load(minatar_run / "checkpoint.pt", weights_only=False)
    checkpoint["config"]["env_id"] = "ALE/Pong-v5"
    torch.save(checkpoint, tmp_path / "checkpoint.pt")
    assert main([str(tmp_path), "--env-protocol", "dqn2015:full_action_space=true"]) == 2
    error = capsys.readouterr().err
    assert "Discrete(18)" in error and "Discrete(6)" in error and "its network cannot play them" in error
    assert not (tmp_path / "reevaluations").exists()
