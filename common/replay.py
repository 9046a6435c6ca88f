"""Experience replay for the value-based family: uniform replay (Mnih et al. 2015, "Human-level
control through deep reinforcement learning", Nature) and proportional prioritized replay
(Schaul, Quan, Antonoglou & Silver 2016, "Prioritized Experience Replay", ICLR), both with
n-step returns (Sutton & Barto 2018, section 7.1; in replay as in Hessel et al. 2018, "Rainbow")
and Atari frame stacks rebuilt from single frames, so that a million transitions fit in 8 GB.

Layout. Each env has its own ring of `capacity // num_envs` slots. A slot holds one state (with
frame_stack > 1 only its newest frame; otherwise the whole observation) and the action, reward
and flags of the transition leaving it. An episode takes consecutive slots s_0 .. s_T: one per
transition plus one for its final state s_T, which is never sampled itself but is what a
truncated episode bootstraps from. `capacity` therefore counts stored states, over all envs
together, as the DQN paper's "1M most recent frames": a full buffer holds capacity transitions
minus one per episode end it contains (0.04% fewer with 2,500-step episodes, 2% fewer when a lost
life ends an episode every 50 steps). A transition's identifier (Batch.indices) is its slot number,
env * slots_per_env + slot.

Frame stacks at episode starts. After a real reset our FrameStack zero-fills the older frames,
but after a lost life (dqn2015's training signal) the game goes on and the first stack of the
new learning episode still holds the last frames of the previous one. The buffer rebuilds what
the env gave: at every episode start it looks at the first observation's older frames — all
zeros: the slot is marked and stacks reaching back past it get zeros; equal to the frames in the
preceding slots (the end of the previous episode, after a lost life): nothing more is needed;
anything else (a game already running when the buffer started): they are stored in
frame_stack - 1 extra slots that are never sampled.

Autoreset. Call `add` after every batched env step (with `envs`: after every step of those envs).
Our envs autoreset gymnasium's NEXT_STEP way: the step that returns terminated or truncated gives
the true final observation as next_observations, and the env's next step only resets (its action
is ignored, its reward is 0, it returns the first observation of the new episode). The buffer keeps
an envs.AutoresetSteps of its own and does not store that step.

What can be sampled. A transition at s_t is sampled with the n-step target
    return   = sum_{k<m} discount^k r_{t+k},  m = min(n_step, steps left in the episode)
    next     = s_{t+m}, the final state if the episode ended within the window
    discount = discount^m, or 0 if the episode terminated within the window (a truncation bootstraps)
once its window is complete: n_step more transitions were added, or its episode ended. It stops
being sampleable when its slot, any slot of its window, or a slot its stack reads is overwritten
(the frame_stack - 1 oldest transitions of a full ring are never sampled).

Checkpoints pickle a buffer whole (arrays, random generator, priorities); a restored buffer adds and
samples exactly as the original (common/off_policy.py: checkpoint_replay).
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from core.errors import require
from envs import AutoresetSteps


@dataclass
class Batch:
    observations: torch.Tensor
    """(B, *obs_shape) in the stored dtype (uint8 for Atari), on the buffer's device"""
    actions: torch.Tensor
    """(B,) int64 for Discrete; (B, *action_shape) float32 for Box"""
    returns: torch.Tensor
    """(B,) float32: sum_{k<m} discount^k r_{t+k}, m = min(n_step, steps to the episode's end)"""
    next_observations: torch.Tensor
    """(B, *obs_shape): s_{t+m}, the real last state (the final observation if the episode ended)"""
    discounts: torch.Tensor
    """(B,) float32: discount^m, or 0 if the episode terminated within those m steps (a truncation bootstraps)"""
    weights: torch.Tensor
    """(B,) float32 importance-sampling weights (all ones for uniform replay)"""
    indices: np.ndarray
    """(B,) int64 identifiers of the sampled transitions, for update_priorities"""


