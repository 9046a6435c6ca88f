"""Each claim of a spec judged on the runs of one tier: the per-run score the claim is about, normalised per
task, handed to analysis.verdicts, and written as verdicts.json and as the table at the top of the report.

A claim is about the final score (the spec's score rule) or about learning speed (`auc`: the mean of the
learning curve over the whole budget, the curve being the quantity the score rule scores). A task or variant
that has not run is never filled in: its claim says "not judged" and why.
"""

from __future__ import annotations

import math
from dataclasses import asdict, replace

import numpy as np
import pandas as pd

from analysis.report_file import Claims, Column, Text, code, emphasis, strong, table_of, text
from analysis.report_file import verdict as verdict_span
from analysis.table import BOOTSTRAP_SEED, SeedRun, format_number
from analysis.verdicts import AGGREGATES, Verdict, area_under_curve, judge, matches_published
from analysis.verdicts_file import ClaimVerdict
from runner.claims import DEFAULT_POI_MARGIN, Claim, Normalization, normalize
from runner.sweep import TierPlan

TRAINING_WINDOW = 100  # episodes: the train_last_100 score rule's window, used for its learning curves
WALL_CLOCK_SCORES = ("auc_wall_clock", "at_equal_wall_clock")
EQUAL_WALL_CLOCK_TOLERANCE = 0.20  # equal-wall-clock budgets are steps set from measured rates: runs may differ this much


def learning_curve(run: SeedRun, score_rule: str) -> pd.DataFrame:
    """(step, wall_time, score) of one run: evaluations for the eval_* score rules; for the train_* rules the
    mean return of the last 100 training episodes at each episode's end, the quantity those rules score."""
    if score_rule.startswith("train"):
        path = run.run_dir / "metrics.csv"
        if not path.is_file():
            return pd.DataFrame(columns=["step", "wall_time", "score"])
        episodes = pd.read_csv(path)
        return episodes.assign(score=episodes["return"].rolling(TRAINING_WINDOW, min_periods=1).mean())[
            ["step", "wall_time", "score"]]
    path = run.run_dir / "eval.csv"
    if not path.is_file():
        return pd.DataFrame(columns=["step", "wall_time", "score"])
    return pd.read_csv(path).rename(columns={"mean": "score"})[["step", "wall_time", "score"]]


def run_score(run: SeedRun, claim_score: str, score_rule: str, horizon: float) -> float | None:
    """The number a claim compares for one completed run; None when the run has no score or no curve. `horizon`
    is the budget in steps (auc) or seconds (auc_wall_clock)."""
    if run.problem is not None:
        return None
    if claim_score == "final":
        return float(run.summary["score"])
    curve = learning_curve(run, score_rule)
    if curve.empty:
        return None
    # Asynchronous workers log episodes slightly out of order: the curve is read in order of its x axis.
    curve = curve.sort_values("step" if claim_score == "auc" else "wall_time", kind="stable")
    if claim_score == "at_equal_wall_clock":
        reached = curve[curve.wall_time <= horizon]
        return float(reached.score.iloc[-1]) if not reached.empty else None
    x = curve.step if claim_score == "auc" else curve.wall_time
    return area_under_curve(x.to_numpy(), curve.score.to_numpy(), horizon)


def horizon(runs: list[SeedRun], claim: Claim, env_id: str, plan: TierPlan, variant: str) -> float:
    """auc: the variant's budget in steps. auc_wall_clock, at_equal_wall_clock: the wall-clock time of the
    shortest completed run of either variant on the task, so that both are scored over the same seconds."""
    if claim.score not in WALL_CLOCK_SCORES:
        return plan.budget(variant, env_id)
    times = [run.summary["wall_time"] for run in runs if run.problem is None and run.env == env_id
             and run.variant in (claim.a, claim.b)]
    return min(times) if times else math.nan


