"""What a tier of the experiment specs costs on this machine: run-hours per variant, from the specs and measured speed.

    python -m runner.cost [--tier paper] [--only NAME[,NAME]] [specs...]

A run of T environment steps takes T / R seconds, R being the steps per second measured for its algorithm on its
environment's family (atari, minatar, mujoco, dmc, classic) in results/benchmarks/steps_per_second.csv. Each rate
there is copied from the committed measurement its `source` column names: the nightly history where the nightly ran
that pair (mean over the latest run of each job: runs at the suite's settings, two at a time on this machine),
otherwise the newest benchmark row at the algorithm's default settings. An outside algorithm's rate is a row whose
algo is its module path. A pair without a row has no measurement: its runs are reported as of unknown cost and left
out of the totals, never guessed.

The rates come from runs far shorter than a paper tier's, some with a warm-up without updates (SAC's nightly: 10K of
its 30K steps), so the hours are estimates. A run occupies the cores its spec's tier gives it (`resources: {cpus: N}`),
else those of runner/resources.py: an a3c or async_q run `workers`, a d4pg run `actors` + 1 (the learner); their rate is the whole run's, and core-hours = run-hours x cores. Days are core-hours spread over
this machine's 2 cores (two one-core runs at a time). Nothing is written. Exit code 2 for a bad spec, option or
rates file.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym

import envs
from core.errors import ConfigError
from runner.resources import run_cores
from runner.spec import SPECS_DIR, TIERS, Spec, SpecError, load_spec
from runner.sweep import plan

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RATES = Path("results", "benchmarks", "steps_per_second.csv")  # under PROJECT_ROOT
RATE_COLUMNS = ("algo", "family", "env_id", "steps_per_second", "peak_rss_mb", "measured", "source")
MACHINE_CORES = 2  # of the machine every rate was measured on
GYMNASIUM_FAMILIES = {"gymnasium.envs.mujoco": "mujoco", "gymnasium.envs.classic_control": "classic"}


@dataclass(frozen=True)
class Rate:
    steps_per_second: float
    env_id: str  # where it was measured
    source: str


@dataclass(frozen=True)
class Cost:
    """The runs of one variant on one environment family at one budget; rate None: not measured."""
    variant: str
    algo: str
    family: str
    runs: int
    steps_per_run: int
    cores_per_run: int
    rate: Rate | None

    @property
    def run_hours(self) -> float | None:
        return None if self.rate is None else self.runs * self.steps_per_run / self.rate.steps_per_second / 3600

    @property
    def core_hours(self) -> float | None:
        return None if self.rate is None else self.run_hours * self.cores_per_run


def cost_family(env_id: str) -> str:
    """envs.family_of's family, with gymnasium's split: a MuJoCo step costs far more than a classic-control one.
    Any other gymnasium id stays `gymnasium`, for which nothing is measured."""
    family, _ = envs.family_of(env_id)
    if family != "gymnasium":
        return family
    entry_point = gym.spec(env_id).entry_point
    module = entry_point if isinstance(entry_point, str) else entry_point.__module__
    return next((name for package, name in GYMNASIUM_FAMILIES.items() if module.startswith(package)), family)


def load_rates(path: Path) -> dict[tuple[str, str], Rate]:
    """(algo, family) -> its measured rate, from a CSV of RATE_COLUMNS (path relative to the project)."""
    try:
        with open(PROJECT_ROOT / path, newline="") as handle:
            reader = csv.DictReader(handle)
            header = tuple(reader.fieldnames or ())
            rows = list(reader)
    except OSError as error:
        raise ConfigError(str(path), "a readable CSV file", str(error)) from None
    if header != RATE_COLUMNS:
        raise ConfigError(f"{path}: header", ",".join(RATE_COLUMNS), ",".join(header))
    rates = {}
    for line, row in enumerate(rows, start=2):
        key = (row["algo"], row["family"])
        if key in rates:
            raise ConfigError(f"{path}: line {line}", "one row per (algo, family)", key)
        try:
            steps_per_second = float(row["steps_per_second"])
        except (TypeError, ValueError):
            steps_per_second = float("nan")
        if not steps_per_second > 0:
            raise ConfigError(f"{path}: line {line}: steps_per_second", "a positive number", row["steps_per_second"])
        rates[key] = Rate(steps_per_second, row["env_id"], row["source"])
    return rates


def rate_key(algo: str, run_config: dict) -> str:
    """The rates file's algo of a run: an outside algorithm that wraps several (examples.sb3_control's `algorithm`)
    is measured per wrapped algorithm, `module:algorithm`."""
    wrapped = run_config.get("algorithm")
    return f"{algo}:{wrapped}" if "." in algo and isinstance(wrapped, str) else algo


def costs(spec: Spec, tier: str, rates: dict[tuple[str, str], Rate]) -> list[Cost]:
    """The tier's planned runs, grouped by variant, family, budget and cores, each group with its rate."""
    cores = {}  # (variant, env_id) -> cores: every seed's config is the same
    groups = Counter()
    for job in plan(spec, tier, Path(tempfile.gettempdir())):  # plan() only computes run directories
        if (job.variant, job.env_id) not in cores:
            cores[job.variant, job.env_id] = (spec.tiers[tier].for_variant(job.variant).resources.get("cpus")
                                              or run_cores(job.algo, job.config))
        groups[job.variant, rate_key(job.algo, job.config), cost_family(job.env_id), job.config["total_steps"],
               cores[job.variant, job.env_id]] += 1
    return [Cost(variant, algo, family, runs, steps, run_cores, rates.get((algo, family)))
            for (variant, algo, family, steps, run_cores), runs in groups.items()]


