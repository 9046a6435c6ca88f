"""Normalisation against hand-computed values, and claims judged on runs that are missing or present."""

from dataclasses import replace
from pathlib import Path

import pytest

from analysis.judging import claims_section, judge_claim
from analysis.report import markdown_text
from analysis.report_file import plain
from analysis.table import SeedRun
from analysis.verdicts_file import ClaimVerdict
from helpers import plan_record
from runner.claims import Claim, Diagnosis, Normalization, normalize, published_entries
from runner.sweep import TierPlan

CARTPOLE = Normalization(None, {"CartPole-v1": {"score": 500.0, "source": "the episode cap"}})


def test_reference_normalisation_maps_random_to_0_and_reference_to_1():
    # random CartPole-v1 is 22.16 (results/baselines/random_scores.csv): halfway to 500 is 261.08
    assert normalize("CartPole-v1", 22.16, CARTPOLE) == pytest.approx(0.0)
    assert normalize("CartPole-v1", 500.0, CARTPOLE) == pytest.approx(1.0)
    assert normalize("CartPole-v1", 261.08, CARTPOLE) == pytest.approx(0.5)


def test_atari_normalisation_uses_the_named_table():
    # Pong, noop_30min table: random -20.7, human 14.6 -> (0 + 20.7) / 35.3
    assert normalize("ALE/Pong-v5", 0.0, Normalization("noop_30min", {})) == pytest.approx(20.7 / 35.3)
    # human_starts table: random -18.0, human 15.5 -> (0 + 18) / 33.5
    assert normalize("ALE/Pong-v5", 0.0, Normalization("human_starts", {})) == pytest.approx(18.0 / 33.5)


def test_a_task_without_a_declared_scale_has_no_normalised_score():
    assert normalize("MinAtar/Breakout-v1", 3.0, CARTPOLE) is None


def test_published_numbers_are_read_by_game_key():
    section = {"file": "ppo_schulman2017_atari49.csv", "key": "game", "columns": {"ppo": "ppo", "a2c": "a2c"},
               "protocol": "p", "source": "Table 6"}
    entries = published_entries(section, ["ppo", "a2c"], ("ALE/Pong-v5", "ALE/SpaceInvaders-v5", "CartPole-v1"))
    scores = {(e.variant, e.env_id): e.score for e in entries}
    assert scores == {("ppo", "ALE/Pong-v5"): 20.7, ("ppo", "ALE/SpaceInvaders-v5"): 942.5,
                      ("a2c", "ALE/Pong-v5"): 19.7, ("a2c", "ALE/SpaceInvaders-v5"): 744.5}


def fake_runs(tmp_path: Path, variant: str, scores: list[float]) -> list[SeedRun]:
    runs = []
    for seed, score in enumerate(scores):
        run_dir = tmp_path / variant / str(seed)
        run_dir.mkdir(parents=True)
        (run_dir / "eval.csv").write_text(f"step,wall_time,mean,std,episodes\n500,1.0,{score / 2},0,10\n"
                                          f"1000,2.0,{score},0,10\n")
        runs.append(SeedRun(variant, "dqn", "CartPole-v1", seed, run_dir,
                            {"score": score, "wall_time": 2.0, "status": "completed"}, None))
    return runs


CLAIM = Claim(id="c", sentence="s", kind="better", a="c51", b="dqn", score="final", aggregate="iqm",
              statistic="probability_of_improvement", margin=None, tiers=("smoke",), environments=None, why="",
              diagnosis={})
SPEC = TierPlan.model_validate(plan_record(total_steps={"CartPole-v1": 1000}))


def test_a_variant_that_has_not_run_leaves_its_claim_not_judged(tmp_path):
    verdict = judge_claim(CLAIM, fake_runs(tmp_path, "dqn", [100, 110, 120]), SPEC, CARTPOLE, reps=200)
    assert verdict.verdict == "not judged" and "c51" in verdict.reason


def test_a_clearly_better_variant_is_reproduced_on_final_and_area_scores(tmp_path):
    runs = fake_runs(tmp_path, "dqn", [100, 110, 120, 105]) + fake_runs(tmp_path, "c51", [400, 420, 410, 430])
    for score in ("final", "auc", "auc_wall_clock", "at_equal_wall_clock"):
        verdict = judge_claim(replace(CLAIM, score=score), runs, SPEC, CARTPOLE, reps=200)
        assert verdict.verdict == "reproduced", (score, verdict)


def test_every_verdict_that_is_not_reproduced_shows_its_diagnosis_or_that_it_has_none():
    def verdict(claim, kind, diagnosis=None, judged_in_tier=True):
        return ClaimVerdict(claim=claim, sentence="s", form="f", verdict=kind, probability_of_improvement=None,
                            poi_ci=None, aggregate="", difference=None, difference_ci=None, tasks=1, seeds_a=3,
                            seeds_b=3, reason="r", diagnosis=diagnosis, judged_in_tier=judged_in_tier)
    proxy = Diagnosis("proxy", "280k steps is a tenth of what it needs.", ("docs/algorithms/async.md",))
    claims = claims_section([verdict("held", "reproduced"), verdict("budget", "contradicted", proxy),
                             verdict("unknown", "inconclusive"), verdict("paper_only", "not judged", None, False)], 100)
    diagnoses = [markdown_text(line) for line in claims.diagnoses]
    assert diagnoses[0] == ("**budget** (contradicted): **proxy**: 280k steps is a tenth of what it needs. Evidence: "
                            "`docs/algorithms/async.md`.")
    assert diagnoses[1].startswith("**unknown** (inconclusive): **no diagnosis yet**")
    assert len(diagnoses) == 2  # not "held" (reproduced) nor "paper_only" (not this tier's to judge)
    assert [plain(row[2]) for row in claims.table.rows] == ["reproduced", "contradicted", "inconclusive", "not judged"]
    assert {span.style for row in claims.table.rows for span in row[2]} == {"verdict"}  # a badge on the page


def test_an_equal_wall_clock_claim_says_whether_its_runs_took_equal_time(tmp_path):
    runs = fake_runs(tmp_path, "dqn", [100, 110, 120, 105]) + fake_runs(tmp_path, "c51", [400, 420, 410, 430])
    claim = replace(CLAIM, score="at_equal_wall_clock")
    equal = judge_claim(claim, runs, SPEC, CARTPOLE, reps=200)
    assert equal.wall_times == {"c51": 2.0, "dqn": 2.0} and equal.wall_times_equal
    assert "ratio 1.00, equal within 20%" in equal.reason
    for run in runs[4:]:
        run.summary["wall_time"] = 3.0  # c51's runs took half as long again
    unequal = judge_claim(claim, runs, SPEC, CARTPOLE, reps=200)
    assert not unequal.wall_times_equal and "ratio 1.50, NOT equal within 20%" in unequal.reason
    assert not judge_claim(CLAIM, runs, SPEC, CARTPOLE, reps=200).wall_times  # a claim about steps says nothing
