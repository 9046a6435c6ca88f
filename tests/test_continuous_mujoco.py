"""DDPG, D4PG and SAC run on a MuJoCo id, whose observations are float64 (the Control Suite's and
Pendulum's are float32): a short run of each learns from minibatches and completes."""

import pytest

import algos

# Small enough for a few seconds: a run that updates from its third minibatch on.
SETTINGS = {
    "ddpg": {"learning_starts": 128, "batch_size": 32},
    "sac": {"learning_starts": 128, "batch_size": 32},
    # InvertedPendulum-v5 pays 1 per step: its discounted returns lie in [0, 100]
    "d4pg": {"min_replay_size": 128, "batch_size": 32, "actors": 0, "v_min": 0.0, "v_max": 100.0},
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_a_short_run_on_a_mujoco_task_completes(tmp_path, name):
    module = algos.load(name)
    config = module.Config(env_id="InvertedPendulum-v5", total_steps=400, eval_interval=400, eval_episodes=1,
                           **SETTINGS[name])
    result = module.train(config, 0, tmp_path)
    assert result.status == "completed"
    assert (tmp_path / "checkpoint.pt").exists()
