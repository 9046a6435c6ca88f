"""The Ray backend on a real two-node cluster on this machine's loopback (a head and a second node with
one CPU each): a sweep survives losing the second node mid-run, every run's result comes home exactly
once, finished runs are not rerun, and the run that was lost continues from its checkpoint; and a
sweep through Ray gives the same scores as through local processes, with or without a shared filesystem."""

import json
import re
import subprocess
import sys
import time

import pytest

from helpers import PROJECT_ROOT, write_spec

ray_cluster_utils = pytest.importorskip("ray.cluster_utils")

LONG_STEPS = 100_000  # long enough that both long runs are under way together, one on each node
VARIANTS = {"short": {"algo": "a2c", "overrides": {"num_envs": 4}},
            "long": {"algo": "a2c", "overrides": {"num_envs": 4}}}
TIER = {"total_steps": LONG_STEPS, "seeds": 2, "eval_interval": 2_000, "overrides": {"eval_episodes": 2},
        "variants": {"short": {"total_steps": 2_000, "why": "finishes before the node is lost"}}}


@pytest.fixture(scope="module")
def two_nodes():
    cluster = ray_cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    second = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster, second
    cluster.shutdown()


def sweep(spec, results, *options) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "runner", str(spec), "--results", str(results), *options],
                            cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def long_runs_under_way(runs_dir) -> list:
    """Long runs whose checkpoint reached the driver and that have not finished (a short run's last checkpoint
    also arrives just before its summary: losing it then is no test of resuming)."""
    return [run for run in runs_dir.glob("long/*/seed_*")
            if (run / "checkpoint.pt").exists() and not (run / "summary.json").exists()]


@pytest.mark.integration
def test_a_sweep_survives_losing_a_node(tmp_path, two_nodes):
    cluster, second = two_nodes
    spec = write_spec(tmp_path, variants=VARIANTS, tiers={"smoke": TIER})
    results = tmp_path / "results"
    driver = sweep(spec, results, "--backend", "ray", "--address", cluster.address, "--retries", "2")
    runs_dir = results / "smoke" / "tiny" / "runs"
    deadline = time.monotonic() + 900  # generous: Ray starts slowly on a busy 2-core machine
    # Both long runs are running, one on each node, and each has sent a checkpoint home: lose the second node.
    while len(long_runs_under_way(runs_dir)) < 2:
        assert driver.poll() is None and time.monotonic() < deadline, driver.communicate()[0]
        time.sleep(0.2)
    cluster.remove_node(second, allow_graceful=False)
    output, _ = driver.communicate(timeout=600)
    assert driver.returncode == 0, output

    reported = re.findall(r"completed tiny/(\w+)/CartPole-v1/seed (\d)", output)
    assert sorted(reported) == [("long", "0"), ("long", "1"), ("short", "0"), ("short", "1")], output  # once each
    placements = {}
    for run in runs_dir.glob("*/*/seed_*"):
        summary = json.loads((run / "summary.json").read_text())
        assert summary["status"] == "completed"
        placements[run.parent.parent.name, run.name] = json.loads((run / "placement.json").read_text())["attempts"]
    assert all(len(placements["short", seed]) == 1 for seed in ("seed_0", "seed_1")), placements  # not rerun
    lost = {run: attempts for run, attempts in placements.items() if len(attempts) > 1}
    assert len(lost) == 1 and next(iter(lost))[0] == "long", placements  # the long run on the lost node, only it
    (variant, seed), (first, retry) = next(iter(lost.items()))
    assert first["node"] != retry["node"] and retry["started_at_step"] >= 2_000  # from its checkpoint, not step 0
    resumed = runs_dir / variant / "CartPole-v1" / seed
    assert f"resumed at step {retry['started_at_step']}" in (resumed / "log.txt").read_text()
    evaluations = [int(line.split(",")[0]) for line in (resumed / "eval.csv").read_text().splitlines()[1:]]
    assert evaluations == sorted(set(evaluations)) and evaluations[-1] >= LONG_STEPS  # no step evaluated twice

    again = sweep(spec, results, "--backend", "ray", "--address", cluster.address)  # a driver started again
    output, _ = again.communicate(timeout=300)
    assert again.returncode == 0 and "4 already finished, 0 to run" in output, output


@pytest.mark.integration
def test_ray_and_local_processes_give_the_same_scores(tmp_path, two_nodes):
    cluster, _ = two_nodes
    spec = write_spec(tmp_path, tiers={"smoke": {"total_steps": 2000, "seeds": 1, "eval_interval": 1000,
                                                 "overrides": {"eval_episodes": 2}}})
    scores = {}
    ray_options = ("--backend", "ray", "--address", cluster.address)
    for backend, options in (("local", ()), ("ray", ray_options), ("ray_shared_fs", (*ray_options, "--shared-fs"))):
        process = sweep(spec, tmp_path / backend, *options)
        output, _ = process.communicate(timeout=600)
        assert process.returncode == 0, output
        scores[backend] = {run.relative_to(tmp_path / backend).as_posix(): json.loads(run.read_text())["score"]
                           for run in (tmp_path / backend).rglob("summary.json")}
    assert len(scores["local"]) == 2 and scores["ray"] == scores["local"] == scores["ray_shared_fs"]
    for run in (tmp_path / "ray_shared_fs").rglob("summary.json"):  # written in place, where they ran
        assert len(json.loads((run.parent / "placement.json").read_text())["attempts"]) == 1


@pytest.mark.integration
def test_a_run_waiting_on_the_driver_keeps_its_cores(two_nodes):
    """One more task of one CPU than the cluster has CPUs, each waiting on the driver's actor: never more at
    once than there are CPUs (a plain ray.get would lend a CPU out and let the last one start beside them)."""
    import ray
    from runner.ray_backend import call_home

    cluster, _ = two_nodes
    ray.init(address=cluster.address, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        @ray.remote(num_cpus=0, max_concurrency=4)
        class Driver:
            def wait(self, seconds):
                time.sleep(seconds)

        @ray.remote(num_cpus=1)
        def waiting_run(driver):
            started = time.time()
            call_home(driver.wait.remote(10))  # long enough for a new worker to start
            return started, time.time()

        cpus = int(ray.cluster_resources()["CPU"])  # the node-loss test may have removed the second node
        driver = Driver.remote()
        spans = ray.get([waiting_run.remote(driver) for _ in range(cpus + 1)], timeout=300)
    finally:
        ray.shutdown()
    at_once = max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
    assert at_once == cpus, spans


def test_ray_options_without_the_ray_backend_are_refused(tmp_path):
    process = sweep(write_spec(tmp_path), tmp_path / "results", "--address", "auto")
    assert process.wait(timeout=120) == 2 and "--backend ray" in process.stdout.read()
    assert not (tmp_path / "results").exists()
