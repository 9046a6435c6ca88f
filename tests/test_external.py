"""An outside algorithm (examples/random_agent.py, named by its module path) runs in a spec beside ours, and its
claim is judged; a module that is not an algorithm is refused with the field."""

import csv
import importlib
import json

import pytest
import yaml

from helpers import run_module, write_spec
from runner.spec import load_spec

CLAIM = {"id": "reinforce_beats_random", "sentence": "learning beats acting at random", "kind": "better",
         "statistic": "probability_of_improvement", "a": "reinforce", "b": "random", "tiers": ["smoke"]}


def test_an_outside_algorithm_runs_beside_ours_and_is_judged(tmp_path):
    spec = write_spec(tmp_path, variants={"reinforce": {"algo": "reinforce", "overrides": {"batch_size": 500}},
                                          "random": {"algo": "examples.random_agent"}}, claims=[CLAIM])
    results = tmp_path / "results"
    run = run_module("runner", str(spec), "--results", str(results))
    assert run.returncode == 0, run.stderr
    for seed in (0, 1):
        summary = json.loads((results / "smoke/tiny/runs/random/CartPole-v1" / f"seed_{seed}/summary.json").read_text())
        assert summary["status"] == "completed" and summary["steps"] == 2000
    analysis = run_module("analysis", str(results / "smoke"), "--reps", "200")
    assert analysis.returncode == 0, analysis.stderr
    verdict = json.loads((results / "smoke/tiny/verdicts.json").read_text())["verdicts"][0]
    assert verdict["claim"] == "reinforce_beats_random" and verdict["verdict"] != "not judged", verdict


@pytest.mark.parametrize("algo, expected", [
    ("json", "expected one of the algorithms"),  # no dot: neither ours nor a module path
    ("examples.nowhere", "expected an importable module"),
    ("json.decoder", "lacks ['Config', 'train']"),
])
def test_a_module_that_is_not_an_algorithm_is_refused(tmp_path, algo, expected):
    path = write_spec(tmp_path, variants={"theirs": {"algo": algo}})
    with pytest.raises(ValueError) as error:
        load_spec(path)
    assert "variants.theirs.algo" in str(error.value) and expected in str(error.value)
    assert yaml.safe_load(path.read_text())  # the spec itself is valid YAML: the algorithm is what is wrong


# Each SB3 reference at a tiny scale, and settings its sb3_settings.json must show: rl-zoo's and SB3's defaults.
SB3_REFERENCES = {
    "sb3_ppo": ({"n_envs": 2, "n_steps": 64, "batch_size": 64},
                {"n_epochs": 4, "normalize_advantage": True, "clip_range_vf": None}),
    "sb3_dqn": ({"buffer_size": 1000, "learning_starts": 128},
                {"exploration_final_eps": 0.01, "target_update_interval": 1000, "optimizer": "Adam", "tau": 1.0}),
}


