"""runner/cost.py: a tier's run-hours from the specs and the measured steps per second."""

import csv
import re
from pathlib import Path

import pytest

from runner import cost
from runner.spec import load_spec
from runner.sweep import plan
from helpers import PROJECT_ROOT, write_spec

STEPS = 1_000_000_000  # per run: totals of hundreds of hours print to 3 or more digits
PAPER = {"total_steps": STEPS, "seeds": 3, "eval_interval": 100_000_000}


def shipped_rates() -> list[dict]:
    with open(PROJECT_ROOT / cost.RATES, newline="") as handle:
        return list(csv.DictReader(handle))


def shipped_rate(algo: str, family: str) -> float:
    return next(float(row["steps_per_second"]) for row in shipped_rates()
                if (row["algo"], row["family"]) == (algo, family))


def spec_total(output: str, name: str) -> float:
    """The run-hours of a spec's total line."""
    section = output.split(f"{name}, tier ", 1)[1]
    return float(re.search(r"total: ([\d,.]+) run-hours", section).group(1).replace(",", ""))


def tiny_paper_spec(directory: Path, variants: dict | None = None) -> Path:
    changes = {"variants": variants} if variants else {}
    return write_spec(directory, tiers={"smoke": {"total_steps": 2000, "seeds": 2, "eval_interval": 1000}, "paper": PAPER},
                      **changes)


def test_shipped_specs_paper_tier_total_of_ppo_baselines(capsys):
    assert cost.main(["--tier", "paper"]) == 0
    output = capsys.readouterr().out
    assert "all specs, tier paper:" in output
    assert "ppo_atari_parity: no 'paper' tier" in output
    # the same total summed run by run over the plan, rather than over the printed groups
    spec = load_spec(PROJECT_ROOT / "experiments" / "ppo_baselines.yaml")
    rates = {(row["algo"], row["family"]): float(row["steps_per_second"]) for row in shipped_rates()}
    expected = sum(job.config["total_steps"] / rates[job.algo, cost.cost_family(job.env_id)]
                   for job in plan(spec, "paper", Path("unused"))) / 3600
    assert expected > 0
    assert spec_total(output, "ppo_baselines") == pytest.approx(expected, rel=0.005)


def test_hours_are_steps_over_the_measured_rate(tmp_path, capsys):
    path = tiny_paper_spec(tmp_path)
    by_variant = {c.variant: c for c in cost.costs(load_spec(path), "paper", cost.load_rates(cost.RATES))}
    for variant, algo in (("reinforce", "reinforce"), ("a2c", "a2c")):
        by_hand = 3 * STEPS / shipped_rate(algo, "classic") / 3600
        assert by_variant[variant].family == "classic"
        assert by_variant[variant].runs == 3
        assert by_variant[variant].run_hours == pytest.approx(by_hand)
        assert by_variant[variant].core_hours == pytest.approx(by_hand)
    assert cost.main([str(path)]) == 0
    by_hand = 3 * STEPS * (1 / shipped_rate("reinforce", "classic") + 1 / shipped_rate("a2c", "classic")) / 3600
    assert spec_total(capsys.readouterr().out, "tiny") == pytest.approx(by_hand, rel=0.01)


def test_a_run_of_workers_occupies_that_many_cores(tmp_path):
    path = tiny_paper_spec(tmp_path, {"a3c": {"algo": "a3c", "overrides": {"workers": 3}}})
    [a3c] = cost.costs(load_spec(path), "paper", cost.load_rates(cost.RATES))
    assert a3c.cores_per_run == 3
    assert a3c.core_hours == pytest.approx(3 * a3c.run_hours)
    assert a3c.run_hours == pytest.approx(3 * STEPS / shipped_rate("a3c", "classic") / 3600)


def test_unknown_only_name_exits_2_naming_it(capsys):
    with pytest.raises(SystemExit) as stop:
        cost.main(["--only", "ppo_baselines,no_such_experiment"])
    assert stop.value.code == 2
    assert "no_such_experiment" in capsys.readouterr().err


def test_unmeasured_pair_is_unknown_not_guessed(tmp_path, monkeypatch, capsys):
    rates = tmp_path / "rates.csv"
    with open(rates, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=cost.RATE_COLUMNS)
        writer.writeheader()
        writer.writerows(row for row in shipped_rates() if (row["algo"], row["family"]) != ("reinforce", "classic"))
    monkeypatch.setattr(cost, "RATES", rates)
    assert cost.main([str(tiny_paper_spec(tmp_path))]) == 0
    output = capsys.readouterr().out
    reinforce_row = next(line for line in output.splitlines() if line.strip().startswith("reinforce"))
    assert "unknown" in reinforce_row and "no measurement" in reinforce_row
    assert "plus 3 runs of unknown cost" in output
    assert "reinforce on classic (tiny reinforce: 3 runs)" in output
    # the total counts only what was measured
    assert spec_total(output, "tiny") == pytest.approx(3 * STEPS / shipped_rate("a2c", "classic") / 3600, rel=0.01)


def test_bad_rates_file_exits_2_naming_line_and_field(tmp_path, monkeypatch, capsys):
    rates = tmp_path / "rates.csv"
    rates.write_text(",".join(cost.RATE_COLUMNS) + "\nppo,classic,CartPole-v1,fast,,2026-11-29,somewhere\n")
    monkeypatch.setattr(cost, "RATES", rates)
    with pytest.raises(SystemExit) as stop:
        cost.main(["--only", "ppo_baselines"])
    assert stop.value.code == 2
    assert "line 2: steps_per_second: expected a positive number, got 'fast'" in capsys.readouterr().err
