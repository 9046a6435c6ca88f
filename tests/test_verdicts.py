"""Verdicts on claims from synthetic normalized scores (no training): the decision rules, the cases that cannot be
judged, reproducible bootstraps, hand-computed statistics, and the aggregate figures."""

from dataclasses import asdict

import numpy as np
import pytest
from rliable import metrics

from analysis.aggregate_figures import (iqm_per_point, plot_aggregates, plot_performance_profiles,
                                        plot_probability_of_improvement, plot_sample_efficiency)
from analysis.table import BOOTSTRAP_SEED, bootstrap_ci
from analysis.verdicts import aggregate_estimates, area_under_curve, decide, judge, matches_published
from analysis.verdicts_file import ClaimVerdict, VerdictsFile

REPS = 300
TASKS = ("pong", "breakout")


def normal_scores(seed: int, mean: float, seeds: int = 10, std: float = 0.1) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {task: rng.normal(mean, std, seeds) for task in TASKS}


def judged(kind: str, scores_a: dict, scores_b: dict, aggregate: str = "iqm", random_state: int = 0):
    return judge("claim", kind, scores_a, scores_b, aggregate, REPS, random_state)


# ---- decision rules -------------------------------------------------------------------------------------------------

def test_clearly_better_is_reproduced():
    verdict = judged("better", normal_scores(1, mean=1.0), normal_scores(2, mean=0.0))
    assert verdict.verdict == "reproduced"
    assert verdict.probability_of_improvement == 1.0 and verdict.poi_ci[0] > 0.5
    assert verdict.difference_ci[0] < verdict.difference < verdict.difference_ci[1]
    assert verdict.difference == pytest.approx(1.0, abs=0.1)
    assert (verdict.aggregate, verdict.tasks, verdict.seeds_a, verdict.seeds_b) == ("IQM", 2, 10, 10)
    assert judged("at_least_as_good", normal_scores(1, mean=1.0), normal_scores(2, mean=0.0)).verdict == "reproduced"


@pytest.mark.parametrize("kind", ["better", "at_least_as_good"])
def test_clearly_worse_is_contradicted(kind):
    verdict = judged(kind, normal_scores(1, mean=0.0), normal_scores(2, mean=1.0))
    assert verdict.verdict == "contradicted"
    assert verdict.poi_ci[1] < 0.4
    assert verdict.difference < 0
    assert "B is" in verdict.reason and "better than A" in verdict.reason


def test_same_distribution_is_inconclusive():
    verdict = judged("better", normal_scores(1, mean=0.5, std=1.0), normal_scores(2, mean=0.5, std=1.0))
    assert verdict.verdict == "inconclusive"
    assert verdict.poi_ci[0] <= 0.5 <= verdict.poi_ci[1]
    assert "indistinguishable" in verdict.reason


def test_identical_scores_are_not_better_but_at_least_as_good():
    solved_a = {task: np.full(5, 500.0) for task in TASKS}
    solved_b = {task: np.full(3, 500.0) for task in TASKS}
    better = judged("better", solved_a, solved_b)
    assert better.verdict == "inconclusive"
    assert (better.probability_of_improvement, better.poi_ci) == (0.5, (0.5, 0.5))
    assert (better.difference, better.difference_ci) == (0.0, (0.0, 0.0))
    assert "indistinguishable" in better.reason
    assert judged("at_least_as_good", solved_a, solved_b).verdict == "reproduced"


@pytest.mark.parametrize("kind, low, high, expected", [
    ("better", 0.51, 0.9, "reproduced"),
    ("better", 0.5, 0.9, "inconclusive"),  # the lower bound must exceed 0.5
    ("better", 0.1, 0.5, "inconclusive"),
    ("better", 0.1, 0.49, "contradicted"),
    ("at_least_as_good", 0.4, 0.6, "reproduced"),  # 0.5 - margin 0.1 = 0.4 counts as no worse
    ("at_least_as_good", 0.39, 0.6, "inconclusive"),
    ("at_least_as_good", 0.1, 0.4, "inconclusive"),
    ("at_least_as_good", 0.1, 0.39, "contradicted"),
])
def test_decision_boundaries(kind, low, high, expected):
    verdict, reason = decide(kind, (low + high) / 2, low, high, margin=0.1, label_a="c51", label_b="dqn")
    assert verdict == expected
    assert "P(c51 > dqn)" in reason


