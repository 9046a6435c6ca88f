"""What a run asks of a cluster node (runner/resources.py): replay memory counted from the stored states,
cores from the processes a run keeps busy, and the spec's word over both; a bad `resources:` is refused."""

import pytest

from helpers import write_spec
from runner.resources import BASE_MEMORY_GB, GB, REPLAY_OVERHEAD, default_resources, run_resources
from runner.spec import load_spec
from runner.sweep import Job


def job(algo: str, **config) -> Job:
    return Job("spec", "variant", algo, config["env_id"], 0, config, "/nowhere")


def test_an_atari_replay_of_a_million_transitions_declares_its_frames():
    need = default_resources(job("dqn", env_id="ALE/Pong-v5"))  # the paper's 1M-transition replay
    frames = 1_000_000 * 84 * 84  # one uint8 84x84 frame per stored state; the stacks are rebuilt from them
    assert need["memory_gb"] == pytest.approx(BASE_MEMORY_GB + frames * REPLAY_OVERHEAD / GB, abs=0.01)
    replay_gb = need["memory_gb"] - BASE_MEMORY_GB
    assert 7.35 <= replay_gb < 7.35 * 1.1  # covers what a full buffer measured (replay_memory.md), not much more
    assert need["cpus"] == 1 and need["gpus"] == 0


def test_a_vector_replay_counts_whole_observations_and_on_policy_runs_need_the_base():
    cartpole = default_resources(job("dqn", env_id="CartPole-v1", buffer_size=100_000))
    assert cartpole["memory_gb"] == pytest.approx(BASE_MEMORY_GB + 100_000 * 4 * 4 * REPLAY_OVERHEAD / GB, abs=0.01)
    assert default_resources(job("ppo", env_id="CartPole-v1"))["memory_gb"] == BASE_MEMORY_GB


def test_cores_follow_the_processes_a_run_keeps_busy():
    assert default_resources(job("a3c", env_id="CartPole-v1", workers=3))["cpus"] == 3
    assert default_resources(job("d4pg", env_id="Pendulum-v1", actors=2))["cpus"] == 3  # and the learner
    assert default_resources(job("d4pg", env_id="Pendulum-v1", actors=0))["cpus"] == 1  # one in-process actor


def test_the_spec_says_better_for_the_tier_or_one_variant(tmp_path):
    tiers = {"smoke": {"total_steps": 2000, "seeds": 1, "eval_interval": 1000, "resources": {"memory_gb": 3},
                       "variants": {"a2c": {"why": "test", "resources": {"cpus": 2, "gpus": 0.5}}}}}
    spec = load_spec(write_spec(tmp_path, tiers=tiers))
    a2c = job("a2c", env_id="CartPole-v1", num_envs=4)
    assert run_resources(a2c, spec.tiers["smoke"].for_variant("a2c").resources) == {"cpus": 2, "gpus": 0.5,
                                                                                    "memory_gb": 3}
    assert spec.tiers["smoke"].for_variant("reinforce").resources == {"memory_gb": 3}


@pytest.mark.parametrize("resources, field", [({"cpu": 1}, "resources.cpu"), ({"cpus": 0}, "resources.cpus"),
                                              ({"memory_gb": "lots"}, "resources.memory_gb"),
                                              ({"gpus": -1}, "resources.gpus")])
def test_bad_resources_are_refused_with_the_field(tmp_path, resources, field):
    tiers = {"smoke": {"total_steps": 2000, "seeds": 1, "eval_interval": 1000, "resources": resources}}
    with pytest.raises(ValueError) as error:
        load_spec(write_spec(tmp_path, tiers=tiers))
    assert f"tiers.smoke.{field}" in str(error.value)
