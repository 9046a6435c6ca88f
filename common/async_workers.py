"""What the asynchronous methods (algos/a3c.py, algos/async_q.py; Mnih et al. 2016) share: worker
processes that train one model held in shared memory, the shared RMSProp they update it with, and
the coordinator that logs, evaluates and checkpoints for them.

    coordinator (the calling process)                         worker k = 0 .. workers-1 (one process each)
    RunLogger, progress bar, evaluations,  <-- queue -------  finished episodes, loss averages,
    checkpoints                                               evaluation snapshots, its error if it fails
    global step counter T (a lock guards it) <------------->  adds its steps after each update; stops at the budget
    stop event  ------------------------------------------->  set when the run must end early

Workers never wait for each other or for the coordinator (no barrier): each applies its own updates
to the shared parameters, lock-free ("Hogwild", Recht et al. 2011, as the paper does). The
coordinator holds the one RunLogger: it writes the episodes the workers report, and evaluates a
snapshot of the shared model that the worker whose update crossed an evaluation boundary sends,
so that an evaluation sees one consistent model at a known step while training goes on (with one
worker, evaluations are then as reproducible as training). After each evaluation the logger saves
a checkpoint: the algorithm's shared state (networks, optimizer statistics) and T, read while the
workers go on. A resumed run loads them into shared memory before any worker starts and continues
from that T; its workers draw new seeds from (run seed, rank, T), so their episodes start afresh.
A worker that diverges ends the run as `diverged`; one that raises, or dies without a word
(killed, segfault), ends it as `failed`; an interrupt of the coordinator stops the workers first.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import queue as queue_module
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn

import envs
from common.config import CPU_CORES, RunConfig, config_class
from common.nets import ENCODERS
from common.rundir import Diverged, RunLogger, worker_usage
from core.errors import require

LR_PROTOCOLS = ("fixed", "sampled")
PAPER_LR_RANGE = (1e-4, 1e-2)  # the paper's LogUniform(1e-4, 1e-2) learning-rate distribution (section 8)
# Keys that keep apart the random streams drawn from one run seed: the workers', the learning-rate
# draw, and an algorithm's own draws at the start of a run (async Q-learning's final epsilons).
WORKER_STREAM, LR_DRAW_STREAM, ALGORITHM_STREAM = 0, 1, 2
REPORT_EVERY = 100  # updates of one worker between the loss averages it sends (keeps the coordinator idle)
# The forkserver imports these once, so that a worker is a cheap fork with torch and gymnasium loaded.
# (Not the algorithm modules: a worker of `python -m algos.a3c` runs that module as its __mp_main__.)
PRELOAD = ["__main__", "common.async_workers", "common.nets"]


@config_class
class AsyncConfig(RunConfig):
    """What A3C and asynchronous one-step Q-learning share (Mnih et al. 2016, section 8 and the authors [1]): the
    workers, the shared RMSProp and its schedule, the encoder.

    [1] the authors' reply quoted at github.com/miyosuda/async_deep_reinforce/issues/1 (2016)"""

    workers: int = CPU_CORES
    """actor-learner processes, one environment each (paper: 16 threads; default: this machine's CPU cores)"""
    discount: float = 0.99
    """reward discount gamma (section 8: 0.99)"""
    learning_rate: float = 7e-4
    """RMSProp step size at the start of training (the authors' best rates were "around 7e-4" [1]); replaced
    by the draw under lr_protocol sampled"""
    lr_protocol: str = "fixed"
    """fixed: learning_rate for every seed (the paper's comparisons with prior work, Tables 1 and S3); sampled:
    each run draws its rate from LogUniform(1e-4, 1e-2) with its seed (section 8's 50-run experiments; then
    keep the best k of n seeds)"""
    anneal_lr: bool = True
    """decay the learning rate linearly to 0 over the training budget (section 8)"""
    rmsprop_alpha: float = 0.99
    """decay of the shared squared-gradient average (section 8: 0.99)"""
    rmsprop_eps: float = 0.1
    """RMSProp epsilon, inside the square root as the paper writes the update (section 7; 0.1 from the authors [1])"""
    max_grad_norm: float = 40.0
    """clip each worker's gradient norm to this before applying it (from the authors [1], for A3C)"""
    network: str = "auto"
    """observation encoder: auto (mlp for vectors, minatar_cnn, a3c_cnn = Mnih et al. 2013's for Atari as section
    8), mlp, nature_cnn, a3c_cnn, minatar_cnn"""
    hidden_layers: int = 2
    """hidden layers of the MLP encoder (ours, as A2C's: the paper has no vector tasks)"""
    hidden_size: int = 64
    """units per hidden layer of the MLP encoder (ours, as A2C's)"""

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.workers > 0, "workers", "a positive number of processes", self.workers)
        require(0.0 < self.discount <= 1.0, "discount", "a number in (0, 1]", self.discount)
        require(self.learning_rate > 0, "learning_rate", "a positive number", self.learning_rate)
        require(self.lr_protocol in LR_PROTOCOLS, "lr_protocol", f"one of {list(LR_PROTOCOLS)}", self.lr_protocol)
        require(0.0 <= self.rmsprop_alpha < 1.0, "rmsprop_alpha", "a number in [0, 1)", self.rmsprop_alpha)
        require(self.rmsprop_eps > 0, "rmsprop_eps", "a positive number", self.rmsprop_eps)
        require(self.max_grad_norm > 0, "max_grad_norm", "a positive number", self.max_grad_norm)
        require(self.hidden_size > 0, "hidden_size", "a positive number of units", self.hidden_size)
        require(self.hidden_layers >= 0, "hidden_layers", "0 or more layers", self.hidden_layers)
        require(self.network in ENCODERS, "network", f"one of {list(ENCODERS)}", self.network)
        require(self.device in ("auto", "cpu"), "device",
                "cpu or auto (the workers update one network in shared CPU memory)", self.device)

    @staticmethod
    def preset_for(env_id: str) -> str:
        """atari for Atari and MinAtar (frames), classic for every other environment (vector observations)."""
        family, _ = envs.family_of(env_id)
        return "atari" if family in ("atari", "minatar") else "classic"

    def cores(self) -> int:
        return self.workers


