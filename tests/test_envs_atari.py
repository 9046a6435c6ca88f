"""Each parameter of the Atari protocols, pinned; and the batched C++ backend agrees with ours."""

import numpy as np
import pytest

import envs
from core.errors import ConfigError
from envs.atari import PROTOCOLS


def single(env_id="ALE/Pong-v5", protocol="dqn2015", training=True):
    return envs.make_single(envs.resolve(env_id, protocol), training)


def vector(env_id="ALE/Pong-v5", protocol="dqn2015", backend="gymnasium", num_envs=1, training=True):
    return envs.make(envs.resolve(env_id, protocol, backend), num_envs, seed=0, training=training)


def test_protocol_values_are_the_papers():
    dqn, machado = PROTOCOLS["dqn2015"], PROTOCOLS["machado2018"]
    assert (dqn.frame_skip, dqn.noop_max, dqn.frame_size, dqn.frame_stack) == (4, 30, 84, 4)
    assert dqn.max_episode_frames == machado.max_episode_frames == 108_000
    assert dqn.eval_max_episode_frames == 18_000  # Nature: "up to 5 min" per evaluation game
    assert machado.eval_max_episode_frames == 108_000
    assert dqn.sticky_action_probability == 0.0 and machado.sticky_action_probability == 0.25
    assert dqn.life_loss_ends_training_episode and not machado.life_loss_ends_training_episode
    assert not dqn.full_action_space and not machado.full_action_space
    assert not dqn.fire_reset and not machado.fire_reset  # DeepMind's DQN never pressed FIRE for the agent


def test_the_record_holds_both_frame_caps_and_the_fire_reset():
    record = envs.resolve("ALE/Breakout-v5", "dqn2015:fire_reset=true").record
    assert (record["max_episode_frames"], record["eval_max_episode_frames"], record["fire_reset"]) == (108_000, 18_000, True)
    assert "18000 frames" in record["evaluation"] and record["fire_reset_presses"].startswith("FIRE")
    assert envs.resolve("ALE/Breakout-v5").record["fire_reset"] is False


@pytest.mark.parametrize("protocol, sticky", [("dqn2015", 0.0), ("machado2018", 0.25)])
def test_sticky_actions_only_in_machado2018_and_no_double_frame_skip(protocol, sticky):
    env = single(protocol=protocol)
    ale = env.unwrapped.ale
    assert ale.getFloat("repeat_action_probability") == pytest.approx(sticky)
    assert env.unwrapped._frameskip == 1  # ALE v5 skips nothing; our wrapper skips 4 with max-pooling
    env.reset(seed=0)
    before = ale.getEpisodeFrameNumber()
    env.step(0)
    assert ale.getEpisodeFrameNumber() - before == 4


def test_noop_starts_are_1_to_30_frames_in_dqn2015_and_none_in_machado2018():
    env = single(protocol="dqn2015", training=False)  # in training, a reset after a lost life is a no-op step
    frames = {env.reset(seed=seed) and env.unwrapped.ale.getEpisodeFrameNumber() for seed in range(40)}
    assert min(frames) >= 1 and max(frames) <= 30 and len(frames) >= 12  # ~22 distinct expected from 40 draws
    env = single(protocol="machado2018", training=False)
    assert {env.reset(seed=seed) and env.unwrapped.ale.getEpisodeFrameNumber() for seed in range(5)} == {0}


def play_breakout(training, steps=1500):
    env, _ = vector("ALE/Breakout-v5", training=training)
    rng = np.random.default_rng(0)
    terminals, game_ends, lives_at_terminal = 0, 0, []
    for _ in range(steps):
        _, _, terminated, truncated, info = env.step(rng.integers(0, 4, 1))
        if terminated[0]:
            terminals += 1
            lives_at_terminal.append(env.envs[0].unwrapped.ale.lives())
        if "episode" in info and info["_episode"][0]:
            game_ends += 1
    return terminals, game_ends, lives_at_terminal


def test_life_loss_ends_training_episodes_but_not_evaluation_games():
    terminals, games, lives = play_breakout(training=True)
    assert games >= 2 and 5 * games <= terminals < 5 * (games + 1)  # Breakout has 5 lives; the last game may be under way
    assert any(lives_left > 0 for lives_left in lives)  # the game went on after a terminal
    terminals, games, lives = play_breakout(training=False)
    assert terminals == games and set(lives) == {0}


def test_rewards_are_clipped_in_training_only_and_scores_stay_raw():
    def rewards(training):
        env, _ = vector("ALE/SpaceInvaders-v5", training=training)
        rng = np.random.default_rng(1)
        seen, scores = set(), []
        for _ in range(1200):
            _, reward, _, _, info = env.step(rng.integers(0, 6, 1))
            seen.add(float(reward[0]))
            if "episode" in info and info["_episode"][0]:
                scores.append(float(info["episode"]["r"][0]))
        return seen, scores
    training_rewards, training_scores = rewards(training=True)
    evaluation_rewards, evaluation_scores = rewards(training=False)
    assert training_rewards <= {0.0, 1.0} and 1.0 in training_rewards
    assert max(evaluation_rewards) >= 5  # Space Invaders pays 5 to 30 per invader
    assert training_scores == evaluation_scores and max(training_scores) > 20  # whole raw games in both


