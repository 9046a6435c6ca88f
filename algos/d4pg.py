"""D4PG: distributed distributional deterministic policy gradients (Barth-Maron et al. 2018, ICLR;
arXiv:1804.08617, Algorithm 1).

DDPG's deterministic actor pi(s) and critic, with the critic a categorical distribution Z(s, a) over
51 atoms on [V_min, V_max] (C51's, Bellemare et al. 2017). K actor processes act with pi(s) plus
Gaussian noise sigma N(0, 1), each in its own environment, and feed one replay memory; the learner
samples minibatches of N-step transitions and
  critic: minimises the cross-entropy to the projected target R + gamma^N Z'(s_N, pi'(s_N))
  actor:  ascends E[Z(s, a)] along a = pi(s): the gradient (dQ/da, clipped to +-1) times dpi/dtheta
copies the target networks every t_target updates and sends pi to the actors every t_actors updates.
A rate limiter (common/actor_pool.py, Reverb's SampleToInsertRatio) keeps the replay's samples per
inserted transition near samples_per_insert whatever the actors' speed; --actors 0 runs one actor
inside the learner's process, where a seeded run repeats (and resumes) exactly.

Sources (docs/algorithms/d4pg.md): the paper's Algorithm 1 gives the loop; where its text was not
available here, the settings are DeepMind Acme's D4PG (acme/agents/jax/d4pg: config.py, builder.py,
networks.py; each field says which). Presets: control_suite (the defaults; support [-150, 150] as
Acme's) and classic (gymnasium tasks such as Pendulum-v1, NOT from a paper: the support from the
task's reward bounds, a minibatch of 64 per env step and larger steps, for 10k-step budgets).

The paper's or Acme's, field by field (Acme: acme/agents/jax/d4pg/*.py; docs/algorithms/d4pg.md):
- policy loss at the sampled s_t: the paper's (Algorithm 1's x_i); Acme's learner takes it at the
  transition's next observation s_{t+N} (learning.py, sgd_step: policy_loss(..., next_observation))
- actors get the online policy every t_actors = 100 updates: the paper's (Algorithm 1 sends theta);
  Acme's fetch the target policy (learning.py get_variables: 'policy' -> target_policy_params)
- N = 5: both (the paper's D4PG runs; Acme config.py n_step)
- targets copied every t_target = 100 updates, no Polyak average: both (Algorithm 1's periodic copy;
  Acme config.py target_update_period, learning.py rlax.periodic_update); the value 100 is Acme's
- support [-150, 150] on the Control Suite: Acme's (networks.py vmin, vmax; the paper gives none)
- noise pi(s) + 0.3 N(0, 1) in action units, clipped to the bounds: the form is the paper's, 0.3 is
  Acme's (config.py sigma; rlax.add_gaussian_noise), the clipping Acme TF's (ClippedGaussian, ClipToSpec)
Deviations: time-limit truncations bootstrap; gymnasium's autoreset steps are never stored or counted;
K actors may pass the limiter's bound by at most K - 1 inserts (lock-free counts). A resumed run with
actor processes restarts the actors' episodes; with --actors 0 it continues exactly (--checkpoint-replay).
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import envs
from common.actor_pool import ActorPool, EnvironmentActor, RateLimiter
from common.config import CPU_CORES, RunConfig, config_class
from common.distributional import categorical_cross_entropy, categorical_projection, fill_support, support_values
from common.replay import PrioritizedReplayBuffer, ReplayBuffer
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import ConfigError, require
from core.files import write_json

PAPER = "Barth-Maron et al. 2018, ICLR, arXiv:1804.08617, Algorithm 1; settings from DeepMind Acme's D4PG"
ACME_CONTROL_SUITE_SUPPORT = (-150.0, 150.0)  # acme/agents/jax/d4pg/networks.py make_networks(vmin, vmax)
# Per-step reward bounds (gymnasium's source): the support is these over 1 - discount, the largest
# discounted return either way (truncations bootstrap, so time limits do not shorten it).
REWARD_BOUNDS = {"Pendulum-v1": (-(math.pi**2 + 0.1 * 8**2 + 0.001 * 2**2), 0.0)}  # -(theta^2 + .1 theta'^2 + .001 u^2)
LOG_INTERVAL = 1_000  # env steps between logged loss averages
# Ours, NOT from a paper, for gymnasium tasks at budgets of ~10k steps (docs/algorithms/d4pg.md tells
# how it was measured): one minibatch of 64 per inserted transition (instead of 256 per 8), learning
# from 500 transitions on, 1e-3 step sizes.
CLASSIC_NOT_FROM_A_PAPER = dict(batch_size=64, samples_per_insert=64.0, min_replay_size=500, policy_learning_rate=1e-3,
                                critic_learning_rate=1e-3, total_steps=10_000, eval_interval=1_000,
                                checkpoint_replay=True)


@config_class
class Config(RunConfig):
    PRESETS: ClassVar[dict[str, dict]] = {"control_suite": {}, "classic": CLASSIC_NOT_FROM_A_PAPER}
    NOT_FROM_A_PAPER: ClassVar[tuple[str, ...]] = ("classic",)
    # Fields that say how to run, not what is learned: config.json records them. The paper's K = 32 actors is
    # out of reach here anyway.
    NOT_DEVIATIONS: ClassVar[tuple[str, ...]] = ("checkpoint_replay", "actors")
    CHECKED_ON = {"classic": ("Pendulum-v1",)}

    env_id: str = "dmc/cartpole-swingup"
    """environment id with continuous actions and vector observations: dmc/<domain>-<task> or a gymnasium id"""
    actors: int = max(1, CPU_CORES - 1)
    """actor processes, each with its own environment (the paper: K = 32; default: this machine's cores
    less one, left to the learner); 0: one actor inside the learner's process, where runs repeat exactly"""
    batch_size: int = 256
    """transitions per minibatch M (Acme config.py: 256)"""
    policy_learning_rate: float = 1e-4
    """Adam step size alpha of the actor (Acme builder.py: 1e-4)"""
    critic_learning_rate: float = 1e-4
    """Adam step size beta of the critic (Acme builder.py: 1e-4)"""
    discount: float = 0.99
    """reward discount gamma (Acme config.py: 0.99)"""
    n_step: int = 5
    """N of the N-step returns (the paper's D4PG: N = 5; Acme config.py: 5)"""
    atoms: int = 51
    """atoms of the critic's categorical distribution (the paper, after C51: 51; Acme networks.py: 51)"""
    v_min: float = ACME_CONTROL_SUITE_SUPPORT[0]
    """smallest return of the support (the paper gives none; Acme networks.py: -150 for the Control
    Suite); if not given, the task's (Control Suite: -150; REWARD_BOUNDS tasks: from their rewards)"""
    v_max: float = ACME_CONTROL_SUITE_SUPPORT[1]
    """largest return of the support (Acme networks.py: 150); if not given, the task's, like v_min"""
    sigma: float = 0.3
    """standard deviation of the actors' Gaussian exploration noise, in action units (Acme config.py: 0.3)"""
    target_update_period: int = 100
    """t_target: learner updates between copies of the networks into the targets (Acme config.py: 100)"""
    actor_update_period: int = 100
    """t_actors: learner updates between sending the policy to the actors (Acme's actors act with the
    target policy, which changes every 100 updates)"""
    buffer_size: int = 1_000_000
    """replay memory size in transitions (Acme config.py max_replay_size: 1,000,000)"""
    min_replay_size: int = 1_000
    """transitions in the replay memory before learning starts (Acme config.py: 1,000)"""
    samples_per_insert: float = 32.0
    """sampled transitions per inserted one: 32 = one minibatch of 256 per 8 env steps (Acme config.py: 32)"""
    samples_per_insert_tolerance: float = 0.1
    """the limiter's error buffer, as a fraction of min_replay_size * samples_per_insert (Acme config.py: 0.1)"""
    max_grad_norm: float = 40.0
    """clip each network's gradient norm to this (Acme builder.py, clipping=True: 40)"""
    dqda_clip: float = 1.0
    """clip each component of dQ/da to +-this in the actor's gradient (Acme learning.py, clipping=True: 1)"""
    policy_layers: str = "300,200"
    """hidden units of the actor, comma-separated (Acme networks.py: 300, 200)"""
    critic_layers: str = "400,300"
    """hidden units of the critic on [observation, action], comma-separated (Acme networks.py: 400, 300)"""
    prioritized: bool = False
    """proportional prioritized replay by the cross-entropy, with importance weights (the paper runs D4PG
    with and without it; Acme samples uniformly)"""
    priority_exponent: float = 0.6
    """alpha of prioritized replay (Schaul et al. 2016: 0.6)"""
    importance_sampling_start: float = 0.4
    """beta of the importance weights at the start, annealed to 1 over total_steps (Schaul et al. 2016: 0.4)"""
    checkpoint_replay: bool = False
    """save the replay memory in checkpoints (resumes then continue exactly; up to GBs at 1M transitions)"""
    total_steps: int = 500_000
    """training budget in env steps over all actors (ours: 500K, DreamerV3's budget for its D4PG column)"""
    eval_interval: int = 10_000
    """env steps between evaluations of the deterministic policy pi(s)"""

    def task_values(self) -> dict[str, float | None]:
        """The support of the task's discounted returns, where it is known (above)."""
        return support_values(support_for(envs.resolve(self.env_id, self.env_protocol, self.env_backend), self.discount))

    def cores(self) -> int:
        return self.actors + 1  # the actor processes and the learner

    def replay_transitions(self) -> int:
        return self.buffer_size

    def __post_init__(self) -> None:
        super().__post_init__()
        fill_support(self, f"the Control Suite and {sorted(REWARD_BOUNDS)}")
        require(self.device in ("auto", "cpu"), "device", "cpu or auto (actors and learner run on the CPU)",
                self.device)
        require(self.actors >= 0, "actors", "0 (one actor in the learner's process) or more processes", self.actors)
        for name in ("batch_size", "n_step", "target_update_period", "actor_update_period", "buffer_size",
                     "min_replay_size", "policy_learning_rate", "critic_learning_rate", "samples_per_insert",
                     "max_grad_norm", "dqda_clip"):
            require(getattr(self, name) > 0, name, "a positive number", getattr(self, name))
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.atoms >= 2, "atoms", "2 or more", self.atoms)
        require(self.v_min < self.v_max, "v_max", f"a number above v_min = {self.v_min}", self.v_max)
        require(self.sigma >= 0, "sigma", "0 or more", self.sigma)
        require(self.min_replay_size >= self.batch_size, "min_replay_size", f"at least batch_size = {self.batch_size}",
                self.min_replay_size)
        # the limiter deadlocks unless its window fits an insert and a minibatch (common/actor_pool.py)
        least = (self.samples_per_insert + self.batch_size) / (2 * self.min_replay_size * self.samples_per_insert)
        require(2 * self.error_buffer >= self.samples_per_insert + self.batch_size, "samples_per_insert_tolerance",
                f"at least {least:.4g} (2 x error buffer >= samples_per_insert + batch_size)",
                self.samples_per_insert_tolerance)
        for name in ("policy_layers", "critic_layers"):
            try:
                require(all(size > 0 for size in layer_sizes(getattr(self, name))), name, "positive sizes",
                        getattr(self, name))
            except ValueError:
                raise ConfigError(name, "comma-separated layer sizes, e.g. 400,300", getattr(self, name)) from None

    @property
    def error_buffer(self) -> float:
        return self.min_replay_size * self.samples_per_insert * self.samples_per_insert_tolerance

    @staticmethod
    def preset_for(env_id: str) -> str:
        """control_suite for dmc/ tasks, classic for every other environment."""
        return "control_suite" if envs.family_of(env_id)[0] == "dmc" else "classic"


