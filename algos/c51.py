"""C51: the categorical distributional DQN (Bellemare, Dabney & Munos 2017, "A Distributional
Perspective on Reinforcement Learning", ICML; arXiv:1707.06887, Algorithm 1 and section 5).

The network outputs, for every action, a distribution over 51 fixed returns ("atoms") evenly
spaced on [V_min, V_max] = [-10, 10]; Q(s, a) is its mean. The learning target for (s, a) is the
target network's distribution at s' for the greedy next action (by mean), shifted and shrunk by
the Bellman operator, R + discount * z, and projected back onto the atoms (`categorical_projection`);
the loss is the cross-entropy between that target and the predicted distribution.

Everything else is DQN's (algos/dqn.py: acting, epsilon schedule, replay, target network, loop),
with the paper's changes (section 5): Adam with learning rate 0.00025 and epsilon 0.01/L, L = 32 the
minibatch size; training epsilon 1 -> 0.01 over 1M agent steps; evaluation epsilon 0.001; 200M frames
= 50M agent steps. Dopamine's c51_icml.gin has the same values.
The paper's C51 has neither double nor prioritized replay; N-step returns are an option.

Presets (`--preset`, default auto; a preset fills every hyperparameter not given explicitly):
- atari   the paper's settings above, on DQN's Extended Data Table 1 (the dataclass defaults).
- minatar (NOT from a paper) the paper's changes to DQN applied to Young & Tian's MinAtar DQN
  settings (algos/dqn.py): replay 100k, start 5k, an update every step, target copy every 1k
  steps, epsilon 1 -> 0.01 over 100k steps, Adam 2.5e-4 with epsilon 0.01/32, support [-10, 10].
- classic (NOT from a paper) DQN's classic preset (ours, algos/dqn.py) with a support that covers
  CartPole's discounted returns, [0, 100] (rewards are +1 and time limits bootstrap, so values
  approach 1 / (1 - 0.99) = 100), 3-step returns included. With 1-step returns its greedy evaluation
  flipped late in training as DQN's did (the mean over the last 10% reached 450 on 2 of 5 seeds;
  with 200k steps on 1 of 5, with a target copy every 100 steps on 1 of 5, no divergence: the
  support bounds the values); with 3-step returns on 5 of 5 (tests/test_c51.py, seeds 1-5).

Deliberate deviations: DQN's (algos/dqn.py). Not a deviation but a fix: a shifted atom that lands
exactly on an atom gives it all its probability, where Algorithm 1 as printed gives it to neither
neighbour (l = u, both weights 0) and the target loses mass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import torch
from torch import nn

from algos.dqn import CLASSIC_NOT_FROM_A_PAPER, MINATAR_2019, NATURE_TABLE_1, ValueBasedConfig, head, torso, train_loop
from algos.replay import Batch
from core.errors import require
from common.rundir import RunResult

C51_CHANGES_TO_DQN = dict(optimizer="adam", learning_rate=2.5e-4, adam_eps=0.01 / 32, final_epsilon=0.01,
                          eval_epsilon=0.001, atoms=51, v_min=-10.0, v_max=10.0)
ATARI_SECTION_5 = {**NATURE_TABLE_1, **C51_CHANGES_TO_DQN, "total_steps": 50_000_000}
MINATAR_NOT_FROM_A_PAPER = {**MINATAR_2019, **C51_CHANGES_TO_DQN}
CLASSIC_NOT_FROM_A_PAPER_C51 = {**CLASSIC_NOT_FROM_A_PAPER, "atoms": 51, "v_min": 0.0, "v_max": 100.0}


@dataclass
class Config(ValueBasedConfig):
    PRESETS: ClassVar[dict[str, dict]] = {
        "atari": ATARI_SECTION_5, "minatar": MINATAR_NOT_FROM_A_PAPER, "classic": CLASSIC_NOT_FROM_A_PAPER_C51}
    NOT_FROM_A_PAPER: ClassVar[tuple[str, ...]] = ("minatar", "classic")

    atoms: int = 51
    """number of atoms of the value distribution (the paper: 51)"""
    v_min: float = -10.0
    """smallest return of the support (the paper: -10)"""
    v_max: float = 10.0
    """largest return of the support (the paper: 10)"""
    optimizer: str = "adam"
    """adam (the paper's), dqn_rmsprop or torch_rmsprop"""
    learning_rate: float = 2.5e-4
    """optimizer step size (section 5: 0.00025)"""
    adam_eps: float = 0.01 / 32
    """Adam epsilon (section 5: 0.01 / 32, the minibatch size)"""
    final_epsilon: float = 0.01
    """training exploration epsilon after annealing from 1 over epsilon_anneal_steps (the paper: 0.01)"""
    eval_epsilon: float = 0.001
    """during evaluation, the probability of a uniformly random action instead of the greedy one (the paper: 0.001)"""
    total_steps: int = 50_000_000
    """training budget in env steps (agent steps; Atari: 50M = the paper's 200M frames)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.atoms >= 2, "atoms", "2 or more", self.atoms)
        require(self.v_min < self.v_max, "v_max", f"a number above v_min = {self.v_min}", self.v_max)


class CategoricalQNetwork(nn.Module):
    """DQN's network with atoms outputs per action: the logits of each action's return distribution."""

    def __init__(self, space: gym.spaces.Box, action_count: int, config: Config):
        super().__init__()
        self.torso, features, units = torso(space, config)
        self.head = head(features, units, action_count * config.atoms)
        self.register_buffer("support", torch.linspace(config.v_min, config.v_max, config.atoms))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Logits (B, actions, atoms); a softmax over the last axis gives the probabilities."""
        return self.head(self.torso(observations)).unflatten(-1, (-1, len(self.support)))

    def q_values(self, observations: torch.Tensor) -> torch.Tensor:
        """The distributions' means, (B, actions): what acting maximises."""
        return self(observations).softmax(-1) @ self.support


def categorical_projection(next_probabilities: torch.Tensor, returns: torch.Tensor, discounts: torch.Tensor,
                           support: torch.Tensor) -> torch.Tensor:
    """Project the distribution of R + discount * Z, Z ~ next_probabilities (B, K) on `support`, onto
    `support` (Algorithm 1): each shifted atom Tz = clip(R + discount * z, V_min, V_max) gives its
    probability to the two atoms around it, in proportion to closeness. A terminal transition
    (discount 0) puts all the mass at the clipped return. A Tz that lands exactly on an atom gives it
    everything: taking `lower` at most K - 2 and the upper neighbour lower + 1 with weight
    (position - lower) never drops mass, where Algorithm 1's floor/ceil pair gives l = u weight 0."""
    atoms = support.shape[0]
    v_min, v_max = float(support[0]), float(support[-1])
    shifted = (returns.unsqueeze(-1) + discounts.unsqueeze(-1) * support).clamp(v_min, v_max)
    position = (shifted - v_min) * ((atoms - 1) / (v_max - v_min))  # in [0, K - 1]
    lower = position.floor().clamp(max=atoms - 2)
    upper_weight = position - lower  # in [0, 1]
    lower = lower.long()
    projected = torch.zeros_like(next_probabilities)
    projected.scatter_add_(-1, lower, next_probabilities * (1 - upper_weight))
    projected.scatter_add_(-1, lower + 1, next_probabilities * upper_weight)
    return projected


def categorical_cross_entropy(logits: torch.Tensor, target_probabilities: torch.Tensor) -> torch.Tensor:
    """-sum_i m_i log p_i per transition, with p = softmax(logits): the paper's loss for (s, a)."""
    return -(target_probabilities * logits.log_softmax(-1)).sum(-1)


def c51_loss(online: CategoricalQNetwork, target: CategoricalQNetwork, batch: Batch,
             config: Config) -> tuple[torch.Tensor, ...]:
    """(minibatch mean cross-entropy, cross-entropy per transition, mean Q(s, a) of the minibatch)."""
    rows = torch.arange(batch.actions.shape[0], device=batch.actions.device)
    logits = online(batch.observations)[rows, batch.actions]
    with torch.no_grad():
        next_probabilities = target(batch.next_observations).softmax(-1)
        next_actions = (next_probabilities @ target.support).argmax(-1)  # greedy by the mean, target network
        projected = categorical_projection(next_probabilities[rows, next_actions], batch.returns, batch.discounts,
                                           target.support)
    cross_entropy = categorical_cross_entropy(logits, projected)
    mean_q = (logits.detach().softmax(-1) @ online.support).mean()
    return cross_entropy.mean(), cross_entropy.detach(), mean_q


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    return train_loop(config, seed, run_dir, "c51", "Bellemare, Dabney & Munos 2017, ICML, section 5",
                      CategoricalQNetwork, c51_loss)


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.c51", __doc__)
