"""What a smoke page leads with (analysis.front_page), on a hand-built smoke tier analysed by `python -m analysis`
with a committed nightly tier beside it: the pipeline's stages counted, each variant's smoke score against a random
policy with its word, and the nightly verdicts with the commit and date they were made at. The page itself is checked
in test_html_report.py, on the same results (build_smoke_tier)."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from analysis.__main__ import main as analyse
from analysis.front_page import (ABOVE, NO_RANDOM, NO_SCORE, NOT_YET, RandomScore, committed_verdicts, learning_word,
                                 nightly_dir, plans_tier, random_policy_scores, smoke_checks)
from common.rundir import git_commit
from runner.claims import RANDOM_SCORES

SMOKE = "toy_smoke"
SMOKE_TITLE = "Toy smoke experiment"
NO_RANDOM_TASK = "MountainCarContinuous-v0"  # a task results/baselines/random_scores.csv has no row for
RUNS_COMMITS = ("1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222-dirty")
FAILED_TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad observation shape\n'
# (variant, task) -> seed -> (status, score); a seed absent here has no run directory at all. Random CartPole-v1 is
# 22.16 +- 11.5 (results/baselines/random_scores.csv): fast is far above it, slow inside it.
OUTCOMES = {
    ("fast", "CartPole-v1"): {0: ("completed", 150.0), 1: ("completed", 180.0)},
    ("fast", NO_RANDOM_TASK): {0: ("completed", -5.0), 1: ("diverged", None)},
    ("slow", "CartPole-v1"): {0: ("completed", 20.0), 1: ("completed", 25.0)},
    ("broken", "CartPole-v1"): {0: ("failed", None)},  # seed 1 never started
}
ALGOS = {"fast": "ppo", "slow": "dqn", "broken": "a2c"}
BEST_EVALUATION_GAIN = 10.0  # each run's best evaluation is this much above its score, at its last step
TOTAL_STEPS = 1000
SMOKE_CLAIMS = ("fast_beats_slow", "slow_matches_paper")  # judged in the nightly tier only

NIGHTLY_COMMIT = "abcdef0123abcdef0123abcdef0123abcdef0123"
NIGHTLY_DATE = "2030-01-02"
OLD = "older_experiment"  # committed before verdicts.json recorded its commit
NIGHTLY_NOT_JUDGED = "the nightly tier's budget cannot judge it; the spec judges it in: paper"


def claim(claim_id: str, verdict: str = "not judged", reason: str = "the smoke tier's budget cannot judge it") -> dict:
    estimates = {"probability_of_improvement": 0.9, "poi_ci": [0.7, 1.0], "difference": 12.5,
                 "difference_ci": [3.0, 20.0]} if verdict != "not judged" else {
        "probability_of_improvement": None, "poi_ci": None, "difference": None, "difference_ci": None}
    return {"claim": claim_id, "sentence": f"The paper says {claim_id}.", "form": f"{claim_id}: final score, IQM",
            "verdict": verdict, "aggregate": "IQM", "tasks": 1, "seeds_a": 5, "seeds_b": 5, "reason": reason,
            **estimates}


def spec_claim(claim_id: str) -> dict:
    """A claim as the runner writes it into the plan: judged in the nightly and paper tiers."""
    return {"id": claim_id, "sentence": f"The paper says {claim_id}.", "kind": "better", "a": "fast", "b": "slow",
            "score": "final", "aggregate": "iqm", "statistic": "probability_of_improvement", "margin": None, "diagnosis": {}, "tiers": ["nightly", "paper"], "environments": None,
            "why": "a test", "form": f"{claim_id}: final score, IQM"}


def write_run(run_dir: Path, seed: int, status: str, score: float | None) -> None:
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text(json.dumps({"git_commit": RUNS_COMMITS[seed], "protocol": {"v": 1}}))
    if status == "failed":  # crashed before its first evaluation
        (run_dir / "summary.json").write_text(json.dumps({"status": "failed", "score": None,
                                                          "error": FAILED_TRACEBACK}))
        return
    final = score if score is not None else 1.0
    with open(run_dir / "eval.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([("step", "wall_time", "mean", "std", "episodes"), (500, 1.0, final / 2, 1.0, 5),
                          (TOTAL_STEPS, 2.0, final + BEST_EVALUATION_GAIN, 1.0, 5)])
    (run_dir / "checkpoint.pt").write_bytes(b"checkpoint")
    (run_dir / "summary.json").write_text(json.dumps({
        "status": status, "score": score, "score_rule": "eval_last_10pct", "steps": TOTAL_STEPS,
        "steps_per_second": 100.0, "peak_rss_mb": 300.0, "wall_time": 10.0,
        "error": "common.rundir.Diverged: loss became nan" if status == "diverged" else None}))


def write_nightly(nightly: Path) -> None:
    """Committed nightly verdicts: one file with where it came from, one written before verdicts.json said so."""
    for name, extra in ((SMOKE, {"commit": NIGHTLY_COMMIT, "runs_commits": list(RUNS_COMMITS), "date": NIGHTLY_DATE}),
                        (OLD, {})):
        (nightly / name).mkdir(parents=True)
        (nightly / name / "report.md").write_text(f"# {name}\n\n- **Report written at commit:** `{NIGHTLY_COMMIT}`\n")
        verdicts = ([claim("fast_beats_slow", "reproduced", "P(fast > slow) = 0.90 lies above 0.5"),
                     claim("slow_matches_paper", "contradicted", "the published number is outside our CI"),
                     claim("slow_matches_table_9", reason=NIGHTLY_NOT_JUDGED),
                     claim("fast_matches_table_9", reason=NIGHTLY_NOT_JUDGED)]
                    if name == SMOKE else [claim("old_claim", "inconclusive", "the CI contains 0.5")])
        (nightly / name / "verdicts.json").write_text(json.dumps(
            {"experiment": name, "title": f"{name} (nightly)", "tier": "nightly", "verdicts": verdicts} | extra))


def build_smoke_tier(root: Path) -> Path:
    """ROOT/smoke as `./run_all.sh` leaves it (runs, plan, then `python -m analysis ROOT/smoke`) and ROOT/nightly with
    committed verdicts; ROOT/smoke."""
    smoke = root / "smoke"
    experiment_dir = smoke / SMOKE
    jobs = []
    for (variant, task), seeds in OUTCOMES.items():
        for seed in (0, 1):
            run_dir = f"runs/{variant}/{task}/seed_{seed}"
            jobs.append({"variant": variant, "algo": ALGOS[variant], "env_id": task, "seed": seed, "run_dir": run_dir})
            if seed in seeds:
                write_run(experiment_dir / run_dir, seed, *seeds[seed])
    (experiment_dir / "spec.json").write_text(json.dumps({
        "name": SMOKE, "title": SMOKE_TITLE, "tier": "smoke", "reproduces": {"paper": "Someone et al. 2000"},
        "score_rule": "eval_last_10pct", "score_rule_text": "mean evaluation return over the last 10% of training",
        "total_steps": dict.fromkeys(["CartPole-v1", NO_RANDOM_TASK], TOTAL_STEPS),
        "environments": ["CartPole-v1", NO_RANDOM_TASK], "seeds": [0, 1],
        "variants": [{"name": name, "algo": algo, "overrides": {}} for name, algo in ALGOS.items()],
        "jobs": jobs, "published": [], "claims": [spec_claim(claim_id) for claim_id in SMOKE_CLAIMS]}))
    write_nightly(root / "nightly")
    assert analyse([str(smoke), "--reps", "50"]) == 0
    return smoke


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    return build_smoke_tier(tmp_path_factory.mktemp("results"))


def test_analysis_records_where_its_verdicts_come_from(smoke):
    before = datetime.now(timezone.utc).date()
    written = json.loads((smoke / SMOKE / "verdicts.json").read_text())
    assert written["commit"] == git_commit()
    assert written["runs_commits"] == sorted(RUNS_COMMITS)  # the failed run's config.json counts, the missing one not
    assert datetime.fromisoformat(written["date"]).date() in (before, datetime.now(timezone.utc).date())
    assert [verdict["verdict"] for verdict in written["verdicts"]] == ["not judged"] * len(SMOKE_CLAIMS)


def test_every_stage_of_the_pipeline_is_counted(smoke):
    checks = smoke_checks(smoke, [SMOKE])
    stages = {stage.name: (stage.done, stage.total, stage.status) for stage in checks.stages}
    assert stages == {
        "Specs loaded and planned": (1, 1, "passed"),
        "Runs finished": (5, 8, "partial"),
        "Checkpoints written": (6, 8, "partial"),  # the diverged run checkpointed; the failed and missing did not
        "Evaluations done": (6, 8, "partial"),
        "Scores computed": (5, 8, "partial"),
        "Analysis written": (1, 1, "passed"),
    }
    details = {stage.name: stage.detail for stage in checks.stages}
    assert details["Runs finished"] == "1 failed, 1 diverged, 1 never started"
    assert details["Evaluations done"] == "12 evaluations"
    [check] = checks.experiments
    assert (check.completed, check.failed, check.diverged, check.unfinished, check.missing) == (5, 1, 1, 0, 1)
    assert check.claims == len(SMOKE_CLAIMS) and check.figures > 0 and check.outputs_missing == ()
    assert sorted((problem.variant, problem.seed, problem.problem.split(" ")[0]) for problem in check.problems) == [
        ("broken", 0, "failed"), ("broken", 1, "missing"), ("fast", 1, "diverged")]


def test_a_stage_that_did_not_happen_is_not_passed(smoke, tmp_path):
    """The analysis stage fails when an experiment's outputs are gone; a run without checkpoint is counted out."""
    copy = tmp_path / "smoke"
    (copy / SMOKE).mkdir(parents=True)
    (copy / SMOKE / "spec.json").write_text((smoke / SMOKE / "spec.json").read_text())
    run = copy / SMOKE / "runs" / "fast" / "CartPole-v1" / "seed_0"
    write_run(run, 0, "completed", 150.0)
    (run / "checkpoint.pt").unlink()
    stages = {stage.name: stage for stage in smoke_checks(copy, [SMOKE]).stages}
    assert (stages["Analysis written"].done, stages["Analysis written"].status) == (0, "failed")
    assert "missing: report.md, report.json, table.csv, verdicts.json, figures/*.png" in stages["Analysis written"].detail
    assert (stages["Checkpoints written"].done, stages["Runs finished"].done) == (0, 1)


