"""SAC: soft actor-critic with a learned temperature (Haarnoja et al. 2018, "Soft Actor-Critic Algorithms
and Applications", arXiv:1812.05905; defaults: Table 1 of its appendix).

Maximum-entropy RL: a tanh-squashed Gaussian policy pi(a|s), two Q networks with Polyak-averaged
targets, and a temperature alpha tuned to hold the policy's entropy at a target (section 5). Every
env step, one minibatch:
    critics  minimise sum_i 0.5 mean (Q_i(s, a) - y)^2,  y = r + gamma (min_i Q'_i(s', a') - alpha log pi(a'|s'))
    policy   minimise mean (alpha log pi(a~|s) - min_i Q_i(s, a~)),  a~ = tanh(mu(s) + sigma(s) eps)
    alpha    minimise -mean log alpha (log pi(a~|s) + target entropy)       (eq. 18, target -dim(A))
    targets  Q'_i <- tau Q_i + (1 - tau) Q'_i
with a' ~ pi(.|s') and y = r after a termination.

Table 1: Adam 3e-4 for critics, policy and temperature; gamma 0.99; replay 1e6; 2 hidden layers of 256
ReLU units; minibatch 256; target smoothing 0.005; one gradient step and one target update per env step
(train_frequency and gradient_steps 1, common/off_policy.py's defaults); target entropy -dim(A).
From the authors' code, not the paper (softlearning at ad071f1, Dec 2018, the paper's code): uniformly
random steps first, as examples/development/variants.py's n_initial_exploration_steps, by task (the two
presets): paper, 10,000 (10 paths of 1000 steps) on the MuJoCo domains its variants list (Swimmer,
Hopper, HalfCheetah, Walker2d, Ant, Humanoid, Reacher); other_tasks, its base value 1,000, on the tasks
they do not list (Pendulum, InvertedPendulum, the Control Suite ...); log standard deviations clipped
to [-20, 2]; alpha starts at 1; the temperature loss is written on log alpha; Keras's default
initialisation (Glorot-uniform weights, zero biases); evaluation plays tanh(mean); time-limit ends
bootstrap (their GymAdapter removes the TimeLimit wrapper).
Decided here: the critic, policy and temperature steps run in that order on one minibatch, the policy
step seeing the updated critics and all three using alpha from before its step (softlearning's graph
ran them together from the same parameters); log pi(a|s) subtracts sum log(1 - tanh(u)^2) written as
2 (log 2 - u - softplus(-2u)), exact and finite for any u (softlearning's SquashBijector).
Deviations: gymnasium's autoreset steps are neither counted nor stored. A resumed run repeats the
uninterrupted one only with --checkpoint-replay (off: a full memory is hundreds of MB per checkpoint).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import envs
from common.config import config_class, resolve_device
from common.off_policy import (OffPolicyConfig, continuous_agent, scaled_policy, soft_update, spaces_of,
                               train_off_policy)
from common.replay import Batch
from common.rundir import RunResult
from core.errors import require

PAPER = "Haarnoja et al. 2018, arXiv:1812.05905, Table 1; softlearning at ad071f1 where the paper is silent"
# softlearning at ad071f1, examples/development/variants.py: n_initial_exploration_steps is int(1e3) in
# ALGORITHM_PARAMS_BASE, and 10 x the max path length (DEFAULT_MAX_PATH_LENGTH 1000) for every domain of
# NUM_EPOCHS_PER_DOMAIN (ALGORITHM_PARAMS_PER_DOMAIN). Those domains, by the gymnasium id they stand for
# (softlearning's 'Walker' is Walker2d; its 'Humanoid' domain has the Standup task; its Pusher2d, Point2DEnv
# and Hand* domains are not gymnasium ids here):
SOFTLEARNING_LISTED_DOMAINS = ("Swimmer", "Hopper", "HalfCheetah", "Walker2d", "Ant", "Humanoid", "HumanoidStandup",
                               "Reacher")
PRESET_SOURCES = {
    "paper": "Table 1; 10,000 random steps first: softlearning's n_initial_exploration_steps (10 x 1000-step "
             "paths) for the MuJoCo domains its variants list",
    "other_tasks": "Table 1; 1,000 random steps first: softlearning's n_initial_exploration_steps "
                   "(ALGORITHM_PARAMS_BASE) for the tasks its variants do not list",
}
LOG_STD_BOUNDS = (-20.0, 2.0)  # softlearning's SCALE_DIAG_MIN_MAX (policies/gaussian_policy.py at ad071f1)
LOG_2 = math.log(2.0)


@config_class
class Config(OffPolicyConfig):
    PRESETS: ClassVar[dict[str, dict]] = {"paper": {}, "other_tasks": {"learning_starts": 1_000}}

    env_id: str = "Pendulum-v1"
    """environment id with continuous actions: dmc/<domain>-<task>, a MuJoCo id such as HalfCheetah-v5, or
    another gymnasium id"""
    learning_rate: float = 3e-4
    """Adam step size of the critics, the policy and the temperature (Table 1: 3e-4)"""
    tau: float = 0.005
    """target smoothing coefficient: target <- tau online + (1 - tau) target after every update (Table 1: 0.005)"""
    batch_size: int = 256
    """transitions per minibatch (Table 1: 256)"""
    learning_starts: int = 10_000
    """env steps of uniformly random actions before the policy acts and learning starts (softlearning
    at ad071f1: 10 paths of 1000 steps on the MuJoCo domains its variants list, 1,000 elsewhere, preset
    other_tasks; the paper gives none)"""
    hidden_layers: int = 2
    """hidden layers of the policy and of each Q network (Table 1: 2)"""
    hidden_size: int = 256
    """ReLU units per hidden layer (Table 1: 256)"""
    target_entropy_per_action: float = -1.0
    """entropy target per action dimension; the target is this x dim(A) (Table 1: -dim(A), so -1)"""
    initial_temperature: float = 1.0
    """alpha before any update (softlearning at ad071f1: log alpha starts at 0)"""
    total_steps: int = 1_000_000
    """training budget in environment steps (the paper's curves: 1M for Hopper, 3M for HalfCheetah,
    Walker2d and Ant, 10M for Humanoid)"""
    eval_deterministic: bool = True
    """evaluate with tanh(mean), the policy's mode before squashing (softlearning: eval_deterministic)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.learning_rate > 0, "learning_rate", "a positive step size", self.learning_rate)
        require(0.0 < self.tau <= 1.0, "tau", "a number in (0, 1]", self.tau)
        require(self.hidden_layers >= 1, "hidden_layers", "1 or more layers", self.hidden_layers)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.initial_temperature > 0, "initial_temperature", "a positive number", self.initial_temperature)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """paper on the MuJoCo domains softlearning lists (SOFTLEARNING_LISTED_DOMAINS), other_tasks elsewhere."""
        return "paper" if softlearning_domain(env_id) in SOFTLEARNING_LISTED_DOMAINS else "other_tasks"


