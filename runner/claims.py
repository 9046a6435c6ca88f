"""What a spec says about the paper it reproduces, as data: its claims, where the published numbers are,
how scores become comparable across tasks, and the bars each tier must reach.

    claims:
      - id: c51_beats_dqn
        sentence: "the paper's sentence (a paraphrase says so)"
        kind: better                  # better | at_least_as_good | equivalent (two-sided, within margin: a parity
                                      # control against a reference implementation) | matches_published
        a: c51                        # variant
        b: dqn                        # the other variant (not for matches_published)
        score: final                  # final: the spec's score rule; auc: the learning curve's mean over the budget;
                                      # auc_wall_clock: its mean over the same wall-clock time for both variants;
                                      # at_equal_wall_clock: its last value within that time
        aggregate: iqm                # iqm | median | mean: the aggregate whose difference is reported
        statistic: probability_of_improvement   # what decides the verdict, as the claim's sentence words it:
                                      # probability_of_improvement: P(a run of A beats a run of B), for per-run
                                      #   and per-task claims ("beats B on most games");
                                      # aggregate_difference: the bootstrap CI of aggregate(A) - aggregate(B), for
                                      #   claims about an aggregate ("A's mean normalised score is above B's");
                                      # published_within_ci: matches_published's per-task test (its only statistic)
        margin: 0.1                   # at_least_as_good: how far below B still counts as good as B; equivalent:
                                      # how far either way; in P(A > B) from 0.5 (default 0.1) or in the
                                      # aggregate's units (required)
        tiers: [nightly, paper]       # the tiers that can judge it (default: nightly and paper)
        environments: [MinAtar/Breakout-v1]   # optional: the tasks it is judged on (default: all it ran on)
        why: "..."                    # optional: why these tiers/environments
        diagnosis:                    # per tier: why a verdict there is not "reproduced" (shown under it)
          nightly:
            kind: proxy               # proxy: the claim's conditions are not met here (budget, task, hardware);
                                      # defect: ours (then fix it); open: not known yet
            text: "..."
            evidence: ["docs/algorithms/async.md#...", "runs or commands that decide it"]
    published:
      file: c51_bellemare2017_atari57.csv     # in results/published/, one row per game
      key: game                       # the column naming the task (Atari game keys, e.g. beam_rider)
      columns: {dqn: DQN, c51: C51}   # variant -> the column holding its published number
      protocol: "30 no-op starts, ..."        # how the published numbers were measured
      source: "Bellemare et al. 2017, appendix"
      summary:                        # optional: the paper's own summary rows (Atari human-normalised)
        file: a3c_mnih2016_summary.csv
        key: method
        rows: {dqn: dqn, a3c_lstm: a3c_lstm}  # variant -> the row of the method
        columns: {mean: mean_hns_pct, median: median_hns_pct, training: training_time}
        table: human_starts           # the human/random table the paper normalised with
    normalization:
      atari: human_starts             # the human/random table for ALE tasks (envs.scores.TABLES)
      reference:                      # other tasks: the score that maps to 1, with its source; 0 is the
        CartPole-v1: {score: 500, source: "..."}   # random policy's, measured in results/baselines/random_scores.csv
      best_of:                        # or: on each task, 1 is the highest mean over seeds among these variants
        variants: [clip_0.2, fixed_kl_1]           # (the PPO paper's Table 1); analysis finds it from the runs
        source: "Schulman et al. 2017, section 6.1"
    expect:
      nightly:
        - {variant: c51, env_id: CartPole-v1, min_score: 475, at_least: 4}   # on 4 of the tier's seeds
        - {variant: a2c, env_id: CartPole-v1, mean_at_least: 475}            # or: the seeds' mean
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import envs
from envs.scores import TABLES, game_key

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PUBLISHED_DIR = PROJECT_ROOT / "results" / "published"
RANDOM_SCORES = PROJECT_ROOT / "results" / "baselines" / "random_scores.csv"
CLAIM_KINDS = ("better", "at_least_as_good", "equivalent", "matches_published")
MARGIN_KINDS = ("at_least_as_good", "equivalent")  # the kinds judged against a margin
CLAIM_SCORES = ("final", "auc", "auc_wall_clock", "at_equal_wall_clock")
AGGREGATES = ("iqm", "median", "mean")
CLAIM_STATISTICS = {"better": ("probability_of_improvement", "aggregate_difference"),
                    "at_least_as_good": ("probability_of_improvement", "aggregate_difference"),
                    "equivalent": ("probability_of_improvement", "aggregate_difference"),
                    "matches_published": ("published_within_ci",)}
JUDGING_TIERS = ("nightly", "paper", "reference", "controls")
DEFAULT_POI_MARGIN = 0.1  # P(A > B) may fall this far below 0.5 for "at least as good"
DIAGNOSIS_KINDS = {
    "proxy": "the claim's conditions are not met here (budget, task, hardware): the stand-in cannot judge it",
    "defect": "our code is wrong (to be fixed)",
    "open": "not known yet",
}


@dataclass(frozen=True)
class Diagnosis:
    """Why a claim's verdict in one tier is not "reproduced", with the evidence that decides it."""
    kind: str
    text: str
    evidence: tuple[str, ...]