def test_probability_of_improvement_and_difference_by_hand():
    # pong: 3 beats 1 and 2, 1 ties 1 and loses to 2 -> (1 + 1 + 0.5 + 0) / 4 = 0.625; breakout: A always loses -> 0
    scores_a = {"pong": np.array([3.0, 1.0]), "breakout": np.array([0.0, 0.0])}
    scores_b = {"pong": np.array([1.0, 2.0]), "breakout": np.array([1.0, 1.0])}
    verdict = judged("better", scores_a, scores_b, aggregate="mean")
    assert verdict.probability_of_improvement == pytest.approx((0.625 + 0.0) / 2)
    assert verdict.difference == pytest.approx((3 + 1 + 0 + 0) / 4 - (1 + 2 + 1 + 1) / 4)
    assert verdict.aggregate == "Mean"


# ---- what cannot be judged ------------------------------------------------------------------------------------------

def test_no_task_on_both_sides_is_not_judged():
    verdict = judged("better", {"pong": np.ones(5)}, {"breakout": np.ones(5)})
    assert verdict.verdict == "not judged"
    assert verdict.probability_of_improvement is None and verdict.difference_ci is None
    assert verdict.tasks == 0
    assert "A: pong" in verdict.reason and "B: breakout" in verdict.reason
    nothing = judged("better", {}, {"pong": np.array([np.nan, np.nan])})
    assert nothing.verdict == "not judged" and "A: none; B: none" in nothing.reason


def test_one_seed_is_not_judged():
    scores_b = normal_scores(2, mean=0.0) | {"breakout": np.array([0.1])}
    verdict = judged("better", normal_scores(1, mean=1.0), scores_b)
    assert verdict.verdict == "not judged"
    assert verdict.probability_of_improvement is None
    assert (verdict.tasks, verdict.seeds_a, verdict.seeds_b) == (2, 10, 1)
    assert "B has 1 on breakout" in verdict.reason


def test_uneven_seeds_use_the_first_seeds_of_each_task():
    scores_a = normal_scores(1, mean=1.0, seeds=5)
    uneven_a = scores_a | {"pong": np.append(scores_a["pong"][:3], [np.nan, np.nan])}
    verdict = judged("better", uneven_a, normal_scores(2, mean=0.0))
    cut = judged("better", {task: scores[:3] for task, scores in scores_a.items()}, normal_scores(2, mean=0.0))
    assert verdict.seeds_a == 3
    assert (verdict.probability_of_improvement, verdict.poi_ci, verdict.difference_ci) == (
        cut.probability_of_improvement, cut.poi_ci, cut.difference_ci)
    assert "first 3" in verdict.reason and "2 non-finite score(s) of A left out" in verdict.reason


def test_task_on_one_side_only_is_left_out_and_named():
    scores_a = normal_scores(1, mean=1.0) | {"seaquest": np.ones(10)}
    verdict = judged("better", scores_a, normal_scores(2, mean=0.0))
    assert verdict.verdict == "reproduced" and verdict.tasks == 2
    assert "left out: seaquest" in verdict.reason


@pytest.mark.parametrize("kind, aggregate, margin", [("worse", "iqm", 0.1), ("better", "max", 0.1),
                                                     ("at_least_as_good", "iqm", 0.5)])
def test_bad_arguments_raise(kind, aggregate, margin):
    with pytest.raises(ValueError, match="claim c1"):
        judge("c1", kind, normal_scores(1, 1.0), normal_scores(2, 0.0), aggregate, REPS, 0, margin)


# ---- reproducibility ------------------------------------------------------------------------------------------------

def test_same_inputs_give_identical_numbers_and_leave_the_global_rng_alone():
    scores_a, scores_b = normal_scores(1, mean=0.5, std=1.0), normal_scores(2, mean=0.3, std=1.0)
    np.random.seed(123)
    expected_next = np.random.random()
    np.random.seed(123)
    first = judged("better", scores_a, scores_b, random_state=7)
    second = judged("better", scores_a, scores_b, random_state=7)
    assert np.random.random() == expected_next
    assert first == second
    other_state = judged("better", scores_a, scores_b, random_state=8)
    assert other_state.poi_ci != first.poi_ci  # the seed is what makes the CI repeat
    written = VerdictsFile(experiment="e", verdicts=[ClaimVerdict(sentence="s", form="f", **asdict(first))])
    assert VerdictsFile.model_validate_json(written.model_dump_json()) == written  # verdicts.json gives it back


# ---- learning speed -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("steps, scores, total_steps, expected", [
    ([10, 20], [0, 10], 40, (0 * 10 + 50 + 10 * 20) / 40),  # hold 0, ramp, hold 10
    ([5], [3], 10, 3.0),
    ([0, 10, 20], [0, 10, 30], 10, 50 / 10),  # an evaluation past total_steps shapes nothing after it
    ([0, 100], [0, 500], 100, 250.0),
    ([0, 10, 10, 20], [0, 0, 10, 10], 20, 100 / 20),  # two episodes ending at step 10: a jump, no area
    ([0, 0, 10], [7, 0, 10], 10, 50 / 10),  # the curve starts from the last score at step 0
    ([10, 20, 20], [0, 10, 30], 20, 50 / 20),  # and ends at the first score at total_steps
    ([-10, 30], [0, 40], 20, (10 + 30) / 2),  # a ramp through the whole budget
])
def test_area_under_curve_by_hand(steps, scores, total_steps, expected):
    assert area_under_curve(steps, scores, total_steps) == pytest.approx(expected)


