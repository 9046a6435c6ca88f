"""Replay buffers (common/replay.py): stacks rebuilt exactly as the env produced them, n-step targets
against hand-computed values, what can and cannot be sampled, prioritized sampling and weights."""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from common.replay import PrioritizedReplayBuffer, ReplayBuffer, SumTree

SCALAR = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)  # observations that are just a state's id
TWO_ACTIONS = gym.spaces.Discrete(2)


def add_scalar(buffer: ReplayBuffer, state: float, reward: float, next_state: float, terminated: bool = False,
               truncated: bool = False, action: int = 0) -> None:
    buffer.add(np.array([[state]], np.float32), np.array([action]), np.array([reward]),
               np.array([[next_state]], np.float32), np.array([terminated]), np.array([truncated]))


def targets_by_state(buffer: ReplayBuffer, draws: int = 2000) -> dict[float, tuple]:
    """state id -> (return, next state id, discount) over many sampled transitions, float32 rounded to 6 digits."""
    batch = buffer.sample(draws)
    table = {}
    for state, ret, next_state, discount in zip(batch.observations[:, 0].tolist(), batch.returns.tolist(),
                                                batch.next_observations[:, 0].tolist(), batch.discounts.tolist()):
        target = (round(ret, 6), next_state, round(discount, 6))
        assert table.setdefault(state, target) == target
    return table


def test_n_step_targets_by_hand_with_termination_truncation_and_reset_steps():
    buffer = ReplayBuffer(100, SCALAR, TWO_ACTIONS, n_step=3, discount=0.5, seed=0)
    # episode A: states 0 1 2, terminates into final state 3
    add_scalar(buffer, 0, 1.0, 1)
    add_scalar(buffer, 1, 2.0, 2)
    add_scalar(buffer, 2, 4.0, 3, terminated=True)
    add_scalar(buffer, 3, 100.0, 10)  # the autoreset step (a large reward, so that it shows if stored)
    # episode B: states 10 11, truncated into final state 12
    add_scalar(buffer, 10, 1.0, 11)
    add_scalar(buffer, 11, 2.0, 12, truncated=True)
    add_scalar(buffer, 12, 100.0, 20)  # the autoreset step
    # episode C: states 20 21 go on; their 3-step windows are not complete yet
    add_scalar(buffer, 20, 1.0, 21)
    add_scalar(buffer, 21, 1.0, 22)
    assert len(buffer) == 5
    assert targets_by_state(buffer) == {
        0: (1 + 0.5 * 2 + 0.25 * 4, 3, 0.0),  # the termination ends the window: no bootstrap
        1: (2 + 0.5 * 4, 3, 0.0),
        2: (4.0, 3, 0.0),
        10: (1 + 0.5 * 2, 12, 0.25),  # a truncation bootstraps from the final state, discount^2
        11: (2.0, 12, 0.5),
    }
    add_scalar(buffer, 22, 1.0, 23)
    assert len(buffer) == 6
    assert targets_by_state(buffer)[20] == (1 + 0.5 + 0.25, 23, 0.125)


def test_one_step_targets_and_per_env_reset_steps():
    buffer = ReplayBuffer(100, SCALAR, TWO_ACTIONS, num_envs=2, discount=0.9, seed=0)

    def step(states, rewards, next_states, terminated=(False, False), truncated=(False, False)):
        buffer.add(np.array(states, np.float32)[:, None], np.zeros(2, np.int64), np.array(rewards),
                   np.array(next_states, np.float32)[:, None], np.array(terminated), np.array(truncated))

    step([0, 100], [1, 1], [1, 101])
    step([1, 101], [1, 1], [2, 102], terminated=[True, False])
    step([2, 102], [50, 1], [10, 103])  # env 0 resets (not stored), env 1 goes on
    step([10, 103], [1, 1], [11, 104], truncated=[False, True])
    assert len(buffer) == 7
    assert targets_by_state(buffer) == {0: (1, 1, 0.9), 1: (1, 2, 0.0), 10: (1, 11, 0.9), 100: (1, 101, 0.9),
                                        101: (1, 102, 0.9), 102: (1, 103, 0.9), 103: (1, 104, 0.9)}


