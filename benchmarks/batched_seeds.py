"""Several seeds of one small network in one process: do batched networks (one set of weights per seed) make K
seeds' updates cheaper, and does every seed still get exactly what it would get alone?

    python -m benchmarks.batched_seeds [--seeds-list 1,2,4,8] [--repeats N] [--env-id MinAtar/Breakout-v1]
                                       [--output results/benchmarks/batched_seeds.md]

For DQN at its preset for the task (its own network, loss and optimizer, as update_floor.measure builds them; one
torch thread; random minibatches, no environment steps), times K seeds' whole minibatch updates (loss, backward,
gradient clipping where the preset has it, optimizer step) done
  separate      one after another: K networks, K target networks, K optimizers, K minibatches; what K runs cost now
  vmap          as one update with torch.func: the gradient of one seed's loss (functional_call on a copy of the
                network on the meta device), vmapped over the seeds' stacked parameters, target parameters and
                minibatches
  hand-batched  as one update of the MinAtar network only, written for K seeds: one grouped convolution
                (groups = K) and batched matrix products (torch.baddbmm) for the linear layers
The batched methods step one optimizer on the stacked parameter tensors: its arithmetic is elementwise, so each
seed's slice gets the step it would get alone (the report checks it: fed the separate updates' own gradients, the
stacked step should give their parameters bitwise); gradient norms are clipped per seed.

A batched method is worth keeping only if every seed's result stays what it would be alone, so from the same
starting weights and minibatches each method's per-seed gradients and parameters after one update are compared
with the separate updates': "bitwise" when torch.equal, else the largest absolute difference and the largest
difference relative to the largest magnitude in the same tensor. Not a test: the times depend on the machine and
its load (printed).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

import envs
from algos import dqn
from benchmarks import publish
from benchmarks.update_floor import median_seconds, operations_per_call, trivial_operation_seconds
from common.config import config_from_dict
from common.replay import Batch
from common.value_based import discrete_spaces, make_optimizer

SEED_COUNTS = (1, 2, 4, 8)
REPEATS = 200
BATCH_TENSORS = ("observations", "actions", "returns", "next_observations", "discounts", "weights")
# The layers of dqn.QNetwork on MinAtar's 10x10 grids (3x3 convolution, hidden and output layers): what
# hand_batched_q_values is written for.
MINATAR_LAYERS = (nn.Conv2d, nn.Linear, nn.Linear)


@dataclass
class Seeds:
    """K seeds' pieces of one DQN update: the config, and per seed an online and a target network and a minibatch."""

    config: dqn.Config
    online: list[dqn.QNetwork]
    target: list[dqn.QNetwork]
    batches: list[Batch]


@dataclass
class Agreement:
    """How far a method's per-seed tensors are from the separate updates' (all seeds, all parameter tensors)."""

    bitwise: bool
    absolute: float
    relative: float  # |difference| / the largest |value| of the separate update's tensor

    def __str__(self) -> str:
        return "bitwise" if self.bitwise else f"max abs {self.absolute:.1e}, max rel {self.relative:.1e}"


def random_batch(space: gym.spaces.Box, action_count: int, config: dqn.Config) -> Batch:
    """A minibatch of random transitions, the observations in the stored dtype (MinAtar's grids are bool)."""
    size = config.batch_size

    def observations() -> torch.Tensor:
        values = torch.rand(size, *space.shape)
        return values < 0.5 if space.dtype == np.bool_ else values

    return Batch(observations=observations(), actions=torch.randint(action_count, (size,)), returns=torch.rand(size),
                 next_observations=observations(), discounts=torch.full((size,), config.discount),
                 weights=torch.ones(size), indices=np.arange(size))


def make_seeds(env_id: str, seed_count: int, **overrides) -> Seeds:
    """DQN's pieces at its preset for env_id (overrides: other config fields), different weights and minibatch per
    seed; the same ones at every call."""
    config = config_from_dict(dqn.Config, {"env_id": env_id, **overrides})
    environment = envs.resolve(config.env_id, config.env_protocol, config.env_backend)
    env, _ = envs.make(environment, 1, 0)
    space, action_count = discrete_spaces(env.single_observation_space, env.single_action_space, env_id)
    env.close()
    torch.manual_seed(0)
    online = [dqn.QNetwork(space, action_count, config) for _ in range(seed_count)]
    target = [dqn.QNetwork(space, action_count, config).requires_grad_(False) for _ in range(seed_count)]
    return Seeds(config, online, target, [random_batch(space, action_count, config) for _ in range(seed_count)])


