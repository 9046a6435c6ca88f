"""Every algorithm runs Atari Pong under the dqn2015 protocol with its paper settings for a few
thousand steps, writes its run directory and reports its speed. Nothing here must learn."""

import json

import pytest

import algos
from common.config import config_from_dict

# DQN and C51 keep their paper settings but a replay memory of 10k transitions (the paper's 1M takes
# 7 GB) and a replay start of 500 steps, so that ~375 updates happen.
REPLAY = {"buffer_size": 10_000, "learning_starts": 500}
ATARI_ALGORITHMS = {"a2c": {}, "ppo": {}, "a3c": {"workers": 2}, "dqn": REPLAY, "c51": REPLAY}
FIRE_RESET = ("a2c", "ppo")


@pytest.mark.parametrize("name", sorted(ATARI_ALGORITHMS))
def test_pong_smoke_run(tmp_path, name):
    module = algos.load(name)
    config = config_from_dict(module.Config, {"env_id": "ALE/Pong-v5", "total_steps": 2_000, "eval_interval": 10**6,
                                              "eval_episodes": 1, "device": "cpu", **ATARI_ALGORITHMS[name]})
    result = module.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed" and result.steps >= 2_000 and result.steps_per_second > 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["steps_per_second"] == pytest.approx(result.steps_per_second) and summary["peak_rss_mb"] > 0
    protocol = json.loads((tmp_path / "config.json").read_text())["protocol"]
    assert protocol["protocol"] == "dqn2015" and protocol["frame_skip"] == 4 and protocol["noop_max"] == 30
    assert protocol["eval_max_episode_frames"] == 18_000  # Nature's 5-minute evaluation games
    # OpenAI Baselines' wrappers, which A2C and PPO were released with, press FIRE at reset; DeepMind's code did not
    assert protocol["fire_reset"] == (name in FIRE_RESET)
    evaluation = (tmp_path / "eval.csv").read_text().splitlines()
    assert len(evaluation) == 2 and -21 <= float(evaluation[1].split(",")[2]) <= 21  # one whole game, raw score
