"""`python -m analysis` on a hand-built results directory: scores, CIs, named failures, the files it writes, the
commits it records, and the reports it must leave alone."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from analysis.__main__ import main
from analysis.report import report_markdown
from analysis.report_file import (ExperimentReport, IndexReport, plain, read_experiment_report, read_index_report,
                                  report_json)
from analysis.table import bootstrap_ci, verdict
from analysis.verdicts_file import VerdictsFile, read_verdicts_file
from common.rundir import git_commit
from helpers import plan_record, write_spec
from runner.claims import Diagnosis
from runner.spec import load_spec
from runner.sweep import TierPlan, plan, read_plan, write_plan

EXPERIMENT = "toy"
TOTAL_STEPS = 1000
FAILED_TRACEBACK = 'Traceback (most recent call last):\n  File "x.py", line 1\nValueError: bad observation shape\n'
# variant -> seed -> (status, score); a seed that is absent here has no run directory at all
OUTCOMES = {
    "reinforce": {0: ("completed", 10.0), 1: ("completed", 14.0), 2: ("failed", None)},  # seed 3 missing
    "reinforce_baseline": {0: ("completed", 20.0), 1: ("completed", 30.0), 2: ("completed", 25.0), 3: ("completed", 27.0)},
    "a2c": {0: ("completed", 50.0), 1: ("diverged", None), 2: ("unfinished", None)},  # seed 3 missing
}
PUBLISHED_BASELINE = 24.0
RUNS_COMMIT = "0123456789abcdef0123456789abcdef01234567"  # what the runs' config.json say they were made at


def write_run(run_dir, seed, status, score):
    run_dir.mkdir(parents=True)
    steps = np.arange(1, 11) * TOTAL_STEPS // 10 + seed * 7  # seeds overshoot each evaluation point differently
    returns = np.linspace(0, score or 0, len(steps))
    pd.DataFrame({"step": steps, "wall_time": steps / 100, "mean": returns, "std": 1.0, "episodes": 5}).to_csv(
        run_dir / "eval.csv", index=False)
    (run_dir / "config.json").write_text(json.dumps({"protocol": {"env_version": "v1", "eval_episodes": 5},
                                                     "git_commit": RUNS_COMMIT}))
    if status == "unfinished":
        return
    (run_dir / "summary.json").write_text(json.dumps({
        "status": status, "score": score, "score_rule": "eval_last_10pct", "steps": TOTAL_STEPS,
        "steps_per_second": 100.0 + seed, "peak_rss_mb": 300.0 + seed, "wall_time": 10.0,
        "error": {"failed": FAILED_TRACEBACK, "diverged": "common.rundir.Diverged: loss became nan"}.get(status)}))


def build_results(results_dir, name=EXPERIMENT, with_runs=True):
    experiment_dir = results_dir / name
    jobs = []
    for variant, seeds in OUTCOMES.items():
        for seed in range(4):
            run_dir = f"runs/{variant}/CartPole-v1/seed_{seed}"
            jobs.append({"variant": variant, "algo": variant.split("_")[0], "env_id": "CartPole-v1", "seed": seed,
                         "run_dir": run_dir})
            if seed in seeds and with_runs:
                write_run(experiment_dir / run_dir, seed, *seeds[seed])
    experiment_dir.mkdir(parents=True, exist_ok=True)
    (experiment_dir / "spec.json").write_text(json.dumps({
        "name": name, "title": f"Toy variance reduction ({name})", "tier": "smoke",
        "reproduces": {"paper": "Someone et al. 2000", "table": "Table 1", "claim": "baselines help"},
        "score_rule": "eval_last_10pct", "score_rule_text": "mean evaluation return over the last 10% of training",
        "total_steps": {"CartPole-v1": TOTAL_STEPS}, "environments": ["CartPole-v1"], "seeds": [0, 1, 2, 3],
        "variants": [{"name": name, "algo": name.split("_")[0], "overrides": {}} for name in OUTCOMES],
        "jobs": jobs,
        "published": [{"variant": "reinforce_baseline", "env_id": "CartPole-v1", "score": PUBLISHED_BASELINE,
                       "source": "Someone et al. 2000, Table 1"}]}))
    return experiment_dir


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    results_dir = tmp_path_factory.mktemp("results")
    experiment_dir = build_results(results_dir)
    assert main([str(results_dir), "--reps", "500"]) == 0
    table = pd.read_csv(experiment_dir / "table.csv").set_index("variant")
    return results_dir, experiment_dir, table


def test_rows_follow_the_spec_variant_order(analysed):
    _, _, table = analysed
    assert list(table.index) == list(OUTCOMES)


def test_mean_is_over_completed_seeds_only(analysed):
    _, _, table = analysed
    assert table.loc["reinforce", "mean_score"] == pytest.approx(12.0)
    assert table.loc["reinforce_baseline", "mean_score"] == pytest.approx(np.mean([20.0, 30.0, 25.0, 27.0]))
    assert (table.loc["reinforce", "seeds_completed"], table.loc["reinforce", "seeds_expected"]) == (2, 4)
    assert json.loads(table.loc["reinforce", "seed_scores"]) == {"0": 10.0, "1": 14.0}


def test_every_seed_without_a_score_is_named(analysed):
    _, _, table = analysed
    assert table.loc["reinforce", "missing_failed"] == "seed 2 failed (ValueError: bad observation shape), seed 3 missing"
    assert table.loc["a2c", "missing_failed"] == ("seed 1 diverged (Diverged: loss became nan), "
                                                  "seed 2 unfinished (no summary.json), seed 3 missing")
    assert pd.isna(table.loc["reinforce_baseline", "missing_failed"])


def test_ci_contains_the_mean_and_is_reproducible(analysed):
    _, _, table = analysed
    row = table.loc["reinforce_baseline"]
    assert row.ci_low < row.mean_score < row.ci_high
    scores = np.array([20.0, 30.0, 25.0, 27.0])
    assert bootstrap_ci(scores, 500) == bootstrap_ci(scores, 500)
    assert bootstrap_ci(scores, 500) == (row.ci_low, row.ci_high)


def test_one_seed_has_no_ci(analysed):
    _, _, table = analysed
    assert table.loc["a2c", "mean_score"] == 50.0
    assert math.isnan(table.loc["a2c", "ci_low"]) and math.isnan(table.loc["a2c", "ci_high"])


def test_published_score_gets_a_verdict(analysed):
    _, _, table = analysed
    assert table.loc["reinforce_baseline", "published_score"] == PUBLISHED_BASELINE
    assert table.loc["reinforce_baseline", "verdict"] == "inside our CI"
    assert (verdict(5.0, 10.0, 20.0), verdict(25.0, 10.0, 20.0)) == ("below our CI", "above our CI")


def test_figures_and_reports_are_written(analysed):
    results_dir, experiment_dir, _ = analysed
    for figure in ("learning_curves.png", "final_scores.png"):
        assert (experiment_dir / "figures" / figure).stat().st_size > 10_000
    report = (experiment_dir / "report.md").read_text()
    assert "![Learning curves](figures/learning_curves.png)" in report
    assert "seed 3 missing" in report and "env_version=v1" in report
    assert f"({EXPERIMENT}/figures/final_scores.png)" in (results_dir / "report.md").read_text()


def test_report_json_holds_what_report_md_shows_and_reads_back_the_same(analysed):
    results_dir, experiment_dir, _ = analysed
    report = read_experiment_report(experiment_dir / "report.json", EXPERIMENT)
    assert ExperimentReport.model_validate_json(report_json(report)) == report
    assert report_json(report) == (experiment_dir / "report.json").read_text()  # written as it reads back
    assert (experiment_dir / "report.md").read_text() == report_markdown(report)  # rendered from it
    assert report.facts.tier == "smoke" and report.facts.protocols == {"CartPole-v1": "env_version=v1, eval_episodes=5"}
    assert [column.header for column in report.scores.columns][:3] == ["variant", "algo", "env"]
    missing = [plain(row[-1]) for row in report.scores.rows]
    assert missing[0] == "seed 2 failed (ValueError: bad observation shape), seed 3 missing"
    assert [figure.path for figure in report.figures] == ["figures/learning_curves.png", "figures/wall_clock_curves.png",
                                                          "figures/final_scores.png"]
    index = read_index_report(results_dir)
    assert IndexReport.model_validate_json(report_json(index)) == index
    assert [(entry.name, entry.title) for entry in index.experiments] == [(EXPERIMENT, f"Toy variance reduction "
                                                                                      f"({EXPERIMENT})")]
    assert index.commit == git_commit() and index.sweep is None


def test_missing_results_dir_exits_2(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert main([str(tmp_path)]) == 2  # exists but holds no spec.json
    assert capsys.readouterr().err.count("error:") == 2


def test_reports_record_the_commit_they_were_written_at_and_the_runs_commit(analysed):
    results_dir, experiment_dir, _ = analysed
    report = (experiment_dir / "report.md").read_text()
    assert f"- **Report written at commit:** `{git_commit()}`" in report
    assert f"- **Runs' commit:** `{RUNS_COMMIT}` (10 runs)" in report  # every run directory on disk, failed ones too
    assert f"Index written at commit `{git_commit()}`." in (results_dir / "report.md").read_text()


def test_an_experiment_without_runs_on_disk_keeps_its_report(tmp_path, capsys):
    """Rerunning one experiment and analysing the results directory must not replace the committed reports
    of the others (whose runs are not on disk) with tables of missing seeds."""
    build_results(tmp_path, "rerun")
    kept_dir = build_results(tmp_path, "committed", with_runs=False)
    committed = {"report.md": "# Committed report\n\n![Learning curves](figures/learning_curves.png)\n",
                 "table.csv": "variant,mean_score\ndqn,499.4\n", "figures/learning_curves.png": "png bytes"}
    for name, text in committed.items():
        (kept_dir / name).parent.mkdir(exist_ok=True)
        (kept_dir / name).write_text(text)
    before = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in kept_dir.rglob("*") if path.is_file()}

    assert main([str(tmp_path), "--reps", "100"]) == 0
    after = {path: (path.read_bytes(), path.stat().st_mtime_ns) for path in kept_dir.rglob("*") if path.is_file()}
    assert after == before  # not rewritten, not even with the same content
    assert "no runs of committed on disk: its report.md, table.csv and figures are left as they are" in \
        capsys.readouterr().err
    index = (tmp_path / "report.md").read_text()
    assert "## Committed report\n\n![Learning curves](committed/figures/learning_curves.png)" in index
    assert "seed 3 missing" in (tmp_path / "rerun" / "report.md").read_text()  # the other one was analysed
    assert "![Learning curves](rerun/figures/learning_curves.png)" in index


def test_a_kept_report_json_that_cannot_be_read_is_named_and_no_index_is_written(tmp_path, capsys):
    kept_dir = build_results(tmp_path, "kept", with_runs=False)
    (kept_dir / "report.json").write_text('{"experiment": "kept", "title": 3}')
    assert main([str(tmp_path), "--reps", "100"]) == 2
    error = capsys.readouterr().err
    assert f"error: {kept_dir / 'report.json'}: " in error and f"python -m analysis {tmp_path}" in error
    assert not (tmp_path / "report.md").exists() and not (tmp_path / "report.json").exists()


def test_diagnoses_come_from_the_spec_as_it_is_now_not_from_the_runs_commit():
    """A diagnosis is written after the results are seen: the plan the runs carry is older than it."""
    from analysis.__main__ import with_current_diagnoses
    def claim(claim_id: str, diagnosis: dict) -> dict:
        return {"id": claim_id, "sentence": "s", "kind": "better", "a": "a2c", "b": "a3c", "score": "final",
                "aggregate": "iqm", "statistic": "probability_of_improvement", "margin": None, "tiers": ["nightly"],
                "environments": None, "why": "", "diagnosis": diagnosis}
    kept = {"kind": "open", "text": "kept", "evidence": []}
    old_plan = TierPlan.model_validate(plan_record(name="a2c_vs_a3c", claims=[
        claim("a2c_at_least_as_good_per_step", {}), claim("a_claim_since_removed", {"nightly": kept})]))
    claims = with_current_diagnoses(old_plan).claims
    assert claims[0].diagnosis["nightly"].kind == "proxy"
    assert claims[1].diagnosis == {"nightly": Diagnosis("open", "kept", ())}
    unknown = TierPlan.model_validate(plan_record(name="no_such_spec", claims=[claim("c", {})]))
    assert with_current_diagnoses(unknown) == unknown


def test_the_committed_plans_and_verdicts_load_and_round_trip(project_root):
    """Plans and verdicts.json committed before their fields were all recorded load with defaults, and what is
    written back reads back the same."""
    experiments = sorted(path.parent for path in (project_root / "results").glob("*/*/spec.json"))
    assert experiments
    for experiment_dir in experiments:
        committed = read_plan(experiment_dir)
        assert committed.name == experiment_dir.name and committed.jobs, experiment_dir
        assert TierPlan.model_validate_json(committed.model_dump_json()) == committed
        verdicts = read_verdicts_file(experiment_dir / "verdicts.json", experiment_dir.name)
        assert [verdict.claim for verdict in verdicts.verdicts] == [claim.id for claim in committed.claims]
        assert VerdictsFile.model_validate_json(verdicts.model_dump_json()) == verdicts


def test_a_plan_written_by_the_sweep_reads_back_as_written(tmp_path):
    spec = load_spec(write_spec(tmp_path, claims=[{"id": "c", "sentence": "s", "kind": "better", "a": "a2c",
                                                   "b": "reinforce", "statistic": "probability_of_improvement",
                                                   "tiers": ["smoke"]}]))
    jobs = plan(spec, "smoke", tmp_path / "results")
    write_plan(spec, "smoke", tmp_path / "results", jobs)
    written = read_plan(tmp_path / "results" / "smoke" / "tiny")
    assert written.claims == list(spec.claims) and written.variants == list(spec.variants)
    assert [(job.variant, job.seed) for job in written.jobs] == [(job.variant, job.seed) for job in jobs]
    assert written.total_steps == spec.tiers["smoke"].total_steps and written.normalization == spec.normalization
