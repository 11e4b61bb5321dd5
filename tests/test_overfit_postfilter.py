"""The overfit codec's linear post-filter (payload version 5 on): exact integer
filtering, the least-squares design, and the FILT section through the container (in
version 6, after the byte that selects the restoration network: 0 here, none)."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys

import numpy as np
import pytest

import latentpress
from latentpress import container
from latentpress.codecs.overfit import postfilter
from latentpress.errors import CorruptPayloadError


def _reference(image: np.ndarray, full: np.ndarray, bias: np.ndarray, precision: int) -> np.ndarray:
    """The filter's definition in int64, tap by tap."""
    pixels = image.reshape(*image.shape[:2], -1).astype(np.int64)
    radius = full.shape[-1] // 2
    padded = np.pad(pixels, ((radius, radius), (radius, radius), (0, 0)), mode="edge") - 128
    height, width, colours = pixels.shape
    out = np.empty_like(pixels)
    for c in range(colours):
        r = np.full((height, width), bias[c], np.int64)
        for source in range(colours):
            for dy in range(full.shape[2]):
                for dx in range(full.shape[3]):
                    r += full[c, source, dy, dx] * padded[dy:dy + height, dx:dx + width, source]
        out[..., c] = np.clip(pixels[..., c] + ((r + (1 << (precision - 1))) >> precision), 0, 255)
    return out.reshape(image.shape).astype(np.uint8)


def _random_filter(rng, size, cross, colours, magnitude):
    shapes = postfilter.tensor_shapes(size, cross, colours)
    return [rng.integers(-magnitude, magnitude + 1, shape) for shape in shapes]


@pytest.mark.parametrize("size,cross,colours", [(3, False, 1), (5, False, 3), (7, True, 3), (3, True, 3)])
def test_filtering_is_exact_integer_arithmetic(size, cross, colours):
    rng = np.random.default_rng(size + 10 * cross + colours)
    shape = (37, 29, 3) if colours == 3 else (37, 29)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    image[:5] = 255                                   # extremes: every product at its largest
    image[-5:] = 0
    for magnitude, precision in ((40, 7), (200, 11)):
        full, bias = postfilter.kernel(_random_filter(rng, size, cross, colours, magnitude), size, cross, colours)
        assert np.array_equal(postfilter.apply(image, full, bias, precision), _reference(image, full, bias, precision))


@pytest.mark.parametrize("shape", [(1, 1, 3), (2, 3, 3), (1, 9), (6, 1)])
def test_images_smaller_than_the_support_filter_as_defined(shape):
    rng = np.random.default_rng(len(shape) + shape[0])
    colours = 3 if len(shape) == 3 else 1
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    full, bias = postfilter.kernel(_random_filter(rng, 7, colours == 3, colours, 30), 7, colours == 3, colours)
    assert np.array_equal(postfilter.apply(image, full, bias, 8), _reference(image, full, bias, 8))


