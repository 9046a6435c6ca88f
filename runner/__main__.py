"""Run the experiment grid: every (variant, environment, seed) of every spec at one budget tier.

Finished runs are skipped and interrupted ones continue from their last checkpoint, so a killed
sweep resumes where it stopped when started again.
A run that crashes is recorded with its traceback and the others go on; the exit code is 1
when any run failed, 2 when the input (a spec or an option) is wrong, 0 otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from tqdm import tqdm

from common.rundir import git_commit
from runner.backends import LocalBackend
from runner.spec import TIERS, SpecError, load_spec
from runner.sweep import forget_other_commits, is_done, plan, resumable, write_plan

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m runner", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("specs", nargs="*", type=Path,
                        help="experiment spec files (default: every experiments/*.yaml)")
    parser.add_argument("--tier", choices=TIERS, default="smoke",
                        help="budget tier: smoke (minutes, checks the pipeline), nightly (learning "
                             "curves that should reach the known result), paper (the paper's budget), reference "
                             "(long comparisons with reference implementations, e.g. ppo_atari_parity); "
                             "specs without the tier are skipped")
    parser.add_argument("--only", default=None, metavar="NAME[,NAME]", help="run only these experiments")
    parser.add_argument("--seeds", type=int, default=None, metavar="N", help="override the tier's number of seeds")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), metavar="N",
                        help="runs at the same time, one process each (default: the number of cores)")
    parser.add_argument("--rerun-other-commits", action="store_true",
                        help="run again the finished (or interrupted) runs that other code made, i.e. whose config.json "
                             "records another git commit than the checkout's: what a nightly regression benchmark "
                             "wants, so that every result it compares comes from the code under test")
    parser.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                        help="results root; runs go to DIR/TIER/EXPERIMENT/ (default: results)")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f"python -m runner: error: {message}", file=sys.stderr)
    sys.exit(2)


def describe(summary: dict) -> str:
    if summary.get("score") is not None:
        return f"score {summary['score']:.1f}, {summary['steps_per_second']:.0f} steps/s"
    error_lines = (summary.get("error") or "").strip().splitlines()
    return error_lines[-1] if error_lines else ""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.workers is None or args.workers < 1:
        fail(f"--workers: expected a positive number, got {args.workers}")
    if args.seeds is not None and args.seeds < 1:
        fail(f"--seeds: expected a positive number, got {args.seeds}")
    paths = args.specs or sorted((PROJECT_ROOT / "experiments").glob("*.yaml"))
    try:
        specs = [load_spec(path) for path in paths]
    except SpecError as error:
        fail(str(error))
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {spec.name for spec in specs})
        if unknown:
            fail(f"--only: expected experiment names from {[s.name for s in specs]}, got {unknown}")
        specs = [spec for spec in specs if spec.name in wanted]
    chosen = bool(args.specs or args.only)
    for spec in specs:
        if args.tier not in spec.tiers and chosen:
            fail(f"{spec.path}: tiers: expected a {args.tier!r} tier (the spec has {list(spec.tiers)})")
        if args.tier not in spec.tiers:  # every spec was asked for: one without this tier has nothing to run in it
            print(f"{spec.name}: no {args.tier!r} tier (it has {list(spec.tiers)}); skipped")
    specs = [spec for spec in specs if args.tier in spec.tiers]

    jobs = []
    for spec in specs:
        spec_jobs = plan(spec, args.tier, args.results, args.seeds)
        write_plan(spec, args.tier, args.results, spec_jobs)
        jobs += spec_jobs
    commit = git_commit() if args.rerun_other_commits else None
    pending = [job for job in jobs if not is_done(job, commit)]
    if commit is not None:
        for job in pending:
            forget_other_commits(job, commit)
    continuing = sum(resumable(job) for job in pending)
    print(f"{len(jobs)} runs in tier {args.tier!r}: {len(jobs) - len(pending)} already finished, "
          f"{len(pending)} to run ({continuing} continuing from a checkpoint) on {args.workers} worker(s)")

    failed = []
    progress = tqdm(total=len(pending), unit="run", desc="sweep", dynamic_ncols=True)

    def on_done(job, summary) -> None:
        status = summary["status"]
        progress.write(f"  {status:9s} {job.experiment}/{job.variant}/{job.env_id}/seed {job.seed}: {describe(summary)}")
        if status == "failed":
            failed.append(job)
        progress.update(1)

    try:
        LocalBackend(args.workers).run(pending, on_done)
    except KeyboardInterrupt:
        progress.close()
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
    progress.close()
    if failed:
        print(f"{len(failed)} run(s) failed; their tracebacks are in summary.json and log.txt:", file=sys.stderr)
        for job in failed:
            print(f"  {job.run_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
