"""common/actor_pool.py: the rate limiter against hand-computed bounds and under any actor/learner speed
ratio; weight versions; actor processes that both insert and receive new weights; an actor killed
or failing ends the run within seconds naming it; the in-process actor repeats; and the replay's
per-env `add` that streams arriving at different times use (common/replay.py)."""

import os
import signal
import time

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

import envs
from algos import d4pg
from common.actor_pool import ActorFailed, ActorPool, RateLimiter, SharedWeights, budgets
from common.replay import ReplayBuffer

LIMITER = RateLimiter(samples_per_insert=2.0, min_size_to_sample=4, error_buffer=3.0)  # min_diff 5, max_diff 11


def test_rate_limiter_bounds_by_hand():
    assert (LIMITER.min_diff, LIMITER.max_diff) == (5.0, 11.0)
    # below the minimum size inserts are free, samples forbidden
    assert LIMITER.can_insert(inserts=100, samples=0, size=3)
    assert not LIMITER.can_sample(inserts=100, samples=0, size=3, count=1)
    # at 4 inserts D = 8: a 5th makes D = 10 <= 11, a 6th 12 > 11
    assert LIMITER.can_insert(inserts=4, samples=0, size=4)
    assert not LIMITER.can_insert(inserts=5, samples=0, size=5)
    # a minibatch of 3 leaves D = 5 = min_diff, one of 4 would leave 4
    assert LIMITER.can_sample(inserts=4, samples=0, size=4, count=3)
    assert not LIMITER.can_sample(inserts=4, samples=0, size=4, count=4)
    # after 3 samples D = 5: an insert is allowed again (7 <= 11)
    assert LIMITER.can_insert(inserts=5, samples=3, size=5)


@pytest.mark.parametrize("actor_speed", [1, 10, 1000])
def test_the_ratio_holds_whatever_the_actor_is_faster(actor_speed):
    """However many insert attempts the actor makes per learner attempt, the learner's samples stay within
    the error buffer of samples_per_insert x inserts."""
    limiter, batch = RateLimiter(samples_per_insert=4.0, min_size_to_sample=20, error_buffer=16.0), 8
    inserts = samples = 0
    for _ in range(2_000):
        for _ in range(actor_speed):
            if limiter.can_insert(inserts, samples, inserts):
                inserts += 1
        if limiter.can_sample(inserts, samples, inserts, batch):
            samples += batch
        if inserts >= limiter.min_size_to_sample:
            offset = inserts * limiter.samples_per_insert - samples - limiter.min_size_to_sample * limiter.samples_per_insert
            assert -limiter.error_buffer - batch <= offset <= limiter.error_buffer
    assert inserts > 100 and abs(samples / inserts - 4.0) < 0.5


def test_budgets_share_the_total():
    assert budgets(10, 3) == [4, 3, 3] and sum(budgets(7, 7)) == 7


def test_shared_weights_versions():
    policy, other = nn.Linear(3, 2), nn.Linear(3, 2)
    weights = SharedWeights(policy, shared=False)
    assert weights.published == 0
    weights.publish(policy)
    assert weights.published == 1
    assert weights.load_if_newer(other, 0) == 1
    torch.testing.assert_close(other.weight, policy.weight)
    with torch.no_grad():
        policy.weight.add_(1.0)
    assert weights.load_if_newer(other, 1) == 1  # nothing newer was published: unchanged
    assert not torch.equal(other.weight, policy.weight)
    weights.publish(policy)
    assert weights.load_if_newer(other, 1) == 2
    torch.testing.assert_close(other.weight, policy.weight)


def small_config(**changes) -> d4pg.Config:
    return d4pg.Config(**{"env_id": "Pendulum-v1", "policy_layers": "16", "critic_layers": "16", "batch_size": 8,
                          "min_replay_size": 20, "samples_per_insert": 8.0, "samples_per_insert_tolerance": 0.5,
                          **changes})


def pool_for(config: d4pg.Config, processes: int, seed: int = 0, total_steps: int = 10_000) -> ActorPool:
    environment = envs.resolve(config.env_id)
    torch.manual_seed(seed)
    policy, _ = d4pg.make_networks(*envs.spaces(environment), config)
    limiter = RateLimiter(config.samples_per_insert, config.min_replay_size, config.error_buffer)
    return ActorPool(processes, d4pg.make_actor, (config, environment), policy, limiter, seed, total_steps), policy


