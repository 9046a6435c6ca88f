"""The DeepMind Control Suite family: episode boundaries, action repeat, seeding and observations,
checked against dm_control itself."""

import csv
import warnings

import dm_env
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from core.errors import ConfigError
from envs import dmc


def make(env_id: str, **protocol_changes) -> dmc.DMCEnv:
    return dmc.make_env(env_id, dmc.DMCProtocol(**protocol_changes), training=True)


def load_dm_control(domain: str, task: str, seed: int):
    """The raw dm_control env our env wraps; import after `make`, which chose MUJOCO_GL."""
    from dm_control import suite

    return suite.load(domain, task, task_kwargs={"random": seed})


def flatten(observation: dict) -> np.ndarray:
    return np.concatenate([np.ravel(value) for value in observation.values()]).astype(np.float32)


def test_gymnasium_env_checker_passes():
    env = make("dmc/cartpole-swingup")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env, skip_render_check=True)
    # a state vector is unbounded, which the checker merely flags
    unexpected = [str(w.message) for w in caught if "infinity" not in str(w.message)]
    assert unexpected == []


def test_episode_is_1000_steps_and_ends_in_truncation():
    env = make("dmc/cartpole-balance")
    env.reset(seed=0)
    env.action_space.seed(0)
    for agent_step in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        assert not terminated
        assert truncated == (agent_step == 1000)


def test_action_repeat_sums_the_rewards_of_the_repeated_env_steps():
    action_repeat, seed = 4, 3
    env = make("dmc/cartpole-balance", action_repeat=action_repeat)
    raw_env = load_dm_control("cartpole", "balance", seed)
    observation, _ = env.reset(seed=seed)
    np.testing.assert_array_equal(observation, flatten(raw_env.reset().observation))
    actions = np.random.default_rng(0).uniform(-1, 1, size=(250, 1)).astype(np.float32)
    for agent_step, action in enumerate(actions, start=1):
        observation, reward, terminated, truncated, _ = env.step(action)
        raw_steps = [raw_env.step(action) for _ in range(action_repeat)]
        assert reward == sum(raw_step.reward for raw_step in raw_steps)
        np.testing.assert_array_equal(observation, flatten(raw_steps[-1].observation))
        assert not terminated
        assert truncated == (agent_step == 250)
    assert raw_steps[-1].last() and raw_steps[-1].discount == 1.0


def test_discount_zero_before_the_time_limit_is_a_termination():
    env = make("dmc/cartpole-balance")
    observation, _ = env.reset(seed=0)
    raw_observation = env.dm_control_env.step(np.zeros(1)).observation
    env.dm_control_env.step = lambda action: dm_env.termination(reward=0.5, observation=raw_observation)
    _, reward, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
    assert (reward, terminated, truncated) == (0.5, True, False)


def test_same_seed_same_episode_and_other_seed_other_start():
    actions = np.random.default_rng(0).uniform(-1, 1, size=(20, 6)).astype(np.float32)

    def play(env, seed):
        first_observation, _ = env.reset(seed=seed)
        rewards = [env.step(action)[1] for action in actions]
        return first_observation, rewards

    env, other_env = make("dmc/walker-walk"), make("dmc/walker-walk")
    first_observation, rewards = play(env, seed=7)
    for replay_env in (other_env, env):  # a fresh env, and the same env reseeded after an episode
        replay_first_observation, replay_rewards = play(replay_env, seed=7)
        np.testing.assert_array_equal(replay_first_observation, first_observation)
        assert replay_rewards == rewards
    assert not np.array_equal(play(other_env, seed=8)[0], first_observation)


@pytest.mark.parametrize("env_id, size", [("dmc/walker-walk", 24), ("dmc/cheetah-run", 17),
                                          ("dmc/cartpole-swingup", 5), ("dmc/humanoid-run", 67)])
def test_state_observation_is_the_flat_float32_dm_control_state(env_id, size):
    env = make(env_id)
    observation, _ = env.reset(seed=1)
    assert env.observation_space.shape == observation.shape == (size,)
    assert observation.dtype == np.float32
    domain, task = env_id.removeprefix("dmc/").split("-")
    raw_env = load_dm_control(domain, task, seed=1)
    assert sum(int(np.prod(spec.shape)) for spec in raw_env.observation_spec().values()) == size
    np.testing.assert_array_equal(observation, flatten(raw_env.reset().observation))


def test_every_env_id_makes_resets_and_steps():
    from dm_control import suite

    benchmarking = {f"{domain}-{task}" for domain, task in suite.BENCHMARKING}
    assert set(dmc.TASKS) <= benchmarking
    for env_id in dmc.env_ids():
        env = make(env_id)
        observation, _ = env.reset(seed=0)
        assert observation in env.observation_space
        assert env.action_space.dtype == np.float32
        observation, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert observation in env.observation_space and 0.0 <= reward <= 1.0
        # private, but the only record of the time limit that `describe` states for every task
        assert env.dm_control_env._step_limit == dmc.EPISODE_ENV_STEPS
        env.close()


def test_every_published_task_has_an_env_id(project_root):
    with open(project_root / "results/published/dmcontrol_published.csv") as published:
        tasks = {row["task"] for row in csv.DictReader(published)}
    assert {f"dmc/{task}" for task in tasks} <= set(dmc.env_ids())


@pytest.mark.parametrize("env_id", ["dmc/cartpole-fly", "dmc/point_mass-easy", "dmc/cartpole"])
def test_unknown_env_id_names_the_valid_choices(env_id):
    with pytest.raises(ConfigError) as error:
        make(env_id)
    assert error.value.field == "env_id" and error.value.got == env_id
    assert "dmc/cartpole-swingup" in error.value.expected and "dmc/walker-run" in error.value.expected


def test_protocol_rejects_nonpositive_action_repeat():
    with pytest.raises(ConfigError, match="action_repeat"):
        dmc.DMCProtocol(action_repeat=0)


def test_describe_gives_episode_length_in_env_and_agent_steps():
    record = dmc.describe(dmc.DMCProtocol(action_repeat=4))
    assert (record["episode_env_steps"], record["episode_agent_steps"], record["action_repeat"]) == (1000, 250, 4)
    assert record["observations"].startswith("state")
    assert dmc.describe(dmc.DMCProtocol(action_repeat=3))["episode_agent_steps"] == 334  # the last one is short


def test_pixel_observations_when_rendering_works():
    try:
        env = make("dmc/cartpole-swingup", pixels=True, pixel_size=64)
    except RuntimeError as error:
        pytest.skip(f"no OpenGL rendering here: {error}")
    observation, _ = env.reset(seed=0)
    assert observation.shape == (64, 64, 3) and observation.dtype == np.uint8
    assert observation in env.observation_space and observation.std() > 0  # a picture, not a blank frame
    next_observation = env.step(np.ones(1, np.float32))[0]
    assert next_observation.shape == (64, 64, 3)