def separate_update(seeds: Seeds) -> Callable[[], None]:
    """The K seeds' updates one after another, each as the training loop (common.value_based) does it."""
    config = seeds.config
    optimizers = [make_optimizer(list(network.parameters()), config) for network in seeds.online]

    def update() -> None:
        for online, target, batch, optimizer in zip(seeds.online, seeds.target, seeds.batches, optimizers):
            loss = dqn.dqn_loss(online, target, batch, config)[0]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm > 0:
                nn.utils.clip_grad_norm_(online.parameters(), config.max_grad_norm)
            optimizer.step()

    return update


def stacked(networks: list[nn.Module]) -> list[torch.Tensor]:
    """The networks' parameters, each stacked along a new first dimension (network k's at [k]): copies, as leaves
    that require gradients where the networks' do."""
    parameters, buffers = stack_module_state(networks)
    assert not buffers, "functional_call here passes parameters only"
    return list(parameters.values())


def vmap_gradients(seeds: Seeds) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """Stacked parameters -> the stacked gradients of each seed's loss on its minibatch, by torch.func.vmap."""
    config, names = seeds.config, [name for name, _ in seeds.online[0].named_parameters()]
    meta_network = copy.deepcopy(seeds.online[0]).to("meta")  # its structure only: the weights come as arguments
    target_parameters = stacked(seeds.target)
    batch = [torch.stack([getattr(one, name) for one in seeds.batches]) for name in BATCH_TENSORS]

    def network(parameters: list[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        return partial(functional_call, meta_network, dict(zip(names, parameters)))

    def seed_loss(parameters, target_parameters, *batch_tensors) -> torch.Tensor:
        one_seed = Batch(**dict(zip(BATCH_TENSORS, batch_tensors)), indices=None)
        return dqn.dqn_loss(network(parameters), network(target_parameters), one_seed, config)[0]

    gradients = vmap(grad(seed_loss))
    # torch.func.grad differentiates its own inputs: detached, the outer autograd records no graph besides
    return lambda parameters: gradients([parameter.detach() for parameter in parameters], target_parameters, *batch)


def hand_batched_q_values(parameters: list[torch.Tensor], observations: torch.Tensor) -> torch.Tensor:
    """K MinAtar Q-networks at once, from their stacked parameters: observations (K, B, 10, 10, C) -> (K, B, actions).
    Seed k's input channels meet only its own filters (groups), and each seed's features are flattened as
    nn.Flatten does them."""
    convolution_weight, convolution_bias, hidden_weight, hidden_bias, output_weight, output_bias = parameters
    seed_count, batch_size = observations.shape[:2]
    grids = observations.float().permute(1, 0, 4, 2, 3).flatten(1, 2)  # (B, K x C, 10, 10), seed by seed
    features = F.conv2d(grids, convolution_weight.flatten(0, 1), convolution_bias.flatten(), groups=seed_count).relu()
    features = features.reshape(batch_size, seed_count, -1).transpose(0, 1)  # (K, B, 16 x 8 x 8)
    hidden = torch.baddbmm(hidden_bias.unsqueeze(1), features, hidden_weight.transpose(1, 2)).relu()
    return torch.baddbmm(output_bias.unsqueeze(1), hidden, output_weight.transpose(1, 2))


def hand_batchable(network: nn.Module) -> bool:
    layers = tuple(type(module) for module in network.modules() if isinstance(module, (nn.Conv2d, nn.Linear)))
    return layers == MINATAR_LAYERS


def hand_batched_gradients(seeds: Seeds) -> Callable[[list[torch.Tensor]], list[torch.Tensor]]:
    """Stacked parameters -> the stacked gradients of each seed's loss on its minibatch, through
    hand_batched_q_values and dqn_loss on all K x B transitions at once."""
    config, seed_count = seeds.config, len(seeds.batches)
    target_parameters = stacked(seeds.target)
    all_seeds = Batch(**{name: torch.cat([getattr(one, name) for one in seeds.batches]) for name in BATCH_TENSORS},
                      indices=None)

    def network(parameters: list[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor]:
        return lambda observations: hand_batched_q_values(parameters, observations.unflatten(0, (seed_count, -1))
                                                          ).flatten(0, 1)

    def gradients(parameters: list[torch.Tensor]) -> list[torch.Tensor]:
        # dqn_loss averages over all K x B transitions; K times that is the sum of the seeds' own minibatch means
        loss = seed_count * dqn.dqn_loss(network(parameters), network(target_parameters), all_seeds, config)[0]
        for parameter in parameters:
            parameter.grad = None
        # Into .grad, laid out as the parameters: torch.autograd.grad would return the weights' gradients
        # transposed, which slows the optimizer's elementwise step severalfold (torch.func.grad costs more still).
        loss.backward()
        return [parameter.grad for parameter in parameters]

    return gradients


GRADIENTS = {"vmap": vmap_gradients, "hand-batched": hand_batched_gradients}  # the batched methods
METHODS = ("separate", *GRADIENTS)


def clip_grad_norm_per_seed(gradients: list[torch.Tensor], max_norm: float) -> None:
    """nn.utils.clip_grad_norm_ on each seed's slice of the stacked gradients: one norm per seed, not one for all."""
    norms = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(gradient.flatten(1), dim=1)
                                                  for gradient in gradients]), dim=0)
    coefficients = (max_norm / (norms + 1e-6)).clamp(max=1.0)  # clip_grad_norm_'s own formula
    for gradient in gradients:
        gradient.mul_(coefficients.view(-1, *[1] * (gradient.dim() - 1)))


