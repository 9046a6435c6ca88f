"""Stable-Baselines3's A2C, PPO, DQN and SAC, and sb3-contrib's TRPO, at OUR algorithm's settings, on our training
envs: the reference controls of experiments/reference_controls.yaml and experiments/ppo_surrogates.yaml
(`algo: examples.sb3_control`, docs/external_algorithms.md).

A reader cannot tell a verdict about a paper from a verdict about our code unless a trusted implementation runs
beside ours. Here SB3's class of the same name runs with our algorithm's settings on the task: `algorithm: ppo`
builds our `algos.ppo.Config` for the run's env id and preset (the preset `auto` picks on that task, unless the
spec names one), and the table SETTINGS[algorithm] turns its fields into SB3's constructor arguments, row by row,
each row citing what SB3's argument does. Where SB3 has no equivalent of one of our settings, GAPS[algorithm] says
so; the differences in effect for the run are written to its deviations.json (`differences`), and every argument
given to SB3, with the row it came from, to sb3_settings.json. Our fields in no row are the run's own (budget,
evaluation), taken over as they are: both sides are evaluated alike, by envs.evaluate under our protocol.

Training envs are ours (envs.make_single, in SB3's DummyVecEnv, which resets an env at its episode's end and so
has no autoreset step); a time-limit end reaches SB3 as `TimeLimit.truncated` and bootstraps, as ours.
Evaluations follow our loops: after the update that crosses an evaluation step (examples/sb3_run.py).
Atari games are examples/sb3_ppo.py's and sb3_dqn.py's (rl-zoo's settings, SB3's Atari wrappers).

A checkpoint holds SB3's parameters and optimizers, its step and update counters, the temperature (SAC), the
observation and return statistics (PPO's mujoco preset) and, where our preset saves its own (checkpoint_replay),
SB3's replay memory; without it a resumed SB3 learns again at once from an empty memory, where ours first refills
learning_starts transitions. A resumed run's episodes restart (SB3's envs cannot be saved); it does not repeat an
uninterrupted run exactly.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

import algos
import envs
from common.config import RunConfig, config_class, resolve_device
from common.rundir import RunLogger, RunResult
from core.errors import ConfigError, require
from core.files import write_json
from examples.sb3_run import Extra, learn, our_training_envs

SB3_CLASSES = {"a2c": ("stable_baselines3", "A2C"), "ppo": ("stable_baselines3", "PPO"),
               "dqn": ("stable_baselines3", "DQN"), "sac": ("stable_baselines3", "SAC"), "trpo": ("sb3_contrib", "TRPO")}
RELEASES = {"stable_baselines3": "stable_baselines3 2.9.2", "sb3_contrib": "sb3_contrib 2.9.2"}  # the releases whose
# arguments the tables cite (requirements.txt pins both)
# Our Config's fields that say what to run and how it is scored, not how to learn: the reference takes ours as they are.
RUN_FIELDS = tuple(field.name for field in dataclasses.fields(RunConfig))
NO_CLIPPING = math.inf  # SB3 always clips the gradient norm; ours skips it at max_grad_norm 0: an infinite bound


@dataclass(frozen=True)
class Setting:
    """One SB3 argument computed from our config's fields. `sb3` names a constructor argument; `policy_kwargs.X` one
    inside policy_kwargs (`policy_kwargs.*`: several, as a dict); `env.X` the training VecEnv (its size n_envs,
    VecNormalize's norm_obs/norm_reward/gamma/clip); `checkpoint.X` what the run's checkpoints hold."""
    ours: tuple[str, ...]
    sb3: str
    value: Callable[[RunConfig], object]
    source: str


@dataclass(frozen=True)
class Gap:
    """A setting of ours SB3 has no equivalent of; `when` says whether our config has it in effect."""
    ours: tuple[str, ...]
    when: Callable[[RunConfig], bool]
    text: str


# --- what SB3's networks are built from -------------------------------------------------------------------

@functools.cache
def task_spaces(env_id: str, protocol: str, backend: str) -> tuple[gym.spaces.Space, gym.spaces.Space]:
    """(observation space, action space) of one of our envs."""
    return envs.spaces(envs.resolve(env_id, protocol, backend))


def encoder_kind(config) -> str:
    """Our encoder for the task, as common.nets.encoder resolves `auto`: mlp for vectors, minatar_cnn for 10x10xC grids."""
    shape = task_spaces(config.env_id, config.env_protocol, config.env_backend)[0].shape
    kind = config.network
    if kind == "auto":
        kind = "mlp" if len(shape) == 1 else "minatar_cnn" if shape[:2] == (10, 10) else "nature_cnn"
    if kind not in ("mlp", "minatar_cnn"):
        raise ConfigError("network", "mlp or minatar_cnn (Atari networks run in examples/sb3_ppo.py, sb3_dqn.py)", kind)
    return kind


class MinAtarCNN(nn.Module):
    """Young & Tian 2019's MinAtar network below its output layer, as our minatar_cnn: 16 3x3 convolutions (stride 1)
    of the 10x10xC grid, ReLU, 128 units, ReLU. An SB3 features extractor: SB3 reads its `features_dim`."""

    def __init__(self, observation_space: gym.spaces.Box, features_dim: int = 128):
        super().__init__()
        self.features_dim = features_dim
        height, width, channels = observation_space.shape
        self.convolution = nn.Conv2d(channels, 16, 3, 1)
        self.linear = nn.Linear(16 * (height - 2) * (width - 2), features_dim)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        grids = observations.float().permute(0, 3, 1, 2)  # channels last -> first
        return torch.relu(self.linear(torch.relu(self.convolution(grids)).flatten(1)))


class SharedMLP(nn.Module):
    """Our mlp encoder when actor and critic share it: hidden_layers x hidden_size tanh layers, as an SB3 features
    extractor (SB3's own MlpExtractor no longer shares layers between policy and value)."""

    def __init__(self, observation_space: gym.spaces.Box, layers: int = 2, units: int = 64):
        super().__init__()
        self.features_dim = units if layers else int(np.prod(observation_space.shape))
        sizes = [int(np.prod(observation_space.shape))] + [units] * layers
        modules: list[nn.Module] = [nn.Flatten()]
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            modules += [nn.Linear(fan_in, fan_out), nn.Tanh()]
        self.body = nn.Sequential(*modules)

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return self.body(observations.float())


def actor_critic_network(config) -> dict:
    """policy_kwargs for our ActorCritic: separate or shared encoder, tanh, orthogonal initialisation with gains
    sqrt(2) / 0.01 (policy) / 1 (value), log std starting at 0 (SB3's ActorCriticPolicy defaults: ortho_init True,
    log_std_init 0.0, the same gains in ActorCriticPolicy._build)."""
    common = {"ortho_init": True, "log_std_init": 0.0, "activation_fn": nn.Tanh}
    if encoder_kind(config) == "minatar_cnn":
        return {**common, "features_extractor_class": MinAtarCNN, "net_arch": [],
                "share_features_extractor": config.shared_network}
    if config.shared_network:
        return {**common, "features_extractor_class": SharedMLP, "net_arch": [],
                "features_extractor_kwargs": {"layers": config.hidden_layers, "units": config.hidden_size},
                "share_features_extractor": True}
    layers = [config.hidden_size] * config.hidden_layers
    return {**common, "net_arch": {"pi": layers, "vf": layers}}


def q_network(config) -> dict:
    """policy_kwargs for our QNetwork: hidden_layers x hidden_size ReLU layers, or MinAtar's network, then the output."""
    if encoder_kind(config) == "minatar_cnn":
        return {"features_extractor_class": MinAtarCNN, "net_arch": []}
    return {"net_arch": [config.hidden_size] * config.hidden_layers, "activation_fn": nn.ReLU}


def linear_to_zero(value: float, anneal: bool):
    """SB3 calls a schedule with the progress remaining, 1 at the start and 0 at the budget (common/utils.py)."""
    return (lambda remaining: value * remaining) if anneal else value


def grad_norm(value: float) -> float:
    return value if value > 0 else NO_CLIPPING


def value_optimizer(config) -> dict:
    """policy_kwargs' optimizer for our value-based `optimizer` choice."""
    if config.optimizer == "adam":
        return {"optimizer_class": torch.optim.Adam, "optimizer_kwargs": {"eps": config.adam_eps}}
    # torch_rmsprop, and dqn_rmsprop's nearest (a Gap below): torch's centered RMSprop
    return {"optimizer_class": torch.optim.RMSprop,
            "optimizer_kwargs": {"alpha": config.squared_gradient_momentum, "eps": config.min_squared_gradient,
                                 "centered": True}}


# --- the tables: our fields -> SB3's arguments ----------------------------------------------------------------

SETTINGS: dict[str, tuple[Setting, ...]] = {
    "a2c": (
        Setting(("num_envs",), "env.n_envs", lambda c: c.num_envs, "A2C steps every env of its VecEnv once per step"),
        Setting(("n_steps",), "n_steps", lambda c: c.n_steps, "a2c.py: n_steps, steps per env per update"),
        Setting(("discount",), "gamma", lambda c: c.discount, "a2c.py: gamma, the discount factor"),
        Setting((), "gae_lambda", lambda c: 1.0, "a2c.py: gae_lambda; GAE with lambda 1 is our n-step return "
                "bootstrapped from V(s_T) (common/actor_critic.n_step_returns)"),
        Setting(("learning_rate", "anneal_lr"), "learning_rate", lambda c: linear_to_zero(c.learning_rate, c.anneal_lr),
                "a2c.py: learning_rate, a constant or a schedule of the progress remaining (linear to 0)"),
        Setting(("rmsprop_alpha", "rmsprop_eps"), "policy_kwargs.*", lambda c: {
            "optimizer_class": torch.optim.RMSprop,
            "optimizer_kwargs": {"alpha": c.rmsprop_alpha, "eps": c.rmsprop_eps, "weight_decay": 0}},
            "a2c.py: use_rms_prop puts torch's RMSprop(alpha 0.99, eps rms_prop_eps) in policy_kwargs unless given"),
        Setting(("entropy_coef",), "ent_coef", lambda c: c.entropy_coef, "a2c.py: ent_coef, the entropy bonus weight"),
        Setting(("value_coef",), "vf_coef", lambda c: c.value_coef, "a2c.py: vf_coef, the value loss weight"),
        Setting(("max_grad_norm",), "max_grad_norm", lambda c: c.max_grad_norm, "a2c.py: max_grad_norm, global clip"),
        Setting((), "normalize_advantage", lambda c: False, "a2c.py: normalize_advantage (ours A2C does not)"),
        Setting(("network", "hidden_layers", "hidden_size", "shared_network"), "policy_kwargs.*", actor_critic_network,
                "common/policies.py ActorCriticPolicy: net_arch, activation_fn, features_extractor_class, "
                "share_features_extractor, ortho_init"),
    ),
    "ppo": (
        Setting(("num_envs",), "env.n_envs", lambda c: c.num_envs, "PPO steps every env of its VecEnv once per step"),
        Setting(("n_steps",), "n_steps", lambda c: c.n_steps, "ppo.py: n_steps, steps per env per update"),
        Setting(("epochs",), "n_epochs", lambda c: c.epochs, "ppo.py: n_epochs, passes over the rollout"),
        Setting(("minibatch_size",), "batch_size", lambda c: c.minibatch_size, "ppo.py: batch_size, minibatch size"),
        Setting(("learning_rate", "anneal_lr"), "learning_rate", lambda c: linear_to_zero(c.learning_rate, c.anneal_lr),
                "ppo.py: learning_rate, a constant or a schedule of the progress remaining (linear to 0)"),
        Setting(("clip_range", "anneal_clip"), "clip_range", lambda c: linear_to_zero(c.clip_range, c.anneal_clip),
                "ppo.py: clip_range, a constant or a schedule of the progress remaining"),
        Setting(("discount",), "gamma", lambda c: c.discount, "ppo.py: gamma"),
        Setting(("gae_lambda",), "gae_lambda", lambda c: c.gae_lambda, "ppo.py: gae_lambda"),
        Setting(("value_coef",), "vf_coef", lambda c: c.value_coef, "ppo.py: vf_coef, weight of (V - R)^2"),
        Setting(("entropy_coef",), "ent_coef", lambda c: c.entropy_coef, "ppo.py: ent_coef"),
        Setting(("clip_value_loss", "clip_range", "anneal_clip"), "clip_range_vf",
                lambda c: linear_to_zero(c.clip_range, c.anneal_clip) if c.clip_value_loss else None,
                "ppo.py: clip_range_vf, the value's change clipped around the rollout's value (None: off)"),
        Setting(("normalize_advantages",), "normalize_advantage", lambda c: c.normalize_advantages != "none",
                "ppo.py: normalize_advantage, per minibatch"),
        Setting(("max_grad_norm",), "max_grad_norm", lambda c: grad_norm(c.max_grad_norm),
                "ppo.py: max_grad_norm, global clip (always applied: our 0 is an infinite bound)"),
        Setting(("adam_eps",), "policy_kwargs.optimizer_kwargs", lambda c: {"eps": c.adam_eps},
                "common/policies.py ActorCriticPolicy: Adam with optimizer_kwargs (its default eps is 1e-5)"),
        Setting(("network", "hidden_layers", "hidden_size", "shared_network"), "policy_kwargs.*", actor_critic_network,
                "common/policies.py ActorCriticPolicy: net_arch, activation_fn, features_extractor_class, "
                "share_features_extractor, ortho_init, log_std_init"),
        Setting(("normalize_observations",), "env.norm_obs", lambda c: c.normalize_observations,
                "common/vec_env/vec_normalize.py: norm_obs, running mean/std, clipped to clip_obs"),
        Setting(("normalize_rewards",), "env.norm_reward", lambda c: c.normalize_rewards,
                "vec_normalize.py: norm_reward, rewards over the running std of the discounted return (restarted "
                "at every episode end), clipped to clip_reward"),
        Setting(("discount",), "env.gamma", lambda c: c.discount, "vec_normalize.py: gamma of the return it scales by"),
        Setting((), "env.clip", lambda c: 10.0, "vec_normalize.py: clip_obs and clip_reward; ours clips both at 10 "
                "(envs/normalize.add_normalization), as Baselines"),
    ),
    "dqn": (
        Setting(("buffer_size",), "buffer_size", lambda c: c.buffer_size, "dqn.py: buffer_size, in transitions"),
        Setting(("batch_size",), "batch_size", lambda c: c.batch_size, "dqn.py: batch_size"),
        Setting(("learning_starts",), "learning_starts", lambda c: c.learning_starts,
                "off_policy_algorithm.py: uniformly random actions, and no update, before learning_starts steps"),
        Setting(("train_frequency",), "train_freq", lambda c: c.train_frequency, "dqn.py: train_freq, env steps "
                "between updates"),
        Setting(("gradient_steps",), "gradient_steps", lambda c: c.gradient_steps, "dqn.py: gradient_steps"),
        Setting(("target_update_period",), "target_update_interval", lambda c: c.target_update_period,
                "dqn.py: target_update_interval, env steps between target updates"),
        Setting((), "tau", lambda c: 1.0, "dqn.py: tau 1 makes the target update a copy"),
        Setting(("discount",), "gamma", lambda c: c.discount, "dqn.py: gamma"),
        Setting(("n_step",), "n_steps", lambda c: c.n_step, "off_policy_algorithm.py: n_steps, N-step returns "
                "(NStepReplayBuffer: stopped at an episode end, bootstrapped after a truncation)"),
        Setting((), "exploration_initial_eps", lambda c: 1.0, "dqn.py: epsilon at the start (ours: 1)"),
        Setting(("final_epsilon",), "exploration_final_eps", lambda c: c.final_epsilon, "dqn.py: exploration_final_eps"),
        Setting(("epsilon_anneal_steps", "total_steps"), "exploration_fraction",
                lambda c: c.epsilon_anneal_steps / c.total_steps,
                "dqn.py: exploration_fraction, the share of the budget over which epsilon falls linearly, from step 0"),
        Setting(("learning_rate",), "learning_rate", lambda c: c.learning_rate, "dqn.py: learning_rate, constant"),
        Setting(("optimizer", "adam_eps", "squared_gradient_momentum", "min_squared_gradient"), "policy_kwargs.*",
                value_optimizer, "dqn/policies.py DQNPolicy: optimizer_class, optimizer_kwargs"),
        Setting(("max_grad_norm",), "max_grad_norm", lambda c: grad_norm(c.max_grad_norm),
                "dqn.py: max_grad_norm (always applied: our 0 is an infinite bound)"),
        Setting(("network", "hidden_layers", "hidden_size"), "policy_kwargs.*", q_network,
                "dqn/policies.py QNetwork: features_extractor_class, net_arch, activation_fn"),
        Setting((), "optimize_memory_usage", lambda c: False, "off_policy_algorithm.py (N-step returns need it off)"),
        Setting(("checkpoint_replay",), "checkpoint.replay_buffer", lambda c: c.checkpoint_replay,
                "the run's checkpoints hold SB3's replay memory when ours hold our own"),
    ),
    "sac": (
        Setting(("learning_rate",), "learning_rate", lambda c: c.learning_rate,
                "sac.py: learning_rate, of the actor, the critics and the temperature"),
        Setting(("discount",), "gamma", lambda c: c.discount, "sac.py: gamma"),
        Setting(("tau",), "tau", lambda c: c.tau, "sac.py: tau, Polyak coefficient of the target critics"),
        Setting(("batch_size",), "batch_size", lambda c: c.batch_size, "sac.py: batch_size"),
        Setting(("buffer_size",), "buffer_size", lambda c: c.buffer_size, "sac.py: buffer_size"),
        Setting(("learning_starts",), "learning_starts", lambda c: c.learning_starts,
                "off_policy_algorithm.py: uniformly random actions, and no update, before learning_starts steps"),
        Setting(("train_frequency",), "train_freq", lambda c: c.train_frequency, "sac.py: train_freq, env steps "
                "between learning phases"),
        Setting(("gradient_steps",), "gradient_steps", lambda c: c.gradient_steps, "sac.py: gradient_steps"),
        Setting((), "target_update_interval", lambda c: 1, "sac.py: target_update_interval; ours after every update"),
        Setting(("hidden_layers", "hidden_size"), "policy_kwargs.net_arch",
                lambda c: [c.hidden_size] * c.hidden_layers, "sac/policies.py: net_arch of the actor and both critics "
                "(ReLU, SB3's default activation_fn; two critics, n_critics 2; log std clipped to [-20, 2] as ours)"),
        Setting(("target_entropy_per_action",), "target_entropy", lambda c: c.target_entropy_per_action * int(np.prod(
            task_spaces(c.env_id, c.env_protocol, c.env_backend)[1].shape)), "sac.py: target_entropy ('auto' is "
            "-dim(A), ours' per-action target times dim(A))"),
        Setting(("initial_temperature",), "ent_coef", lambda c: f"auto_{c.initial_temperature:g}",
                "sac.py: ent_coef 'auto_X', learned starting at X"),
        Setting(("checkpoint_replay",), "checkpoint.replay_buffer", lambda c: c.checkpoint_replay,
                "the run's checkpoints hold SB3's replay memory when ours hold our own"),
    ),
    "trpo": (
        Setting((), "env.n_envs", lambda c: 1, "one env, as Baselines' run_mujoco and ours"),
        Setting(("n_steps",), "n_steps", lambda c: c.n_steps, "trpo.py: n_steps, steps per env per update"),
        Setting(("discount",), "gamma", lambda c: c.discount, "trpo.py: gamma"),
        Setting(("gae_lambda",), "gae_lambda", lambda c: c.gae_lambda, "trpo.py: gae_lambda"),
        Setting((), "normalize_advantage", lambda c: True, "trpo.py: normalize_advantage, over the whole batch as ours"),
        Setting(("max_kl",), "target_kl", lambda c: c.max_kl, "trpo.py: target_kl, the trust region's delta: the "
                "step to its edge and the line search's bound"),
        Setting(("cg_iters",), "cg_max_steps", lambda c: c.cg_iters, "trpo.py: cg_max_steps, conjugate-gradient steps"),
        Setting(("cg_damping",), "cg_damping", lambda c: c.cg_damping, "trpo.py: cg_damping, added to F v as damping x v"),
        Setting(("line_search_steps",), "line_search_max_iter", lambda c: c.line_search_steps,
                "trpo.py: line_search_max_iter, step shrinkings tried before keeping theta_old"),
        Setting((), "line_search_shrinking_factor", lambda c: 0.5, "trpo.py: line_search_shrinking_factor (default "
                "0.8); ours halves the step, as the paper's App. C and Baselines"),
        Setting((), "sub_sampling_factor", lambda c: 1, "trpo.py: sub_sampling_factor subsamples the gradient, F v and "
                "the line search alike; 1: every transition (ours subsamples only F v: a Gap below)"),
        Setting(("vf_epochs",), "n_critic_updates", lambda c: c.vf_epochs, "trpo.py: n_critic_updates, passes over "
                "the batch fitting the value function"),
        Setting(("vf_minibatch_size",), "batch_size", lambda c: c.vf_minibatch_size,
                "trpo.py: batch_size, the value function's minibatch"),
        Setting(("vf_learning_rate",), "learning_rate", lambda c: c.vf_learning_rate, "trpo.py: learning_rate, of "
                "the Adam that fits the value function (the policy moves by the line search only)"),
        Setting((), "policy_kwargs.optimizer_kwargs", lambda c: {"eps": 1e-8}, "common/policies.py: Adam's eps "
                "(ActorCriticPolicy sets 1e-5 by default); ours is torch's default 1e-8, as Baselines' MpiAdam"),
        Setting(("hidden_layers", "hidden_size"), "policy_kwargs.*", actor_critic_network,
                "common/policies.py ActorCriticPolicy: separate pi and vf MLPs, tanh, ortho_init, log_std_init 0"),
        Setting(("normalize_observations",), "env.norm_obs", lambda c: c.normalize_observations,
                "vec_normalize.py: norm_obs, running mean/std updated at every step, std sqrt(var + 1e-8), as ours"),
        Setting((), "env.norm_reward", lambda c: False, "vec_normalize.py: norm_reward; TRPO's rewards are raw"),
        Setting(("discount",), "env.gamma", lambda c: c.discount, "vec_normalize.py: gamma (unused without norm_reward)"),
        Setting(("observation_clip",), "env.clip", lambda c: c.observation_clip, "vec_normalize.py: clip_obs"),
    ),
}

GAPS: dict[str, tuple[Gap, ...]] = {
    "a2c": (),
    "ppo": (
        Gap(("normalize_advantages",), lambda c: c.normalize_advantages == "rollout",
            "advantages: ours standardised over the whole rollout (Baselines ppo1); SB3 standardises each minibatch"),
        Gap(("objective", "kl_coef", "kl_target"), lambda c: c.objective != "clip",
            "surrogate objective: SB3's PPO has only the clipped one (its target_kl stops an update early, a different "
            "rule from the PPO paper's KL penalty)"),
    ),
    "dqn": (
        Gap(("anneal_after_learning_starts",), lambda c: c.anneal_after_learning_starts,
            "epsilon: ours starts falling at learning_starts; SB3's falls from step 0 (its schedule is a share of the "
            "whole budget)"),
        Gap(("optimizer", "gradient_momentum"), lambda c: c.optimizer == "dqn_rmsprop",
            "optimizer: SB3 has no DeepMind RMSProp; torch's centered RMSprop instead"),
        Gap(("double",), lambda c: c.double, "Double DQN: SB3's DQN has no double target"),
        Gap(("dueling",), lambda c: c.dueling, "dueling head: SB3's DQN has none"),
        Gap(("prioritized", "priority_exponent", "importance_sampling_start"), lambda c: c.prioritized,
            "prioritized replay: SB3's DQN samples uniformly"),
        Gap((), lambda c: True, "initialisation: ours orthogonal (common/nets.py); SB3's DQN keeps torch's default "
            "(Kaiming-uniform) layers"),
    ),
    "trpo": (
        Gap(("fvp_every",), lambda c: c.fvp_every > 1, "Fisher-vector products: ours on every fvp_every-th transition "
            "(Baselines' trpo_mpi); sb3-contrib's on all of them (its sub_sampling_factor would thin the gradient and "
            "the line search too)"),
        Gap(("line_search_kl_factor",), lambda c: True, "line search: ours accepts a mean KL[pi_old, pi] <= "
            "line_search_kl_factor x max_kl and a surrogate above the old one; sb3-contrib's a mean KL[pi, pi_old] "
            "strictly below max_kl (the other direction; the Fisher matrix at theta_old is the same for both)"),
        Gap((), lambda c: True, "value minibatches: ours drop the last partial one (Baselines' trpo_mpi); "
            "sb3-contrib's RolloutBuffer keeps it"),
    ),
    "sac": (
        Gap((), lambda c: True, "initialisation: ours Glorot-uniform (softlearning's, Keras's default); SB3's SAC "
            "keeps torch's default (Kaiming-uniform) layers"),
        Gap((), lambda c: True, "update order: SB3 steps the temperature, then the critics, then the policy; ours the "
            "critics, the policy, then the temperature (both use alpha from before its step)"),
    ),
}


def uncovered(algorithm: str) -> list[str]:
    """Our algorithm's settings that no row of SETTINGS or GAPS reads (none, when the tables are complete)."""
    read = {name for row in (*SETTINGS[algorithm], *GAPS[algorithm]) for name in row.ours}
    return sorted(field.name for field in dataclasses.fields(algos.load(algorithm).Config)
                  if field.name not in RUN_FIELDS and field.name not in read)


@config_class
class Config(RunConfig):
    """The run's fields (env id, budget, evaluation) are RunConfig's; those not given are our algorithm's, at its
    preset for the task."""

    PRESETS: ClassVar[dict[str, dict]] = {}  # the preset is our algorithm's: `preset` is passed on to it

    algorithm: str = "ppo"
    """our algorithm whose settings SB3's (or sb3-contrib's) class of the same name runs at: a2c | ppo | dqn | sac |
    trpo"""

    def __post_init__(self) -> None:
        require(self.algorithm in SETTINGS, "algorithm", f"one of {list(SETTINGS)}", self.algorithm)
        envs.check_env_id(self.env_id)
        require(envs.family_of(self.env_id)[0] != "atari", "env_id",
                "a task that is not Atari (SB3's Atari references are examples.sb3_ppo and examples.sb3_dqn)",
                self.env_id)
        given = {name: getattr(self, name) for name in self.given() if name in RUN_FIELDS}
        ours = algos.load(self.algorithm).Config(**{**given, "env_id": self.env_id, "preset": self.preset})
        for name in RUN_FIELDS:
            if name not in given:
                setattr(self, name, getattr(ours, name))
        object.__setattr__(self, "_ours", ours)
        super().__post_init__()

    def ours(self) -> RunConfig:
        """Our algorithm's config for this run: its preset on the task, with this run's budget and evaluation."""
        return self._ours


# --- the SB3 model -----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arguments:
    model: dict  # SB3's constructor arguments
    env: dict  # the training VecEnv: n_envs, and VecNormalize's settings
    checkpoint: dict
    rows: list[dict]  # each row of the table with our values and SB3's, for sb3_settings.json
    differences: list[str]


def plain(value: object) -> object:
    """`value` as strict JSON can hold it: SB3's and torch's objects as text, an infinite bound as "inf"."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value if isinstance(value, (str, int, float, bool, type(None))) else str(value)


def sb3_arguments(algorithm: str, ours: RunConfig) -> Arguments:
    model, env, checkpoint, rows = {"policy_kwargs": {}}, {"n_envs": 1}, {}, []
    for row in SETTINGS[algorithm]:
        value = row.value(ours)
        where, _, name = row.sb3.partition(".")
        if row.sb3 == "policy_kwargs.*":
            model["policy_kwargs"].update(value)
        elif where == "policy_kwargs":
            model["policy_kwargs"][name] = value
        elif where in ("env", "checkpoint"):
            (env if where == "env" else checkpoint)[name] = value
        else:
            model[row.sb3] = value
        rows.append({"ours": {field: getattr(ours, field) for field in row.ours}, "sb3": row.sb3,
                     "value": value, "source": row.source})
    differences = [gap.text for gap in GAPS[algorithm] if gap.when(ours)]
    return Arguments(model, env, checkpoint, rows, differences)


def build(config: Config, seed: int):
    """(SB3 model, its training VecEnv, the VecNormalize in it or None, the Arguments) for one run."""
    import importlib

    from stable_baselines3.common.vec_env import VecNormalize

    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    arguments = sb3_arguments(config.algorithm, config.ours())
    env = our_training_envs(environment, arguments.env["n_envs"], seed)
    normalization = None
    if arguments.env.get("norm_obs") or arguments.env.get("norm_reward"):
        env = normalization = VecNormalize(env, norm_obs=arguments.env["norm_obs"],
                                           norm_reward=arguments.env["norm_reward"], gamma=arguments.env["gamma"],
                                           clip_obs=arguments.env["clip"], clip_reward=arguments.env["clip"])
    module, name = SB3_CLASSES[config.algorithm]
    model_class = getattr(importlib.import_module(module), name)
    model = model_class("MlpPolicy", env, seed=seed, device=str(resolve_device(config.device)), verbose=0,
                        **arguments.model)
    return model, env, normalization, arguments


def evaluation_policy(model, config: Config, normalization) -> Callable[[np.ndarray], np.ndarray]:
    """act(observations) on our evaluation envs: SB3's policy, its mode with eval_deterministic (ours' value: always
    for Q-learning, whose eval_epsilon envs.evaluate adds, as for ours), on observations normalised with the training
    statistics, frozen, where the run normalises them."""
    normalize = normalization.normalize_obs if normalization is not None and normalization.norm_obs else None

    def act(observations: np.ndarray) -> np.ndarray:
        if normalize is not None:
            observations = normalize(observations)
        return model.policy.predict(observations, deterministic=config.eval_deterministic)[0]

    return act


def extra_state(model, normalization, arguments: Arguments) -> Extra:
    """What SB3's get_parameters leaves out and a resumed run needs: its saved tensors (SAC's log temperature), the
    update counters its target updates and schedules read, VecNormalize's statistics, the replay memory if asked."""
    variables = model._get_torch_save_params()[1]  # SB3's own list of what to save beside the state dicts
    counters = [name for name in ("_n_calls", "_n_updates", "_episode_num") if hasattr(model, name)]

    def save() -> dict:
        state = {"variables": {name: getattr(model, name).detach().clone() for name in variables},
                 "counters": {name: getattr(model, name) for name in counters}}
        if normalization is not None:
            state["normalization"] = {"obs_rms": normalization.obs_rms, "ret_rms": normalization.ret_rms}
        if arguments.checkpoint.get("replay_buffer"):
            state["replay_buffer"] = model.replay_buffer
        return state

    def restore(saved: dict) -> None:
        with torch.no_grad():
            for name, value in saved["variables"].items():
                getattr(model, name).copy_(value)  # in place: SB3's optimizers hold these tensors
        for name, value in saved["counters"].items():
            setattr(model, name, value)
        if "normalization" in saved:
            normalization.obs_rms, normalization.ret_rms = (saved["normalization"][key] for key in ("obs_rms", "ret_rms"))
        if "replay_buffer" in saved:
            model.replay_buffer = saved["replay_buffer"]

    return Extra(save, restore)


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    model, env, normalization, arguments = build(config, seed=0)
    model.set_parameters(state["parameters"])
    extra_state(model, normalization, arguments).restore(state)
    env.close()
    return evaluation_policy(model, config, normalization)


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    torch.set_num_threads(config.torch_threads)
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    model, env, normalization, arguments = build(config, seed)
    act = evaluation_policy(model, config, normalization)
    with RunLogger(run_dir, config, environment, seed, "examples.sb3_control", str(model.device), resume) as log:
        write_json(log.dir / "deviations.json", {
            "algo": "examples.sb3_control", "reference": reference_name(config.algorithm),
            "ours": f"algos.{config.algorithm}", "preset": config.preset, "differences": arguments.differences})
        write_json(log.dir / "sb3_settings.json", {"table": plain(arguments.rows), "in_effect": sb3_settings(model)})
        learn(model, config, log, act, extra=extra_state(model, normalization, arguments), evaluate_after_updates=True)
    env.close()
    return log.result