def test_each_variant_is_compared_with_a_random_policy(smoke):
    signals = {(signal.variant, signal.env): signal for signal in smoke_checks(smoke, [SMOKE]).signals}
    assert list(signals) == [("fast", "CartPole-v1"), ("fast", NO_RANDOM_TASK), ("slow", "CartPole-v1"),
                             ("broken", "CartPole-v1")]  # the plan's variant order, then task order
    fast, slow = signals["fast", "CartPole-v1"], signals["slow", "CartPole-v1"]
    assert (fast.word, fast.score, fast.seeds_scored, fast.seeds_planned) == (ABOVE, 165.0, 2, 2)
    assert (fast.best_evaluation, fast.best_evaluation_step) == (180.0 + BEST_EVALUATION_GAIN, TOTAL_STEPS)
    assert fast.random.mean == pytest.approx(22.16) and fast.random.episodes == 200
    assert (slow.word, slow.score) == (NOT_YET, 22.5)
    assert signals["fast", NO_RANDOM_TASK].word == NO_RANDOM and signals["fast", NO_RANDOM_TASK].random is None
    broken = signals["broken", "CartPole-v1"]
    assert (broken.word, broken.score, broken.best_evaluation, broken.seeds_planned) == (NO_SCORE, None, None, 2)


@pytest.mark.parametrize("score, word", [(33.0, NOT_YET), (34.0, NOT_YET), (34.01, ABOVE), (None, NO_SCORE)])
def test_above_random_means_more_than_one_standard_deviation_above_its_mean(score, word):
    random = RandomScore("Task-v0", mean=22.0, std=12.0, episodes=200)
    assert learning_word(score, random) == word
    assert learning_word(score, None) == NO_RANDOM  # never a word against a random score that was not measured


