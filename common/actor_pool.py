"""Actor processes for distributed off-policy learning (algos/d4pg.py; Barth-Maron et al. 2018,
Algorithm 1): K actors, each acting in its own environment with the policy weights it was last sent,
feed one replay memory held by the learner (the calling process), and a rate limiter keeps the
learner's samples per inserted transition near a set ratio, so that what is learned does not depend
on how fast the actors run beside the learner.

    learner (the calling process)                           actor k = 0 .. K-1 (one process each)
    replay memory, updates, RunLogger      <-- queue ----   every env step as a Transition; its traceback if it fails
    counters: samples, replay size (shared) ----------->   waits before a step while the limiter forbids it
    policy weights + version (shared)       ----------->   loads them when the version moved
    stop event                              ----------->   set when the run ends

Rate limiter: Reverb's SampleToInsertRatio (Cassirer et al. 2021, "Reverb: A Framework for Experience
Replay"), as Acme's D4PG sets it up. With D = inserts * samples_per_insert - samples (a minibatch of B
transitions counts B samples), an insert is allowed while the memory holds fewer than
min_size_to_sample transitions or D + samples_per_insert <= max_diff; a minibatch once it holds
min_size_to_sample and D - B >= min_diff; max_diff, min_diff = min_size_to_sample * samples_per_insert
+- error_buffer. The learner counts the inserts it received; each actor its own steps, and it reads
the others' counts without a lock, so K actors may pass max_diff by at most K - 1 inserts.

In-process mode (no processes): one actor lives in the learner's process and `receive` steps it
whenever the limiter allows an insert. The actor code, the limiter and the weight versions are the
same, but no clock is in the loop: a seeded run repeats exactly and resumes exactly.

Failures: an actor that raises sends its traceback and exits 1; the learner raises ActorFailed naming
the actor and its exit code or signal as soon as it sees an actor exit non-zero (within a fraction of
a second), and stops the others. An actor whose learner died stops by itself.
"""

from __future__ import annotations

import os
import queue as queue_module
import time
from dataclasses import dataclass
from typing import Any, Callable

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from torch.nn.utils import parameters_to_vector

import envs
from common.async_workers import context, exit_reporting_the_error, worker_seed
from common.rundir import worker_usage

# counters shared by the learner and the actors: what the learner sampled, how many transitions its
# replay holds, the inserts before the actors started (a resumed run's), then one slot per actor
SAMPLES, SIZE, EARLIER_INSERTS, FIRST_ACTOR = 0, 1, 2, 3
WAIT_SECONDS = 0.0005  # an actor's sleep between looks at the limiter while it may not insert
DRAIN_LIMIT = 1_000  # transitions the learner takes from the queue at once, so that learning interleaves


class ActorFailed(RuntimeError):
    """An actor process raised or died; the message names it and carries its traceback or exit code."""


@dataclass(frozen=True)
class RateLimiter:
    """Reverb's SampleToInsertRatio (see the module docstring); counts are totals since the run began."""

    samples_per_insert: float
    min_size_to_sample: int
    error_buffer: float

    @property
    def min_diff(self) -> float:
        return self.min_size_to_sample * self.samples_per_insert - self.error_buffer

    @property
    def max_diff(self) -> float:
        return self.min_size_to_sample * self.samples_per_insert + self.error_buffer

    def can_insert(self, inserts: int, samples: int, size: int) -> bool:
        if size < self.min_size_to_sample:
            return True
        return (inserts + 1) * self.samples_per_insert - samples <= self.max_diff

    def can_sample(self, inserts: int, samples: int, size: int, count: int) -> bool:
        return size >= self.min_size_to_sample and inserts * self.samples_per_insert - samples - count >= self.min_diff


@dataclass
class Transition:
    """One env step of one actor, as the replay memory stores it."""

    actor: int
    observation: np.ndarray
    action: np.ndarray
    reward: float
    next_observation: np.ndarray
    terminated: bool
    truncated: bool
    counted: bool  # False for gymnasium's autoreset step: the replay skips it, no budget counts it
    episode: tuple[float, int] | None  # (raw return, length) of the episode that ended at this step
    policy_version: int  # publications of the learner's weights this actor had loaded


