"""The commands a new user runs first (issue 18): every `python -m algos.*` command of the README's bash
blocks, and every Python block that trains, is run as written. In CI at a reduced budget: it must run,
complete and write its run directory. In the slow tests at the documented budget, where it must score
what the README says.

The README writes a command's documented score as a comment at the end of its line (in a Python block,
on any of its lines): `# score ~ S`, S being the run's score under its score rule, at the command's seed,
as measured. The slow test requires at least halfway from the random policy's measured score
(results/baselines/random_scores.csv) to S: the command learns, and the README is not out of date.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass

import pytest

from helpers import PROJECT_ROOT, random_score, run_module

README = PROJECT_ROOT / "README.md"
REDUCED_STEPS = 3_000  # environment steps: enough for one update of every algorithm's default batch
DEFAULT_ENV_ID = "CartPole-v1"  # RunConfig's
DOCUMENTED_SCORE = re.compile(r"#.*\bscore ~ (-?[\d,]*\.?\d+)")
ALGORITHM_COMMAND = re.compile(r"(^|\s)\S*python\S*\s+-m\s+algos\.\w+")


@dataclass(frozen=True)
class Example:
    kind: str  # "cli": one command line; "python": one code block
    code: str
    documented_score: float | None

    @property
    def trains(self) -> bool:
        return self.kind == "python" or "--help" not in shlex.split(self.code)

    @property
    def env_id(self) -> str:
        if self.kind == "cli":
            words = shlex.split(self.code)
            return words[words.index("--env-id") + 1] if "--env-id" in words else DEFAULT_ENV_ID
        found = re.search(r"env_id\s*=\s*([\"'])(.+?)\1", self.code)
        return found.group(2) if found else DEFAULT_ENV_ID

    def __str__(self) -> str:  # the test id
        return " ".join(self.code.split())[:110]


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def score_in(text: str) -> float | None:
    found = DOCUMENTED_SCORE.search(text)
    return float(found.group(1).replace(",", "")) if found else None


def readme_examples() -> list[Example]:
    examples = []
    for block in code_blocks("bash"):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if ALGORITHM_COMMAND.search(command):
                examples.append(Example("cli", command.strip(), score_in("#" + comment)))
    examples += [Example("python", block, score_in(block)) for block in code_blocks("python") if ".train(" in block]
    return examples


EXAMPLES = readme_examples()
DOCUMENTED = [example for example in EXAMPLES if example.documented_score is not None]


def run(example: Example, run_dir, total_steps: int | None, timeout: float) -> subprocess.CompletedProcess:
    """The example as the README writes it, writing into run_dir, with its budget replaced by total_steps."""
    if example.kind == "cli":
        words = shlex.split(example.code)
        arguments = words[words.index("-m") + 1:]
        if example.trains:
            arguments = with_option(arguments, "--run-dir", str(run_dir))
            if total_steps is not None:
                arguments = with_option(arguments, "--total-steps", str(total_steps))
        return run_module(*arguments, timeout=timeout)
    code = re.sub(r"run_dir\s*=\s*([\"']).*?\1", f"run_dir={str(run_dir)!r}", example.code)
    if total_steps is not None:
        code = re.sub(r"total_steps\s*=\s*[\d_]+", f"total_steps={total_steps}", code)
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def with_option(arguments: list[str], option: str, value: str) -> list[str]:
    if option in arguments:
        index = arguments.index(option)
        return [*arguments[: index + 1], value, *arguments[index + 2:]]
    return [*arguments, option, value]


def test_the_readme_shows_training_commands_each_with_its_documented_score():
    training = [example for example in EXAMPLES if example.trains]
    assert {example.kind for example in training} == {"cli", "python"}
    undocumented = [str(example) for example in training if example.documented_score is None]
    assert not undocumented, f"add '# score ~ S' (measured) to: {undocumented}"


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_readme_example_runs_at_a_reduced_budget(example, tmp_path):
    process = run(example, tmp_path / "run", REDUCED_STEPS, timeout=600)
    assert process.returncode == 0, process.stderr[-3000:]
    if not example.trains:
        assert "usage:" in process.stdout
        return
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["steps"] >= REDUCED_STEPS
    assert (tmp_path / "run" / "config.json").is_file() and (tmp_path / "run" / "checkpoint.pt").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("example", DOCUMENTED, ids=str)
def test_readme_example_scores_what_the_readme_says(example, tmp_path):
    process = run(example, tmp_path / "run", None, timeout=3 * 3600)
    assert process.returncode == 0, process.stderr[-3000:]
    score = json.loads((tmp_path / "run" / "summary.json").read_text())["score"]
    random = random_score(example.env_id)
    bar = random + (example.documented_score - random) / 2
    assert example.documented_score > random, "a documented score must be above the random policy's"
    assert score >= bar, (f"scored {score:.1f}; the README says ~{example.documented_score:g}, a random policy "
                          f"scores {random:g}, the bar is halfway: {bar:.1f}")
