"""Learning-curve figures from a hand-built experiment (no training): the curve is the quantity the score rule
scores (training episodes from metrics.csv, or evaluations from eval.csv), read in step order, aligned across seeds
on a bounded grid, with published numbers drawn as dashed lines; both PNGs are written."""

import json
from dataclasses import replace

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color

from analysis.figures import (GRID_POINTS, align, curve_figure, plot_learning_curves, plot_wall_clock_curves,
                              published_lines, read_curves)
from analysis.table import load_runs
from helpers import plan_record, variant_record
from runner.sweep import TierPlan

ENV = "CartPole-v1"
VARIANTS = ("a2c", "a3c")
SEEDS = (0, 1)
EPISODES = 150  # more than the 100-episode window, so the window slides
PALETTE = {"a2c": (0.1, 0.4, 0.7), "a3c": (0.9, 0.5, 0.1)}
PUBLISHED_A3C = 120.0
NO_EVAL = ("a2c", 0)  # this run has training episodes but no eval.csv


def episode_steps(seed: int) -> np.ndarray:
    return 10 * np.arange(1, EPISODES + 1) + 3 * seed  # seeds end their episodes at different steps


def write_run(run_dir, variant: str, seed: int) -> None:
    run_dir.mkdir(parents=True)
    steps = episode_steps(seed)
    speed = 100.0 if variant == "a2c" else 400.0  # steps per second: a3c's seconds run four times shorter
    pd.DataFrame({"step": steps, "wall_time": steps / speed, "return": np.arange(EPISODES) + seed,
                  "length": 10}).to_csv(run_dir / "metrics.csv", index=False)
    if (variant, seed) != NO_EVAL:
        eval_steps = np.array([250, 500, 750, 1000, 1250, 1500]) + 7 * seed
        pd.DataFrame({"step": eval_steps, "wall_time": eval_steps / speed, "mean": eval_steps / 10, "std": 1.0,
                      "episodes": 5}).to_csv(run_dir / "eval.csv", index=False)
    (run_dir / "summary.json").write_text(json.dumps({"status": "completed", "score": 1.0, "wall_time": 15.0}))


def experiment_spec(score_rule: str, jobs: list[dict] | None = None) -> TierPlan:
    jobs = jobs or [{"variant": variant, "algo": variant, "env_id": ENV, "seed": seed,
                     "run_dir": f"runs/{variant}/{ENV}/seed_{seed}"} for variant in VARIANTS for seed in SEEDS]
    return TierPlan.model_validate(plan_record(
        name="toy", title="Toy A2C vs A3C", score_rule=score_rule, environments=[ENV], total_steps={ENV: 1500},
        variants=[variant_record(variant) for variant in VARIANTS], jobs=jobs,
        published=[{"variant": "a3c", "env_id": ENV, "score": PUBLISHED_A3C, "source": "Paper, Table 1",
                    "protocol": "p"},
                   {"variant": "a2c", "env_id": "ALE/Pong-v5", "score": 20.0, "source": "Paper, Table 1",
                    "protocol": "p"}]))


@pytest.fixture(scope="module")
def experiment_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("experiment")
    for job in experiment_spec("train_last_100").jobs:
        write_run(root / job.run_dir, job.variant, job.seed)
    return root


def runs_of(experiment_dir, score_rule: str):
    spec = experiment_spec(score_rule)
    return load_runs(experiment_dir, spec), spec


def curve_of(curves: pd.DataFrame, variant: str, seed: int) -> pd.DataFrame:
    return curves[(curves.variant == variant) & (curves.seed == seed)]


# ---- which quantity -------------------------------------------------------------------------------------------------

def test_train_rule_curve_is_the_mean_of_the_last_100_training_episodes(experiment_dir):
    runs, spec = runs_of(experiment_dir, "train_last_100")
    curves = read_curves(runs, spec.score_rule, "step")
    assert len(curves) == len(VARIANTS) * len(SEEDS) * EPISODES  # one point per training episode
    curve = curve_of(curves, *NO_EVAL).set_index("step").score  # a run without eval.csv still has a curve
    # seed 0's episode i ends at step 10 (i + 1) with return i
    assert curve[1200] == pytest.approx(np.mean(np.arange(20, 120)))  # episodes 20..119: 69.5
    assert curve[500] == pytest.approx(np.mean(np.arange(0, 50)))  # fewer than 100 episodes so far: all of them
    seed_1 = curve_of(curves, "a2c", 1).set_index("step").score
    assert seed_1[1503] == pytest.approx(np.mean(np.arange(50, 150) + 1))


