"""PPO: GAE and the clipped loss against hand-computed numbers, the action head's entropy, the
paper presets, the frozen evaluation normalizer, checkpoints of normalised runs, and a run that must learn."""

import json
import math

import gymnasium as gym
import numpy as np
import pytest
import torch

import envs
from algos import ppo
from common.actor_critic import gae, n_step_returns
from common.config import config_from_dict
from common.nets import ActionHead
from common.rundir import CHECKPOINT
from envs.normalize import add_normalization, normalization_state, observation_normalizer
from helpers import random_score, rows_without_wall_time


def test_gae_stops_at_a_termination_and_bootstraps_at_a_truncation():
    # One rollout of T=4 steps in two envs, gamma = 0.5, lambda = 0.5 (so gamma * lambda = 0.25).
    # Both envs: rewards 1, 5, 0, 3; V(s_0..s_4) = 1, 2, 4, 3, 6. Step 1 ends the episode (terminated
    # in env 0, truncated in env 1), so s_2 is the last state and step 2 is the autoreset step.
    rewards = torch.tensor([[1.0, 1.0], [5.0, 5.0], [0.0, 0.0], [3.0, 3.0]])
    values = torch.tensor([[1.0, 1.0], [2.0, 2.0], [4.0, 4.0], [3.0, 3.0], [6.0, 6.0]])
    terminated = torch.tensor([[False, False], [True, False], [False, False], [False, False]])
    truncated = torch.tensor([[False, False], [False, True], [False, False], [False, False]])
    advantages, returns = gae(rewards, values, terminated, truncated, gamma=0.5, lam=0.5)
    # t=3: delta = 3 + 0.5 * V(s_4)=6 - 3 = 3                              A = 3
    # t=2 (autoreset, masked by the caller): delta = 0 + 0.5 * 3 - 4 = -2.5; A = -2.5 + 0.25 * 3 = -1.75
    # t=1 terminated: delta = 5 + 0 - 2 = 3, the sum stops               A = 3
    #     truncated:  delta = 5 + 0.5 * V(last state)=4 - 2 = 5, stops    A = 5
    # t=0: delta = 1 + 0.5 * 2 - 1 = 1;  A = 1 + 0.25 * 3 = 1.75 (env 0), 1 + 0.25 * 5 = 2.25 (env 1)
    expected = torch.tensor([[1.75, 2.25], [3.0, 5.0], [-1.75, -1.75], [3.0, 3.0]])
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, expected + values[:4])  # [[2.75, 3.25], [5, 7], [2.25, 2.25], [6, 6]]


def test_gae_with_lambda_one_gives_the_bootstrapped_returns_of_a2c():
    generator = torch.Generator().manual_seed(0)
    rewards = torch.randn(20, 3, generator=generator)
    values = torch.randn(21, 3, generator=generator)
    ends = torch.rand(20, 3, generator=generator)
    terminated, truncated = ends < 0.1, (ends >= 0.1) & (ends < 0.2)
    _, returns = gae(rewards, values, terminated, truncated, gamma=0.9, lam=1.0)
    torch.testing.assert_close(returns, n_step_returns(rewards, values, terminated, truncated, 0.9))


def test_gae_gives_the_step_by_step_recursion_bit_for_bit():
    # gae computes the TD errors of all steps at once for speed: the numbers must be the recursion's own, not
    # merely close, so that a seeded run's results do not change.
    def step_by_step(rewards, values, terminated, truncated, gamma, lam):
        advantages, running = torch.empty_like(rewards), torch.zeros_like(values[-1])
        for t in reversed(range(len(rewards))):
            delta = rewards[t] + gamma * torch.where(terminated[t], torch.zeros_like(running), values[t + 1]) - values[t]
            running = delta + gamma * lam * torch.where(terminated[t] | truncated[t], torch.zeros_like(running), running)
            advantages[t] = running
        return advantages

    generator = torch.Generator().manual_seed(1)
    for steps, envs_count in [(128, 4), (128, 8), (2048, 1), (5, 16)]:
        rewards = torch.randn(steps, envs_count, generator=generator)
        values = torch.randn(steps + 1, envs_count, generator=generator) * 10
        ends = torch.rand(steps, envs_count, generator=generator)
        terminated, truncated = ends < 0.05, (ends >= 0.05) & (ends < 0.08)
        advantages, returns = gae(rewards, values, terminated, truncated, gamma=0.99, lam=0.95)
        assert torch.equal(advantages, step_by_step(rewards, values, terminated, truncated, 0.99, 0.95))
        assert torch.equal(returns, advantages + values[:-1])