def test_a_kernel_at_the_exactness_bound_still_filters_exactly():
    """128·Σ|K| + |b| = 2**23 is allowed (every partial sum stays below 2**24, exact
    in float32); one more is refused."""
    size, colours = 7, 3
    taps = len(postfilter.pairs(size))
    centre = np.zeros((colours, colours), np.int64)
    weights = np.zeros((colours, colours, taps), np.int64)
    # Pair weights w put w on two taps and −2w on the centre: 4|w| of Σ|K| each.
    weights[:, :, :] = (postfilter.MAX_SUM // 128) // (4 * colours * taps)
    used = 128 * 4 * colours * taps * weights[0, 0, 0]
    bias = np.full(colours, postfilter.MAX_SUM - used, np.int64)
    full, b = postfilter.kernel([centre, weights, bias], size, True, colours)
    assert (128 * np.abs(full).sum(axis=(1, 2, 3)) + np.abs(b) == postfilter.MAX_SUM).all()
    image = np.zeros((20, 20, 3), np.uint8)
    image[::2, ::2] = 255                             # a checkerboard of extremes
    assert np.array_equal(postfilter.apply(image, full, b, 6), _reference(image, full, b, 6))
    with pytest.raises(CorruptPayloadError, match="range"):
        postfilter.kernel([centre, weights, bias + 1], size, True, colours)


def test_design_fits_a_blur_and_pays_only_when_the_weights_are_worth_it(photo):
    """On a blurred crop the filter the design picks lowers the squared error; at an
    absurd rate weight no filter is worth its bytes."""
    original = np.ascontiguousarray(photo[:128, :192])
    padded = np.pad(original.astype(np.float64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = (padded[:-2] + 2 * padded[1:-1] + padded[2:]) / 4                  # a symmetric [1 2 1] blur
    blurred = np.rint((rows[:, :-2] + 2 * rows[:, 1:-1] + rows[:, 2:]) / 4).astype(np.uint8)
    data, filtered = postfilter.design(blurred, original, 1e-6)
    assert data[0] in postfilter.SIZES and len(data) > 3
    mse = lambda image: np.mean((image.astype(np.float64) - original) ** 2)  # noqa: E731
    assert mse(filtered) < 0.7 * mse(blurred)
    full, bias, precision = postfilter.decode_filter(data, 3)
    assert np.array_equal(postfilter.apply(blurred, full, bias, precision), filtered)
    assert postfilter.design(blurred, original, 10.0) is None


def _with_filter(data: bytes, filt: bytes | None) -> bytes:
    """The file with FILT replaced (None: removed)."""
    header, sections = container.read(data)
    kept = [s for s in sections if s.type != "FILT"]
    return container.write(header, kept + ([] if filt is None else [container.Section("FILT", filt)]))


def _filt(tensors, size, cross, precision) -> bytes:
    """A version-6 FILT section: no restoration network, then the linear filter."""
    from latentpress.entropy.integer_tensors import encode_tensors
    return bytes([0, size, int(cross), precision]) + encode_tensors(tensors)


@pytest.fixture(scope="module")
def plain(photo):
    crop = np.ascontiguousarray(photo[72:136, 44:124])
    data = latentpress.encode(crop, "overfit", quality=40, preset="fast")
    header, sections = container.read(data)
    assert header.codec_version == 7 and [s.type for s in sections][:3] == ["ARMW", "SYNW", "LATN"]
    return _with_filter(data, None)


def test_a_filter_in_the_file_is_what_the_decoder_applies(plain, tmp_path):
    rng = np.random.default_rng(3)
    tensors = _random_filter(rng, 5, True, 3, 20)
    data = _with_filter(plain, _filt(tensors, 5, True, 8))
    full, bias = postfilter.kernel(tensors, 5, True, 3)
    decoded = latentpress.decode(data)
    assert np.array_equal(decoded, _reference(latentpress.decode(plain), full, bias, 8))
    assert not np.array_equal(decoded, latentpress.decode(plain))
    path = tmp_path / "f.lpx"
    path.write_bytes(data)
    for threads in (1, 2):
        code = (f"import torch, hashlib, latentpress; torch.set_num_threads({threads}); "
                f"print(hashlib.sha256(latentpress.decode(open({str(path)!r}, 'rb').read()).tobytes()).hexdigest())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == hashlib.sha256(decoded.tobytes()).hexdigest()


@pytest.mark.parametrize("head", [bytes([4, 0, 8]), bytes([5, 2, 8]), bytes([5, 0, 3]), bytes([5, 0, 12]), b"", b"\x05\x00"])
def test_invalid_filter_sections_are_refused(plain, head):
    from latentpress.entropy.integer_tensors import encode_tensors
    body = encode_tensors(_random_filter(np.random.default_rng(0), 5, False, 3, 5)) if len(head) == 3 else b""
    with pytest.raises(CorruptPayloadError, match="FILT"):
        latentpress.decode(_with_filter(plain, bytes([0]) + head + body if head else b""))


def test_a_filter_section_only_from_version_5_and_only_last(plain):
    good = _with_filter(plain, _filt(_random_filter(np.random.default_rng(0), 3, False, 3, 5), 3, False, 8))
    header, sections = container.read(good)
    with pytest.raises(CorruptPayloadError, match="sections"):
        latentpress.decode(container.write(dataclasses.replace(header, codec_version=4), sections))
    with pytest.raises(CorruptPayloadError, match="sections"):
        latentpress.decode(container.write(header, [sections[0], sections[3], sections[1], sections[2]]))


def test_greyscale_files_take_no_cross_channel_filter(photo):
    grey = np.ascontiguousarray(photo[72:136, 44:124, 1])
    data = latentpress.encode(grey, "overfit", quality=40, preset="fast")
    with pytest.raises(CorruptPayloadError, match="FILT"):
        latentpress.decode(_with_filter(data, _filt(_random_filter(np.random.default_rng(1), 3, True, 1, 5), 3, True, 8)))
    tensors = _random_filter(np.random.default_rng(1), 3, False, 1, 5)
    decoded = latentpress.decode(_with_filter(data, _filt(tensors, 3, False, 8)))
    full, bias = postfilter.kernel(tensors, 3, False, 1)
    assert np.array_equal(decoded, _reference(latentpress.decode(data), full, bias, 8))
