"""PPO's surrogate objectives of Table 1 (section 3-4): the exact KL they penalise, the penalised and
unpenalised losses against hand computation, section 4's beta rule, and runs that adapt and keep beta."""

import json

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.distributions import kl_divergence

from algos import ppo
from core.errors import ConfigError
from common.nets import ActionHead
from helpers import rows_without_wall_time, stop_after_checkpoints


@pytest.mark.parametrize("discrete", [False, True])
def test_the_exact_kl_of_two_policies_matches_a_monte_carlo_estimate(discrete):
    generator = torch.Generator().manual_seed(0)
    old_head, new_head = ActionHead(3, discrete), ActionHead(3, discrete)
    if not discrete:
        with torch.no_grad():
            old_head.log_std.copy_(torch.tensor([0.0, -0.5, 0.3]))
            new_head.log_std.copy_(torch.tensor([0.2, -0.4, 0.0]))
    old_outputs, new_outputs = torch.randn(2, 5, 3, generator=generator)
    old, new = old_head(old_outputs), new_head(new_outputs + 0.3 * torch.randn(5, 3, generator=generator))
    exact = kl_divergence(old, new)
    torch.manual_seed(1)
    samples = old.sample((200_000,))
    log_ratios = old.log_prob(samples) - new.log_prob(samples)  # KL[old, new] = E_old[log old - log new]
    estimate, error = log_ratios.mean(0), log_ratios.std(0) / 200_000 ** 0.5
    assert exact.shape == (5,) and (exact > 0).all()
    assert ((exact - estimate).abs() < 4 * error).all(), (exact, estimate, error)


@pytest.mark.parametrize("mean_kl, beta", [(0.001, 0.5), (0.0066, 0.5), (0.0067, 1.0), (0.01, 1.0),
                                           (0.015, 1.0), (0.0151, 2.0), (0.2, 2.0)])
def test_section_4s_rule_halves_below_the_target_over_1_5_and_doubles_above_1_5_times_it(mean_kl, beta):
    # d_targ 0.01: the band [0.00667, 0.015] keeps beta
    assert ppo.adapted_kl_coef(1.0, mean_kl, 0.01) == beta


def crafted_minibatch():
    # ratios 1.5, 0.5, 1.5, 1.1 with advantages +2, -1, -1, +2; KL per transition 0.1, 0.3, 0.2, 0.0
    old_log_probs = torch.full((4,), -1.0)
    new_log_probs = (old_log_probs + torch.log(torch.tensor([1.5, 0.5, 1.5, 1.1]))).requires_grad_()
    advantages = torch.tensor([2.0, -1.0, -1.0, 2.0])
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    kl = torch.tensor([0.1, 0.3, 0.2, 0.0], requires_grad=True)
    return new_log_probs, old_log_probs, advantages, values, kl


@pytest.mark.parametrize("objective, policy_loss", [
    ("none", -(3.0 - 0.5 - 1.5 + 2.2) / 4),                   # -mean(r A) = -0.8
    ("fixed_kl", -(3.0 - 0.5 - 1.5 + 2.2) / 4 + 3 * 0.15),    # + beta mean(KL) = -0.8 + 0.45
    ("adaptive_kl", -(3.0 - 0.5 - 1.5 + 2.2) / 4 + 3 * 0.15),
    ("clip", -(2.4 - 0.8 - 1.5 + 2.2) / 4),                   # eq. 7 at clip 0.2: -0.575, no penalty
])
def test_each_objective_is_its_equation(objective, policy_loss):
    new_log_probs, old_log_probs, advantages, values, kl = crafted_minibatch()
    loss, parts = ppo.ppo_loss(new_log_probs, old_log_probs, advantages, values, values, values,
                               torch.zeros(4), clip=0.2, value_coef=0.5, entropy_coef=0.0, clip_value=False,
                               objective=objective, kl=kl, kl_coef=3.0)
    assert parts["policy_loss"] == pytest.approx(policy_loss, abs=1e-6)
    assert loss.item() == pytest.approx(policy_loss, abs=1e-6)  # values equal their targets: no value loss
    loss.backward()
    if objective == "none":  # every ratio passes its gradient: d/dlogp = -r A / 4
        torch.testing.assert_close(new_log_probs.grad, torch.tensor([-0.75, 0.125, 0.375, -0.55]))
    penalized = objective in ("fixed_kl", "adaptive_kl")
    assert ("kl" in parts) == penalized
    expected_kl_gradient = torch.full((4,), 3.0 / 4) if penalized else None
    if penalized:
        torch.testing.assert_close(kl.grad, expected_kl_gradient)
    else:
        assert kl.grad is None


def test_an_unknown_objective_is_refused():
    with pytest.raises(ConfigError, match="objective"):
        ppo.Config(env_id="Pendulum-v1", objective="trust_region")


SHORT = {"n_steps": 256, "minibatch_size": 64, "epochs": 4, "eval_episodes": 1, "device": "cpu"}


def scalars(run_dir, name):
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [event.value for event in events.Scalars(name)]


def test_adaptive_kl_moves_beta_and_logs_it(tmp_path):
    # d_targ so small that every update overshoots it 1.5 times: beta doubles after each update
    config = ppo.Config(env_id="Pendulum-v1", objective="adaptive_kl", kl_target=1e-9, total_steps=1_024,
                        eval_interval=1_024, **SHORT)
    assert ppo.train(config, 0, tmp_path).status == "completed"
    # 1,024 counted steps in rollouts of 256 rows, whose autoreset rows do not count: 5 updates
    assert scalars(tmp_path, "charts/kl_coef") == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert all(kl > 0 for kl in scalars(tmp_path, "charts/kl_after_update"))
    deviations = json.loads((tmp_path / "deviations.json").read_text())["deviations"]
    assert any("surrogate objective adaptive_kl" in note and "clip_range" in note for note in deviations)


def test_a_resumed_adaptive_kl_run_ends_as_the_uninterrupted_run(tmp_path, monkeypatch):
    config = ppo.Config(env_id="CartPole-v1", objective="adaptive_kl", kl_target=0.001, total_steps=3_000,
                        eval_interval=1_000, num_envs=2, **SHORT)
    with monkeypatch.context() as patch:
        stop_after_checkpoints(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            ppo.train(config, 3, tmp_path / "resumed")
    resumed = ppo.train(config, 3, tmp_path / "resumed", resume=True)
    whole = ppo.train(config, 3, tmp_path / "whole")
    assert resumed.status == whole.status == "completed" and resumed.score == whole.score
    for name in ("metrics.csv", "eval.csv"):
        assert rows_without_wall_time(tmp_path / "resumed" / name) == rows_without_wall_time(tmp_path / "whole" / name)
    assert scalars(tmp_path / "whole", "charts/kl_coef")[-1] != 1.0  # beta moved, and the resumed run kept it