def test_never_samples_incomplete_or_overwritten_transitions():
    buffer = ReplayBuffer(8, SCALAR, TWO_ACTIONS, n_step=3, discount=0.5, seed=0)
    for state in range(30):  # one long episode through a ring of 8 slots
        add_scalar(buffer, state, 1.0, state + 1)
    # the ring holds states 23..30; 28 and 29 still wait for their third step, 30 has no transition yet
    assert len(buffer) == 5
    assert sorted(targets_by_state(buffer)) == [23, 24, 25, 26, 27]


def test_uniform_sampling_covers_every_transition_evenly():
    buffer = ReplayBuffer(200, SCALAR, TWO_ACTIONS, num_envs=2, seed=0)
    for state in range(30):  # env 1's episodes end after states 109 and 119; 110 and 120 are reset steps
        buffer.add(np.array([[state], [100 + state]], np.float32), np.zeros(2, np.int64), np.zeros(2),
                   np.array([[state + 1], [101 + state]], np.float32), np.array([False, state in (9, 19)]),
                   np.zeros(2, bool))
    assert len(buffer) == 58
    states = buffer.sample(58_000).observations[:, 0].numpy()
    counts = {state: int((states == state).sum()) for state in np.unique(states)}
    assert set(counts) == set(range(30)) | set(range(100, 130)) - {110, 120}
    assert all(850 < count < 1150 for count in counts.values())  # 1000 expected, standard deviation 31


def test_sampling_is_reproducible_from_the_seed():
    def sampled_states(seed: int) -> list[float]:
        buffer = ReplayBuffer(100, SCALAR, TWO_ACTIONS, seed=seed)
        for state in range(50):
            add_scalar(buffer, state, 0.0, state + 1)
        return buffer.sample(32).observations[:, 0].tolist()

    assert sampled_states(3) == sampled_states(3)
    assert sampled_states(3) != sampled_states(4)


@pytest.mark.parametrize("kind", [ReplayBuffer, PrioritizedReplayBuffer])
def test_a_pickled_buffer_continues_as_the_original(kind):
    # checkpoints save the buffer whole: a restored one must add and sample exactly as the one it copies
    def fill(buffer, states):
        for state in states:
            add_scalar(buffer, state, 1.0, state + 1, terminated=state % 7 == 6)

    def draw(buffer):
        batch = buffer.sample(16) if kind is ReplayBuffer else buffer.sample(16, step=5)
        if kind is PrioritizedReplayBuffer:
            buffer.update_priorities(batch.indices, batch.returns)
        return batch.observations[:, 0].tolist(), batch.weights.tolist()

    original = kind(40, SCALAR, TWO_ACTIONS, n_step=3, seed=1)
    fill(original, range(30))
    draw(original)
    copy = pickle.loads(pickle.dumps(original))
    for buffer in (original, copy):
        fill(buffer, range(30, 60))  # the ring wraps around
    assert [draw(original) for _ in range(3)] == [draw(copy) for _ in range(3)]


def test_box_actions_round_trip():
    buffer = ReplayBuffer(100, SCALAR, gym.spaces.Box(-1, 1, (2,), np.float32), seed=0)
    for state in range(10):
        buffer.add(np.array([[state]], np.float32), np.array([[state / 10, -state / 10]], np.float32), np.zeros(1),
                   np.array([[state + 1]], np.float32), np.zeros(1, bool), np.zeros(1, bool))
    batch = buffer.sample(64)
    assert batch.actions.dtype == torch.float32 and batch.actions.shape == (64, 2)
    states = batch.observations[:, 0]
    torch.testing.assert_close(batch.actions, torch.stack([states / 10, -states / 10], dim=1))


# ---- frame stacks: every sampled stack must be one the env produced -------------------------------------------


def digest(array: np.ndarray | torch.Tensor) -> bytes:
    array = array.numpy() if isinstance(array, torch.Tensor) else array
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


