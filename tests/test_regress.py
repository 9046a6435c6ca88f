"""The regression alarm on synthetic histories: the permutation test and Benjamini-Hochberg against hand-computed
values; no alarm without a difference, an alarm on a clear drop and only there, none on a drop below the detection
threshold; speed and failing runs; the baseline, --accept and the exit codes."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from analysis.__main__ import main as analysis_main
from analysis.history import COLUMNS, load_history
from analysis.regress import (DEFAULT_SPEED_TOLERANCE, benjamini_hochberg, main, measured_speed_noise,
                              permutation_p_value, speed_tolerance)

BASE = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
NEW = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
MACHINE = "Test CPU, 2 cores"


def runs(commit, day, spec, variant, scores, speeds=None, statuses=None, algo=None, config_hash="c0ffee000000",
         wall_speeds=None, machine_speed=1000.0):
    """History rows of one (spec, variant, CartPole-v1) at one commit, one per seed. `speeds` are steps per
    CPU-second, `wall_speeds` wall-clock steps/s (the same unless given); speeds=False: rows from before CPU time was
    recorded, whose cells are empty; machine_speed None: rows from before the machine's speed was measured."""
    cpu_speeds = [""] * len(scores) if speeds is False else [repr(float(s)) for s in speeds or [1000.0] * len(scores)]
    wall_speeds = wall_speeds or (speeds if speeds else None) or [1000.0] * len(scores)
    statuses = statuses or ["completed"] * len(scores)
    return [{"commit": commit, "date": f"2026-11-{day:02d}T02:{seed:02d}:00Z", "machine": MACHINE, "tier": "nightly",
             "spec": spec, "variant": variant, "algo": algo or variant, "env_id": "CartPole-v1", "seed": str(seed),
             "config_hash": config_hash, "score": "" if score is None else repr(float(score)),
             "steps_per_second": repr(float(wall)), "peak_rss_mb": "400.0", "wall_time": "10.0", "status": status,
             "cpu_time": "" if cpu == "" else "10.0", "steps_per_cpu_second": cpu, "load_average": "2.0",
             "machine_speed": "" if cpu == "" or machine_speed is None else repr(float(machine_speed))}
            for seed, (score, cpu, wall, status) in enumerate(zip(scores, cpu_speeds, wall_speeds, statuses))]


def write_history(directory, rows):
    directory.mkdir(parents=True, exist_ok=True)
    lines = [",".join(COLUMNS)] + [",".join(f'"{row[column]}"' for column in COLUMNS) for row in rows]
    (directory / "nightly.csv").write_text("\n".join(lines) + "\n")
    return directory


def regress(history_dir, *arguments):
    return main(["--history", str(history_dir), "--baseline", BASE, *arguments])


# --- the test statistic ---------------------------------------------------------------------------------------------

def test_exact_p_value_of_the_most_extreme_split_is_one_in_c_6_3():
    # [0, 1, 2] is the lowest of the C(6, 3) = 20 ways to pick the new side from the pooled scores
    assert permutation_p_value([3, 4, 5], [0, 1, 2]) == pytest.approx(1 / 20)


def test_exact_p_value_with_tied_scores_counts_every_relabeling_by_hand():
    # pooled 2,3,4,1,2,3; new sum 6; new sides with sum <= 6: {1,2,2} once, {1,2,3} 2 x 2 ways = 5 of 20
    assert permutation_p_value([2, 3, 4], [1, 2, 3]) == pytest.approx(5 / 20)


def test_identical_or_higher_new_scores_give_p_one():
    assert permutation_p_value([500, 234.9, 500, 500, 500], [500, 500, 500, 234.9, 500]) == 1.0
    assert permutation_p_value([0.1, 0.2, 0.3], [0.3, 0.1, 0.2]) == 1.0  # sums that float order would change
    assert permutation_p_value([100, 200, 300], [150, 250, 350]) == 1.0


def test_same_distribution_scores_give_a_large_p():
    assert permutation_p_value([480, 500, 450, 495, 470], [490, 460, 500, 475, 485]) > 0.3


def test_a_clear_drop_with_5_seeds_gives_the_smallest_p_of_one_in_252():
    assert permutation_p_value([500, 498, 500, 490, 500], [210, 180, 250, 199, 230]) == pytest.approx(1 / 252)