def test_faster_learner_has_larger_area_with_the_same_final_score():
    fast = area_under_curve([0, 100, 200, 1000], [0, 500, 500, 500], 1000)
    slow = area_under_curve([0, 100, 900, 1000], [0, 0, 500, 500], 1000)
    assert fast > slow


@pytest.mark.parametrize("steps, scores, total_steps, message", [
    ([], [], 10, "empty"),
    ([20, 10], [1, 2], 30, "20 before 10"),
    ([10], [1], 0, "total_steps > 0"),
    ([10, 20], [1], 30, "same length"),
    ([10, 20], [1, np.nan], 30, "finite"),
])
def test_area_under_curve_rejects_bad_input(steps, scores, total_steps, message):
    with pytest.raises(ValueError, match=message):
        area_under_curve(steps, scores, total_steps)


# ---- published numbers ----------------------------------------------------------------------------------------------

def test_matches_published_inside_below_above():
    ours = np.array([1.0, 2.0, 3.0, 4.0])
    inside = matches_published(ours, 2.5, REPS, 0)
    assert inside["verdict"] == "reproduced" and inside["mean"] == 2.5 and inside["distance_in_ci_units"] == 0
    assert inside["ci"][0] < 2.5 < inside["ci"][1]
    below = matches_published(ours, 100.0, REPS, 0)
    assert below["verdict"] == "below" and below["ratio"] == pytest.approx(0.025)
    assert below["distance_in_ci_units"] > 1
    above = matches_published(ours, -100.0, REPS, 0)
    assert above["verdict"] == "above" and above["distance_in_ci_units"] < -1
    assert matches_published(ours, 0.0, REPS, 0)["ratio"] is None


def test_matches_published_edge_cases():
    single = matches_published(np.array([3.0, np.nan]), 3.0, REPS, 0)
    assert (single["verdict"], single["mean"], single["ci"], single["seeds"]) == ("not judged", 3.0, None, 1)
    constant = matches_published(np.array([3.0, 3.0]), 3.0, REPS, 0)
    assert constant["verdict"] == "reproduced" and constant["distance_in_ci_units"] is None
    with pytest.raises(ValueError, match="published"):
        matches_published(np.array([1.0, 2.0]), float("nan"), REPS, 0)


def test_matches_published_ci_is_the_score_tables():
    ours = np.array([10.0, 14.0, 11.0, 19.0, 12.0])
    assert matches_published(ours, 12.0, REPS, BOOTSTRAP_SEED)["ci"] == bootstrap_ci(ours, REPS)


# ---- aggregates -----------------------------------------------------------------------------------------------------

def test_aggregate_estimates_by_hand():
    runs = np.array([[0.0, 2.0, 4.0, 6.0], [1.0, 3.0, 9.0, 100.0]])  # 2 runs x 4 tasks
    estimates = aggregate_estimates({"dqn": runs}, REPS, 0)["dqn"]
    assert estimates["IQM"][0] == pytest.approx((2 + 3 + 4 + 6) / 4)  # middle 4 of the 8 sorted scores
    assert estimates["Median"][0] == pytest.approx((2.5 + 6.5) / 2)  # task means 0.5, 2.5, 6.5, 53
    assert estimates["Mean"][0] == pytest.approx(125 / 8)
    assert estimates["Optimality gap"][0] == pytest.approx(1 - 7 / 8)  # only the 0 falls short of 1
    for point, low, high in estimates.values():
        assert low <= point <= high


def test_aggregate_estimates_of_constant_scores_and_independence_of_variants():
    constant = aggregate_estimates({"solved": np.full((3, 2), 0.75)}, REPS, 0)["solved"]
    assert constant == {"IQM": (0.75, 0.75, 0.75), "Median": (0.75, 0.75, 0.75), "Mean": (0.75, 0.75, 0.75),
                        "Optimality gap": (0.25, 0.25, 0.25)}
    noisy = np.random.default_rng(3).normal(0.5, 0.3, (6, 3))
    alone = aggregate_estimates({"c51": noisy}, REPS, 0)["c51"]
    with_other = aggregate_estimates({"dqn": noisy + 1, "c51": noisy}, REPS, 0)["c51"]
    assert alone == with_other
    with pytest.raises(ValueError, match="scores of c51"):
        aggregate_estimates({"c51": np.ones(4)}, REPS, 0)