def test_random_scores_are_read_with_their_spread():
    scores = random_policy_scores(RANDOM_SCORES)
    assert scores["CartPole-v1"] == RandomScore("CartPole-v1", 22.16, 11.5015, 200)
    assert NO_RANDOM_TASK not in scores
    assert random_policy_scores(Path("/nonexistent/random_scores.csv")) == {}


def test_committed_verdicts_say_when_they_were_made_or_where_to_look(smoke):
    nightly = nightly_dir(smoke)
    assert nightly == smoke.resolve().parent / "nightly"
    committed = {entry.experiment: entry for entry in committed_verdicts(nightly, smoke.resolve())}
    assert list(committed) == [OLD, SMOKE]
    recorded, old = committed[SMOKE], committed[OLD]
    assert (recorded.commit, recorded.date, recorded.runs_commits) == (NIGHTLY_COMMIT, NIGHTLY_DATE, list(RUNS_COMMITS))
    assert [verdict.verdict for verdict in recorded.verdicts] == ["reproduced", "contradicted", "not judged",
                                                                      "not judged"]
    assert recorded.reproduce == f"./run_all.sh --tier nightly --only {SMOKE}"
    assert (old.commit, old.date, old.runs_commits) == (None, None, [])
    assert old.report_link == f"../nightly/{OLD}/report.md" and old.problem is None


def test_a_committed_verdicts_file_that_cannot_be_read_is_named_not_fatal(tmp_path):
    (tmp_path / "nightly" / "broken").mkdir(parents=True)
    (tmp_path / "nightly" / "broken" / "verdicts.json").write_text('{"experiment": "broken", "verdicts": [{}]}')
    [entry] = committed_verdicts(tmp_path / "nightly", tmp_path / "smoke")
    assert entry.verdicts == [] and "verdicts[0].claim: expected a value (the key is required)" in entry.problem
    assert entry.report_link is None
    assert committed_verdicts(tmp_path / "no_such_tier", tmp_path / "smoke") == []


def test_the_tier_comes_from_the_plans(smoke, tmp_path):
    assert plans_tier(smoke, [SMOKE]) == "smoke"
    assert plans_tier(tmp_path, ["no_plan_here"]) is None
