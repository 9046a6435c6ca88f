"""The PPO paper's Table 1 scale (section 6.1): per task, the random policy scores 0 and the best setting 1; each
setting's mean over its runs beside the published value. Checked against hand computation."""

import csv
from pathlib import Path

import numpy as np
import pytest

from analysis.aggregates import best_of_summary
from analysis.report_file import plain
from analysis.table import SeedRun, with_best_of_references
from helpers import plan_record, random_score, write_spec
from runner.claims import Normalization, PublishedSummary, normalize
from runner.spec import SpecError, load_spec
from runner.sweep import TierPlan

TASKS = ("CartPole-v1", "Acrobot-v1")
# variant -> task -> seed scores; "b" is best on CartPole, "a" on Acrobot; a failed run of "b" does not count
SCORES = {"a": {"CartPole-v1": [300.0, 400.0], "Acrobot-v1": [-100.0, -120.0]},
          "b": {"CartPole-v1": [480.0, 500.0], "Acrobot-v1": [-150.0, -170.0]}}


def runs() -> list[SeedRun]:
    made = [SeedRun(variant, "ppo", task, seed, Path("/nonexistent"), {"status": "completed", "score": score}, None)
            for variant, tasks in SCORES.items() for task, scores in tasks.items() for seed, score in enumerate(scores)]
    made.append(SeedRun("b", "ppo", "Acrobot-v1", 2, Path("/nonexistent"), {"status": "failed", "score": None},
                        "failed (ValueError)"))
    return made


def spec() -> TierPlan:
    return TierPlan.model_validate(plan_record(environments=list(TASKS), normalization=Normalization(
        best_of=("a", "b"), best_of_source="Table 1")))


def test_each_tasks_best_setting_mean_scores_one_and_the_random_policy_zero():
    resolved = with_best_of_references(spec(), runs())
    reference = resolved.normalization.reference
    assert reference["CartPole-v1"]["score"] == 490.0 and "b over 2 seed(s)" in reference["CartPole-v1"]["source"]
    assert reference["Acrobot-v1"]["score"] == -110.0 and "a over 2 seed(s)" in reference["Acrobot-v1"]["source"]
    normalization = resolved.normalization
    assert normalize("CartPole-v1", 490.0, normalization) == pytest.approx(1.0)
    assert normalize("CartPole-v1", random_score("CartPole-v1"), normalization) == pytest.approx(0.0)
    # Acrobot: random -497.705; (-150 + 497.705) / (-110 + 497.705)
    assert normalize("Acrobot-v1", -150.0, normalization) == pytest.approx(347.705 / 387.705)
    given = spec()
    with_best_of_references(given, runs())
    assert given.normalization.reference == {}  # the plan given is not changed


def test_the_summary_puts_each_settings_mean_over_its_runs_beside_the_published_value():
    normalization = with_best_of_references(spec(), runs()).normalization
    summary = PublishedSummary("table.csv", "setting", {"a": "A", "b": "B"}, {"mean": "avg"}, "best_of")
    section = best_of_summary(runs(), normalization, summary, {"A": {"avg": "0.5"}, "B": {"avg": "0.9"}}, reps=200)
    [table] = [block.table for block in section.blocks if block.kind == "table"]
    rows = {plain(row[0]): [plain(cell) for cell in row[1:]] for row in table.rows}
    expected_a = np.mean([normalize(task, score, normalization) for task in TASKS for score in SCORES["a"][task]])
    assert rows["a"][0] == "0.5" and rows["a"][1].startswith(f"{expected_a:.2f} [") and rows["a"][2] == "2 x 2"
    assert rows["b"][0] == "0.9"


def test_best_of_must_name_the_specs_variants_and_a_best_of_summary_needs_it(tmp_path):
    scale = {"variants": ["reinforce", "ppo"], "source": "Table 1"}
    with pytest.raises(SpecError, match="normalization.best_of.variants"):
        load_spec(write_spec(tmp_path, normalization={"best_of": scale}))
    with open(Path(__file__).parent.parent / "results" / "published" / "ppo_schulman2017_table1.csv") as handle:
        assert next(csv.DictReader(handle))["setting"] == "no_clip_or_penalty"
    published = {"file": "ppo_schulman2017_table1.csv", "key": "setting", "columns": {}, "protocol": "p", "source": "s",
                 "summary": {"file": "ppo_schulman2017_table1.csv", "key": "setting", "rows": {"a2c": "clip_0.2"},
                             "columns": {"mean": "avg_normalized_score"}, "table": "best_of"}}
    with pytest.raises(SpecError, match="published.summary.table"):
        load_spec(write_spec(tmp_path, published=published))
    good = load_spec(write_spec(tmp_path, published=published,
                                normalization={"best_of": {"variants": ["reinforce", "a2c"], "source": "Table 1"}}))
    assert good.normalization.best_of == ("reinforce", "a2c")