def readable(value: float) -> str:
    """1,234 / 5.6 / 0.078: a number a person reads, to its useful digits."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.1f}" if value >= 1 else f"{value:.2g}"


def hours(value: float | None) -> str:
    return "unknown" if value is None else f"{readable(value)} h"


def table(spec_costs: list[Cost]) -> str:
    rows = [("variant", "family", "runs", "steps per run", "cores per run", "steps/s", "run-hours", "core-hours",
             "steps/s measured on, in")]
    for cost in spec_costs:
        rate = cost.rate
        rows.append((cost.variant, cost.family, f"{cost.runs:,}", f"{cost.steps_per_run:,}", str(cost.cores_per_run),
                     f"{rate.steps_per_second:,.0f}" if rate else "unknown", hours(cost.run_hours),
                     hours(cost.core_hours), f"{rate.env_id}, {rate.source}" if rate else "no measurement"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    text_columns = (0, 1, len(widths) - 1)
    return "\n".join("  " + "  ".join(cell.ljust(width) if column in text_columns else cell.rjust(width)
                                      for column, (cell, width) in enumerate(zip(row, widths))).rstrip()
                     for row in rows)


def total(group: list[Cost]) -> str:
    known = [cost for cost in group if cost.rate is not None]
    run_hours = sum(cost.run_hours for cost in known)
    core_hours = sum(cost.core_hours for cost in known)
    text = (f"{readable(run_hours)} run-hours ({readable(core_hours)} core-hours) = "
            f"{readable(core_hours / MACHINE_CORES / 24)} days on this machine's {MACHINE_CORES} cores")
    unknown_runs = sum(cost.runs for cost in group if cost.rate is None)
    return text + (f", plus {unknown_runs:,} runs of unknown cost" if unknown_runs else "")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runner.cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", type=Path, help="experiment spec files (default: every experiments/*.yaml)")
    parser.add_argument("--tier", choices=TIERS, default="paper", help="budget tier to cost (default: paper)")
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]", help="cost only these experiments")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f"python -m runner.cost: error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    paths = args.specs or sorted(SPECS_DIR.glob("*.yaml"))
    if args.only:  # a spec's name is its file's name (load_spec checks)
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {path.stem for path in paths})
        if unknown:
            fail(f"--only: expected experiment names from {[path.stem for path in paths]}, got {unknown}")
        paths = [path for path in paths if path.stem in wanted]
    try:
        rates = load_rates(RATES)
        specs = [load_spec(path) for path in paths]
    except (ConfigError, SpecError) as error:
        fail(str(error))
    chosen = bool(args.specs or args.only)
    every: list[Cost] = []
    unmeasured: dict[tuple[str, str], list[str]] = {}  # (algo, family) -> "spec variant: N runs"
    for spec in specs:
        if args.tier not in spec.tiers:
            if chosen:
                fail(f"{spec.path}: tiers: expected a {args.tier!r} tier (the spec has {list(spec.tiers)})")
            print(f"{spec.name}: no {args.tier!r} tier (it has {list(spec.tiers)}); skipped\n")
            continue
        spec_costs = costs(spec, args.tier, rates)
        print(f"{spec.name}, tier {args.tier}:\n{table(spec_costs)}\n  total: {total(spec_costs)}\n")
        every += spec_costs
        for cost in spec_costs:
            if cost.rate is None:
                unmeasured.setdefault((cost.algo, cost.family), []).append(f"{spec.name} {cost.variant}: {cost.runs:,} runs")
    print(f"all specs, tier {args.tier}: {total(every)}")
    if unmeasured:
        print(f"\nNo measured steps/s in {RATES} for these (algo, family) pairs; their cost "
              "is unknown and not in the totals:")
        for (algo, family), uses in unmeasured.items():
            print(f"  {algo} on {family} ({'; '.join(uses)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
