"""The algorithm command lines: --help documents every hyperparameter and fits on a screen before the
options; bad input is one clear line; a config is the same however it is built (Python, CLI, spec)."""

import dataclasses

import pytest
import yaml

import algos
from common.cli import field_docs, parse
from common.config import config_from_dict
from helpers import run_module
from runner.spec import load_spec

SCREEN_LINES = 40
# One environment of every family (and both signs of classic-control returns, discrete and continuous).
ENVIRONMENTS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1", "InvertedPendulum-v5", "MinAtar/Breakout-v1",
                "ALE/Pong-v5", "dmc/cartpole-swingup")
CONTINUOUS_ONLY = ("ddpg", "d4pg", "sac")  # they refuse discrete actions: --help is shown for Pendulum-v1


@pytest.mark.parametrize("name", algos.ALGORITHMS)
def test_help_documents_every_hyperparameter_and_fits_a_screen(name):
    config_class = algos.load(name).Config
    docs = field_docs(config_class)
    process = run_module(f"algos.{name}", "--help")
    assert process.returncode == 0
    before_options = process.stdout.split("\noptions:")[0]
    assert len(before_options.splitlines()) <= SCREEN_LINES, before_options
    help_text = " ".join(process.stdout.split())
    for field in dataclasses.fields(config_class):
        assert docs.get(field.name), f"{field.name} has no docstring"
        assert "--" + field.name.replace("_", "-") in help_text
        assert f"(default: {field.default}" in help_text
    assert "presets (auto: " in help_text
    for preset in config_class.PRESETS:
        assert f" {preset}: " in help_text


@pytest.mark.parametrize("name", algos.ALGORITHMS)
def test_help_with_an_env_id_shows_the_values_the_run_uses(name):
    env_id = "Pendulum-v1" if name in CONTINUOUS_ONLY else "CartPole-v1"
    config = algos.load(name).Config(env_id=env_id)
    process = run_module(f"algos.{name}", "--env-id", env_id, "--help")
    help_text = " ".join(process.stdout.split())
    for field in dataclasses.fields(config):
        assert f"(for {env_id}, preset {config.preset}: {getattr(config, field.name)})" in help_text


def build_three_ways(tmp_path, name: str, env_id: str) -> dict:
    """The same request built from Python, from a command line and from a spec: each a config, or
    "refused" where that path rejects the request."""
    module = algos.load(name)
    given = {"env_id": env_id, "total_steps": 40_000, "eval_interval": 4_000, "score_rule": "eval_last_10pct"}
    spec = {"name": "paths", "title": "t", "reproduces": {"paper": "p", "table": "t", "claim": "c"},
            "score_rule": "eval_last_10pct", "environments": [env_id], "variants": {"v": {"algo": name}},
            "tiers": {"smoke": {"total_steps": 40_000, "seeds": 1, "eval_interval": 4_000}}}
    (tmp_path / "paths.yaml").write_text(yaml.safe_dump(spec))
    argv = ["--env-id", env_id, "--total-steps", "40000", "--eval-interval", "4000", "--score-rule", "eval_last_10pct"]

    def from_spec():
        loaded = load_spec(tmp_path / "paths.yaml")
        return config_from_dict(module.Config, loaded.run_config(loaded.variants[0], env_id, loaded.tiers["smoke"]))

    ways = {"python": lambda: module.Config(**given), "cli": lambda: parse(module.Config, f"algos.{name}", "", argv)[0],
            "spec": from_spec}
    built = {}
    for way, build in ways.items():
        try:
            built[way] = build()
        except (ValueError, SystemExit):  # ConfigError, SpecError, or the CLI's exit 2
            built[way] = "refused"
    return built


@pytest.mark.parametrize("name", algos.ALGORITHMS)
@pytest.mark.parametrize("env_id", ENVIRONMENTS)
def test_python_cli_and_spec_resolve_the_same_settings(tmp_path, name, env_id):
    built = build_three_ways(tmp_path, name, env_id)
    assert built["python"] == built["cli"] == built["spec"], built
    if not isinstance(built["python"], str):
        assert built["python"].preset != "auto"
        assert built["python"].preset in algos.load(name).Config.PRESETS


@pytest.mark.parametrize("arguments, message", [
    (["--env-id", "NoSuchEnv-v0"], "env_id: expected an id of a supported family"),
    (["--total-steps", "-5"], "total_steps: expected a positive number of environment steps, got -5"),
    (["--discount", "1.5"], "discount: expected a number in (0, 1], got 1.5"),
])
def test_bad_input_fails_with_one_line_and_exit_2(tmp_path, arguments, message):
    run_dir = tmp_path / "run"
    process = run_module("algos.reinforce", *arguments, "--run-dir", str(run_dir))
    assert process.returncode == 2
    assert process.stderr.strip().splitlines() == [f"python -m algos.reinforce: error: {process.stderr.split('error: ', 1)[1].strip()}"]
    assert message in process.stderr
    assert not run_dir.exists()


def test_cli_run_directory_names_do_not_nest_on_env_ids_with_a_slash():
    config_class = algos.load("dqn").Config
    _, _, run_dir, _ = parse(config_class, "algos.dqn", "", ["--env-id", "MinAtar/Breakout-v1"])
    assert run_dir.parent.as_posix() == "runs" and run_dir.name.startswith("dqn__MinAtar-Breakout-v1__seed1__")


def test_a_given_setting_that_differs_from_the_preset_is_a_recorded_deviation():
    config = algos.load("a2c").Config(env_id="CartPole-v1", learning_rate=1e-3, total_steps=5_000, num_envs=8)
    preset_rate = config.preset_values("classic")["learning_rate"]
    # num_envs equals the classic preset's and total_steps is the run's choice: neither is a deviation
    assert config.differences_from_preset() == [f"learning_rate = 0.001, where the classic preset has {preset_rate!r}"]
