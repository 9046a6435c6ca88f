"""A malformed spec is refused with the file, the field and what was expected; exit 2; nothing written."""

import json

import pytest
import yaml

from helpers import plan_record, run_module, variant_record, write_spec
from analysis.judging import judge_all
from analysis.report import markdown_table
from analysis.table import SeedRun, score_table, scores_table
from runner.spec import SpecFile, load_spec
from runner.claims import PublishedNumber
from runner.sweep import TierPlan, plan, read_plan, write_plan


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
    "claim of an unknown kind": (lambda d: d.update(claims=[dict(CLAIM, kind="beats")]), "claims[0].kind: expected one of"),
    "claim on an unknown variant": (lambda d: d.update(claims=[dict(CLAIM, b="a3c")]), "claims[0].b: expected one of ['reinforce']"),
    "claim without its sentence": (lambda d: d.update(claims=[{k: v for k, v in CLAIM.items() if k != "sentence"}]),
                                   "claims[0].sentence: expected a value (the key is required)"),
    "claims with the same id": (lambda d: d.update(claims=[CLAIM, CLAIM]), "claims[1].id: expected an id no other claim has"),
    "claim judged in an unknown tier": (lambda d: d.update(claims=[dict(CLAIM, tiers=["weekly"])]), "claims[0].tiers[0]: expected one of"),
    "claim of an unknown score": (lambda d: d.update(claims=[dict(CLAIM, score="best")]), "claims[0].score: expected one of"),
    "claim without the statistic that decides it": (lambda d: d.update(claims=[{k: v for k, v in CLAIM.items() if k != "statistic"}]),
                                                    "claims[0].statistic: expected a value (the key is required)"),
    "claim decided by a statistic its kind has not": (lambda d: d.update(claims=[dict(CLAIM, statistic="published_within_ci")]),
                                                      "claims[0].statistic: expected one of ['probability_of_improvement', 'aggregate_difference']"),
    "non-inferiority on an aggregate without its margin": (lambda d: d.update(claims=[dict(CLAIM, kind="at_least_as_good", statistic="aggregate_difference")]),
                                                           "claims[0].margin: expected a margin in the aggregate's units"),
    "diagnosis of an unknown kind": (lambda d: d.update(tiers=dict(d["tiers"], nightly=d["tiers"]["smoke"]), claims=[dict(CLAIM, diagnosis={"nightly": {"kind": "bad luck", "text": "t"}})]),
                                     "claims[0].diagnosis.nightly.kind: expected one of ['proxy', 'defect', 'open']"),
    "diagnosis for a tier that does not judge the claim": (lambda d: d.update(claims=[dict(CLAIM, diagnosis={"smoke": {"kind": "proxy", "text": "t"}})]),
                                                           "claims[0].diagnosis.smoke: expected one of []"),
    "margin on a claim of another kind": (lambda d: d.update(claims=[dict(CLAIM, margin=0.1)]),
                                          "claims[0].margin: expected no margin except for a claim of kind at_least_as_good or equivalent"),
    "published claim without numbers": (lambda d: d.update(claims=[{"id": "x", "sentence": "s", "kind": "matches_published", "statistic": "published_within_ci", "a": "a2c"}]),
                                        "claims[0].a: expected a variant with published numbers"),
    "published file that does not exist": (lambda d: d.update(published=dict(PUBLISHED, file="nope.csv")), "published.file: expected a CSV file"),
    "published column that does not exist": (lambda d: d.update(published=dict(PUBLISHED, columns={"a2c": "a2k"})),
                                             "published.columns.a2c: expected one of ['game', 'a2c', 'acer', 'ppo']"),
    "published without its protocol": (lambda d: d.update(published={k: v for k, v in PUBLISHED.items() if k != "protocol"}),
                                       "published.protocol: expected a value (the key is required)"),
    "unknown human-score table": (lambda d: d.update(normalization={"atari": "human_2030"}), "normalization.atari: expected one of"),
    "reference without a source": (lambda d: d.update(normalization={"reference": {"CartPole-v1": {"score": 500}}}),
                                   "normalization.reference.CartPole-v1.source: expected a value"),
    "reference equal to the random score": (lambda d: d.update(normalization={"reference": {"CartPole-v1": {"score": 22.16, "source": "x"}}}),
                                            "normalization.reference.CartPole-v1.score: expected a reference score other than the random"),
    "bar for more seeds than the tier runs": (lambda d: d.update(expect={"smoke": [{"variant": "a2c", "env_id": "CartPole-v1", "min_score": 1, "at_least": 3}]}),
                                              "expect.smoke[0].at_least: expected a number of seeds from 1 to the tier's 2"),
    "bar of two kinds at once": (lambda d: d.update(expect={"smoke": [{"variant": "a2c", "env_id": "CartPole-v1", "min_score": 1, "at_least": 1, "mean_at_least": 3}]}),
                                 "expect.smoke[0]: expected either min_score with at_least"),
    "bar for a tier the spec lacks": (lambda d: d.update(expect={"nightly": []}), "expect.nightly: expected one of ['smoke']"),
    "variant budget without a reason": (lambda d: d["tiers"]["smoke"].update(variants={"a2c": {"total_steps": 10}}),
                                        "tiers.smoke.variants.a2c.why: expected a value (the key is required)"),
}
CLAIM = {"id": "a2c_beats_reinforce", "sentence": "the paper's sentence", "kind": "better",
         "statistic": "probability_of_improvement", "a": "a2c", "b": "reinforce"}