def test_eval_rule_curve_is_the_evaluations(experiment_dir):
    runs, spec = runs_of(experiment_dir, "eval_last_10pct")
    curves = read_curves(runs, spec.score_rule, "step")
    assert curve_of(curves, *NO_EVAL).empty
    curve = curve_of(curves, "a3c", 1)
    assert list(curve.step) == [257, 507, 757, 1007, 1257, 1507]
    assert list(curve.score) == pytest.approx([25.7, 50.7, 75.7, 100.7, 125.7, 150.7])


def test_wall_clock_curve_reads_wall_time(experiment_dir):
    runs, spec = runs_of(experiment_dir, "train_last_100")
    curves = read_curves(runs, spec.score_rule, "wall_time")
    assert "step" not in curves
    assert curve_of(curves, "a3c", 0).wall_time.max() == pytest.approx(1500 / 400)
    assert curve_of(curves, "a2c", 0).wall_time.max() == pytest.approx(1500 / 100)


# ---- order and alignment --------------------------------------------------------------------------------------------

def run_with_episodes(tmp_path, steps: list[int], returns: list[float]):
    run_dir = tmp_path / "runs" / "a3c" / ENV / "seed_0"
    run_dir.mkdir(parents=True)
    pd.DataFrame({"step": steps, "wall_time": np.array(steps) / 10, "return": returns, "length": 1}).to_csv(
        run_dir / "metrics.csv", index=False)
    (run_dir / "summary.json").write_text(json.dumps({"status": "completed", "score": 1.0}))
    spec = experiment_spec("train_last_100", jobs=[{"variant": "a3c", "algo": "a3c", "env_id": ENV, "seed": 0,
                                                    "run_dir": f"runs/a3c/{ENV}/seed_0"}])
    return read_curves(load_runs(tmp_path, spec), "train_last_100", "step")


def test_out_of_order_episodes_are_read_in_step_order(tmp_path):
    # asynchronous workers: the episode ending at step 20 is logged after the one ending at step 30; the window
    # averages episodes in the order they finished (as the score rule does), then the curve is sorted by step
    curve = run_with_episodes(tmp_path, [10, 30, 20, 40], [0.0, 4.0, 8.0, 12.0])
    assert list(curve.step) == [10, 20, 30, 40]
    assert list(curve.score) == pytest.approx([0.0, 4.0, 2.0, 6.0])


def test_episodes_ending_at_one_step_keep_the_value_after_the_last(tmp_path):
    curve = run_with_episodes(tmp_path, [10, 20, 20, 30], [2.0, 4.0, 6.0, 8.0])
    assert list(curve.step) == [10, 20, 30]
    assert list(curve.score) == pytest.approx([2.0, 4.0, 5.0])


def seed_curves(*curves: tuple[list[float], list[float]]) -> pd.DataFrame:
    return pd.concat([pd.DataFrame({"variant": "a2c", "env": ENV, "seed": seed, "step": x, "score": y})
                      for seed, (x, y) in enumerate(curves)], ignore_index=True)


def test_seeds_are_interpolated_onto_the_steps_all_of_them_cover():
    aligned = align(seed_curves(([0, 10, 20], [0.0, 10.0, 20.0]), ([5, 15, 25], [1.0, 1.0, 1.0])), "step")
    assert list(curve_of(aligned, "a2c", 0).step) == [5.0, 12.5, 20.0]
    assert list(curve_of(aligned, "a2c", 0).score) == pytest.approx([5.0, 12.5, 20.0])
    assert list(curve_of(aligned, "a2c", 1).score) == pytest.approx([1.0, 1.0, 1.0])


def test_seeds_with_the_same_steps_keep_them():
    aligned = align(seed_curves(([7, 13, 31], [1.0, 2.0, 3.0]), ([7, 13, 31], [4.0, 5.0, 6.0])), "step")
    assert list(curve_of(aligned, "a2c", 1).step) == [7, 13, 31]
    assert list(curve_of(aligned, "a2c", 1).score) == [4.0, 5.0, 6.0]