def crafted_minibatch():
    # ratios 1.5, 0.5, 1.5, 1.1 with advantages +2, -1, -1, +2 and clip 0.2:
    #   1.5 * 2 = 3.0   vs 1.2 * 2  = 2.4    min 2.4, the clipped term: no gradient
    #   0.5 * -1 = -0.5 vs 0.8 * -1 = -0.8   min -0.8, clipped: no gradient
    #   1.5 * -1 = -1.5 vs 1.2 * -1 = -1.2   min -1.5, unclipped: d/dlogp = ratio * A = -1.5
    #   1.1 * 2 = 2.2   inside the range     2.2, unclipped: d/dlogp = 2.2
    old_log_probs = torch.full((4,), -1.0)
    new_log_probs = (old_log_probs + torch.log(torch.tensor([1.5, 0.5, 1.5, 1.1]))).requires_grad_()
    advantages = torch.tensor([2.0, -1.0, -1.0, 2.0])
    values = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    returns = torch.tensor([0.0, 2.0, 5.0, 4.0])
    old_values = torch.tensor([1.5, 2.0, 2.0, 4.0])
    entropy = torch.full((4,), 0.5)
    return new_log_probs, old_log_probs, advantages, values, returns, old_values, entropy


def test_clipped_surrogate_passes_no_gradient_through_the_clipped_terms():
    new_log_probs, old_log_probs, advantages, values, returns, old_values, entropy = crafted_minibatch()
    loss, parts = ppo.ppo_loss(new_log_probs, old_log_probs, advantages, values, returns, old_values, entropy,
                               clip=0.2, value_coef=0.5, entropy_coef=0.01, clip_value=False)
    # policy loss -(2.4 - 0.8 - 1.5 + 2.2) / 4 = -0.575; value loss mean(1, 0, 4, 0) = 1.25; entropy 0.5
    assert parts["policy_loss"] == pytest.approx(-0.575, abs=1e-6)
    assert parts["value_loss"] == pytest.approx(1.25)
    assert parts["entropy"] == pytest.approx(0.5)
    assert loss.item() == pytest.approx(-0.575 + 0.5 * 1.25 - 0.01 * 0.5, abs=1e-6)  # 0.045
    assert parts["clip_fraction"] == pytest.approx(0.75)  # |ratio - 1| > 0.2 for three of four
    # approximate KL: mean of (r - 1) - ln r = (0.094535 + 0.193147 + 0.094535 + 0.004690) / 4
    assert parts["approx_kl"] == pytest.approx(0.0967267, abs=1e-6)
    loss.backward()
    # d loss / d log pi = -ratio * A / 4 where unclipped: 0, 0, 1.5 / 4, -2.2 / 4
    torch.testing.assert_close(new_log_probs.grad, torch.tensor([0.0, 0.0, 0.375, -0.55]))
    # d loss / d V = value_coef * 2 (V - R) / 4 = 0.25, 0, -0.5, 0
    torch.testing.assert_close(values.grad, torch.tensor([0.25, 0.0, -0.5, 0.0]))


def test_clipped_value_loss_takes_the_pessimistic_term():
    new_log_probs, old_log_probs, advantages, values, returns, old_values, entropy = crafted_minibatch()
    loss, parts = ppo.ppo_loss(new_log_probs, old_log_probs, advantages, values, returns, old_values, entropy,
                               clip=0.2, value_coef=0.5, entropy_coef=0.0, clip_value=True)
    # clipped values old + clip(V - old, +-0.2): 1.3, 2, 2.2, 4 -> squared errors 1.69, 0, 7.84, 0;
    # both exceed the unclipped ones (1, 0, 4, 0), so the loss is (1.69 + 7.84) / 4 = 2.3825
    assert parts["value_loss"] == pytest.approx(2.3825)
    loss.backward()
    # the clipped value sits at its bound for samples 0 and 2: no gradient reaches V anywhere
    torch.testing.assert_close(values.grad, torch.zeros(4))


