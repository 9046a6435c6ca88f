"""DQN (algos/dqn.py): the paper's RMSProp, the TD targets and loss, the dueling head and the
epsilon schedule against hand-computed numbers; presets and config errors; seeded determinism;
runs that must learn, for DQN and C51 alike."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

from algos import c51, dqn
from common.config import config_from_dict
from core.errors import ConfigError
from helpers import rows_without_wall_time

RANDOM_CARTPOLE_RETURN = 22  # a uniformly random policy's mean return on CartPole-v1
RANDOM_BREAKOUT_RETURN = 0.37  # MinAtar/Breakout-v1 under minatar2019, uniformly random: 0.366 +- 0.014 (2,000 games)
# One seed per option, scored as the nightly test: seed 1 scored double 500, dueling 493, prioritized 500 here
# (plain DQN: 500). Options still flip late on some seeds (the nightly's prioritized dueling Double DQN
# scored 267 on seed 1), so "still learns" is 14x random play.
OPTION_BAR = 300
MINATAR_STEPS = 100_000  # of the 5M of the minatar preset: seed 1 scored DQN 3.0-3.4 (train_last_100, two machines), C51 5.0


def cartpole(module=dqn, **overrides):
    return config_from_dict(module.Config, {"env_id": "CartPole-v1", "device": "cpu", **overrides})


def eval_means(run_dir) -> list[float]:
    return [float(row["mean"]) for row in rows_without_wall_time(run_dir / "eval.csv")]


# --- the optimizer ----------------------------------------------------------------------------------

def test_dqn_rmsprop_takes_deepminds_centered_step():
    parameter = torch.nn.Parameter(torch.tensor([1.0]))
    optimizer = dqn.DQNRMSprop([parameter], lr=0.01, gradient_momentum=0.9, squared_gradient_momentum=0.8,
                               min_squared_gradient=0.01)
    # step 1, grad 2:  g = 0.1 * 2 = 0.2, n = 0.2 * 4 = 0.8, n - g^2 + 0.01 = 0.77
    #                  p = 1 - 0.01 * 2 / sqrt(0.77) = 0.9772079
    # step 2, grad -1: g = 0.9 * 0.2 - 0.1 = 0.08, n = 0.8 * 0.8 + 0.2 = 0.84, n - g^2 + 0.01 = 0.8436
    #                  p = 0.9772079 + 0.01 / sqrt(0.8436) = 0.9880955
    for gradient, expected in ((2.0, 0.9772079), (-1.0, 0.9880955)):
        parameter.grad = torch.tensor([gradient])
        optimizer.step()
        assert parameter.item() == pytest.approx(expected, abs=1e-6)
    state = optimizer.state[parameter]
    assert state["gradient_average"].item() == pytest.approx(0.08)
    assert state["square_average"].item() == pytest.approx(0.84)


def test_the_paper_optimizer_on_our_mean_loss_equals_deepminds_update_on_the_summed_loss():
    # DeepMind's code steps on the gradient summed over the minibatch with 0.01 inside the square root;
    # make_optimizer gets the same parameters from the minibatch-mean gradient.
    config = dqn.Config(batch_size=4)
    inputs, targets = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([1.0, -2.0, 0.5, 3.0])
    models = [torch.nn.Linear(3, 1) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    ours = dqn.make_optimizer(models[0].parameters(), config, config.learning_rate)
    deepmind = dqn.DQNRMSprop(models[1].parameters(), config.learning_rate, 0.95, 0.95, 0.01)
    for _ in range(5):
        for model, optimizer, reduce in ((models[0], ours, torch.mean), (models[1], deepmind, torch.sum)):
            optimizer.zero_grad()
            reduce((model(inputs).squeeze(1) - targets).pow(2)).backward()
            optimizer.step()
    for mine, theirs in zip(models[0].parameters(), models[1].parameters()):
        torch.testing.assert_close(mine, theirs)
    assert not torch.equal(models[0].weight, torch.nn.Linear(3, 1).weight)


def test_optimizer_choices():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    minatar = config_from_dict(dqn.Config, {"env_id": "MinAtar/Breakout-v1"})
    optimizer = dqn.make_optimizer(parameters, minatar, 1e-3)
    assert isinstance(optimizer, torch.optim.RMSprop)
    group = optimizer.param_groups[0]
    assert group["centered"] and (group["alpha"], group["eps"], group["momentum"], group["lr"]) == (0.95, 0.01, 0, 1e-3)
    adam = dqn.make_optimizer(parameters, cartpole(), 2.3e-3)
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["eps"] == 1e-8


# --- targets and loss ---------------------------------------------------------------------------------

def hand_batch():
    # discount 0.5. Row 0: one ordinary step. Row 1: the episode terminated: discount 0. Row 2: it was
    # truncated by a time limit: it bootstraps, discount 0.5. Row 3: a 3-step window of rewards 1, 1, 1:
    # return 1 + 0.5 + 0.25 = 1.75, discount 0.5^3 = 0.125.
    returns = torch.tensor([1.0, 2.0, 0.0, 1.75])
    discounts = torch.tensor([0.5, 0.0, 0.5, 0.125])
    next_q_target = torch.tensor([[1.0, 3.0], [5.0, 2.0], [2.0, 4.0], [10.0, 0.0]])
    next_q_online = torch.tensor([[2.0, 1.0], [0.0, 9.0], [3.0, 1.0], [0.0, 1.0]])
    return returns, discounts, next_q_target, next_q_online


def test_q_learning_targets_by_hand():
    returns, discounts, next_q_target, _ = hand_batch()
    # max_a Q_target(s', a) = 3, 5, 4, 10: y = 1 + 0.5 * 3, 2 + 0, 0 + 0.5 * 4, 1.75 + 0.125 * 10
    torch.testing.assert_close(dqn.q_learning_targets(returns, discounts, next_q_target),
                               torch.tensor([2.5, 2.0, 2.0, 3.0]))


def test_double_dqn_targets_value_the_online_networks_choice_with_the_target_network():
    returns, discounts, next_q_target, next_q_online = hand_batch()
    # the online network picks actions 0, 1, 0, 1; the target network values them 1, 2, 2, 0
    torch.testing.assert_close(dqn.q_learning_targets(returns, discounts, next_q_target, next_q_online),
                               torch.tensor([1.5, 2.0, 1.0, 1.75]))


def test_td_loss_is_the_weighted_huber_loss_whose_gradient_clips_the_error():
    q_taken = torch.tensor([1.0, 4.0], requires_grad=True)
    targets, weights = torch.tensor([1.5, 1.0]), torch.tensor([1.0, 0.5])
    loss, errors = dqn.td_loss(q_taken, targets, weights)
    # errors 0.5 and -3: Huber 0.5 * 0.5^2 = 0.125 and 3 - 0.5 = 2.5; weighted mean (0.125 + 0.5 * 2.5) / 2
    torch.testing.assert_close(errors, torch.tensor([0.5, -3.0]))
    assert loss.item() == pytest.approx(0.6875)
    loss.backward()
    # d/dq = -weight * clip(error, -1, 1) / 2: -0.5 / 2 and -0.5 * -1 / 2
    torch.testing.assert_close(q_taken.grad, torch.tensor([-0.25, 0.25]))


def test_dqn_loss_uses_the_target_network_and_the_minibatch():
    config = dqn.Config(env_id="CartPole-v1", network="mlp", hidden_layers=1, hidden_size=8)
    space = gym.spaces.Box(-1, 1, (3,), np.float32)
    online, target = dqn.QNetwork(space, 2, config), dqn.QNetwork(space, 2, config)
    generator = torch.Generator().manual_seed(1)
    batch = dqn.Batch(observations=torch.randn(5, 3, generator=generator), actions=torch.tensor([0, 1, 1, 0, 1]),
                      returns=torch.randn(5, generator=generator),
                      next_observations=torch.randn(5, 3, generator=generator),
                      discounts=torch.tensor([0.99, 0.0, 0.99, 0.99, 0.0]), weights=torch.ones(5), indices=np.arange(5))
    loss, errors, mean_q = dqn.dqn_loss(online, target, batch, config)
    q_taken = online(batch.observations)[torch.arange(5), batch.actions]
    targets = batch.returns + batch.discounts * target(batch.next_observations).max(1).values
    torch.testing.assert_close(errors, (targets - q_taken).abs().detach())
    torch.testing.assert_close(loss, torch.nn.functional.smooth_l1_loss(q_taken, targets.detach()))
    assert mean_q.item() == pytest.approx(q_taken.mean().item())
    loss.backward()
    assert all(p.grad is None for p in target.parameters())


# --- networks and schedule ------------------------------------------------------------------------------

def test_dueling_aggregation_by_hand():
    values = torch.tensor([[1.0], [2.0]])
    advantages = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]])  # means 2 and 1
    torch.testing.assert_close(dqn.dueling_aggregate(values, advantages),
                               torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0]]))


def test_networks_on_atari_frames():
    space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    frames = torch.zeros(2, 4, 84, 84, dtype=torch.uint8)
    plain = dqn.QNetwork(space, 6, dqn.Config())
    assert plain(frames).shape == (2, 6)
    # the Nature network: convolutions 4->32 (8x8) ->64 (4x4) ->64 (3x3), 3136 -> 512 -> 6
    assert sum(p.numel() for p in plain.parameters()) == (
        4 * 32 * 64 + 32 + 32 * 64 * 16 + 64 + 64 * 64 * 9 + 64 + 3136 * 512 + 512 + 512 * 6 + 6)
    dueling = dqn.QNetwork(space, 6, dqn.Config(dueling=True))
    assert dueling(frames).shape == (2, 6)
    # Wang et al.: each stream has its own 512-unit layer on the convolutions' 3136 features
    assert dueling.value[0].in_features == dueling.advantage[0].in_features == 3136
    assert dueling.value[0].out_features == dueling.advantage[0].out_features == 512
    assert dueling.value[-1].out_features == 1 and dueling.advantage[-1].out_features == 6


def test_epsilon_schedule():
    nature = dqn.Config()  # 1 until 50k, then down to 0.1 over 1M agent steps
    assert [dqn.exploration_epsilon(step, nature) for step in (0, 50_000, 550_000, 1_050_000, 5_000_000)] == \
        pytest.approx([1.0, 1.0, 0.55, 0.1, 0.1])
    classic = cartpole()  # random until 1k, then 1 -> 0.05 over the first 10k steps counted from 0 (as SB3)
    assert [dqn.exploration_epsilon(step, classic) for step in (999, 1000, 4000, 10_000, 40_000)] == \
        pytest.approx([1.0, 0.905, 0.62, 0.05, 0.05])


# --- configuration ------------------------------------------------------------------------------------

@pytest.mark.parametrize("values, field", [
    ({"buffer_size": 16, "batch_size": 32}, "buffer_size"),
    ({"optimizer": "sgd"}, "optimizer"),
    ({"optimizer": "torch_rmsprop", "gradient_momentum": 0.9}, "gradient_momentum"),
    ({"n_step": 0}, "n_step"),
    ({"final_epsilon": 1.5}, "final_epsilon"),
    ({"target_update_period": 0}, "target_update_period"),
    ({"eval_deterministic": False}, "eval_deterministic"),
    ({"importance_sampling_start": 2.0}, "importance_sampling_start"),
    ({"preset": "mujoco"}, "preset"),
    ({"hidden_layers": 0}, "hidden_layers"),
])
def test_bad_settings_name_the_field(values, field):
    with pytest.raises(ConfigError) as error:
        config_from_dict(dqn.Config, values)
    assert error.value.field == f"config.{field}"


def test_continuous_actions_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="discrete actions"):
        dqn.train(config_from_dict(dqn.Config, {"env_id": "Pendulum-v1"}), 0, tmp_path)


def test_presets_by_env_family_and_explicit_values_win():
    defaults = dqn.Config()
    for name, value in dqn.NATURE_TABLE_1.items():
        assert getattr(defaults, name) == value, name
    assert config_from_dict(dqn.Config, {"env_id": "ALE/Pong-v5"}).preset == "atari"
    minatar = config_from_dict(dqn.Config, {"env_id": "MinAtar/Breakout-v1", "buffer_size": 5000})
    assert minatar.preset == "minatar" and minatar.buffer_size == 5000
    assert (minatar.learning_starts, minatar.train_frequency, minatar.target_update_period) == (5000, 1, 1000)
    assert any(note.startswith("buffer_size = 5000") for note in dqn.deviations_from_preset(minatar))
    classic = cartpole()
    assert classic.preset == "classic"
    assert (classic.batch_size, classic.train_frequency, classic.target_update_period, classic.n_step) == (64, 4, 500, 3)
    assert dqn.deviations_from_preset(classic) == ["preset classic: not from a paper"]


# --- runs -------------------------------------------------------------------------------------------------

SHORT = {"total_steps": 3000, "learning_starts": 500, "train_frequency": 50, "gradient_steps": 10,
         "eval_interval": 1500, "eval_episodes": 2, "hidden_size": 32}


def test_same_seed_same_run(tmp_path):
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        assert dqn.train(cartpole(**SHORT), seed, tmp_path / label).status == "completed"
    first, second, other = (rows_without_wall_time(tmp_path / label / "metrics.csv") for label in "abc")
    assert len(first) > 10 and first == second and first != other
    assert eval_means(tmp_path / "a") == eval_means(tmp_path / "b")


@pytest.mark.parametrize("option", ["double", "dueling", "prioritized", "n_step"])
def test_each_option_runs(tmp_path, monkeypatch, option):
    learning_rates = []
    make_optimizer = dqn.make_optimizer
    monkeypatch.setattr(dqn, "make_optimizer", lambda parameters, config, learning_rate: (
        learning_rates.append(learning_rate), make_optimizer(parameters, config, learning_rate))[1])
    config = cartpole(**SHORT, **({"n_step": 3} if option == "n_step" else {option: True}))
    result = dqn.train(config, 0, tmp_path)
    assert result.status == "completed" and result.steps == 3000
    # Schaul et al. 2016 divide DQN's step size by 4 under prioritized replay
    assert learning_rates == [config.learning_rate / (4 if option == "prioritized" else 1)]


# DQN and C51 share their loop and classic preset, so each learning check runs for both.
VALUE_BASED = pytest.mark.parametrize("module", [dqn, c51], ids=["dqn", "c51"])


@VALUE_BASED
def test_learns_cartpole_quickly(tmp_path, module):
    # The classic preset's first 30k steps. Its greedy policy is far from stable this early (the nightly
    # test scores the last 10% of 100k steps), so this asks the best evaluation for 7x a random policy.
    result = module.train(cartpole(module, total_steps=30_000, eval_interval=2_500), seed=1, run_dir=tmp_path)
    assert result.status == "completed"
    assert max(eval_means(tmp_path)) >= 7 * RANDOM_CARTPOLE_RETURN
    assert json.loads((tmp_path / "summary.json").read_text())["steps_per_second"] > 0


# --- nightly -------------------------------------------------------------------------------------------

def check_cartpole_nightly(name: str, run_dirs: list, scores: list[float]) -> None:
    """Issue 5's bar: a mean greedy evaluation over the last 10% of training >= 450 on 4 of 5 seeds.
    With 1-step returns the classic preset met it on 2 of 5 seeds; with its 3-step returns on 5 of 5
    for DQN and for C51 (algos/dqn.py)."""
    print(f"{name} CartPole-v1 eval_last_10pct, seeds 1-5:", [round(score, 1) for score in scores])
    assert all(max(eval_means(run_dir)) == 500 for run_dir in run_dirs), "a seed never balanced for 500 steps"
    assert sum(score >= 450 for score in scores) >= 4, scores


@pytest.mark.slow
@VALUE_BASED
def test_nightly_reaches_450_on_four_of_five_cartpole_seeds(tmp_path, module):
    # The classic preset's full budget, scored as the issue asks: the mean greedy evaluation over the
    # last 10% of training (evaluations of 10 episodes every 2,500 steps), not the best one.
    run_dirs = [tmp_path / str(seed) for seed in range(1, 6)]
    scores = [module.train(cartpole(module), seed, run_dir).score for seed, run_dir in zip(range(1, 6), run_dirs)]
    check_cartpole_nightly(module.__name__, run_dirs, scores)


@pytest.mark.slow
@pytest.mark.parametrize("option", ["double", "dueling", "prioritized"])
def test_nightly_each_option_still_learns_cartpole(tmp_path, option):
    result = dqn.train(cartpole(**{option: True}), seed=1, run_dir=tmp_path)
    print(f"DQN --{option} CartPole-v1 eval_last_10pct, seed 1:", result.score)
    assert result.score >= OPTION_BAR, result.score


@pytest.mark.slow
@VALUE_BASED
def test_nightly_beats_random_play_on_minatar_breakout(tmp_path, module):
    config = config_from_dict(module.Config, {"env_id": "MinAtar/Breakout-v1", "total_steps": MINATAR_STEPS,
                                              "eval_interval": MINATAR_STEPS // 4, "device": "cpu"})
    result = module.train(config, seed=1, run_dir=tmp_path)
    final_evaluation = eval_means(tmp_path)[-1]
    print(module.__name__, "MinAtar/Breakout-v1 seed 1: train_last_100", result.score, "final evaluation", final_evaluation)
    # a wide margin: 5x random play, by the preset's score (training episodes, epsilon 0.1) and by evaluation
    assert min(result.score, final_evaluation) >= 5 * RANDOM_BREAKOUT_RETURN, (result.score, final_evaluation)