def test_long_curves_get_a_bounded_grid(experiment_dir):
    long = np.arange(1000.0)
    aligned = align(seed_curves((long, long), (long, 2 * long)), "step")
    assert len(curve_of(aligned, "a2c", 0)) == GRID_POINTS
    grid = curve_of(aligned, "a2c", 1)
    assert (grid.step.min(), grid.step.max()) == (0.0, 999.0)
    assert np.allclose(grid.score, 2 * grid.step)
    runs, spec = runs_of(experiment_dir, "train_last_100")
    steps = align(read_curves(runs, spec.score_rule, "step"), "step")
    assert len(curve_of(steps, "a3c", 0)) == EPISODES  # seeds' steps differ: a grid, no longer than the curves
    assert (curve_of(steps, "a3c", 0).step.min(), curve_of(steps, "a3c", 0).step.max()) == (13.0, 1500.0)


# ---- published numbers and the figures ------------------------------------------------------------------------------

def test_published_lines_are_those_of_the_plotted_envs():
    spec = experiment_spec("train_last_100")
    assert published_lines(spec, [ENV]) == {ENV: [("a3c", PUBLISHED_A3C)]}
    assert published_lines(spec.model_copy(update={"published": []}), [ENV]) == {ENV: []}


@pytest.mark.parametrize("x, x_label", [("step", "environment steps"), ("wall_time", "wall-clock time (s)")])
def test_figure_draws_the_published_number_and_names_the_quantity(experiment_dir, x, x_label):
    runs, spec = runs_of(experiment_dir, "train_last_100")
    figure = curve_figure(runs, spec, PALETTE, x)
    try:
        (axes,) = figure.axes
        assert (axes.get_title(), axes.get_xlabel()) == (ENV, x_label)
        assert axes.get_ylabel() == "mean return of the last 100 training episodes"
        (dashed,) = [line for line in axes.lines if line.get_linestyle() == "--"]
        assert list(dashed.get_ydata()) == [PUBLISHED_A3C, PUBLISHED_A3C]
        assert same_color(dashed.get_color(), PALETTE["a3c"])
        assert axes.get_ylim()[1] >= PUBLISHED_A3C  # the line is inside the panel
        (legend,) = figure.legends
        assert [text.get_text() for text in legend.get_texts()] == ["a2c", "a3c", "published (a3c)"]
    finally:
        plt.close(figure)


def test_eval_rule_figure_names_evaluations(experiment_dir):
    runs, spec = runs_of(experiment_dir, "eval_last_10pct")
    figure = curve_figure(runs, spec, PALETTE, "step")
    try:
        assert figure.axes[0].get_ylabel() == "evaluation return (mean per episode)"
    finally:
        plt.close(figure)


def test_both_pngs_are_written(experiment_dir, tmp_path):
    runs, spec = runs_of(experiment_dir, "train_last_100")
    plot_learning_curves(runs, spec, PALETTE, tmp_path / "figures" / "learning_curves.png")
    plot_wall_clock_curves(runs, spec, PALETTE, tmp_path / "figures" / "wall_clock_curves.png")
    for name in ("learning_curves.png", "wall_clock_curves.png"):
        png = (tmp_path / "figures" / name).read_bytes()
        assert png.startswith(b"\x89PNG") and len(png) > 20_000  # a placeholder is a few kB
    assert sorted(path.name for path in (tmp_path / "figures").iterdir()) == ["learning_curves.png",
                                                                               "wall_clock_curves.png"]


def test_no_curve_yet_writes_a_placeholder(experiment_dir, tmp_path):
    runs, spec = runs_of(experiment_dir, "train_last_100")
    unfinished = [replace(run, problem="unfinished (no summary.json)") for run in runs]
    assert curve_figure(unfinished, spec, PALETTE, "step") is None
    plot_wall_clock_curves(unfinished, spec, PALETTE, tmp_path / "wall_clock_curves.png")
    assert 0 < (tmp_path / "wall_clock_curves.png").stat().st_size < 20_000