@dataclass
class Step:
    observation: bytes
    action: int
    reward: float
    next_observation: bytes
    terminated: bool
    truncated: bool
    zero_filled_start: bool  # its episode began with zeros in the older frames (a real reset)
    env: int
    stored_index: int  # transitions this env had stored before this one


class Reference:
    """The transitions the env produced, and each one's n-step target computed the plain way."""

    def __init__(self, num_envs: int, n_step: int, discount: float):
        self.n_step, self.discount = n_step, discount
        self.episodes: list[list[list[Step]]] = [[[]] for _ in range(num_envs)]
        self.after_end = [False] * num_envs
        self.stored = [0] * num_envs

    def record(self, observations, actions, rewards, next_observations, terminated, truncated) -> None:
        for env, episodes in enumerate(self.episodes):
            if self.after_end[env]:  # gymnasium's autoreset step: not a transition
                assert rewards[env] == 0 and not terminated[env] and not truncated[env]
                self.after_end[env] = False
                episodes.append([])
                continue
            zero_filled = (episodes[-1][0].zero_filled_start if episodes[-1]
                           else not observations[env][:-1].any())
            episodes[-1].append(Step(digest(observations[env]), int(actions[env]), float(rewards[env]),
                                     digest(next_observations[env]), bool(terminated[env]), bool(truncated[env]),
                                     zero_filled, env, self.stored[env]))
            self.stored[env] += 1
            self.after_end[env] = bool(terminated[env] or truncated[env])

    def targets(self) -> dict[bytes, list[tuple]]:
        """observation digest -> [(action, return, next observation digest, discount, step)] of complete windows."""
        table: dict[bytes, list[tuple]] = {}
        for episodes in self.episodes:
            for episode in episodes:
                finished = bool(episode) and (episode[-1].terminated or episode[-1].truncated)
                for t, step in enumerate(episode):
                    window = episode[t:t + self.n_step]
                    if len(window) < self.n_step and not finished:
                        continue
                    ret = sum(self.discount**k * s.reward for k, s in enumerate(window))
                    discount = 0.0 if window[-1].terminated else self.discount ** len(window)
                    table.setdefault(step.observation, []).append(
                        (step.action, ret, window[-1].next_observation, discount, (t, step)))
        return table


def check_samples(buffer: ReplayBuffer, reference: Reference, batches: int, batch_size: int,
                  **sample_kwargs) -> list[tuple]:
    """Every sampled transition equals one the env produced and is among its env's recent ones;
    returns the (index in episode, step) of each sample."""
    targets, matched = reference.targets(), []
    for _ in range(batches):
        batch = buffer.sample(batch_size, **sample_kwargs)
        assert batch.observations.shape[1:] == batch.next_observations.shape[1:] == buffer.observation_shape
        for i in range(batch_size):
            candidates = [where for action, ret, next_observation, discount, where in
                          targets.get(digest(batch.observations[i]), [])
                          if action == batch.actions[i].item() and next_observation == digest(batch.next_observations[i])
                          and ret == pytest.approx(batch.returns[i].item(), abs=1e-5)
                          and discount == pytest.approx(batch.discounts[i].item(), abs=1e-6)
                          and where[1].stored_index >= reference.stored[where[1].env] - buffer.slots_per_env]
            assert candidates, f"sample {i} is not a recent complete transition of the env"
            matched.append(candidates[0])
    return matched


