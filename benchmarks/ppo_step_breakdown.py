"""Where one PPO environment step's time goes on CartPole at CleanRL ppo.py's settings, measured inside a real
training run of algos.ppo, one torch thread.

    python -m benchmarks.ppo_step_breakdown [--steps 100000] [--output results/benchmarks/ppo_step_breakdown.md]

The run is ppo.train itself; the benchmark only wraps, for the run's duration, the calls it times: the vector
env's step, the acting policy, the minibatch's backward pass, the gradient-norm clipping and Adam's step.
Everything else in the loop (the forward pass and loss of each minibatch, the pass that gives pi_old and V_old,
GAE, batching, logging) is the remainder of the update. A second run of the same seed counts the aten
operations each part dispatches (a TorchDispatchMode: counting slows that run, so it is not timed); times the
cost of dispatching one trivial operation, that count is the dispatch floor of the part, what eager PyTorch
cannot go below however little Python surrounds it. The remainder of a part above its floor is Python,
autograd bookkeeping and the operations' own (tiny) arithmetic.

CleanRL is not installable at our pins: its figure is the one the project guide records from a manual run on
this machine (2026-11-29, one torch thread, identical settings). Not a test: numbers depend on the machine and
its load (the load is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

import gymnasium as gym
import torch
from torch import nn

import algos
from benchmarks import publish
from benchmarks.update_floor import OperationCounter, trivial_operation_seconds
from common.config import config_from_dict

# CleanRL ppo.py's defaults (cleanrl/ppo.py, v1.0): 4 envs x 128 steps, 4 minibatches x 4 epochs, Adam 2.5e-4
# annealed, clip 0.2 not annealed, clipped value loss, advantages standardised per minibatch, separate 64-64 tanh
# actor and critic; gamma 0.99, lambda 0.95, c1 0.5, c2 0.01, gradient norm 0.5, Adam eps 1e-5.
CLEANRL_CARTPOLE = dict(env_id="CartPole-v1", preset="classic", num_envs=4, n_steps=128, epochs=4, minibatch_size=128,
                        learning_rate=2.5e-4, anneal_lr=True, clip_range=0.2, anneal_clip=False, discount=0.99,
                        gae_lambda=0.95, value_coef=0.5, entropy_coef=0.01, clip_value_loss=True, max_grad_norm=0.5,
                        normalize_advantages="minibatch", shared_network=False)
CLEANRL_STEPS_PER_SECOND = 9_300  # the project guide, 2026-11-29: CleanRL ppo.py, CartPole-v1, one torch thread
TARGET = 2.0  # issue 14: at least 2x CleanRL
PARTS = ("env step", "acting", "backward", "gradient clipping", "Adam step")


@contextmanager
def wrapped(owner, name: str, around):
    """Replace owner.name with around(original) for the duration."""
    original = getattr(owner, name)
    with mock.patch.object(owner, name, around(original)):
        yield


def instrumented(totals: dict[str, float], counts: dict[str, int] | None) -> ExitStack:
    """Wrap the timed calls: each adds its wall time to totals[part] or, when counting, the aten operations it
    dispatched to counts[part] (operations outside them are counted under "rest" by the caller)."""
    stack = ExitStack()

    def measuring(part: str):
        def around(original):
            def call(*args, **kwargs):
                if counts is not None:
                    with OperationCounter() as counter:
                        result = original(*args, **kwargs)
                    counts[part] += counter.count
                    return result
                start = time.perf_counter()
                result = original(*args, **kwargs)
                totals[part] += time.perf_counter() - start
                return result
            return call
        return around

    ppo = algos.load("ppo")
    stack.enter_context(wrapped(gym.vector.SyncVectorEnv, "step", measuring("env step")))
    stack.enter_context(wrapped(ppo, "acting_policy", lambda make: lambda *a, **k: measuring("acting")(make(*a, **k))))
    stack.enter_context(wrapped(torch.Tensor, "backward", measuring("backward")))
    stack.enter_context(wrapped(nn.utils, "clip_grad_norm_", measuring("gradient clipping")))
    stack.enter_context(wrapped(torch.optim.Adam, "step", measuring("Adam step")))
    return stack


def run(steps: int, counting: bool) -> tuple[dict, dict[str, float], dict[str, int]]:
    """One training run of `steps` at CleanRL's settings: (summary.json, seconds per part, operations per part)."""
    ppo = algos.load("ppo")
    config = config_from_dict(ppo.Config, {**CLEANRL_CARTPOLE, "total_steps": steps, "eval_interval": 10 * steps,
                                           "eval_episodes": 1})
    totals: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    with tempfile.TemporaryDirectory() as directory, instrumented(totals, counts if counting else None):
        if counting:
            with OperationCounter() as everything:
                ppo.train(config, 1, directory)
            counts["all"] = everything.count
        else:
            ppo.train(config, 1, directory)
        summary = json.loads((Path(directory) / "summary.json").read_text())
    return summary, totals, counts


