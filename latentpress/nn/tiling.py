"""Apply a convolutional transform tile by tile, so memory stays bounded on big images.

A transform whose receptive field reaches at most ``margin`` input positions past a
tile gives the same output tiled as whole (up to float rounding), while its peak
memory is set by the tile instead of the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import torch


@dataclass(frozen=True)
class Window:
    """A tile [top, bottom) × [left, right) and the window [y0, y1) × [x0, x1) a
    transform reads to produce it: the tile plus up to ``margin`` positions each side."""

    top: int
    bottom: int
    left: int
    right: int
    y0: int
    y1: int
    x0: int
    x1: int


def windows(height: int, width: int, tile_rows: int, tile_columns: int, margin: int) -> Iterator[Window]:
    """Tiles covering height × width without overlap, row by row, with their windows."""
    for top in range(0, height, tile_rows):
        bottom = min(height, top + tile_rows)
        for left in range(0, width, tile_columns):
            right = min(width, left + tile_columns)
            yield Window(top, bottom, left, right, max(0, top - margin), min(height, bottom + margin),
                         max(0, left - margin), min(width, right + margin))


def tiled_map(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: Fraction,
              tile: int, margin: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield (output top, output left, output tile) covering fn(x) without overlap.

    fn maps N×C×h×w to N×C'×(h·scale)×(w·scale); x is N×C×H×W. ``tile`` and ``margin``
    are in input positions and must make every window's output size an integer (e.g.
    multiples of 16 for a 1/16 analysis transform).
    """
    height, width = x.shape[-2:]
    for w in windows(height, width, tile, tile, margin):
        result = fn(x[..., w.y0:w.y1, w.x0:w.x1])
        oy, ox = int((w.top - w.y0) * scale), int((w.left - w.x0) * scale)
        oh, ow = int((w.bottom - w.top) * scale), int((w.right - w.left) * scale)
        yield int(w.top * scale), int(w.left * scale), result[..., oy:oy + oh, ox:ox + ow]


def tiled_map_thin(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: int,
                   tile: int, margin: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """tiled_map for x (1×C×H×W) no higher than a tile (one row of windows), with windows
    of equal width run in batches of at most one whole window's area.

    Window by window, a map a few positions high costs thousands of tiny network calls
    whose fixed cost dominates. Batched, each call does the work of one window of a
    tall image in the same memory. The values are those of the windows run one by one
    up to float rounding (a batched convolution may sum in another order).
    """
    width = x.shape[-1]
    spans = [(left, max(0, left - margin), min(width, left + tile + margin)) for left in range(0, width, tile)]
    per_batch = max(1, (tile + 2 * margin) // x.shape[-2])
    start = 0
    while start < len(spans):
        size = spans[start][2] - spans[start][1]
        end = start + 1
        while end < len(spans) and end - start < per_batch and spans[end][2] - spans[end][1] == size:
            end += 1
        result = fn(torch.cat([x[..., x0:x1] for _, x0, x1 in spans[start:end]]))
        for index, (left, x0, _) in enumerate(spans[start:end]):
            offset, columns = (left - x0) * scale, min(tile, width - left) * scale
            yield 0, left * scale, result[index:index + 1, :, :, offset:offset + columns]
        start = end


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: Fraction,
                tile: int, margin: int) -> torch.Tensor:
    """fn(x) assembled from tiles (see tiled_map); one call when x fits in one tile."""
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return fn(x)
    out: torch.Tensor | None = None
    for top, left, part in tiled_map(fn, x, scale, tile, margin):
        if out is None:
            out = part.new_empty(part.shape[:-2] + (int(height * scale), int(width * scale)))
        out[..., top:top + part.shape[-2], left:left + part.shape[-1]] = part
    assert out is not None
    return out
