"""DQN (algos/dqn.py) and what it shares with C51 (common/value_based.py): the paper's RMSProp, the TD
targets and loss, the dueling head and its gradient scaling, the epsilon schedule against hand-computed
numbers; presets resolved the same way from Python, the command line and a spec; the variants' paper
settings; checkpoints without the replay and re-evaluation from a checkpoint; runs that must learn, for
DQN and C51 alike."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from algos import c51, dqn
from common import value_based
from common.cli import parse
from common.config import config_from_dict
from common.replay import Batch
from common.rundir import CHECKPOINT, RunLogger
from core.errors import ConfigError
from helpers import random_score, rows_without_wall_time

# One seed per option, scored as the nightly test: seed 1 scored double 500, dueling 493, prioritized 500 here
# (plain DQN: 500). Options still flip late on some seeds (the nightly's prioritized dueling Double DQN
# scored 267 on seed 1), so "still learns" is 14x random play.
OPTION_BAR = 300
MINATAR_STEPS = 100_000  # of the 5M of the minatar preset: seed 1 scored DQN 3.0-3.4 (train_last_100, two machines), C51 5.0


def cartpole(module=dqn, **overrides):
    return config_from_dict(module.Config, {"env_id": "CartPole-v1", "device": "cpu", **overrides})


def atari(module=dqn, **overrides):
    return module.Config(env_id="ALE/Pong-v5", **overrides)


def eval_means(run_dir) -> list[float]:
    return [float(row["mean"]) for row in rows_without_wall_time(run_dir / "eval.csv")]


# --- the optimizer ----------------------------------------------------------------------------------

def test_dqn_rmsprop_takes_deepminds_centered_step():
    parameter = torch.nn.Parameter(torch.tensor([1.0]))
    optimizer = value_based.DQNRMSprop([parameter], lr=0.01, gradient_momentum=0.9, squared_gradient_momentum=0.8,
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
    config = atari(batch_size=4)
    inputs, targets = torch.randn(4, 3, generator=torch.Generator().manual_seed(0)), torch.tensor([1.0, -2.0, 0.5, 3.0])
    models = [torch.nn.Linear(3, 1) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    ours = value_based.make_optimizer(models[0].parameters(), config)
    deepmind = value_based.DQNRMSprop(models[1].parameters(), config.learning_rate, 0.95, 0.95, 0.01)
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
    minatar = config_from_dict(dqn.Config, {"env_id": "MinAtar/Breakout-v1", "learning_rate": 1e-3})
    optimizer = value_based.make_optimizer(parameters, minatar)
    assert isinstance(optimizer, torch.optim.RMSprop)
    group = optimizer.param_groups[0]
    assert group["centered"] and (group["alpha"], group["eps"], group["momentum"], group["lr"]) == (0.95, 0.01, 0, 1e-3)
    adam = value_based.make_optimizer(parameters, cartpole())
    assert isinstance(adam, torch.optim.Adam) and adam.param_groups[0]["eps"] == 1e-8
    assert adam.param_groups[0]["lr"] == 5e-4


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
    batch = Batch(observations=torch.randn(5, 3, generator=generator), actions=torch.tensor([0, 1, 1, 0, 1]),
                  returns=torch.randn(5, generator=generator), next_observations=torch.randn(5, 3, generator=generator),
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
    plain = dqn.QNetwork(space, 6, atari())
    assert plain(frames).shape == (2, 6)
    # the Nature network: convolutions 4->32 (8x8) ->64 (4x4) ->64 (3x3), 3136 -> 512 -> 6
    assert sum(p.numel() for p in plain.parameters()) == (
        4 * 32 * 64 + 32 + 32 * 64 * 16 + 64 + 64 * 64 * 9 + 64 + 3136 * 512 + 512 + 512 * 6 + 6)
    dueling = dqn.QNetwork(space, 6, atari(dueling=True))
    assert dueling(frames).shape == (2, 6)
    # Wang et al.: each stream has its own 512-unit layer on the convolutions' 3136 features
    assert dueling.value[0].in_features == dueling.advantage[0].in_features == 3136
    assert dueling.value[0].out_features == dueling.advantage[0].out_features == 512
    assert dueling.value[-1].out_features == 1 and dueling.advantage[-1].out_features == 6


def test_dueling_scales_the_gradient_into_the_convolutions_by_one_over_root_two():
    config = config_from_dict(dqn.Config, {"env_id": "MinAtar/Breakout-v1", "dueling": True})
    space = gym.spaces.Box(0, 1, (10, 10, 4), bool)
    network = dqn.QNetwork(space, 3, config)
    observations = torch.rand(5, 10, 10, 4) > 0.5

    def gradients(rescale: bool) -> list[torch.Tensor]:
        network.zero_grad()
        network.rescale_gradient = rescale
        network(observations).square().sum().backward()
        return [p.grad.clone() for p in network.parameters()]

    scaled, plain = gradients(True), gradients(False)
    torso = len(list(network.torso.parameters()))  # the convolution's weight and bias come first
    for with_scale, without in zip(scaled[:torso], plain[:torso]):
        torch.testing.assert_close(with_scale, without * 2**-0.5)
    for with_scale, without in zip(scaled[torso:], plain[torso:]):  # the streams' own layers keep theirs
        torch.testing.assert_close(with_scale, without)
    # an MLP has no convolution to scale (and CartPole's measured dueling runs had none)
    assert not dqn.QNetwork(gym.spaces.Box(-1, 1, (4,), np.float32), 2, cartpole(dueling=True)).rescale_gradient


def test_epsilon_schedule():
    nature = atari()  # 1 until 50k, then down to 0.1 over 1M agent steps
    assert [value_based.exploration_epsilon(step, nature) for step in (0, 50_000, 550_000, 1_050_000, 5_000_000)] == \
        pytest.approx([1.0, 1.0, 0.55, 0.1, 0.1])
    classic = cartpole()  # random until 1k, then 1 -> 0.05 over the first 10k steps counted from 0 (as SB3)
    assert [value_based.exploration_epsilon(step, classic) for step in (999, 1000, 4000, 10_000, 40_000)] == \
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


def test_the_defaults_are_table_1_and_presets_are_chosen_by_family():
    paper = atari()
    assert paper.preset == "atari" and dqn.Config.PRESETS["atari"] == {}
    assert (paper.buffer_size, paper.batch_size, paper.learning_starts, paper.train_frequency) == \
        (1_000_000, 32, 50_000, 4)
    assert (paper.target_update_period, paper.final_epsilon, paper.epsilon_anneal_steps) == (10_000, 0.1, 1_000_000)
    assert (paper.optimizer, paper.learning_rate, paper.eval_epsilon, paper.total_steps) == \
        ("dqn_rmsprop", 2.5e-4, 0.05, 12_500_000)
    minatar = config_from_dict(dqn.Config, {"env_id": "MinAtar/Breakout-v1", "buffer_size": 5000})
    assert minatar.preset == "minatar" and minatar.buffer_size == 5000
    assert (minatar.learning_starts, minatar.train_frequency, minatar.target_update_period) == (5000, 1, 1000)
    assert minatar.differences_from_preset() == ["buffer_size = 5000, where the minatar preset has 100000"]
    classic = dqn.Config(env_id="Acrobot-v1")  # Python resolves the preset as the command line and specs do
    assert classic.preset == "classic"
    assert (classic.batch_size, classic.train_frequency, classic.target_update_period, classic.n_step) == \
        (64, 4, 500, 3)
    assert classic.differences_from_preset() == ["preset classic: not from a paper"]


@pytest.mark.parametrize("module", [dqn, c51], ids=["dqn", "c51"])
@pytest.mark.parametrize("env_id", ["ALE/Pong-v5", "MinAtar/Breakout-v1", "CartPole-v1", "Acrobot-v1"])
def test_python_the_command_line_and_a_spec_resolve_the_same_settings(module, env_id):
    python = module.Config(env_id=env_id)
    command_line, _, _, _ = parse(module.Config, module.__name__, "", ["--env-id", env_id])
    spec = config_from_dict(module.Config, {"env_id": env_id}, source="overrides")
    assert python.preset != "auto"
    assert python.to_dict() == command_line.to_dict() == spec.to_dict()


def test_each_variant_brings_its_papers_settings():
    # Wang et al. 2016, section 4.2: a lower learning rate and gradients clipped to norm 10, on Atari
    dueling = atari(dueling=True)
    assert (dueling.learning_rate, dueling.max_grad_norm) == (6.25e-5, 10.0)
    # Schaul et al. 2016, section 4: the step size divided by 4, whatever the preset's
    assert atari(prioritized=True).learning_rate == 2.5e-4 / 4 and atari(prioritized=True).max_grad_norm == 0.0
    assert cartpole(prioritized=True).learning_rate == 5e-4 / 4
    both = atari(dueling=True, prioritized=True)  # Wang et al.'s prioritized dueling agent
    assert (both.learning_rate, both.max_grad_norm) == (6.25e-5, 10.0)
    # what the caller gives wins; presets not from the dueling paper keep their settings
    assert atari(dueling=True, learning_rate=1e-4, max_grad_norm=5.0).learning_rate == 1e-4
    minatar = config_from_dict(dqn.Config, {"env_id": "MinAtar/Breakout-v1", "dueling": True})
    assert (minatar.learning_rate, minatar.max_grad_norm) == (2.5e-4, 0.0)
    # the variant's own settings are no deviation; a given learning rate is
    paper_dueling = config_from_dict(dqn.Config, {"env_id": "ALE/Pong-v5", "dueling": True})
    assert paper_dueling.differences_from_preset() == []
    given = config_from_dict(dqn.Config, {"env_id": "ALE/Pong-v5", "dueling": True, "learning_rate": 1e-4})
    assert given.differences_from_preset() == ["learning_rate = 0.0001, where the atari preset has 6.25e-05"]


# --- runs -------------------------------------------------------------------------------------------------

SHORT = {"total_steps": 3000, "learning_starts": 500, "train_frequency": 50, "gradient_steps": 10,
         "eval_interval": 1500, "eval_episodes": 2, "hidden_size": 32}


@pytest.mark.parametrize("option", ["double", "dueling", "prioritized", "n_step"])
def test_each_option_runs(tmp_path, option):
    config = cartpole(**SHORT, **({"n_step": 3} if option == "n_step" else {option: True}))
    result = dqn.train(config, 0, tmp_path)
    assert result.status == "completed" and result.steps == 3000
    assert json.loads((tmp_path / "deviations.json").read_text())["options"] == ([] if option == "n_step" else [option])


def test_the_policy_from_a_checkpoint_plays_as_the_last_evaluation(tmp_path):
    config = cartpole(**SHORT)
    dqn.train(config, 2, tmp_path)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]
    environment = envs.resolve(config.env_id)
    act = dqn.policy_from_checkpoint(config, environment, state)
    last = rows_without_wall_time(tmp_path / "eval.csv")[-1]
    returns = envs.evaluate(act, environment, config.eval_episodes, 2, round_index=1, epsilon=config.eval_epsilon)
    assert float(last["mean"]) == pytest.approx(np.mean(returns))


def test_without_the_replay_a_resumed_run_refills_it_before_learning(tmp_path, monkeypatch):
    config = cartpole(**{**SHORT, "checkpoint_replay": False})
    original, saved = RunLogger.save_checkpoint, []

    def save_then_die(self):
        original(self)
        saved.append(self.step)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(RunLogger, "save_checkpoint", save_then_die)
        with pytest.raises(KeyboardInterrupt):
            dqn.train(config, 3, tmp_path)
    checkpoint = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]
    assert saved == [1500] and checkpoint["replay"] is None
    updates = []  # the step of every update
    learn = value_based.QLearner.update
    monkeypatch.setattr(value_based.QLearner, "update",
                        lambda self, replay, step: updates.append(step) or learn(self, replay, step))
    result = dqn.train(config, 3, tmp_path, resume=True)
    assert result.status == "completed" and result.steps == 3000
    assert min(updates) > 1500 + config.learning_starts  # an empty memory is refilled first
    assert [int(row["step"]) for row in rows_without_wall_time(tmp_path / "eval.csv")] == [1500, 3000]


# DQN and C51 share their loop and classic preset, so each learning check runs for both.
VALUE_BASED = pytest.mark.parametrize("module", [dqn, c51], ids=["dqn", "c51"])


@VALUE_BASED
def test_learns_cartpole_quickly(tmp_path, module):
    # The classic preset's first 30k steps. Its greedy policy is far from stable this early (the nightly
    # test scores the last 10% of 100k steps), so this asks the best evaluation for 7x a random policy (22.2).
    result = module.train(cartpole(module, total_steps=30_000, eval_interval=2_500), seed=1, run_dir=tmp_path)
    assert result.status == "completed"
    assert max(eval_means(tmp_path)) >= 7 * random_score("CartPole-v1")
    assert json.loads((tmp_path / "summary.json").read_text())["steps_per_second"] > 0


ACROBOT_STEPS = 50_000
ACROBOT_BAR = -200.0


@VALUE_BASED
def test_learns_acrobot_at_the_default_preset(tmp_path, module):
    # Rewards -1 per step: returns of the other sign than CartPole's. The default preset (auto -> classic)
    # for 50k of its 100k steps, scored as the nightly (mean evaluation over the last 10%: 45k and 50k).
    # Measured, seeds 1, 2, 3: DQN -84.8, -87.0, -83.4; C51 -95.8, -84.5, -82.5 (support [-100, 0]).
    # A random policy scores -497.7 (it rarely swings up within the 500-step limit); C51 with CartPole's
    # support [0, 100] scored -500.0 on seed 1, learning nothing.
    config = config_from_dict(module.Config, {"env_id": "Acrobot-v1", "total_steps": ACROBOT_STEPS,
                                              "eval_interval": 5_000, "device": "cpu"})
    assert config.preset == "classic"
    result = module.train(config, seed=1, run_dir=tmp_path)
    print(module.__name__, "Acrobot-v1 seed 1:", result.score, "random:", random_score("Acrobot-v1"))
    assert result.status == "completed"
    assert ACROBOT_BAR > random_score("Acrobot-v1") + 250  # the bar stays well above random play
    assert result.score >= ACROBOT_BAR, result.score


# --- nightly -------------------------------------------------------------------------------------------

def check_cartpole_nightly(name: str, run_dirs: list, scores: list[float]) -> None:
    """Issue 5's bar: a mean greedy evaluation over the last 10% of training >= 450 on 4 of 5 seeds.
    With 1-step returns the classic preset met it on 2 of 5 seeds; with its 3-step returns on 5 of 5
    for DQN and for C51 (docs/algorithms/value_based.md)."""
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
    random_breakout = random_score("MinAtar/Breakout-v1")
    print(module.__name__, "MinAtar/Breakout-v1 seed 1: train_last_100", result.score, "final evaluation",
          final_evaluation, "random", random_breakout)
    # a wide margin: 5x random play, by the preset's score (training episodes, epsilon 0.1) and by evaluation
    assert min(result.score, final_evaluation) >= 5 * random_breakout, (result.score, final_evaluation)
