"""Re-evaluate a trained run without retraining: under another protocol, with more episodes, another
evaluation epsilon or seed; or recompute its score under another score rule. One run can so serve the
evaluation protocols of two papers (e.g. DQN Nature's 5-minute games with epsilon 0.05, and the
30-minute no-op games of the C51 table).

    python -m runner.evaluate RUN_DIR [--env-protocol P] [--episodes N] [--eval-epsilon E] [--seed S]
    python -m runner.evaluate RUN_DIR --score-rule RULE

Evaluation plays the policy saved in RUN_DIR/checkpoint.pt (the last checkpoint: the end of training for
a finished run) exactly as training evaluated it (the same `act`: greedy or sampled as the run's config
says, observation normalisation frozen), through `envs.evaluate`, on CPU. Each option defaults to the
run's own setting; the environments are seeded from --seed as a run seeds its first evaluation, and
torch, numpy and Python are seeded from it too, so the same command gives the same returns.

--score-rule recomputes the run's score from its metrics.csv and eval.csv (no playing, no checkpoint).

Results are written atomically beside the run, in RUN_DIR/reevaluations/: the protocol record, the
returns, their mean and std, epsilon, seed, the checkpoint's step and the git commits of the run and of
this evaluation. Exit code 2 when the input is wrong (no run, no checkpoint, a protocol whose spaces
differ from the run's).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from pathlib import Path

import numpy as np
import torch

import algos
import envs
from common.config import SCORE_RULES, config_from_dict
from common.rundir import CHECKPOINT, compute_score, git_commit
from core.errors import ConfigError
from core.files import write_json

OUTPUT_DIR = "reevaluations"
EVALUATION_OPTIONS = ("env_protocol", "episodes", "eval_epsilon", "seed")


class BadInput(Exception):
    """What the user asked for cannot be done; the message says why and what to do."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runner.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR",
                        help="a run directory: config.json and checkpoint.pt (a sweep's .../seed_N or a CLI run)")
    parser.add_argument("--env-protocol", metavar="P", default=None,
                        help="protocol to evaluate under, with options, e.g. dqn2015:eval_max_episode_frames=108000 "
                             "(default: the run's); it must keep the run's observation and action spaces")
    parser.add_argument("--episodes", type=int, metavar="N", default=None,
                        help="whole episodes to play (default: the run's eval_episodes)")
    parser.add_argument("--eval-epsilon", type=float, metavar="E", default=None,
                        help="probability of replacing an action by a random one (default: the run's eval_epsilon)")
    parser.add_argument("--seed", type=int, metavar="S", default=None, help="evaluation seed (default: the run's seed)")
    parser.add_argument("--score-rule", choices=sorted(SCORE_RULES), default=None,
                        help="instead of playing: recompute the run's score under this rule from its logs "
                             "(" + "; ".join(f"{name}: {text}" for name, text in SCORE_RULES.items()).replace("%", "%%")
                             + ")")
    args = parser.parse_args(argv)
    if args.score_rule is not None and any(getattr(args, name) is not None for name in EVALUATION_OPTIONS):
        parser.error("--score-rule recomputes the score from the run's logs; it takes none of "
                     "--env-protocol, --episodes, --eval-epsilon, --seed")
    if args.episodes is not None and args.episodes < 1:
        parser.error(f"--episodes: expected a positive number of episodes, got {args.episodes}")
    if args.eval_epsilon is not None and not 0.0 <= args.eval_epsilon <= 1.0:
        parser.error(f"--eval-epsilon: expected a probability in [0, 1], got {args.eval_epsilon}")
    return args


def read_run_config(run_dir: Path) -> dict:
    path = run_dir / "config.json"
    if not path.is_file():
        raise BadInput(f"{path} does not exist: RUN_DIR must be a run directory (it holds config.json)")
    return json.loads(path.read_text())


def load_checkpoint(run_dir: Path) -> dict:
    path = run_dir / CHECKPOINT
    if not path.is_file():
        raise BadInput(f"{path} does not exist: the run saved no checkpoint (runs save one after every evaluation; "
                       "one made before checkpoints existed must be trained again)")
    return torch.load(path, weights_only=False, map_location="cpu")  # evaluation runs on CPU, wherever it trained


def file_name(protocol: str, episodes: int, epsilon: float, seed: int) -> str:
    """e.g. dqn2015_eval_max_episode_frames=108000__episodes-30__epsilon-0.05__seed-1.json"""
    name, _, options = protocol.partition(":")
    protocol_part = "_".join([name, *filter(None, options.split(","))])
    return f"{protocol_part}__episodes-{episodes}__epsilon-{epsilon:g}__seed-{seed}.json"