@pytest.mark.integration
@pytest.mark.parametrize("name", SB3_REFERENCES)
def test_the_sb3_reference_trains_checkpoints_and_resumes_from_its_step(tmp_path, monkeypatch, name):
    """examples/sb3_ppo.py and sb3_dqn.py (the parity specs' references): a run killed after its first
    checkpoint continues from that step, keeping the rows written before, and ends at the budget."""
    from helpers import stop_after_checkpoints

    module = importlib.import_module(f"examples.{name}")
    scale, expected_settings = SB3_REFERENCES[name]
    config = module.Config(env_id="ALE/Pong-v5", env_protocol="dqn2015:fire_reset=true", total_steps=512,
                           eval_interval=256, eval_episodes=1, **scale)
    saved = stop_after_checkpoints(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        module.train(config, seed=0, run_dir=tmp_path)
    assert saved == [256] and not (tmp_path / "summary.json").exists()
    monkeypatch.undo()
    result = module.train(config, seed=0, run_dir=tmp_path, resume=True)
    assert result.steps == 512
    evals = [int(row["step"]) for row in csv.DictReader(open(tmp_path / "eval.csv"))]
    assert evals == [256, 512]  # the first evaluation survived the kill; nothing before 256 was redone
    settings = json.loads((tmp_path / "sb3_settings.json").read_text())
    assert {key: settings[key] for key in expected_settings} == expected_settings
    record = json.loads((tmp_path / "config.json").read_text())["protocol"]
    assert record["training"]["env_id"] == "PongNoFrameskip-v4" and record["fire_reset"] is True


def test_the_sb3_reference_refuses_a_task_that_is_not_atari():
    from examples import sb3_ppo

    with pytest.raises(ValueError, match="env_id"):
        sb3_ppo.Config(env_id="CartPole-v1")


@pytest.mark.integration
def test_the_sb3_learner_also_trains_on_our_environments(tmp_path):
    """env_path ours: SB3's PPO on the suite's training envs (frames stacked by us, channels first)."""
    from examples import sb3_ppo

    config = sb3_ppo.Config(env_id="ALE/Pong-v5", env_protocol="dqn2015:fire_reset=true", env_path="ours", n_envs=2,
                            n_steps=64, batch_size=64, total_steps=256, eval_interval=256, eval_episodes=1)
    result = sb3_ppo.train(config, seed=0, run_dir=tmp_path)
    assert result.status == "completed" and result.steps == 256
    record = json.loads((tmp_path / "config.json").read_text())["protocol"]
    assert "training" not in record and record["protocol"] == "dqn2015"  # what trained is what the record says
    with pytest.raises(ValueError, match="env_path"):
        sb3_ppo.Config(env_id="ALE/Pong-v5", env_path="theirs")


@pytest.mark.integration
def test_the_sb3_control_adapter_trains_checkpoints_and_resumes_on_cartpole(tmp_path, monkeypatch):
    """examples/sb3_control.py (the reference controls): SB3's DQN at our classic preset, killed after its first
    checkpoint, continues from that step with its replay memory and its step counter (which times SB3's target
    copies), keeps the rows written before, and ends at the budget; the run records what SB3 cannot match."""
    import torch

    from examples import sb3_control
    from helpers import stop_after_checkpoints

    config = sb3_control.Config(algorithm="dqn", env_id="CartPole-v1", total_steps=2000, eval_interval=1000,
                                eval_episodes=2)
    saved = stop_after_checkpoints(monkeypatch, 1)
    with pytest.raises(KeyboardInterrupt):
        sb3_control.train(config, seed=0, run_dir=tmp_path)
    assert saved == [1000] and not (tmp_path / "summary.json").exists()
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["algorithm"]
    assert state["step"] == 1000 and state["counters"]["_n_calls"] == 1000 and state["replay_buffer"].size() == 1000
    monkeypatch.undo()
    result = sb3_control.train(config, seed=0, run_dir=tmp_path, resume=True)
    assert result.status == "completed" and result.steps == 2000
    evals = [int(row["step"]) for row in csv.DictReader(open(tmp_path / "eval.csv"))]
    assert evals == [1000, 2000]  # the first evaluation survived the kill; nothing before 1000 was redone
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)["algorithm"]
    assert state["counters"]["_n_calls"] == 2000 and state["replay_buffer"].size() == 2000  # restored, then continued
    hyperparameters = json.loads((tmp_path / "config.json").read_text())["hyperparameters"]
    assert hyperparameters["algorithm"] == "dqn" and hyperparameters["preset"] == "classic"
    assert any("initialisation" in text for text in json.loads((tmp_path / "deviations.json").read_text())["differences"])
    table = json.loads((tmp_path / "sb3_settings.json").read_text())["table"]
    assert {"ours": {"target_update_period": 500}, "sb3": "target_update_interval", "value": 500} in [
        {key: row[key] for key in ("ours", "sb3", "value")} for row in table]


@pytest.mark.parametrize("algorithm, env_id", [("ppo", "CartPole-v1"), ("ppo", "InvertedPendulum-v5"),
                                               ("dqn", "CartPole-v1"), ("dqn", "MinAtar/Breakout-v1")])
