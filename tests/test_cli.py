"""The algorithm command lines: --help documents every hyperparameter; bad input is one clear line."""

import dataclasses

import pytest

import algos
from common.cli import field_docs
from helpers import run_module


@pytest.mark.parametrize("name", algos.ALGORITHMS)
def test_every_hyperparameter_is_documented_in_help(name):
    config_class = algos.load(name).Config
    docs = field_docs(config_class)
    process = run_module(f"algos.{name}", "--help")
    assert process.returncode == 0
    help_text = " ".join(process.stdout.split())
    for field in dataclasses.fields(config_class):
        assert docs.get(field.name), f"{field.name} has no docstring"
        assert "--" + field.name.replace("_", "-") in help_text
        assert f"(default: {field.default})" in help_text


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