def reevaluate(run_dir: Path, protocol: str | None, episodes: int | None, epsilon: float | None,
               seed: int | None) -> tuple[Path, dict]:
    """Play the run's checkpoint; return where the result was written and the result."""
    run_config = read_run_config(run_dir)
    checkpoint = load_checkpoint(run_dir)
    module = algos.load(checkpoint["algo"])
    config = config_from_dict(module.Config, {**checkpoint["config"], "device": "cpu"})
    protocol = config.env_protocol if protocol is None else protocol
    episodes = config.eval_episodes if episodes is None else episodes
    epsilon = config.eval_epsilon if epsilon is None else epsilon
    seed = checkpoint["seed"] if seed is None else seed
    try:
        trained_on = envs.resolve(config.env_id, config.env_protocol)
        environment = envs.resolve(config.env_id, protocol)
    except ConfigError as error:
        raise BadInput(f"--env-protocol: {error}") from None
    if protocol != config.env_protocol and (new_spaces := envs.spaces(environment)) != (run_spaces := envs.spaces(trained_on)):
        raise BadInput(f"--env-protocol {protocol} gives observation and action spaces {new_spaces}, the run "
                       f"trained on {run_spaces}: its network cannot play them")
    options = protocol.partition(":")[2]
    protocol = environment.protocol.name + (f":{options}" if options else "")  # "default" named
    torch.set_num_threads(config.torch_threads)
    torch.manual_seed(seed)  # a policy that samples its actions repeats too
    np.random.seed(seed)
    random.seed(seed)
    act = module.policy_from_checkpoint(config, environment, checkpoint["algorithm"])
    print(f"evaluating {run_dir} (step {checkpoint['step']:,}) on {config.env_id} under {protocol}: "
          f"{episodes} episodes, epsilon {epsilon:g}, seed {seed}", file=sys.stderr, flush=True)
    returns = envs.evaluate(act, environment, episodes, seed, round_index=0, epsilon=epsilon)
    result = {
        "run_dir": str(run_dir), "algo": checkpoint["algo"], "env_id": config.env_id, "env_protocol": protocol,
        "protocol": environment.record, "checkpoint_step": checkpoint["step"], "episodes": episodes,
        "returns": returns, "mean": float(np.mean(returns)), "std": float(np.std(returns)), "epsilon": epsilon,
        "seed": seed, "eval_deterministic": config.eval_deterministic, "git_commit": git_commit(),
        "run_git_commit": run_config.get("git_commit"),
    }
    path = run_dir / OUTPUT_DIR / file_name(protocol, episodes, epsilon, seed)
    path.parent.mkdir(exist_ok=True)
    write_json(path, result)
    return path, result


def read_rows(path: Path, column: str) -> list[tuple[int, float]]:
    if not path.is_file():
        return []
    with open(path, newline="") as handle:
        return [(int(row["step"]), float(row[column])) for row in csv.DictReader(handle)]


def rescore(run_dir: Path, rule: str) -> tuple[Path, dict]:
    """The run's score under another score rule, from its logs; return where it was written and the result."""
    run_config = read_run_config(run_dir)
    episodes = read_rows(run_dir / "metrics.csv", "return")
    evals = read_rows(run_dir / "eval.csv", "mean")
    total_steps = run_config["hyperparameters"]["total_steps"]
    score = compute_score(rule, total_steps, [episode_return for _, episode_return in episodes], evals)
    summary_path = run_dir / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    result = {
        "run_dir": str(run_dir), "algo": run_config["algo"], "env_id": run_config["env_id"], "score_rule": rule,
        "score_rule_text": SCORE_RULES[rule], "score": None if np.isnan(score) else score,
        "run_status": summary.get("status", "unfinished"), "run_score_rule": run_config["hyperparameters"]["score_rule"],
        "run_score": summary.get("score"), "training_episodes": len(episodes), "evaluations": len(evals),
        "git_commit": git_commit(), "run_git_commit": run_config.get("git_commit"),
    }
    path = run_dir / OUTPUT_DIR / f"score__{rule}.json"
    path.parent.mkdir(exist_ok=True)
    write_json(path, result)
    return path, result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if args.score_rule is not None:
            path, result = rescore(args.run_dir, args.score_rule)
            score = "no score (nothing to average)" if result["score"] is None else f"score {result['score']:.2f}"
            print(f"{result['env_id']}: {score} under {args.score_rule} (the run's {result['run_score_rule']}: "
                  f"{result['run_score']}) -> {path}")
        else:
            path, result = reevaluate(args.run_dir, args.env_protocol, args.episodes, args.eval_epsilon, args.seed)
            print(f"{result['env_id']} under {result['env_protocol']}: mean {result['mean']:.2f} +- {result['std']:.2f} "
                  f"over {result['episodes']} episodes -> {path}")
    except BadInput as error:
        print(f"python -m runner.evaluate: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
