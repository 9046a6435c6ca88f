"""The tile coder against hand-computed tiles, and its coverage, generalisation and hashing."""

import itertools

import numpy as np
import pytest

from common.tile_coding import TileCoder, TileCoding
from core.errors import ConfigError


def test_one_dimension_by_hand():
    # [0, 1] in 2 tiles of width 0.5; 2 tilings, the second shifted by a quarter (1/2 of a tile); 3 tiles per
    # tiling (tiles + 1), so tiling 1's tiles are features 3, 4, 5; the bias is feature 6.
    coder = TileCoder(TileCoding(low=(0.0,), high=(1.0,), tiles=2, tilings=2))
    assert coder.size == 7
    assert coder.features(np.array([0.3])).tolist() == [0, 4, 6]  # 0.3 // 0.5 = 0; (0.3 + 0.25) // 0.5 = 1
    assert coder.features(np.array([0.2])).tolist() == [0, 3, 6]  # (0.2 + 0.25) // 0.5 = 0
    assert coder.features(np.array([1.0])).tolist() == [2, 5, 6]
    assert coder.features(np.array([7.0])).tolist() == [2, 5, 6]  # clipped onto the box
    assert coder.vector(np.array([0.3])).tolist() == [1, 0, 0, 0, 1, 0, 1]


def test_asymmetric_offsets_follow_the_displacement_vector_1_3():
    # Sutton & Barto 9.5.4: tiling t shifted by (t * (1, 3) mod 4) / 4 of a tile's width
    coder = TileCoder(TileCoding(low=(0.0, 0.0), high=(4.0, 8.0), tiles=4, tilings=4))  # widths 1 and 2
    assert np.allclose(coder.offsets, [[0, 0], [0.25, 1.5], [0.5, 1.0], [0.75, 0.5]])
    uniform = TileCoder(TileCoding(low=(0.0, 0.0), high=(4.0, 8.0), tiles=4, tilings=4, offsets="uniform"))
    assert np.allclose(uniform.offsets, [[0, 0], [0.25, 0.5], [0.5, 1.0], [0.75, 1.5]])
    # state (1.9, 3.1): tiling 1 is at ((1.9 + 0.25) // 1, (3.1 + 1.5) // 2) = (2, 2): 25 + 2 * 5 + 2 = 37
    assert coder.features(np.array([1.9, 3.1]))[1] == 37


@pytest.mark.parametrize("memory", [None, 1_000_000])
def test_every_state_has_one_feature_per_tiling_and_the_bias(memory):
    coder = TileCoder(TileCoding(low=(-1.2, -0.07), high=(0.6, 0.07), tiles=10, tilings=10, memory=memory), actions=3)
    rng = np.random.default_rng(0)
    for state in rng.uniform((-1.2, -0.07), (0.6, 0.07), size=(200, 2)):
        for action in range(3):
            active = coder.features(state, action)
            assert len(active) == 11 and len(set(active.tolist())) == 11  # 10 tilings + bias, all distinct
            assert active[-1] == coder.size - 1 and (0 <= active).all() and (active < coder.size).all()
    exact = TileCoder(TileCoding(low=(0.0,), high=(1.0,), tiles=10, tilings=10), actions=3)
    assert exact.size == 10 * 11 * 3 + 1


def test_near_states_share_tiles_and_far_ones_none():
    coder = TileCoder(TileCoding(low=(0.0,), high=(1.0,), tiles=10, tilings=8))  # width 0.1, offsets 0.0125 apart
    shared = lambda a, b: len(set(coder.features(np.array([a]))[:-1]) & set(coder.features(np.array([b]))[:-1]))  # noqa: E731
    # from 0.503, tiling t's next boundary is 0.097 - 0.0125 t away: 0.0095 for t = 7, 0.047 for t = 4
    assert shared(0.503, 0.503) == 8
    assert shared(0.503, 0.518) == 7  # 0.015 apart: only tiling 7's boundary falls between them
    assert shared(0.503, 0.553) == 4  # half a tile apart: tilings 4-7's boundaries, half the tilings
    assert shared(0.3, 0.45) == 0  # more than a tile apart
    distances = [abs(shared(0.503, 0.503 + d) - 8 * (1 - d / 0.1)) for d in np.linspace(0, 0.1, 41)]
    assert max(distances) <= 1  # sharing falls linearly with distance, within one tiling


def test_hashing_is_deterministic_and_loses_no_tile_in_a_large_memory():
    coding = dict(low=(0.0, 0.0), high=(1.0, 1.0), tiles=10, tilings=10)
    exact = TileCoder(TileCoding(**coding), actions=5)
    hashed = TileCoder(TileCoding(**coding, memory=1_000_000), actions=5, seed=3)
    grid = [np.array(p) for p in itertools.product(np.linspace(0, 1, 23), repeat=2)]
    pairs = {(int(e), int(h)) for p in grid for a in range(5)
             for e, h in zip(exact.features(p, a), hashed.features(p, a))}
    assert len({e for e, _ in pairs}) == len({h for _, h in pairs}) == len(pairs)  # a relabelling, no collision
    again = TileCoder(TileCoding(**coding, memory=1_000_000), actions=5, seed=3)
    assert all((again.features(p, 2) == hashed.features(p, 2)).all() for p in grid[:20])
    small = TileCoder(TileCoding(**coding, memory=64), actions=5)
    assert all((small.features(p, 1)[:-1] < 64).all() for p in grid)


def test_actions_have_their_own_features():
    coder = TileCoder(TileCoding(low=(0.0,), high=(1.0,), tiles=4, tilings=4), actions=3)
    state = np.array([0.37])
    sets = [set(coder.features(state, action)[:-1].tolist()) for action in range(3)]
    assert not (sets[0] & sets[1]) and not (sets[1] & sets[2]) and not (sets[0] & sets[2])


@pytest.mark.parametrize("bad, field", [(dict(low=(0.0,), high=(0.0,)), "high"),
                                        (dict(low=(0.0, 1.0), high=(1.0,)), "low/high"),
                                        (dict(tiles=0), "tiles/tilings"), (dict(memory=3), "memory"),
                                        (dict(offsets="random"), "offsets")])
def test_a_bad_coding_names_its_field(bad, field):
    settings = dict(low=(0.0,), high=(1.0,), tiles=4, tilings=8) | bad
    with pytest.raises(ConfigError, match=field):
        TileCoding(**settings)