class WorkerFailed(RuntimeError):
    """A worker process raised or died; the message carries its traceback or exit code."""


def context():
    """Workers are forked from a clean, single-threaded forkserver (never from this possibly
    multi-threaded process); spawn where there is no forkserver."""
    if "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        return ctx
    return mp.get_context("spawn")


def worker_seed(seed: int, rank: int, start_step: int = 0) -> int:
    """Worker `rank`'s seed for torch and its environment: derived from (run seed, rank, the step the
    workers start at), so that no two workers share one, as seed + rank would (run 0's worker 1 =
    run 1's worker 0), and a resumed run does not replay the random numbers of its start."""
    return int(np.random.SeedSequence([seed, WORKER_STREAM, rank, start_step]).generate_state(1)[0])


def resolve_learning_rate(config: RunConfig, seed: int) -> RunConfig:
    """The run's config with its learning rate settled: unchanged under lr_protocol "fixed"; under
    "sampled" the paper's protocol, a draw from LogUniform(1e-4, 1e-2) seeded by the run seed, so
    that config.json records the learning rate the run actually used (and a resumed run draws it again)."""
    if config.lr_protocol == "fixed":
        return config
    low, high = PAPER_LR_RANGE
    draw = np.random.default_rng([seed, LR_DRAW_STREAM]).uniform(math.log(low), math.log(high))
    return dataclasses.replace(config, learning_rate=float(math.exp(draw)))


def annealed(learning_rate: float, step: int, total_steps: int, anneal: bool) -> float:
    """The paper anneals the learning rate linearly to 0 over training (section 8)."""
    return learning_rate * max(0.0, 1.0 - step / total_steps) if anneal else learning_rate


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

    def state_dict(self) -> dict:
        return {"square_averages": [tensor.clone() for tensor in self.square_averages], "steps": self.steps.clone()}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        """Copy saved statistics into the shared tensors (in place: the workers hold these)."""
        for square_average, saved in zip(self.square_averages, state["square_averages"], strict=True):
            square_average.copy_(saved)
        self.steps.copy_(state["steps"])


@torch.no_grad()
def sync(local_parameters: list[torch.Tensor], shared_parameters: list[torch.Tensor]) -> None:
    """Copy the shared parameters into a worker's local copy of the network."""
    for local, shared in zip(local_parameters, shared_parameters, strict=True):
        local.copy_(shared)


def crossed(before: int, after: int, interval: int) -> bool:
    """Did the global step pass a multiple of `interval` between `before` and `after`?"""
    return after // interval > before // interval


