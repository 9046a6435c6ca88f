"""SAC (algos/sac.py): the squashed-Gaussian log-probability against numerical densities, the soft Q
targets, the policy loss and the temperature loss's sign by hand, Table 1's settings, seeded
determinism, kill-and-resume, re-evaluation from a checkpoint, and runs that must learn."""

import math

import numpy as np
import pytest
import torch

import envs
from algos import sac
from common.cli import build_parser, parse
from common.config import config_from_dict
from common.replay import Batch
from common.rundir import CHECKPOINT
from core.errors import ConfigError
from helpers import random_score, rows_without_wall_time, stop_after_checkpoints

SHORT = {"env_id": "Pendulum-v1", "total_steps": 1_500, "eval_interval": 500, "eval_episodes": 2, "device": "cpu",
         "learning_starts": 500, "batch_size": 32, "hidden_size": 32}


def config(**changes) -> sac.Config:
    return config_from_dict(sac.Config, {**SHORT, **changes})


# --- the squashed Gaussian ----------------------------------------------------------------------------------

def log_prob_of_action(actions: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """Our log pi(a) for given actions: the noise that produces them, through squashed_gaussian."""
    noise = (torch.atanh(actions) - mean) / log_std.exp()
    squashed, log_probs = sac.squashed_gaussian(mean, log_std, noise)
    torch.testing.assert_close(squashed, actions)
    return log_probs


def test_the_squashed_density_integrates_to_one():
    actions = torch.linspace(-1, 1, 400_001, dtype=torch.float64)[1:-1]
    for mean, log_std in ((0.0, 0.0), (1.5, -1.0), (-0.7, 0.3)):  # std up to 1.35: the mass stays inside the grid
        density = log_prob_of_action(actions[:, None], torch.full((len(actions), 1), mean, dtype=torch.float64),
                                     torch.full((len(actions), 1), log_std, dtype=torch.float64)).exp()
        assert torch.trapezoid(density, actions).item() == pytest.approx(1.0, abs=1e-3)


def test_the_log_probability_is_the_change_of_variables_with_the_autograd_jacobian():
    generator = torch.Generator().manual_seed(0)
    mean, log_std = torch.randn(3, generator=generator, dtype=torch.float64), \
        torch.randn(3, generator=generator, dtype=torch.float64) * 0.5
    noise = torch.randn(3, generator=generator, dtype=torch.float64)
    actions, log_prob = sac.squashed_gaussian(mean, log_std, noise)
    u = mean + log_std.exp() * noise
    jacobian = torch.autograd.functional.jacobian(torch.tanh, u)  # 3x3, diagonal
    gaussian = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum()
    assert log_prob.item() == pytest.approx((gaussian - torch.logdet(jacobian)).item(), rel=1e-10)
    torch.testing.assert_close(actions, torch.tanh(u))


def test_the_log_probability_stays_finite_where_tanh_saturates():
    u = torch.tensor([[20.0], [-30.0]])
    _, log_probs = sac.squashed_gaussian(u, torch.zeros(2, 1), torch.zeros(2, 1))  # noise 0: u is the mean
    # log(1 - tanh^2 u) = log sech^2 u = 2 (log 2 - |u| - log(1 + e^(-2|u|))); float32's 1 - tanh^2 is 0 there
    exact = torch.tensor([-0.5 * math.log(2 * math.pi) - 2 * (math.log(2) - abs(x)) for x in (20.0, -30.0)])
    assert torch.isinf(torch.log(1 - torch.tanh(u) ** 2)).all()
    torch.testing.assert_close(log_probs, exact)


def test_sampled_actions_have_the_density_of_their_log_probability():
    torch.manual_seed(0)
    mean, log_std = torch.full((200_000, 1), 0.4), torch.full((200_000, 1), -0.3)
    actions, _ = sac.squashed_gaussian(mean, log_std, torch.randn(200_000, 1))
    counts, edges = np.histogram(actions.numpy(), bins=40, range=(-1, 1))
    # each bin's probability: our density integrated over the bin (the grid avoids the open ends +-1)
    grid = torch.tensor(np.linspace(edges[:-1], edges[1:], 101, dtype=np.float64).T.clip(-1 + 1e-9, 1 - 1e-9))
    density = log_prob_of_action(grid.reshape(-1, 1), torch.full((4040, 1), 0.4, dtype=torch.float64),
                                 torch.full((4040, 1), -0.3, dtype=torch.float64)).exp().reshape(40, 101)
    np.testing.assert_allclose(counts / 200_000, torch.trapezoid(density, grid).numpy(), atol=2e-3)


# --- targets and losses by hand -------------------------------------------------------------------------------

def test_soft_q_targets_by_hand():
    # y = r + discount (min(Q'1, Q'2) - alpha log pi(a'|s')), alpha 0.5; row 1 terminated; row 2 truncated
    targets = sac.soft_q_targets(torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.9, 0.0, 0.9]),
                                 torch.tensor([5.0, 1.0, -1.0]), torch.tensor([4.0, 3.0, 2.0]),
                                 torch.tensor([-2.0, 7.0, 1.0]), torch.tensor(0.5))
    # 1 + 0.9 (4 + 1);  2;  0 + 0.9 (-1 - 0.5)
    torch.testing.assert_close(targets, torch.tensor([5.5, 2.0, -1.35]))