class ReplayBuffer:
    """Uniform replay over the sampleable transitions of all envs (see the module docstring)."""

    def __init__(self, capacity: int, observation_space: gym.spaces.Box, action_space: gym.Space, num_envs: int = 1,
                 n_step: int = 1, discount: float = 0.99, frame_stack: int = 1, device: str | torch.device = "cpu",
                 seed: int | None = None):
        require(isinstance(observation_space, gym.spaces.Box), "observation_space", "a gymnasium Box", observation_space)
        require(isinstance(action_space, (gym.spaces.Discrete, gym.spaces.Box)), "action_space",
                "a gymnasium Discrete or Box", action_space)
        require(num_envs >= 1, "num_envs", "a positive number of envs", num_envs)
        require(n_step >= 1, "n_step", "a number of steps >= 1", n_step)
        require(0.0 <= discount <= 1.0, "discount", "a number in [0, 1]", discount)
        require(frame_stack >= 1, "frame_stack", "a number of frames >= 1", frame_stack)
        if frame_stack > 1:
            shape = observation_space.shape
            require(len(shape) == 3 and shape[0] == frame_stack, "frame_stack",
                    f"1 for observations of shape {shape} (stacks need (frame_stack, height, width) images, "
                    "newest frame last)", frame_stack)
        minimum = n_step + frame_stack + 1  # a window, the stack it reads and the slot being written
        require(capacity >= minimum * num_envs, "capacity",
                f"at least {minimum * num_envs} slots ({minimum} per env: n_step + frame_stack + 1)", capacity)

        self.num_envs, self.n_step, self.discount, self.frame_stack = num_envs, n_step, discount, frame_stack
        self.device = torch.device(device)
        self.slots_per_env = capacity // num_envs
        self.observation_shape = observation_space.shape
        frame_shape = self.observation_shape[1:] if frame_stack > 1 else self.observation_shape
        self.action_shape = () if isinstance(action_space, gym.spaces.Discrete) else action_space.shape
        action_dtype = np.int64 if isinstance(action_space, gym.spaces.Discrete) else np.float32
        slots = num_envs * self.slots_per_env  # env e's ring is slots [e * slots_per_env, (e + 1) * slots_per_env)
        self._frames = np.zeros((slots, *frame_shape), dtype=observation_space.dtype)
        self._actions = np.zeros((slots, *self.action_shape), dtype=action_dtype)
        self._rewards = np.zeros(slots, dtype=np.float32)
        self._terminated = np.zeros(slots, dtype=bool)
        self._ended = np.zeros(slots, dtype=bool)  # terminated or truncated
        self._zeros_before = np.zeros(slots, dtype=bool)  # first state after a zero-filling reset
        self._sampleable = np.zeros(slots, dtype=bool)
        # the n-step target, computed once when a transition's window is complete
        self._returns = np.zeros(slots, dtype=np.float32)
        self._discounts = np.zeros(slots, dtype=np.float32)
        self._next_offsets = np.zeros(slots, dtype=np.int64)
        self._discount_powers = discount ** np.arange(n_step + 1, dtype=np.float64)

        # positions count the slots an env has written since the start; see _slot
        self._next_position = np.zeros(num_envs, dtype=np.int64)
        self._episode_start = np.zeros(num_envs, dtype=np.int64)
        self._awaiting_start = np.ones(num_envs, dtype=bool)
        self._resets = AutoresetSteps(num_envs)  # envs whose previous add ended an episode: the next is a reset
        self._sampleable_count = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        """Transitions that can currently be sampled."""
        return self._sampleable_count

    @property
    def nbytes(self) -> int:
        """Bytes held by the buffer's arrays."""
        return sum(value.nbytes for value in vars(self).values() if isinstance(value, np.ndarray))

    def add(self, observations: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_observations: np.ndarray,
            terminated: np.ndarray, truncated: np.ndarray, envs: np.ndarray | None = None) -> None:
        """One batched env step, every array with leading dimension num_envs (see the module docstring).
        With `envs` (distinct env indices), one step of those envs only, row i being env envs[i]: for
        envs whose steps arrive at different times (algos/d4pg.py's actor processes, one env each)."""
        given = np.arange(self.num_envs) if envs is None else np.asarray(envs, dtype=np.int64).reshape(-1)
        require(len(np.unique(given)) == len(given) and bool(((given >= 0) & (given < self.num_envs)).all()),
                "envs", f"distinct env indices in [0, {self.num_envs})", envs)
        observations, next_observations = np.asarray(observations), np.asarray(next_observations)
        actions = np.asarray(actions)
        expected = (len(given), *self.observation_shape)
        require(observations.shape == expected, "observations", f"an array of shape {expected}", observations.shape)
        require(next_observations.shape == expected, "next_observations", f"an array of shape {expected}",
                next_observations.shape)
        require(actions.shape == (len(given), *self.action_shape), "actions",
                f"an array of shape {(len(given), *self.action_shape)}", actions.shape)
        terminated = np.asarray(terminated, dtype=bool)
        ended = terminated | np.asarray(truncated, dtype=bool)

        stored = self._resets.record(terminated, truncated, given)
        rows = np.flatnonzero(stored)  # the rows stored, and their envs:
        envs = given[rows]
        for row in rows[self._awaiting_start[envs]]:
            self._start_episode(given[row], observations[row])
        positions = self._next_position[envs] - 1  # the current states
        slots = self._slot(envs, positions)
        self._actions[slots] = actions[rows]
        self._rewards[slots] = np.asarray(rewards)[rows]
        self._terminated[slots] = terminated[rows]
        self._ended[slots] = ended[rows]
        self._write_states(envs, next_observations[rows, -1] if self.frame_stack > 1 else next_observations[rows])
        self._awaiting_start[envs] = ended[rows]

        # the transition n - 1 steps back now has its whole window; an episode end completes all its last windows
        window_starts = positions - (self.n_step - 1)
        ended_here = ended[rows]
        steady = ~ended_here & (window_starts >= self._episode_start[envs])
        complete_envs, complete_positions = [envs[steady]], [window_starts[steady]]
        for env, position in zip(envs[ended_here], positions[ended_here]):
            first = max(position - (self.n_step - 1), self._episode_start[env])
            complete_envs.append(np.full(position + 1 - first, env))
            complete_positions.append(np.arange(first, position + 1))
        self._complete(np.concatenate(complete_envs), np.concatenate(complete_positions))

    def sample(self, batch_size: int) -> Batch:
        """`batch_size` transitions drawn uniformly, with replacement, from the sampleable ones."""
        self._check_can_sample(batch_size)
        return self._batch(self._sample_uniform(batch_size), np.ones(batch_size, dtype=np.float32))

    def _slot(self, envs: np.ndarray | int, positions: np.ndarray | int) -> np.ndarray | int:
        """Index into the slot arrays of each env's position (also the transition's identifier)."""
        return envs * self.slots_per_env + positions % self.slots_per_env

    def _check_can_sample(self, batch_size: int) -> None:
        require(batch_size >= 1, "batch_size", "a positive number of transitions", batch_size)
        if len(self) == 0:
            raise ValueError("sample: the buffer holds no sampleable transition yet (a transition becomes "
                             "sampleable once n_step more steps were added or its episode ended); add more first")

    def _sample_uniform(self, batch_size: int) -> np.ndarray:
        # rejection sampling over the written slots: end-of-episode slots, the newest incomplete windows
        # and the oldest stacks are a small fraction of a ring, so few draws are rejected
        written = np.minimum(self._next_position, self.slots_per_env)
        bounds = np.cumsum(written)
        drawn, missing = [], batch_size
        while missing > 0:
            draws = self._rng.integers(0, bounds[-1], size=missing)
            envs = np.searchsorted(bounds, draws, side="right")
            slots = self._slot(envs, draws - (bounds[envs] - written[envs]))
            drawn.append(slots[self._sampleable[slots]])
            missing -= len(drawn[-1])
        return np.concatenate(drawn)

    def _batch(self, slots: np.ndarray, weights: np.ndarray) -> Batch:
        ring_starts = slots - slots % self.slots_per_env
        next_slots = ring_starts + (slots + self._next_offsets[slots]) % self.slots_per_env
        both = self._stacks(np.concatenate([slots, next_slots]))  # one allocation for the two largest fields

        def tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(array).to(self.device)

        return Batch(observations=tensor(both[:len(slots)]), actions=tensor(self._actions[slots]),
                     returns=tensor(self._returns[slots]), next_observations=tensor(both[len(slots):]),
                     discounts=tensor(self._discounts[slots]), weights=tensor(weights), indices=slots)

    def _stacks(self, slots: np.ndarray) -> np.ndarray:
        """The observations whose newest frames are in these slots."""
        if self.frame_stack == 1:
            return self._frames[slots]
        ring_starts = slots - slots % self.slots_per_env
        back = np.arange(self.frame_stack - 1, -1, -1)
        columns = ring_starts[:, None] + (slots[:, None] - back) % self.slots_per_env  # oldest frame first
        stacks = self._frames[columns]
        # a frame is zero if a zero-filling reset comes after it within the stack
        reset_later = self._zeros_before[columns[:, 1:]]
        zeroed = np.logical_or.accumulate(reset_later[:, ::-1], axis=1)[:, ::-1]
        stacks[:, :-1][zeroed] = 0
        return stacks

    def _start_episode(self, env: int, observation: np.ndarray) -> None:
        zero_filled = self.frame_stack > 1 and not observation[:-1].any()
        if self.frame_stack > 1 and not zero_filled and not self._continues_previous(env, observation[:-1]):
            for frame in observation[:-1]:  # slots that only serve this episode's first stacks
                self._write_states(np.array([env]), frame[None])
        self._write_states(np.array([env]), (observation[-1] if self.frame_stack > 1 else observation)[None])
        self._episode_start[env] = self._next_position[env] - 1
        self._zeros_before[self._slot(env, self._episode_start[env])] = zero_filled

    def _continues_previous(self, env: int, older_frames: np.ndarray) -> bool:
        """Whether the env's last written slots hold the frames an episode start's stack begins with."""
        last_position = self._next_position[env] - 1
        if last_position < self.frame_stack - 2:
            return False
        return np.array_equal(self._stacks(np.array([self._slot(env, last_position)]))[0, 1:], older_frames)

    def _write_states(self, envs: np.ndarray, frames: np.ndarray) -> None:
        """Write one frame (or observation) per env into its next slot."""
        positions = self._next_position[envs]
        # the overwritten transition goes, and so do the frame_stack - 1 next-oldest, whose stacks read its frame
        lost = self._slot(envs[:, None], positions[:, None] + np.arange(self.frame_stack))
        self._set_sampleable(lost.ravel(), False)
        slots = self._slot(envs, positions)
        self._frames[slots] = frames
        self._zeros_before[slots] = False
        self._next_position[envs] += 1

    def _complete(self, envs: np.ndarray, positions: np.ndarray) -> None:
        """Compute the n-step targets of transitions whose windows are complete and let them be sampled."""
        window = self._slot(envs[:, None], positions[:, None] + np.arange(self.n_step))
        ended = self._ended[window]
        included = np.ones_like(ended)
        included[:, 1:] = ~np.logical_or.accumulate(ended[:, :-1], axis=1)  # steps up to the episode's end
        steps = included.sum(axis=1)
        terminated = self._terminated[self._slot(envs, positions + steps - 1)]
        slots = self._slot(envs, positions)
        self._returns[slots] = (self._rewards[window] * self._discount_powers[:-1] * included).sum(axis=1)
        self._discounts[slots] = np.where(terminated, 0.0, self._discount_powers[steps])
        self._next_offsets[slots] = steps
        self._set_sampleable(slots, True)

    def _set_sampleable(self, slots: np.ndarray, value: bool) -> np.ndarray:
        """Set the flags; returns the slots whose flag changed."""
        slots = slots[self._sampleable[slots] != value]
        self._sampleable[slots] = value
        self._sampleable_count += len(slots) if value else -len(slots)
        return slots