def test_scipys_exact_test_counts_the_same_relabelings_as_an_enumeration_by_hand():
    """The p-value is scipy's permutation test since issue 29; an enumeration of every relabeling, written here, is
    the oracle: scores with caps, ties, fractions and the splits of failed seeds, 3-5 seeds a side."""
    def enumerated(baseline, new):
        pooled = list(baseline) + list(new)
        observed = math.fsum(new)
        if observed / len(new) >= math.fsum(baseline) / len(baseline):
            return 1.0
        sides = list(itertools.combinations(range(len(pooled)), len(new)))
        return sum(math.fsum(pooled[i] for i in side) <= observed + 1e-9 for side in sides) / len(sides)

    rng = np.random.default_rng(0)
    for _ in range(200):
        n, m = rng.integers(3, 6, size=2)
        pool = rng.choice([500.0, 500.0, 499.4, 266.7, 234.9, 48.0, 7.5, 6.8, 0.1, 0.2, 0.3], size=n + m)
        baseline, new = pool[:n].tolist(), (pool[n:] - rng.choice([0.0, 0.0, 10.0], size=m)).tolist()
        assert permutation_p_value(baseline, new) == pytest.approx(enumerated(baseline, new), abs=1e-12), (baseline, new)


def test_monte_carlo_above_the_exact_limit_is_seeded_and_never_zero():
    baseline, new = [500.0 + i for i in range(12)], [200.0 + i for i in range(12)]  # C(24, 12) = 2.7 million
    p = permutation_p_value(baseline, new)
    assert p == permutation_p_value(baseline, new)
    assert 0 < p < 1e-3