@dataclass(frozen=True)
class Claim:
    id: str
    sentence: str
    kind: str
    a: str
    b: str | None
    score: str
    aggregate: str
    statistic: str
    margin: float | None
    """at_least_as_good and equivalent: in P(A > B) from 0.5 (probability_of_improvement) or in aggregate units"""
    tiers: tuple[str, ...]
    environments: tuple[str, ...] | None
    why: str
    diagnosis: dict[str, Diagnosis]
    """tier -> why its verdict there is not reproduced"""

    def form(self) -> str:
        """The machine-checkable form in words, e.g. `c51 better than dqn: final score, decided by P(A > B)`."""
        relation = {"better": "better than", "at_least_as_good": "at least as good as",
                    "equivalent": "equivalent to"}.get(self.kind)
        what = {"final": "final score", "auc": "area under the learning curve (per step)",
                "auc_wall_clock": "area under the learning curve over equal wall-clock time",
                "at_equal_wall_clock": "score reached within equal wall-clock time"}[self.score]
        if relation is None:
            return f"{self.a} matches the published numbers: {what}, decided per task by our 95% CI"
        aggregate = self.aggregate.upper() if self.aggregate == "iqm" else self.aggregate
        if self.statistic == "aggregate_difference":
            decided = f"decided by the 95% CI of the {aggregate} difference"
        else:
            decided = f"decided by P({self.a} > {self.b}); {aggregate} difference shown"
        margin = f", margin {self.margin:g}" if self.kind in MARGIN_KINDS else ""
        return f"{self.a} {relation} {self.b}: {what}, {decided}{margin}"


@dataclass(frozen=True)
class Expectation:
    """A pass bar: `at_least` seeds score `min_score` or more, or the seeds' mean is `mean_at_least` or more."""
    tier: str
    variant: str
    env_id: str
    min_score: float | None
    at_least: int | None
    mean_at_least: float | None

    def describe(self) -> str:
        if self.mean_at_least is not None:
            return f"{self.variant} on {self.env_id}: mean score >= {self.mean_at_least:g}"
        return f"{self.variant} on {self.env_id}: score >= {self.min_score:g} on at least {self.at_least} seeds"

    def failure(self, scores: list[float], seeds: int) -> str | None:
        """None when the tier's seeds meet the bar, else what they scored."""
        if len(scores) < seeds:
            return f"{self.describe()}: only {len(scores)} of {seeds} seeds finished ({scores})"
        if self.mean_at_least is not None:
            met = sum(scores) / len(scores) >= self.mean_at_least
        else:
            met = sum(score >= self.min_score for score in scores) >= self.at_least
        return None if met else f"{self.describe()}: scores {scores}"


@dataclass(frozen=True)
class Normalization:
    """How scores become comparable across tasks; the default (older plans have none) is no scale."""
    atari_table: str | None = None
    reference: dict = field(default_factory=dict)  # env id -> {"score": float, "source": str}
    best_of: tuple[str, ...] = ()  # variants whose best mean per task is that task's reference (analysis fills it)
    best_of_source: str = ""

    def describe(self, env_id: str) -> str:
        if envs.family_of(env_id)[0] == "atari" and self.atari_table:
            return f"human-normalised ({self.atari_table}: {TABLES[self.atari_table].description})"
        if env_id in self.reference:
            ref = self.reference[env_id]
            return f"(score - random) / ({ref['score']:g} - random); random measured, reference: {ref['source']}"
        return "raw score (no reference score declared)"


@dataclass(frozen=True)
class PublishedNumber:
    """One number of a `published:` CSV (the paper's), or of a `context:` one (an implementation's, with its label)."""
    variant: str
    env_id: str
    score: float
    source: str
    protocol: str = ""  # how it was measured (plans written before it was recorded have none)
    label: str = ""  # whose number it is, for a context number


@dataclass(frozen=True)
class PublishedSummary:
    """The paper's own summary rows (published.summary): a CSV with one row per method."""
    file: str
    key: str  # the column naming the method
    rows: dict[str, str]  # variant -> the row of its method
    columns: dict[str, str]  # mean, and optionally median and training -> the CSV's column
    table: str  # the Atari human/random table it was normalised with, or best_of


def random_scores() -> dict[str, float]:
    """The measured random-policy score of each task (benchmarks/random_scores.py writes the file)."""
    with open(RANDOM_SCORES, newline="") as handle:
        return {row["env_id"]: float(row["mean"]) for row in csv.DictReader(handle)}


def normalize(env_id: str, score: float, normalization: Normalization) -> float | None:
    """A score on the spec's comparable scale; None for a task with no declared scale."""
    if envs.family_of(env_id)[0] == "atari" and normalization.atari_table:
        random, human = TABLES[normalization.atari_table].scores[game_key(env_id)]
        return (score - random) / (human - random)
    if env_id in normalization.reference:
        random = random_scores()[env_id]
        return (score - random) / (normalization.reference[env_id]["score"] - random)
    return None


def published_entries(section: dict, variants: list[str], environments: tuple[str, ...],
                      label: str = "") -> list[PublishedNumber]:
    """The spec's `published:` (or a `context:`) section read from its CSV: one number per (variant, environment)
    that the file has a number for. Atari env ids match the file's game keys."""
    with open(PUBLISHED_DIR / section["file"], newline="") as handle:
        rows = {row[section["key"]]: row for row in csv.DictReader(handle)}
    entries = []
    for variant, column in section["columns"].items():
        for env_id in environments:
            key = game_key(env_id) if envs.family_of(env_id)[0] == "atari" else env_id
            value = (rows.get(key) or {}).get(column, "")
            if value not in ("", None) and math.isfinite(float(value)):
                entries.append(PublishedNumber(variant, env_id, float(value), section["source"], section["protocol"],
                                               label))
    return entries
