"""A3C: asynchronous advantage actor-critic (Mnih et al. 2016, "Asynchronous Methods for Deep
Reinforcement Learning", ICML; arXiv:1602.01783, Algorithm S3 and supplementary section 8).

`workers` processes each own one environment and a local copy of the network. A worker syncs its
copy from the global network, acts for t_max steps or to the end of the episode, and accumulates
the n-step advantage actor-critic gradient of the rollout (Algorithm S3):

    R = 0 at a terminal state, V(s_t) otherwise (and V(last state) at a time-limit truncation)
    for i = t-1 .. t_start:  R <- r_i + discount * R
        d_theta   += grad log pi(a_i|s_i) (R - V(s_i)) + entropy_coef * grad H(pi(.|s_i))
        d_theta_v += grad (R - V(s_i))^2

then applies it once, lock-free, to the global network in shared memory, with RMSProp whose
squared-gradient average is shared by all workers too ("shared RMSProp", section 7). No barrier:
every worker runs at its own pace. A2C (algos/a2c.py) is the same learner made synchronous; the
network, the n-step returns and the loss are imported from there, so the two differ in synchrony.

Defaults (section 8 unless noted): t_max 5, discount 0.99, RMSProp decay 0.99, entropy weight
0.01, learning rate annealed linearly to 0. Values the paper leaves out come from its authors'
reply quoted at github.com/miyosuda/async_deep_reinforce/issues/1 (2016): RMSProp epsilon 0.1,
gradient-norm clip 40, best learning rates "around 7e-4". The paper's learning rate protocol,
each run drawing its own from LogUniform(1e-4, 1e-2) and the best 5 of 50 runs reported, is
`--lr-protocol sampled`: run n seeds with it and keep the best k; config.json records the drawn rate.
Atari uses the network of Mnih et al. 2013 (`a3c_cnn`), with `--lstm` the paper's 256-cell LSTM
after it; vector observations use the MLP of A2C.

Deliberate deviations:
- `workers` defaults to this machine's CPU cores, not the paper's 16 threads on 16 cores: A3C's
  throughput comes from one learner per core; more processes than cores only time-slice, which
  makes every update staler without adding steps per second.
- Processes, not threads (Python's threads would serialise on the GIL); the global step counter
  advances after each update rather than each step, so the budget may overshoot by < workers * t_max.
- The rollout also stops at a truncation, which bootstraps from V(last state) where the paper
  treats every episode end as terminal. Gymnasium's autoreset step after an episode end is
  taken at once and never learned from or counted.
- The value gradient is weighted by value_coef 0.5, i.e. grad 0.5 (R - V)^2 = -(R - V) grad V:
  with the layers shared, the pseudocode's separate d_theta_v becomes one weighted loss.
- Evaluations run in the coordinating process on a snapshot of the global network taken at an
  evaluation boundary (see algos/_async.py), while the workers go on training.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

import envs
from algos import _async
from common.actor_critic import ActorCritic, actor_critic_loss, n_step_returns
from common.config import RunConfig
from core.errors import require
from common.nets import ENCODERS, ActionHead, action_sizes, encoder, observation_space, orthogonal
from common.rundir import RunResult, check_finite


@dataclass
class Config(RunConfig):
    workers: int = _async.CPU_CORES
    """actor-learner processes, one environment each (paper: 16; default: this machine's CPU cores)"""
    t_max: int = 5
    """steps per worker between updates, fewer when the episode ends (the n of the n-step return)"""
    discount: float = 0.99
    """reward discount gamma"""
    learning_rate: float = 7e-4
    """RMSProp step size at the start of training (the authors' best rates were around 7e-4); replaced by
    the draw under lr_protocol sampled"""
    lr_protocol: str = "fixed"
    """fixed: learning_rate for every seed; sampled: each run draws its rate from LogUniform(1e-4, 1e-2)
    with its seed, as the paper did (then keep the best k of n seeds)"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the training budget"""
    rmsprop_alpha: float = 0.99
    """decay of the shared squared-gradient average"""
    rmsprop_eps: float = 0.1
    """RMSProp epsilon, added inside the square root as the paper writes the update (value from the authors)"""
    entropy_coef: float = 0.01
    """weight beta of the entropy bonus"""
    value_coef: float = 0.5
    """weight of the value loss (R - V)^2"""
    max_grad_norm: float = 40.0
    """clip each worker's gradient norm to this before applying it (value from the authors)"""
    lstm: bool = False
    """the paper's recurrent agent: an LSTM after the encoder, its state carried through an episode"""
    lstm_size: int = 256
    """cells of the LSTM"""
    shared_network: bool = True
    """actor and critic share the observation encoder (feed-forward network only; the LSTM is always shared)"""
    network: str = "auto"
    """observation encoder: auto (mlp for vectors, minatar_cnn, a3c_cnn for Atari), mlp, nature_cnn,
    a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP encoder"""
    hidden_size: int = 64
    """units per hidden layer of the MLP encoder"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.workers > 0, "workers", "a positive number of processes", self.workers)
        require(self.t_max > 0, "t_max", "a positive number of steps", self.t_max)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.lr_protocol in _async.LR_PROTOCOLS, "lr_protocol", f"one of {list(_async.LR_PROTOCOLS)}", self.lr_protocol)
        require(0.0 <= self.rmsprop_alpha < 1.0, "rmsprop_alpha", "a number in [0, 1)", self.rmsprop_alpha)
        require(self.rmsprop_eps > 0, "rmsprop_eps", "a positive number", self.rmsprop_eps)
        require(self.max_grad_norm > 0, "max_grad_norm", "a positive number", self.max_grad_norm)
        require(self.lstm_size > 0, "lstm_size", "a positive number of cells", self.lstm_size)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.network in ENCODERS, "network", f"one of {list(ENCODERS)}", self.network)
        require(self.shared_network or not self.lstm, "shared_network", "true with lstm (one LSTM feeds both outputs)",
                self.shared_network)
        require(self.device in ("auto", "cpu"), "device",
                "cpu or auto (the workers update one network in shared CPU memory)", self.device)


class SharedRMSprop:
    """RMSProp whose statistics every worker reads and updates in shared memory (section 7's
    "shared RMSProp"), lock-free like the parameters:

        g     <- alpha * g + (1 - alpha) * gradient^2
        theta <- theta - lr * gradient / sqrt(g + eps)

    All state is created here, before the workers start, and moved to shared memory, so that the
    workers, which receive this object, all update the same tensors."""

    def __init__(self, parameters, alpha: float, eps: float):
        self.parameters = list(parameters)
        self.alpha, self.eps = alpha, eps
        self.square_averages = [torch.zeros_like(p).share_memory_() for p in self.parameters]
        self.steps = torch.zeros((), dtype=torch.int64).share_memory_()

    @torch.no_grad()
    def step(self, gradients: list[torch.Tensor | None], lr: float) -> None:
        """Apply one worker's gradients (in the order of `parameters`) to the shared parameters."""
        for parameter, square_average, gradient in zip(self.parameters, self.square_averages, gradients, strict=True):
            if gradient is None:
                continue
            square_average.mul_(self.alpha).addcmul_(gradient, gradient, value=1 - self.alpha)
            parameter.addcdiv_(gradient, square_average.add(self.eps).sqrt_(), value=-lr)
        self.steps.add_(1)


class RecurrentActorCritic(nn.Module):
    """The paper's recurrent A3C: the encoder, an LSTM, then linear policy and value outputs."""

    def __init__(self, space, action_size: int, discrete: bool, config: Config):
        super().__init__()
        self.body, features = encoder(space, config.network, "a3c_cnn", config.hidden_layers, config.hidden_size)
        self.lstm = nn.LSTMCell(features, config.lstm_size)
        self.actor = orthogonal(nn.Linear(config.lstm_size, action_size), 0.01)  # near-uniform initial policy
        self.critic = orthogonal(nn.Linear(config.lstm_size, 1), 1.0)
        self.head = ActionHead(action_size, discrete)

    def forward(self, observations: torch.Tensor, state: tuple | None):
        """Policy outputs (T, B, A) and values (T, B) along a (T, B, ...) sequence, and the LSTM
        state after it; `state` None is the zero state of an episode's start."""
        length, batch = observations.shape[:2]
        features = self.body(observations.flatten(0, 1)).view(length, batch, -1)
        outputs = []
        for t in range(length):
            state = self.lstm(features[t], state)
            outputs.append(state[0])
        hidden = torch.stack(outputs)
        return self.actor(hidden), self.critic(hidden).squeeze(-1), state


def make_model(space, action_size: int, discrete: bool, config: Config) -> nn.Module:
    if config.lstm:
        return RecurrentActorCritic(space, action_size, discrete, config)
    return ActorCritic(space, action_size, discrete, config, atari_network="a3c_cnn")


def unroll(model: nn.Module, observations: torch.Tensor, state: tuple | None):
    """(policy outputs (T, B, A), values (T, B), state after) for either network; the
    feed-forward one has no state."""
    if isinstance(model, RecurrentActorCritic):
        return model(observations, state)
    length, batch = observations.shape[:2]
    outputs, values = model(observations.flatten(0, 1))
    return outputs.view(length, batch, -1), values.view(length, batch), None


def collect_rollout(env, model: nn.Module, observation: np.ndarray, state: tuple | None, t_max: int):
    """Act on the policy for t_max steps or to the end of the episode: (the steps, the LSTM state
    before them, the observation and LSTM state to go on from). The state goes back to zero when
    the episode ends; the one before the rollout is the start of its truncated backpropagation."""
    start_state = state

    def choose(observation: np.ndarray) -> np.ndarray:
        nonlocal state
        with torch.no_grad():
            output, _, state = unroll(model, torch.as_tensor(observation)[None], state)
            return model.head(output[0]).sample().numpy()

    steps, observation = _async.collect(env, choose, observation, t_max)
    return steps, start_state, observation, None if steps.ended else state


def rollout_loss(model: nn.Module, steps: _async.Steps, state: tuple | None, discount: float, value_coef: float,
                 entropy_coef: float) -> tuple[torch.Tensor, dict]:
    """Algorithm S3's accumulated loss of one rollout: A2C's loss summed (not averaged) over its
    steps, the LSTM unrolled from `state` (no gradient flows into it)."""
    length = len(steps.rewards)
    tensor = torch.as_tensor
    outputs, values, _ = unroll(model, tensor(steps.observations), state)
    returns = n_step_returns(tensor(steps.rewards), values.detach(), tensor(steps.terminated),
                             tensor(steps.truncated), discount)
    distribution = model.head(outputs[:length])
    loss, parts = actor_critic_loss(distribution.log_prob(tensor(steps.actions)), distribution.entropy(),
                                    values[:length], returns, torch.ones(length, 1, dtype=torch.bool),
                                    value_coef, entropy_coef)
    return loss * length, parts  # the pseudocode sums per-step gradients; A2C's loss is their mean


def worker(link: _async.WorkerLink, config: Config, seed: int, shared_model: nn.Module,
           optimizer: SharedRMSprop) -> None:
    """One actor-learner (Algorithm S3), in its own process."""
    seed = _async.worker_seed(seed, link.rank)
    torch.manual_seed(seed)
    env, observation = envs.make(config.env_id, 1, seed, config.env_protocol, backend=config.env_backend)
    model = make_model(observation_space(env), *action_sizes(env), config)
    parameters, shared_parameters = list(model.parameters()), list(shared_model.parameters())
    state = None
    while not link.done():
        _async.sync(parameters, shared_parameters)
        steps, start_state, observation, state = collect_rollout(env, model, observation, state, config.t_max)
        loss, parts = rollout_loss(model, steps, start_state, config.discount, config.value_coef, config.entropy_coef)
        check_finite(link.step, loss=loss.item())
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        lr = _async.annealed(config.learning_rate, link.step, config.total_steps, config.anneal_lr)
        optimizer.step([parameter.grad for parameter in parameters], lr)
        _, step = link.add_steps(len(steps.rewards), shared_model)
        if steps.episode is not None:
            link.episode(step, *steps.episode)
        link.scalars(step, {**{f"losses/{name}": value for name, value in parts.items()}, "charts/learning_rate": lr})
    env.close()


def policy(model: nn.Module, deterministic: bool):
    """An evaluation `act` for a batch of environments, starting from a zero LSTM state."""
    state = None

    def act(observations: np.ndarray) -> np.ndarray:
        nonlocal state
        with torch.no_grad():
            output, _, state = unroll(model, torch.as_tensor(observations)[None], state)
            return model.head.act(output[0], deterministic).numpy()

    return act


def train(config: Config, seed: int, run_dir: Path | str) -> RunResult:
    config = _async.resolve_learning_rate(config, seed)  # before config.json is written
    torch.manual_seed(seed)
    torch.set_num_threads(config.torch_threads)
    probe = envs.make_vector(config.env_id, 1, seed, config.env_protocol, backend=config.env_backend)
    space, (action_size, discrete) = observation_space(probe), action_sizes(probe)
    probe.close()
    shared_model = make_model(space, action_size, discrete, config).share_memory()
    optimizer = SharedRMSprop(shared_model.parameters(), config.rmsprop_alpha, config.rmsprop_eps)
    return _async.run_workers(config, seed, run_dir, "a3c", worker, (config, seed, shared_model, optimizer),
                              shared_model, lambda model: policy(model, config.eval_deterministic))


if __name__ == "__main__":
    from common.cli import main

    main(Config, train, "algos.a3c", __doc__)