def softlearning_domain(env_id: str) -> str | None:
    """The gymnasium id's name without its version (HalfCheetah-v5 -> HalfCheetah); None for dmc/, ALE/ ... ids."""
    if envs.family_of(env_id)[0] != "gymnasium" or "/" in env_id:
        return None
    return env_id.rsplit("-v", 1)[0]


# --- networks -------------------------------------------------------------------------------------------

def relu_mlp(sizes: list[int]) -> nn.Sequential:
    """ReLU between linear layers, Glorot-uniform weights and zero biases (Keras's defaults, softlearning's)."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        layer = nn.Linear(fan_in, fan_out)
        nn.init.xavier_uniform_(layer.weight)
        nn.init.zeros_(layer.bias)
        layers += [layer, nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class Policy(nn.Module):
    """The mean and the (clipped) log standard deviation of a Gaussian over pre-squash actions u."""

    def __init__(self, observation_size: int, action_size: int, config: Config):
        super().__init__()
        self.net = relu_mlp([observation_size, *[config.hidden_size] * config.hidden_layers, 2 * action_size])

    def forward(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, log_std = self.net(observations.float()).chunk(2, dim=-1)
        return mean, log_std.clamp(*LOG_STD_BOUNDS)

    def sample(self, observations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised action in (-1, 1)^A and its log-probability."""
        mean, log_std = self(observations)
        return squashed_gaussian(mean, log_std, torch.randn_like(mean))