@dataclass
class Steps:
    """Consecutive steps of one worker's single environment, shapes (T, 1, ...); they stop early
    at an episode end, so they never hold gymnasium's autoreset step."""

    observations: np.ndarray  # s_0 .. s_T; s_T is the last state when the episode ended at step T-1
    actions: np.ndarray
    rewards: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    episode: tuple[float, int] | None  # (raw return, length) of a whole episode that ended at the last step

    @property
    def ended(self) -> bool:
        return bool(self.terminated[-1, 0] or self.truncated[-1, 0])


def collect(env, choose: Callable[[np.ndarray], np.ndarray], observation: np.ndarray, count: int):
    """Act with `choose(observation) -> action` for `count` steps or to the end of the episode;
    (the steps, the observation to go on from). After an episode end the next observation comes
    from gymnasium's autoreset step, taken here at once: its action is ignored, and it is neither
    learned from nor counted."""
    observations, actions, rewards, terminated, truncated = [observation], [], [], [], []
    episode, resets = None, envs.AutoresetSteps(1)
    for _ in range(count):
        action = choose(observation)
        observation, reward, term, trunc, info = env.step(action)
        observations.append(observation)
        actions.append(action)
        rewards.append(reward.astype(np.float32))
        terminated.append(term)
        truncated.append(trunc)
        resets.record(term, trunc)
        if resets.pending[0]:
            if "episode" in info:  # absent when an Atari life ends but the game goes on
                episode = (float(info["episode"]["r"][0]), int(info["episode"]["l"][0]))
            observation = resets.take_now(env, action)
            break
    steps = Steps(np.stack(observations), np.stack(actions), np.stack(rewards), np.stack(terminated),
                  np.stack(truncated), episode)
    return steps, observation


@dataclass
class WorkerLink:
    """A worker's connection to the run: the shared step counter, the queue to the coordinator
    and the stop event."""

    rank: int
    counter: Any  # multiprocessing.Value("q"): the global step T, summed over workers
    queue: Any
    stop: Any
    total_steps: int
    eval_interval: int
    start_step: int  # T when the workers started: 0, or the step a resumed run continues from
    coordinator: int  # the coordinating process's pid
    pending: dict = dataclasses.field(default_factory=dict)
    updates: int = 0

    @property
    def step(self) -> int:
        return self.counter.value

    def seed(self, run_seed: int) -> int:
        return worker_seed(run_seed, self.rank, self.start_step)

    def done(self) -> bool:
        return self.counter.value >= self.total_steps or self.stop.is_set() or not self.coordinator_alive()

    def coordinator_alive(self) -> bool:
        """False once the coordinator is gone (killed: no chance to set the stop event), so that no
        worker trains on, orphaned, to the end of the budget."""
        try:
            os.kill(self.coordinator, 0)
            return True
        except ProcessLookupError:
            return False

    def add_steps(self, count: int, shared_model: nn.Module) -> tuple[int, int]:
        """Count this worker's `count` new steps; (T before, T after). The worker whose steps cross
        an evaluation boundary sends a snapshot of the shared model for the coordinator to evaluate."""
        with self.counter.get_lock():
            before = self.counter.value
            self.counter.value = after = before + count
        if after < self.total_steps and crossed(before, after, self.eval_interval):
            self.queue.put(("snapshot", after, snapshot(shared_model)))
        return before, after

    def episode(self, step: int, episode_return: float, length: int) -> None:
        self.queue.put(("episode", step, float(episode_return), int(length)))

    def scalars(self, step: int, values: dict[str, float]) -> None:
        """Average `values` over this worker's last REPORT_EVERY updates, then send the averages."""
        for name, value in values.items():
            self.pending[name] = self.pending.get(name, 0.0) + value
        self.updates += 1
        if self.updates == REPORT_EVERY:
            self.queue.put(("scalars", step, {name: total / self.updates for name, total in self.pending.items()}))
            self.pending, self.updates = {}, 0


def snapshot(model: nn.Module) -> dict[str, np.ndarray]:
    """A copy of a model's parameters as arrays (they pickle through a queue without shared memory)."""
    return {name: tensor.numpy().copy() for name, tensor in model.state_dict().items()}


def _worker_main(worker: Callable, link: WorkerLink, args: tuple) -> None:
    """A worker process's entry: run `worker(link, *args)`, reporting how it ended."""
    torch.set_num_threads(1)  # one core per worker: intra-op threads would only fight the other workers
    try:
        worker(link, *args)
        link.queue.put(("usage", link.rank, *worker_usage()))
    except Diverged as error:
        link.stop.set()
        link.queue.put(("diverged", link.rank, str(error)))
    except Exception:
        exit_reporting_the_error(link)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the coordinator reports it
        pass


