"""The floor under a value-based update: what one DQN/C51 minibatch update costs on one core, part by part,
against the arithmetic it must do at this machine's measured peak.

    python -m benchmarks.update_floor [--env-id MinAtar/Breakout-v1] [--output results/benchmarks/update_floor.md]

Builds the algorithm's own networks, optimizer and loss for the task's preset (no environment steps), then times
each part of an update on random minibatches (median of many repetitions, one torch thread): the online and
target forward passes with the loss, the backward pass, the optimizer step. The floor is the update's
multiply-adds (counted from the layers' shapes: forward of the online network on s, of the target network on
s', backward twice the forward) divided by the multiply-add rate of one large matrix product on one core, the
best this machine does. Not a test: numbers depend on the machine and its load (the load is printed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import algos
import envs
from common.config import config_from_dict
from common.replay import Batch
from common.value_based import discrete_spaces, make_optimizer
from core.files import write_atomic

REPEATS = 300
PIECES = {"dqn": ("QNetwork", "dqn_loss"), "c51": ("CategoricalQNetwork", "c51_loss")}  # network class, loss


def median_seconds(function, repeats: int = REPEATS) -> float:
    for _ in range(10):  # warm-up: allocator and kernels
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_multiply_adds_per_second() -> float:
    """One core's rate on a matrix product large enough to run at full speed."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    return 1024**3 / median_seconds(lambda: a @ b, repeats=30)


def forward_multiply_adds(network: nn.Module, observations: torch.Tensor) -> int:
    """Multiply-adds of one forward pass, counted from the convolutions' and linear layers' output shapes."""
    total = 0

    def count(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        if isinstance(module, nn.Conv2d):
            total += output.numel() * module.in_channels * int(np.prod(module.kernel_size)) // module.groups
        elif isinstance(module, nn.Linear):
            total += output.numel() * module.in_features

    hooks = [module.register_forward_hook(count) for module in network.modules()
             if isinstance(module, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        network(observations)
    for hook in hooks:
        hook.remove()
    return total


def measure(algo: str, env_id: str) -> dict:
    module = algos.load(algo)
    config = config_from_dict(module.Config, {"env_id": env_id})
    torch.set_num_threads(1)
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    env, _ = envs.make(environment, 1, 0)
    space, actions = discrete_spaces(env, env_id)
    env.close()
    network_class, loss_name = (getattr(module, name) for name in PIECES[algo])
    online = network_class(space, actions, config)
    target = network_class(space, actions, config).requires_grad_(False)
    optimizer = make_optimizer(list(online.parameters()), config)
    size = config.batch_size
    observations = torch.rand(size, *space.shape)
    batch = Batch(observations=observations, actions=torch.randint(actions, (size,)), returns=torch.rand(size),
                  next_observations=torch.rand(size, *space.shape), discounts=torch.full((size,), config.discount),
                  weights=torch.ones(size), indices=np.arange(size))

    def forward():
        return loss_name(online, target, batch, config)[0]

    def backward():
        optimizer.zero_grad(set_to_none=True)
        forward().backward()

    backward()
    parts = {"forward (online + target) and loss": median_seconds(forward),
             "forward and backward": median_seconds(backward),
             "optimizer step": median_seconds(optimizer.step)}

    def whole_update():
        backward()
        optimizer.step()

    parts["whole update"] = median_seconds(whole_update)
    multiply_adds = 4 * forward_multiply_adds(online, observations)  # online forward + target forward + 2x backward
    peak = peak_multiply_adds_per_second()
    return {"algo": algo, "env_id": env_id, "batch": size, "optimizer": config.optimizer, "parts": parts,
            "multiply_adds": multiply_adds, "peak": peak, "floor": multiply_adds / peak}


def report(rows: list[dict]) -> str:
    load = os.getloadavg()[0]
    lines = ["# The floor under a value-based update", "",
             f"`python -m benchmarks.update_floor`, {time.strftime('%Y-%m-%d')}, one torch thread, load before "
             f"{load:.2f}. Medians of {REPEATS} repetitions on random minibatches.", "",
             "| algorithm | environment | batch | optimizer | forward + loss | + backward | optimizer step | "
             "whole update | multiply-adds | peak (1 core) | arithmetic floor | update / floor |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        parts = row["parts"]
        lines.append(
            f"| {row['algo']} | {row['env_id']} | {row['batch']} | {row['optimizer']} | "
            f"{parts['forward (online + target) and loss'] * 1e3:.3f} ms | {parts['forward and backward'] * 1e3:.3f} ms | "
            f"{parts['optimizer step'] * 1e3:.3f} ms | {parts['whole update'] * 1e3:.3f} ms | "
            f"{row['multiply_adds'] / 1e6:.1f} M | {row['peak'] / 1e9:.1f} G/s | {row['floor'] * 1e3:.3f} ms | "
            f"{parts['whole update'] / row['floor']:.1f}x |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.update_floor", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env-id", action="append", default=None,
                        help="task (repeatable; default MinAtar/Breakout-v1 and CartPole-v1)")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    rows = [measure(algo, env_id) for env_id in args.env_id or ["MinAtar/Breakout-v1", "CartPole-v1"]
            for algo in ("dqn", "c51")]
    text = report(rows)
    print(text)
    if args.output:
        write_atomic(args.output, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
