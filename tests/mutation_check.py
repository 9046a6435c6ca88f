"""Do the tests catch realistic bugs in the core math? Plant each bug below, one at a time, in a copy of the
committed tree, and run the tests of its module: a planted bug that no test fails is a hole in the suite.

    python tests/mutation_check.py [--only NAME[,NAME]] [--output docs/mutation_check.md]

The bugs are issue 29's list: the ones a careful implementer could make and a learning test might survive (the
agent still learns, a bit worse). First the listed tests run on the unmutated copy and must pass, or a failure
would prove nothing. Each test run is `pytest -x -m "not slow"` on the named files, so a caught bug stops at its
first failing test. Nothing is written into the checkout unless --output names a file. Exit 1 when a bug survives.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PlantedBug:
    name: str
    what: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = (
    PlantedBug("nstep_truncation_as_termination", "n-step returns stop at a time-limit truncation instead of "
               "bootstrapping from V(last state)", "common/actor_critic.py",
               "discount * torch.where(terminated[t], torch.zeros_like(running), following)",
               "discount * torch.where(terminated[t] | truncated[t], torch.zeros_like(running), following)",
               ("tests/test_returns.py",)),
    PlantedBug("gae_without_lambda", "GAE sums TD errors discounted by gamma alone (lambda left out)",
               "common/actor_critic.py", "running = deltas[t] + gamma * lam * torch.where(",
               "running = deltas[t] + gamma * torch.where(", ("tests/test_ppo.py",)),
    PlantedBug("ppo_clip_bound", "PPO's upper clip bound is 1 + 2 eps", "algos/ppo.py",
               "ratio.clamp(1 - clip, 1 + clip)", "ratio.clamp(1 - clip, 1 + 2 * clip)",
               ("tests/test_ppo.py", "tests/test_ppo_objectives.py")),
    PlantedBug("dqn_online_bootstrap", "DQN's target bootstraps from the online network, not the target network",
               "algos/dqn.py", "target(batch.next_observations), next_q_online)",
               "online(batch.next_observations), next_q_online)", ("tests/test_dqn.py",)),
    PlantedBug("replay_discount_power_short", "the replay's N-step discount is gamma^(m-1) instead of gamma^m",
               "common/replay.py", "np.where(terminated, 0.0, self._discount_powers[steps])",
               "np.where(terminated, 0.0, self._discount_powers[steps - 1])", ("tests/test_replay.py",)),
    PlantedBug("sac_entropy_sign", "SAC's soft target adds the entropy term with the wrong sign", "algos/sac.py",
               "(torch.min(next_q1, next_q2) - alpha * next_log_probs)",
               "(torch.min(next_q1, next_q2) + alpha * next_log_probs)", ("tests/test_sac.py",)),
    PlantedBug("c51_terminal_bootstrap", "C51 bootstraps from terminal states (their discount 0 replaced by 0.99)",
               "algos/c51.py", "batch.returns, batch.discounts,",
               "batch.returns, torch.where(batch.discounts == 0, 0.99, batch.discounts),", ("tests/test_c51.py",)),
    PlantedBug("a2c_advantage_not_detached", "A2C's policy term trains the critic (the advantage's detach removed)",
               "common/actor_critic.py", "advantages = (returns - values).detach()", "advantages = (returns - values)",
               ("tests/test_returns.py", "tests/test_a2c.py", "tests/test_a3c.py")),
)


def copy_of_tree(destination: Path) -> Path:
    """The committed files of the checkout (git ls-files), copied: the mutations never touch the checkout."""
    listed = subprocess.run(["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    for name in listed.stdout.splitlines():
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target)
    return destination


def run_tests(tree: Path, tests: tuple[str, ...]) -> tuple[int, str, float]:
    """(pytest's exit code, its first failing test or summary line, seconds)."""
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-m", "not slow", "-p", "no:cacheprovider",
                              *tests], cwd=tree, capture_output=True, text=True)
    lines = process.stdout.splitlines()
    failed = [line for line in lines if line.startswith("FAILED ")]
    return process.returncode, (failed[0] if failed else (lines[-1] if lines else "")), time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python tests/mutation_check.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]", help="plant only these bugs")
    parser.add_argument("--output", type=Path, default=None, help="write the result as Markdown here")
    args = parser.parse_args(argv)
    bugs = [bug for bug in BUGS if args.only is None or bug.name in args.only.split(",")]
    rows, survived = [], []
    with tempfile.TemporaryDirectory() as scratch:
        tree = copy_of_tree(Path(scratch) / "tree")
        tests = tuple(dict.fromkeys(test for bug in bugs for test in bug.tests))
        code, summary, seconds = run_tests(tree, tests)
        print(f"unmutated: exit {code}, {summary} ({seconds:.0f} s)", flush=True)
        if code != 0:
            print("the tests fail without a planted bug: nothing can be concluded", file=sys.stderr)
            return 2
        for bug in bugs:
            path = tree / bug.file
            original = path.read_text()
            if original.count(bug.old) != 1:
                print(f"{bug.name}: its anchor is not in {bug.file} exactly once; update the list", file=sys.stderr)
                return 2
            path.write_text(original.replace(bug.old, bug.new))
            code, summary, seconds = run_tests(tree, bug.tests)
            path.write_text(original)
            caught = code != 0
            if not caught:
                survived.append(bug.name)
            verdict = "caught" if caught else "SURVIVED"
            print(f"{bug.name}: {verdict} in {seconds:.0f} s: {summary}", flush=True)
            rows.append(f"| `{bug.name}` | {bug.what} | `{bug.file}` | {', '.join(bug.tests)} | {verdict} | "
                        f"{summary.removeprefix('FAILED ')} | {seconds:.0f} s |")
    if args.output:
        args.output.write_text("\n".join([
            "# Mutation check: do the tests catch realistic bugs in the core math?", "",
            f"`python tests/mutation_check.py --output {args.output}` on {time.strftime('%Y-%m-%d')}: each bug planted "
            "alone in a copy of the committed tree, then `pytest -x -m \"not slow\"` on its tests. The unmutated "
            "copy passed them first.", "",
            "| bug | what | file | tests | result | first failing test | time |", "|---|---|---|---|---|---|---|",
            *rows, "", f"{len(rows) - len(survived)} of {len(rows)} caught."]) + "\n")
    print(f"{len(rows) - len(survived)} of {len(rows)} planted bugs caught" +
          (f"; survived: {', '.join(survived)}" if survived else ""))
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
