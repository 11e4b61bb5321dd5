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

Decoding goes by wavefronts: latent (i, j) depends only on positions with a smaller
t = 3i + j, so every latent of one anti-diagonal band t, a wavefront, is decoded in one
vectorized call (3H + W wavefronts for an H×W grid instead of H·W latents one by one).
Every grid is cut into tiles of 64 × 256 latents (32 × 128 in the overfit codec's
payload versions 5 and later: Plan.tile) coded independently (a neighbour outside the
tile counts as 0), and the tiles of all grids run interleaved: wavefront t holds band t
of every tile, so any image decodes in at most 3·63 + 255 + 1 = 445 wavefronts
(3·31 + 127 + 1 = 221 with the smaller tiles). (Training estimates the rate with
whole-grid contexts; the tile borders, 2 of every 64 rows and 256 columns, cost a
little more than that estimate.) Most of a decode's time is a fixed cost per
wavefront, so the smaller tiles decode faster (docs/codecs/overfit.md).

A Plan may split the grids into phases coded one after another (445 or 221 wavefronts
at most each), and give each grid a parent grid of an earlier phase: the ARM then also sees
the parent's latent under each position and the sum of its 3×3 neighbourhood's
magnitudes (read from the whole parent grid, across tile borders), and a per-grid
offset added to its first layer (payload version 4's band-aware ARM; model.coding_plan).
Latents whose inputs are all zero take their grid's precomputed prediction.

A wavefront is decoded in one call of compiled code where latentpress._native is
built (_NativePhase, latentpress/_native.c), else in numpy (_decode_wavefront); both
compute the same numbers, and the numpy code is the definition.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentpress import progress
from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder, guarded
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError, LimitError
from latentpress.nn import native
from latentpress.nn.fixed_point import IntegerMLP
from latentpress.nn.threads import single_blas_thread

CONTEXT = ((-2, -2), (-2, -1), (-2, 0), (-2, 1), (-2, 2),
           (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
           (0, -2), (0, -1))
PAD = 2
WAVEFRONT_ROW_STRIDE = 3          # > the largest column offset in a row above
# Grids are cut into tiles coded independently (neighbours outside a tile count as 0),
# so decoding takes 3·TILE_ROWS + TILE_COLS wavefronts whatever the image size. Payload
# versions 2-4 of the overfit codec use these; versions 5 and later smaller tiles
# (Plan.tile): 221 wavefronts instead of 445, for a few more bits at the tile borders
# (docs/codecs/overfit.md).
TILE_ROWS = 64
TILE_COLS = 256
SMALL_TILE = (32, 128)
PARENT_INPUTS = 2                 # a parent grid's latent and its neighbourhood's Σ|latent|
MAX_LATENT = 1 << 11              # latents are clipped to ±2**11 before entering the ARM
FRAC_BITS = 8


def padded(grid: np.ndarray) -> np.ndarray:
    return np.pad(np.clip(grid, -MAX_LATENT, MAX_LATENT), PAD)


def gather_context(padded_grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """(n, 12) causal neighbours of grid positions (rows, cols); zero outside the grid."""
    r = rows[:, None] + PAD + np.array([dr for dr, _ in CONTEXT])
    c = cols[:, None] + PAD + np.array([dc for _, dc in CONTEXT])
    return padded_grid[r, c]


class ARM(nn.Module):
    """Float ARM for training: context (n, inputs) → (mean, ln scale). A band-aware
    ARM's band identity is one-hot inputs here; the integer ARM folds their weights
    into one first-layer offset per plane (Plan.offsets)."""

    def __init__(self, hidden: int = 16, layers: int = 2, inputs: int = len(CONTEXT)) -> None:
        super().__init__()
        sizes = [inputs] + [hidden] * layers
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.out = nn.Linear(sizes[-1], 2)

    def forward(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = context
        for layer in self.hidden:
            x = torch.relu(layer(x))
        mean, log_scale = self.out(x).unbind(-1)
        return mean, log_scale

    def load_integers(self, integers: list[np.ndarray], precision: int = FRAC_BITS) -> None:
        """Set the weights and biases, layer by layer, to integers at 2**−precision."""
        with torch.no_grad():
            tensors = (t for layer in list(self.hidden) + [self.out] for t in (layer.weight, layer.bias))
            for tensor, values in zip(tensors, integers):
                tensor.copy_(torch.from_numpy(values.astype(np.float64) / (1 << precision)))

    def to_integer(self, frac_bits: int = FRAC_BITS) -> IntegerMLP:
        layers = [(l.weight.detach().numpy(), l.bias.detach().numpy(), True) for l in self.hidden]
        layers.append((self.out.weight.detach().numpy(), self.out.bias.detach().numpy(), False))
        return IntegerMLP.from_float(layers, frac_bits)


def _predict(arm: IntegerMLP, context: np.ndarray,
             first_offsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    # Contexts are bounded by construction: latents within ±MAX_LATENT (checked as they
    # are decoded, or clipped before coding) and 3×3 sums of their magnitudes, at most
    # 9·2**11 < 2**(MAX_INPUT_BITS − FRAC_BITS) = 2**16.
    out = arm.on_integers(context, first_offsets, within_bound=True)
    return tables.params_to_tables(out[:, 0], out[:, 1], arm.frac_bits)


@dataclass(frozen=True)
class Plan:
    """How a list of grids is coded.

    phases: grid indices; the phases are coded one after another, the tiles of one
      phase's grids interleaved in one sequence of wavefronts.
    parents: per grid, (parent grid, stride) or None; None for all: the ARM has no
      parent inputs. A parent (of an earlier phase) gives two inputs: its latent at
      (row // stride, col // stride) and the sum of |latent| over that latent's 3×3
      neighbourhood (zero outside the grid; both zero for a grid without a parent).
    offsets: per grid, a vector added to the ARM's first hidden layer (its weights for
      a one-hot input of the grid's band identity; codec.py), or None.
    tile: the shape of the tiles every grid is cut into.
    """

    phases: tuple[tuple[int, ...], ...]
    parents: tuple[tuple[int, int] | None, ...] | None = None
    offsets: np.ndarray | None = None
    tile: tuple[int, int] | None = None        # (rows, columns); None: (TILE_ROWS, TILE_COLS)

    @property
    def tile_shape(self) -> tuple[int, int]:
        return self.tile or (TILE_ROWS, TILE_COLS)

    @classmethod
    def single(cls, count: int) -> "Plan":
        """All grids in one phase, spatial contexts only (payload versions 2 and 3)."""
        return cls((tuple(range(count)),))

    @property
    def inputs(self) -> int:
        return len(CONTEXT) + (PARENT_INPUTS if self.parents is not None else 0)


def encode_grid(encoder: EntropyEncoder, grid: np.ndarray, arm: IntegerMLP) -> None:
    """Code one integer grid under the integer ARM."""
    encode_grids(encoder, [grid], arm)


def decode_grid(decoder: EntropyDecoder, height: int, width: int, arm: IntegerMLP) -> np.ndarray:
    return decode_grids(decoder, [(height, width)], arm)[0]


def _stride(sizes) -> int:
    """The row stride of every block of a buffer: one stride for all grids, so all
    share their context offsets (one row broadcast instead of a gather per latent)."""
    return max((w for _, w in sizes), default=0) + 2 * PAD


def _sort_times(times: np.ndarray) -> np.ndarray:
    """A stable argsort of nonnegative times (a radix sort when they fit 16 bits)."""
    if times.size and times.max() < 1 << 16:
        times = times.astype(np.uint16)
    return np.argsort(times, kind="stable")


@functools.lru_cache(maxsize=16)
def _schedule(sizes: tuple[tuple[int, int], ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The interleaved wavefront of several grids, laid out in one flat buffer.

    Grid g occupies a zero-bordered block of h + 4 rows of _stride(sizes) entries of
    the buffer. Returns (flat buffer index of every latent in coding order, its grid,
    wavefront boundaries, the context offsets (1, 12), buffer length). Coding order:
    wavefront t holds band t of every grid that has one, in grid order, each band in
    row order."""
    # Indices in int32 (a decoder at the pixel limit would otherwise hold about 1 GB of
    # int64 index arrays while sorting them; every value here is far below 2³¹). The
    # index type does not change the order: a stable sort of the same times.
    stride = _stride(sizes)
    positions, owners, times = [], [], []
    offset = 0
    for g, (h, w) in enumerate(sizes):
        rows, cols = np.divmod(np.arange(h * w, dtype=np.int32), np.int32(w))
        positions.append(np.int32(offset) + (rows + np.int32(PAD)) * np.int32(stride) + cols + np.int32(PAD))
        owners.append(np.full(h * w, g, np.int32))
        times.append(np.int32(WAVEFRONT_ROW_STRIDE) * rows + cols)
        offset += (h + 2 * PAD) * stride
    if offset >= 1 << 31:
        raise LimitError(f"overfit: {offset:,} latent buffer entries exceed 2^31")
    deltas = np.array([[dr * stride + dc for dr, dc in CONTEXT]], np.int32)
    if not sizes:                        # a phase of empty grids
        empty = np.zeros(0, np.int32)
        return empty, empty, np.zeros(1, np.int64), deltas, 0
    time_of = np.concatenate(times)
    del times
    order = _sort_times(time_of)
    time_of = time_of[order]
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(time_of)) + 1, [order.size]])
    del time_of
    return np.concatenate(positions)[order], np.concatenate(owners)[order], bounds, deltas, offset


def _blocks(buffer: np.ndarray, sizes):
    """Each grid's (h + 4) × (w + 4) block of a buffer, as a view."""
    stride, offset = _stride(sizes), 0
    for h, w in sizes:
        yield buffer[offset:offset + (h + 2 * PAD) * stride].reshape(h + 2 * PAD, stride)[:, :w + 2 * PAD]
        offset += (h + 2 * PAD) * stride


def _buffer(grids: list[np.ndarray], sizes) -> np.ndarray:
    *_, length = _schedule(sizes)
    buffer = np.zeros(length, np.int64)
    for grid, block in zip(grids, _blocks(buffer, sizes)):
        block[PAD:-PAD, PAD:-PAD] = grid
    return buffer


def _unbuffer(buffer: np.ndarray, sizes) -> list[np.ndarray]:
    return [block[PAD:-PAD, PAD:-PAD].copy() for block in _blocks(buffer, sizes)]


def tile_sizes(height: int, width: int, tile: tuple[int, int] | None = None) -> list[tuple[int, int]]:
    """Shapes of the tiles of one grid, in row-major tile order."""
    rows, cols = tile or (TILE_ROWS, TILE_COLS)
    return [(min(rows, height - r), min(cols, width - c)) for r in range(0, height, rows) for c in range(0, width, cols)]


def parent_features(parent: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """(2, h, w): a parent grid's latent under each position of a grid of ``shape``
    (at row // stride, col // stride, clamped to the parent), and the sum of |latent|
    over its 3×3 neighbourhood."""
    parent = np.clip(np.asarray(parent, np.int64), -MAX_LATENT, MAX_LATENT)
    if parent.size == 0:                 # only in crafted files: levels beyond the image
        return np.zeros((PARENT_INPUTS, *shape), np.int64)
    magnitude = np.pad(np.abs(parent), 1)
    columns = magnitude[:-2] + magnitude[1:-1] + magnitude[2:]          # 3×3 sums, separably
    box = columns[:, :-2] + columns[:, 1:-1] + columns[:, 2:]
    ph, pw = parent.shape
    rows = np.minimum(np.arange(shape[0]) // stride, ph - 1)
    cols = np.minimum(np.arange(shape[1]) // stride, pw - 1)
    return np.stack([parent, box])[:, rows][:, :, cols]


class _Phase:
    """One phase of a plan: its grids' tiles laid out in one buffer, their schedule,
    and the extra inputs of every latent (parent features) in buffers of that layout.
    The latents' buffer and the extra inputs' buffers are consecutive parts of one
    store, so one gather with per-input offsets (self.deltas) reads a whole context."""

    def __init__(self, plan: Plan, phase: tuple[int, ...], shapes: list[tuple[int, int]],
                 grids: list[np.ndarray | None]) -> None:
        self.tile = rows, cols = plan.tile_shape
        self.spans = [(g, r, c) for g in phase for r in range(0, shapes[g][0], rows)
                      for c in range(0, shapes[g][1], cols)]
        self.sizes = tuple(t for g in phase for t in tile_sizes(*shapes[g], self.tile))
        self.positions, self.owners, self.bounds, self.deltas, self.length = _schedule(self.sizes)
        self.tile_grid = np.array([g for g, _, _ in self.spans], np.int64)
        self._grids, self._parents = grids, None
        if (1 + (PARENT_INPUTS if plan.parents is not None else 0)) * self.length >= 1 << 31:
            raise LimitError(f"overfit: a phase of {self.length:,} latent buffer entries is too large")
        if plan.parents is not None:
            self._parents = [plan.parents[g] for g in phase]
            # Input k of the extra ones sits (k + 1)·length entries after the latent.
            self.deltas = np.concatenate([self.deltas, [[(k + 1) * self.length for k in range(PARENT_INPUTS)]]],
                                         axis=1).astype(self.deltas.dtype)
        self._phase, self._shapes = phase, shapes

    def store(self, grids: list[np.ndarray] | None = None) -> np.ndarray:
        """The phase's store: the latents' buffer (the grids' tiles, or zeros to decode
        into), then each extra input's buffer. Integers (|latent| ≤ 2**11 and a 3×3 sum
        of magnitudes below 2**15) held in float64, exactly: contexts go to the ARM
        unconverted."""
        parts = 1 + (PARENT_INPUTS if self._parents is not None else 0)
        store = np.zeros(parts * self.length, np.float64)
        if grids is not None:
            store[:self.length] = _buffer([self._tile_of(grids[g], r, c) for g, r, c in self.spans], self.sizes)
        if self._parents is not None:
            blocks = [list(_blocks(store[(k + 1) * self.length:(k + 2) * self.length], self.sizes))
                      for k in range(PARENT_INPUTS)]
            for g, link in zip(self._phase, self._parents):
                if link is None:
                    continue
                features = parent_features(self._grids[link[0]], link[1], self._shapes[g])
                for index, (owner, r, c) in enumerate(self.spans):
                    if owner == g:
                        for k in range(PARENT_INPUTS):
                            blocks[k][index][PAD:-PAD, PAD:-PAD] = self._tile_of(features[k], r, c)
        return store

    def _tile_of(self, grid: np.ndarray, r: int, c: int) -> np.ndarray:
        return grid[r:r + self.tile[0], c:c + self.tile[1]]

    def contexts(self, store: np.ndarray, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """(contexts, grid index) of the latents start:stop of the coding order."""
        where = self.positions[start:stop]
        return np.take(store, where[:, None] + self.deltas), self.tile_grid[self.owners[start:stop]]

    def write_back(self, store: np.ndarray, grids: list[np.ndarray]) -> None:
        for tile, (g, r, c) in zip(_unbuffer(store[:self.length], self.sizes), self.spans):
            self._tile_of(grids[g], r, c)[...] = tile


class _Predictor:
    """The integer ARM's (centre, table id) for contexts, with each grid's first-layer
    offset; latents whose context is all zero (most of them at low rates) take their
    grid's precomputed answer (the same numbers: every row is computed alone).
    Contexts are integers (|value| ≤ 9·MAX_LATENT) in int64 or float64 arrays."""

    def __init__(self, arm: IntegerMLP, plan: Plan, count: int) -> None:
        self.arm, self.offsets = arm, plan.offsets
        self.ones = np.ones(arm.layers[0].weight.shape[1])
        self.zero = self._run(np.zeros((count, self.ones.size)), np.arange(count))

    def _run(self, context: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _predict(self.arm, context, None if self.offsets is None else self.offsets[grid])

    def __call__(self, context: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        context = np.asarray(context, np.float64)
        active = np.flatnonzero(np.abs(context) @ self.ones)
        if active.size == context.shape[0]:
            return self._run(context, grid)
        centres, ids = self.zero[0][grid], self.zero[1][grid]
        if active.size:
            centres[active], ids[active] = self._run(context[active], grid[active])
        return centres, ids


def _check_plan(plan: Plan, count: int, arm: IntegerMLP) -> None:
    if sorted(g for phase in plan.phases for g in phase) != list(range(count)):
        raise ValueError("a plan must code every grid exactly once")
    if plan.parents is not None:
        phase_of = {g: index for index, phase in enumerate(plan.phases) for g in phase}
        if len(plan.parents) != count or any(
                link is not None and (link[1] not in (1, 2) or phase_of.get(link[0], len(plan.phases)) >= phase_of[g])
                for g, link in enumerate(plan.parents)):
            raise ValueError("a parent must be a grid of an earlier phase, at stride 1 or 2")
    if arm.layers[0].weight.shape[1] != plan.inputs:
        raise CorruptPayloadError(f"ARM takes {arm.layers[0].weight.shape[1]} inputs, the plan gives {plan.inputs}")
    if plan.offsets is not None and plan.offsets.shape != (count, arm.layers[0].weight.shape[0]):
        raise CorruptPayloadError("ARM offsets do not match the grids")


# Latents predicted at once when every value is known (encoding, rate estimates).
_CHUNK = 1 << 16


def _known_predictions(grids: list[np.ndarray], arm: IntegerMLP, plan: Plan):
    """Per phase, (latents, centres, table ids) in coding order and the wavefront
    boundaries: the encoder knows every latent, so contexts are gathered in large
    chunks, not one wavefront at a time."""
    _check_plan(plan, len(grids), arm)
    predict = _Predictor(arm, plan, len(grids))
    shapes = [g.shape for g in grids]
    for phase_grids in plan.phases:
        phase = _Phase(plan, phase_grids, shapes, grids)
        store = phase.store(grids)
        count = phase.positions.size
        compiled = _NativePhase.build(phase, predict, store, largest=min(_CHUNK, count))
        if compiled is not None:            # the decoder's compiled code, a chunk at a time
            centres, ids = np.empty(count, np.int64), np.empty(count, np.int64)
            for start in range(0, count, _CHUNK):
                stop = min(start + _CHUNK, count)
                compiled.stepper.predict(store, start, stop)
                centres[start:stop], ids[start:stop] = compiled.centres[:stop - start], compiled.ids[:stop - start]
        else:
            chunks = [predict(*phase.contexts(store, start, min(start + _CHUNK, count)))
                      for start in range(0, count, _CHUNK)]
            centres = np.concatenate([c for c, _ in chunks]) if chunks else np.zeros(0, np.int64)
            ids = np.concatenate([i for _, i in chunks]) if chunks else np.zeros(0, np.int64)
        yield store[phase.positions].astype(np.int64), centres, ids, phase.bounds


def encode_grids(encoder: EntropyEncoder, grids: list[np.ndarray], arm: IntegerMLP, plan: Plan | None = None) -> None:
    """Code several grids, each cut into independent tiles, phase by phase (the
    phase's tiles interleaved, one coder call per wavefront: the coder groups a call's
    symbols by table, so the decoder must see the same calls)."""
    grids = [np.asarray(g, np.int64) for g in grids]
    if any(np.abs(g).max(initial=0) > MAX_LATENT for g in grids):
        raise ValueError(f"latents must lie within ±{MAX_LATENT}")
    for values, centres, ids, bounds in _known_predictions(grids, arm, plan or Plan.single(len(grids))):
        for start, stop in zip(bounds[:-1], bounds[1:]):          # one wavefront
            encoder.encode_parametric(values[start:stop], Family.LAPLACE, centres[start:stop], ids[start:stop])


def _in_range(values: np.ndarray) -> np.ndarray:
    if np.abs(values).max(initial=0) > MAX_LATENT:
        raise CorruptPayloadError("decoded latent out of range")
    return values


def _decode_wavefront(decoder: EntropyDecoder, predict: _Predictor, contexts) -> np.ndarray:
    centres, ids = predict(*contexts)
    return _in_range(decoder.decode_parametric(Family.LAPLACE, centres, ids))



class _NativePhase:
    """A phase's decode through compiled code (latentpress/_native.c's Stepper): one
    call gathers, predicts and groups a wavefront's latents, the entropy coder decodes
    each group, one call writes the latents back. The same numbers as the numpy path
    (_decode_wavefront); only for ARMs whose float64 products are exact (else None).
    The encoder's predictions (_known_predictions) use its predict() on whole chunks."""

    @classmethod
    def build(cls, phase: _Phase, predict: _Predictor, store: np.ndarray,
              largest: int | None = None) -> "_NativePhase | None":
        """None where the compiled code is not built or not exact for this ARM.
        largest: the most latents one call handles (default: the largest wavefront)."""
        module = native.module()
        arm = predict.arm
        if module is None or any(w is None for w in arm._float_weights) or phase.positions.size == 0:
            return None
        return cls(module, phase, predict, store, largest or int(np.diff(phase.bounds).max()))

    def __init__(self, module, phase: _Phase, predict: _Predictor, store: np.ndarray, largest: int) -> None:
        arm, ntables = predict.arm, tables.NUM_SCALES * tables.NUM_OFFSETS
        self.centres, self.ids, self.order = (np.empty(largest, np.int64) for _ in range(3))
        self.index = np.empty(largest, np.int32)
        keys, counts = np.empty(ntables, np.int64), np.empty(ntables, np.int64)
        weights = (arm._float_weights[0],) + arm._float_shifted_weights[1:]   # as _call_float(plain_inputs)
        offsets = np.zeros(0) if predict.offsets is None else predict.offsets
        self.phase = phase
        self.stepper = module.Stepper(
            np.ascontiguousarray(phase.positions, np.int32), np.ascontiguousarray(phase.owners, np.int32),
            np.ascontiguousarray(phase.tile_grid, np.int64), np.ascontiguousarray(phase.deltas.ravel(), np.int32),
            store.size, tuple(np.ascontiguousarray(w, np.float64) for w in weights),
            tuple(np.ascontiguousarray(b, np.float64) for b in arm._float_biases),
            tuple(layer.relu for layer in arm.layers), np.ascontiguousarray(offsets, np.float64),
            np.ascontiguousarray(np.stack(predict.zero, axis=1), np.int64),
            tables.log_scale_thresholds(arm.frac_bits), np.ascontiguousarray(tables.radii(Family.LAPLACE), np.int64),
            arm.frac_bits, tables.NUM_OFFSETS, tables.OFFSET_STEPS,
            self.centres, self.ids, self.order, keys, counts, self.index)

    def decode(self, decoder: EntropyDecoder, store: np.ndarray) -> None:
        run, bounds, positions = self.stepper.run, self.phase.bounds, self.phase.positions
        decode, models, make = decoder.group_decoder(Family.LAPLACE)
        for start, stop in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            status = guarded(run, store, start, stop, decode, models, make, MAX_LATENT)
            if status == 1:                   # an escape symbol: the general path
                count = stop - start
                store[positions[start:stop]] = _in_range(decoder.resolve_groups(
                    Family.LAPLACE, self.centres[:count], self.ids[:count], self.order[:count], self.index[:count]))
            elif status:
                raise CorruptPayloadError("decoded latent out of range")


def decode_grids(decoder: EntropyDecoder, grid_sizes: list[tuple[int, int]], arm: IntegerMLP,
                 plan: Plan | None = None) -> list[np.ndarray]:
    plan = plan or Plan.single(len(grid_sizes))
    _check_plan(plan, len(grid_sizes), arm)
    predict = _Predictor(arm, plan, len(grid_sizes))
    grids = [np.zeros(size, np.int64) for size in grid_sizes]
    with progress.task("decoding the latents", total=len(plan.phases), unit="phase") as bar:
        for phase_grids in plan.phases:
            phase = _Phase(plan, phase_grids, grid_sizes, grids)
            store = phase.store()
            compiled = _NativePhase.build(phase, predict, store)
            if compiled is not None:
                compiled.decode(decoder, store)
            else:
                with single_blas_thread():        # many small products (nn.threads)
                    for start, stop in zip(phase.bounds[:-1].tolist(), phase.bounds[1:].tolist()):
                        store[phase.positions[start:stop]] = _decode_wavefront(decoder, predict,
                                                                               phase.contexts(store, start, stop))
            phase.write_back(store, grids)
            bar.advance()
    return grids


def grids_ideal_bits(grids: list[np.ndarray], arm: IntegerMLP, plan: Plan | None = None) -> float:
    """−log2 p of grids, as coded, under the integer ARM and the quantized tables."""
    grids = [np.clip(np.asarray(g, np.int64), -MAX_LATENT, MAX_LATENT) for g in grids]
    return sum(tables.ideal_bits(Family.LAPLACE, values, centres, ids)
               for values, centres, ids, _ in _known_predictions(grids, arm, plan or Plan.single(len(grids))))


def ideal_bits(grid: np.ndarray, arm: IntegerMLP) -> float:
    """−log2 p of one grid (cut into tiles, as coded) under the integer ARM."""
    return grids_ideal_bits([grid], arm)
