"""The regression alarm proven both ways on real runs (slow, ~15 min on 2 cores): in a clone of the repository,
a baseline nightly of a canary spec is accepted; rerunning unchanged code (a new, empty commit) raises no alarm, and
neither does rerunning it again while one CPU-bound job per core shares the machine (its wall clock slows, its CPU
time per step does not); dividing A2C's learning rate by 10 is flagged as a score regression of A2C and of nothing
else; making PPO's training loop spin on the CPU as long as each iteration computed (twice the CPU, same results) is
flagged as a speed regression of PPO and of nothing else. The transcript goes to the file RLREPRO_PROOF_TRANSCRIPT
names, if set; docs/regression_proof.txt is the one kept (tests write nothing into the checkout on their own):

    RLREPRO_PROOF_TRANSCRIPT=docs/regression_proof.txt ./run_tests.sh -m slow tests/test_regression_proof.py"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import clone_working_tree, cpu_bound_jobs

SPEC = Path(__file__).resolve().parent / "data" / "regression_canary.yaml"


def shell(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=1800)


def inject(clone: Path, file: str, old: str, new: str, message: str) -> None:
    path = clone / file
    text = path.read_text()
    assert old in text, f"{file} changed: the injection's anchor {old!r} is gone"
    path.write_text(text.replace(old, new))
    shell("git", "commit", "-qam", message, cwd=clone)


def nightly_then_regress(clone: Path) -> subprocess.CompletedProcess:
    """What run_all.sh --tier nightly does, for the canary alone: rerun what other commits made, analyse (which
    records the runs in the history), and check against the accepted baseline."""
    run = shell(sys.executable, "-m", "runner", str(SPEC), "--tier", "nightly", "--rerun-other-commits",
                "--results", "results", cwd=clone)
    assert run.returncode == 0, run.stderr[-2000:]
    analysis = shell(sys.executable, "-m", "analysis", "results/nightly", "--reps", "200", cwd=clone)
    assert analysis.returncode == 0, analysis.stderr[-2000:]
    regress = shell(sys.executable, "-m", "analysis", "regress", "--history", "results/history", cwd=clone)
    # As after a real nightly: its reports and history are committed, so the next sweep starts from a clean tree.
    shell("git", "add", "-A", "results", cwd=clone)
    shell("git", "commit", "-qm", "nightly results", cwd=clone)
    return regress


@pytest.mark.slow
def test_the_alarm_is_right_both_ways(tmp_path, project_root):
    clone = clone_working_tree(project_root, tmp_path / "clone")
    # The canary's own history only: not the committed nightly one, nor its accepted baseline.
    shell("git", "rm", "-rq", "--ignore-unmatch", "results/history", cwd=clone)
    shell("git", "commit", "-qm", "the canary's history starts empty", cwd=clone)
    transcript = []

    baseline = nightly_then_regress(clone)
    assert baseline.returncode == 2  # no accepted baseline yet
    accepted = shell(sys.executable, "-m", "analysis", "regress", "--accept", "--history", "results/history", cwd=clone)
    assert accepted.returncode == 0, accepted.stderr

    shell("git", "commit", "-q", "--allow-empty", "-m", "unchanged code", cwd=clone)
    unchanged = nightly_then_regress(clone)
    transcript += ["$ unchanged code, rerun", unchanged.stdout]
    assert unchanged.returncode == 0, unchanged.stdout + unchanged.stderr

    shell("git", "commit", "-q", "--allow-empty", "-m", "unchanged code, under load", cwd=clone)
    with cpu_bound_jobs(os.cpu_count()):
        loaded = nightly_then_regress(clone)
    transcript += ["$ unchanged code, rerun with one CPU-bound job per core beside it", loaded.stdout]
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr

    inject(clone, "algos/a2c.py", "lr=config.learning_rate,", "lr=config.learning_rate / 10,", "bug: A2C lr / 10")
    inject(clone, "algos/a2c.py", '["lr"] = config.learning_rate *', '["lr"] = config.learning_rate / 10 *',
           "bug: A2C lr / 10 (annealed too)")
    bug = nightly_then_regress(clone)
    transcript += ["$ A2C's learning rate divided by 10", bug.stdout]
    assert bug.returncode == 1, bug.stdout + bug.stderr
    flagged = [line for line in bug.stdout.splitlines() if line.startswith("- ")]
    # A2C and nothing else; an A2C that no longer learns plays shorter episodes, so it may run slower too
    assert any(line.startswith("- SCORE") for line in flagged) and all(" / a2c / " in line for line in flagged), flagged

    shell("git", "revert", "--no-edit", "HEAD~1", "HEAD~2", cwd=clone)  # the two injections, under the results commit
    inject(clone, "algos/ppo.py", "        while step < config.total_steps:\n",
           "        computed_from = time.process_time()\n"
           "        while step < config.total_steps:\n"
           "            spin_until = 2 * time.process_time() - computed_from  # as much CPU as the last iteration\n"
           "            while time.process_time() < spin_until:\n"
           "                pass\n"
           "            computed_from = time.process_time()\n", "slowdown: PPO computes everything twice over")
    inject(clone, "algos/ppo.py", "\nimport torch\n", "\nimport time\n\nimport torch\n", "slowdown: import time")
    slow = nightly_then_regress(clone)
    transcript += ["$ PPO's loop made to cost twice the CPU", slow.stdout]
    assert slow.returncode == 1, slow.stdout + slow.stderr
    flagged = [line for line in slow.stdout.splitlines() if line.startswith("- ")]
    assert flagged and all(" / ppo / " in line and line.startswith("- SPEED") for line in flagged), flagged

    if os.environ.get("RLREPRO_PROOF_TRANSCRIPT"):
        Path(os.environ["RLREPRO_PROOF_TRANSCRIPT"]).write_text("\n".join(transcript))