def test_critic_and_policy_losses_by_hand():
    targets = torch.tensor([1.0, 2.0])
    # 0.5 mean((0, 1)^2) + 0.5 mean((2, -1)^2) = 0.25 + 1.25
    assert sac.critic_loss(torch.tensor([1.0, 3.0]), torch.tensor([3.0, 1.0]), targets).item() == pytest.approx(1.5)
    # mean(alpha log pi - min Q) = mean(0.2 * -1 - 1, 0.2 * 2 - (-3)) = (-1.2 + 3.4) / 2
    loss = sac.policy_loss(torch.tensor([-1.0, 2.0]), torch.tensor([1.0, 5.0]), torch.tensor([4.0, -3.0]),
                           torch.tensor(0.2))
    assert loss.item() == pytest.approx(1.1)


@pytest.mark.parametrize("entropy, alpha_rises", [(-3.0, True), (1.0, False)])
def test_the_temperature_rises_when_the_entropy_falls_below_its_target(entropy, alpha_rises):
    log_alpha = torch.tensor(0.0, requires_grad=True)
    target_entropy = -1.0
    log_probs = torch.full((4,), -entropy, requires_grad=True)  # entropy estimate -mean log pi
    loss = sac.temperature_loss(log_alpha, log_probs, target_entropy)
    loss.backward()
    # d loss / d log alpha = -(log pi + target) = entropy - target
    assert log_alpha.grad.item() == pytest.approx(entropy - target_entropy)
    assert (log_alpha.grad.item() < 0) == alpha_rises  # a gradient step moves log alpha against the gradient
    assert log_probs.grad is None or not log_probs.grad.any()  # the temperature loss leaves the policy alone


def test_one_update_moves_critics_policy_and_temperature_and_polyak_averages_the_targets():
    torch.manual_seed(0)
    learner = sac.SAC(3, 2, config(), torch.device("cpu"))
    before = {name: [p.detach().clone() for p in getattr(learner, name).parameters()]
              for name in ("policy", "critics", "target_critics")}
    generator = torch.Generator().manual_seed(1)
    batch = Batch(torch.randn(32, 3, generator=generator), torch.rand(32, 2, generator=generator) * 2 - 1,
                  torch.randn(32, generator=generator), torch.randn(32, 3, generator=generator),
                  torch.full((32,), 0.99), torch.ones(32), np.arange(32))
    logged = learner.update(batch)
    assert logged["charts/alpha"].item() == 1.0 and learner.log_alpha.item() != 0.0
    for name in ("policy", "critics"):
        assert all(not torch.equal(a, b) for a, b in zip(getattr(learner, name).parameters(), before[name]))
    for target, online, old in zip(learner.target_critics.parameters(), learner.critics.parameters(),
                                   before["target_critics"]):
        torch.testing.assert_close(target, 0.005 * online + 0.995 * old)
    assert all(p.grad is None for p in learner.target_critics.parameters())


# --- settings -----------------------------------------------------------------------------------------------

