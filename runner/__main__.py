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
import time
from pathlib import Path

from tqdm import tqdm

from common.rundir import git_commit, uncommitted_changes
from runner.backends import LocalBackend
from runner.resources import run_cores, run_resources
from runner.spec import SPECS_DIR, TIERS, SpecError, load_spec
from runner.sweep import SweepRecord, forget_other_commits, is_done, plan, resumable, write_plan

LOG_STATUS_SECONDS = 60
RECORDED_TIERS = ("nightly", "reference", "paper", "controls")  # committed results and baselines: made at a clean tree only



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
    parser.add_argument("--variants", default=None, metavar="NAME[,NAME]",
                        help="run only these variants of the chosen experiments, to fill a long tier in the order you "
                             "choose; the plan and the report still list every run, the others as not run yet")
    parser.add_argument("--seeds", type=int, default=None, metavar="N", help="override the tier's number of seeds")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), metavar="N",
                        help="cores the runs may keep busy at once (default: the number of cores): each run starts when "
                             "its declared cores fit (one each; A3C's and async Q's workers; D4PG's actors plus its "
                             "learner; or the spec's resources.cpus), in the sweep's order but a run that fits before "
                             "one that waits for more cores; a 2-worker A3C run on 2 cores runs alone")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where runs execute: local (one OS process per run on this machine) or ray (one Ray "
                             "task per run on a cluster; docs/ray.md)")
    parser.add_argument("--address", default=None, metavar="auto|HOST:PORT",
                        help="ray: the cluster to join (auto: the one `ray start` made on this machine); without it "
                             "a Ray instance with --workers CPUs is started here")
    parser.add_argument("--retries", type=int, default=3, metavar="N",
                        help="ray: how many times a run lost with its node is started again, from its last "
                             "checkpoint (default: %(default)s)")
    parser.add_argument("--shared-fs", action="store_true",
                        help="ray: every node sees the results directory at the same path, so runs write in place "
                             "(default: runs work on their node and send their files to the driver)")
    parser.add_argument("--rerun-other-commits", action="store_true",
                        help="run again the finished (or interrupted) runs that other code made, i.e. whose config.json "
                             "records another git commit than the checkout's: what a nightly regression benchmark "
                             "wants, so that every result it compares comes from the code under test")
    parser.add_argument("--allow-dirty", action="store_true",
                        help="run the nightly, reference, paper or controls tier from a tree with uncommitted changes (refused "
                             "otherwise): its runs record <commit>-dirty, never enter the history and cannot be "
                             "accepted as a baseline")
    parser.add_argument("--results", type=Path, default=Path("results"), metavar="DIR",
                        help="results root; runs go to DIR/TIER/EXPERIMENT/ (default: results)")
    return parser.parse_args(argv)


def fail(message: str) -> None:
    print(f"python -m runner: error: {message}", file=sys.stderr)
    sys.exit(2)