class SharedWeights:
    """The learner's policy parameters as one flat tensor, with a version counter: even when stable, odd
    while being written (a sequence lock: a reader that saw it change retries, nobody waits on a lock)."""

    def __init__(self, policy: nn.Module, shared: bool):
        self.vector = parameters_to_vector(policy.parameters()).detach().clone()
        self.version = torch.zeros(1, dtype=torch.int64)
        if shared:
            self.vector.share_memory_()
            self.version.share_memory_()

    @property
    def published(self) -> int:
        return int(self.version[0]) // 2

    @torch.no_grad()
    def publish(self, policy: nn.Module) -> None:
        self.version += 1
        self.vector.copy_(parameters_to_vector(policy.parameters()))
        self.version += 1

    def restore(self, vector: torch.Tensor, published: int) -> None:
        """Hold a checkpoint's last published weights again, under their version."""
        self.vector.copy_(vector)
        self.version.fill_(2 * published)

    @torch.no_grad()
    def load_if_newer(self, policy: nn.Module, loaded: int) -> int:
        """Copy the weights into `policy` if a version after `loaded` was published; the version it holds."""
        while True:
            before = int(self.version[0])
            if before // 2 == loaded:
                return loaded
            if before % 2 == 0:
                vector = self.vector.clone()
                if int(self.version[0]) == before:
                    break
        offset = 0
        for parameter in policy.parameters():
            parameter.copy_(vector[offset:offset + parameter.numel()].view_as(parameter))
            offset += parameter.numel()
        return before // 2


class EnvironmentActor:
    """One environment stepped by `choose(policy, observation, rng) -> action` (the algorithm's
    behaviour policy) with the policy `make_policy(env)` builds; gymnasium's autoreset step is
    recorded as uncounted. `seed` seeds the environment and the actor's random generator."""

    def __init__(self, rank: int, environment: envs.Environment, seed: int,
                 make_policy: Callable[[gym.vector.VectorEnv], nn.Module],
                 choose: Callable[[nn.Module, np.ndarray, np.random.Generator], np.ndarray]):
        self.rank, self.environment, self.seed, self.choose = rank, environment, seed, choose
        self.env, self.observation = envs.make(environment, 1, seed)
        self.policy = make_policy(self.env)
        self.rng = np.random.default_rng(seed)
        self.action = np.zeros((1, *self.env.single_action_space.shape), dtype=self.env.single_action_space.dtype)
        self.resets = envs.AutoresetSteps(1)
        self.policy_version = 0

    def step(self) -> Transition:
        if not self.resets.pending[0]:  # on the autoreset step the action is ignored: choose none
            self.action = self.choose(self.policy, self.observation, self.rng)
        next_observation, reward, terminated, truncated, info = self.env.step(self.action)
        counted = bool(self.resets.record(terminated, truncated)[0])
        episode = None
        if "episode" in info and info["_episode"][0]:
            episode = (float(info["episode"]["r"][0]), int(info["episode"]["l"][0]))
        transition = Transition(self.rank, self.observation[0], self.action[0].copy(), float(reward[0]),
                                next_observation[0], bool(terminated[0]), bool(truncated[0]), counted, episode,
                                self.policy_version)
        self.observation = next_observation
        return transition

    def state(self) -> dict:
        return {"env": envs.snapshot(self.env), "observation": self.observation, "action": self.action,
                "episode_ended": self.resets.state(), "rng": self.rng.bit_generator.state,
                "policy": self.policy.state_dict(), "policy_version": self.policy_version}

    def restore(self, state: dict, step: int) -> None:
        """Continue from `state()`; where the env could not be saved, a new one starts fresh episodes."""
        self.env.close()
        self.env, fresh_observation = envs.restore(state["env"], self.environment, 1, self.seed, step)
        self.observation = state["observation"] if fresh_observation is None else fresh_observation
        self.resets.restore(state["episode_ended"], fresh=fresh_observation is not None)
        self.action, self.rng.bit_generator.state = state["action"], state["rng"]
        self.policy.load_state_dict(state["policy"])
        self.policy_version = state["policy_version"]

    def close(self) -> None:
        self.env.close()


