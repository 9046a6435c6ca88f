"""Observation normalization and return scaling: the arithmetic, clipping, freezing and saved statistics."""

import json

import gymnasium as gym
import numpy as np
import pytest

import envs
from core.errors import ConfigError
from envs.normalize import (add_normalization, freeze, load_normalization, load_normalization_state,
                            normalization_state, save_normalization)


class CountingEnv(gym.Env):
    """Episodes of three steps with rewards 1, 2, 3, ended by termination or by a time limit."""

    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = gym.spaces.Discrete(1)

    def __init__(self, ending: str):
        self.ending = ending

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.step_count = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.step_count += 1
        over = self.step_count == 3
        return (np.full(1, self.step_count, np.float32), float(self.step_count),
                over and self.ending == "terminated", over and self.ending == "truncated", {})


def variance_with_prior(samples: list[float]) -> float:
    """What RunningMeanStd tracks, in closed form: the samples pooled with its prior, weight 1e-4, mean 0, var 1."""
    weight = 1e-4 + len(samples)
    mean = sum(samples) / weight
    return (1e-4 * 1.0 + sum(x * x for x in samples)) / weight - mean**2


def stepped(env_id: str, num_envs: int, steps: int, seed: int, **normalization) -> gym.vector.VectorEnv:
    env = add_normalization(gym.make_vec(env_id, num_envs, vectorization_mode="sync"), **normalization)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    for _ in range(steps):
        env.step(env.action_space.sample())
    return env


@pytest.mark.parametrize("ending", ["terminated", "truncated"])
def test_rewards_are_divided_by_the_std_of_the_discounted_return(ending):
    env = add_normalization(gym.vector.SyncVectorEnv([lambda: CountingEnv(ending)]), observations=False,
                            returns=True, gamma=0.5)
    env.reset(seed=0)
    scaled = [float(env.step(np.zeros(1, dtype=int))[1][0]) for _ in range(7)]
    # R = 0.5 R + r restarting after either ending: 1, 2.5, 4.25, (autoreset step: no sample), 1, 2.5, 4.25.
    # gymnasium's own NormalizeReward would give 1, 2.5, 3 and then 2.5 (terminated) or 3.125 (truncated).
    returns = [1.0, 2.5, 4.25, None, 1.0, 2.5, 4.25]
    rewards = [1.0, 2.0, 3.0, 0.0, 1.0, 2.0, 3.0]
    seen, expected = [], []
    for discounted_return, reward in zip(returns, rewards):
        if discounted_return is not None:
            seen.append(discounted_return)
        expected.append(min(reward / np.sqrt(variance_with_prior(seen) + 1e-8), 10.0))
    # first step: var of {1} with the prior is ~2e-4, so 1 / 0.014 = 70.7 clips to 10;
    # second: var of {1, 2.5} is 0.5625, so 2 / 0.75 = 2.667; third: var of {1, 2.5, 4.25} is 1.764, 3 / 1.328 = 2.259
    assert expected[:3] == pytest.approx([10.0, 2.6667, 2.2589], abs=1e-3)
    assert scaled == pytest.approx(expected, rel=1e-5)
    assert normalization_state(env)["returns"]["count"] == pytest.approx(6 + 1e-4)


def test_episode_returns_stay_raw():
    env = add_normalization(envs.make_vector(envs.resolve("CartPole-v1"), num_envs=4), observations=True, returns=True)
    env.reset(seed=0)
    env.action_space.seed(0)
    ended = 0
    for _ in range(100):
        _, reward, _, _, info = env.step(env.action_space.sample())
        if "episode" in info:
            finished = info["_episode"]
            # CartPole pays 1 per step, so a raw return equals the episode length
            assert np.array_equal(info["episode"]["r"][finished], info["episode"]["l"][finished])
            ended += finished.sum()
    assert ended > 0
    assert not np.allclose(reward, 1.0)


def test_normalized_observations_have_zero_mean_and_unit_variance():
    env = add_normalization(gym.make_vec("CartPole-v1", 8, vectorization_mode="sync"), observations=True, returns=False)
    env.reset(seed=1)
    env.action_space.seed(1)
    observations = [env.step(env.action_space.sample())[0] for _ in range(600)][300:]
    observations = np.concatenate(observations)
    assert np.all(np.abs(observations.mean(axis=0)) < 0.2)
    assert np.all((0.8 < observations.std(axis=0)) & (observations.std(axis=0) < 1.2))