def layer_sizes(text: str) -> list[int]:
    return [int(size) for size in text.split(",")]


def support_for(environment: envs.Environment, discount: float) -> tuple[float, float] | None:
    """(V_min, V_max) for the task; None where the task does not tell the range of its returns."""
    if environment.family == "dmc":
        return ACME_CONTROL_SUITE_SUPPORT
    if environment.id not in REWARD_BOUNDS or discount >= 1.0:
        return None
    low, high = REWARD_BOUNDS[environment.id]
    return round(min(low, 0.0) / (1 - discount), 6), round(max(high, 0.0) / (1 - discount), 6)


# --- networks: Acme's D4PG networks (networks.py), written anew -----------------------------------

def fan_in_uniform(layer: nn.Linear, scale: float = 1.0) -> nn.Linear:
    """Weights with variance scale / fan_in (haiku's VarianceScaling(scale, fan_in, uniform), as Acme's), bias 0."""
    bound = math.sqrt(3 * scale / layer.in_features)
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.zeros_(layer.bias)
    return layer


def layer_norm_mlp(sizes: list[int], activate_final: bool) -> list[nn.Module]:
    """Acme's LayerNormMLP: the first layer Linear -> LayerNorm -> tanh, the others Linear -> ELU."""
    layers: list[nn.Module] = [fan_in_uniform(nn.Linear(sizes[0], sizes[1])), nn.LayerNorm(sizes[1]), nn.Tanh()]
    for index, (fan_in, fan_out) in enumerate(zip(sizes[1:-1], sizes[2:])):
        layers.append(fan_in_uniform(nn.Linear(fan_in, fan_out)))
        if activate_final or index < len(sizes) - 3:
            layers.append(nn.ELU())
    return layers