@dataclass
class ActorLink:
    """What an actor process holds of the run (pickled to it at start)."""

    rank: int
    seed: int
    budget: int  # counted steps this actor takes
    limiter: RateLimiter
    counts: torch.Tensor  # shared int64: see SAMPLES .. FIRST_ACTOR
    weights: SharedWeights
    queue: Any
    stop: Any
    learner: int  # the learner's pid

    def may_insert(self) -> bool:
        counts = self.counts.numpy()
        inserts = int(counts[EARLIER_INSERTS] + counts[FIRST_ACTOR:].sum())
        return self.limiter.can_insert(inserts, int(counts[SAMPLES]), int(counts[SIZE]))

    def wait_to_insert(self) -> bool:
        """Wait until the limiter allows a step; False when the run ends first."""
        while not self.may_insert():
            if self.stop.is_set() or not learner_alive(self.learner):
                return False
            time.sleep(WAIT_SECONDS)
        return not self.stop.is_set()


def learner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _actor_main(make_actor: Callable[..., EnvironmentActor], args: tuple, link: ActorLink) -> None:
    """An actor process: act until its budget is spent or the run stops; report how it ended."""
    torch.set_num_threads(1)  # one core per actor: intra-op threads would only fight the learner
    try:
        actor = make_actor(link.rank, link.seed, *args)
        slot = link.counts.numpy()[FIRST_ACTOR + link.rank:FIRST_ACTOR + link.rank + 1]
        taken = 0
        while taken < link.budget:
            if not actor.resets.pending[0]:
                if not link.wait_to_insert():
                    break
                slot += 1  # reserved before acting, so that the other actors see it
                taken += 1
            actor.policy_version = link.weights.load_if_newer(actor.policy, actor.policy_version)
            link.queue.put(("transition", actor.step()))
        actor.close()
        link.queue.put(("usage", link.rank, *worker_usage()))
    except Exception:
        exit_reporting_the_error(link)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the learner reports it
        pass


