"""DQN: deep Q-learning with experience replay and a target network (Mnih et al. 2015, "Human-level
control through deep reinforcement learning", Nature 518; defaults: its Methods and Extended Data
Table 1), with the published variants as options.

Epsilon-greedy acting in one environment; every transition goes to a replay memory; every
`train_frequency` steps, minibatch updates minimise the Huber loss (delta 1: the paper's error
clipping) of the TD error against a target network copied every `target_update_period` steps:
    y = R + discount * Q_target(s', argmax_a Q_target(s', a))     (N-step R, discount: common/replay.py)

Options, each the published variant with the other settings its paper changed:
  --double       van Hasselt, Guez & Silver 2016 (AAAI), eq. 4: the online network picks a', the target values it
  --dueling      Wang et al. 2016 (ICML), eq. 9 and section 4.2: Q = V + A - mean A, streams split below the
                 last hidden layer, the gradient into the convolutions scaled by 1/sqrt(2); on the atari
                 preset also learning rate 6.25e-5 and the gradient norm clipped to 10
  --prioritized  Schaul et al. 2016 (ICLR), Algorithm 1, section 4: proportional priorities (alpha 0.6),
                 importance weights (beta 0.4 -> 1), the preset's learning rate divided by 4
  --n-step N     N-step returns (as in Rainbow, Hessel et al. 2018); the paper's N is 1
Presets (common/value_based.py): atari = Table 1 (12.5M agent steps = 50M frames); minatar = Young &
Tian 2019; classic = ours, NOT from a paper (docs/algorithms/value_based.md tells how it was found);
atari_sb3_zoo = rl-baselines3-zoo's Atari settings, for the parity with Stable-Baselines3 (docs/parity.md).

Ambiguities of Table 1, decided as DeepMind's code (dqn/NeuralQLearner.lua) does: the target period,
final exploration frame and replay start count agent steps (the text says updates and frames), and
epsilon anneals from the replay start on; RMSProp is DeepMind's centered variant, exactly
(DQNRMSprop), its epsilon 0.01 / 32^2 on our minibatch-mean loss so that updates equal theirs.
Deviations: time-limit truncations bootstrap; the Atari life-loss signal is a termination; orthogonal
initialisation; autoreset steps are neither counted nor stored. A resumed run repeats the uninterrupted
one only with --checkpoint-replay (default except on atari, where it costs ~7 GB per checkpoint).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import torch
import torch.nn.functional as F
from torch import nn

import envs
from common.config import OptionEffect, config_class
from common.off_policy import train_off_policy
from common.replay import Batch
from common.rundir import RunResult
from common.value_based import (CLASSIC_NOT_FROM_A_PAPER, MINATAR_2019, Prioritization, ValueBasedConfig, head,
                                policy_from_checkpoint as greedy_from_checkpoint, q_learning_agent, run_record,
                                torso)
from core.errors import require

PAPER = "Mnih et al. 2015, Nature 518, Extended Data Table 1"
DUELING_GRADIENT_SCALE = 2**-0.5  # Wang et al. 2016, section 4.2: both streams send gradients into the convolutions


# rl-baselines3-zoo hyperparams/dqn.yml, entry `atari` (buffer_size 1e5, learning_rate 1e-4, batch_size 32,
# learning_starts 1e5, target_update_interval 1000, train_freq 4, gradient_steps 1, exploration_fraction 0.1 of
# n_timesteps 1e7, exploration_final_eps 0.01) under SB3's DQN defaults (Adam eps 1e-8, gradient norm 10, Huber loss,
# epsilon falling from step 0) and SB3's Atari wrappers (FIRE at reset): experiments/dqn_atari_parity.yaml.
RL_ZOO_ATARI = dict(
    env_protocol="dqn2015:fire_reset=true", buffer_size=100_000, learning_rate=1e-4, learning_starts=100_000,
    target_update_period=1_000, final_epsilon=0.01, epsilon_anneal_steps=1_000_000, anneal_after_learning_starts=False,
    optimizer="adam", max_grad_norm=10.0, total_steps=10_000_000,
)


@config_class
class Config(ValueBasedConfig):
    PRESETS: ClassVar[dict[str, dict]] = {"atari": {}, "minatar": MINATAR_2019, "classic": CLASSIC_NOT_FROM_A_PAPER,
                                          "atari_sb3_zoo": RL_ZOO_ATARI}
    NOT_FROM_A_PAPER: ClassVar[tuple[str, ...]] = ("classic", "atari_sb3_zoo")
    OPTIONS: ClassVar[tuple[str, ...]] = ("double", "dueling", "prioritized")
    # The variants' papers changed settings beyond the option; they apply wherever the caller gave none, in
    # this order. Schaul et al.'s division is relative to whatever step size the preset has; Wang et al. tuned
    # theirs on Atari, so they come with the paper's preset only.
    OPTION_EFFECTS: ClassVar[dict[str, tuple[OptionEffect, ...]]] = {
        "prioritized": (OptionEffect("Schaul et al. 2016, section 4: prioritized minibatches have larger errors, "
                                     "the step size divided by 4", divides={"learning_rate": 4}),),
        "dueling": (OptionEffect("Wang et al. 2016, section 4.2: learning rate 6.25e-5 ('slightly lower' than "
                                 "0.00025), gradients clipped to norm 10", sets={"learning_rate": 6.25e-5,
                                                                                 "max_grad_norm": 10.0},
                                 presets=("atari",)),),
    }

    double: bool = False
    """Double DQN target: the online network picks the next action, the target network values it
    (van Hasselt et al. 2016)"""
    dueling: bool = False
    """dueling head Q = V + A - mean A, the two streams split below the last hidden layer (Wang et al. 2016);
    on the atari preset with the paper's learning rate 6.25e-5 and gradient norm clipping at 10"""
    prioritized: bool = False
    """proportional prioritized replay with importance weights, and the preset's learning_rate / 4
    (Schaul et al. 2016)"""
    priority_exponent: float = 0.6
    """alpha of prioritized replay: P(i) ~ priority^alpha (Schaul et al. 2016, proportional variant: 0.6)"""
    importance_sampling_start: float = 0.4
    """beta of the importance weights at the start, annealed linearly to 1 over total_steps (Schaul et al. 2016: 0.4)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.priority_exponent >= 0, "priority_exponent", "0 or more", self.priority_exponent)
        require(0.0 <= self.importance_sampling_start <= 1.0, "importance_sampling_start", "a number in [0, 1]",
                self.importance_sampling_start)


# --- network ----------------------------------------------------------------------------------------

def dueling_aggregate(values: torch.Tensor, advantages: torch.Tensor) -> torch.Tensor:
    """Wang et al. 2016, eq. 9: Q(s, a) = V(s) + A(s, a) - mean_a' A(s, a'); values (B, 1), advantages (B, A)."""
    return values + advantages - advantages.mean(-1, keepdim=True)


class QNetwork(nn.Module):
    def __init__(self, space: gym.spaces.Box, action_count: int, config: Config):
        super().__init__()
        self.torso, features, units = torso(space, config)
        self.dueling = config.dueling
        if self.dueling:
            self.value, self.advantage = head(features, units, 1), head(features, units, action_count)
            # Wang et al. scale "the combined gradient entering the last convolutional layer"; an MLP has none.
            self.rescale_gradient = any(isinstance(module, nn.Conv2d) for module in self.torso.modules())
        else:
            self.head = head(features, units, action_count)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        """Q(s, a) for every action: (B, actions)."""
        features = self.torso(observations)
        if not self.dueling:
            return self.head(features)
        if self.rescale_gradient and features.requires_grad:
            features.register_hook(lambda gradient: gradient * DUELING_GRADIENT_SCALE)
        return dueling_aggregate(self.value(features), self.advantage(features))

    q_values = forward  # what acting maximises (C51's network computes it from its distributions)


# --- the loss -----------------------------------------------------------------------------------------

def q_learning_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q_target: torch.Tensor,
                       next_q_online: torch.Tensor | None = None) -> torch.Tensor:
    """y = R + discount * Q_target(s', a*) with a* = argmax_a Q_target(s', a), or argmax_a Q_online(s', a)
    when next_q_online is given (Double DQN). R is the (N-step) return, discount gamma^m, or 0 after a
    termination (a truncation keeps gamma^m: it bootstraps)."""
    chooser = next_q_target if next_q_online is None else next_q_online
    next_values = next_q_target.gather(-1, chooser.argmax(-1, keepdim=True)).squeeze(-1)
    return returns + discounts * next_values


def td_loss(q_taken: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Minibatch mean of the importance-weighted Huber loss (delta 1) of the TD errors, whose gradient
    is the TD error clipped to [-1, 1] (the paper's error clipping); and the errors themselves."""
    errors = targets - q_taken
    return (weights * F.huber_loss(q_taken, targets, reduction="none", delta=1.0)).mean(), errors.detach()


def dqn_loss(online: QNetwork, target: QNetwork, batch: Batch, config: Config) -> tuple[torch.Tensor, ...]:
    """(loss, |TD error| per transition for the priorities, mean Q(s, a) of the minibatch)."""
    q_taken = online(batch.observations).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
    with torch.no_grad():
        next_q_online = online(batch.next_observations) if config.double else None
        targets = q_learning_targets(batch.returns, batch.discounts, target(batch.next_observations), next_q_online)
    loss, errors = td_loss(q_taken, targets, batch.weights)
    return loss, errors.abs(), q_taken.detach().mean()


# --- training -----------------------------------------------------------------------------------------

def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The greedy policy of a saved run (evaluation adds eval_epsilon)."""
    return greedy_from_checkpoint(config, environment, state, QNetwork)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    prioritization = Prioritization(config.priority_exponent, config.importance_sampling_start) \
        if config.prioritized else None
    return train_off_policy(config, seed, run_dir, resume, "dqn",
                            q_learning_agent(config, QNetwork, dqn_loss, prioritization), run_record(config, PAPER))


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.dqn", __doc__)