class SumTree:
    """An array-backed binary tree of sums over non-negative leaf values (Schaul et al. 2016,
    Appendix B.2.1): node i holds the sum of nodes 2i and 2i+1, the root is node 1, leaf j is
    node `leaves + j`. Updates and searches touch one node per level, vectorised over a batch."""

    def __init__(self, size: int):
        self.leaves = 1 << max(0, (size - 1).bit_length())  # the power of two >= size
        self.depth = self.leaves.bit_length() - 1
        self.nodes = np.zeros(2 * self.leaves, dtype=np.float64)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def get(self, indices: np.ndarray) -> np.ndarray:
        return self.nodes[indices + self.leaves]

    def set(self, indices: np.ndarray, values: np.ndarray | float) -> None:
        nodes = indices + self.leaves
        self.nodes[nodes] = values
        if len(nodes) <= 2:  # every add changes one or two leaves: a plain walk up beats numpy's per-call cost 10x
            for node in nodes.tolist():
                while node > 1:
                    node //= 2
                    self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]
            return
        for _ in range(self.depth):
            nodes //= 2  # sums are recomputed from the children, so rounding errors do not accumulate
            self.nodes[nodes] = self.nodes[2 * nodes] + self.nodes[2 * nodes + 1]

    def find(self, targets: np.ndarray) -> np.ndarray:
        """For each target in [0, total), the leaf j with sum(leaves < j) <= target < sum(leaves <= j)."""
        nodes = np.ones(len(targets), dtype=np.int64)
        for _ in range(self.depth):
            left = self.nodes[2 * nodes]
            go_right = targets >= left
            targets = np.where(go_right, targets - left, targets)
            nodes = 2 * nodes + go_right
        return nodes - self.leaves