def report(steps: int, summary: dict, seconds: dict[str, float], operations: dict[str, int], dispatch: float) -> str:
    count = summary["steps"]
    training = count / summary["steps_per_second"]  # the loop's own time (summary.json excludes evaluation)
    per_step = lambda value: value / count * 1e6  # noqa: E731  (microseconds per environment step)
    rest = training - sum(seconds[part] for part in PARTS)
    # Nested counters: the whole run's count includes every part's, so "rest" is what no wrapped call dispatched.
    rest_operations = operations["all"] - sum(operations[part] for part in PARTS)
    rows = [(part, seconds[part], operations[part]) for part in PARTS]
    rows.append(("rest of the update (forward + loss, pi_old pass, GAE, batching, logging)", rest, rest_operations))
    floor = sum(per_step(operations[part] * dispatch) for part in PARTS if part != "env step") + per_step(
        rest_operations * dispatch) + per_step(seconds["env step"])
    target = TARGET * CLEANRL_STEPS_PER_SECOND
    lines = ["# Where a PPO step's time goes: CartPole-v1 at CleanRL ppo.py's settings", "",
             f"`python -m benchmarks.ppo_step_breakdown --steps {steps}`, {time.strftime('%Y-%m-%d')}, one torch "
             f"thread, load before {os.getloadavg()[0]:.2f}. One training run of algos.ppo ({count:,} steps, "
             f"{summary['steps_per_second']:,.0f} steps/s; the timed calls add a little to it), and one more of the "
             f"same seed counting aten operations. One trivial operation's dispatch: {dispatch * 1e6:.2f} us.", "",
             "| part | us per env step | share | aten operations per env step | their dispatch, us per env step | "
             "above dispatch: Python, autograd, arithmetic |", "|---|---|---|---|---|---|"]
    for part, spent, dispatched in rows:
        floor_part = per_step(dispatched * dispatch)
        above = "env stepping in Python (gymnasium)" if part == "env step" else f"{per_step(spent) - floor_part:.1f}"
        lines.append(f"| {part} | {per_step(spent):.1f} | {spent / training:.0%} | {dispatched / count:.1f} | "
                     f"{floor_part:.1f} | {above} |")
    lines += [f"| whole step | {per_step(training):.1f} | 100% | {operations['all'] / count:.1f} | "
              f"{per_step(operations['all'] * dispatch):.1f} | |", "",
              f"- CleanRL ppo.py, same settings (manual run, 2026-11-29): {CLEANRL_STEPS_PER_SECOND:,} steps/s = "
              f"{1e6 / CLEANRL_STEPS_PER_SECOND:.1f} us a step.",
              f"- Ours here: {summary['steps_per_second']:,.0f} steps/s = "
              f"{summary['steps_per_second'] / CLEANRL_STEPS_PER_SECOND:.2f}x CleanRL.",
              f"- The issue's target, {TARGET:g}x CleanRL: {target:,.0f} steps/s = {1e6 / target:.1f} us a step.",
              f"- Eager floor (env stepping as it is, every operation at its dispatch cost and nothing else): "
              f"{floor:.1f} us a step = {1e6 / floor:,.0f} steps/s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ppo_step_breakdown",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=100_000, help="training steps of each run (default 100000)")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    if args.steps < 512:
        parser.error(f"--steps: expected at least one rollout (512 steps), got {args.steps}")
    torch.set_num_threads(1)
    summary, seconds, _ = run(args.steps, counting=False)
    _, _, operations = run(args.steps, counting=True)
    text = report(args.steps, summary, seconds, operations, trivial_operation_seconds())
    return publish(text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