def test_entropy_through_the_action_head():
    uniform = ActionHead(4, discrete=True)(torch.zeros(1, 4))
    assert uniform.entropy().item() == pytest.approx(math.log(4))
    gaussian = ActionHead(2, discrete=False)(torch.zeros(1, 2))  # log std starts at 0: std 1
    assert gaussian.entropy().item() == pytest.approx(2 * 0.5 * math.log(2 * math.pi * math.e))  # 2.837877


@pytest.mark.parametrize("batch", [(), (1,), (8,), (3, 5)])
def test_sampled_actions_are_the_categorical_distributions_own(batch):
    # ActionHead.act samples without building a Categorical: the same random stream must give the same actions.
    logits = torch.randn(*batch, 6, generator=torch.Generator().manual_seed(3)) * 3
    torch.manual_seed(7)
    expected = torch.stack([torch.distributions.Categorical(logits=logits).sample() for _ in range(50)])
    torch.manual_seed(7)
    actions = torch.stack([ActionHead(6, discrete=True).act(logits, deterministic=False) for _ in range(50)])
    assert actions.shape == (50, *batch)
    assert torch.equal(actions, expected)
    assert len(actions.unique()) > 1  # the draws are random, not a constant both sides would agree on


@pytest.mark.parametrize("shape, dtype", [((4, 84, 84), np.uint8), ((10, 10, 4), np.bool_)])
def test_table_5_shares_one_cnn_between_policy_and_value(shape, dtype):
    config = ppo.Config(env_id="MinAtar/Breakout-v1")  # Table 5's hyperparameters, the defaults
    space = gym.spaces.Box(0, 255 if dtype is np.uint8 else 1, shape, dtype)
    model = ppo.make_model(space, 6, discrete=True, config=config)
    assert model.critic_body is model.actor_body
    output, values = model(torch.zeros(5, *shape, dtype=torch.uint8 if dtype is np.uint8 else torch.bool))
    assert output.shape == (5, 6) and values.shape == (5,)
    mujoco = config_from_dict(ppo.Config, {"env_id": "Hopper-v5"})
    separate = ppo.make_model(gym.spaces.Box(-1, 1, (11,)), 3, False, mujoco)
    assert separate.critic_body is not separate.actor_body


@pytest.mark.parametrize("env_id, preset", [
    ("ALE/Pong-v5", "atari"), ("MinAtar/Breakout-v1", "minatar"), ("HalfCheetah-v5", "mujoco"),
    ("InvertedPendulum-v5", "mujoco"), ("dmc/cartpole-swingup", "mujoco"), ("Pendulum-v1", "mujoco"),
    ("MountainCarContinuous-v0", "mujoco"), ("CartPole-v1", "classic"), ("Acrobot-v1", "classic"),
])
def test_preset_for_picks_the_paper_setting_by_family_and_action_space(env_id, preset):
    assert ppo.Config.preset_for(env_id) == preset


