"""A2C's presets, score rule and protocol record, and what REINFORCE, A2C and PPO share: checkpoints
that re-evaluate as the run evaluated, and the rollout store. (tests/test_cli.py checks that Python,
the command line and specs resolve the same settings for every algorithm.)"""

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch

import algos
import envs
from algos import a2c
from common.config import config_from_dict
from common.rollout import Rollout
from common.rundir import CHECKPOINT
from core.errors import ConfigError

POLICY_GRADIENT = ("reinforce", "a2c", "ppo")


@pytest.mark.parametrize("env_id, preset", [
    ("ALE/Pong-v5", "atari"), ("MinAtar/Breakout-v1", "minatar"), ("CartPole-v1", "classic"),
    ("Acrobot-v1", "classic"), ("Pendulum-v1", "classic"),
])
def test_a2c_picks_its_preset_by_family(env_id, preset):
    assert a2c.Config.preset_for(env_id) == preset


def test_a2c_presets_fill_what_is_not_given():
    classic = a2c.Config(env_id="CartPole-v1", learning_rate=1e-3)
    assert (classic.num_envs, classic.entropy_coef, classic.shared_network) == (8, 0.0, False)
    assert classic.learning_rate == 1e-3 and classic.total_steps == 500_000
    minatar = a2c.Config(env_id="MinAtar/Breakout-v1")
    assert (minatar.num_envs, minatar.entropy_coef, minatar.shared_network) == (16, 0.01, True)
    assert minatar.env_protocol == "default"  # MinAtar's protocol has no FIRE option


def test_a2c_atari_preset_presses_fire_at_reset_as_baselines():
    assert a2c.Config.preset_values("atari")["env_protocol"] == "dqn2015:fire_reset=true"
    config = a2c.Config(env_id="ALE/Breakout-v5")  # needs the dqn2015 protocol's fire_reset option
    assert envs.resolve(config.env_id, config.env_protocol).record["fire_reset"] is True
    explicit = a2c.Config(env_id="ALE/Breakout-v5", env_protocol="machado2018")
    assert explicit.env_protocol == "machado2018"  # a protocol the caller gives wins


def test_a2c_is_scored_as_the_ppo_papers_a2c_column():
    # The PPO paper's A2C numbers (Table 6) are the mean return of the last 100 training episodes.
    for env_id in ("CartPole-v1", "MinAtar/Breakout-v1"):
        assert a2c.Config(env_id=env_id).score_rule == "train_last_100"


def test_a2c_says_when_no_preset_fits_the_task(tmp_path, capfd):
    config = a2c.Config(env_id="Pendulum-v1", total_steps=64, eval_interval=64, eval_episodes=1, device="cpu")
    assert a2c.train(config, 0, tmp_path).status == "completed"
    note = capfd.readouterr().err
    assert "no A2C preset is tuned for continuous actions" in note and "python -m algos.ppo --env-id Pendulum-v1" in note
    assert a2c.unfit_preset_note(a2c.Config(env_id="Acrobot-v1"), discrete=True) is None
    # MountainCar's sparse reward is not found by the classic preset (docs: -200.0 at 100k steps, as random)
    assert "not on MountainCar-v0" in a2c.unfit_preset_note(a2c.Config(env_id="MountainCar-v0"), discrete=True)


def test_an_unknown_preset_is_refused():
    for name in POLICY_GRADIENT:
        with pytest.raises(ConfigError, match="preset"):
            algos.load(name).Config(preset="roboschool")


@pytest.mark.parametrize("name, env_id, settings", [
    ("reinforce", "CartPole-v1", {"batch_size": 500}),
    ("a2c", "CartPole-v1", {"num_envs": 4}),
    ("ppo", "Pendulum-v1", {"n_steps": 256, "minibatch_size": 64, "epochs": 2}),  # observations normalised
])
def test_a_checkpoint_plays_as_the_run_evaluated(tmp_path, name, env_id, settings):
    # Deterministic evaluation, so that the replay does not depend on the torch random stream.
    module = algos.load(name)
    config = config_from_dict(module.Config, {"env_id": env_id, "total_steps": 1024, "eval_interval": 512,
                                              "eval_episodes": 3, "eval_deterministic": True, "device": "cpu",
                                              **settings})
    assert module.train(config, 5, tmp_path).status == "completed"
    saved = torch.load(tmp_path / CHECKPOINT, weights_only=False)
    with open(tmp_path / "eval.csv") as handle:
        evaluations = list(csv.DictReader(handle))
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    act = module.policy_from_checkpoint(config, environment, saved["algorithm"])
    returns = envs.evaluate(act, environment, config.eval_episodes, 5, round_index=len(evaluations) - 1)
    assert float(np.mean(returns)) == float(evaluations[-1]["mean"])


def test_rollout_marks_autoreset_steps_invalid_and_counts_only_real_steps():
    class Scripted:
        """Env 0 ends its episode at step 1 (so step 2 is its autoreset); env 1 runs on."""

        def __init__(self):
            self.t = 0

        def step(self, actions):
            self.t += 1
            observation = np.full((2, 1), float(self.t), dtype=np.float32)
            terminated = np.array([self.t == 2, False])
            return observation, np.ones(2, dtype=np.float32), terminated, np.zeros(2, dtype=bool), {}

    class Log:
        def log_episodes(self, step, info):
            pass

    rollout = Rollout(3, 2, gym.spaces.Box(-10, 10, (1,)), 2, True, np.zeros((2, 1), dtype=np.float32))
    step = rollout.collect(Scripted(), lambda obs: np.zeros(len(obs), dtype=np.int64), 0, Log())
    assert rollout.valid.tolist() == [[True, True], [True, True], [False, True]]
    assert step == 5  # env 0's autoreset step is not an environment step
    assert rollout.observations[:, 0, 0].tolist() == [0.0, 1.0, 2.0, 3.0]  # s_2 is env 0's last state
    assert rollout.resets.pending.tolist() == [False, False]
