"""How fast this machine is right now, measured on a fixed workload: the yardstick a run's speed is read against.

A run's steps per CPU-second do not move with load from other jobs, but they move with the host: this machine is a
virtual machine, and on 2026-12-07 it ran every algorithm at about half the speed it had on 2026-11-29, with nothing
else running and no steal time to show for it (docs/regression.md). Code that did not change then looks twice as
slow. So every run also measures this workload at its start and its end; the speed alarm compares steps per
CPU-second relative to it, which is the same on a slow host and a fast one when the code is the same.

The workload is what most of a run's CPU goes to: Adam updates of a small tanh MLP on a minibatch (a PPO-MuJoCo
minibatch: 64 x 17 inputs, 64-64 hidden) and the Python between them. Measuring it leaves the global RNG as it
found it, so a run's seeded random streams are what they were before it was measured.
"""

from __future__ import annotations

import time

import torch

SAMPLE_SECONDS = 0.3  # per sample; two samples a run (start and end) cost about 0.6 s of CPU
INPUTS, HIDDEN, BATCH = 17, 64, 64


def calibration_speed(seconds: float = SAMPLE_SECONDS) -> float:
    """Updates of the fixed workload per CPU-second of this process, measured for about `seconds` of CPU time."""
    with torch.random.fork_rng(devices=[]):  # layers draw their initial weights from the global RNG: give it back
        return _measure(seconds)


def _measure(seconds: float) -> float:
    generator = torch.Generator().manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(INPUTS, HIDDEN), torch.nn.Tanh(), torch.nn.Linear(HIDDEN, HIDDEN),
                                  torch.nn.Tanh(), torch.nn.Linear(HIDDEN, 1))
    with torch.no_grad():
        for parameter in network.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    optimizer = torch.optim.Adam(network.parameters(), lr=3e-4)
    inputs = torch.randn(BATCH, INPUTS, generator=generator)
    targets = torch.randn(BATCH, 1, generator=generator)

    def update() -> None:
        loss = (network(inputs) - targets).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for _ in range(20):  # warm-up: first calls allocate
        update()
    updates, started = 0, time.process_time()
    while (elapsed := time.process_time() - started) < seconds:
        for _ in range(20):
            update()
        updates += 20
    return updates / elapsed