def refuse_dirty_tree(tier: str) -> None:
    """The nightly, reference and paper tiers make results that are committed and compared later: their code must
    be a commit that can be checked out again."""
    changes = uncommitted_changes()
    if changes is None:
        fail(f"--tier {tier}: expected a git checkout, so that every run records the commit it was made at "
             "(--allow-dirty runs anyway, and nothing it makes enters the history)")
    if changes:
        shown = "\n  ".join(changes[:20]) + (f"\n  ... and {len(changes) - 20} more" if len(changes) > 20 else "")
        fail(f"--tier {tier}: the tree has uncommitted changes, so its runs could not be checked out again:\n  {shown}"
             "\ncommit (or stash) them first; --allow-dirty runs anyway, and its runs are recorded as <commit>-dirty, "
             "left out of the history and never accepted as a baseline")


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
    if args.retries < 0:
        fail(f"--retries: expected 0 or more, got {args.retries}")
    if args.backend != "ray" and (args.address or args.shared_fs):
        fail("--address and --shared-fs: expected only with --backend ray")
    paths = args.specs or sorted(SPECS_DIR.glob("*.yaml"))
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
    variants = args.variants.split(",") if args.variants else None
    if variants:
        known = {variant.name for spec in specs for variant in spec.variants}
        unknown = sorted(set(variants) - known)
        if unknown:
            fail(f"--variants: expected variant names of the chosen experiments {sorted(known)}, got {unknown}")
    if args.tier in RECORDED_TIERS and not args.allow_dirty:
        refuse_dirty_tree(args.tier)

    jobs = []
    for spec in specs:
        spec_jobs = plan(spec, args.tier, args.results, args.seeds)
        write_plan(spec, args.tier, args.results, spec_jobs)
        jobs += spec_jobs
    commit = git_commit() if args.rerun_other_commits else None
    chosen_jobs = [job for job in jobs if variants is None or job.variant in variants]
    pending = [job for job in chosen_jobs if not is_done(job, commit)]
    if commit is not None:
        for job in pending:
            forget_other_commits(job, commit)
    continuing = sum(resumable(job) for job in pending)
    others = f" ({len(jobs) - len(chosen_jobs)} of other variants left for later)" if variants else ""
    print(f"{len(jobs)} runs in tier {args.tier!r}: {len(chosen_jobs) - len(pending)} already finished, "
          f"{len(pending)} to run ({continuing} continuing from a checkpoint) on {args.workers} worker(s){others}")

    failed = []
    sweep = SweepRecord(args.tier, [spec.name for spec in specs], len(jobs), len(pending), continuing, args.workers,
                        args.backend, git_commit(), started=time.time())
    progress = tqdm(total=len(pending), unit="run", desc="sweep", dynamic_ncols=True)

    def on_done(job, summary) -> None:
        status = summary["status"]
        progress.write(f"  {status:9s} {job.experiment}/{job.variant}/{job.env_id}/seed {job.seed}: {describe(summary)}")
        if status == "failed":
            failed.append(job)
        progress.update(1)

    try:
        if args.backend == "ray":
            run_on_ray(args, specs, pending, on_done, progress)
        else:
            said = spec_says(args, specs)
            LocalBackend(args.workers, lambda job: said[job.run_dir].get("cpus") or run_cores(job.algo, job.config)
                         ).run(pending, on_done)
    except KeyboardInterrupt:
        progress.close()
        sweep.finish(args.results, len(failed), interrupted=True)
        print("interrupted: finished runs are kept; run the same command again to resume", file=sys.stderr)
        return 130
    progress.close()
    print(f"sweep wall time: {sweep.finish(args.results, len(failed), interrupted=False) / 60:.1f} min")
    if failed:
        print(f"{len(failed)} run(s) failed; their tracebacks are in summary.json and log.txt:", file=sys.stderr)
        for job in failed:
            print(f"  {job.run_dir}", file=sys.stderr)
        return 1
    return 0


def spec_says(args: argparse.Namespace, specs: list) -> dict[str, dict]:
    """run directory -> the resources its spec's tier says it needs (cpus, gpus, memory_gb; any may be missing)."""
    return {job.run_dir: spec.tiers[args.tier].for_variant(job.variant).resources
            for spec in specs for job in plan(spec, args.tier, args.results, args.seeds)}


def run_on_ray(args: argparse.Namespace, specs: list, jobs: list, on_done, progress: tqdm) -> None:
    if not jobs:
        return  # every run has finished: no cluster to reach
    from runner.ray_backend import RayBackend  # Ray is imported only when asked for

    interactive, last_line = sys.stderr.isatty(), [0.0]

    def show(status: dict) -> None:
        left = status["seconds_left"]
        text = (f"done {status['done']}, running {status['running']}, failed {status['failed']}, retried "
                f"{status['retried']}, {status['steps_per_second']:,.0f} steps/s, "
                f"{'?' if left is None else f'{left / 60:,.0f} min'} left")
        if interactive:
            progress.set_postfix_str(text)
        elif time.monotonic() - last_line[0] >= LOG_STATUS_SECONDS:  # a log file gets a line a minute
            last_line[0] = time.monotonic()
            progress.write(f"  status: {text}")

    said = spec_says(args, specs)
    backend = RayBackend(args.address, args.retries, args.shared_fs, lambda job: run_resources(job, said[job.run_dir]),
                         local_cpus=args.workers)
    backend.run(jobs, on_done, show)


if __name__ == "__main__":
    sys.exit(main())