PUBLISHED = {"file": "ppo_schulman2017_atari49.csv", "key": "game", "columns": {"a2c": "a2c"}, "protocol": "p", "source": "s"}


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


def test_claims_published_numbers_and_variant_budgets_are_read(tmp_path):
    def with_claims(data):
        data["environments"] = ["CartPole-v1", "ALE/Pong-v5"]
        data["tiers"]["smoke"].update(environments=["CartPole-v1"], variants={
            "a2c": {"total_steps": 4000, "eval_interval": 2000, "why": "equal wall-clock"}})
        data.update(claims=[CLAIM], published=PUBLISHED, normalization={"atari": "noop_30min", "reference": {
            "CartPole-v1": {"score": 500, "source": "the cap"}}},
            expect={"smoke": [{"variant": "a2c", "env_id": "CartPole-v1", "mean_at_least": 100}]})
    spec = load_spec(broken(tmp_path, with_claims))
    assert spec.tiers["smoke"].for_variant("a2c").total_steps == {"CartPole-v1": 4000}
    assert spec.tiers["smoke"].for_variant("reinforce").total_steps == {"CartPole-v1": 2000}
    # Table 6's A2C number for Pong, read from the CSV by game key
    assert [(e.variant, e.env_id, e.score) for e in spec.published] == [("a2c", "ALE/Pong-v5", 19.7)]
    assert spec.claims[0].tiers == ()  # by default claims are judged in nightly and paper, which this spec lacks
    assert spec.expectations[0].failure([120.0, 90.0], seeds=2) is None
    assert "scores [60.0, 90.0]" in spec.expectations[0].failure([60.0, 90.0], seeds=2)


def test_a_tier_can_leave_a_variant_out_and_its_claims_say_why(tmp_path):
    def without_a2c(data):
        data["tiers"]["smoke"]["variants"] = {"a2c": {"environments": [], "why": "too slow to learn in this budget"}}
        data["claims"] = [CLAIM | {"tiers": ["smoke"]}]
    spec = load_spec(broken(tmp_path, without_a2c))
    assert {job.variant for job in plan(spec, "smoke", tmp_path / "results")} == {"reinforce"}
    write_plan(spec, "smoke", tmp_path / "results", plan(spec, "smoke", tmp_path / "results"))
    plan_record = read_plan(tmp_path / "results" / "smoke" / "tiny")
    [verdict] = judge_all(plan_record, runs=[], reps=100)
    assert verdict.verdict == "not judged" and not verdict.judged_in_tier
    assert verdict.reason == "a2c does not run in the smoke tier: too slow to learn in this budget"


