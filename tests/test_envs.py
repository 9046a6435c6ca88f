"""The env layer across families: checker, ids, the resolved environment and its record, evaluation."""

import pickle
import warnings

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import envs
from core.errors import ConfigError

ONE_PER_FAMILY = ["ALE/Pong-v5", "dmc/cartpole-swingup", "MinAtar/Breakout-v1", "Hopper-v5", "CartPole-v1"]


# The env checker's warnings, examined (2026-12-07, gymnasium 1.4.0), and why each is expected here; any other fails.
EXPECTED_CHECKER_WARNINGS = {
    # the point of the test: it checks the env through our wrappers, not the bare env
    "is different from the unwrapped version": ONE_PER_FAMILY,
    # the envs' own observation spaces: CartPole's velocities, MuJoCo's and the Control Suite's states are unbounded
    "observation space minimum value is -infinity": ["CartPole-v1", "Hopper-v5", "dmc/cartpole-swingup"],
    "observation space maximum value is infinity": ["CartPole-v1", "Hopper-v5", "dmc/cartpole-swingup"],
}


@pytest.mark.parametrize("env_id", ONE_PER_FAMILY)
def test_gymnasium_env_checker_passes_through_our_wrappers(env_id):
    for training in (True, False):
        env = envs.make_single(envs.resolve(env_id), training)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env, skip_render_check=True)
        env.close()
        unexpected = [str(warning.message) for warning in caught
                      if not any(pattern in str(warning.message) and env_id in where
                                 for pattern, where in EXPECTED_CHECKER_WARNINGS.items())]
        assert unexpected == [], (env_id, training)


@pytest.mark.parametrize("env_id, shape, dtype", [
    ("MinAtar/Breakout-v1", (10, 10, 4), np.bool_),
    ("Hopper-v5", (11,), np.float64),
    ("dmc/walker-walk", (24,), np.float32),
    ("CartPole-v1", (4,), np.float32),
])
def test_observation_shapes_and_dtypes(env_id, shape, dtype):
    env, observation = envs.make(envs.resolve(env_id), 2, seed=0)
    assert observation.shape == (2, *shape) and observation.dtype == dtype


def test_every_listed_id_resolves_with_its_family_default_protocol_and_record():
    for name, family in {**envs.FAMILIES, "gymnasium": envs.standard}.items():
        for env_id in family.env_ids():
            environment = envs.resolve(env_id)
            assert (environment.id, environment.family, environment.backend) == (env_id, name, "gymnasium")
            assert environment.protocol.name == family.DEFAULT_PROTOCOL
            record = environment.record
            assert record["env_id"] == env_id and record["family"] == name
            assert record["protocol"] == family.DEFAULT_PROTOCOL
    assert len(envs.atari.env_ids()) == 57 and len(envs.minatar.env_ids()) == 5


def test_unknown_env_id_lists_the_valid_choices():
    with pytest.raises(ConfigError) as error:
        envs.check_env_id("ALE/Pongg-v5")
    message = str(error.value)
    assert message.startswith("env_id: expected an id of a supported family")
    for example in ("ALE/Pong-v5", "dmc/cheetah-run", "MinAtar/Seaquest-v1", "HalfCheetah-v5", "CartPole-v1"):
        assert example in message


def test_protocol_options_are_typed_and_recorded():
    environment = envs.resolve("dmc/cheetah-run", "dmc:action_repeat=4")
    assert environment.protocol.action_repeat == 4
    assert environment.record["action_repeat"] == 4 and environment.record["episode_agent_steps"] == 250
    with pytest.raises(ConfigError, match="a int"):
        envs.resolve("dmc/cheetah-run", "dmc:action_repeat=four")
    with pytest.raises(ConfigError, match="ale_vector runs Atari only"):
        envs.resolve("CartPole-v1", backend="ale_vector")
    with pytest.raises(ConfigError, match="env_backend: expected one of"):
        envs.resolve("CartPole-v1", backend="envpool")


def test_a_resolved_environment_is_a_value_that_pickles():
    environment = envs.resolve("ALE/Pong-v5", "machado2018:full_action_space=true", "ale_vector")
    assert envs.resolve("ALE/Pong-v5", "machado2018:full_action_space=true", "ale_vector") == environment
    assert pickle.loads(pickle.dumps(environment)) == environment  # checkpoints and worker processes carry it
    assert environment != envs.resolve("ALE/Pong-v5", "machado2018", "ale_vector")


