"""Human-normalized Atari scores, each tagged with the baseline table it was computed from.

`normalized = (score - random) / (human - random)`: 0 is a uniformly random agent, 1 a professional
human tester. Papers disagree on the random and human numbers (the protocol under which they were
measured, and for DQN Nature an older human baseline), so a normalized score means nothing without
its table, and every `NormalizedScore` carries one. The numbers and their provenance are in
results/published/ and its SOURCES.md.
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from core.errors import ConfigError

PUBLISHED_DIR = Path(__file__).resolve().parent.parent / "results" / "published"


@dataclass(frozen=True)
class NormalizationTable:
    description: str
    """the paper the baselines come from and the protocol they were measured under"""
    source_file: str
    """CSV in results/published/ with columns game, random, human"""

    @property
    def scores(self) -> dict[str, tuple[float, float]]:
        """{game: (random, human)}"""
        return _read_scores(self.source_file)


TABLES: dict[str, NormalizationTable] = {
    "noop_30min": NormalizationTable(
        description=(
            "57 games, random and professional-human scores of dqn_zoo atari_data.py, the numbers printed by "
            "Wang et al. 2016 (Dueling, no-op table), van Hasselt et al. 2016 (Pop-Art) and Bellemare et al. "
            "2017 (C51): 1-30 random no-op starts, episodes capped at 108,000 frames (30 minutes). "
            "video_pinball random is 16256.9 as in those papers, not the 0.0 of the Agent57-era table"
        ),
        source_file="atari_human_random.csv",
    ),
    "human_starts": NormalizationTable(
        description=(
            "57 games, random and human scores under the human-starts condition, Wang et al. 2016 appendix "
            "(from Nair et al. 2015 for 49 games, van Hasselt et al. 2016 for 8): episodes start from "
            "DeepMind's unpublished human trajectories, 30 minutes of emulator time; use for A3C Table S3 "
            "and Wang human-starts scores. video_pinball random (20452) is above human (15641.1), as printed, "
            "so its normalized score falls as the raw score rises"
        ),
        source_file="atari_human_random_human_starts.csv",
    ),
    "dqn_nature": NormalizationTable(
        description=(
            "49 games, Mnih et al. 2015 (DQN, Nature) Extended Data Table 2: random and the paper's own "
            "5-minute professional-human scores, as printed (rounded, e.g. human Alien 6875); up to 30 "
            "no-op starts, episodes of up to 5 minutes"
        ),
        source_file="dqn_mnih2015_atari49.csv",
    ),
}

# Names printed in papers that differ from ALE's by more than word breaks and punctuation.
_PRINTED_NAMES = {"montezumas_revenge": "montezuma_revenge", "up_and_down": "up_n_down"}

# Gymnasium/ALE ids wrap the game name: an optional namespace ("ALE/"), the RAM-observation
# marker, the v0/v4 frame-skip variants and the version.
_ENV_ID = re.compile(r"^(?:\w+/)?(?P<game>.*?)(?:-ram)?(?:NoFrameskip|Deterministic)?(?:-v\d+)?$")


@dataclass(frozen=True)
class NormalizedScore:
    game: str
    raw_score: float
    normalized: float
    """(raw_score - random) / (human - random)"""
    table: str
    table_description: str


def game_key(env_id_or_name: str) -> str:
    """The dqn_zoo-style key of an Atari game: "ALE/MontezumaRevenge-v5" and "Montezuma's Revenge" -> "montezuma_revenge".

    Word breaks that only some spellings have ("JamesBond", "River Raid", "Q*bert") are matched
    against the keys of the published tables, so they come back as jamesbond, riverraid, qbert.
    A name that matches no table is returned in snake_case.
    """
    name = _ENV_ID.match(env_id_or_name.strip()).group("game")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name)  # UpNDown -> Up_N_Down
    name = re.sub(r"['’]", "", name.lower())
    name = re.sub(r"[^a-z0-9]+", "_", name).strip("_")
    name = _PRINTED_NAMES.get(name, name)
    return _keys_without_underscores().get(name.replace("_", ""), name)


def human_normalized(env_id_or_game: str, score: float, table: str = "noop_30min") -> NormalizedScore:
    if table not in TABLES:
        raise ConfigError("table", f"one of {sorted(TABLES)}", table)
    baselines = TABLES[table].scores
    game = game_key(env_id_or_game)
    if game not in baselines:
        raise ConfigError("game", f"an Atari game of table {table!r}, one of {sorted(baselines)}", env_id_or_game)
    random, human = baselines[game]
    return NormalizedScore(game=game, raw_score=float(score), normalized=(score - random) / (human - random),
                           table=table, table_description=TABLES[table].description)


def human_normalized_many(scores: dict[str, float], table: str = "noop_30min") -> pd.DataFrame:
    """One row per game (the fields of `NormalizedScore`), all normalized with the same table."""
    rows = [asdict(human_normalized(name, score, table)) for name, score in scores.items()]
    games = [row["game"] for row in rows]
    duplicates = sorted({game for game in games if games.count(game) > 1})
    if duplicates:
        raise ConfigError("scores", "one score per game", f"several names for {duplicates}")
    return pd.DataFrame(rows, columns=[field for field in NormalizedScore.__dataclass_fields__])


@functools.cache
def _read_scores(source_file: str) -> dict[str, tuple[float, float]]:
    with open(PUBLISHED_DIR / source_file, newline="") as handle:
        return {row["game"]: (float(row["random"]), float(row["human"])) for row in csv.DictReader(handle)}


@functools.cache
def _keys_without_underscores() -> dict[str, str]:
    return {game.replace("_", ""): game for table in TABLES.values() for game in table.scores}
