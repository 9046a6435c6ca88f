"""benchmarks/batched_seeds.py's correctness machinery, not its speed: the batched methods give each seed the
gradients it gets alone, the agreement check notices when they do not, clipping is per seed, and the report has
a row per (number of seeds, method)."""

import pytest
import torch
from torch import nn

from algos import dqn
from benchmarks import batched_seeds

MINATAR = "MinAtar/Breakout-v1"
TOLERANCE = 1e-5  # relative to the largest magnitude in each tensor


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the benchmark uses (two threads on a busy machine make orthogonal initialisation
    seconds slow); other tests in the same process keep their count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def own_gradients(seeds: batched_seeds.Seeds) -> list[tuple[torch.Tensor, ...]]:
    """Each seed's gradients from its own network on its own minibatch: [seed][parameter]."""
    return [torch.autograd.grad(dqn.dqn_loss(online, target, batch, seeds.config)[0], list(online.parameters()))
            for online, target, batch in zip(seeds.online, seeds.target, seeds.batches)]


@pytest.mark.parametrize("method", ["vmap", "hand-batched"])
def test_batched_gradients_are_each_seeds_own(method):
    seeds = batched_seeds.make_seeds(MINATAR, 2)
    batched = batched_seeds.GRADIENTS[method](seeds)(batched_seeds.stacked(seeds.online))
    for seed, gradients in enumerate(own_gradients(seeds)):
        for own, stacked in zip(gradients, batched, strict=True):
            torch.testing.assert_close(stacked[seed], own, rtol=TOLERANCE, atol=TOLERANCE * own.abs().max().item())


def test_agreement_tells_bitwise_close_and_another_seeds_result_apart():
    seeds = batched_seeds.make_seeds(MINATAR, 2)
    own = own_gradients(seeds)
    batched = batched_seeds.GRADIENTS["vmap"](seeds)(batched_seeds.stacked(seeds.online))
    assert batched_seeds.agreement(own, [torch.stack(seed_tensors) for seed_tensors in zip(*own)]).bitwise
    close = batched_seeds.agreement(own, batched)
    assert close.relative < TOLERANCE
    swapped = batched_seeds.agreement(own, [gradient.flip(0) for gradient in batched])  # seed 0 gets seed 1's
    assert not swapped.bitwise and swapped.relative > 0.1


def test_one_update_of_each_method_matches_the_separate_updates():
    seeds = batched_seeds.make_seeds(MINATAR, 2)
    results, optimizer_alone = batched_seeds.compare(seeds, ("vmap", "hand-batched"))
    assert optimizer_alone.bitwise  # the stacked step is elementwise: per seed the same arithmetic
    for method in ("vmap", "hand-batched"):
        assert results[method]["gradients"].relative < TOLERANCE, method
        assert results[method]["parameters"].relative < TOLERANCE, method


def test_clipping_is_per_seed_as_clip_grad_norm_does_it():
    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.01, 1.0, 100.0])  # seed 0's norm is under the limit, the others' over it
    gradients = [torch.randn(3, 4, 5, generator=generator) * scales.view(3, 1, 1),
                 torch.randn(3, 7, generator=generator) * scales.view(3, 1)]
    expected = []
    for seed in range(3):
        alone = [nn.Parameter(torch.empty_like(gradient[seed])) for gradient in gradients]
        for parameter, gradient in zip(alone, gradients):
            parameter.grad = gradient[seed].clone()
        nn.utils.clip_grad_norm_(alone, 1.0)
        expected.append([parameter.grad for parameter in alone])
    batched_seeds.clip_grad_norm_per_seed(gradients, 1.0)
    for seed, alone in enumerate(expected):
        for own, stacked in zip(alone, gradients, strict=True):
            torch.testing.assert_close(stacked[seed], own)


def test_clipped_update_matches_the_separate_updates():
    seeds = batched_seeds.make_seeds("CartPole-v1", 2, max_grad_norm=1e-3)
    results, _ = batched_seeds.compare(seeds, ("vmap",))
    for network in seeds.online:  # the clipping did act: each seed's gradient norm is the limit
        norm = torch.linalg.vector_norm(torch.stack([parameter.grad.norm() for parameter in network.parameters()]))
        assert norm.item() == pytest.approx(1e-3, rel=1e-3)
    assert results["vmap"]["gradients"].relative < TOLERANCE


def test_report_has_a_row_per_seed_count_and_method(tmp_path):
    output = tmp_path / "batched_seeds.md"
    assert batched_seeds.main(["--seeds-list", "1,2", "--repeats", "1", "--output", str(output)]) == 0
    text = output.read_text()
    assert "load before" in text
    table = [line.split("|") for line in text.splitlines() if line.startswith("| ") and "seeds K" not in line]
    assert sorted((int(cells[1]), cells[2].strip()) for cells in table) == sorted(
        (seeds, method) for seeds in (1, 2) for method in ("separate", "vmap", "hand-batched"))


@pytest.mark.parametrize("seeds_list", ["0,2", "two", ""])
def test_bad_seed_counts_are_refused(seeds_list, capsys):
    with pytest.raises(SystemExit) as exit_info:
        batched_seeds.main(["--seeds-list", seeds_list])
    assert exit_info.value.code == 2
    assert "positive seed counts" in capsys.readouterr().err