def test_the_defaults_are_table_1():
    paper = sac.Config(env_id="HalfCheetah-v5")
    assert paper.preset == "paper" and sac.Config.PRESETS == {"paper": {}, "other_tasks": {"learning_starts": 1_000}}
    assert (paper.learning_rate, paper.discount, paper.tau, paper.batch_size, paper.buffer_size) == \
        (3e-4, 0.99, 0.005, 256, 1_000_000)
    assert (paper.hidden_layers, paper.hidden_size, paper.target_entropy_per_action, paper.learning_starts) == \
        (2, 256, -1.0, 10_000)
    learner = sac.SAC(17, 6, paper, torch.device("cpu"))
    assert learner.target_entropy == -6.0 and learner.log_alpha.item() == 0.0
    assert [layer.out_features for layer in learner.critics.q1 if isinstance(layer, torch.nn.Linear)] == [256, 256, 1]
    assert learner.critics.q1[0].in_features == 23 and learner.policy.net[-1].out_features == 12
    assert not any(layer.bias.any() for layer in learner.policy.net if isinstance(layer, torch.nn.Linear))
    _, log_std = learner.policy(torch.full((1, 17), 1e4))
    assert -20.0 <= log_std.min() and log_std.max() <= 2.0


# softlearning at ad071f1, examples/development/variants.py: n_initial_exploration_steps = 10 x max path length
# (1000) for the domains of NUM_EPOCHS_PER_DOMAIN (Swimmer, Hopper, HalfCheetah, Walker, Ant, Humanoid, Reacher,
# and Pusher2d, Point2DEnv, Hand*, which are no gymnasium ids here), int(1e3) in ALGORITHM_PARAMS_BASE elsewhere.
@pytest.mark.parametrize("env_id, preset, learning_starts", [
    ("HalfCheetah-v5", "paper", 10_000), ("Hopper-v5", "paper", 10_000), ("Walker2d-v5", "paper", 10_000),
    ("Ant-v5", "paper", 10_000), ("Humanoid-v5", "paper", 10_000), ("HumanoidStandup-v5", "paper", 10_000),
    ("Swimmer-v5", "paper", 10_000), ("Reacher-v5", "paper", 10_000),
    # not in softlearning's lists: its base value
    ("InvertedPendulum-v5", "other_tasks", 1_000), ("InvertedDoublePendulum-v5", "other_tasks", 1_000),
    ("Pendulum-v1", "other_tasks", 1_000), ("dmc/cartpole-balance", "other_tasks", 1_000),
    ("dmc/walker-walk", "other_tasks", 1_000),
])
def test_random_steps_first_per_task_as_softlearning(env_id, preset, learning_starts):
    run = sac.Config(env_id=env_id)
    assert (run.preset, run.learning_starts) == (preset, learning_starts)
    assert sac.deviations(run)[0].startswith(f"preset {preset}: Table 1; {learning_starts:,} random steps first")
    # every other setting is Table 1's on every task
    assert {name: value for name, value in run.to_dict().items() if name not in ("env_id", "preset", "learning_starts")} \
        == {name: value for name, value in sac.Config(env_id="HalfCheetah-v5").to_dict().items()
            if name not in ("env_id", "preset", "learning_starts")}
    # the command line and a spec resolve it the same way; a given value wins and is listed as a change
    command_line, _, _, _ = parse(sac.Config, "algos.sac", "", ["--env-id", env_id])
    assert command_line.to_dict() == run.to_dict() == config_from_dict(sac.Config, {"env_id": env_id}).to_dict()
    given = config_from_dict(sac.Config, {"env_id": env_id, "learning_starts": 5_000})
    assert given.learning_starts == 5_000 and given.preset == preset
    assert f"learning_starts = 5000, where the {preset} preset has {learning_starts}" in sac.deviations(given)


@pytest.mark.parametrize("values, field", [({"tau": 1.5}, "tau"), ({"initial_temperature": 0.0}, "initial_temperature"),
                                           ({"hidden_layers": 0}, "hidden_layers")])
def test_bad_settings_name_the_field(values, field):
    with pytest.raises(ConfigError) as error:
        config_from_dict(sac.Config, values)
    assert error.value.field == f"config.{field}"


def test_discrete_actions_are_refused_naming_the_algorithm_and_the_env(tmp_path):
    with pytest.raises(ConfigError, match=r"sac acts by gradient through the action, and Acrobot-v1 has Discrete"):
        sac.train(config(env_id="Acrobot-v1"), 0, tmp_path)


def test_help_fits_on_one_screen_before_the_options():
    help_text = build_parser(sac.Config, "python -m algos.sac", sac.__doc__).format_help()
    assert len(help_text.split("\nhyperparameters")[0].splitlines()) <= 40
    assert "--target-entropy-per-action" in help_text


# --- runs -----------------------------------------------------------------------------------------------------