def task_scores(runs: list[SeedRun], variant: str, environments: list[str], claim: Claim, plan: TierPlan,
                normalization: Normalization, normalized: bool) -> dict[str, np.ndarray]:
    """task -> the variant's per-seed scores there (normalised when asked), completed seeds only."""
    scores = {}
    for env_id in environments:
        until = horizon(runs, claim, env_id, plan, variant)
        values = [run_score(run, claim.score, plan.score_rule, until)
                  for run in runs if run.variant == variant and run.env == env_id]
        values = [value for value in values if value is not None and math.isfinite(value)]
        if normalized:
            values = [normalize(env_id, value, normalization) for value in values]
        if values:
            scores[env_id] = np.array(values, dtype=float)
    return scores


def claim_environments(claim: Claim, runs: list[SeedRun]) -> list[str]:
    """The tasks a claim is judged on: those it names (or every task of the tier), where some run exists."""
    ran = list(dict.fromkeys(run.env for run in runs))
    return [env_id for env_id in (claim.environments or ran) if env_id in ran]


def claim_verdict(claim: Claim, verdict: Verdict, **more) -> ClaimVerdict:
    """The verdict with what verdicts.json says of the claim itself beside it."""
    return ClaimVerdict(sentence=claim.sentence, form=claim.form(), why=claim.why, a=claim.a, b=claim.b,
                        score=claim.score, statistic=claim.statistic, margin=claim.margin, **asdict(verdict), **more)


def left_out(claim: Claim, plan: TierPlan) -> str | None:
    """Why the tier does not run a variant the claim compares (`environments: []` in the tier), or None."""
    for name in (claim.a, claim.b):
        own = plan.per_variant.get(name)
        if own is not None and not own.environments:
            return f"{name} does not run in the {plan.tier} tier: {own.why}"
    return None


def judge_claim(claim: Claim, runs: list[SeedRun], plan: TierPlan, normalization: Normalization,
                reps: int) -> ClaimVerdict:
    environments = claim_environments(claim, runs)
    if (reason := left_out(claim, plan)) is not None:
        verdict = Verdict(claim.id, claim.kind, "not judged", None, None, AGGREGATES[claim.aggregate][0], None,
                          None, 0, 0, 0, reason, claim.statistic)
        return claim_verdict(claim, verdict, scale="raw", environments=[], judged_in_tier=False)
    if claim.kind == "matches_published":
        return judge_published(claim, runs, plan, environments, reps)
    # Aggregates across tasks need one scale; on one task the raw score is that scale.
    unscaled = [env_id for env_id in environments if normalize(env_id, 0.0, normalization) is None]
    normalized = len(environments) > 1
    if normalized and unscaled:
        verdict = Verdict(claim.id, claim.kind, "not judged", None, None, AGGREGATES[claim.aggregate][0], None,
                          None, len(environments), 0, 0,
                          f"no normalization for {', '.join(unscaled)}: declare a reference score in the spec",
                          claim.statistic)
    else:
        scores_a, scores_b = (task_scores(runs, name, environments, claim, plan, normalization, normalized)
                              for name in (claim.a, claim.b))
        verdict = judge(claim.id, claim.kind, scores_a, scores_b, claim.aggregate, reps, BOOTSTRAP_SEED,
                        claim.margin if claim.margin is not None else DEFAULT_POI_MARGIN,
                        label_a=claim.a, label_b=claim.b, statistic=claim.statistic)
    scale = "normalised" if normalized else "raw"
    if claim.score not in WALL_CLOCK_SCORES:
        return claim_verdict(claim, verdict, scale=scale, environments=environments)
    wall_clock = equal_wall_clock(runs, claim, environments)
    return claim_verdict(claim, replace(verdict, reason=f"{verdict.reason}; {wall_clock['wall_clock_note']}"),
                         scale=scale, environments=environments, **wall_clock)