# ---- figures --------------------------------------------------------------------------------------------------------

def test_iqm_per_point_is_rliables_iqm_at_each_point():
    curves = np.random.default_rng(4).normal(size=(5, 3, 7))
    expected = [metrics.aggregate_iqm(curves[..., point]) for point in range(7)]
    assert iqm_per_point(curves) == pytest.approx(expected)


def assert_png(path):
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and path.stat().st_size > 5000
    assert [file.name for file in path.parent.iterdir()] == [path.name]  # no temporary file left behind


def test_each_figure_writes_a_png(tmp_path):
    rng = np.random.default_rng(5)
    scores = {"dqn": rng.normal(0.5, 0.2, (4, 3)), "c51": rng.normal(0.8, 0.2, (4, 3))}
    palette = {"dqn": "tab:blue", "c51": "tab:orange"}
    figures = {
        "aggregates": lambda path: plot_aggregates(aggregate_estimates(scores, 50, 0), path, palette),
        "profiles": lambda path: plot_performance_profiles(scores, path, 50, 0, palette),
        "improvement": lambda path: plot_probability_of_improvement(
            {("c51", "dqn"): (0.8, 0.6, 0.95), ("dqn", "c51"): (0.2, 0.05, 0.4)}, path, palette),
        "efficiency": lambda path: plot_sample_efficiency(
            {variant: (np.linspace(0, 1e5, 6), rng.normal(0.5, 0.2, (4, 3, 6))) for variant in scores}, path, 50, 0),
    }
    for name, plot in figures.items():
        path = tmp_path / name / f"{name}.png"
        assert plot(path) == path
        assert_png(path)


def test_sample_efficiency_rejects_mismatched_shapes(tmp_path):
    with pytest.raises(ValueError, match="dqn"):
        plot_sample_efficiency({"dqn": (np.arange(5), np.zeros((3, 2, 4)))}, tmp_path / "x.png", 50, 0)


def test_each_claim_follows_the_statistic_it_names_where_they_disagree():
    """A wins 3 runs in 10 against B but by far, so its mean is higher: P(A > B) says B is better, the mean says A."""
    scores_a = {"task": np.array([0.9] * 21 + [10.0] * 9)}
    scores_b = {"task": np.array([1.0] * 30)}
    by_poi = judge("c", "better", scores_a, scores_b, "mean", REPS, 0, statistic="probability_of_improvement")
    by_mean = judge("c", "better", scores_a, scores_b, "mean", REPS, 0, statistic="aggregate_difference")
    assert by_poi.probability_of_improvement == by_mean.probability_of_improvement == pytest.approx(0.3)
    assert by_poi.difference == by_mean.difference == pytest.approx(0.63 + 3 - 1)
    assert (by_poi.verdict, by_poi.decided_by) == ("contradicted", "probability_of_improvement")
    assert (by_mean.verdict, by_mean.decided_by) == ("reproduced", "aggregate_difference")
    assert "Mean(A) - Mean(B) = +2.63" in by_mean.reason and "lies above 0" in by_mean.reason
    # non-inferiority on the mean, with a margin in the mean's units
    behind = {"task": np.array([0.8] * 30)}
    assert judge("c", "at_least_as_good", behind, scores_b, "mean", REPS, 0, 0.5,
                 statistic="aggregate_difference").verdict == "reproduced"
    assert judge("c", "at_least_as_good", behind, scores_b, "mean", REPS, 0, 0.1,
                 statistic="aggregate_difference").verdict == "contradicted"


def test_equivalence_needs_the_whole_ci_inside_the_margin_either_way():
    same = {"task": np.linspace(0.0, 1.0, 30)}
    shifted = {"task": np.linspace(0.0, 1.0, 30) + 0.02}
    far = {"task": np.linspace(0.0, 1.0, 30) + 5.0}
    assert judge("c", "equivalent", shifted, same, "mean", REPS, 0, 0.3).verdict == "reproduced"
    assert judge("c", "equivalent", far, same, "mean", REPS, 0, 0.3).verdict == "contradicted"
    assert judge("c", "equivalent", shifted, same, "mean", REPS, 0, 0.01).verdict == "inconclusive"  # too narrow
    on_mean = judge("c", "equivalent", shifted, same, "mean", REPS, 0, 0.25, statistic="aggregate_difference")
    assert on_mean.verdict == "reproduced" and "within +-margin 0.25" in on_mean.reason
    assert judge("c", "equivalent", far, same, "mean", REPS, 0, 0.1,
                 statistic="aggregate_difference").verdict == "contradicted"