class ScriptedStacks:
    """A vector env of tiny unique frames stacked like envs.atari.FrameStack (newest last), with
    next-step autoreset. Episodes of 1..12 steps end by a termination with a real reset (zeros
    fill the new stack), a lost life (the stack goes on, as in dqn2015) or a truncation. The games
    are already running at the start: the first stacks hold no zeros."""

    def __init__(self, num_envs: int, seed: int):
        self.rng = np.random.default_rng(seed)
        self.frames_made = 0
        self.stacks = np.stack([np.stack([self.frame() for _ in range(4)]) for _ in range(num_envs)])
        self.steps_left = self.rng.integers(1, 13, num_envs)
        self.pending_reset: list[str | None] = [None] * num_envs

    def frame(self) -> np.ndarray:
        self.frames_made += 1
        frame = np.zeros((3, 3), np.uint8)
        frame[0, 0], frame[0, 1], frame[2, 2] = self.frames_made % 256, self.frames_made // 256, 1
        return frame

    def step(self) -> tuple[np.ndarray, ...]:
        num_envs = len(self.stacks)
        observations, actions = self.stacks.copy(), self.rng.integers(0, 2, num_envs)
        rewards, terminated, truncated = np.zeros(num_envs), np.zeros(num_envs, bool), np.zeros(num_envs, bool)
        for env in range(num_envs):
            if self.pending_reset[env] in ("terminal", "truncation"):
                self.stacks[env] = 0
            else:
                self.stacks[env, :-1] = self.stacks[env, 1:].copy()
            self.stacks[env, -1] = self.frame()
            if self.pending_reset[env]:
                self.pending_reset[env] = None
                self.steps_left[env] = self.rng.integers(1, 13)
                continue
            rewards[env] = self.rng.integers(-1, 2)
            self.steps_left[env] -= 1
            if self.steps_left[env] == 0:
                self.pending_reset[env] = str(self.rng.choice(["terminal", "lost life", "truncation"]))
                terminated[env] = self.pending_reset[env] != "truncation"
                truncated[env] = not terminated[env]
        return observations, actions, rewards, self.stacks.copy(), terminated, truncated


@pytest.mark.parametrize("prioritized", [False, True])
def test_stacks_rebuilt_across_resets_lost_lives_and_wrap_around(prioritized):
    space = gym.spaces.Box(0, 255, (4, 3, 3), np.uint8)
    kind, sample_kwargs = (PrioritizedReplayBuffer, {"step": 5}) if prioritized else (ReplayBuffer, {})
    buffer = kind(2 * 40, space, TWO_ACTIONS, num_envs=2, n_step=3, discount=0.9, frame_stack=4, seed=0)
    reference, scripted = Reference(2, 3, 0.9), ScriptedStacks(2, seed=0)
    matched, stale_indices, td_rng = [], None, np.random.default_rng(0)
    for step in range(600):
        transition = scripted.step()
        buffer.add(*transition)
        reference.record(*transition)
        if step % 10 == 9:
            if prioritized and stale_indices is not None:  # some were overwritten since: they must stay out
                buffer.update_priorities(stale_indices, td_rng.uniform(0.5, 2.0, len(stale_indices)))
            matched += check_samples(buffer, reference, batches=2, batch_size=64, **sample_kwargs)
            stale_indices = buffer.sample(64, **sample_kwargs).indices
    final = check_samples(buffer, reference, batches=50, batch_size=64, **sample_kwargs)
    assert len({(where[1].env, where[1].stored_index) for where in final}) == len(buffer)
    first_stacks = [(t, step) for t, step in matched if t < 3]
    assert any(step.zero_filled_start for t, step in first_stacks)  # zeros before a real reset
    assert any(not step.zero_filled_start and step.stored_index > 20 for t, step in first_stacks)  # after a lost life
    assert any(step.stored_index < 3 for t, step in matched)  # the first episode, whose older frames came first