def test_the_control_settings_table_puts_our_preset_into_the_sb3_model(algorithm, env_id):
    """Every value read back from the SB3 model sb3_control builds is our preset's for the task."""
    from stable_baselines3.common.vec_env import VecNormalize

    from examples import sb3_control

    config = sb3_control.Config(algorithm=algorithm, env_id=env_id, total_steps=100_000)
    ours = config.ours()
    assert (config.preset, config.eval_episodes, config.eval_epsilon, config.eval_deterministic) == (
        ours.preset, ours.eval_episodes, ours.eval_epsilon, ours.eval_deterministic)  # evaluated as ours is
    model, env, normalization, _ = sb3_control.build(config, seed=0)
    optimizer = model.policy.optimizer
    assert model.gamma == ours.discount and model.lr_schedule(1.0) == pytest.approx(ours.learning_rate)
    if algorithm == "ppo":
        assert (model.n_envs, model.n_steps, model.batch_size, model.n_epochs) == (
            ours.num_envs, ours.n_steps, ours.minibatch_size, ours.epochs)
        assert model.gae_lambda == ours.gae_lambda and model.clip_range(1.0) == pytest.approx(ours.clip_range)
        assert model.lr_schedule(0.5) == pytest.approx(ours.learning_rate * (0.5 if ours.anneal_lr else 1.0))
        assert model.clip_range(0.5) == pytest.approx(ours.clip_range * (0.5 if ours.anneal_clip else 1.0))
        assert (model.vf_coef, model.ent_coef, model.max_grad_norm) == (ours.value_coef, ours.entropy_coef,
                                                                        ours.max_grad_norm)
        assert type(optimizer).__name__ == "Adam" and optimizer.defaults["eps"] == ours.adam_eps
        assert isinstance(model.get_env(), VecNormalize) == ours.normalize_observations == (ours.preset == "mujoco")
        if normalization is not None:
            assert (normalization.norm_reward, normalization.gamma) == (ours.normalize_rewards, ours.discount)
    else:
        assert (model.buffer_size, model.batch_size, model.learning_starts) == (
            ours.buffer_size, ours.batch_size, ours.learning_starts)
        assert (model.train_freq.frequency, model.gradient_steps, model.n_steps) == (
            ours.train_frequency, ours.gradient_steps, ours.n_step)
        assert (model.target_update_interval, model.tau) == (ours.target_update_period, 1.0)
        # epsilon: 1 at the start, final_epsilon once epsilon_anneal_steps are done (SB3 counts from step 0)
        done = ours.epsilon_anneal_steps / ours.total_steps
        assert model.exploration_schedule(1.0) == 1.0 and model.exploration_final_eps == ours.final_epsilon
        assert model.exploration_schedule(1.0 - done) == pytest.approx(ours.final_epsilon)
        optimizers = {"adam": ("Adam", ours.adam_eps), "torch_rmsprop": ("RMSprop", ours.min_squared_gradient)}
        assert (type(optimizer).__name__, optimizer.defaults["eps"]) == optimizers[ours.optimizer]
        assert model.max_grad_norm == (ours.max_grad_norm or float("inf"))
    env.close()


def test_the_trpo_control_runs_sb3_contribs_trpo_at_our_settings():
    from examples import sb3_control

    config = sb3_control.Config(algorithm="trpo", env_id="InvertedPendulum-v5", total_steps=50_000)
    ours = config.ours()
    model, env, normalization, arguments = sb3_control.build(config, seed=0)
    assert type(model).__module__.startswith("sb3_contrib") and sb3_control.reference_name("trpo") == (
        "sb3_contrib 2.9.2 TRPO")
    assert (model.n_steps, model.gamma, model.gae_lambda, model.target_kl) == (
        ours.n_steps, ours.discount, ours.gae_lambda, ours.max_kl)
    assert (model.cg_max_steps, model.cg_damping, model.line_search_max_iter, model.line_search_shrinking_factor) == (
        ours.cg_iters, ours.cg_damping, ours.line_search_steps, 0.5)
    assert (model.n_critic_updates, model.batch_size, model.sub_sampling_factor) == (
        ours.vf_epochs, ours.vf_minibatch_size, 1)
    assert model.lr_schedule(1.0) == pytest.approx(ours.vf_learning_rate)
    assert model.policy.optimizer.defaults["eps"] == 1e-8  # torch's Adam default, as ours
    assert [layer.out_features for layer in model.policy.mlp_extractor.policy_net if hasattr(layer, "out_features")] \
        == [ours.hidden_size] * ours.hidden_layers
    assert normalization.norm_obs and not normalization.norm_reward and normalization.clip_obs == ours.observation_clip
    assert any("Fisher-vector products" in text for text in arguments.differences)
    env.close()


def test_every_setting_of_ours_is_in_the_control_table_or_its_gaps():
    from examples import sb3_control

    for algorithm in sb3_control.SETTINGS:
        assert sb3_control.uncovered(algorithm) == [], algorithm
    with pytest.raises(ValueError, match="env_id"):
        sb3_control.Config(algorithm="ppo", env_id="ALE/Pong-v5")
    with pytest.raises(ValueError, match="algorithm"):
        sb3_control.Config(algorithm="c51")
