"""TRPO: trust region policy optimization (Schulman et al. 2015, "Trust Region Policy Optimization",
arXiv:1502.05477), as the PPO paper compared with it on MuJoCo (Schulman et al. 2017, section 6.2).

Each iteration runs the policy for `n_steps` environment steps, computes GAE(lambda) advantages A_t
(standardised over the batch) and value targets R_t = A_t + V(s_t), and then:
  1. g, the gradient of the surrogate L(theta) = mean(pi_theta(a_t|s_t) / pi_old(a_t|s_t) A_t) at theta_old;
  2. s ~ F^-1 g by `cg_iters` steps of conjugate gradient (App. C), where the Fisher-vector product F v
     is the Hessian of the mean KL[pi_old, pi_theta] at theta_old times v, by double back-propagation
     (App. C.1), plus `cg_damping` v;
  3. the largest step of the quadratic model within the trust region KL <= delta: beta s with
     beta = sqrt(2 delta / s^T F s) (App. C);
  4. a backtracking line search (App. C): the step is halved, at most `line_search_steps` times, until
     the surrogate improves on L(theta_old) and the measured mean KL[pi_old, pi] is within
     line_search_kl_factor x delta; if no step qualifies, the policy stays theta_old;
  5. the value function, a network of its own, is fitted to R_t by `vf_epochs` epochs of Adam.

The paper fixes delta = 0.01 and CG's iterations at 10; it gives no damping, batch, network or
value-fitting settings for MuJoCo-Gym. Those are OpenAI Baselines' trpo_mpi as run_mujoco ran it in
mid-2017 (the TRPO of the PPO paper's time; baselines/trpo_mpi/run_mujoco.py at 0f884b4 and
trpo_mpi.py at 07c82d7, MlpPolicy from baselines/pposgd/mlp_policy.py), each field citing which.
A run's score is the PPO paper's: the mean return of the last 100 training episodes.

Deviations from Baselines (each run lists them in deviations.json): the line search accepts only a
step within the KL bound itself (Baselines: 1.5 delta; `--line-search-kl-factor 1.5` gives theirs) and
a strict improvement (Baselines: no decrease); observations are normalised by a running mean and
std updated at every step, std sqrt(var + 1e-8) (Baselines: updated with each batch before its
update, std sqrt(max(var, 1e-2))), clipped to +-5 as theirs; orthogonal initialisation, as our PPO
(Baselines: normalised columns); time-limit truncations bootstrap from V(last state) (Baselines:
terminal); gymnasium's autoreset steps enter no loss.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, ClassVar

import torch
from torch.distributions import kl_divergence
from torch.nn.utils import parameters_to_vector, vector_to_parameters

import envs
from common.actor_critic import ActorCritic, acting_policy, evaluation_policy, gae, standardize
from common.config import RunConfig, config_class, resolve_device
from common.nets import action_sizes, observation_box, spaces
from common.rollout import Rollout
from common.rundir import RunLogger, RunResult, check_finite
from core.errors import require
from core.files import write_json
from envs.normalize import normalization_state, normalized, save_normalization

PAPER = "Schulman et al. 2015, arXiv:1502.05477"
SOURCE = ("delta and CG iterations from the paper (App. C); the rest from OpenAI Baselines' trpo_mpi run_mujoco "
          "(mid-2017: run_mujoco.py 0f884b4, trpo_mpi.py 07c82d7, pposgd/mlp_policy.py)")


@config_class
class Config(RunConfig):
    # One setting, Baselines' run_mujoco (the defaults below); on other tasks it runs as it is, untuned.
    PRESETS: ClassVar[dict[str, dict]] = {"mujoco": {}}
    network: ClassVar[str] = "auto"  # an MLP on vector observations (common.nets.encoder)
    shared_network: ClassVar[bool] = False  # the policy and the value function are separate networks (MlpPolicy)

    n_steps: int = 1024
    """environment steps per iteration, one env (Baselines run_mujoco: timesteps_per_batch 1024)"""
    max_kl: float = 0.01
    """delta, the trust region's bound on the mean KL[pi_old, pi] (paper: 0.01; Baselines run_mujoco: 0.01)"""
    cg_iters: int = 10
    """conjugate-gradient iterations for F^-1 g (paper App. C: 10; Baselines run_mujoco: 10)"""
    cg_damping: float = 0.1
    """added to the Fisher-vector product as damping x v (Baselines run_mujoco: 0.1; the paper gives none)"""
    fvp_every: int = 5
    """Fisher-vector products on every k-th transition of the batch (Baselines trpo_mpi: every 5th; the paper: a subsample)"""
    line_search_steps: int = 10
    """step halvings the line search tries before keeping theta_old (Baselines trpo_mpi: 10)"""
    line_search_kl_factor: float = 1.0
    """a step is accepted when its mean KL <= this x max_kl: 1, the paper's constraint (Baselines trpo_mpi: 1.5)"""
    discount: float = 0.99
    """reward discount gamma (Baselines run_mujoco: 0.99)"""
    gae_lambda: float = 0.98
    """lambda of generalized advantage estimation (Baselines run_mujoco: 0.98)"""
    vf_epochs: int = 5
    """passes of Adam over the batch fitting the value function per iteration (Baselines run_mujoco: vf_iters 5)"""
    vf_learning_rate: float = 1e-3
    """the value function's Adam step size (Baselines run_mujoco: vf_stepsize 1e-3)"""
    vf_minibatch_size: int = 64
    """transitions per value-function minibatch; the last partial one is dropped (Baselines trpo_mpi: 64)"""
    hidden_layers: int = 2
    """hidden layers of the policy's and of the value function's MLPs (Baselines run_mujoco: 2, tanh)"""
    hidden_size: int = 32
    """units per hidden layer (Baselines run_mujoco: 32)"""
    normalize_observations: bool = True
    """normalise observations by their running mean and std (Baselines MlpPolicy's observation filter)"""
    observation_clip: float = 5.0
    """normalised observations are clipped to +-this (Baselines MlpPolicy: 5)"""
    total_steps: int = 1_000_000
    """training budget in environment steps (the PPO paper's MuJoCo budget, section 6.1)"""
    eval_interval: int = 50_000
    """environment steps between evaluations (one more runs at the end of training)"""
    score_rule: str = "train_last_100"
    """how the run's final score is computed: eval_last_10pct | train_last_100 (the PPO paper's)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.n_steps > 0, "n_steps", "a positive number of steps", self.n_steps)
        require(self.max_kl > 0, "max_kl", "a positive KL", self.max_kl)
        require(self.cg_iters > 0, "cg_iters", "a positive number of iterations", self.cg_iters)
        require(self.cg_damping >= 0, "cg_damping", "0 or more", self.cg_damping)
        require(self.fvp_every > 0, "fvp_every", "a positive stride", self.fvp_every)
        require(self.line_search_steps > 0, "line_search_steps", "a positive number", self.line_search_steps)
        require(self.line_search_kl_factor > 0, "line_search_kl_factor", "a positive factor", self.line_search_kl_factor)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(0.0 <= self.gae_lambda <= 1.0, "gae_lambda", "a number in [0, 1]", self.gae_lambda)
        require(self.vf_epochs >= 0, "vf_epochs", "0 or more", self.vf_epochs)
        require(self.vf_learning_rate > 0, "vf_learning_rate", "a positive number", self.vf_learning_rate)
        require(0 < self.vf_minibatch_size <= self.n_steps, "vf_minibatch_size",
                f"a positive number of transitions, at most n_steps = {self.n_steps}", self.vf_minibatch_size)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.observation_clip > 0, "observation_clip", "a positive bound", self.observation_clip)


    @staticmethod
    def preset_for(env_id: str) -> str:
        return "mujoco"


def deviations(config: Config) -> list[str]:
    notes = []
    if config.line_search_kl_factor != 1.5:
        notes.append(f"line search accepts a mean KL up to {config.line_search_kl_factor} x max_kl "
                     "(Baselines trpo_mpi: 1.5) and only a strict improvement (Baselines: no decrease)")
    if config.normalize_observations:
        notes.append("observations normalised by running statistics updated at every step, std sqrt(var + 1e-8) "
                     "(Baselines: updated with each batch before its update, std sqrt(max(var, 1e-2)))")
    notes += ["advantages standardised over the batch (Baselines trpo_mpi; not in the paper's text)",
              "orthogonal initialisation (Baselines MlpPolicy: normalised columns)",
              "time-limit truncations bootstrap from V(last state); Baselines treated them as terminal"]
    return notes


def make_model(space, action_size: int, discrete: bool, config: Config) -> ActorCritic:
    return ActorCritic(space, action_size, discrete, config)


def policy_parameters(model: ActorCritic) -> list[torch.nn.Parameter]:
    """theta: what the trust-region step moves (the policy network and the Gaussian's log std)."""
    return [*model.actor_body.parameters(), *model.actor.parameters(), *model.head.parameters()]


def value_parameters(model: ActorCritic) -> list[torch.nn.Parameter]:
    return [*model.critic_body.parameters(), *model.critic.parameters()]


def flat_gradient(output: torch.Tensor, parameters: list[torch.nn.Parameter], **options) -> torch.Tensor:
    return torch.cat([part.reshape(-1) for part in torch.autograd.grad(output, parameters, **options)])


def fisher_vector_product(mean_kl: torch.Tensor, parameters: list[torch.nn.Parameter],
                          damping: float) -> Callable[[torch.Tensor], torch.Tensor]:
    """v -> (H + damping I) v, H the Hessian of `mean_kl` (KL[pi_old, pi_theta] with pi_old held fixed, at
    theta = theta_old, where it equals the Fisher information of pi) in `parameters`: the gradient of
    (grad KL) . v, without ever forming H (App. C.1)."""
    kl_gradient = flat_gradient(mean_kl, parameters, create_graph=True)

    def product(vector: torch.Tensor) -> torch.Tensor:
        return flat_gradient(kl_gradient @ vector, parameters, retain_graph=True) + damping * vector

    return product


def conjugate_gradient(product: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, iterations: int,
                       residual_tolerance: float = 1e-10) -> torch.Tensor:
    """x ~ A^-1 b for a symmetric positive-definite A known only through `product(v) = A v`: conjugate
    gradient from x = 0, stopping early once the squared residual is below `residual_tolerance`."""
    x = torch.zeros_like(b)
    residual, direction = b.clone(), b.clone()
    residual_norm = residual @ residual
    for _ in range(iterations):
        if residual_norm < residual_tolerance:
            break
        a_direction = product(direction)
        step = residual_norm / (direction @ a_direction)
        x += step * direction
        residual -= step * a_direction
        new_norm = residual @ residual
        direction = residual + (new_norm / residual_norm) * direction
        residual_norm = new_norm
    return x


def trust_region_step(direction: torch.Tensor, product: Callable[[torch.Tensor], torch.Tensor],
                      max_kl: float) -> torch.Tensor:
    """The step along `direction` at which the quadratic model of the KL, 1/2 x^T F x, reaches max_kl (App. C)."""
    return direction * torch.sqrt(2 * max_kl / (direction @ product(direction)))


def line_search(surrogate_and_kl: Callable[[torch.Tensor], tuple[float, float]], start: torch.Tensor,
                full_step: torch.Tensor, surrogate_before: float, max_kl: float, halvings: int,
                kl_factor: float) -> tuple[torch.Tensor, float]:
    """Backtracking (App. C): the first of start + full_step, start + full_step / 2, ... (`halvings` tries)
    whose surrogate is finite and above `surrogate_before` and whose mean KL is finite and within
    kl_factor x max_kl; (that point, its step fraction), or (start, 0.0) when none qualifies."""
    fraction = 1.0
    for _ in range(halvings):
        candidate = start + fraction * full_step
        surrogate, kl = surrogate_and_kl(candidate)
        finite = torch.isfinite(torch.tensor([surrogate, kl])).all()
        if finite and surrogate > surrogate_before and kl <= kl_factor * max_kl:
            return candidate, fraction
        fraction /= 2
    return start, 0.0


def policy_from_checkpoint(config: Config, environment: envs.Environment, state: dict):
    """The evaluation `act` of a saved run, on `environment` (its spaces must be the run's)."""
    model = make_model(*spaces(environment), config)
    model.load_state_dict(state["model"])
    return evaluation_policy(model, config.eval_deterministic, torch.device("cpu"), state["normalization"])


def train(config: Config, seed: int, run_dir: Path | str, resume: bool = False) -> RunResult:
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    device = resolve_device(config.device)
    T = config.n_steps
    normalize = lambda env, **given: normalized(  # noqa: E731
        env, True, False, config.discount, config.observation_clip, **given)
    env, observation = envs.make(environment, 1, seed)
    if config.normalize_observations:
        env, observation = normalize(env, seeds=envs.env_seeds(seed, 1))
    space = observation_box(env.single_observation_space)
    action_size, discrete = action_sizes(env.single_action_space)
    model = make_model(space, action_size, discrete, config).to(device)
    policy, value = policy_parameters(model), value_parameters(model)
    value_optimizer = torch.optim.Adam(value, lr=config.vf_learning_rate)  # Baselines' MpiAdam: Adam's defaults
    rollout = Rollout(T, 1, space, action_size, discrete, observation)
    tensor = lambda array: torch.as_tensor(array, device=device)  # noqa: E731
    sample = acting_policy(model, deterministic=False, device=device)  # training always samples
    statistics = lambda: normalization_state(env) if config.normalize_observations else None  # noqa: E731

    step = 0
    with RunLogger(run_dir, config, environment, seed, "trpo", str(device), resume) as log:
        write_json(log.dir / "deviations.json", {"paper": PAPER, "preset": config.preset, "source": SOURCE,
                                                 "deviations": deviations(config)})
        log.checkpoint_with(lambda: {"model": model.state_dict(), "value_optimizer": value_optimizer.state_dict(),
                                     "rollout": rollout.state(env), "step": step, "normalization": statistics()})
        saved = log.resume()
        if saved is not None:
            model.load_state_dict(saved["model"])
            value_optimizer.load_state_dict(saved["value_optimizer"])
            step = saved["step"]
            env.close()
            prepare = ((lambda fresh: normalize(fresh, statistics=saved["normalization"]))
                       if config.normalize_observations else None)
            env = rollout.resume(saved["rollout"], environment, seed, step, prepare)
        while step < config.total_steps:
            step = rollout.collect(env, sample, step, log)
            with torch.no_grad():
                output, values = model(tensor(rollout.observations).flatten(0, 1))
                advantages, returns = gae(tensor(rollout.rewards), values.view(T + 1, 1), tensor(rollout.terminated),
                                          tensor(rollout.truncated), config.discount, config.gae_lambda)
            keep = tensor(rollout.valid).flatten()
            observations = tensor(rollout.observations[:T]).flatten(0, 1)[keep]
            actions = tensor(rollout.actions).flatten(0, 1)[keep]
            old_outputs = output[:T][keep]
            advantages, returns = standardize(advantages.flatten()[keep]), returns.flatten()[keep]
            old_head = copy.deepcopy(model.head)  # pi_old's own parameters (a Gaussian's log std)
            old_distribution = old_head(old_outputs)
            old_log_probs = old_distribution.log_prob(actions)

            def surrogate_and_kl() -> tuple[torch.Tensor, torch.Tensor]:
                distribution = model.head(model.policy(observations))
                ratio = (distribution.log_prob(actions) - old_log_probs).exp()
                return (ratio * advantages).mean(), kl_divergence(old_distribution, distribution).mean()

            def at(theta: torch.Tensor) -> tuple[float, float]:
                with torch.no_grad():
                    vector_to_parameters(theta, policy)
                    surrogate, kl = surrogate_and_kl()
                return surrogate.item(), kl.item()

            surrogate_before, _ = surrogate_and_kl()
            gradient = flat_gradient(surrogate_before, policy)
            fraction, kl = 0.0, 0.0
            theta_old = parameters_to_vector(policy).detach()
            if gradient.abs().max() > 0:
                every = slice(None, None, config.fvp_every)
                sampled = model.head(model.policy(observations[every]))
                product = fisher_vector_product(kl_divergence(old_head(old_outputs[every]), sampled).mean(), policy,
                                                config.cg_damping)
                direction = conjugate_gradient(product, gradient, config.cg_iters)
                full_step = trust_region_step(direction, product, config.max_kl)
                theta, fraction = line_search(at, theta_old, full_step.detach(), surrogate_before.item(),
                                              config.max_kl, config.line_search_steps, config.line_search_kl_factor)
                _, kl = at(theta)

            value_losses = []
            count = len(returns)
            for _ in range(config.vf_epochs):
                order = torch.randperm(count, device=device)
                for start in range(0, count - config.vf_minibatch_size + 1, config.vf_minibatch_size):
                    indices = order[start:start + config.vf_minibatch_size]
                    predicted = model.critic(model.critic_body(observations[indices])).squeeze(-1)
                    value_loss = (predicted - returns[indices]).pow(2).mean()
                    check_finite(step, value_loss=value_loss.item())
                    value_optimizer.zero_grad()
                    value_loss.backward()
                    value_optimizer.step()
                    value_losses.append(value_loss.item())
            check_finite(step, surrogate=surrogate_before.item(), kl=kl)
            losses = {"surrogate": surrogate_before.item(), "kl": kl, "step_fraction": fraction}
            if value_losses:
                losses["value_loss"] = sum(value_losses) / len(value_losses)
            log.after_update(step, losses, evaluation_policy(model, config.eval_deterministic, device, statistics()))
        if config.normalize_observations:
            save_normalization(env, log.dir / "normalization.json")
    env.close()
    return log.result


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.trpo", __doc__)
