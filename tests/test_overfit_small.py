"""Tiny and thin images through overfit come back at least as well as JPEG 2000's
smallest file of them: the file is mostly its fixed part there, so the encoder uses at
least quality 90 below 1,024 pixels and 50 below 4,096."""

from __future__ import annotations

import numpy as np
import pytest

import latentpress
from latentpress.bench.classic import CLASSIC
from latentpress.metrics import psnr


def _smallest_jpeg2000(image: np.ndarray) -> tuple[int, float]:
    """(bytes, PSNR) of JPEG 2000's smallest file of the image over the bench's points."""
    codec = CLASSIC["jpeg2000"]
    files = [codec.encode(image, point) for point in codec.points]
    smallest = min(files, key=len)
    return len(smallest), psnr(image, codec.decode(smallest))


@pytest.mark.parametrize("shape, used", [((1, 1), 90), ((1, 7), 90), ((3, 200), 90), ((2, 3), 90), ((16, 16), 90),
                                         ((33, 20), 90), ((48, 60), 50), ((1, 2000), 50)])
def test_tiny_and_thin_images_beat_jpeg2000s_smallest_file(shape, used):
    rng = np.random.default_rng(sum(shape))
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    image = np.clip(np.stack([60 + xx * 0.7, 90 + yy * 5.0, 140 - xx * 0.3], axis=-1)
                    + rng.normal(0, 8, shape + (3,)), 0, 255).astype(np.uint8)
    ok, why = CLASSIC["jpeg2000"].available()
    assert ok, why
    _, floor = _smallest_jpeg2000(image)
    data = latentpress.encode(image, "overfit", preset="fast", quality=0)
    assert latentpress.read_info(data).params["quality"] == used               # raised, and recorded
    assert psnr(image, latentpress.decode(data)) >= floor


def test_larger_images_keep_the_quality_asked_for():
    image = np.full((64, 64, 3), 128, np.uint8)
    data = latentpress.encode(image, "overfit", preset="fast", quality=0)
    assert latentpress.read_info(data).params["quality"] == 0