class Policy(nn.Module):
    """pi(s): the MLP, a near-zero initialised output layer and tanh, scaled to the action bounds."""

    def __init__(self, observation_size: int, action_space: gym.spaces.Box, hidden: list[int]):
        super().__init__()
        action_size = action_space.shape[0]
        self.body = nn.Sequential(*layer_norm_mlp([observation_size, *hidden], activate_final=True),
                                  fan_in_uniform(nn.Linear(hidden[-1], action_size), 1e-4), nn.Tanh())
        self.register_buffer("low", torch.as_tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("high", torch.as_tensor(action_space.high, dtype=torch.float32))

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        # .float(): MuJoCo's observations are float64 (a no-op on the Control Suite's float32)
        return self.low + (self.high - self.low) * (self.body(observations.float()) + 1) / 2


class Critic(nn.Module):
    """Z(s, a): logits over the atoms of `support`, from the MLP on [observation, action]."""

    def __init__(self, observation_size: int, action_size: int, hidden: list[int], config: Config):
        super().__init__()
        self.body = nn.Sequential(*layer_norm_mlp([observation_size + action_size, *hidden, config.atoms], False))
        self.register_buffer("support", torch.linspace(config.v_min, config.v_max, config.atoms))

    def forward(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return self.body(torch.cat([observations.float(), actions], -1))

    def expected(self, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Q(s, a) = E[Z(s, a)] = sum_i p_i z_i."""
        return self(observations, actions).softmax(-1) @ self.support


def make_networks(observation_space: gym.spaces.Box, action_space: gym.spaces.Box, config: Config):
    require(len(observation_space.shape) == 1 and isinstance(action_space, gym.spaces.Box), "env_id",
            "a task with vector observations and continuous (Box) actions", config.env_id)
    size = observation_space.shape[0]
    return (Policy(size, action_space, layer_sizes(config.policy_layers)),
            Critic(size, action_space.shape[0], layer_sizes(config.critic_layers), config))


# --- the losses ----------------------------------------------------------------------------------------

def critic_loss(logits: torch.Tensor, next_probabilities: torch.Tensor, returns: torch.Tensor,
                discounts: torch.Tensor, support: torch.Tensor, weights: torch.Tensor):
    """Algorithm 1's critic update: the cross-entropy between Z(s, a) (`logits`) and the target
    distribution R + discount * Z'(s', pi'(s')) projected onto the support; (importance-weighted
    minibatch mean, per transition). R is the N-step return, discount gamma^N, or 0 after a termination."""
    target = categorical_projection(next_probabilities, returns, discounts, support)
    cross_entropy = categorical_cross_entropy(logits, target)
    return (weights * cross_entropy).mean(), cross_entropy.detach()


def action_gradients(critic: Critic, observations: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """dQ/da at (s, a), Q = E[Z(s, a)]; the critic's own gradients are left untouched."""
    actions = actions.detach().requires_grad_(True)
    return torch.autograd.grad(critic.expected(observations, actions).sum(), actions)[0]


def policy_loss(actions: torch.Tensor, dq_da: torch.Tensor, clip: float) -> torch.Tensor:
    """Algorithm 1's actor update: minus a loss whose gradient in theta is the deterministic policy
    gradient mean_i dpi(s_i)/dtheta . dQ/da (each component of dQ/da clipped to +-clip, as Acme)."""
    return -(actions * dq_da.clamp(-clip, clip).detach()).sum(-1).mean()


# --- actors and training -------------------------------------------------------------------------------

def behaviour_action(policy: Policy, observation: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """pi(s) + sigma N(0, 1), clipped to the action bounds (the actor of Algorithm 1)."""
    with torch.no_grad():
        action = policy(torch.as_tensor(observation)).numpy()
    noisy = action + sigma * rng.standard_normal(action.shape)
    return np.clip(noisy, policy.low.numpy(), policy.high.numpy()).astype(np.float32)


def make_actor(rank: int, seed: int, config: Config, environment: envs.Environment) -> EnvironmentActor:
    """An actor (in its own process, or the learner's with --actors 0) with its own policy copy."""
    build = lambda env: make_networks(env.single_observation_space, env.single_action_space, config)[0]  # noqa: E731
    return EnvironmentActor(rank, environment, seed, build, functools.partial(behaviour_action, sigma=config.sigma))


def deterministic_policy(policy: Policy):
    def act(observations: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return policy(torch.as_tensor(observations)).numpy()

    return act


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The deterministic policy pi(s) of a saved run."""
    policy, _ = make_networks(*envs.spaces(environment), config)
    policy.load_state_dict(state["policy"])
    return deterministic_policy(policy)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    observation_space, action_space = envs.spaces(environment)
    policy, critic = make_networks(observation_space, action_space, config)
    target_policy, target_critic = (copy.deepcopy(network).requires_grad_(False) for network in (policy, critic))
    policy_optimizer = torch.optim.Adam(policy.parameters(), lr=config.policy_learning_rate)
    critic_optimizer = torch.optim.Adam(critic.parameters(), lr=config.critic_learning_rate)
    # one ring per actor: each actor's steps arrive on their own, in order (common/replay.py, `envs`)
    replay_settings = dict(num_envs=max(config.actors, 1), n_step=config.n_step, discount=config.discount, seed=seed)
    replay = PrioritizedReplayBuffer(config.buffer_size, observation_space, action_space,
                                     alpha=config.priority_exponent, beta_start=config.importance_sampling_start,
                                     beta_steps=config.total_steps, **replay_settings) if config.prioritized \
        else ReplayBuffer(config.buffer_size, observation_space, action_space, **replay_settings)
    limiter = RateLimiter(config.samples_per_insert, config.min_replay_size, config.error_buffer)
    step, updates, sums = 0, 0, {"critic_loss": 0.0, "policy_loss": 0.0, "mean_q": 0.0, "updates": 0}

    def learn() -> None:
        batch = replay.sample(config.batch_size, step) if config.prioritized else replay.sample(config.batch_size)
        logits = critic(batch.observations, batch.actions)
        with torch.no_grad():
            next_actions = target_policy(batch.next_observations)
            next_probabilities = target_critic(batch.next_observations, next_actions).softmax(-1)
        loss, cross_entropy = critic_loss(logits, next_probabilities, batch.returns, batch.discounts, critic.support,
                                          batch.weights)
        actions = policy(batch.observations)
        actor_loss = policy_loss(actions, action_gradients(critic, batch.observations, actions), config.dqda_clip)
        check_finite(step, critic_loss=loss.item(), policy_loss=actor_loss.item())
        for network, optimizer, value in ((critic, critic_optimizer, loss), (policy, policy_optimizer, actor_loss)):
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            nn.utils.clip_grad_norm_(network.parameters(), config.max_grad_norm)
            optimizer.step()
        if config.prioritized:
            replay.update_priorities(batch.indices, cross_entropy.numpy())
        for name, value in (("critic_loss", loss.item()), ("policy_loss", actor_loss.item()),
                            ("mean_q", (logits.detach().softmax(-1) @ critic.support).mean().item())):
            sums[name] += value
        sums["updates"] += 1

    with RunLogger(run_dir, config, environment, seed, "d4pg", "cpu", resume) as log:
        write_json(log.dir / "deviations.json", {
            "paper": PAPER, "preset": config.preset,
            "deviations": config.differences_from_preset()})
        saved = log.resume()
        if saved is not None:
            for module, name in ((policy, "policy"), (critic, "critic"), (target_policy, "target_policy"),
                                 (target_critic, "target_critic"), (policy_optimizer, "policy_optimizer"),
                                 (critic_optimizer, "critic_optimizer")):
                module.load_state_dict(saved[name])
            step, updates, sums = saved["step"], saved["updates"], saved["sums"]
            replay = saved["replay"] if saved["replay"] is not None else replay  # else: refilled to min_replay_size
        with ActorPool(config.actors, make_actor, (config, environment), policy, limiter, seed, config.total_steps,
                       saved["pool"] if saved is not None else None) as pool:
            log.checkpoint_with(lambda: {
                "policy": policy.state_dict(), "critic": critic.state_dict(),
                "target_policy": target_policy.state_dict(), "target_critic": target_critic.state_dict(),
                "policy_optimizer": policy_optimizer.state_dict(),
                "critic_optimizer": critic_optimizer.state_dict(), "step": step, "updates": updates, "sums": dict(sums),
                "pool": pool.state(), "replay": replay if config.checkpoint_replay else None})
            act = deterministic_policy(policy)
            while step < config.total_steps:
                # learn whenever the limiter allows, act otherwise: in one process the order is fixed
                while pool.can_sample(config.batch_size, len(replay)):
                    learn()
                    pool.sampled(config.batch_size)
                    updates += 1
                    if updates % config.target_update_period == 0:
                        target_policy.load_state_dict(policy.state_dict())
                        target_critic.load_state_dict(critic.state_dict())
                    if updates % config.actor_update_period == 0:
                        pool.publish(policy)
                for transition in pool.receive():
                    replay.add(transition.observation[None], transition.action[None], [transition.reward],
                               transition.next_observation[None], [transition.terminated], [transition.truncated],
                               envs=[transition.actor])
                    if not transition.counted:
                        continue
                    step += 1
                    if transition.episode is not None:
                        log.log_episode(step, *transition.episode)
                    if step % LOG_INTERVAL == 0:
                        if sums["updates"]:
                            count = sums.pop("updates")
                            log.log_scalars(step, **{f"losses/{name}": value / count for name, value in sums.items()})
                            sums = {"critic_loss": 0.0, "policy_loss": 0.0, "mean_q": 0.0, "updates": 0}
                        log.log_scalars(step, **{"charts/updates": updates,
                                                 "charts/policy_version": transition.policy_version})
                        log.advance(step)
                    log.evaluate_if_due(step, act)
        for usage in pool.worker_usage:
            log.add_worker_usage(*usage)
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.d4pg", __doc__)