def test_benjamini_hochberg_against_hand_computed_q_values():
    # sorted 0.01, 0.03, 0.04, 0.5 -> p * 4 / rank = 0.04, 0.06, 0.0533, 0.5 -> running minimum from the top
    assert benjamini_hochberg([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert benjamini_hochberg([0.9, 0.8]) == pytest.approx([0.9, 0.9])
    assert benjamini_hochberg([0.6, 0.7, 0.75]) == pytest.approx([0.75, 0.75, 0.75])
    assert benjamini_hochberg([]) == []


# --- the alarm on synthetic histories -------------------------------------------------------------------------------

STABLE = {"ppo": [500, 500, 480, 500, 470], "dqn": [450, 300, 500, 480, 420], "c51": [499, 500, 497, 500, 500]}


def nightly_pair(new_scores=None, new_speeds=None, new_statuses=None):
    """Three variants at the baseline on the 1st, then at a new commit on the 2nd (unchanged unless given)."""
    rows = []
    for variant, scores in STABLE.items():
        rows += runs(BASE, 1, "suite", variant, scores)
        rows += runs(NEW, 2, "suite", variant, (new_scores or {}).get(variant, scores),
                     (new_speeds or {}).get(variant), (new_statuses or {}).get(variant))
    return rows


def test_unchanged_scores_and_speeds_do_not_alarm_and_say_what_was_compared(tmp_path, capsys):
    assert regress(write_history(tmp_path, nightly_pair())) == 0
    out = capsys.readouterr().out
    assert "3 comparison(s)" in out and "aaaaaaaaaa" in out and "bbbbbbbbbb" in out
    assert "No regression in 3 comparison(s)." in out


def test_same_distribution_scores_do_not_alarm(tmp_path, capsys):
    new = {"ppo": [500, 470, 500, 490, 500], "dqn": [400, 480, 350, 500, 460], "c51": [500, 498, 500, 499, 496]}
    assert regress(write_history(tmp_path, nightly_pair(new_scores=new))) == 0
    assert "over 3 test(s)" in capsys.readouterr().out


def test_a_clear_drop_alarms_on_that_variant_only_with_its_size_and_confidence(tmp_path, capsys):
    assert regress(write_history(tmp_path, nightly_pair(new_scores={"dqn": [210, 180, 250, 199, 230]}))) == 1
    out = capsys.readouterr().out
    regressions = out.split("regression(s):")[1].strip().splitlines()
    assert len(regressions) == 1
    line = regressions[0]
    assert line.startswith("- SCORE suite / dqn / CartPole-v1: mean score 430.00 -> 213.80")
    assert "a drop of 216.20 (50.3% of the baseline)" in line
    # the unchanged variants are not tests, so the family is dqn alone: q = p = 1/252
    assert "p = 0.0040" in line and "q = 0.0040" in line


def test_bh_needs_p_below_alpha_over_m_when_every_variant_changed(tmp_path, capsys):
    # all three changed a little, one dropped: q = 3 x 1/252 = 0.012, still an alarm
    new = {"ppo": [500, 470, 500, 490, 500], "dqn": [210, 180, 250, 199, 230], "c51": [500, 498, 500, 499, 496]}
    assert regress(write_history(tmp_path, nightly_pair(new_scores=new))) == 1
    assert "q = 0.0119" in capsys.readouterr().out


def test_a_two_percent_drop_is_below_the_minimum_effect_however_significant(tmp_path, capsys):
    rows = runs(BASE, 1, "suite", "ppo", [500.0 - i for i in range(10)])
    rows += runs(NEW, 2, "suite", "ppo", [490.0 - i for i in range(10)])  # every seed 2% lower: p tiny
    assert regress(write_history(tmp_path, rows)) == 0
    out = capsys.readouterr().out
    assert "(  -2.0%)" in out and "No regression" in out
    assert regress(tmp_path, "--min-drop", "0.01") == 1  # the same drop, with a 1% minimum effect


def test_a_drop_three_seeds_cannot_resolve_does_not_alarm(tmp_path):
    rows = runs(BASE, 1, "suite", "ppo", [500, 420, 480]) + runs(NEW, 2, "suite", "ppo", [450, 380, 470])
    assert permutation_p_value([500, 420, 480], [450, 380, 470]) > 0.05
    assert regress(write_history(tmp_path, rows)) == 0


def test_a_2x_slowdown_is_a_speed_regression_and_20_percent_is_not(tmp_path, capsys):
    speeds = {"ppo": [500.0] * 5, "dqn": [800.0] * 5}
    assert regress(write_history(tmp_path, nightly_pair(new_speeds=speeds))) == 1
    out = capsys.readouterr().out
    assert f"Speed, in steps per CPU-second over the machine's own speed as each run measured it " \
           f"(common.machine_speed): a regression below 0.67x the baseline's median " \
           f"(tolerance {DEFAULT_SPEED_TOLERANCE['relative']:.0%}" in out
    regressions = out.split("regression(s):")[1].strip().splitlines()
    assert regressions == ["- SPEED suite / ppo / CartPole-v1: median 1 -> 0.5 steps per CPU-second per unit of "
                           "machine speed, ratio 0.50 (2.00x slower), beyond the tolerance (ratio below 0.67)"]


def test_a_host_that_runs_everything_at_half_speed_is_not_a_regression_but_slower_code_is(tmp_path, capsys):
    """The host slowed the VM (2026-12-07): CPU speed and the machine's own speed fell together."""
    rows = runs(BASE, 1, "suite", "ppo", [500] * 3, [1000.0] * 3, machine_speed=1100.0)
    rows += runs(NEW, 2, "suite", "ppo", [500] * 3, [500.0] * 3, machine_speed=550.0)
    assert regress(write_history(tmp_path, rows)) == 0
    assert "steps/s x1.00" in capsys.readouterr().out
    rows = runs(BASE, 1, "suite", "ppo", [500] * 3, [1000.0] * 3, machine_speed=1100.0)
    rows += runs(NEW, 2, "suite", "ppo", [500] * 3, [500.0] * 3, machine_speed=1100.0)
    assert regress(write_history(tmp_path, rows)) == 1
    assert "SPEED suite / ppo / CartPole-v1" in capsys.readouterr().out


def test_a_side_without_the_machines_speed_falls_back_to_cpu_time_and_says_so(tmp_path, capsys):
    rows = runs(BASE, 1, "suite", "ppo", [500] * 3, [1000.0] * 3, machine_speed=None)
    rows += runs(NEW, 2, "suite", "ppo", [500] * 3, [990.0] * 3, machine_speed=550.0)
    assert regress(write_history(tmp_path, rows)) == 0
    out = capsys.readouterr().out
    assert "steps/s x0.99 (CPU, host not measured)" in out
    assert "Speed, in steps per CPU-second of the run's own processes (the baseline or the new runs did not " in out


def test_load_that_slows_the_wall_clock_but_not_the_cpu_time_is_not_flagged(tmp_path, capsys):
    rows = runs(BASE, 1, "suite", "ppo", [500] * 3)
    rows += runs(NEW, 2, "suite", "ppo", [500] * 3, [980.0] * 3, wall_speeds=[400.0] * 3)  # 2.5x slower wall clock
    assert regress(write_history(tmp_path, rows)) == 0
    assert "steps/s x0.98" in capsys.readouterr().out


def test_a_side_without_cpu_time_falls_back_to_the_wall_clock_and_says_so(tmp_path, capsys):
    rows = runs(BASE, 1, "suite", "ppo", [500] * 3, speeds=False)  # an old row: no CPU time recorded
    rows += runs(NEW, 2, "suite", "ppo", [500] * 3, [1000.0] * 3, wall_speeds=[500.0] * 3)
    assert regress(write_history(tmp_path, rows)) == 1
    out = capsys.readouterr().out
    assert "Speed, in wall-clock steps/s (the baseline or the new runs have no CPU time)" in out
    assert "x0.50 (wall clock)" in out and "500 wall-clock steps/s" in out


def test_speeds_from_another_machine_are_not_compared(tmp_path, capsys):
    rows = runs(BASE, 1, "suite", "ppo", [500] * 3)
    rows += [row | {"machine": "Other CPU, 64 cores"} for row in runs(NEW, 2, "suite", "ppo", [500] * 3, [100.0] * 3)]
    assert regress(write_history(tmp_path, rows)) == 0
    assert "steps/s n/a" in capsys.readouterr().out


def test_the_speed_tolerance_is_measured_from_repeated_runs_within_bounds(tmp_path_factory):
    def write_history_rows(rows):
        return write_history(tmp_path_factory.mktemp("history"), rows)

    def repeat_history(ratio):
        rows = runs(BASE, 1, "spec_a", "a2c", [500] * 3, [1000.0] * 3)
        rows += runs(BASE, 1, "spec_b", "a2c", [500] * 3, [1000.0 * ratio] * 3)  # the same job in another spec
        return load_history(write_history_rows(rows), "nightly")
    assert measured_speed_noise(repeat_history(1.29), "wall") == (pytest.approx(0.29), 1)
    assert speed_tolerance(repeat_history(1.29), "wall")[0] == pytest.approx(0.29)
    assert speed_tolerance(repeat_history(1.02), "wall")[0] == pytest.approx(0.10)  # floor
    assert speed_tolerance(repeat_history(3.0), "wall")[0] == pytest.approx(0.80)  # cap: 2x must stay visible
    assert speed_tolerance(repeat_history(1.29), "cpu")[0] == pytest.approx(0.50)  # floor: load's share of CPU time
    assert speed_tolerance(repeat_history(1.7), "cpu")[0] == pytest.approx(0.70)
    no_repeat = load_history(write_history_rows(runs(BASE, 1, "spec_a", "a2c", [500] * 3)), "nightly")
    assert measured_speed_noise(no_repeat, "cpu") is None
    assert speed_tolerance(no_repeat, "cpu")[0] == DEFAULT_SPEED_TOLERANCE["cpu"]
    assert speed_tolerance(no_repeat, "wall")[0] == DEFAULT_SPEED_TOLERANCE["wall"]


def test_more_seeds_diverging_is_flagged(tmp_path, capsys):
    statuses = {"c51": ["completed", "diverged", "diverged", "failed", "completed"]}
    scores = {"c51": [499, None, None, None, 500]}
    assert regress(write_history(tmp_path, nightly_pair(new_scores=scores, new_statuses=statuses))) == 1
    assert "- FAILING RUNS suite / c51 / CartPole-v1: 3 of 5 seeds diverged or failed (baseline: 0 of 5)" in \
           capsys.readouterr().out


# --- baseline, --accept and exit codes ------------------------------------------------------------------------------

def test_no_history_exits_2(tmp_path, capsys):
    assert main(["--history", str(tmp_path)]) == 2
    assert "nightly.csv does not exist" in capsys.readouterr().err


def test_no_accepted_baseline_exits_2_with_a_hint(tmp_path, capsys):
    assert main(["--history", str(write_history(tmp_path, nightly_pair()))]) == 2
    assert "regress --accept" in capsys.readouterr().err


def test_an_unknown_baseline_commit_exits_2_naming_the_known_ones(tmp_path, capsys):
    assert main(["--history", str(write_history(tmp_path, nightly_pair())), "--baseline", "cafe"]) == 2
    err = capsys.readouterr().err
    assert "--baseline 'cafe'" in err and "aaaaaaaaaa, bbbbbbbbbb" in err


def test_a_baseline_prefix_resolves_and_an_ambiguous_one_exits_2(tmp_path, capsys):
    rows = nightly_pair() + runs("bbbbcccc" * 5, 3, "suite", "ppo", STABLE["ppo"])
    history = write_history(tmp_path, rows)
    assert main(["--history", str(history), "--baseline", "aaaa"]) == 0
    assert main(["--history", str(history), "--baseline", "bbbb"]) == 2
    assert "ambiguous" in capsys.readouterr().err


def test_accept_refuses_runs_made_from_uncommitted_changes(tmp_path, capsys):
    history = write_history(tmp_path, nightly_pair() + runs(NEW + "-dirty", 3, "suite", "ppo", STABLE["ppo"]))
    assert main(["--history", str(history), "--accept"]) == 2
    assert "not a clean commit" in capsys.readouterr().err
    assert not (history / "nightly_accepted.json").exists()


def test_accept_records_the_latest_commit_and_becomes_the_default_baseline(tmp_path, capsys):
    history = write_history(tmp_path, nightly_pair())
    assert main(["--history", str(history), "--accept"]) == 0
    accepted = json.loads((history / "nightly_accepted.json").read_text())
    assert accepted == {"commit": NEW, "date": "2026-11-02T02:04:00Z", "accepted_by": "analysis regress --accept"}
    assert main(["--history", str(history)]) == 0
    assert "Nothing new since the baseline for 3" in capsys.readouterr().out
    # the next nightly breaks dqn: compared with the accepted commit, not the first one
    rows = nightly_pair() + runs("c" * 40, 3, "suite", "dqn", [10, 12, 9, 11, 10])
    write_history(tmp_path, rows)
    assert analysis_main(["regress", "--history", str(history)]) == 1
    out = capsys.readouterr().out
    assert "Baseline: bbbbbbbbbb (accepted" in out and "SCORE suite / dqn / CartPole-v1" in out


def test_each_variant_is_compared_with_its_own_newest_commit_before_the_baseline(tmp_path, capsys):
    # ppo last ran at BASE, dqn at NEW; NEW is accepted; then both run at a third commit
    third = "d" * 40
    rows = (runs(BASE, 1, "suite", "ppo", STABLE["ppo"]) + runs(NEW, 2, "suite", "dqn", STABLE["dqn"])
            + runs(third, 3, "suite", "ppo", [100, 90, 120, 110, 100]) + runs(third, 3, "suite", "dqn", STABLE["dqn"]))
    history = write_history(tmp_path, rows)
    (history / "nightly_accepted.json").write_text(json.dumps({"commit": NEW, "date": "2026-11-02T02:04:00Z"}))
    assert main(["--history", str(history)]) == 1
    out = capsys.readouterr().out
    assert "2 comparison(s)" in out and "runs at aaaaaaaaaa, bbbbbbbbbb" in out
    assert "SCORE suite / ppo / CartPole-v1: mean score 490.00 -> 104.00" in out


def test_a_new_variant_without_a_baseline_run_is_named_and_skipped(tmp_path, capsys):
    rows = nightly_pair() + runs(NEW, 2, "suite", "sac", [1, 2, 3])
    assert regress(write_history(tmp_path, rows)) == 0
    assert "Not compared, no run before the baseline: suite / sac / CartPole-v1" in capsys.readouterr().out


@pytest.mark.parametrize("arguments", [["--alpha", "0"], ["--min-drop", "-0.1"], ["--speed-tolerance", "-1"]])
def test_bad_options_exit_2(tmp_path, arguments):
    with pytest.raises(SystemExit) as exit_info:
        main(["--history", str(tmp_path), *arguments])
    assert exit_info.value.code == 2


def test_the_score_test_is_skipped_when_one_side_has_no_scores(tmp_path, capsys):
    rows = runs(BASE, 1, "suite", "ppo", [500, 500]) + runs(NEW, 2, "suite", "ppo", [None, None],
                                                            statuses=["failed", "failed"])
    assert regress(write_history(tmp_path, rows)) == 1  # only the failures alarm
    out = capsys.readouterr().out
    assert "not tested: no scores on one side" in out and "FAILING RUNS" in out