def test_observations_are_clipped():
    raw_env = gym.make_vec("CartPole-v1", 2, vectorization_mode="sync")
    env = add_normalization(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), observations=True,
                            returns=False, clip=5.0)
    state = normalization_state(env)
    state["observations"].update(mean=[0.0] * 4, var=[1e-6] * 4)  # std 0.001: any raw |x| > 0.005 clips
    load_normalization_state(env, state)
    freeze(env)
    raw, _ = raw_env.reset(seed=3)
    normalized, _ = env.reset(seed=3)
    assert normalized == pytest.approx(np.clip(raw / np.sqrt(1e-6 + 1e-8), -5.0, 5.0), rel=1e-5)
    assert np.any(np.abs(normalized) == 5.0)


def test_freeze_stops_the_statistics():
    env = stepped("Pendulum-v1", num_envs=2, steps=50, seed=0, observations=True, returns=True)
    freeze(env)
    before = normalization_state(env)
    env.reset(seed=1)
    for _ in range(50):
        env.step(env.action_space.sample())
    assert normalization_state(env) == before


def test_state_round_trips_through_a_file(tmp_path):
    trained = stepped("Pendulum-v1", num_envs=4, steps=300, seed=0, observations=True, returns=True)
    save_normalization(trained, tmp_path / "normalization.json")
    saved = json.loads((tmp_path / "normalization.json").read_text())
    assert saved["gamma"] == 0.99 and saved["clip"] == 10.0
    assert saved["returns"]["count"] == pytest.approx(4 * 300 - 4 + 1e-4)  # one autoreset step per env (200-step limit)

    fresh = add_normalization(gym.make_vec("Pendulum-v1", 4, vectorization_mode="sync"), observations=True,
                              returns=True)
    load_normalization(fresh, tmp_path / "normalization.json")
    assert normalization_state(fresh) == normalization_state(trained)

    freeze(trained)
    freeze(fresh)
    observations = [env.reset(seed=5)[0] for env in (trained, fresh)]
    np.testing.assert_array_equal(observations[0], observations[1])
    actions = np.random.default_rng(0).uniform(-2, 2, size=(20, 4, 1)).astype(np.float32)
    for action in actions:
        (trained_obs, trained_reward, *_), (fresh_obs, fresh_reward, *_) = trained.step(action), fresh.step(action)
        np.testing.assert_array_equal(trained_obs, fresh_obs)
        np.testing.assert_array_equal(trained_reward, fresh_reward)


def test_loading_refuses_a_state_from_another_setting():
    env = stepped("Pendulum-v1", num_envs=2, steps=10, seed=0, observations=True, returns=True)
    state = normalization_state(env)
    with pytest.raises(ConfigError, match="gamma"):
        load_normalization_state(env, {**state, "gamma": 0.999})
    returns_only = add_normalization(gym.make_vec("Pendulum-v1", 2, vectorization_mode="sync"), observations=False,
                                     returns=True)
    with pytest.raises(ConfigError, match="observations"):
        load_normalization_state(returns_only, state)
    cartpole = add_normalization(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), observations=True,
                                 returns=True)
    with pytest.raises(ConfigError, match="shape"):
        load_normalization_state(cartpole, state)


def test_misuse_is_refused():
    env = add_normalization(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), observations=True, returns=False)
    with pytest.raises(ConfigError, match="twice"):
        add_normalization(env, observations=False, returns=True)
    with pytest.raises(ConfigError, match="add_normalization"):
        normalization_state(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"))
    with pytest.raises(ConfigError, match="clip"):
        add_normalization(gym.make_vec("CartPole-v1", 2, vectorization_mode="sync"), True, True, clip=0.0)


def test_float64_statistics_round_trip_without_losing_precision():
    """MuJoCo observations are float64: statistics restored into a freshly built (float32) wrapper stay float64."""
    hopper = envs.resolve("Hopper-v5")
    env = add_normalization(envs.make_vector(hopper, 1), observations=True, returns=False)
    env.reset(seed=0)
    for _ in range(20):
        env.step(env.action_space.sample())
    state = normalization_state(env)
    rebuilt = add_normalization(envs.make_vector(hopper, 1), observations=True, returns=False)
    load_normalization_state(rebuilt, json.loads(json.dumps(state)))
    assert normalization_state(rebuilt) == state
    assert state["observations"]["dtype"] == "float64"
