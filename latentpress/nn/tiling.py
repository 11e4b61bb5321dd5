"""Apply a convolutional transform tile by tile, so memory stays bounded on big images.

A transform whose receptive field reaches at most ``margin`` input positions past a
tile gives the same output tiled as whole (up to float rounding), while its peak
memory is set by the tile instead of the image.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from fractions import Fraction

import torch


def tiled_map(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: Fraction,
              tile: int, margin: int) -> Iterator[tuple[int, int, torch.Tensor]]:
    """Yield (output top, output left, output tile) covering fn(x) without overlap.

    fn maps N×C×h×w to N×C'×(h·scale)×(w·scale); x is N×C×H×W. ``tile`` and ``margin``
    are in input positions and must make every window's output size an integer (e.g.
    multiples of 16 for a 1/16 analysis transform).
    """
    height, width = x.shape[-2:]
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            y0, x0 = max(0, top - margin), max(0, left - margin)
            y1, x1 = min(height, top + tile + margin), min(width, left + tile + margin)
            result = fn(x[..., y0:y1, x0:x1])
            oy, ox = int((top - y0) * scale), int((left - x0) * scale)
            oh, ow = int(min(tile, height - top) * scale), int(min(tile, width - left) * scale)
            yield int(top * scale), int(left * scale), result[..., oy:oy + oh, ox:ox + ow]


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