@pytest.mark.parametrize("env_id, num_envs, steps, capacity", [
    ("ALE/Pong-v5", 2, 2000, 600),  # episodes of ~800 steps, each starting from a zero-filled stack
    ("ALE/Breakout-v5", 1, 2000, 300),  # a lost life ends the learning episode; the stack goes on
])
def test_sampled_stacks_equal_the_atari_env_stacks(env_id, num_envs, steps, capacity):
    # dqn2015, training: life loss, clipped rewards
    env, observations = envs.make(envs.resolve(env_id), num_envs, seed=0)
    buffer = ReplayBuffer(capacity, env.single_observation_space, env.single_action_space, num_envs=num_envs,
                          n_step=3, discount=0.99, frame_stack=4, seed=0)
    reference, matched = Reference(num_envs, 3, 0.99), []
    for step in range(steps):
        actions = env.action_space.sample()
        next_observations, rewards, terminated, truncated, _ = env.step(actions)
        transition = (observations, actions, rewards, next_observations, terminated, truncated)
        buffer.add(*transition)
        reference.record(*transition)
        observations = next_observations
        if step % 100 == 99:
            matched += check_samples(buffer, reference, batches=2, batch_size=128)
    env.close()
    batch = buffer.sample(32)
    assert batch.observations.dtype == torch.uint8 and batch.observations.shape == (32, 4, 84, 84)
    assert batch.actions.dtype == torch.int64 and batch.returns.dtype == torch.float32
    assert sum(len(episodes) for episodes in reference.episodes) > num_envs  # episodes ended
    assert max(reference.stored) > buffer.slots_per_env  # the ring wrapped around
    assert any(t < 3 and step.zero_filled_start and step.stored_index > 0 for t, step in matched)
    if env_id == "ALE/Breakout-v5":
        assert any(t < 3 and not step.zero_filled_start for t, step in matched)


# ---- prioritized replay ------------------------------------------------------------------------------------------


def prioritized_with_four(alpha: float, td_errors: list[float], seed: int = 0) -> PrioritizedReplayBuffer:
    """States 0..3 sampleable (one-step), with the given TD errors; beta = step / 10."""
    buffer = PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS, seed=seed, alpha=alpha, beta_start=0.0, beta_steps=10)
    for state in range(4):
        add_scalar(buffer, state, 0.0, state + 1)
    batch = buffer.sample(4, step=0)
    by_state = dict(zip(batch.observations[:, 0].tolist(), batch.indices))
    assert len(by_state) == 4  # stratified: equal priorities give one draw per transition
    buffer.update_priorities(np.array([by_state[s] for s in range(4)]), np.array(td_errors))
    return buffer


def test_sum_tree_finds_leaves_by_cumulative_sum():
    tree = SumTree(4)
    tree.set(np.arange(4), np.array([1.0, 0.0, 3.0, 2.0]))
    assert tree.total == 6.0
    # leaf 0 covers [0, 1), the empty leaf 1 nothing, leaf 2 [1, 4), leaf 3 [4, 6)
    assert tree.find(np.array([0.0, 0.99, 1.0, 3.99, 4.0, 5.99])).tolist() == [0, 0, 2, 2, 3, 3]


def test_prioritized_sampling_frequencies_follow_priorities():
    buffer = prioritized_with_four(alpha=0.5, td_errors=[0.5, 1.0, 2.0, 4.0])
    priorities = np.sqrt([0.5, 1.0, 2.0, 4.0])  # (|delta| + 1e-6)^0.5
    states = np.concatenate([buffer.sample(500, step=4).observations[:, 0].numpy() for _ in range(100)])
    frequencies = np.bincount(states.astype(int), minlength=4) / len(states)
    np.testing.assert_allclose(frequencies, priorities / priorities.sum(), atol=0.01)  # standard deviation <= 0.0022


def test_importance_weights_by_hand():
    buffer = prioritized_with_four(alpha=1.0, td_errors=[1.0, 1.0, 2.0, 4.0])
    # P = [1, 1, 2, 4] / 8, N = 4: N * P = [0.5, 0.5, 1, 2]
    for beta, expected in [(1.0, [2, 2, 1, 0.5]), (0.5, [2**0.5, 2**0.5, 1, 0.5**0.5])]:
        batch = buffer.sample(64, step=round(10 * beta))  # every transition appears: divided by the largest, states 0, 1
        weights = dict(zip(batch.observations[:, 0].tolist(), batch.weights.tolist()))
        assert weights == pytest.approx({s: w / max(expected) for s, w in enumerate(expected)}, abs=1e-5)
    # normalised by the largest weight in the batch (the paper's Algorithm 1), not over the buffer
    assert buffer.sample(1, step=10).weights.tolist() == [1.0]


