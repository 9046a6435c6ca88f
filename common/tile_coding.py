"""Tile coding: the features of the linear learners (algos/actor_critic.py, algos/offpac.py and its baselines).

A state in a box is covered by `tilings` grids of `tiles` tiles per dimension, each grid shifted by a fraction of
a tile; a state activates one tile in each grid, so `tilings` binary features are on (plus, with `bias`, one that
is always on). States closer than a tile's width share some of their tiles: that is the generalisation.

Offsets: Sutton & Barto (2nd ed., section 9.5.4) recommend asymmetric ones, tiling t shifted in dimension d by
(t (2d + 1) mod tilings) / tilings of a tile's width (displacement vector 1, 3, 5, ...); uniform offsets (every
dimension by t / tilings) put the tilings' corners on one diagonal. Each grid has tiles + 1 tiles per dimension so
that a shifted grid still covers the box.

Memory: without `memory` every tile has its own feature (tilings x (tiles + 1)^dims of them). With it, a tile's
coordinates (tiling, per-dimension tile, and the action for state-action features) are hashed into that many
features, as the Off-PAC authors' RLPark code does (rlpark.plugin.rltoys TileCoders with MurmurHashing into 10^6
weights): collisions are rare when memory is much larger than the tiles ever visited, and harmless when not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import require

OFFSETS = ("asymmetric", "uniform")


@dataclass(frozen=True)
class TileCoding:
    low: tuple[float, ...]  # the state box the tilings cover; states outside it are clipped onto it
    high: tuple[float, ...]
    tiles: int  # per dimension, in each tiling
    tilings: int
    memory: int | None = None  # hashed feature count; None: one feature per tile
    bias: bool = True  # one feature always on (RLPark's includeActiveFeature)
    offsets: str = "asymmetric"

    def __post_init__(self):
        require(len(self.low) == len(self.high) > 0, "low/high", "two bounds of the same, non-zero length",
                (self.low, self.high))
        require(all(top > bottom for bottom, top in zip(self.low, self.high)), "high", "above low in every dimension", self.high)
        require(self.tiles >= 1 and self.tilings >= 1, "tiles/tilings", "at least 1 each", (self.tiles, self.tilings))
        require(self.memory is None or self.memory >= self.tilings, "memory", f"None or at least {self.tilings}",
                self.memory)
        require(self.offsets in OFFSETS, "offsets", f"one of {OFFSETS}", self.offsets)


class TileCoder:
    """The active features of a state (or of a state and a discrete action): indices into `size` weights."""

    def __init__(self, coding: TileCoding, actions: int = 1, seed: int = 0):
        self.coding, self.actions = coding, actions
        self.low, self.high = np.asarray(coding.low, dtype=np.float64), np.asarray(coding.high, dtype=np.float64)
        dims = len(self.low)
        self.width = (self.high - self.low) / coding.tiles  # a tile's width per dimension
        steps = (np.arange(coding.tilings)[:, None] * (2 * np.arange(dims)[None, :] + 1) if coding.offsets ==
                 "asymmetric" else np.repeat(np.arange(coding.tilings)[:, None], dims, axis=1))
        self.offsets = (steps % coding.tilings) / coding.tilings * self.width  # (tilings, dims)
        self.per_tiling = (coding.tiles + 1) ** dims * actions  # distinct tiles of one tiling
        # Hashing: a fixed random odd multiplier per coordinate, the sum taken modulo 2^64 (numpy's uint64 wraps).
        self.multipliers = np.random.default_rng(seed).integers(1, 2 ** 62, size=dims + 2, dtype=np.uint64) * 2 + 1
        self.tiles_size = coding.memory if coding.memory is not None else coding.tilings * self.per_tiling
        self.size = self.tiles_size + coding.bias

    def tile_coordinates(self, state: np.ndarray) -> np.ndarray:
        """(tilings, dims): each tiling's tile of the state, 0 .. tiles per dimension."""
        clipped = np.clip(np.asarray(state, dtype=np.float64), self.low, self.high)
        return np.floor((clipped - self.low + self.offsets) / self.width).astype(np.int64)

    def features(self, state: np.ndarray, action: int = 0) -> np.ndarray:
        """Indices of the active features: one per tiling, then the bias feature's (the last index) if any."""
        coordinates = self.tile_coordinates(state)
        tilings = np.arange(self.coding.tilings)
        if self.coding.memory is None:
            tile = np.ravel_multi_index(tuple(coordinates.T), (self.coding.tiles + 1,) * coordinates.shape[1])
            active = tilings * self.per_tiling + tile * self.actions + action
        else:
            keys = np.concatenate([tilings[:, None], coordinates, np.full((len(tilings), 1), action)], axis=1)
            active = (keys.astype(np.uint64) * self.multipliers).sum(axis=1, dtype=np.uint64) % np.uint64(
                self.coding.memory)
        active = active.astype(np.int64)
        return np.append(active, self.tiles_size) if self.coding.bias else active

    def vector(self, state: np.ndarray, action: int = 0) -> np.ndarray:
        """The binary feature vector (for tests and small problems; learners use `features`)."""
        x = np.zeros(self.size)
        np.add.at(x, self.features(state, action), 1.0)  # a hash collision counts twice, as a weight sum would
        return x
