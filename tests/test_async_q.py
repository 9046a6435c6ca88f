"""Asynchronous one-step Q-learning (algos/async_q.py): the loss and the exploration schedule by hand,
what it records about evaluation, presets, re-evaluation from a checkpoint, and short runs that must
learn. The plumbing it shares with A3C is tested in test_a3c.py."""

import json

import pytest
import torch

import envs
from algos import async_q
from common.rundir import CHECKPOINT
from core.errors import ConfigError
from helpers import random_score, rows_without_wall_time


def test_one_step_q_loss_by_hand():
    # targets: 1 + 0.5 * 4 = 3 (bootstraps), 2 (terminal: nothing after it); errors 3 - 1 = 2 and 2 - 5 = -3
    loss = async_q.one_step_q_loss(torch.tensor([1.0, 5.0]), torch.tensor([1.0, 2.0]), torch.tensor([4.0, 100.0]),
                                   torch.tensor([False, True]), 0.5)
    assert loss.item() == pytest.approx(2**2 + 3**2)


def test_exploration_epsilon_anneals_from_one_to_the_final_value():
    assert async_q.exploration_epsilon(0, 0.1, 100) == 1.0
    assert async_q.exploration_epsilon(50, 0.1, 100) == pytest.approx(0.55)
    assert async_q.exploration_epsilon(500, 0.1, 100) == pytest.approx(0.1)


def test_final_epsilons_are_the_papers_three_values_drawn_once_per_run_seed():
    drawn = async_q.final_epsilons(seed=7, workers=200)
    assert drawn == async_q.final_epsilons(seed=7, workers=200)  # a resumed run's workers keep theirs
    assert set(drawn) == set(async_q.FINAL_EPSILONS)
    assert drawn.count(0.1) / 200 == pytest.approx(0.4, abs=0.1)  # probabilities 0.4, 0.3, 0.3
    assert drawn != async_q.final_epsilons(seed=8, workers=200)


def test_evaluation_is_recorded_as_greedy_because_it_is(tmp_path):
    with pytest.raises(ConfigError, match="eval_deterministic"):
        async_q.Config(eval_deterministic=False)
    config = async_q.Config(workers=1, total_steps=500, eval_interval=500, eval_episodes=1)
    assert async_q.train(config, 0, tmp_path).status == "completed"
    assert json.loads((tmp_path / "config.json").read_text())["hyperparameters"]["eval_deterministic"] is True


def test_the_paper_settings_are_the_atari_preset_and_classic_differs_only_where_it_says():
    assert async_q.Config.PRESETS["atari"] == {}
    assert async_q.Config(env_id="MinAtar/Breakout-v1").preset == "atari"
    paper = async_q.Config(env_id="ALE/Pong-v5")
    assert (paper.epsilon_anneal_steps, paper.target_update_steps, paper.learning_rate) == (1_000_000, 10_000, 7e-4)
    classic = async_q.Config(env_id="Acrobot-v1")
    differing = {name for name, value in classic.to_dict().items()
                 if value != async_q.Config(env_id="Acrobot-v1", preset="atari").to_dict()[name]}
    assert classic.preset == "classic" and differing == {"preset", *async_q.Config.PRESETS["classic"]}


def test_continuous_actions_are_refused_with_the_option_to_change(tmp_path):
    with pytest.raises(ConfigError, match="env_id: expected an environment with discrete actions"):
        async_q.train(async_q.Config(env_id="Pendulum-v1", workers=1, total_steps=100), 0, tmp_path)


def test_policy_from_checkpoint_repeats_the_final_evaluation(tmp_path):
    config = async_q.Config(workers=1, total_steps=4000, eval_interval=2000, eval_episodes=3)
    assert async_q.train(config, 2, tmp_path).status == "completed"  # a final evaluation of 20.0: not the untrained 9
    evals = rows_without_wall_time(tmp_path / "eval.csv")
    environment = envs.resolve(config.env_id)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]  # it holds numpy RNG states too
    act = async_q.policy_from_checkpoint(config, environment, saved)
    returns = envs.evaluate(act, environment, config.eval_episodes, 2, round_index=len(evals) - 1)
    assert float(evals[-1]["mean"]) == pytest.approx(sum(returns) / len(returns))


# --- short runs that must learn, at the default (auto) preset ----------------------------------------

def test_async_q_learning_learns_cartpole_with_two_workers(tmp_path):
    config = async_q.Config(workers=2, total_steps=20_000, eval_interval=5_000)
    result = async_q.train(config, seed=0, run_dir=tmp_path)
    assert config.preset == "classic" and result.status == "completed"
    assert len(rows_without_wall_time(tmp_path / "metrics.csv")) > 100
    # The best evaluation, not the last: online Q-learning without replay learns CartPole within 20k
    # steps but may collapse again. Seeds 0-4, best 234.1, 222.1, 252.0, 371.4, 488.9 (last 152.2, 164.8,
    # 252.0, 352.6, 338.2); seed 0 twice more, best 176.2 and 399.3; about 6 s each. Random: 22.2.
    best = max(float(row["mean"]) for row in rows_without_wall_time(tmp_path / "eval.csv"))
    assert best >= 100 > 4 * random_score("CartPole-v1")


# No Acrobot-v1 test: at its classic preset, with 2 workers, async one-step Q-learning does not learn
# Acrobot reliably. The greedy policy is stuck at -500 in most evaluations of most runs (seeds 0-4 at
# 60k steps, final evaluation: -98.8, -500, -500, -198.8, -500); docs/algorithms/async.md lists what
# was tried.
