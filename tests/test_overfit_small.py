"""Tiny and thin images through overfit come back at least as well as JPEG 2000's
smallest file of them: a file is mostly its fixed part there, so the encoder raises the
quality (codec.SMALL_IMAGES, THIN_SIDE, TINY_IMAGE) and records the quality used."""

from __future__ import annotations

import numpy as np
import pytest

import latentpress
from latentpress.bench.classic import CLASSIC
from latentpress.metrics import psnr


def _smallest_jpeg2000(image: np.ndarray) -> float:
    """PSNR of JPEG 2000's smallest file of the image over the bench's points."""
    codec = CLASSIC["jpeg2000"]
    ok, why = codec.available()
    assert ok, why
    smallest = min((codec.encode(image, point) for point in codec.points), key=len)
    return psnr(image, codec.decode(smallest))


def _image(shape: tuple[int, ...], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    rgb = np.stack([60 + xx * 0.05, 90 + yy * 5.0, 140 - xx * 0.03], axis=-1) + rng.normal(0, 8, shape[:2] + (3,))
    image = np.clip(rgb, 0, 255).astype(np.uint8)
    return image if len(shape) == 3 else np.ascontiguousarray(image[..., 1])


@pytest.mark.parametrize("shape, preset, used", [
    ((1, 1, 3), "fast", 100), ((1, 1), "medium", 100), ((1, 7, 3), "fast", 100), ((2, 3, 3), "medium", 100),
    ((3, 5), "fast", 100), ((16, 16, 3), "fast", 90), ((3, 200, 3), "fast", 90), ((33, 20), "medium", 90),
    ((48, 60, 3), "fast", 50), ((1, 2000, 3), "fast", 50), ((3, 1400, 3), "fast", 50), ((2, 3000), "fast", 50),
])
def test_tiny_and_thin_images_beat_jpeg2000s_smallest_file(shape, preset, used):
    image = _image(shape, sum(shape))
    data = latentpress.encode(image, "overfit", preset=preset, quality=0)
    assert latentpress.read_info(data).params["quality"] == used               # raised, and recorded
    assert psnr(image, latentpress.decode(data)) >= _smallest_jpeg2000(image)


@pytest.mark.parametrize("shape, used", [
    ((1, 1, 3), 100), ((1, 1), 100), ((1, 7, 3), 100), ((2, 3, 3), 100), ((3, 5), 100), ((16, 16, 3), 90),
    ((3, 200, 3), 90), ((33, 20), 90), ((48, 60, 3), 50), ((1, 2000, 3), 50), ((3, 1400, 3), 50), ((2, 3000), 50),
])
def test_the_default_preset_beats_jpeg2000s_smallest_file_too(shape, used):
    """instant (the shipped ARM, or a fitted one where the image is too thin for the
    wavelet) under the same floors."""
    image = _image(shape, sum(shape))
    data = latentpress.encode(image, "overfit", quality=0)
    assert latentpress.read_info(data).params["quality"] == used
    assert psnr(image, latentpress.decode(data)) >= _smallest_jpeg2000(image)


def test_larger_images_and_an_explicit_lambda_keep_what_was_asked():
    image = np.full((64, 64, 3), 128, np.uint8)
    assert latentpress.read_info(latentpress.encode(image, "overfit", preset="fast", quality=0)).params["quality"] == 0
    tiny = latentpress.encode(np.full((1, 1, 3), 9, np.uint8), "overfit", preset="fast", quality=20, lmbda=0.01)
    assert "quality" not in latentpress.read_info(tiny).params                  # λ was given, not a quality