class PrioritizedReplayBuffer(ReplayBuffer):
    """Proportional prioritized replay (Schaul et al. 2016, section 3.3 and Algorithm 1).

    A transition is drawn with probability P(i) = p_i / sum_k p_k, with p_i = (|delta_i| + eps)^alpha
    from its last TD error; a transition not yet replayed gets the largest p seen so far (1 at
    first). A batch of k is drawn by stratified sampling: one draw uniform in each of k equal
    segments of [0, sum_k p_k), as the paper's Appendix B.2.1. Importance-sampling weights
    w_i = (N * P(i))^-beta, N = len(buffer), are divided by the largest weight *in the batch*, as
    the paper's Algorithm 1 (line 10) computes them; OpenAI Baselines divides by the largest
    possible weight over the whole buffer instead, which makes weights a little smaller.
    """

    def __init__(self, capacity: int, observation_space: gym.spaces.Box, action_space: gym.Space, num_envs: int = 1,
                 n_step: int = 1, discount: float = 0.99, frame_stack: int = 1, device: str | torch.device = "cpu",
                 seed: int | None = None, alpha: float = 0.6, priority_eps: float = 1e-6, beta_start: float = 0.4,
                 beta_steps: int = 1):
        require(alpha >= 0, "alpha", "a priority exponent >= 0", alpha)
        require(0.0 <= beta_start <= 1.0, "beta_start", "an importance-sampling exponent in [0, 1]", beta_start)
        require(beta_steps > 0, "beta_steps", "a positive number of steps", beta_steps)
        require(priority_eps > 0, "priority_eps", "a positive number (a zero priority would never be replayed)",
                priority_eps)
        super().__init__(capacity, observation_space, action_space, num_envs, n_step, discount, frame_stack, device,
                         seed)
        self.alpha, self.priority_eps = alpha, priority_eps
        self.beta_start, self.beta_steps = beta_start, beta_steps
        self._max_priority = 1.0
        self._tree = SumTree(num_envs * self.slots_per_env)

    @property
    def nbytes(self) -> int:
        return super().nbytes + self._tree.nodes.nbytes

    def beta(self, step: int) -> float:
        """The importance-sampling exponent at `step`: linear from beta_start to 1 at beta_steps (the paper
        anneals it from 0.4 or 0.5 to 1 over training)."""
        return min(1.0, self.beta_start + (1.0 - self.beta_start) * step / self.beta_steps)

    def sample(self, batch_size: int, step: int) -> Batch:
        """`batch_size` transitions drawn in proportion to their priorities, with importance-sampling
        weights for the exponent `beta(step)`."""
        beta = self.beta(step)
        self._check_can_sample(batch_size)
        total = self._tree.total
        targets = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
        indices = self._tree.find(targets)
        priorities = self._tree.get(indices)
        while (unlucky := priorities == 0).any():  # rounding at a segment's edge can reach an empty leaf
            indices[unlucky] = self._tree.find(self._rng.random(int(unlucky.sum())) * total)
            priorities = self._tree.get(indices)
        weights = (len(self) * priorities / total) ** -beta
        return self._batch(indices, (weights / weights.max()).astype(np.float32))

    def update_priorities(self, indices: np.ndarray, td_errors: np.ndarray | torch.Tensor) -> None:
        """New priorities from the TD errors (|delta|, before eps and alpha) of sampled transitions;
        transitions overwritten since they were sampled are left out."""
        if isinstance(td_errors, torch.Tensor):
            td_errors = td_errors.detach().cpu().numpy()
        td_errors, indices = np.asarray(td_errors, dtype=np.float64), np.asarray(indices, dtype=np.int64)
        require(td_errors.shape == indices.shape, "td_errors", f"one TD error per index, shape {indices.shape}",
                td_errors.shape)
        require(bool(np.isfinite(td_errors).all()), "td_errors", "finite numbers", td_errors)
        priorities = (np.abs(td_errors) + self.priority_eps) ** self.alpha
        current = self._sampleable[indices]
        self._tree.set(indices[current], priorities[current])
        self._max_priority = max(self._max_priority, float(priorities.max(initial=0.0)))

    def _set_sampleable(self, slots: np.ndarray, value: bool) -> np.ndarray:
        slots = super()._set_sampleable(slots, value)
        if len(slots):
            self._tree.set(slots, self._max_priority if value else 0.0)
        return slots
