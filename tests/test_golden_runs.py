"""DQN, C51, DDPG and SAC in the one off-policy loop give the rows their own loops gave before (tests/golden_runs.py
says how the goldens were made): seeded, whole and resumed, with and without the saved replay memory."""

import pytest

from golden_runs import CASES, FILES, GOLDEN_DIR, KINDS, run
from helpers import rows_without_wall_time

# Resuming without the saved memory: both loops now refill learning_starts steps (and a minibatch), as a new run
# fills its memory. DDPG and SAC's loop waited max(learning_starts, batch_size) steps and then one more, so on
# DDPG's paper setting (learning_starts 0) its first update after a resume came one step after a new run's would;
# these goldens' learning_starts (500) exceed their minibatch, so their numbers do not move.


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", CASES)
def test_the_rows_recorded_before_the_loops_became_one(case, kind, tmp_path):
    run(case, kind, tmp_path / "run")
    for name in FILES:
        assert rows_without_wall_time(tmp_path / "run" / name) == rows_without_wall_time(GOLDEN_DIR / case / kind / name)
