"""C51: the categorical distributional DQN (Bellemare, Dabney & Munos 2017, "A Distributional
Perspective on Reinforcement Learning", ICML; arXiv:1707.06887, Algorithm 1 and section 5).

The network outputs, for every action, a distribution over 51 fixed returns ("atoms") evenly spaced
on [V_min, V_max]; Q(s, a) is its mean. The target for (s, a) is the target network's distribution at
s' for the greedy next action (by mean), shifted and shrunk by the Bellman operator, R + discount * z,
and projected back onto the atoms (common/distributional.py); the loss is the cross-entropy between
that target and the predicted distribution.

Everything else is the value-based family's (common/value_based.py: acting, epsilon schedule, replay,
target network; the loop is common/off_policy.py's), with the paper's changes to DQN (section 5; Dopamine's c51_icml.gin agrees):
Adam, learning rate 0.00025, epsilon 0.01/32; training epsilon 1 -> 0.01 over 1M agent steps;
evaluation epsilon 0.001; 200M frames = 50M agent steps. The paper's C51 has neither double nor
prioritized replay; N-step returns are an option.

The support is the task's, not a preset's:
- Atari: the paper's [-10, 10], for rewards clipped to [-1, 1] (a protocol without clipping must give v_min, v_max);
- MinAtar: the paper's [-10, 10] too (its rewards are mostly single +1 events, of clipped Atari's scale);
- other tasks: [min(r_min, 0), max(r_max, 0)] / (1 - discount) from the per-step reward bounds of
  REWARD_BOUNDS (CartPole [0, 100], Acrobot and MountainCar [-100, 0]); a task not listed must give them.
Presets: atari (the paper's; the defaults), minatar and classic (NOT from a paper: DQN's presets of
common/value_based.py, keeping C51's Adam where MinAtar's DQN used RMSProp).

Deviations: DQN's (algos/dqn.py). Not a deviation but a fix: a shifted atom that lands exactly on an
atom gives it all its probability, where Algorithm 1 as printed gives it to neither neighbour (l = u,
both weights 0) and the target loses mass.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import torch
from torch import nn

import envs
from common.config import config_class
from common.distributional import categorical_cross_entropy, categorical_projection, fill_support, support_values
from common.off_policy import train_off_policy
from common.replay import Batch
from common.rundir import RunResult
from common.value_based import (CLASSIC_NOT_FROM_A_PAPER, MINATAR_2019, ValueBasedConfig, head,
                                policy_from_checkpoint as greedy_from_checkpoint, q_learning_agent, run_record,
                                torso)
from core.errors import require

PAPER_SUPPORT = (-10.0, 10.0)  # section 5, for Atari's clipped rewards
# Per-step reward bounds (gymnasium's classic-control documentation and source): the support is these
# divided by 1 - discount, the largest discounted return either way (time limits bootstrap, so they add none).
REWARD_BOUNDS = {
    "CartPole-v1": (0.0, 1.0),  # +1 every step
    "Acrobot-v1": (-1.0, 0.0),  # -1 every step, 0 on the step that reaches the goal
    "MountainCar-v0": (-1.0, -1.0),  # -1 every step
}


def support_for(environment: envs.Environment, discount: float) -> tuple[float, float] | None:
    """(V_min, V_max) for the task; None where the task does not tell the range of its returns."""
    if environment.family == "atari":  # the paper's support holds the returns of rewards clipped to [-1, 1]
        return PAPER_SUPPORT if environment.protocol.clip_training_rewards else None
    if environment.family == "minatar":
        return PAPER_SUPPORT
    if environment.id not in REWARD_BOUNDS or discount >= 1.0:
        return None
    low, high = REWARD_BOUNDS[environment.id]
    # rounded so that CartPole's bound is 100, not 1 / (1 - 0.99) = 99.99999999999991
    return round(min(low, 0.0) / (1 - discount), 6), round(max(high, 0.0) / (1 - discount), 6)


@config_class
class Config(ValueBasedConfig):
    PRESETS: ClassVar[dict[str, dict]] = {
        "atari": {},
        "minatar": {name: value for name, value in MINATAR_2019.items() if name != "optimizer"},  # C51's Adam stays
        "classic": CLASSIC_NOT_FROM_A_PAPER,
    }
    NOT_FROM_A_PAPER: ClassVar[tuple[str, ...]] = ("minatar", "classic")

    atoms: int = 51
    """number of atoms of the value distribution (the paper: 51)"""
    v_min: float = PAPER_SUPPORT[0]
    """smallest return of the support (the paper: -10, for Atari's clipped rewards); if not given, the
    task's (see the description above), or an error asking for it"""
    v_max: float = PAPER_SUPPORT[1]
    """largest return of the support (the paper: 10); if not given, the task's, like v_min"""
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

    def task_values(self) -> dict[str, float | None]:
        """The support of the task's discounted returns, where it is known (above)."""
        return support_values(support_for(envs.resolve(self.env_id, self.env_protocol, self.env_backend), self.discount))

    def __post_init__(self) -> None:
        super().__post_init__()
        fill_support(self, f"Atari with reward clipping, MinAtar and {sorted(REWARD_BOUNDS)} with discount < 1")
        require(self.atoms >= 2, "atoms", "2 or more", self.atoms)
        require(self.v_min < self.v_max, "v_max", f"a number above v_min = {self.v_min}", self.v_max)


# --- network ----------------------------------------------------------------------------------------

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


# --- the loss -----------------------------------------------------------------------------------------

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


# --- training -----------------------------------------------------------------------------------------

def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The greedy policy (by the distributions' means) of a saved run (evaluation adds eval_epsilon)."""
    return greedy_from_checkpoint(config, environment, state, CategoricalQNetwork)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    return train_off_policy(config, seed, run_dir, resume, "c51", q_learning_agent(config, CategoricalQNetwork, c51_loss),
                            run_record(config, "Bellemare, Dabney & Munos 2017, ICML, section 5"))


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.c51", __doc__)