def equal_wall_clock(runs: list[SeedRun], claim: Claim, environments: list[str]) -> dict:
    """Whether the two variants' runs took the same wall-clock time, as an equal-wall-clock claim needs: the median
    wall time of each side's completed runs and their ratio, against EQUAL_WALL_CLOCK_TOLERANCE. Runs longer than the
    shortest are cut at its time when scored, so a larger gap only wastes their tail; it is said, not hidden."""
    medians = {}
    for side in (claim.a, claim.b):
        times = [run.summary["wall_time"] for run in runs if run.problem is None and run.variant == side
                 and run.env in environments]
        if times:
            medians[side] = float(np.median(times))
    if len(medians) < 2:
        return {"wall_times": medians, "wall_clock_note": "wall times: a side has no completed run"}
    ratio = max(medians.values()) / min(medians.values())
    within = ratio <= 1 + EQUAL_WALL_CLOCK_TOLERANCE
    times = ", ".join(f"{side} {seconds:,.0f} s" for side, seconds in medians.items())
    return {"wall_times": medians, "wall_times_equal": within,
            "wall_clock_note": f"median wall times {times}: ratio {ratio:.2f}, "
                               + (f"equal within {EQUAL_WALL_CLOCK_TOLERANCE:.0%}" if within else
                                  f"NOT equal within {EQUAL_WALL_CLOCK_TOLERANCE:.0%}: the budgets need re-measuring")}


def judge_published(claim: Claim, runs: list[SeedRun], plan: TierPlan, environments: list[str],
                    reps: int) -> ClaimVerdict:
    """Per task: our mean and CI against the published number; the claim holds where it falls inside our CI."""
    published = {entry.env_id: entry.score for entry in plan.published if entry.variant == claim.a}
    rows = []
    for env_id in environments:
        if env_id not in published:
            continue
        ours = task_scores(runs, claim.a, [env_id], claim, plan, Normalization(), False).get(env_id)
        rows.append({"env_id": env_id} | matches_published(
            ours if ours is not None else np.array([]), published[env_id], reps, BOOTSTRAP_SEED))
    judged = [row for row in rows if row["verdict"] != "not judged"]
    inside = sum(row["verdict"] == "reproduced" for row in judged)
    if not judged:
        verdict, reason = "not judged", ("no task with published numbers has 2 or more completed seeds of "
                                         f"{claim.a} in this tier")
    else:
        verdict = "reproduced" if inside == len(judged) else "contradicted" if inside == 0 else "inconclusive"
        reason = f"the published number is inside our 95% CI on {inside} of {len(judged)} tasks"
    return claim_verdict(claim, Verdict(claim.id, "matches_published", verdict, None, None, "", None, None, len(judged),
                                        min((row["seeds"] for row in judged), default=0), 0, reason,
                                        "published_within_ci"), per_task=rows)


def not_in_this_tier(claim: Claim, tier: str) -> ClaimVerdict:
    """A claim the tier's budget cannot judge (the spec says which tiers can), shown with its reason."""
    verdict = Verdict(claim.id, claim.kind, "not judged", None, None, "", None, None, 0, 0, 0,
                      f"the {tier} tier's budget cannot judge it; the spec judges it in: {', '.join(claim.tiers)}",
                      claim.statistic)
    return claim_verdict(claim, verdict, judged_in_tier=False)


def judge_all(plan: TierPlan, runs: list[SeedRun], reps: int) -> list[ClaimVerdict]:
    """Every claim's verdict in the plan's tier, with the spec's diagnosis for that tier (None when it has none)."""
    return [(judge_claim(claim, runs, plan, plan.normalization, reps) if plan.tier in claim.tiers
             else not_in_this_tier(claim, plan.tier)).model_copy(update={"diagnosis": claim.diagnosis.get(plan.tier)})
            for claim in plan.claims]


def interval(point: float | None, ci: tuple[float, float] | None) -> str:
    if point is None:
        return "n/a"
    return f"{format_number(point, 2)} [{format_number(ci[0], 2)}, {format_number(ci[1], 2)}]" if ci else \
        format_number(point, 2)