def stacked_update(seeds: Seeds, gradients: Callable[[list[torch.Tensor]], list[torch.Tensor]] | None
                   ) -> tuple[list[torch.Tensor], Callable[[], None]]:
    """The seeds' online parameters stacked (copies of the networks' weights now), and one update of them all: the
    stacked gradients from `gradients`, or with None the .grad the caller sets; per-seed clipping where the preset
    clips; one optimizer step on the stacked tensors."""
    config, parameters = seeds.config, stacked(seeds.online)
    optimizer = make_optimizer(parameters, config)

    def update() -> None:
        if gradients is not None:
            for parameter, gradient in zip(parameters, gradients(parameters)):
                parameter.grad = gradient
            if config.max_grad_norm > 0:
                clip_grad_norm_per_seed([parameter.grad for parameter in parameters], config.max_grad_norm)
        optimizer.step()

    return parameters, update


def agreement(reference: list[list[torch.Tensor]], candidate: list[torch.Tensor]) -> Agreement:
    """reference[k][i]: seed k's tensor i from its own update; candidate[i][k]: the same from a batched one."""
    pairs = [(mine, batched[k]) for k, tensors in enumerate(reference) for mine, batched in zip(tensors, candidate)]
    differences = [(mine - batched).abs().max().item() for mine, batched in pairs]
    scales = [max(mine.abs().max().item(), torch.finfo(mine.dtype).tiny) for mine, _ in pairs]
    return Agreement(bitwise=all(torch.equal(mine, batched) for mine, batched in pairs), absolute=max(differences),
                     relative=max(difference / scale for difference, scale in zip(differences, scales)))


def compare(seeds: Seeds, methods: tuple[str, ...]) -> tuple[dict[str, dict[str, Agreement]], Agreement]:
    """One update of every method from the seeds' present weights on their minibatches, against the separate
    updates: {method: {"gradients": ..., "parameters": ...}}, and the stacked optimizer step alone (fed the separate
    updates' gradients) against theirs. Steps the seeds' networks once."""
    batched = {method: stacked_update(seeds, GRADIENTS[method](seeds)) for method in methods}
    optimizer_alone = stacked_update(seeds, None)
    separate_update(seeds)()
    gradients = [[parameter.grad for parameter in network.parameters()] for network in seeds.online]
    parameters = [[parameter.detach() for parameter in network.parameters()] for network in seeds.online]
    results = {}
    for method, (stacked_parameters, update) in batched.items():
        update()
        results[method] = {"gradients": agreement(gradients, [parameter.grad for parameter in stacked_parameters]),
                           "parameters": agreement(parameters, stacked_parameters)}
    alone_parameters, step = optimizer_alone
    for parameter, seed_gradients in zip(alone_parameters, zip(*gradients)):
        parameter.grad = torch.stack(seed_gradients)
    step()
    return results, agreement(parameters, alone_parameters)


