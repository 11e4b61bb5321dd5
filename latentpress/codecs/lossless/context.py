"""Causal pixel contexts, the reversible colour transform and the tiled wavefront order
shared by the lossless predictive codecs.

Planes are coded in tiles (``TILE_ROWS`` × ``TILE_COLS`` pixels) that never look
outside themselves, so decoding takes a bounded number of vectorized calls whatever the
image size. Within a tile, pixel (i, j) depends on neighbours up to ``rows`` rows above
and ``half_width`` columns either side, so it can be decoded in wavefront
t = (half_width + 1)·i + j: a wavefront is one such anti-diagonal band of every tile,
decoded at once.

A neighbour outside the tile (or outside the image) takes, in this order, the value of
the pixel's left neighbour, its upper neighbour, or the plane's neutral value, when
those lie inside the tile: a rule written with integer comparisons only, applied
identically by the encoder (to every pixel at once, for training) and by the decoder
(one band at a time).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

TILE_ROWS = 128
TILE_COLS = 512


@dataclass(frozen=True)
class ContextShape:
    """The causal neighbourhood: ``rows`` full rows above (columns −half_width …
    +half_width) and ``half_width`` pixels to the left on the current row."""
    rows: int
    half_width: int

    @property
    def offsets(self) -> tuple[tuple[int, int], ...]:
        above = [(-r, c) for r in range(self.rows, 0, -1) for c in range(-self.half_width, self.half_width + 1)]
        return tuple(above + [(0, c) for c in range(-self.half_width, 0)])

    @property
    def size(self) -> int:
        return len(self.offsets)

    @property
    def row_stride(self) -> int:
        return self.half_width + 1


def rgb_to_ycocg(rgb: np.ndarray) -> np.ndarray:
    """Reversible YCoCg-R (lifting, integers): (H, W, 3) uint8 → (3, H, W) int64 planes
    Y ∈ [0, 255], Co, Cg ∈ [−255, 255]."""
    r, g, b = (rgb[..., k].astype(np.int64) for k in range(3))
    co = r - b
    t = b + (co >> 1)
    cg = g - t
    y = t + (cg >> 1)
    return np.stack([y, co, cg])


def ycocg_to_rgb(planes: np.ndarray) -> np.ndarray:
    y, co, cg = planes
    t = y - (cg >> 1)
    g = cg + t
    b = t - (co >> 1)
    r = b + co
    return np.stack([r, g, b], axis=-1)


def tile_origin(rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return rows - rows % TILE_ROWS, cols - cols % TILE_COLS


def gather(plane: np.ndarray, rows: np.ndarray, cols: np.ndarray, offsets, neutral: int) -> np.ndarray:
    """(n, len(offsets)) values of ``plane`` at (rows + dr, cols + dc), with the
    out-of-tile rule of this module. Only causal offsets (dr < 0, or dr = 0 and dc < 0)."""
    height, width = plane.shape
    top, left = tile_origin(rows, cols)
    right = np.minimum(left + TILE_COLS, width)
    flat = plane.ravel()
    has_left = cols > left
    has_up = rows > top
    fallback = np.where(has_left, flat[rows * width + np.maximum(cols - 1, 0)],
                        np.where(has_up, flat[np.maximum(rows - 1, 0) * width + cols], neutral))
    out = np.empty((rows.size, len(offsets)), np.int64)
    for k, (dr, dc) in enumerate(offsets):
        rr, cc = rows + dr, cols + dc
        inside = (rr >= top) & (cc >= left) & (cc < right)
        index = np.clip(rr, 0, height - 1) * width + np.clip(cc, 0, width - 1)
        out[:, k] = np.where(inside, flat[index], fallback)
    return out


def median_edge(context: np.ndarray, offsets) -> np.ndarray:
    """LOCO-I's median edge detector from the W, N and NW columns of a context."""
    w, n, nw = (context[:, offsets.index(o)] for o in ((0, -1), (-1, 0), (-1, -1)))
    return np.where(nw >= np.maximum(w, n), np.minimum(w, n),
                    np.where(nw <= np.minimum(w, n), np.maximum(w, n), w + n - nw))


@functools.lru_cache(maxsize=1)
def schedule(height: int, width: int, row_stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, wavefront boundaries) of every pixel in decoding order: by wavefront
    t = row_stride·(i − tile top) + (j − tile left), then raster order (the encoder's
    view of ``wavefronts``, all at once)."""
    parts = list(wavefronts(height, width, row_stride))
    if not parts:
        empty = np.zeros(0, np.int64)
        return empty, empty, np.zeros(1, np.int64)
    bounds = np.concatenate([[0], np.cumsum([r.size for r, _ in parts])])
    return np.concatenate([r for r, _ in parts]), np.concatenate([c for _, c in parts]), bounds


def wavefronts(height: int, width: int, row_stride: int):
    """The decoding order one wavefront at a time, (rows, cols) each: the decoders' order
    without index arrays over the whole image (whose memory a tiny file claiming a
    large image would otherwise cost before its payload is found inconsistent).
    Wavefront t holds local position (i, j) = (i, t − row_stride·i) of every tile, in raster order."""
    tile_tops = np.arange(0, height, TILE_ROWS)
    tile_lefts = np.arange(0, width, TILE_COLS)
    local_rows = np.arange(min(TILE_ROWS, height))
    for t in range(row_stride * (local_rows.size - 1) + min(TILE_COLS, width)):
        local_cols = t - row_stride * local_rows
        valid = (local_cols >= 0) & (local_cols < TILE_COLS)
        if not valid.any():
            continue
        # Rows ascend with (tile top, local row); on one row, columns with the tile's left.
        rows = (tile_tops[:, None] + local_rows[valid][None, :]).ravel()
        cols = tile_lefts[None, :] + np.tile(local_cols[valid], tile_tops.size)[:, None]
        rows = np.repeat(rows, tile_lefts.size)
        cols = cols.ravel()
        inside = (rows < height) & (cols < width)
        if inside.any():
            yield rows[inside], cols[inside]