def test_the_importance_exponent_anneals_linearly_to_one_and_stays_there():
    buffer = PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS, beta_start=0.4, beta_steps=1_000)
    assert [buffer.beta(step) for step in (0, 250, 500, 1_000, 2_000)] == pytest.approx([0.4, 0.55, 0.7, 1.0, 1.0])


def test_new_transitions_get_the_largest_priority_so_far():
    buffer = prioritized_with_four(alpha=1.0, td_errors=[1.0, 1.0, 2.0, 4.0])
    add_scalar(buffer, 4, 0.0, 5)
    batch = buffer.sample(64, step=10)
    weights = dict(zip(batch.observations[:, 0].tolist(), batch.weights.tolist()))
    assert weights[4] == pytest.approx(weights[3])  # both have priority 4
    assert weights[4] == pytest.approx(weights[0] / 4)


def test_update_priorities_changes_what_is_sampled():
    buffer = prioritized_with_four(alpha=0.6, td_errors=[0.0, 0.0, 0.0, 0.0])
    batch = buffer.sample(4, step=4)
    state_2 = batch.indices[batch.observations[:, 0] == 2]
    buffer.update_priorities(state_2, torch.tensor([1000.0]))
    states = buffer.sample(1000, step=4).observations[:, 0]
    assert (states == 2).float().mean() > 0.99


# ---- arguments ---------------------------------------------------------------------------------------------------

IMAGE = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)


@pytest.mark.parametrize("kwargs, named, expected", [
    (dict(capacity=0), "capacity", "at least 3 slots"),
    (dict(capacity=-5), "capacity", "at least"),
    (dict(capacity=10, num_envs=4, n_step=2), "capacity", "at least 16 slots"),
    (dict(n_step=0), "n_step", ">= 1"),
    (dict(num_envs=0), "num_envs", "positive"),
    (dict(discount=1.5), "discount", "in \\[0, 1\\]"),
    (dict(frame_stack=4), "frame_stack", "1 for observations of shape \\(1,\\)"),
    (dict(frame_stack=4, observation_space=gym.spaces.Box(0, 1, (10, 10, 4))), "frame_stack", "height, width"),
    (dict(frame_stack=0), "frame_stack", ">= 1"),
    (dict(observation_space=gym.spaces.Discrete(3)), "observation_space", "Box"),
    (dict(action_space=gym.spaces.MultiDiscrete([2, 2])), "action_space", "Discrete or Box"),
])
def test_bad_arguments_say_which_and_what_was_expected(kwargs, named, expected):
    arguments = dict(capacity=100, observation_space=SCALAR, action_space=TWO_ACTIONS) | kwargs
    with pytest.raises(ValueError, match=f"^{named}: expected .*{expected}"):
        ReplayBuffer(**arguments)


def test_bad_prioritized_and_sampling_arguments():
    with pytest.raises(ValueError, match="^alpha: expected"):
        PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS, alpha=-1)
    with pytest.raises(ValueError, match="^priority_eps: expected a positive number"):
        PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS, priority_eps=0)
    buffer = PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS)
    with pytest.raises(ValueError, match="no sampleable transition yet"):
        buffer.sample(32, step=4)
    add_scalar(buffer, 0, 0.0, 1)
    with pytest.raises(ValueError, match="^beta_start: expected"):
        PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS, beta_start=1.5)
    with pytest.raises(ValueError, match="^beta_steps: expected a positive number"):
        PrioritizedReplayBuffer(100, SCALAR, TWO_ACTIONS, beta_steps=0)
    with pytest.raises(ValueError, match="^batch_size: expected"):
        buffer.sample(0, step=4)
    with pytest.raises(ValueError, match="^td_errors: expected one TD error per index"):
        buffer.update_priorities(np.array([0, 1]), np.array([1.0]))
    with pytest.raises(ValueError, match="^observations: expected an array of shape \\(1, 1\\)"):
        buffer.add(np.zeros((1, 2)), np.zeros(1, np.int64), np.zeros(1), np.zeros((1, 1)), np.zeros(1, bool),
                   np.zeros(1, bool))