CONTEXT = {"file": "baselines_benchmarks_mujoco1m.csv", "key": "env_id", "columns": {"a2c": "trpo_mpi"},
           "label": "a library's page", "protocol": "p", "source": "s"}


def test_context_numbers_are_read_labelled_and_shown_but_never_published(tmp_path):
    def with_context(data):
        data["environments"] = ["CartPole-v1", "InvertedPendulum-v5"]
        data["tiers"]["smoke"]["environments"] = ["CartPole-v1"]
        data["context"] = [CONTEXT]
    spec = load_spec(broken(tmp_path, with_context))
    assert spec.context == (PublishedNumber("a2c", "InvertedPendulum-v5", 905.1, "s", "p", "a library's page"),)
    assert spec.published == ()
    record = TierPlan.model_validate(plan_record(variants=[variant_record("a2c")], environments=["InvertedPendulum-v5"],
                                                 context=list(spec.context)))
    run = SeedRun("a2c", "a2c", "InvertedPendulum-v5", 0, tmp_path / "none", {"score": 800.0, "status": "completed", "steps_per_second": 1000.0,
                                                                      "peak_rss_mb": 400.0},
                  None)
    table = markdown_table(scores_table(score_table([run], record, reps=50)))
    assert "| context: implementations, not the paper |" in table and "| 905.1 (a library's page) |" in table
    with pytest.raises(ValueError, match=r"context\[0\]\.columns\.a2c: expected one of"):
        load_spec(broken(tmp_path, lambda d: d.update(context=[CONTEXT | {"columns": {"a2c": "no_such_column"}}])))


def test_a_spec_without_top_level_environments_keeps_its_name(tmp_path):
    """Regression: the tiers' environments once replaced the spec's name with the last tier's."""
    def tiers_only(data):
        data.pop("environments")
        data["tiers"]["smoke"]["environments"] = ["CartPole-v1"]
        data["tiers"]["nightly"] = dict(data["tiers"]["smoke"], environments=["Acrobot-v1"])
    spec = load_spec(broken(tmp_path, tiers_only))
    assert spec.name == "tiny" and set(spec.environments) == {"CartPole-v1", "Acrobot-v1"}


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
        # A paper result has the three tiers, and a reference tier where this machine runs the paper's table whole
        # (ppo_surrogates); a comparison with a reference implementation, or evidence for a diagnosis, has its long
        # reference tier; the reference controls (our algorithms beside SB3's at our presets) their controls tier.
        assert set(spec.tiers) in ({"smoke", "nightly", "paper"}, {"smoke", "nightly", "reference", "paper"},
                                   {"smoke", "reference"}, {"smoke", "controls"}), path.name


def test_a_spec_named_for_a_tier_it_lacks_is_refused(tmp_path):
    process = run_module("runner", str(write_spec(tmp_path)), "--tier", "reference", "--results", str(tmp_path / "r"))
    assert process.returncode == 2 and "expected a 'reference' tier" in process.stderr
    assert not (tmp_path / "r").exists()


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


def test_the_committed_json_schema_is_the_spec_format(project_root):
    committed = json.loads((project_root / "docs" / "spec.schema.json").read_text())
    assert committed == SpecFile.model_json_schema(), "regenerate: python -m runner.spec --schema > docs/spec.schema.json"


def test_every_shipped_spec_round_trips_through_json(project_root):
    for path in sorted((project_root / "experiments").glob("*.yaml")):
        spec_file = SpecFile.model_validate(yaml.safe_load(path.read_text()))
        assert SpecFile.model_validate_json(spec_file.model_dump_json()) == spec_file, path.name
