"""DDPG: deep deterministic policy gradient (Lillicrap et al. 2016, "Continuous control with deep
reinforcement learning", ICLR, arXiv:1509.02971; defaults: section 7, "Experiment details").

A deterministic actor mu(s) in [-1, 1]^A (tanh, scaled onto the env's bounds) and a critic Q(s, a),
each with a slowly tracking target copy. Every env step, one minibatch from the replay memory:
    critic  minimise mean (y - Q(s, a))^2,  y = r + gamma Q'(s', mu'(s'))   (0 after a termination)
    actor   follow  mean_s grad_a Q(s, a)|a=mu(s) grad mu(s),  i.e. minimise -mean Q(s, mu(s))
    targets theta' <- tau theta + (1 - tau) theta'
Exploration adds Ornstein-Uhlenbeck noise to mu(s).

Presets: paper (the defaults, section 7): 400-300 ReLU networks with batch normalisation (section 3),
the action entering the critic's second layer, Adam 1e-4 (actor) and 1e-3 (critic), critic L2 weight
decay 1e-2, gamma 0.99, tau 0.001, minibatch 64, replay 1e6, OU noise theta 0.15 sigma 0.2, final layers
~U(+-3e-3), the others ~U(+-1/sqrt(fan in)), 2.5M steps (Table 1: "at most 2.5 million steps").
td3_authors, NOT the DDPG paper's: the re-tuned DDPG of Fujimoto et al. 2018 (ICML; "OurDDPG" as
sfujim/TD3 at 34770cc has it): 256-256, the action at the critic's input, no batch normalisation, Adam
3e-4, no weight decay, tau 0.005, minibatch 256, N(0, 0.1^2) noise, 25,000 random steps first.

Batch normalisation where section 3 puts it ("the state input and all layers of the mu network and all
layers of the Q network prior to the action input"): actor state input and both hidden layers (before
the ReLU; not the output, whose U(+-3e-3) init keeps first actions near 0), critic state input and first
layer. Its modes, as rllab's DDPG (Duan et al. 2016) has them, the paper saying only that the running
averages serve "during exploration or evaluation": acting and evaluation use the actor's running
averages; the critic step minibatch statistics; the actor step the actor's minibatch statistics and the
critic's running averages (eval mode: the actor's step moves no critic statistic); the targets their own
running averages, Polyak-averaged with tau like their weights.
Decided where section 7 is silent (docs/algorithms/continuous.md): weight decay is Adam's L2 term on the
critic's weight matrices (output layer included), not on biases nor batch normalisation's scale and
shift (rllab's "regularizable" parameters); the OU process has dt = 1 env step, restarts every episode,
and is added in [-1, 1] units, the sum clipped there. Deviations: time-limit truncations bootstrap;
autoreset steps are neither counted nor stored; a resumed run repeats exactly only with --checkpoint-replay.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from torch import nn

import envs
from common.config import config_class, resolve_device
from common.off_policy import (OffPolicyConfig, continuous_agent, scaled_policy, soft_update, spaces_of,
                               train_off_policy)
from common.replay import Batch
from common.rundir import RunResult
from core.errors import require

PAPER = "Lillicrap et al. 2016, ICLR (arXiv:1509.02971), section 7"
TD3_AUTHORS_SOURCE = ("NOT the DDPG paper's setting: Fujimoto et al. 2018 (ICML), their re-tuned 'OurDDPG' "
                      "as github.com/sfujim/TD3 has it at 34770cc (OurDDPG.py, main.py)")
NOISE_STREAM = 1  # the exploration noise draws from its own generator, apart from the loop's random actions

# sfujim/TD3 at 34770cc: OurDDPG.py (networks, Adam 3e-4, tau 0.005, no weight decay, torch's default
# init, the action concatenated to the state at the critic's input) and main.py (--start_timesteps 25e3,
# --expl_noise 0.1 x max_action, --batch_size 256, --max_timesteps 1e6, --eval_freq 5e3).
TD3_AUTHORS = dict(
    actor_learning_rate=3e-4, critic_learning_rate=3e-4, critic_weight_decay=0.0, tau=0.005, batch_size=256,
    learning_starts=25_000, first_layer_units=256, second_layer_units=256, action_input_layer=1,
    output_init=0.0, batch_norm=False, ou_theta=1.0, noise_sigma=0.1, total_steps=1_000_000, eval_interval=5_000,
)


@config_class
class Config(OffPolicyConfig):
    PRESETS: ClassVar[dict[str, dict]] = {"paper": {}, "td3_authors": TD3_AUTHORS}

    env_id: str = "Pendulum-v1"
    """environment id with continuous actions: dmc/<domain>-<task>, a MuJoCo id such as HalfCheetah-v5, or
    another gymnasium id"""
    actor_learning_rate: float = 1e-4
    """Adam step size of the actor (section 7: 1e-4)"""
    critic_learning_rate: float = 1e-3
    """Adam step size of the critic (section 7: 1e-3)"""
    critic_weight_decay: float = 1e-2
    """L2 weight decay of the critic's weight matrices, added to their gradient (section 7: 1e-2; biases and
    batch normalisation's scale and shift are not decayed, as rllab)"""
    tau: float = 0.001
    """soft target update rate: target <- tau online + (1 - tau) target after every update (section 7: 0.001)"""
    batch_size: int = 64
    """transitions per minibatch (section 7: 64 for low-dimensional inputs)"""
    learning_starts: int = 0
    """env steps of uniformly random actions before the actor acts and learning starts (the paper: none;
    updates start once a minibatch is stored)"""
    first_layer_units: int = 400
    """units of the first hidden layer of actor and critic (section 7: 400, ReLU)"""
    second_layer_units: int = 300
    """units of the second hidden layer of actor and critic (section 7: 300, ReLU)"""
    action_input_layer: int = 2
    """critic layer the action enters: 2 (section 7: 'Actions were not included until the 2nd hidden layer of Q') or 1"""
    output_init: float = 3e-3
    """final layers' weights and biases ~ U(-x, x) (section 7: 3e-3); 0: U(+-1/sqrt(fan in)) as the other layers"""
    batch_norm: bool = True
    """batch normalisation of the state input, the actor's hidden layers and the critic's layers before the
    action (section 3: the low-dimensional networks had it)"""
    ou_theta: float = 0.15
    """mean reversion of the Ornstein-Uhlenbeck exploration noise per env step (section 7: 0.15); 1 makes it
    independent Gaussian noise N(0, noise_sigma^2) at every step"""
    noise_sigma: float = 0.2
    """scale of the exploration noise, in [-1, 1] action units (section 7: OU sigma 0.2)"""
    total_steps: int = 2_500_000
    """training budget in environment steps (Table 1: performance after at most 2.5 million steps)"""
    eval_deterministic: bool = True
    """evaluation plays the actor's action mu(s), without exploration noise (DDPG's policy is deterministic)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("actor_learning_rate", "critic_learning_rate"):
            require(getattr(self, name) > 0, name, "a positive step size", getattr(self, name))
        require(self.critic_weight_decay >= 0, "critic_weight_decay", "0 or more", self.critic_weight_decay)
        require(0.0 < self.tau <= 1.0, "tau", "a number in (0, 1]", self.tau)
        for name in ("first_layer_units", "second_layer_units"):
            require(getattr(self, name) > 0, name, "a positive number of units", getattr(self, name))
        require(self.action_input_layer in (1, 2), "action_input_layer", "1 or 2", self.action_input_layer)
        require(self.output_init >= 0, "output_init", "0 or a positive bound", self.output_init)
        require(0.0 < self.ou_theta <= 1.0, "ou_theta", "a number in (0, 1]", self.ou_theta)
        require(self.noise_sigma >= 0, "noise_sigma", "0 or more", self.noise_sigma)
        require(self.eval_deterministic, "eval_deterministic", "True (DDPG's actor is deterministic)",
                self.eval_deterministic)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """paper everywhere: section 7's setting is DDPG's; td3_authors only when asked for."""
        return "paper"


# --- exploration ------------------------------------------------------------------------------------

class OrnsteinUhlenbeck:
    """dx = -theta x dt + sigma dW discretised with dt = 1 env step (Euler-Maruyama):
        x_{t+1} = (1 - theta) x_t + sigma eps_t,   eps_t ~ N(0, I),   x_0 = 0 at every episode start.
    Its stationary law: mean 0, variance sigma^2 / (1 - (1 - theta)^2) = sigma^2 / (theta (2 - theta))
    (0.1441 for theta 0.15, sigma 0.2; the continuous process has sigma^2 / (2 theta) = 0.1333), lag-k
    autocorrelation (1 - theta)^k. theta = 1 gives independent N(0, sigma^2) noise."""

    def __init__(self, size: int, theta: float, sigma: float, rng: np.random.Generator):
        self.theta, self.sigma, self.rng = theta, sigma, rng
        self.state = np.zeros(size)

    def sample(self) -> np.ndarray:
        self.state = (1.0 - self.theta) * self.state + self.sigma * self.rng.standard_normal(self.state.shape)
        return self.state

    def reset(self) -> None:
        self.state = np.zeros_like(self.state)


# --- networks -----------------------------------------------------------------------------------------

def uniform_init(layer: nn.Linear, bound: float = 0.0) -> nn.Linear:
    """Weights and biases ~ U(-bound, bound); bound 0 means 1/sqrt(fan in) (section 7)."""
    bound = bound or layer.in_features**-0.5
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.uniform_(layer.bias, -bound, bound)
    return layer


def normalization(size: int, config: Config) -> nn.Module:
    """Batch normalisation of `size` features (torch's momentum 0.1 and epsilon 1e-5; rllab: 0.1 and 1e-4)."""
    return nn.BatchNorm1d(size) if config.batch_norm else nn.Identity()


class Actor(nn.Module):
    """mu(s) in [-1, 1]^A: two ReLU layers and a tanh output; with batch_norm, the state input and both
    hidden layers (before their ReLU) normalised, the output not (section 3)."""

    def __init__(self, observation_size: int, action_size: int, config: Config):
        super().__init__()
        first, second = config.first_layer_units, config.second_layer_units
        self.net = nn.Sequential(
            normalization(observation_size, config),
            uniform_init(nn.Linear(observation_size, first)), normalization(first, config), nn.ReLU(),
            uniform_init(nn.Linear(first, second)), normalization(second, config), nn.ReLU(),
            uniform_init(nn.Linear(second, action_size), config.output_init), nn.Tanh())

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.net(observations.float())


class Critic(nn.Module):
    """Q(s, a): the action joins the state's features at the second layer (or with the state at the first);
    with batch_norm, the state input and the layers before the action normalised (section 3)."""

    def __init__(self, observation_size: int, action_size: int, config: Config):
        super().__init__()
        first, second = config.first_layer_units, config.second_layer_units
        self.action_first = config.action_input_layer == 1
        self.state_normalization = normalization(observation_size, config)
        self.first = uniform_init(nn.Linear(observation_size + action_size * self.action_first, first))
        # batch normalisation stops where the action comes in (section 3)
        self.first_normalization = nn.Identity() if self.action_first else normalization(first, config)
        self.second = uniform_init(nn.Linear(first + action_size * (not self.action_first), second))
        self.output = uniform_init(nn.Linear(second, 1), config.output_init)

    def forward(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        features = self.state_normalization(observations.float())
        if self.action_first:
            features = torch.cat([features, actions], -1)
        features = torch.relu(self.first_normalization(self.first(features)))
        if not self.action_first:
            features = torch.cat([features, actions], -1)
        return self.output(torch.relu(self.second(features))).squeeze(-1)


# --- the losses -----------------------------------------------------------------------------------------

def critic_targets(returns: torch.Tensor, discounts: torch.Tensor, next_q: torch.Tensor) -> torch.Tensor:
    """y = r + gamma Q'(s', mu'(s')); the discount is 0 after a termination (a truncation keeps gamma)."""
    return returns + discounts * next_q


def critic_loss(critic: nn.Module, target_actor: nn.Module, target_critic: nn.Module,
                batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean squared error of Q(s, a) against the targets, mean Q(s, a) of the minibatch)."""
    with torch.no_grad():
        next_q = target_critic(batch.next_observations, target_actor(batch.next_observations))
        targets = critic_targets(batch.returns, batch.discounts, next_q)
    q = critic(batch.observations, batch.actions)
    return (q - targets).pow(2).mean(), q.detach().mean()


def actor_loss(actor: nn.Module, critic: nn.Module, observations: torch.Tensor) -> torch.Tensor:
    """-mean Q(s, mu(s)): its gradient is the sampled deterministic policy gradient of Algorithm 1."""
    return -critic(observations, actor(observations)).mean()


# --- the learner ------------------------------------------------------------------------------------------

def critic_parameter_groups(critic: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(the weight matrices of the critic's linear layers, which weight decay shrinks; every other parameter:
    biases and batch normalisation's scale and shift), as rllab's regularizable parameters."""
    decayed = [module.weight for module in critic.modules() if isinstance(module, nn.Linear)]
    chosen = {id(weight) for weight in decayed}
    return decayed, [parameter for parameter in critic.parameters() if id(parameter) not in chosen]


class DDPG:
    """Actor, critic, their targets and optimizers, and the exploration noise (common.off_policy.Learner)."""

    def __init__(self, observation_size: int, action_size: int, config: Config, device: torch.device, seed: int):
        self.config, self.device = config, device
        self.actor = Actor(observation_size, action_size, config).to(device)
        self.critic = Critic(observation_size, action_size, config).to(device)
        # targets always use their running averages (batch_norm), Polyak-averaged by soft_update; never trained
        self.target_actor = copy.deepcopy(self.actor).requires_grad_(False).eval()
        self.target_critic = copy.deepcopy(self.critic).requires_grad_(False).eval()
        # fused: Adam's update in one kernel for all parameters, markedly faster for small networks
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=config.actor_learning_rate, fused=True)
        decayed, other = critic_parameter_groups(self.critic)
        self.critic_optimizer = torch.optim.Adam(
            [{"params": decayed, "weight_decay": config.critic_weight_decay}, {"params": other, "weight_decay": 0.0}],
            lr=config.critic_learning_rate, fused=True)
        self.noise = OrnsteinUhlenbeck(action_size, config.ou_theta, config.noise_sigma,
                                       np.random.default_rng([seed, NOISE_STREAM]))

    def act(self, observations: np.ndarray) -> np.ndarray:
        self.actor.eval()  # batch normalisation acts with its running statistics (section 3)
        with torch.inference_mode():
            actions = self.actor(torch.as_tensor(observations, device=self.device)).cpu().numpy()
        self.actor.train()
        return actions

    def explore(self, observation: np.ndarray) -> np.ndarray:
        return np.clip(self.act(observation) + self.noise.sample(), -1.0, 1.0)

    def end_episode(self) -> None:
        self.noise.reset()

    def update(self, batch: Batch) -> dict[str, torch.Tensor]:
        loss, mean_q = critic_loss(self.critic, self.target_actor, self.target_critic, batch)
        self.critic_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.critic_optimizer.step()
        # the actor's loss moves the actor only: no critic weight gradient, and (batch_norm) the critic's
        # running averages neither used from this minibatch nor updated by it
        self.critic.requires_grad_(False).eval()
        policy_loss = actor_loss(self.actor, self.critic, batch.observations)
        self.actor_optimizer.zero_grad(set_to_none=True)
        policy_loss.backward()
        self.actor_optimizer.step()
        self.critic.requires_grad_(True).train()
        soft_update(self.target_actor, self.actor, self.config.tau)
        soft_update(self.target_critic, self.critic, self.config.tau)
        return {"losses/critic": loss.detach(), "losses/actor": policy_loss.detach(), "charts/mean_q": mean_q}

    def state_dict(self) -> dict:
        return {"actor": self.actor.state_dict(), "critic": self.critic.state_dict(),
                "target_actor": self.target_actor.state_dict(), "target_critic": self.target_critic.state_dict(),
                "actor_optimizer": self.actor_optimizer.state_dict(),
                "critic_optimizer": self.critic_optimizer.state_dict(),
                "noise": self.noise.state.copy(), "noise_rng": self.noise.rng.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        for name in ("actor", "critic", "target_actor", "target_critic", "actor_optimizer", "critic_optimizer"):
            getattr(self, name).load_state_dict(state[name])
        self.noise.state = state["noise"].copy()
        self.noise.rng.bit_generator.state = state["noise_rng"]


# --- training ---------------------------------------------------------------------------------------------

def deviations(config: Config) -> list[str]:
    """What this run does that the paper's text did not say (module docstring), and any changed setting."""
    notes = [f"preset td3_authors: {TD3_AUTHORS_SOURCE}"] if config.preset == "td3_authors" else []
    notes += config.differences_from_preset()
    if config.batch_norm:
        notes.append("batch normalisation: acting and targets with running averages (targets' Polyak-averaged), "
                     "the actor step with the critic's running averages (rllab's DDPG)")
    else:
        notes.append("no batch normalisation (the paper's low-dimensional networks had it; --batch-norm)")
    notes += ["time-limit truncations bootstrap; terminations do not (Algorithm 1 writes no terminal case)",
              "exploration noise in [-1, 1] action units, clipped there, then scaled onto the env's bounds"]
    if config.critic_weight_decay > 0:
        notes.append("critic weight decay as Adam's L2 term on the weight matrices only (rllab's DDPG)")
    if config.ou_theta < 1.0:
        notes.append("Ornstein-Uhlenbeck noise discretised with dt = 1 env step, restarted at 0 every episode")
    return notes


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The actor of a saved run, acting on `environment`'s scale (evaluation's policy)."""
    observation_size, action_space = spaces_of(environment, "ddpg")
    learner = DDPG(observation_size, int(action_space.shape[0]), config, resolve_device(config.device), seed=0)
    learner.actor.load_state_dict(state["agent"]["actor"])
    return scaled_policy(learner, action_space)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    def make_learner(observation_size: int, action_size: int, device: torch.device, seed: int) -> DDPG:
        return DDPG(observation_size, action_size, config, device, seed)

    return train_off_policy(config, seed, run_dir, resume, "ddpg", continuous_agent(config, "ddpg", make_learner),
                            {"paper": PAPER, "preset": config.preset, "deviations": deviations(config)})


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.ddpg", __doc__)