class TwinQ(nn.Module):
    """Two independent Q networks on (s, a); both values, each (B,)."""

    def __init__(self, observation_size: int, action_size: int, config: Config):
        super().__init__()
        sizes = [observation_size + action_size, *[config.hidden_size] * config.hidden_layers, 1]
        self.q1, self.q2 = relu_mlp(sizes), relu_mlp(sizes)

    def forward(self, observations: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = torch.cat([observations.float(), actions], -1)
        return self.q1(inputs).squeeze(-1), self.q2(inputs).squeeze(-1)


# --- the losses ---------------------------------------------------------------------------------------------

def squashed_gaussian(mean: torch.Tensor, log_std: torch.Tensor, noise: torch.Tensor
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """a = tanh(u), u = mean + exp(log_std) noise; log pi(a) = log N(u; mean, std) - sum log(1 - tanh(u)^2)
    (the change of variables of the paper's appendix C), with log(1 - tanh(u)^2) = 2 (log 2 - u - softplus(-2u))."""
    u = mean + log_std.exp() * noise
    gaussian = (-0.5 * noise.pow(2) - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
    log_jacobian = (2.0 * (LOG_2 - u - F.softplus(-2.0 * u))).sum(-1)
    return torch.tanh(u), gaussian - log_jacobian


def soft_q_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q1: torch.Tensor, next_q2: torch.Tensor,
                   next_log_probs: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """y = r + gamma (min(Q'_1, Q'_2)(s', a') - alpha log pi(a'|s')); the discount is 0 after a termination."""
    return returns + discounts * (torch.min(next_q1, next_q2) - alpha * next_log_probs)


def critic_loss(q1: torch.Tensor, q2: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0.5 mean (Q_1 - y)^2 + 0.5 mean (Q_2 - y)^2 (eq. 5 for each critic; softlearning's weights=0.5)."""
    return 0.5 * ((q1 - targets).pow(2).mean() + (q2 - targets).pow(2).mean())


def policy_loss(log_probs: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """mean (alpha log pi(a~|s) - min(Q_1, Q_2)(s, a~)) (eq. 7 with the reparameterised a~, eq. 11)."""
    return (alpha * log_probs - torch.min(q1, q2)).mean()


def temperature_loss(log_alpha: torch.Tensor, log_probs: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """-mean log alpha (log pi + target entropy) (eq. 18 on log alpha, as softlearning): when the entropy
    -log pi falls below the target, the gradient step raises alpha."""
    return -(log_alpha * (log_probs.detach() + target_entropy)).mean()


# --- the learner ----------------------------------------------------------------------------------------------

class SAC:
    """Policy, twin critics and their targets, the temperature, and their optimizers (common.off_policy.Learner)."""

    def __init__(self, observation_size: int, action_size: int, config: Config, device: torch.device):
        self.config, self.device = config, device
        self.policy = Policy(observation_size, action_size, config).to(device)
        self.critics = TwinQ(observation_size, action_size, config).to(device)
        self.target_critics = copy.deepcopy(self.critics).requires_grad_(False)
        self.log_alpha = torch.tensor(math.log(config.initial_temperature), device=device, requires_grad=True)
        self.target_entropy = config.target_entropy_per_action * action_size
        # fused: Adam's update in one kernel for all parameters, markedly faster for small networks
        self.policy_optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.learning_rate, fused=True)
        self.critic_optimizer = torch.optim.Adam(self.critics.parameters(), lr=config.learning_rate, fused=True)
        self.temperature_optimizer = torch.optim.Adam([self.log_alpha], lr=config.learning_rate, fused=True)

    def act(self, observations: np.ndarray) -> np.ndarray:
        """tanh(mean), or a sample with eval_deterministic off."""
        with torch.inference_mode():
            observations = torch.as_tensor(observations, device=self.device)
            actions = torch.tanh(self.policy(observations)[0]) if self.config.eval_deterministic else \
                self.policy.sample(observations)[0]
            return actions.cpu().numpy()

    def explore(self, observation: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.policy.sample(torch.as_tensor(observation, device=self.device))[0].cpu().numpy()

    def end_episode(self) -> None:
        pass  # the policy's own noise is independent from step to step

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_actions, next_log_probs = self.policy.sample(batch.next_observations)
            targets = soft_q_targets(batch.returns, batch.discounts, *self.target_critics(batch.next_observations,
                                                                                         next_actions),
                                     next_log_probs, alpha)
        q1, q2 = self.critics(batch.observations, batch.actions)
        q_loss = critic_loss(q1, q2, targets)
        self.critic_optimizer.zero_grad(set_to_none=True)
        q_loss.backward()
        self.critic_optimizer.step()

        self.critics.requires_grad_(False)  # the policy's loss moves the policy only
        actions, log_probs = self.policy.sample(batch.observations)
        pi_loss = policy_loss(log_probs, *self.critics(batch.observations, actions), alpha)
        self.policy_optimizer.zero_grad(set_to_none=True)
        pi_loss.backward()
        self.policy_optimizer.step()
        self.critics.requires_grad_(True)

        alpha_loss = temperature_loss(self.log_alpha, log_probs, self.target_entropy)
        self.temperature_optimizer.zero_grad(set_to_none=True)
        alpha_loss.backward()
        self.temperature_optimizer.step()
        soft_update(self.target_critics, self.critics, self.config.tau)
        return {"losses/critic": q_loss.detach(), "losses/policy": pi_loss.detach(),
                "losses/temperature": alpha_loss.detach(), "charts/alpha": alpha,
                "charts/entropy": -log_probs.detach().mean(), "charts/mean_q": q1.detach().mean()}

    def state_dict(self) -> dict:
        return {"policy": self.policy.state_dict(), "critics": self.critics.state_dict(),
                "target_critics": self.target_critics.state_dict(), "log_alpha": self.log_alpha.detach().clone(),
                "policy_optimizer": self.policy_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(),
                "temperature_optimizer": self.temperature_optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        for name in ("policy", "critics", "target_critics", "policy_optimizer", "critic_optimizer",
                     "temperature_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        with torch.no_grad():
            self.log_alpha.copy_(state["log_alpha"])


# --- training -------------------------------------------------------------------------------------------------

def deviations(config: Config) -> list[str]:
    """The authors' code choices in effect (module docstring), and any changed setting."""
    return [f"preset {config.preset}: {PRESET_SOURCES[config.preset]}", *config.differences_from_preset(),
            f"{config.learning_starts} uniformly random steps first (softlearning's n_initial_exploration_steps)",
            f"log standard deviation clipped to {list(LOG_STD_BOUNDS)}, alpha starting at "
            f"{config.initial_temperature}, Glorot-uniform initialisation (softlearning at ad071f1)",
            "critic, policy and temperature updated one after another on each minibatch"]


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The policy of a saved run, acting on `environment`'s scale as evaluation does."""
    observation_size, action_space = spaces_of(environment, "sac")
    learner = SAC(observation_size, int(action_space.shape[0]), config, resolve_device(config.device))
    learner.policy.load_state_dict(state["agent"]["policy"])
    return scaled_policy(learner, action_space)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    def make_learner(observation_size: int, action_size: int, device: torch.device, seed: int) -> SAC:
        return SAC(observation_size, action_size, config, device)  # samples from torch's seeded generator

    return train_off_policy(config, seed, run_dir, resume, "sac", continuous_agent(config, "sac", make_learner),
                            {"paper": PAPER, "preset": config.preset, "deviations": deviations(config)})


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.sac", __doc__)