def budgets(total: int, actors: int) -> list[int]:
    """`total` steps shared as evenly as possible, the first actors taking one more."""
    return [total // actors + (rank < total % actors) for rank in range(actors)]


class ActorPool:
    """The learner's side: start `processes` actor processes (0: one actor in this process), hand it the
    transitions they send, keep the limiter's counts, publish the policy; a context manager that
    stops every actor on leaving. `make_actor(rank, seed, *actor_args)` builds an actor (in its
    process); `saved`, a checkpoint's `state()`, continues a resumed run: its counts, its last
    published weights and, in-process, its actor."""

    def __init__(self, processes: int, make_actor: Callable[..., EnvironmentActor], actor_args: tuple,
                 policy: nn.Module, limiter: RateLimiter, seed: int, total_steps: int, saved: dict | None = None):
        self.processes, self.limiter = processes, limiter
        inserts = saved["inserts"] if saved is not None else 0
        self.inserts = inserts  # counted transitions received
        self.counts = torch.zeros(FIRST_ACTOR + max(processes, 1), dtype=torch.int64)
        self.counts[SAMPLES] = saved["samples"] if saved is not None else 0
        self.counts[EARLIER_INSERTS] = inserts
        self.weights = SharedWeights(policy, shared=processes > 0)
        if saved is None:
            self.weights.publish(policy)
        else:
            self.weights.restore(saved["weights"], saved["published"])
        self.worker_usage: list[tuple[float, float]] = []  # each actor's worker_usage() at its end
        self.local: EnvironmentActor | None = None
        self.remaining = total_steps - inserts
        self.workers: list = []
        if processes == 0:
            self.local = make_actor(0, worker_seed(seed, 0, inserts), *actor_args)
            if saved is not None and saved["actor"] is not None:
                self.local.restore(saved["actor"], inserts)
            return
        ctx = context()
        self.counts.share_memory_()
        self.queue, self.stop = ctx.Queue(), ctx.Event()
        for rank, budget in enumerate(budgets(self.remaining, processes)):
            link = ActorLink(rank, worker_seed(seed, rank, inserts), budget, limiter, self.counts, self.weights,
                             self.queue, self.stop, os.getpid())
            worker = ctx.Process(target=_actor_main, args=(make_actor, actor_args, link), name=f"actor-{rank}",
                                 daemon=True)
            worker.start()
            self.workers.append(worker)

    @property
    def samples(self) -> int:
        return int(self.counts[SAMPLES])

    def can_sample(self, count: int, size: int) -> bool:
        self.counts[SIZE] = size
        return self.limiter.can_sample(self.inserts, self.samples, size, count)

    def sampled(self, count: int) -> None:
        self.counts[SAMPLES] += count

    def publish(self, policy: nn.Module) -> None:
        self.weights.publish(policy)

    def receive(self, timeout: float = 0.05) -> list[Transition]:
        """The transitions that arrived (in-process: one step, if the limiter allows one; else none).
        Waits up to `timeout` seconds for the first; raises ActorFailed if an actor failed."""
        if self.local is not None:
            return self._step_local()
        transitions, deadline = [], time.monotonic() + timeout
        while len(transitions) < DRAIN_LIMIT:
            try:
                message = self.queue.get(timeout=max(0.0, deadline - time.monotonic())) if not transitions \
                    else self.queue.get_nowait()
            except queue_module.Empty:
                break
            transitions += self._handle(message)
        self._check_actors()
        return transitions

    def _step_local(self) -> list[Transition]:
        actor = self.local
        if self.remaining == 0:
            return []
        if not actor.resets.pending[0]:
            if not self.limiter.can_insert(self.inserts, self.samples, int(self.counts[SIZE])):
                return []
            self.remaining -= 1
        actor.policy_version = self.weights.load_if_newer(actor.policy, actor.policy_version)
        transition = actor.step()
        self.inserts += transition.counted
        return [transition]

    def _handle(self, message: tuple) -> list[Transition]:
        kind = message[0]
        if kind == "transition":
            self.inserts += message[1].counted
            return [message[1]]
        if kind == "usage":
            self.worker_usage.append(message[2:])
        elif kind == "error":
            raise ActorFailed(f"actor {message[1]} raised:\n{message[2]}")
        return []

    def _check_actors(self) -> None:
        for rank, worker in enumerate(self.workers):
            if worker.exitcode not in (None, 0):
                self._drain_errors(1.0)  # its own traceback, if it managed to send one, says more
                signal = f" (killed by signal {-worker.exitcode})" if worker.exitcode < 0 else ""
                raise ActorFailed(f"actor {rank} (pid {worker.pid}) exited with code {worker.exitcode}{signal} "
                                  "without reporting an error; its own output, if any, is on stderr")

    def _drain_errors(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_module.Empty:
                return
            if message[0] == "error":
                self._handle(message)

    def state(self) -> dict:
        """What a checkpoint holds of the pool: the limiter's counts, the last published weights and the
        in-process actor (actor processes are not saved: a resumed run starts new ones)."""
        return {"inserts": self.inserts, "samples": self.samples, "weights": self.weights.vector.clone(),
                "published": self.weights.published, "actor": None if self.local is None else self.local.state()}

    def __enter__(self) -> "ActorPool":
        return self

    def __exit__(self, *exception) -> None:
        self.close()

    def close(self, seconds: float = 10.0) -> None:
        """Stop the actors, reading the queue meanwhile so that none is stuck flushing it; terminate any
        still alive after `seconds`."""
        if self.local is not None:
            self.local.close()
            return
        self.stop.set()
        deadline = time.monotonic() + seconds
        while any(worker.is_alive() for worker in self.workers) and time.monotonic() < deadline:
            try:
                message = self.queue.get(timeout=0.05)
                if message[0] == "usage":
                    self.worker_usage.append(message[2:])
            except queue_module.Empty:
                pass
        for worker in self.workers:
            if worker.is_alive():
                worker.terminate()
            worker.join(timeout=5)
