"""Apply a convolutional transform tile by tile, so memory stays bounded on big images.

A transform whose receptive field reaches at most ``margin`` input positions past a
tile gives the same output tiled as whole (up to float rounding), while its peak
memory is set by the tile instead of the image.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

import torch


def tiled_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, scale: Fraction,
                tile: int, margin: int) -> torch.Tensor:
    """fn maps 1×C×h×w to 1×C'×(h·scale)×(w·scale); x is 1×C×H×W.

    ``tile`` and ``margin`` are in input positions and must make every window's
    output size an integer (e.g. multiples of 16 for a 1/16 analysis transform).
    """
    height, width = x.shape[-2:]
    if height <= tile and width <= tile:
        return fn(x)
    out: torch.Tensor | None = None
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            y0, x0 = max(0, top - margin), max(0, left - margin)
            y1, x1 = min(height, top + tile + margin), min(width, left + tile + margin)
            result = fn(x[..., y0:y1, x0:x1])
            th, tw = min(tile, height - top), min(tile, width - left)
            oy, ox = int((top - y0) * scale), int((left - x0) * scale)
            oh, ow = int(th * scale), int(tw * scale)
            if out is None:
                out = result.new_empty((1, result.shape[1], int(height * scale), int(width * scale)))
            out[..., int(top * scale):int(top * scale) + oh, int(left * scale):int(left * scale) + ow] = \
                result[..., oy:oy + oh, ox:ox + ow]
    assert out is not None
    return out
