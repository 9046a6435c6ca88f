"""The env layer across families: checker, ids, protocol records, evaluation."""

import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from core.errors import ConfigError

ONE_PER_FAMILY = ["ALE/Pong-v5", "dmc/cartpole-swingup", "MinAtar/Breakout-v1", "Hopper-v5", "CartPole-v1"]


@pytest.mark.parametrize("env_id", ONE_PER_FAMILY)
def test_gymnasium_env_checker_passes_through_our_wrappers(env_id):
    for training in (True, False):
        env = envs.make_single(env_id, envs.resolve_protocol(env_id), training)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "infinite bounds" on dm_control observations
            check_env(env, skip_render_check=True)
        env.close()


@pytest.mark.parametrize("env_id, shape, dtype", [
    ("MinAtar/Breakout-v1", (10, 10, 4), np.bool_),
    ("Hopper-v5", (11,), np.float64),
    ("dmc/walker-walk", (24,), np.float32),
    ("CartPole-v1", (4,), np.float32),
])
def test_observation_shapes_and_dtypes(env_id, shape, dtype):
    env, observation = envs.make(env_id, 2, seed=0)
    assert observation.shape == (2, *shape) and observation.dtype == dtype


def test_every_listed_id_is_known_and_has_a_protocol_record():
    for name, family in {**envs.FAMILIES, "gymnasium": envs.standard}.items():
        for env_id in family.env_ids():
            envs.check_env_id(env_id)
            record = envs.protocol_record(env_id)
            assert record["family"] == name and record["protocol"] == family.DEFAULT_PROTOCOL
    assert len(envs.atari.env_ids()) == 57 and len(envs.minatar.env_ids()) == 5


def test_unknown_env_id_lists_the_valid_choices():
    with pytest.raises(ConfigError) as error:
        envs.check_env_id("ALE/Pongg-v5")
    message = str(error.value)
    assert message.startswith("env_id: expected an id of a supported family")
    for example in ("ALE/Pong-v5", "dmc/cheetah-run", "MinAtar/Seaquest-v1", "HalfCheetah-v5", "CartPole-v1"):
        assert example in message


def test_protocol_options_are_typed_and_recorded():
    record = envs.protocol_record("dmc/cheetah-run", "dmc:action_repeat=4")
    assert record["action_repeat"] == 4 and record["episode_agent_steps"] == 250
    with pytest.raises(ConfigError, match="a int"):
        envs.resolve_protocol("dmc/cheetah-run", "dmc:action_repeat=four")
    with pytest.raises(ConfigError, match="ale_vector runs Atari only"):
        envs.make("CartPole-v1", 1, seed=0, backend="ale_vector")


def test_evaluate_plays_whole_episodes_and_epsilon_randomises():
    always_left = lambda observations: np.zeros(len(observations), dtype=np.int64)  # noqa: E731
    returns = envs.evaluate(always_left, "CartPole-v1", episodes=4, seed=0, round_index=0)
    assert len(returns) == 4 and all(8 <= r <= 12 for r in returns)  # pushing left topples the pole in ~10 steps
    assert envs.evaluate(always_left, "CartPole-v1", 4, 0, 0) == returns  # seeded
    random_returns = envs.evaluate(always_left, "CartPole-v1", 4, 0, 0, epsilon=1.0)
    assert np.mean(random_returns) > np.mean(returns)  # a random policy balances longer than always-left


def test_same_seed_same_first_observations_per_env():
    _, first = envs.make("CartPole-v1", 3, seed=7)
    _, again = envs.make("CartPole-v1", 3, seed=7)
    _, other = envs.make("CartPole-v1", 3, seed=8)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # envs within a run get different seeds