def test_two_actor_processes_both_insert_and_receive_new_weights():
    config = small_config()
    pool, policy = pool_for(config, processes=2)
    seen: dict[int, int] = {}  # actor -> newest policy version it acted with
    counted = 0
    with pool:
        deadline = time.monotonic() + 60
        while not (len(seen) == 2 and min(seen.values()) >= 3) and time.monotonic() < deadline:
            while pool.can_sample(config.batch_size, counted):
                pool.sampled(config.batch_size)
                if pool.samples % (10 * config.batch_size) == 0:
                    pool.publish(policy)  # the learner's t_actors
            for transition in pool.receive():
                counted += transition.counted
                seen[transition.actor] = max(seen.get(transition.actor, 0), transition.policy_version)
    assert set(seen) == {0, 1}, seen
    assert min(seen.values()) >= 3, f"both actors acted with the third published weights or later: {seen}"
    assert pool.weights.published >= 3
    # each actor reported its peak memory and CPU seconds as it stopped (the run adds them to its own)
    assert len(pool.worker_usage) == 2 and all(rss > 50 and cpu > 0 for rss, cpu in pool.worker_usage)


def test_a_killed_actor_ends_the_run_within_seconds_naming_it():
    config = small_config()
    pool, _ = pool_for(config, processes=2)
    with pool:
        counted = 0
        while counted < 50:  # both running
            while pool.can_sample(config.batch_size, counted):
                pool.sampled(config.batch_size)
            counted += sum(transition.counted for transition in pool.receive())
        os.kill(pool.workers[1].pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(ActorFailed, match=r"actor 1 \(pid \d+\) exited with code -9 \(killed by signal 9\)"):
            while time.monotonic() - started < 30:
                while pool.can_sample(config.batch_size, counted):
                    pool.sampled(config.batch_size)
                counted += sum(transition.counted for transition in pool.receive())
        assert time.monotonic() - started < 5
    assert not any(worker.is_alive() for worker in pool.workers)  # the other actor was stopped too


def test_an_actor_that_raises_reports_its_traceback():
    config = small_config()
    environment = envs.resolve(config.env_id)
    policy, _ = d4pg.make_networks(*envs.spaces(environment), config)
    limiter = RateLimiter(config.samples_per_insert, config.min_replay_size, config.error_buffer)
    pool = ActorPool(1, d4pg.make_actor, (config, "not an environment"), policy, limiter, 0, 100)
    with pool, pytest.raises(ActorFailed, match=r"(?s)actor 0 raised:.*Traceback.*AttributeError"):
        started = time.monotonic()
        while time.monotonic() - started < 30:
            pool.receive()


def test_the_in_process_actor_repeats_from_its_seed():
    def transitions(seed):
        pool, _ = pool_for(small_config(), processes=0, seed=seed)
        steps = []
        with pool:
            for _ in range(300):
                pool.can_sample(8, len(steps))  # tells the pool the replay's size, samples nothing
                steps += pool.receive()
        return np.array([transition.action for transition in steps]), np.array([transition.reward for transition in steps])

    first, again, other = transitions(3), transitions(3), transitions(4)
    # the learner sampled nothing: the limiter stops the actor at D = max_diff, 20 x 8 + 80 = 30 inserts x 8
    assert len(first[0]) == 30
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_replay_streams_added_one_env_at_a_time_equal_batched_adds():
    """Envs whose steps arrive at different times (`add(..., envs=[k])`) give the buffer the same
    contents as one batched add per step, autoreset steps included."""
    space = gym.spaces.Box(-10, 10, (1,), np.float32)
    batched = ReplayBuffer(64, space, space, num_envs=2, n_step=3, discount=0.5, seed=0)
    streamed = ReplayBuffer(64, space, space, num_envs=2, n_step=3, discount=0.5, seed=0)
    rng = np.random.default_rng(0)
    observation = np.zeros((2, 1), np.float32)
    for t in range(30):
        next_observation = rng.normal(size=(2, 1)).astype(np.float32)
        action, reward = rng.normal(size=(2, 1)).astype(np.float32), rng.normal(size=2).astype(np.float32)
        terminated, truncated = np.array([t % 7 == 6, False]), np.array([False, t % 5 == 4])
        batched.add(observation, action, reward, next_observation, terminated, truncated)
        for env in (1, 0) if t % 2 else (0, 1):  # either env may arrive first
            streamed.add(observation[[env]], action[[env]], reward[[env]], next_observation[[env]], terminated[[env]],
                         truncated[[env]], envs=[env])
        observation = next_observation
    assert len(batched) == len(streamed) > 0
    for name in ("_frames", "_actions", "_rewards", "_returns", "_discounts", "_next_offsets", "_sampleable"):
        np.testing.assert_array_equal(getattr(batched, name), getattr(streamed, name), err_msg=name)
