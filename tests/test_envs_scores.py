"""Human-normalized scores against values worked out by hand from the published CSVs."""

import csv

import pytest

from core.errors import ConfigError
from envs.scores import PUBLISHED_DIR, TABLES, game_key, human_normalized, human_normalized_many


@pytest.mark.parametrize("game, score, table, expected", [
    # atari_human_random.csv: pong -20.7 / 14.6, breakout 1.7 / 30.5, montezuma_revenge 0 / 4753.3
    ("Pong", 0.0, "noop_30min", 0.5864022662889519),  # (0 - (-20.7)) / (14.6 - (-20.7)) = 20.7 / 35.3
    ("breakout", 401.2, "noop_30min", 13.871527777777777),  # (401.2 - 1.7) / (30.5 - 1.7) = 399.5 / 28.8
    ("ALE/MontezumaRevenge-v5", 2500.0, "noop_30min", 0.5259503923589927),  # 2500 / 4753.3
    # atari_human_random_human_starts.csv: pong -18 / 15.5, alien 128.3 / 6371.3
    ("PongNoFrameskip-v4", 0.0, "human_starts", 0.5373134328358209),  # 18 / 33.5
    ("alien", 3000.0, "human_starts", 0.4599871856479256),  # (3000 - 128.3) / (6371.3 - 128.3) = 2871.7 / 6243
    # dqn_mnih2015_atari49.csv: DQN's own scores, printed as 1327.2%, 132% and 42.7% of human
    ("Breakout", 401.2, "dqn_nature", 13.272425249169435),  # (401.2 - 1.7) / (31.8 - 1.7) = 399.5 / 30.1
    ("pong", 18.9, "dqn_nature", 1.32),  # (18.9 + 20.7) / (9.3 + 20.7) = 39.6 / 30
    ("Alien", 3069.0, "dqn_nature", 0.42742809002286675),  # (3069 - 227.8) / (6875 - 227.8) = 2841.2 / 6647.2
])
def test_normalized_matches_hand_computation(game, score, table, expected):
    result = human_normalized(game, score, table)
    assert result.normalized == pytest.approx(expected, rel=1e-12)
    assert result.raw_score == score
    assert result.table == table
    assert result.table_description == TABLES[table].description


def test_default_table_is_noop_30min():
    assert human_normalized("pong", 0.0).table == "noop_30min"


def test_random_and_human_scores_map_to_zero_and_one_in_every_table():
    for name, table in TABLES.items():
        for game, (random, human) in table.scores.items():
            assert human_normalized(game, random, name).normalized == 0.0
            assert human_normalized(game, human, name).normalized == pytest.approx(1.0)


def test_video_pinball_conventions_are_the_printed_ones():
    assert TABLES["noop_30min"].scores["video_pinball"] == (16256.9, 17667.9)
    assert "16256.9" in TABLES["noop_30min"].description
    # human starts prints random above human, so a better score normalizes lower
    assert human_normalized("VideoPinball", 15641.1, "human_starts").normalized == pytest.approx(1.0)
    assert human_normalized("VideoPinball", 30000.0, "human_starts").normalized < 0


def test_dqn_nature_table_reproduces_the_printed_percentages():
    """The paper normalized with unrounded baselines; the printed ones get within 1 point (double_dunk is 0.97 off)."""
    with open(PUBLISHED_DIR / "dqn_mnih2015_atari49.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 49
    for row in rows:
        percent = 100 * human_normalized(row["game"], float(row["dqn"]), "dqn_nature").normalized
        assert percent == pytest.approx(float(row["dqn_pct_human"]), abs=1.0), row["game"]


@pytest.mark.parametrize("name, key", [
    ("ALE/MontezumaRevenge-v5", "montezuma_revenge"),
    ("MontezumaRevengeNoFrameskip-v4", "montezuma_revenge"),
    ("montezuma_revenge", "montezuma_revenge"),
    ("Montezuma's Revenge", "montezuma_revenge"),
    ("Pong", "pong"),
    ("PongDeterministic-v4", "pong"),
    ("Pong-ramNoFrameskip-v4", "pong"),
    ("ALE/Pong-ram-v5", "pong"),
    ("ALE/Jamesbond-v5", "jamesbond"),
    ("JamesBond", "jamesbond"),
    ("ALE/MsPacman-v5", "ms_pacman"),
    ("Ms. Pac-Man", "ms_pacman"),
    ("ALE/UpNDown-v5", "up_n_down"),
    ("Up and Down", "up_n_down"),
    ("YarsRevengeNoFrameskip-v4", "yars_revenge"),
    ("Pitfall!", "pitfall"),
    ("H.E.R.O.", "hero"),
    ("Q*bert", "qbert"),
    ("River Raid", "riverraid"),
    ("ALE/WizardOfWor-v5", "wizard_of_wor"),
])
def test_game_key_spellings(name, key):
    assert game_key(name) == key


def ale_name(key: str) -> str:
    """ALE's CamelCase spelling, which for the 57 games is each snake_case word capitalized."""
    return "".join(word.capitalize() for word in key.split("_"))


def test_ale_name_reproduces_real_ale_spellings():
    assert [ale_name(key) for key in ("up_n_down", "jamesbond", "ms_pacman", "montezuma_revenge", "kung_fu_master")] \
        == ["UpNDown", "Jamesbond", "MsPacman", "MontezumaRevenge", "KungFuMaster"]


@pytest.mark.parametrize("table", sorted(TABLES))
def test_every_game_round_trips_through_its_env_ids(table):
    games = TABLES[table].scores
    assert len(games) == (49 if table == "dqn_nature" else 57)
    for game in games:
        assert game_key(game) == game
        assert game_key(f"ALE/{ale_name(game)}-v5") == game
        assert game_key(f"{ale_name(game)}NoFrameskip-v4") == game


def test_unknown_game_names_the_games_of_that_table():
    with pytest.raises(ConfigError) as error:
        human_normalized("ALE/Surround-v5", 0.0, "dqn_nature")  # one of the 8 games DQN Nature did not play
    assert error.value.field == "game"
    assert "montezuma_revenge" in str(error.value) and "'surround'" not in str(error.value)
    assert human_normalized("ALE/Surround-v5", 0.0, "noop_30min").game == "surround"


def test_unknown_table_names_the_tables():
    with pytest.raises(ConfigError) as error:
        human_normalized("pong", 0.0, "sticky_actions")
    assert error.value.field == "table"
    assert all(name in str(error.value) for name in TABLES)


def test_many_scores_give_one_row_per_game_with_the_table():
    frame = human_normalized_many({"ALE/Pong-v5": 0.0, "BreakoutNoFrameskip-v4": 401.2}, table="dqn_nature")
    assert list(frame["game"]) == ["pong", "breakout"]
    assert list(frame["table"]) == ["dqn_nature", "dqn_nature"]
    assert frame["normalized"].tolist() == pytest.approx([0.69, 13.272425249169435])  # 20.7 / 30; 399.5 / 30.1
    assert list(frame.columns) == ["game", "raw_score", "normalized", "table", "table_description"]


def test_many_scores_reject_two_names_for_one_game():
    with pytest.raises(ConfigError, match="pong"):
        human_normalized_many({"Pong": 0.0, "ALE/Pong-v5": 1.0})