CLAIM_COLUMNS = [Column(header="claim"), Column(header="form"), Column(header="verdict"),
                 Column(header="P(A > B) [95% CI]"), Column(header="difference [95% CI]"),
                 Column(header="tasks", numeric=True), Column(header="seeds (A, B)"), Column(header="why")]


def claim_row(verdict: ClaimVerdict) -> list[str | Text]:
    """A claim's row of the claims table, the statistic that decided its verdict marked."""
    poi = interval(verdict.probability_of_improvement, verdict.poi_ci)
    difference = interval(verdict.difference, verdict.difference_ci)
    decides = {statistic: " (decides)" if verdict.decided_by == statistic and shown != "n/a" else ""
               for statistic, shown in (("probability_of_improvement", poi), ("aggregate_difference", difference))}
    return [f"{verdict.claim}: {verdict.sentence}", verdict.form, text(verdict_span(verdict.verdict)),
            poi + decides["probability_of_improvement"], difference + decides["aggregate_difference"],
            str(verdict.tasks), f"{verdict.seeds_a}" + (f", {verdict.seeds_b}" if verdict.seeds_b else ""),
            verdict.reason]


def diagnosis_line(verdict: ClaimVerdict) -> Text:
    """Why a verdict that is not "reproduced" is what it is, as the spec diagnoses it for the tier, or that it does
    not yet."""
    said = text(strong(verdict.claim), f" ({verdict.verdict}): ")
    diagnosis = verdict.diagnosis
    if diagnosis is None:
        return said + text(strong("no diagnosis yet"), ": the spec must say whether the stand-in cannot judge it "
                                                       "(proxy), our code is wrong (defect) or it is open")
    evidence = []
    for number, item in enumerate(diagnosis.evidence):  # a path or a command in code; a sentence as it is
        evidence += [item if " " in item else code(item), "; " if number + 1 < len(diagnosis.evidence) else "."]
    return said + text(strong(diagnosis.kind), f": {diagnosis.text}", *([" Evidence: ", *evidence] if evidence else []))


def claims_section(verdicts: list[ClaimVerdict], reps: int) -> Claims:
    """The claims table that opens a report, a note on how the verdicts were computed, and under it, for each verdict
    that is not "reproduced", its diagnosis or that it has none yet."""
    if not verdicts:
        return Claims(table=None, note=text(emphasis(
            "No claim is judged in this tier: each claim names the tiers whose budgets can judge it (nightly and "
            "paper by default).")))
    note = text("Each claim is decided by the statistic its sentence names, marked ", emphasis("(decides)"),
                "; the other is shown beside it. Both come from one stratified bootstrap "
                f"({reps} resamples, random state {BOOTSTRAP_SEED}). On the probability of improvement (rliable): ",
                strong("reproduced"), " when its 95% CI lies above 0.5, ", strong("contradicted"), " when below (for ",
                emphasis("at least as good"), ": below 0.5 minus the claim's margin). On the difference of the "
                "aggregate (A minus B): ", strong("reproduced"), " when its 95% CI lies above 0 (for ",
                emphasis("at least as good"), ": at or above minus the margin), ", strong("contradicted"),
                " when below 0 (below minus the margin). ", strong("inconclusive"), " otherwise.")
    to_diagnose = [verdict for verdict in verdicts if verdict.needs_diagnosis()]
    diagnoses_note = text("Why each verdict that is not ", emphasis("reproduced"), " is what it is: ", strong("proxy"),
                          " (the claim's conditions are not met here: budget, task or hardware), ", strong("defect"),
                          " (our code; to be fixed) or ", strong("open"), ".") if to_diagnose else []
    return Claims(table=table_of(CLAIM_COLUMNS, [claim_row(verdict) for verdict in verdicts]), note=note,
                  diagnoses_note=diagnoses_note, diagnoses=[diagnosis_line(verdict) for verdict in to_diagnose])