def test_preset_for_does_not_build_mujoco_envs(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("preset_for built an env")

    monkeypatch.setattr(gym, "make", refuse)
    assert ppo.Config.preset_for("Hopper-v5") == "mujoco"
    assert ppo.Config.preset_for("Pusher-v5") == "mujoco"  # not in our list: known from its entry point


def test_presets_fill_what_is_not_given_and_explicit_values_win():
    mujoco = config_from_dict(ppo.Config, {"env_id": "HalfCheetah-v5", "n_steps": 512})
    assert mujoco.preset == "mujoco"
    assert mujoco.n_steps == 512  # explicit
    assert (mujoco.num_envs, mujoco.epochs, mujoco.minibatch_size, mujoco.learning_rate) == (1, 10, 64, 3e-4)
    assert (mujoco.clip_range, mujoco.anneal_lr, mujoco.anneal_clip, mujoco.entropy_coef) == (0.2, False, False, 0.0)
    assert not mujoco.shared_network and mujoco.normalize_observations and mujoco.normalize_rewards
    assert mujoco.score_rule == "train_last_100" and mujoco.value_coef == 1.0
    environment = envs.resolve(mujoco.env_id)
    assert "n_steps = 512, where the mujoco preset has 2048" in ppo.deviations(mujoco, environment)

    minatar = config_from_dict(ppo.Config, {"env_id": "MinAtar/Breakout-v1", "clip_range": 0.2})
    assert (minatar.num_envs, minatar.n_steps, minatar.epochs, minatar.minibatch_size) == (8, 128, 3, 256)
    assert minatar.clip_range == 0.2 and minatar.anneal_clip and minatar.value_coef == 1.0

    classic = config_from_dict(ppo.Config, {"env_id": "CartPole-v1"})
    assert classic.preset == "classic" and (classic.num_envs, classic.n_steps, classic.epochs) == (8, 32, 20)
    assert "not from the paper" in ppo.deviations(classic, envs.resolve("CartPole-v1"))[0]
    assert ppo.unfit_preset_note(classic) is None
    mountain_car = ppo.Config(env_id="MountainCar-v0")  # not learned with it: -199.9 at 100k steps, as random
    assert "not on MountainCar-v0" in ppo.deviations(mountain_car, envs.resolve("MountainCar-v0"))[1]


def test_a_paper_preset_run_lists_only_the_baselines_code_choices():
    for env_id in ("HalfCheetah-v5", "MinAtar/Breakout-v1"):
        config = ppo.Config(env_id=env_id)
        notes = ppo.deviations(config, envs.resolve(env_id))
        assert not any("preset has" in note for note in notes), notes
        assert any("Adam eps" in note for note in notes)


def test_the_atari_preset_presses_fire_at_reset_as_baselines():
    assert ppo.Config.PRESETS["atari"] == {"env_protocol": "dqn2015:fire_reset=true"}  # Table 5 is the defaults
    config = ppo.Config(env_id="ALE/Breakout-v5")  # needs the dqn2015 protocol's fire_reset option
    environment = envs.resolve(config.env_id, config.env_protocol)
    assert environment.record["fire_reset"] is True
    notes = ppo.deviations(config, environment)
    assert any(note.startswith("FIRE pressed") for note in notes) and not any("preset has" in note for note in notes)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "InvertedPendulum-v5"])  # float32 and float64 observations
def test_evaluation_normalizes_with_frozen_training_statistics(env_id):
    env, _ = envs.make(envs.resolve(env_id), 2, seed=0)
    env = add_normalization(env, observations=True, returns=False)
    env.reset(seed=0)
    for _ in range(50):
        env.step(env.action_space.sample())
    normalize = observation_normalizer(normalization_state(env))
    running = env.obs_rms
    mean, var, count = running.mean.copy(), running.var.copy(), running.count
    other, raw = envs.make(envs.resolve(env_id), 2, seed=1)  # raw observations, as evaluation envs give them
    other.close()
    raw = raw * 3
    raw[1, 0] = 1e6
    expected = np.clip((raw - mean) / np.sqrt(var + 1e-8), -10, 10)
    np.testing.assert_allclose(normalize(raw), expected, rtol=1e-5)
    assert normalize(raw)[1, 0] == 10.0  # clipped
    env.update_running_mean = False
    assert np.array_equal(normalize(raw), env.observations(raw))  # the training env's wrapper's very numbers
    assert running.count == count and np.array_equal(running.mean, mean)  # evaluation taught it nothing
    env.close()


def normalized_pendulum(**changes) -> ppo.Config:
    return config_from_dict(ppo.Config, {"env_id": "Pendulum-v1", "n_steps": 256, "minibatch_size": 64, "epochs": 2,
                                         "total_steps": 1024, "eval_interval": 256, "eval_episodes": 2,
                                         "device": "cpu", **changes})