def exit_reporting_the_error(link) -> None:
    """In a child process (an A3C worker, a D4PG actor), in an `except` block: stop the run, send the
    traceback to the parent through `link.queue`, and exit with code 1."""
    link.stop.set()
    link.queue.put(("error", link.rank, traceback.format_exc()))
    link.queue.close()
    link.queue.join_thread()  # the traceback reaches the pipe before the process exits
    sys.exit(1)


def run_workers(log: RunLogger, config: RunConfig, worker: Callable, worker_args: tuple, shared_model: nn.Module,
                policy: Callable[[nn.Module], Callable], shared_state: Callable[[], dict],
                saved: dict | None) -> None:
    """Start `config.workers` processes running `worker(link, *worker_args)` and coordinate them
    until the global step counter reaches the budget: log what they report, evaluate snapshots,
    fail loudly when one fails. `policy(model)` returns a fresh `act(observations)` for one
    evaluation (fresh, so that a recurrent policy starts each evaluation from a zero state).
    Checkpoints hold `shared_state()` (the algorithm's networks and optimizer) and the global step
    under "step"; `saved`, the checkpoint a resumed run continues from (already loaded into shared
    memory by the caller), or None, gives the step to start at."""
    ctx = context()
    start_step = saved["step"] if saved is not None else 0
    counter, messages, stop = ctx.Value("q", start_step), ctx.Queue(), ctx.Event()
    eval_model = copy.deepcopy(shared_model)
    log.checkpoint_with(lambda: {**shared_state(), "step": counter.value})

    def evaluate(step: int, state: dict) -> None:
        eval_model.load_state_dict({name: torch.as_tensor(value) for name, value in state.items()})
        log.evaluate_if_due(step, policy(eval_model))

    def handle(message: tuple) -> None:
        kind = message[0]
        if kind == "episode":
            _, step, episode_return, length = message
            log.log_episode(step, episode_return, length)
        elif kind == "scalars":
            log.log_scalars(message[1], **message[2])
        elif kind == "snapshot":
            evaluate(message[1], message[2])
        elif kind == "usage":
            log.add_worker_usage(*message[2:])
        elif kind == "diverged":
            raise Diverged(f"worker {message[1]}: {message[2]}")
        elif kind == "error":
            raise WorkerFailed(f"worker {message[1]} raised:\n{message[2]}")

    def drain(seconds: float | None) -> None:
        """Handle the workers' messages for `seconds`, or, given None, until none is left."""
        deadline = time.monotonic() + (seconds or 0.0)
        while seconds is None or time.monotonic() < deadline:
            try:
                handle(messages.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue_module.Empty:
                return

    processes = []
    try:
        for rank in range(config.workers):
            link = WorkerLink(rank, counter, messages, stop, config.total_steps, config.eval_interval, start_step,
                              os.getpid())
            process = ctx.Process(target=_worker_main, args=(worker, link, worker_args),
                                  name=f"{log.algo}-worker-{rank}", daemon=True)
            process.start()
            processes.append(process)
        while any(process.is_alive() for process in processes):
            drain(0.2)
            log.advance(counter.value)
            for rank, process in enumerate(processes):
                if process.exitcode not in (None, 0):
                    drain(1.0)  # its own traceback, if it managed to send one, says more
                    raise WorkerFailed(f"worker {rank} exited with code {process.exitcode}"
                                       + (f" (signal {-process.exitcode})" if process.exitcode < 0 else "")
                                       + " without reporting an error (its own output, if any, is on stderr)")
        drain(None)  # what the last workers sent before they exited
        if counter.value < config.total_steps:
            raise WorkerFailed(f"all workers exited at step {counter.value}, before the budget of {config.total_steps}")
    finally:  # also on an interrupt of this process: no worker outlives the run
        stop.set()
        _shut_down(processes, messages)
    log.advance(counter.value)
    evaluate(max(counter.value, config.total_steps), snapshot(shared_model))


def _shut_down(processes: list, messages: Any, seconds: float = 10.0) -> None:
    """Let the workers see the stop event and exit, reading the queue meanwhile so that none is
    stuck flushing it; terminate any still alive after `seconds`."""
    deadline = time.monotonic() + seconds
    while any(process.is_alive() for process in processes) and time.monotonic() < deadline:
        try:
            messages.get(timeout=0.05)
        except queue_module.Empty:
            pass
    for process in processes:
        if process.is_alive():
            process.terminate()
        process.join(timeout=5)
