"""Each parameter of the Atari protocols, pinned; and the batched C++ backend agrees with ours."""

import numpy as np
import pytest

import envs
from core.errors import ConfigError
from envs.atari import PROTOCOLS


def single(env_id="ALE/Pong-v5", protocol="dqn2015", training=True):
    return envs.make_single(env_id, envs.resolve_protocol(env_id, protocol), training)


def test_protocol_values_are_the_papers():
    dqn, machado = PROTOCOLS["dqn2015"], PROTOCOLS["machado2018"]
    assert (dqn.frame_skip, dqn.noop_max, dqn.frame_size, dqn.frame_stack) == (4, 30, 84, 4)
    assert dqn.max_episode_frames == machado.max_episode_frames == 108_000
    assert dqn.sticky_action_probability == 0.0 and machado.sticky_action_probability == 0.25
    assert dqn.life_loss_ends_training_episode and not machado.life_loss_ends_training_episode
    assert not dqn.full_action_space and not machado.full_action_space


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
    env, _ = envs.make("ALE/Breakout-v5", 1, seed=0, training=training)
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
        env, _ = envs.make("ALE/SpaceInvaders-v5", 1, seed=0, training=training)
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


def test_the_frame_cap_truncates_the_game():
    assert single().unwrapped.ale.getInt("max_num_frames_per_episode") == 108_000
    # the cap counts every emulator frame, no-op starts included: switch them off to count exactly
    env, _ = envs.make("ALE/Pong-v5", 1, seed=0, protocol="dqn2015:noop_max=0,max_episode_frames=400")
    for step in range(1, 101):
        _, _, terminated, truncated, _ = env.step(np.array([0]))
        if truncated[0] or terminated[0]:
            break
    assert (step, bool(truncated[0]), bool(terminated[0])) == (100, True, False)  # 400 frames = 100 agent steps


@pytest.mark.parametrize("protocol, actions", [("dqn2015", 6), ("machado2018:full_action_space=true", 18)])
@pytest.mark.parametrize("backend", ["gymnasium", "ale_vector"])
def test_observations_and_action_sets(protocol, actions, backend):
    env, observation = envs.make("ALE/Pong-v5", 2, seed=0, protocol=protocol, backend=backend)
    assert observation.shape == (2, 4, 84, 84) and observation.dtype == np.uint8
    assert env.single_action_space.n == actions


def play_fixed_actions(backend, steps=1500):
    env, observation = envs.make("ALE/Breakout-v5", 1, seed=0, protocol="dqn2015:noop_max=0", backend=backend)
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


def test_ale_vector_backend_agrees_with_the_gymnasium_wrappers():
    ours, batched = play_fixed_actions("gymnasium"), play_fixed_actions("ale_vector")
    for key in ("reward", "terminated", "truncated", "scores"):
        assert ours[key] == batched[key], key
    assert len(ours["scores"]) >= 3 and sum(ours["terminated"]) > len(ours["scores"])  # life losses were signalled
    identical = np.mean([np.array_equal(a, b) for a, b in zip(ours["observations"], batched["observations"])])
    assert identical > 0.99


def test_unknown_protocol_lists_the_choices():
    with pytest.raises(ConfigError, match=r"env_protocol: expected one of \['default', 'dqn2015', 'machado2018'\]"):
        envs.resolve_protocol("ALE/Pong-v5", "nature")
    with pytest.raises(ConfigError, match="options of dqn2015 among"):
        envs.resolve_protocol("ALE/Pong-v5", "dqn2015:frameskip=3")
