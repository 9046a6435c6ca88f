"""Training throughput and peak memory of every algorithm, and Stable-Baselines3 at identical
hyperparameters on CartPole as a yardstick (ratio ours / theirs).

    python -m benchmarks.algo_throughput [--only a2c,ppo] [--output results/benchmarks/algo_throughput.md]

Each row is one fresh process (so peak RSS is that run's own) training for a fixed number of steps
with one evaluation episode at the end; steps/s counts training only (summary.json excludes
evaluation time). Not a test: the numbers depend on the machine and its load, so every row shows the
1-minute load average before it started. A3C's peak RSS adds up its worker processes' peaks.

Before and after: each row also shows the steps/s of the same (algorithm, environment) in the table the run
replaces (the --output file as committed), and the ratio now / then. PPO on CartPole at CleanRL ppo.py's
settings is compared with CleanRL's figure from a manual run (CleanRL is not installable at our pins).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.ppo_step_breakdown import CLEANRL_CARTPOLE, CLEANRL_STEPS_PER_SECOND
from core.files import write_atomic

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# (algorithm, env id, training steps, overrides): paper settings unless the row says otherwise
CASES = [
    ("a2c", "CartPole-v1", 50_000, {}),
    ("a2c", "MinAtar/Breakout-v1", 20_000, {}),
    ("a2c", "ALE/Pong-v5", 2_000, {}),
    ("ppo", "CartPole-v1", 50_000, {}),
    ("ppo", "MinAtar/Breakout-v1", 20_000, {}),
    ("ppo", "ALE/Pong-v5", 2_048, {}),
    ("a3c", "CartPole-v1", 50_000, {"workers": 2}),
    ("a3c", "MinAtar/Breakout-v1", 20_000, {"workers": 2}),
    ("a3c", "ALE/Pong-v5", 2_000, {"workers": 2}),
    ("dqn", "CartPole-v1", 50_000, {}),
    ("dqn", "MinAtar/Breakout-v1", 20_000, {}),
    ("dqn", "ALE/Pong-v5", 5_000, {"learning_starts": 1_000}),  # so that updates happen; the 1M buffer is kept
    ("c51", "CartPole-v1", 50_000, {}),
    ("c51", "MinAtar/Breakout-v1", 20_000, {}),
    ("c51", "ALE/Pong-v5", 5_000, {"learning_starts": 1_000}),
    ("ddpg", "dmc/cartpole-swingup", 5_000, {}),
    ("ddpg", "HalfCheetah-v5", 5_000, {}),
    ("d4pg", "dmc/cartpole-swingup", 20_000, {}),  # one update per 8 env steps (samples_per_insert 32, batch 256)
    # MuJoCo's returns have no known range: D4PG asks for its support (HalfCheetah: up to ~12 reward a step)
    ("d4pg", "HalfCheetah-v5", 20_000, {"v_min": -200.0, "v_max": 1200.0}),
    ("sac", "dmc/cartpole-swingup", 5_000, {"learning_starts": 1_000}),  # so that most steps update
    ("sac", "HalfCheetah-v5", 5_000, {"learning_starts": 1_000}),
]

# Identical settings on both sides: OpenAI Baselines' A2C with separate 64-64 tanh networks (SB3's
# default architecture) and a constant learning rate (SB3's default schedule).
A2C_CARTPOLE = {"num_envs": 16, "n_steps": 5, "learning_rate": 7e-4, "anneal_lr": False, "discount": 0.99,
                "entropy_coef": 0.01, "value_coef": 0.5, "max_grad_norm": 0.5, "rmsprop_alpha": 0.99,
                "rmsprop_eps": 1e-5, "shared_network": False}
# rl-zoo's tuned CartPole-v1 PPO (our `classic` preset) with advantages standardised per minibatch,
# as SB3 does; SB3's value loss is the unhalved squared error, as ours.
PPO_CARTPOLE = {"preset": "classic", "num_envs": 8, "n_steps": 32, "epochs": 20, "minibatch_size": 256,
                "learning_rate": 1e-3, "anneal_lr": True, "clip_range": 0.2, "anneal_clip": True, "discount": 0.98,
                "gae_lambda": 0.8, "value_coef": 0.5, "entropy_coef": 0.0, "max_grad_norm": 0.5, "adam_eps": 1e-5,
                "normalize_advantages": "minibatch", "shared_network": False}
# CleanRL ppo.py's defaults; SB3's clipped value loss (clip_range_vf) clips the prediction where CleanRL takes the
# larger of the clipped and unclipped errors: the same arithmetic per minibatch, not the same numbers.
PPO_CLEANRL = {key: value for key, value in CLEANRL_CARTPOLE.items() if key != "env_id"}
# rl-zoo's tuned CartPole-v1 DQN (hyperparams/dqn.yml; our classic preset differs), every setting spelled out.
DQN_CARTPOLE = {"preset": "classic", "buffer_size": 100_000, "batch_size": 64, "learning_starts": 1_000,
                "train_frequency": 256, "gradient_steps": 128, "target_update_period": 10, "discount": 0.99, "n_step": 1,
                "final_epsilon": 0.04, "epsilon_anneal_steps": 8_000, "anneal_after_learning_starts": False,
                "optimizer": "adam", "learning_rate": 2.3e-3, "adam_eps": 1e-8, "max_grad_norm": 10.0,
                "hidden_layers": 2, "hidden_size": 256}
# SAC: the paper's Table 1 on both sides (SB3's SAC defaults agree: 256-256 ReLU, Adam 3e-4, batch 256, tau 0.005,
# one update per env step, learned temperature with target entropy -|A|); fewer random steps, so most steps update.
SAC_HALFCHEETAH = {"learning_starts": 1_000, "batch_size": 256, "hidden_size": 256, "learning_rate": 3e-4}
# DDPG: the paper's networks (400-300), minibatch 64 and one update per env step on both sides. Not the same
# on both sides, and not what a step costs: SB3 takes one learning rate for both networks and feeds the
# action to the critic's first layer (ours: its second, as the paper).
DDPG_HALFCHEETAH = {"learning_starts": 1_000, "batch_size": 64, "first_layer_units": 400, "second_layer_units": 300}
# The rows marked sb3_default_threads leave SB3 at torch's default thread count, as it runs out of the box.
COMPARISONS = [("a2c", "CartPole-v1", 50_000, "Baselines A2C", A2C_CARTPOLE),
               ("a2c", "CartPole-v1", 50_000, "Baselines A2C", {**A2C_CARTPOLE, "sb3_default_threads": True}),
               ("ppo", "CartPole-v1", 50_000, "rl-zoo", PPO_CARTPOLE),
               ("ppo", "CartPole-v1", 50_000, "rl-zoo", {**PPO_CARTPOLE, "sb3_default_threads": True}),
               ("ppo", "CartPole-v1", 50_000, "CleanRL ppo.py", PPO_CLEANRL),
               ("dqn", "CartPole-v1", 50_000, "rl-zoo", DQN_CARTPOLE),
               ("dqn", "CartPole-v1", 50_000, "rl-zoo", {**DQN_CARTPOLE, "sb3_default_threads": True}),
               ("sac", "HalfCheetah-v5", 5_000, "SAC Table 1", SAC_HALFCHEETAH),
               ("ddpg", "HalfCheetah-v5", 5_000, "DDPG paper", DDPG_HALFCHEETAH)]


def run_ours(algo: str, env_id: str, steps: int, overrides: dict) -> dict:
    with tempfile.TemporaryDirectory() as run_dir:
        flags = [f"--{key.replace('_', '-')}={value}" for key, value in overrides.items() if not isinstance(value, bool)]
        flags += [f"--{'' if value else 'no-'}{key.replace('_', '-')}" for key, value in overrides.items() if isinstance(value, bool)]
        command = [sys.executable, "-m", f"algos.{algo}", "--env-id", env_id, "--total-steps", str(steps),
                   "--eval-interval", str(10 * steps), "--eval-episodes", "1", "--device", "cpu",
                   "--run-dir", run_dir, *flags]
        process = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
        if process.returncode != 0:
            return {"error": (process.stderr.strip().splitlines() or ["?"])[-1]}
        summary = json.loads((Path(run_dir) / "summary.json").read_text())
        return {"steps_per_second": summary["steps_per_second"], "peak_rss_mb": summary["peak_rss_mb"]}


def run_sb3(algo: str, env_id: str, steps: int, settings: dict) -> dict:
    command = [sys.executable, "-m", "benchmarks.algo_throughput", "--sb3-child", algo, env_id, str(steps), json.dumps(settings)]
    process = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True)
    if process.returncode != 0:
        return {"error": (process.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(process.stdout.strip().splitlines()[-1])


def sb3_child(algo: str, env_id: str, steps: int, settings: dict) -> None:
    """Train Stable-Baselines3 with our hyperparameters translated to its names; print SPS and peak RSS."""
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    if not settings.get("sb3_default_threads"):
        torch.set_num_threads(1)  # as our runs
    if algo == "dqn":
        # SB3's DQN: a hard target copy (tau 1) every target_update_interval env steps, epsilon falling
        # linearly over exploration_fraction of training from step 0, Adam with torch's defaults, ReLU MLP
        model = DQN("MlpPolicy", make_vec_env(env_id, n_envs=1, seed=0), buffer_size=settings["buffer_size"],
                    batch_size=settings["batch_size"], learning_starts=settings["learning_starts"],
                    train_freq=settings["train_frequency"], gradient_steps=settings["gradient_steps"],
                    target_update_interval=settings["target_update_period"], tau=1.0, gamma=settings["discount"],
                    exploration_initial_eps=1.0, exploration_final_eps=settings["final_epsilon"],
                    exploration_fraction=settings["epsilon_anneal_steps"] / steps,
                    learning_rate=settings["learning_rate"], max_grad_norm=settings["max_grad_norm"],
                    policy_kwargs={"net_arch": [settings["hidden_size"]] * settings["hidden_layers"]},
                    device="cpu", seed=0)
    elif algo in ("sac", "ddpg"):
        model = sb3_off_policy(algo, env_id, settings)
    else:
        model = sb3_actor_critic(algo, env_id, settings)
    start = time.perf_counter()
    model.learn(total_timesteps=steps)
    print(json.dumps({"steps_per_second": steps / (time.perf_counter() - start),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def sb3_off_policy(algo: str, env_id: str, settings: dict):
    import numpy as np
    from stable_baselines3 import DDPG, SAC
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import OrnsteinUhlenbeckActionNoise

    env = make_vec_env(env_id, n_envs=1, seed=0)
    common = dict(policy="MlpPolicy", env=env, learning_starts=settings["learning_starts"],
                  batch_size=settings["batch_size"], train_freq=1, gradient_steps=1, device="cpu", seed=0)
    if algo == "sac":
        return SAC(**common, learning_rate=settings["learning_rate"], tau=0.005, gamma=0.99,
                   policy_kwargs={"net_arch": [settings["hidden_size"]] * 2})
    actions = env.action_space.shape[0]
    noise = OrnsteinUhlenbeckActionNoise(np.zeros(actions), 0.2 * np.ones(actions), theta=0.15)
    return DDPG(**common, tau=0.001, gamma=0.99, action_noise=noise,
                policy_kwargs={"net_arch": [settings["first_layer_units"], settings["second_layer_units"]]})


def sb3_actor_critic(algo: str, env_id: str, settings: dict):
    import torch
    from stable_baselines3 import A2C, PPO
    from stable_baselines3.common.env_util import make_vec_env

    common = dict(policy="MlpPolicy", env=make_vec_env(env_id, n_envs=settings["num_envs"], seed=0),
                  n_steps=settings["n_steps"], gamma=settings["discount"], ent_coef=settings["entropy_coef"],
                  vf_coef=settings["value_coef"], max_grad_norm=settings["max_grad_norm"], device="cpu", seed=0,
                  policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}, "activation_fn": torch.nn.Tanh})
    if algo == "a2c":
        model = A2C(**common, learning_rate=settings["learning_rate"], gae_lambda=1.0, use_rms_prop=True,
                    rms_prop_eps=settings["rmsprop_eps"], normalize_advantage=False)
    elif algo == "ppo":
        # SB3 calls a schedule with the fraction of training left, 1 -> 0: our alpha
        def annealed(value: float, anneal: bool):
            return (lambda remaining: remaining * value) if anneal else value
        model = PPO(**common, learning_rate=annealed(settings["learning_rate"], settings["anneal_lr"]),
                    clip_range=annealed(settings["clip_range"], settings["anneal_clip"]),
                    batch_size=settings["minibatch_size"], n_epochs=settings["epochs"],
                    gae_lambda=settings["gae_lambda"], normalize_advantage=True,
                    clip_range_vf=settings["clip_range"] if settings.get("clip_value_loss") else None)
    else:
        raise ValueError(f"no Stable-Baselines3 translation for {algo}")
    return model


def steps_per_second_before(table: Path) -> dict[tuple[str, str], str]:
    """(algorithm, environment) -> steps/s in the first table of an earlier run's Markdown, if there is one."""
    if not table.exists():
        return {}
    before = {}
    for line in table.read_text().split("## ")[0].splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) >= 5 and cells[4].replace(",", "").isdigit():
            before[(cells[0], cells[1])] = cells[4]
    return before


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.algo_throughput", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=None, help="comma-separated algorithms (default: all)")
    parser.add_argument("--output", type=Path, default=PROJECT_ROOT / "results/benchmarks/algo_throughput.md")
    parser.add_argument("--sb3-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.sb3_child:
        algo, env_id, steps, settings = args.sb3_child
        return sb3_child(algo, env_id, int(steps), json.loads(settings))
    wanted = set(args.only.split(",")) if args.only else None
    before = steps_per_second_before(args.output)
    dated = [word for word in (args.output.read_text().split() if args.output.exists() else []) if word[:4].isdigit()
             and word.count("-") == 2]
    before_date = dated[0].rstrip(";,.") if dated else None

    lines = ["# Training throughput and peak memory", "",
             f"`python -m benchmarks.algo_throughput` on {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}; "
             "one fresh process per row, torch on 1 thread per process, CPU. Steps/s counts training only. "
             "'defaults' is the algorithm's preset for the environment family (the paper's on Atari; "
             "see each algorithm's --help).", "",
             f"Before: the table this one replaced ({before_date or 'none'}).", "",
             "| algorithm | environment | steps | settings | steps/s | peak RSS MB | load before | steps/s before | "
             "now / before |", "|---|---|---|---|---|---|---|---|---|"]
    for algo, env_id, steps, overrides in CASES:
        if wanted and algo not in wanted:
            continue
        load = os.getloadavg()[0]
        result = run_ours(algo, env_id, steps, overrides)
        then = before.get((algo, env_id))
        ratio = (f"{result['steps_per_second'] / float(then.replace(',', '')):.2f}x"
                 if then and "error" not in result else "")
        row = (f"| {algo} | {env_id} | {steps:,} | {overrides or 'defaults'} | "
               + (f"{result['steps_per_second']:,.0f} | {result['peak_rss_mb']:,.0f} |" if "error" not in result
                  else f"failed: {result['error']} | |") + f" {load:.2f} | {then or ''} | {ratio} |")
        print(row, flush=True)
        lines.append(row)

    lines += ["", "## Against Stable-Baselines3 at identical hyperparameters", "",
              "| algorithm | environment | steps | settings | SB3 torch threads | ours steps/s | SB3 steps/s | ours / SB3 "
              "| ours MB | SB3 MB | load before |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    against_cleanrl = None
    for algo, env_id, steps, label, settings in COMPARISONS:
        if wanted and algo not in wanted:
            continue
        load = os.getloadavg()[0]
        ours_settings = {key: value for key, value in settings.items() if key != "sb3_default_threads"}
        ours, theirs = run_ours(algo, env_id, steps, ours_settings), run_sb3(algo, env_id, steps, settings)
        threads = f"torch default ({os.cpu_count()})" if settings.get("sb3_default_threads") else "1, as ours"
        if "error" in ours or "error" in theirs:
            row = f"| {algo} | {env_id} | {steps:,} | {label} | {threads} | {ours} | {theirs} | | | | {load:.2f} |"
        else:
            row = (f"| {algo} | {env_id} | {steps:,} | {label} | {threads} | {ours['steps_per_second']:,.0f} | "
                   f"{theirs['steps_per_second']:,.0f} | {ours['steps_per_second'] / theirs['steps_per_second']:.1f}x | "
                   f"{ours['peak_rss_mb']:,.0f} | {theirs['peak_rss_mb']:,.0f} | {load:.2f} |")
        print(row, flush=True)
        lines.append(row)
        if settings is PPO_CLEANRL and "error" not in ours:
            against_cleanrl = ours["steps_per_second"]
    if against_cleanrl is not None:
        lines += ["", "## Against CleanRL", "",
                  f"PPO on CartPole-v1 at CleanRL ppo.py's settings: ours {against_cleanrl:,.0f} steps/s (the row above), "
                  f"CleanRL {CLEANRL_STEPS_PER_SECOND:,} in a manual run on this machine (2026-11-29, one torch thread): "
                  f"{against_cleanrl / CLEANRL_STEPS_PER_SECOND:.2f}x. `python -m benchmarks.ppo_step_breakdown` shows "
                  "where our step's time goes."]
    settings_by_label = {(algo, label): {k: v for k, v in settings.items() if k != "sb3_default_threads"}
                         for algo, _, _, label, settings in COMPARISONS if not wanted or algo in wanted}
    lines += ["", "Hyperparameters of the comparison rows, the same on both sides:", "",
              *(f"- {algo}, {label}: `{settings}`" for (algo, label), settings in settings_by_label.items())]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.output, "\n".join(lines) + "\n")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