def test_same_seed_same_losses_and_episodes(tmp_path):
    losses = []
    for label, seed in (("a", 3), ("b", 3), ("c", 4)):
        torch.manual_seed(seed)
        learner = sac.SAC(3, 1, config(), torch.device("cpu"))
        generator = torch.Generator().manual_seed(0)  # the same minibatches: the seed acts through the networks
        batches = [Batch(torch.randn(32, 3, generator=generator), torch.rand(32, 1, generator=generator) * 2 - 1,
                         torch.randn(32, generator=generator), torch.randn(32, 3, generator=generator),
                         torch.full((32,), 0.99), torch.ones(32), np.arange(32)) for _ in range(20)]
        losses.append([[value.item() for value in learner.update(batch).values()] for batch in batches])
        assert sac.train(config(), seed, tmp_path / label).status == "completed"
    assert losses[0] == losses[1] != losses[2]
    first, second, other = (rows_without_wall_time(tmp_path / label / "metrics.csv") for label in "abc")
    assert len(first) == 7 and first == second != other
    assert rows_without_wall_time(tmp_path / "a" / "eval.csv") == rows_without_wall_time(tmp_path / "b" / "eval.csv")


def test_a_resumed_run_ends_as_the_uninterrupted_run(tmp_path, monkeypatch):
    resumable = config(checkpoint_replay=True)
    with monkeypatch.context() as patch:
        saved = stop_after_checkpoints(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            sac.train(resumable, 5, tmp_path / "resumed")
    assert saved == [500, 1000]
    resumed = sac.train(resumable, 5, tmp_path / "resumed", resume=True)
    whole = sac.train(resumable, 5, tmp_path / "whole")
    assert resumed.status == whole.status == "completed" and resumed.score == whole.score
    for name in ("metrics.csv", "eval.csv"):
        assert rows_without_wall_time(tmp_path / "resumed" / name) == rows_without_wall_time(tmp_path / "whole" / name)


def test_the_policy_from_a_checkpoint_plays_as_the_last_evaluation(tmp_path):
    run = config()
    sac.train(run, 2, tmp_path)
    state = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]
    environment = envs.resolve(run.env_id)
    act = sac.policy_from_checkpoint(run, environment, state)
    returns = envs.evaluate(act, environment, run.eval_episodes, 2, round_index=2)
    assert float(rows_without_wall_time(tmp_path / "eval.csv")[-1]["mean"]) == pytest.approx(np.mean(returns))


# Pendulum-v1, Table 1's settings with 1,000 random steps first (softlearning's count for tasks its
# variants do not list: the other_tasks preset): at 6k steps, seeds 1-3 scored
# -156.1, -164.2, -232.8 (about 47 s each at ~130 steps/s, under load); a random policy scores -1246.5.
PENDULUM_STEPS = 6_000
PENDULUM_BAR = -400.0


def test_sac_learns_pendulum_quickly(tmp_path):
    run = config_from_dict(sac.Config, {"env_id": "Pendulum-v1", "total_steps": PENDULUM_STEPS, "eval_interval": 500,
                                        "device": "cpu"})
    result = sac.train(run, 1, tmp_path)
    assert result.status == "completed" and run.learning_starts == 1_000
    assert result.score >= PENDULUM_BAR > random_score("Pendulum-v1") + 600, result.score


# --- slow: 5 seeds, at least 4 must learn ---------------------------------------------------------------------
# Table 1's settings with softlearning's random steps first: 1,000 on these tasks, which its variants do not
# list (preset other_tasks). Measured per seed (docs/algorithms/continuous.md; the 5-seed rows there were
# measured with 10,000 random steps first): scores under eval_last_10pct, 10 evaluation episodes.
SLOW = {
    "pendulum": ({"env_id": "Pendulum-v1", "total_steps": 20_000, "eval_interval": 1_000}, -400.0),  # random -1246.5
    "cartpole-balance": ({"env_id": "dmc/cartpole-balance", "total_steps": 30_000, "eval_interval": 2_500},
                         700.0),  # random 359.9
}


@pytest.mark.slow
@pytest.mark.parametrize("task", sorted(SLOW))
def test_sac_learns_on_four_of_five_seeds(tmp_path, task):
    settings, bar = SLOW[task]
    run = config_from_dict(sac.Config, {**settings, "device": "cpu"})
    assert run.learning_starts == 1_000 and bar > random_score(run.env_id) + 300
    scores = [sac.train(run, seed, tmp_path / str(seed)).score for seed in range(1, 6)]
    print(f"sac {task} seeds 1-5: {[round(score, 1) for score in scores]}")
    assert sum(score >= bar for score in scores) >= 4, scores
