"""The auto-regressive model (ARM) over a latent grid, and its bit-exact coding.

Each latent is predicted from its 12 causal neighbours (two rows above, five columns
wide, and two to the left)::

    x x x x x
    x x x x x
    x x o

by a small MLP that outputs the mean and the natural log of the scale of a discretized
Laplace. For coding, the MLP runs in integer arithmetic (latentpress.nn.fixed_point)
and its outputs are mapped to a table of latentpress.entropy.tables with integer
operations only, so encoder and decoder derive the same probabilities on any machine.

Decoding is a wavefront: latent (i, j) depends only on positions with a smaller
t = 3i + j, so every latent of one anti-diagonal band t is decoded in one vectorized
step (3H + W steps for an H×W grid instead of H·W). Every grid is cut into tiles of
64 × 256 latents coded independently (a neighbour outside the tile counts as 0), and
the tiles of all grids run interleaved: step t decodes band t of every tile at once,
so any image decodes in at most 3·63 + 255 + 1 = 445 steps. (Training estimates the rate
with whole-grid contexts; the tile borders, 2 of every 64 rows and 256 columns, cost
a little more than that estimate.)
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError, LimitError
from latentpress.nn.fixed_point import IntegerMLP

CONTEXT = ((-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
           (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
           (0, -2), (0, -1))
PAD = 2
WAVEFRONT_ROW_STRIDE = 3          # > the largest column offset in a row above
# Grids are cut into tiles coded independently (neighbours outside a tile count as 0),
# so decoding takes 3·TILE_ROWS + TILE_COLS steps whatever the image size.
TILE_ROWS = 64
TILE_COLS = 256
MAX_LATENT = 1 << 11              # latents are clipped to ±2**11 before entering the ARM
FRAC_BITS = 8
# ln(SCALE_MIN) written out, so the thresholds below use no libm at all.
_LOG_SCALE_MIN = -2.995732273553991


@functools.cache
def log_scale_thresholds(frac_bits: int = FRAC_BITS) -> np.ndarray:
    """Fixed-point ln-scale boundaries between neighbouring scales of the table grid."""
    edges = [(_LOG_SCALE_MIN + (i + 0.5) * tables.LOG_SCALE_STEP) * (1 << frac_bits)
             for i in range(tables.NUM_SCALES - 1)]
    return np.floor(np.array(edges)).astype(np.int64)


def params_to_tables(mean_fixed: np.ndarray, log_scale_fixed: np.ndarray,
                     frac_bits: int = FRAC_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point (mean, ln scale) → (integer centre, table id), integer operations only."""
    one = 1 << frac_bits
    centres = (mean_fixed + (one >> 1)) >> frac_bits
    remainder = mean_fixed - (centres << frac_bits)                  # in [−one/2, one/2)
    offsets = (remainder * (2 * tables.OFFSET_STEPS) + (one >> 1)) >> frac_bits
    offsets = np.clip(offsets, -tables.OFFSET_STEPS, tables.OFFSET_STEPS)
    scale_index = np.searchsorted(log_scale_thresholds(frac_bits), log_scale_fixed, side="right")
    return centres, tables.table_id(scale_index, offsets)


def padded(grid: np.ndarray) -> np.ndarray:
    return np.pad(np.clip(grid, -MAX_LATENT, MAX_LATENT), PAD)


def gather_context(padded_grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n, 12) causal neighbours of grid positions (rows, cols); zero outside the grid."""
    r = rows[:, None] + PAD + np.array([dr for dr, _ in CONTEXT])
    c = cols[:, None] + PAD + np.array([dc for _, dc in CONTEXT])
    return padded_grid[r, c]


class ARM(nn.Module):
    """Float ARM for training: context (n, 12) → (mean, ln scale)."""

    def __init__(self, hidden: int = 16, layers: int = 2) -> None:
        super().__init__()
        sizes = [len(CONTEXT)] + [hidden] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], 2)

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = context
        for layer in self.hidden:
            x = torch.relu(layer(x))
        mean, log_scale = self.out(x).unbind(-1)
        return mean, log_scale

    def to_integer(self, frac_bits: int = FRAC_BITS) -> IntegerMLP:
        layers = [(l.weight.detach().numpy(), l.bias.detach().numpy(), True) for l in self.hidden]
        layers.append((self.out.weight.detach().numpy(), self.out.bias.detach().numpy(), False))
        return IntegerMLP.from_float(layers, frac_bits)


def _predict(arm: IntegerMLP, context: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = arm(context.astype(np.int64) << arm.frac_bits)
    return params_to_tables(out[:, 0], out[:, 1], arm.frac_bits)


def encode_grid(encoder: EntropyEncoder, grid: np.ndarray, arm: IntegerMLP) -> None:
    """Code one integer grid under the integer ARM, one call per wavefront step."""
    encode_grids(encoder, [grid], arm)


def decode_grid(decoder: EntropyDecoder, height: int, width: int, arm: IntegerMLP) -> np.ndarray:
    return decode_grids(decoder, [(height, width)], arm)[0]


@functools.lru_cache(maxsize=1)
def _schedule(sizes: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The interleaved wavefront of several grids, laid out in one flat buffer.

    Grid g occupies a zero-bordered (h + 4) × (w + 4) block of the buffer. Returns
    (flat buffer index of every latent in coding order, its grid, step boundaries,
    per-grid context offsets (G, 12), buffer length). Coding order: step t holds band
    t of every grid that has one, finest grid first, each band in row order."""
    # Indices in int32 (a decoder at the pixel limit would otherwise hold about 1 GB of
    # int64 index arrays while sorting them; every value here is far below 2³¹). The
    # order is the same: a stable sort of the same times.
    positions, owners, times, deltas = [], [], [], []
    offset = 0
    for g, (h, w) in enumerate(sizes):
        stride = w + 2 * PAD
        rows, cols = np.divmod(np.arange(h * w, dtype=np.int32), np.int32(w))
        positions.append(np.int32(offset) + (rows + np.int32(PAD)) * np.int32(stride) + cols + np.int32(PAD))
        owners.append(np.full(h * w, g, np.int32))
        times.append(np.int32(WAVEFRONT_ROW_STRIDE) * rows + cols)
        deltas.append([dr * stride + dc for dr, dc in CONTEXT])
        offset += (h + 2 * PAD) * stride
    if offset >= 1 << 31:
        raise LimitError(f"overfit: {offset:,} latent buffer entries exceed 2^31")
    time_of = np.concatenate(times)
    del times
    order = np.argsort(time_of, kind="stable")
    time_of = time_of[order]
    bounds = np.flatnonzero(np.diff(time_of)) + 1
    del time_of
    bounds = np.concatenate([[0], bounds, [order.size]])
    return (np.concatenate(positions)[order], np.concatenate(owners)[order], bounds,
            np.array(deltas, np.int64), offset)