def test_a_normalized_run_saves_its_statistics_and_deviations(tmp_path):
    config = normalized_pendulum(total_steps=512, eval_interval=512)
    result = ppo.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed" and config.preset == "mujoco"
    statistics = json.loads((tmp_path / "normalization.json").read_text())
    assert statistics["observations"]["count"] > 512 and statistics["returns"] is not None
    deviations = json.loads((tmp_path / "deviations.json").read_text())
    assert deviations["preset"] == "mujoco"
    assert any("n_steps = 256" in note for note in deviations["deviations"])
    assert any("VecNormalize" in note for note in deviations["deviations"])
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]
    assert saved["normalization"] == statistics  # the checkpoint holds the statistics the run ended with


def interrupt_after_checkpoints(monkeypatch, count: int) -> None:
    original, saved = ppo.RunLogger.save_checkpoint, {"count": 0}

    def save_then_die(self):
        original(self)
        saved["count"] += 1
        if saved["count"] == count:
            raise KeyboardInterrupt

    monkeypatch.setattr(ppo.RunLogger, "save_checkpoint", save_then_die)


def test_a_normalized_run_resumes_exactly_when_its_env_can_be_saved(tmp_path, monkeypatch):
    # the env is saved with its normalisation wrappers, and the run continues exactly
    config = config_from_dict(ppo.Config, {"env_id": "CartPole-v1", "normalize_observations": True,
                                           "normalize_rewards": True, "total_steps": 1024, "eval_interval": 256,
                                           "eval_episodes": 2, "device": "cpu"})
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            ppo.train(config, 3, tmp_path / "resumed")
    ppo.train(config, 3, tmp_path / "resumed", resume=True)
    ppo.train(config, 3, tmp_path / "whole")
    for name in ("metrics.csv", "eval.csv"):
        assert rows_without_wall_time(tmp_path / "resumed" / name) == rows_without_wall_time(tmp_path / "whole" / name)
    assert (json.loads((tmp_path / "resumed" / "normalization.json").read_text())
            == json.loads((tmp_path / "whole" / "normalization.json").read_text()))


def test_where_the_env_cannot_be_saved_the_statistics_are_restored_and_episodes_restart(tmp_path, monkeypatch):
    monkeypatch.setattr(envs, "snapshot", lambda vector: None)  # as for MuJoCo, whose envs do not pickle
    config = normalized_pendulum()
    with monkeypatch.context() as patch:
        interrupt_after_checkpoints(patch, 2)
        with pytest.raises(KeyboardInterrupt):
            ppo.train(config, 3, tmp_path)
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)["algorithm"]
    resumed_from = {}
    original_restore = envs.restore

    def restore(snapshot, environment, num_envs, seed, step):
        resumed_from["step"] = step
        return original_restore(snapshot, environment, num_envs, seed, step)

    monkeypatch.setattr(envs, "restore", restore)
    result = ppo.train(config, 3, tmp_path, resume=True)
    assert result.status == "completed"
    assert resumed_from["step"] == saved["step"] > 0  # from the second checkpoint, not from step 0
    # The statistics went on from the saved ones (a fresh start would count fewer than were saved).
    final = json.loads((tmp_path / "normalization.json").read_text())
    assert final["observations"]["count"] >= saved["normalization"]["observations"]["count"] + 1024 - saved["step"]
    # Pendulum's episodes last 200 steps: the one in flight at the checkpoint restarted with the new env.
    episode_ends = [int(row["step"]) for row in rows_without_wall_time(tmp_path / "metrics.csv")]
    assert episode_ends == [200, 400, 600, *range(saved["step"] + 200, result.steps + 1, 200)]


def test_ppo_learns_cartpole_quickly(tmp_path):
    # the classic preset (rl-baselines3-zoo's CartPole setting) at half its budget: seeds 1-5 scored 379-433 here
    config = config_from_dict(ppo.Config, {"env_id": "CartPole-v1", "total_steps": 50_000, "eval_interval": 10_000,
                                           "device": "cpu"})
    result = ppo.train(config, seed=1, run_dir=tmp_path)
    assert result.status == "completed"
    assert result.score >= 200 > 5 * random_score("CartPole-v1")  # mean of the last 100 training episodes
