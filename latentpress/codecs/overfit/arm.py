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
step (3H + W steps for an H×W grid instead of H·W). The grids of one image are
independent of each other, so their wavefronts run interleaved: step t decodes band t
of every grid at once, and the whole image takes as many steps as its largest grid.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError
from latentpress.nn.fixed_point import IntegerMLP

CONTEXT = ((-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
           (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
           (0, -2), (0, -1))
PAD = 2
WAVEFRONT_ROW_STRIDE = 3          # > the largest column offset in a row above
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


@functools.lru_cache(maxsize=64)
def wavefront(height: int, width: int) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """Positions grouped by t = 3i + j, in increasing t (each group decodable at once)."""
    rows, cols = np.mgrid[0:height, 0:width]
    t = (WAVEFRONT_ROW_STRIDE * rows + cols).ravel()
    order = np.argsort(t, kind="stable")
    bounds = np.flatnonzero(np.diff(t[order])) + 1
    return tuple((rows.ravel()[g], cols.ravel()[g]) for g in np.split(order, bounds))


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


def _interleaved(sizes: list[tuple[int, int]]) -> list[list[tuple[int, np.ndarray, np.ndarray]]]:
    """Step t → [(grid index, rows, cols) of band t in every grid that has one]."""
    fronts = [wavefront(h, w) for h, w in sizes]
    return [[(g, *front[t]) for g, front in enumerate(fronts) if t < len(front)]
            for t in range(max(len(front) for front in fronts))]


def encode_grids(encoder: EntropyEncoder, grids: list[np.ndarray], arm: IntegerMLP) -> None:
    """Code several independent grids with interleaved wavefronts (one call per step)."""
    grids = [np.asarray(g, np.int64) for g in grids]
    if any(np.abs(g).max(initial=0) > MAX_LATENT for g in grids):
        raise ValueError(f"latents must lie within ±{MAX_LATENT}")
    sources = [padded(g) for g in grids]
    for step in _interleaved([g.shape for g in grids]):
        context = np.concatenate([gather_context(sources[g], r, c) for g, r, c in step])
        symbols = np.concatenate([grids[g][r, c] for g, r, c in step])
        centres, ids = _predict(arm, context)
        encoder.encode_parametric(symbols, Family.LAPLACE, centres, ids)


def decode_grids(decoder: EntropyDecoder, sizes: list[tuple[int, int]], arm: IntegerMLP) -> list[np.ndarray]:
    targets = [np.zeros((h + 2 * PAD, w + 2 * PAD), np.int64) for h, w in sizes]
    for step in _interleaved(sizes):
        context = np.concatenate([gather_context(targets[g], r, c) for g, r, c in step])
        centres, ids = _predict(arm, context)
        values = decoder.decode_parametric(Family.LAPLACE, centres, ids)
        if np.abs(values).max(initial=0) > MAX_LATENT:
            raise CorruptPayloadError("decoded latent out of range")
        start = 0
        for g, r, c in step:
            targets[g][r + PAD, c + PAD] = values[start:start + r.size]
            start += r.size
    return [t[PAD:PAD + h, PAD:PAD + w] for t, (h, w) in zip(targets, sizes)]


def ideal_bits(grid: np.ndarray, arm: IntegerMLP) -> float:
    """−log2 p of a grid under the integer ARM and the quantized tables (no coding)."""
    grid = np.asarray(grid, np.int64)
    rows, cols = (a.ravel() for a in np.mgrid[0:grid.shape[0], 0:grid.shape[1]])
    centres, ids = _predict(arm, gather_context(padded(grid), rows, cols))
    return tables.ideal_bits(Family.LAPLACE, grid[rows, cols], centres, ids)