def test_evaluate_plays_whole_episodes_and_epsilon_randomises():
    always_left = lambda observations: np.zeros(len(observations), dtype=np.int64)  # noqa: E731
    cartpole = envs.resolve("CartPole-v1")
    returns = envs.evaluate(always_left, cartpole, episodes=4, seed=0, round_index=0)
    assert len(returns) == 4 and all(8 <= r <= 12 for r in returns)  # pushing left topples the pole in ~10 steps
    assert envs.evaluate(always_left, cartpole, 4, 0, 0) == returns  # seeded
    random_returns = envs.evaluate(always_left, cartpole, 4, 0, 0, epsilon=1.0)
    assert np.mean(random_returns) > np.mean(returns)  # a random policy balances longer than always-left


def test_same_seed_same_first_observations_per_env():
    cartpole = envs.resolve("CartPole-v1")
    _, first = envs.make(cartpole, 3, seed=7)
    _, again = envs.make(cartpole, 3, seed=7)
    _, other = envs.make(cartpole, 3, seed=8)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])  # envs within a run get different seeds


def play(env, actions):
    return [(observation.copy(), reward.copy(), terminated.copy())
            for observation, reward, terminated, _, _ in (env.step(action) for action in actions)]


@pytest.mark.parametrize("env_id, protocol", [("CartPole-v1", "default"), ("Pendulum-v1", "default"),
                                               ("dmc/cartpole-swingup", "default"), ("MinAtar/Breakout-v1", "default"),
                                               ("ALE/Breakout-v5", "dqn2015"), ("ALE/Breakout-v5", "machado2018")])
def test_a_snapshot_continues_the_episodes_in_flight(env_id, protocol):
    """Including what follows the snapshot's episode ends: no-op draws, sticky actions, new episodes' seeds."""
    environment = envs.resolve(env_id, protocol)
    env, _ = envs.make(environment, 2, seed=3)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(430)]
    play(env, actions[:30])
    saved = envs.snapshot(env)
    assert saved is not None
    continued = play(env, actions[30:])
    if env_id not in ("Pendulum-v1", "dmc/cartpole-swingup"):  # these end by time limits only, not terminations
        assert any(done.any() for _, _, done in continued)  # episodes ended and restarted after the snapshot
    restored, observation = envs.restore(saved, environment, 2, seed=3, step=30)
    assert observation is None  # the algorithm restores its own saved observation
    for (a_obs, a_reward, a_done), (b_obs, b_reward, b_done) in zip(continued, play(restored, actions[30:])):
        assert np.array_equal(a_obs, b_obs) and np.array_equal(a_reward, b_reward) and np.array_equal(a_done, b_done)


@pytest.mark.parametrize("env_id, backend", [("Hopper-v5", "gymnasium"), ("InvertedPendulum-v5", "gymnasium"),
                                             ("ALE/Pong-v5", "ale_vector"), ("CartPole-v1", "gymnasium_async")])
def test_what_cannot_be_saved_says_so(env_id, backend):
    env, _ = envs.make(envs.resolve(env_id, backend=backend), 1, seed=0)
    assert envs.snapshot(env) is None  # MuJoCo pickles as new episodes; an engine and worker processes do not pickle
    env.close()


def test_an_env_that_cannot_be_saved_restarts_seeded_from_the_step():
    hopper = envs.resolve("Hopper-v5")
    _, first = envs.restore(None, hopper, 1, seed=3, step=500)
    _, again = envs.restore(None, hopper, 1, seed=3, step=500)
    _, later = envs.restore(None, hopper, 1, seed=3, step=1000)
    assert np.array_equal(first, again) and not np.array_equal(first, later)


def test_cartpole_without_velocities_is_cartpole_seen_through_position_and_angle():
    masked, full = envs.resolve("CartPoleNoVelocity-v1"), envs.resolve("CartPole-v1")
    assert "velocities hidden" in masked.record["observations"] and masked.record["max_episode_steps"] == 500
    assert full.record["observations"] == "raw"
    single = envs.make_single(masked, training=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "different from the unwrapped version": our wrappers, as above
        check_env(single, skip_render_check=True)
    single.close()
    masked_env, masked_observation = envs.make(masked, 2, seed=4)
    full_env, full_observation = envs.make(full, 2, seed=4)
    assert masked_env.single_observation_space.shape == (2,)
    ended = 0
    for action in np.random.default_rng(0).integers(0, 2, size=(300, 2)):  # through episode ends and resets
        assert np.array_equal(masked_observation, full_observation[:, [0, 2]])  # x and theta; not x_dot, theta_dot
        masked_observation, masked_reward, masked_end, _, _ = masked_env.step(action)
        full_observation, full_reward, full_end, _, _ = full_env.step(action)
        assert np.array_equal(masked_reward, full_reward) and np.array_equal(masked_end, full_end)
        ended += masked_end.sum()
    assert ended > 10