def test_the_frame_caps_of_training_and_evaluation():
    def cap(protocol, training):
        return single(protocol=protocol, training=training).unwrapped.ale.getInt("max_num_frames_per_episode")
    assert (cap("dqn2015", True), cap("dqn2015", False)) == (108_000, 18_000)
    assert (cap("machado2018", True), cap("machado2018", False)) == (108_000, 108_000)


def steps_until_truncated(env) -> int:
    for step in range(1, 1001):
        _, _, terminated, truncated, _ = env.step(np.array([0]))
        if truncated[0] or terminated[0]:
            assert truncated[0] and not terminated[0]
            return step
    raise AssertionError("no truncation in 1000 steps")


@pytest.mark.parametrize("backend", ["gymnasium", "ale_vector"])
def test_the_frame_cap_truncates_the_game(backend):
    # the cap counts every emulator frame, no-op starts included: switch them off to count exactly
    protocol = "dqn2015:noop_max=0,max_episode_frames=800,eval_max_episode_frames=400"
    assert steps_until_truncated(vector(protocol=protocol, backend=backend, training=True)[0]) == 200  # 800 frames
    assert steps_until_truncated(vector(protocol=protocol, backend=backend, training=False)[0]) == 100  # 400 frames


def lives_left(protocol, backend, training, steps=600):
    """Breakout with the agent pressing only NOOP: the lives it loses (the ball must be launched with FIRE)."""
    env, _ = vector("ALE/Breakout-v5", protocol, backend, training=training)
    lives = []
    for _ in range(steps):
        _, _, _, _, info = env.step(np.array([0]))
        lives.append(int(info["lives"][0]) if "lives" in info else env.envs[0].unwrapped.ale.lives())
    return lives


@pytest.mark.parametrize("backend", ["gymnasium", "ale_vector"])
def test_fire_reset_launches_the_ball_at_game_start_and_in_training_after_each_lost_life(backend):
    protocol = "dqn2015:noop_max=0"
    assert set(lives_left(protocol, backend, training=True)) == {5}  # without FIRE the ball never comes
    training = lives_left(protocol + ",fire_reset=true", backend, training=True)
    assert training[0] == 5 and {4, 3, 2, 1} <= set(training)  # ~125 steps per life: relaunched after each loss
    evaluation = lives_left(protocol + ",fire_reset=true", backend, training=False)
    assert set(evaluation) == {5, 4}  # launched once at the start; after that the agent must press FIRE


@pytest.mark.parametrize("protocol, actions", [("dqn2015", 6), ("machado2018:full_action_space=true", 18)])
@pytest.mark.parametrize("backend", ["gymnasium", "ale_vector"])
def test_observations_and_action_sets(protocol, actions, backend):
    env, observation = vector(protocol=protocol, backend=backend, num_envs=2)
    assert observation.shape == (2, 4, 84, 84) and observation.dtype == np.uint8
    assert env.single_action_space.n == actions


def play_fixed_actions(backend, protocol, steps=1500):
    env, observation = vector("ALE/Breakout-v5", protocol, backend)
    actions = np.random.default_rng(0).integers(0, 4, steps)
    record = {"reward": [], "terminated": [], "truncated": [], "scores": [], "observations": [observation[0]]}
    for action in actions:
        observation, reward, terminated, truncated, info = env.step(np.array([action]))
        record["reward"].append(float(reward[0]))
        record["terminated"].append(bool(terminated[0]))
        record["truncated"].append(bool(truncated[0]))
        record["observations"].append(observation[0])
        if "episode" in info and info["_episode"][0]:
            record["scores"].append(float(info["episode"]["r"][0]))
    return record


@pytest.mark.parametrize("protocol", ["dqn2015:noop_max=0", "dqn2015:noop_max=0,fire_reset=true"])
def test_ale_vector_backend_agrees_with_the_gymnasium_wrappers(protocol):
    ours, batched = play_fixed_actions("gymnasium", protocol), play_fixed_actions("ale_vector", protocol)
    for key in ("reward", "terminated", "truncated", "scores"):
        assert ours[key] == batched[key], key
    assert len(ours["scores"]) >= 3 and sum(ours["terminated"]) > len(ours["scores"])  # life losses were signalled
    identical = np.mean([np.array_equal(a, b) for a, b in zip(ours["observations"], batched["observations"])])
    assert identical > 0.99


def test_unknown_protocol_lists_the_choices():
    with pytest.raises(ConfigError, match=r"env_protocol: expected one of \['default', 'dqn2015', 'machado2018'\]"):
        envs.resolve("ALE/Pong-v5", "nature")
    with pytest.raises(ConfigError, match="options of dqn2015 among"):
        envs.resolve("ALE/Pong-v5", "dqn2015:frameskip=3")
