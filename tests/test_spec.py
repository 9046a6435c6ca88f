"""A malformed spec is refused with the file, the field and what was expected; exit 2; nothing written."""

import pytest
import yaml

from helpers import run_module, write_spec
from runner.spec import load_spec


def broken(tmp_path, mutate):
    path = write_spec(tmp_path)
    data = yaml.safe_load(path.read_text())
    mutate(data)
    path.write_text(yaml.safe_dump(data))
    return path


CASES = {
    "unknown top-level key": (lambda d: d.update(colour="red"), "colour: expected one of the keys"),
    "wrong type": (lambda d: d["tiers"]["smoke"].update(seeds="three"), "tiers.smoke.seeds: expected a value of type int"),
    "unknown algorithm": (lambda d: d["variants"]["a2c"].update(algo="a4c"), "variants.a2c.algo: expected one of the algorithms"),
    "unknown env id": (lambda d: d.update(environments=["CartPool-v1"]), "environments[0]: expected an id of a supported family"),
    "unknown hyperparameter": (lambda d: d["variants"]["a2c"]["overrides"].update(learning_rat=0.1), "overrides.learning_rat: expected one of the hyperparameters"),
    "hyperparameter of wrong type": (lambda d: d["variants"]["a2c"]["overrides"].update(num_envs=2.5), "overrides.num_envs: expected a value of type int"),
    "invalid hyperparameter value": (lambda d: d["tiers"]["smoke"].update(total_steps=-5), "overrides.total_steps: expected a positive number"),
    "missing key": (lambda d: d.pop("score_rule"), "score_rule: expected a value (the key is required)"),
    "unknown tier": (lambda d: d["tiers"].update(weekly=d["tiers"]["smoke"]), "tiers.weekly: expected one of the keys"),
    "unknown score rule": (lambda d: d.update(score_rule="best_ever"), "score_rule: expected one of"),
    "budget for an environment not in the tier": (lambda d: d["tiers"]["smoke"].update(total_steps={"Acrobot-v1": 10}),
                                                  "tiers.smoke.total_steps.Acrobot-v1: expected one of the tier's environments"),
    "environment without a budget": (lambda d: d["tiers"]["smoke"].update(total_steps={}),
                                     "tiers.smoke.total_steps.CartPole-v1: expected a value of type int"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_load_spec_names_the_field(tmp_path, case):
    mutate, message = CASES[case]
    path = broken(tmp_path, mutate)
    with pytest.raises(ValueError) as error:
        load_spec(path)
    assert str(path) in str(error.value)
    assert message in str(error.value)


def test_a_tier_can_give_each_environment_its_own_budget(tmp_path):
    def per_environment(data):
        data["environments"] = ["CartPole-v1", "Acrobot-v1"]
        data["tiers"]["smoke"].update(total_steps={"CartPole-v1": 3000, "Acrobot-v1": 5000}, eval_interval=1000)
    spec = load_spec(broken(tmp_path, per_environment))
    smoke = spec.tiers["smoke"]
    assert smoke.total_steps == {"CartPole-v1": 3000, "Acrobot-v1": 5000}
    assert smoke.eval_interval == {"CartPole-v1": 1000, "Acrobot-v1": 1000}
    configs = {env_id: spec.run_config(spec.variants[0], env_id, smoke) for env_id in smoke.environments}
    assert configs["Acrobot-v1"]["total_steps"] == 5000 and configs["CartPole-v1"]["total_steps"] == 3000


def test_runner_rejects_a_malformed_spec_with_exit_2_and_writes_nothing(tmp_path):
    good = write_spec(tmp_path, name="good")
    bad = broken(tmp_path, lambda d: d["variants"]["a2c"]["overrides"].update(learning_rat=0.1))
    results = tmp_path / "results"
    process = run_module("runner", str(good), str(bad), "--results", str(results))
    assert process.returncode == 2
    assert "tiny.yaml" in process.stderr and "learning_rat" in process.stderr
    assert "Traceback" not in process.stderr
    assert not results.exists()  # not even the valid spec's runs started


def test_the_shipped_specs_are_valid(project_root):
    specs = sorted((project_root / "experiments").glob("*.yaml"))
    assert specs
    for path in specs:
        spec = load_spec(path)
        assert set(spec.tiers) == {"smoke", "nightly", "paper"}


def load_error(path) -> str:
    with pytest.raises(ValueError) as error:
        load_spec(path)
    return str(error.value)


def test_a_top_level_key_written_twice_is_refused_with_its_line(tmp_path):
    path = write_spec(tmp_path)
    text = path.read_text()
    assert text.startswith("name: tiny\n")
    path.write_text("name: tiny\nname: other\n" + text.removeprefix("name: tiny\n"))
    assert load_error(path) == (f"{path}: line 2: expected each key once per mapping (the first 'name' is at "
                                "line 1), got 'name'")


def test_a_nested_key_written_twice_is_refused_with_its_line(tmp_path):
    path = write_spec(tmp_path)
    lines = path.read_text().splitlines(keepends=True)
    at = next(index for index, line in enumerate(lines) if line.strip() == "num_envs: 4")  # a2c's overrides
    path.write_text("".join(lines[: at + 1] + [lines[at].replace("4", "8")] + lines[at + 1:]))
    assert load_error(path) == (f"{path}: line {at + 2}: expected each key once per mapping (the first "
                                f"'num_envs' is at line {at + 1}), got 'num_envs'")


def test_runner_refuses_a_duplicated_key_with_exit_2(tmp_path):
    path = write_spec(tmp_path)
    path.write_text(path.read_text() + "score_rule: train_last_100\n")
    process = run_module("runner", str(path), "--results", str(tmp_path / "results"))
    assert process.returncode == 2 and "Traceback" not in process.stderr
    assert f"{path}: line " in process.stderr and "'score_rule'" in process.stderr
