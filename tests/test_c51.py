"""C51 (algos/c51.py): the categorical projection in its corner cases and against a slow loop, the
cross-entropy loss by hand, the support taken from the task, presets and config errors (its learning
runs, shared with DQN, are in test_dqn.py)."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from algos import c51
from common.config import config_from_dict
from common.replay import Batch
from core.errors import ConfigError

SUPPORT = torch.tensor([-2.0, -1.0, 0.0, 1.0, 2.0])  # V_min -2, V_max 2, spacing 1


def project(probabilities, returns, discounts):
    return c51.categorical_projection(torch.tensor(probabilities), torch.tensor(returns), torch.tensor(discounts),
                                      SUPPORT)


def slow_projection(next_probabilities, returns, discounts, support):
    """Algorithm 1 of the paper, one atom at a time, with the l == u case handled explicitly."""
    support = support.double().tolist()
    v_min, v_max = support[0], support[-1]
    spacing = (v_max - v_min) / (len(support) - 1)
    projected = np.zeros(next_probabilities.shape, dtype=np.float64)
    for row, (probabilities, ret, discount) in enumerate(zip(next_probabilities.double().tolist(), returns.tolist(),
                                                             discounts.tolist())):
        for atom, probability in zip(support, probabilities):
            shifted = min(v_max, max(v_min, ret + discount * atom))
            position = (shifted - v_min) / spacing
            lower, upper = math.floor(position), math.ceil(position)
            if lower == upper:
                projected[row, lower] += probability
            else:
                projected[row, lower] += probability * (upper - position)
                projected[row, upper] += probability * (position - lower)
    return torch.tensor(projected, dtype=torch.float32)


def test_projection_by_hand_in_the_general_case():
    # Tz = 0.25 + 0.5 z = -0.75, -0.25, 0.25, 0.75, 1.25, i.e. positions 1.25, 1.75, 2.25, 2.75, 3.25 on the atoms:
    # atom 1 gets 0.75 * 0.1 + 0.25 * 0.2 = 0.125; atom 2 gets 0.25 * 0.1 + 0.75 * 0.2 + 0.75 * 0.3 + 0.25 * 0.4 = 0.5;
    # atom 3 gets 0.25 * 0.3 + 0.75 * 0.4 = 0.375; the last atom had probability 0
    torch.testing.assert_close(project([[0.1, 0.2, 0.3, 0.4, 0.0]], [0.25], [0.5]),
                               torch.tensor([[0.0, 0.125, 0.5, 0.375, 0.0]]))


def test_projection_clips_targets_outside_the_support():
    # Tz = 1.5 + z: 2.5 and 3.5 land above V_max = 2; -1 - z for z = 2: -3, below V_min = -2
    probabilities = [[0.0, 0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 0.0, 0.0, 1.0]]
    torch.testing.assert_close(project(probabilities, [1.5, -1.0], [1.0, -1.0]),
                               torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0]]))


def test_a_terminal_transition_puts_all_mass_at_the_clipped_reward():
    uniform = [[0.2] * 5] * 3
    torch.testing.assert_close(project(uniform, [0.5, 1.0, 7.0], [0.0, 0.0, 0.0]),
                               torch.tensor([[0.0, 0.0, 0.5, 0.5, 0.0],      # between atoms 0 and 1
                                             [0.0, 0.0, 0.0, 1.0, 0.0],      # exactly on atom 1
                                             [0.0, 0.0, 0.0, 0.0, 1.0]]))    # clipped to V_max


def test_targets_landing_exactly_on_atoms_keep_their_mass():
    # Tz = 1 + z = -1, 0, 1, 2, 3 (clipped to 2): every target is an atom (lower == upper). The
    # floor/ceil projection as printed would give each a weight of 0 and return all zeros.
    torch.testing.assert_close(project([[0.2] * 5], [1.0], [1.0]), torch.tensor([[0.0, 0.2, 0.2, 0.2, 0.4]]))
    # the top atom itself (position K - 1) and the bottom one (position 0)
    torch.testing.assert_close(project([[0.2] * 5, [0.2] * 5], [2.0, -2.0], [0.0, 0.0]),
                               torch.tensor([[0.0, 0.0, 0.0, 0.0, 1.0], [1.0, 0.0, 0.0, 0.0, 0.0]]))


def test_projection_agrees_with_the_slow_loop_and_keeps_mass_one():
    generator = torch.Generator().manual_seed(0)
    support = torch.linspace(-10, 10, 51)
    rows = 300
    probabilities = torch.randn(rows, 51, generator=generator).mul(3).softmax(-1)
    # random returns and discounts, plus rows that land exactly on atoms (integer shifts, discount 1 or 0)
    returns = torch.randn(rows, generator=generator) * 6
    returns[:100] = torch.randint(-12, 13, (100,), generator=generator).float() * 0.4
    discounts = torch.rand(rows, generator=generator)
    discounts[:50], discounts[50:100] = 1.0, 0.0
    projected = c51.categorical_projection(probabilities, returns, discounts, support)
    expected = slow_projection(probabilities, returns, discounts, support)
    torch.testing.assert_close(projected, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(projected.sum(-1), torch.ones(rows))
    assert (projected >= 0).all()


def test_cross_entropy_by_hand():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.25]]))
    target = torch.tensor([[0.0, 0.5, 0.5]])
    assert c51.categorical_cross_entropy(logits, target).item() == pytest.approx(-math.log(0.25))


class FixedDistributions(torch.nn.Module):
    """A stand-in network: the same logits (actions, atoms) for every observation."""

    def __init__(self, probabilities):
        super().__init__()
        self.logits = torch.nn.Parameter(torch.log(torch.tensor(probabilities)))
        self.register_buffer("support", torch.tensor([0.0, 1.0, 2.0]))

    def forward(self, observations):
        return self.logits.expand(observations.shape[0], -1, -1)


def test_c51_loss_by_hand():
    online = FixedDistributions([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    # the target network's means: action 0 -> 0, action 1 -> 2: the greedy next action is 1, all its mass at z = 2
    target = FixedDistributions([[1.0, 1e-12, 1e-12], [1e-12, 1e-12, 1.0]])
    batch = Batch(observations=torch.zeros(2, 1), actions=torch.tensor([1, 0]), returns=torch.tensor([1.0, -1.0]),
                  next_observations=torch.zeros(2, 1), discounts=torch.tensor([0.0, 0.5]), weights=torch.ones(2),
                  indices=np.arange(2))
    loss, cross_entropy, mean_q = c51.c51_loss(online, target, batch, None)
    # row 0, terminal: the target is all mass at the reward 1: -log p_online(action 1)[atom 1] = -log 0.3
    # row 1: Tz = -1 + 0.5 * 2 = 0, atom 0: -log p_online(action 0)[atom 0] = -log 0.2
    torch.testing.assert_close(cross_entropy, torch.tensor([-math.log(0.3), -math.log(0.2)]))
    assert loss.item() == pytest.approx(-(math.log(0.3) + math.log(0.2)) / 2, rel=1e-5)
    # Q(s, a) of the taken actions: 0.3 + 0.2 = 0.5 and 0.3 + 1.0 = 1.3
    assert mean_q.item() == pytest.approx(0.9, rel=1e-5)
    loss.backward()
    assert target.logits.grad is None and online.logits.grad.abs().sum() > 0


def test_network_outputs_distributions_and_their_means():
    config = c51.Config(env_id="CartPole-v1", v_min=0.0, v_max=100.0, hidden_size=16)
    network = c51.CategoricalQNetwork(gym.spaces.Box(-1, 1, (4,), np.float32), 2, config)
    observations = torch.randn(3, 4)
    logits = network(observations)
    assert logits.shape == (3, 2, 51)
    means = (logits.softmax(-1) * torch.linspace(0, 100, 51)).sum(-1)
    torch.testing.assert_close(network.q_values(observations), means)
    atari = c51.CategoricalQNetwork(gym.spaces.Box(0, 255, (4, 84, 84), np.uint8), 6, c51.Config(env_id="ALE/Pong-v5"))
    assert atari(torch.zeros(2, 4, 84, 84, dtype=torch.uint8)).shape == (2, 6, 51)


def test_paper_defaults_and_presets():
    paper = c51.Config(env_id="ALE/Breakout-v5")
    assert paper.preset == "atari" and c51.Config.PRESETS["atari"] == {}
    assert (paper.atoms, paper.v_min, paper.v_max) == (51, -10.0, 10.0)
    assert (paper.optimizer, paper.learning_rate) == ("adam", 2.5e-4)
    assert paper.adam_eps == pytest.approx(0.01 / 32) and (paper.final_epsilon, paper.eval_epsilon) == (0.01, 0.001)
    assert (paper.target_update_period, paper.learning_starts) == (10_000, 50_000)
    assert paper.epsilon_anneal_steps == 1_000_000
    assert paper.total_steps == 50_000_000  # 200M frames
    classic = c51.Config(env_id="CartPole-v1")
    assert classic.preset == "classic"
    assert (classic.optimizer, classic.learning_rate, classic.adam_eps) == ("adam", 5e-4, 1e-8)
    minatar = config_from_dict(c51.Config, {"env_id": "MinAtar/Breakout-v1"})
    assert (minatar.buffer_size, minatar.optimizer, minatar.final_epsilon) == (100_000, "adam", 0.01)
    assert minatar.differences_from_preset() == ["preset minatar: not from a paper"]
    assert not hasattr(paper, "double") and not hasattr(paper, "prioritized")


@pytest.mark.parametrize("env_id, overrides, support", [
    ("ALE/Pong-v5", {}, (-10.0, 10.0)),  # the paper's, for rewards clipped to [-1, 1]
    ("MinAtar/Breakout-v1", {}, (-10.0, 10.0)),
    ("CartPole-v1", {}, (0.0, 100.0)),  # +1 per step: 1 / (1 - 0.99)
    ("CartPole-v1", {"discount": 0.9}, (0.0, 10.0)),
    ("Acrobot-v1", {}, (-100.0, 0.0)),  # -1 per step
    ("MountainCar-v0", {}, (-100.0, 0.0)),
    ("CartPole-v1", {"preset": "atari"}, (0.0, 100.0)),  # the task's, whatever the preset
    ("LunarLander-v3", {"v_min": -300.0, "v_max": 300.0}, (-300.0, 300.0)),  # given where the task does not say
    ("Acrobot-v1", {"v_max": 5.0}, (-100.0, 5.0)),
])
def test_the_support_is_the_tasks(env_id, overrides, support):
    config = c51.Config(env_id=env_id, **overrides)
    assert (config.v_min, config.v_max) == support


@pytest.mark.parametrize("env_id, protocol, field", [
    ("LunarLander-v3", "default", "v_min"),  # per-step rewards not known here
    ("ALE/Pong-v5", "dqn2015:clip_training_rewards=false", "v_min"),  # unclipped Atari scores
])
def test_a_task_without_a_known_support_asks_for_it(env_id, protocol, field):
    with pytest.raises(ConfigError, match="v_min and v_max given for") as error:
        config_from_dict(c51.Config, {"env_id": env_id, "env_protocol": protocol})
    assert error.value.field == f"config.{field}"
    config = config_from_dict(c51.Config, {"env_id": env_id, "env_protocol": protocol, "v_min": -1.0, "v_max": 1.0})
    assert config.differences_from_preset() in ([], ["preset classic: not from a paper"])


@pytest.mark.parametrize("values, field", [({"atoms": 1}, "atoms"), ({"v_min": 5.0, "v_max": 5.0}, "v_max"),
                                           ({"adam_eps": 0.0}, "adam_eps")])
def test_bad_settings_name_the_field(values, field):
    with pytest.raises(ConfigError) as error:
        config_from_dict(c51.Config, values)
    assert error.value.field == f"config.{field}"