def _buffer(grids: list[np.ndarray], sizes) -> np.ndarray:
    *_, length = _schedule(sizes)
    buffer = np.zeros(length, np.int64)
    offset = 0
    for grid in grids:
        h, w = grid.shape
        block = buffer[offset:offset + (h + 2 * PAD) * (w + 2 * PAD)].reshape(h + 2 * PAD, w + 2 * PAD)
        block[PAD:PAD + h, PAD:PAD + w] = grid
        offset += block.size
    return buffer


def _unbuffer(buffer: np.ndarray, sizes) -> list[np.ndarray]:
    grids, offset = [], 0
    for h, w in sizes:
        block = buffer[offset:offset + (h + 2 * PAD) * (w + 2 * PAD)].reshape(h + 2 * PAD, w + 2 * PAD)
        grids.append(block[PAD:PAD + h, PAD:PAD + w].copy())
        offset += block.size
    return grids


def tile_sizes(height: int, width: int) -> list[tuple[int, int]]:
    """Shapes of the tiles of one grid, in row-major tile order."""
    return [(min(TILE_ROWS, height - r), min(TILE_COLS, width - c))
            for r in range(0, height, TILE_ROWS) for c in range(0, width, TILE_COLS)]


def _tiles(grid: np.ndarray) -> list[np.ndarray]:
    return [grid[r:r + TILE_ROWS, c:c + TILE_COLS]
            for r in range(0, grid.shape[0], TILE_ROWS) for c in range(0, grid.shape[1], TILE_COLS)]


def _untile(tiles: list[np.ndarray], sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    grids, tiles = [], iter(tiles)
    for h, w in sizes:
        grid = np.empty((h, w), np.int64)
        for r in range(0, h, TILE_ROWS):
            for c in range(0, w, TILE_COLS):
                grid[r:r + TILE_ROWS, c:c + TILE_COLS] = next(tiles)
        grids.append(grid)
    return grids


def encode_grids(encoder: EntropyEncoder, grids: list[np.ndarray], arm: IntegerMLP) -> None:
    """Code several grids, each cut into independent tiles, with interleaved wavefronts
    (one call per step)."""
    grids = [np.asarray(g, np.int64) for g in grids]
    if any(np.abs(g).max(initial=0) > MAX_LATENT for g in grids):
        raise ValueError(f"latents must lie within ±{MAX_LATENT}")
    grids = [tile for g in grids for tile in _tiles(g)]
    sizes = tuple(g.shape for g in grids)
    positions, owners, bounds, deltas, _ = _schedule(sizes)
    buffer = _buffer(grids, sizes)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        where = positions[start:stop]
        centres, ids = _predict(arm, buffer[where[:, None] + deltas[owners[start:stop]]])
        encoder.encode_parametric(buffer[where], Family.LAPLACE, centres, ids)


def decode_grids(decoder: EntropyDecoder, grid_sizes: list[tuple[int, int]], arm: IntegerMLP) -> list[np.ndarray]:
    sizes = tuple(tile for h, w in grid_sizes for tile in tile_sizes(h, w))
    positions, owners, bounds, deltas, length = _schedule(sizes)
    buffer = np.zeros(length, np.int64)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        where = positions[start:stop]
        centres, ids = _predict(arm, buffer[where[:, None] + deltas[owners[start:stop]]])
        values = decoder.decode_parametric(Family.LAPLACE, centres, ids)
        if np.abs(values).max(initial=0) > MAX_LATENT:
            raise CorruptPayloadError("decoded latent out of range")
        buffer[where] = values
    return _untile(_unbuffer(buffer, sizes), grid_sizes)


def ideal_bits(grid: np.ndarray, arm: IntegerMLP) -> float:
    """−log2 p of a grid (cut into tiles, as coded) under the integer ARM and the
    quantized tables (no coding)."""
    bits = 0.0
    for tile in _tiles(np.asarray(grid, np.int64)):
        rows, cols = (a.ravel() for a in np.mgrid[0:tile.shape[0], 0:tile.shape[1]])
        centres, ids = _predict(arm, gather_context(padded(tile), rows, cols))
        bits += tables.ideal_bits(Family.LAPLACE, tile[rows, cols], centres, ids)
    return bits