def reference_name(algorithm: str) -> str:
    """The reference's release and class, e.g. "sb3_contrib 2.9.2 TRPO"."""
    module, name = SB3_CLASSES[algorithm]
    return f"{RELEASES[module]} {name}"


def sb3_settings(model) -> dict:
    """The settings in effect, read back from the SB3 model (and its VecEnv), SB3's defaults included."""
    optimizers = {"policy": model.policy.optimizer} if hasattr(model.policy, "optimizer") else {
        "actor": model.actor.optimizer, "critic": model.critic.optimizer}
    settings = {"class": type(model).__name__, "n_envs": model.n_envs, "gamma": model.gamma,
                "learning_rate_at_start": model.lr_schedule(1.0), "learning_rate_at_half": model.lr_schedule(0.5),
                "optimizers": {name: {"class": type(optimizer).__name__,
                                      **{key: optimizer.defaults[key] for key in ("eps", "alpha", "centered", "betas")
                                         if key in optimizer.defaults}}
                               for name, optimizer in optimizers.items()},
                "policy": repr(model.policy)}
    names = {"A2C": ("n_steps", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "normalize_advantage"),
             "PPO": ("n_steps", "n_epochs", "batch_size", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm",
                     "normalize_advantage"),
             "DQN": ("buffer_size", "batch_size", "learning_starts", "train_freq", "gradient_steps",
                     "target_update_interval", "tau", "n_steps", "exploration_initial_eps", "exploration_final_eps",
                     "exploration_fraction", "max_grad_norm"),
             "SAC": ("buffer_size", "batch_size", "learning_starts", "train_freq", "gradient_steps",
                     "target_update_interval", "tau", "n_steps", "target_entropy"),
             "TRPO": ("n_steps", "batch_size", "gae_lambda", "target_kl", "cg_max_steps", "cg_damping",
                      "line_search_shrinking_factor", "line_search_max_iter", "n_critic_updates",
                      "sub_sampling_factor", "normalize_advantage")}[type(model).__name__]
    settings.update({name: getattr(model, name) for name in names})
    if type(model).__name__ == "PPO":
        settings["clip_range_at_start"] = model.clip_range(1.0)
        settings["clip_range_at_half"] = model.clip_range(0.5)
        settings["clip_range_vf"] = None if model.clip_range_vf is None else model.clip_range_vf(1.0)
    if type(model).__name__ == "SAC":
        settings["initial_temperature"] = float(model.log_ent_coef.detach().exp())
    return plain(settings)


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "examples.sb3_control", __doc__)