def measure(env_id: str, seed_count: int, repeats: int) -> dict:
    """Times and agreements of every method for K = seed_count seeds (hand-batched only on MinAtar's network)."""
    torch.set_num_threads(1)
    seeds = make_seeds(env_id, seed_count)
    methods = tuple(method for method in GRADIENTS if method != "hand-batched" or hand_batchable(seeds.online[0]))
    agreements, optimizer_alone = compare(seeds, methods)
    updates = {"separate": separate_update(seeds)}
    updates.update({method: stacked_update(seeds, GRADIENTS[method](seeds))[1] for method in methods})
    dispatch_seconds = trivial_operation_seconds()
    rows = []
    for method, update in updates.items():
        operations = operations_per_call(update)
        rows.append({"seeds": seed_count, "method": method, "seconds": median_seconds(update, repeats),
                     "operations": operations, "dispatch": operations * dispatch_seconds,
                     **agreements.get(method, {})})
    for row in rows:
        row["speedup"] = rows[0]["seconds"] / row["seconds"]  # per seed, against separate (rows[0])
    return {"seeds": seed_count, "rows": rows, "optimizer_alone": optimizer_alone,
            "optimizer": seeds.config.optimizer, "batch": seeds.config.batch_size,
            "max_grad_norm": seeds.config.max_grad_norm}


def report(env_id: str, results: list[dict], repeats: int, load: float) -> str:
    first = results[0]
    clipping = f"gradient norm clipped to {first['max_grad_norm']}" if first["max_grad_norm"] > 0 else "no clipping"
    lines = ["# Several seeds in one process: batched networks", "",
             f"`python -m benchmarks.batched_seeds`, {time.strftime('%Y-%m-%d')}, DQN on {env_id} (batch "
             f"{first['batch']}, {first['optimizer']}, {clipping}), one torch thread, load before {load:.2f}. "
             f"Medians of {repeats} repetitions of K seeds' whole updates on random minibatches. Agreement: one "
             "update from the same weights and minibatches, against the separate updates (max rel: relative to the "
             "largest magnitude in the same tensor).", "",
             "| seeds K | method | whole update (K seeds) | per seed-update | speed-up per seed vs separate | "
             "aten operations | dispatch (operations x one trivial op) | gradients vs separate | "
             "parameters after the step vs separate |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = [row for result in results for row in result["rows"]]
    for row in rows:
        lines.append(
            f"| {row['seeds']} | {row['method']} | {row['seconds'] * 1e3:.3f} ms | "
            f"{row['seconds'] / row['seeds'] * 1e3:.3f} ms | {row['speedup']:.2f}x | {row['operations']} | "
            f"{row['dispatch'] * 1e3:.3f} ms | {row.get('gradients', '(reference)')} | "
            f"{row.get('parameters', '(reference)')} |")
    lines += ["", "The stacked optimizer step alone, fed the separate updates' own gradients, against their "
              "parameters: " + ", ".join(f"K = {result['seeds']}: {result['optimizer_alone']}" for result in results)
              + "."]
    if not any(row["method"] == "hand-batched" for row in rows):
        lines.append(f"hand-batched: not run, {env_id}'s network is not the MinAtar one it is written for.")
    lines += ["", "Worth keeping only where a method is faster and every seed's result is bitwise what it would be "
              "alone:"]
    for method in METHODS[1:]:
        method_rows = [row for row in rows if row["method"] == method]
        if method_rows:
            faster = [row for row in method_rows if row["speedup"] > 1]
            bitwise = [row for row in method_rows if row["gradients"].bitwise and row["parameters"].bitwise]
            lines.append(f"- {method}: faster per seed at K = {seed_list(faster, speedup=True)}; bitwise at K = "
                         f"{seed_list(bitwise)}; both at K = {seed_list([row for row in faster if row in bitwise])}")
    return "\n".join(lines) + "\n"


def seed_list(rows: list[dict], speedup: bool = False) -> str:
    if not rows:
        return "none"
    return ", ".join(f"{row['seeds']} ({row['speedup']:.2f}x)" if speedup else str(row["seeds"]) for row in rows)


def seed_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"expected positive seed counts separated by commas, e.g. 1,2,4,8; "
                                         f"got {text!r}")
    return counts


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of repetitions, got {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.batched_seeds", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds-list", type=seed_counts, default=list(SEED_COUNTS),
                        help="numbers of seeds K to batch (default 1,2,4,8)")
    parser.add_argument("--repeats", type=positive, default=REPEATS, help=f"timed repetitions (default {REPEATS})")
    parser.add_argument("--env-id", default="MinAtar/Breakout-v1", help="task, for DQN's preset (default %(default)s)")
    parser.add_argument("--output", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    load = os.getloadavg()[0]
    results = [measure(args.env_id, seed_count, args.repeats) for seed_count in args.seeds_list]
    text = report(args.env_id, results, args.repeats, load)
    return publish(text, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
