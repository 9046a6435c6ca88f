"""Return and loss math against values computed by hand."""

import numpy as np
import pytest
import torch

from common.actor_critic import actor_critic_loss, n_step_returns
from algos.reinforce import policy_gradient_loss, reward_to_go, trajectory_return


def test_reward_to_go_by_hand():
    # G_2 = 3; G_1 = 2 + 0.5*3 = 3.5; G_0 = 1 + 0.5*3.5 = 2.75
    assert reward_to_go(np.array([1.0, 2.0, 3.0]), 0.5) == pytest.approx([2.75, 3.5, 3.0])


def test_reward_to_go_bootstraps_from_last_state_value():
    # a truncated episode: V(s_T) = 8 is added with discount^(T-t): G_2 = 3 + 0.5*8 = 7, G_1 = 5.5, G_0 = 3.75
    assert reward_to_go(np.array([1.0, 2.0, 3.0]), 0.5, bootstrap_value=8.0) == pytest.approx([3.75, 5.5, 7.0])


def test_trajectory_return_gives_every_step_the_whole_discounted_return():
    assert trajectory_return(np.array([1.0, 2.0, 3.0]), 0.5) == pytest.approx([2.75, 2.75, 2.75])
    assert trajectory_return(np.array([1.0, 1.0]), 1.0) == pytest.approx([2.0, 2.0])


def test_policy_gradient_loss_is_minus_mean_weighted_log_prob():
    loss = policy_gradient_loss(torch.tensor([-1.0, -2.0]), torch.tensor([3.0, -1.0]))
    assert loss.item() == pytest.approx(-((-1 * 3) + (-2 * -1)) / 2)


def test_n_step_returns_terminal_truncation_and_rollout_end():
    # Two envs, three steps, discount 0.5. values holds V(s_0..s_3) per env.
    # env 0: terminates at t=1; t=2 is the autoreset step (reward 0), then the rollout ends.
    # env 1: truncated at t=0 (bootstrap from V(s_1) = 10, the last state), runs on to the end (V(s_3) = 4).
    rewards = torch.tensor([[1.0, 1.0], [2.0, 1.0], [0.0, 1.0]])
    values = torch.tensor([[9.0, 9.0], [9.0, 10.0], [9.0, 9.0], [6.0, 4.0]])
    terminated = torch.tensor([[False, False], [True, False], [False, False]])
    truncated = torch.tensor([[False, True], [False, False], [False, False]])
    returns = n_step_returns(rewards, values, terminated, truncated, 0.5)
    # env 0: R_1 = 2 (nothing after a terminal), R_0 = 1 + 0.5*2 = 2
    assert returns[1, 0].item() == pytest.approx(2.0)
    assert returns[0, 0].item() == pytest.approx(2.0)
    # env 1: R_2 = 1 + 0.5*4 = 3, R_1 = 1 + 0.5*3 = 2.5, R_0 = 1 + 0.5*V(last state)=1 + 5 = 6
    assert returns[:, 1].tolist() == pytest.approx([6.0, 2.5, 3.0])


def test_actor_critic_loss_ignores_autoreset_rows():
    log_probs = torch.tensor([-1.0, -5.0])
    entropy = torch.tensor([0.5, 9.0])
    values = torch.tensor([1.0, 100.0])
    returns = torch.tensor([3.0, -100.0])
    valid = torch.tensor([True, False])
    loss, parts = actor_critic_loss(log_probs, entropy, values, returns, valid, value_coef=0.5, entropy_coef=0.1)
    # only row 0 counts: advantage 2, policy loss 2, value loss 4, entropy 0.5
    assert parts == pytest.approx({"policy_loss": 2.0, "value_loss": 4.0, "entropy": 0.5})
    assert loss.item() == pytest.approx(2.0 + 0.5 * 4.0 - 0.1 * 0.5)


def test_the_policy_loss_does_not_train_the_critic():
    """The advantage is a constant to the policy term: the value's gradient comes from the value loss alone,
    value_coef x 2 (V - R) by hand; the log-probabilities' gradient is minus the advantage. Without the detach the
    policy term would add -log pi(a|s) to the value's gradient (issue 29's mutation check found no test for it)."""
    log_probs = torch.tensor([-1.0, -2.0], requires_grad=True)
    values = torch.tensor([1.0, 4.0], requires_grad=True)
    returns = torch.tensor([3.0, 2.0])
    loss, _ = actor_critic_loss(log_probs, torch.zeros(2), values, returns, torch.tensor([True, True]),
                                value_coef=0.5, entropy_coef=0.0)
    loss.backward()
    # loss = -mean(log_pi * A) + 0.5 mean((R - V)^2), A = R - V = [2, -2]
    assert values.grad.tolist() == pytest.approx([0.5 * 2 * (1.0 - 3.0) / 2, 0.5 * 2 * (4.0 - 2.0) / 2])
    assert log_probs.grad.tolist() == pytest.approx([-2.0 / 2, 2.0 / 2])
