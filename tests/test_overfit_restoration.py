"""The overfit codec's restoration network (payload version 6): exact integer
inference, bounded bands, the shipped weights, and the FILT section that selects it."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys

import numpy as np
import pytest

import latentpress
from latentpress import container
from latentpress.codecs.overfit import postfilter, restoration
from latentpress.codecs.overfit.restoration import IntegerConv, RestorationNet
from latentpress.errors import CorruptPayloadError
from latentpress.metrics import psnr


@pytest.fixture(scope="module")
def net():
    return restoration.shipped()


@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (40, 33), (64, 96)])
def test_inference_is_the_integer_arithmetic(net, shape):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, (*shape, 3)).astype(np.uint8)
    for strength in (0, 3, restoration.STRENGTHS - 1):
        assert np.array_equal(net(image, strength), restoration.reference(net, image, strength))


@pytest.mark.parametrize("band, columns", [(45 * 7, 1 << 11), (3 * 7, 7), (3 * 3, 3), (1, 1)])
def test_tiles_give_the_whole_image_result(net, monkeypatch, photo, band, columns):
    """Bands of rows, cut into columns, down to tiles far smaller than the margin."""
    image = np.ascontiguousarray(photo[:131, :90])
    whole = net(image, 2)
    monkeypatch.setattr(restoration, "_BAND_POSITIONS", band)
    monkeypatch.setattr(restoration, "_TILE_COLUMNS", columns)
    assert np.array_equal(net(image, 2), whole)
    assert np.array_equal(whole, restoration.reference(net, image, 2))


def test_a_wide_image_is_cut_into_columns(net, monkeypatch):
    """A one-row image is processed in tiles of bounded width, not as one band."""
    image = np.random.default_rng(3).integers(0, 256, (1, 301, 3)).astype(np.uint8)
    monkeypatch.setattr(restoration, "_TILE_COLUMNS", 16)
    widths = []
    run = RestorationNet._run
    monkeypatch.setattr(RestorationNet, "_run", lambda self, h, t: widths.append(h.shape[-1]) or run(self, h, t))
    assert np.array_equal(net(image, 5), restoration.reference(net, image, 5))
    assert len(widths) == 10 and max(widths) <= 16 + 2 * net.margin


def _at_the_bound(rng, outputs: int, inputs: int, input_bound: int, shift: int) -> IntegerConv:
    """A layer whose worst partial sum, rounding term included, is exactly 2**24 − 1."""
    limit = (1 << 24) - 1 - (1 << (shift - 1))
    spread = limit // (input_bound * inputs * 9)             # the random taps take about half
    weight = rng.integers(-spread, spread + 1, (outputs, inputs, 3, 3))
    bias = np.zeros(outputs, np.int64)
    for o in range(outputs):
        others = np.abs(weight[o]).sum() - abs(weight[o, 0, 1, 1])
        weight[o, 0, 1, 1] = rng.choice([-1, 1]) * ((limit - input_bound * others) // input_bound)
        bias[o] = rng.choice([-1, 1]) * (limit - input_bound * np.abs(weight[o]).sum())
    layer = IntegerConv(weight, bias, shift)
    assert np.all(input_bound * np.abs(weight).sum(axis=(1, 2, 3)) + np.abs(bias) + (1 << (shift - 1)) == (1 << 24) - 1)
    return layer


def test_a_network_at_the_exactness_bound_is_exact(monkeypatch):
    """Weights whose worst partial sum is 2**24 − 1 (allowed) give the int64 result on
    saturated and random images; one more unit of bias is refused."""
    rng = np.random.default_rng(11)
    layers = (_at_the_bound(rng, 16, 12, 128, 1), _at_the_bound(rng, 16, 16, 255, 9),
              _at_the_bound(rng, 12, 16, 255, 23))
    net = RestorationNet(layers, np.zeros(16, np.int64))
    images = [np.zeros((10, 14, 3), np.uint8), np.full((10, 14, 3), 255, np.uint8),
              (np.indices((10, 14)).sum(axis=0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, axis=2),
              rng.integers(0, 256, (21, 17, 3)).astype(np.uint8)]
    for image in images:
        for strength in (0, restoration.STRENGTHS - 1):
            assert np.array_equal(net(image, strength), restoration.reference(net, image, strength))
    over = IntegerConv(layers[1].weight, layers[1].bias + np.sign(layers[1].bias), layers[1].shift)
    with pytest.raises(CorruptPayloadError, match="exact"):
        RestorationNet((layers[0], over, layers[2]), np.zeros(16, np.int64))


def test_weights_beyond_the_exactness_bound_are_refused(net):
    first, *rest = net.layers
    heavy = first.weight.copy()
    heavy[0] = 0
    heavy[0, 0, 0, 0] = (1 << 24) // 128          # 128·|w| alone reaches 2**24
    with pytest.raises(CorruptPayloadError, match="exact"):
        RestorationNet((IntegerConv(heavy, first.bias, first.shift), *rest), net.conditioning)
    with pytest.raises(CorruptPayloadError, match="exact"):       # the largest strength's bias counts
        RestorationNet(net.layers, net.conditioning + (1 << 22))
    with pytest.raises(CorruptPayloadError, match="chain"):
        RestorationNet((first, rest[-1], rest[-1]), net.conditioning)


def test_the_network_restores_a_decoded_image(net, photo):
    """On a photo's crop at a low rate, the network at its quality's strength gains PSNR,
    and the encoder's FILT byte selects a strength."""
    crop = np.ascontiguousarray(photo[32:224, :256])
    data = latentpress.encode(crop, "overfit", quality=30, preset="fast")
    header, sections = container.read(data)
    assert header.codec_version == 7
    filt = {s.type: s.data for s in sections}["FILT"]
    assert 1 <= filt[0] <= restoration.STRENGTHS
    plain = latentpress.decode(container.write(header, [s for s in sections if s.type != "FILT"]))
    assert psnr(crop, net(plain, 1)) > psnr(crop, plain) + 0.1
    # The encoder's choice: the strength of least error, then its linear filter if any.
    errors = [np.mean((net(plain, t).astype(float) - crop) ** 2) for t in range(restoration.STRENGTHS)]
    assert filt[0] - 1 == int(np.argmin(errors))
    restored = net(plain, filt[0] - 1)
    expected = restored if len(filt) == 1 else postfilter.apply(restored, *postfilter.decode_filter(filt[1:], 3))
    assert np.array_equal(latentpress.decode(data), expected)
    assert psnr(crop, expected) > psnr(crop, plain) + 0.1


@pytest.fixture(scope="module")
def plain(photo):
    crop = np.ascontiguousarray(photo[72:136, 44:124])
    data = latentpress.encode(crop, "overfit", quality=40, preset="fast")
    header, sections = container.read(data)
    return container.write(header, [s for s in sections if s.type != "FILT"])


def _with_filter(data: bytes, filt: bytes | None) -> bytes:
    header, sections = container.read(data)
    kept = [s for s in sections if s.type != "FILT"]
    return container.write(header, kept + ([] if filt is None else [container.Section("FILT", filt)]))


def test_the_filt_byte_selects_the_strength_then_the_linear_filter(net, plain, tmp_path):
    from latentpress.entropy.integer_tensors import encode_tensors
    decoded = latentpress.decode(plain)
    restored = latentpress.decode(_with_filter(plain, bytes([5])))
    assert np.array_equal(restored, net(decoded, 4))
    rng = np.random.default_rng(4)
    tensors = [rng.integers(-20, 21, shape) for shape in postfilter.tensor_shapes(3, True, 3)]
    linear = bytes([3, 1, 8]) + encode_tensors(tensors)
    both = _with_filter(plain, bytes([5]) + linear)
    full, bias = postfilter.kernel(tensors, 3, True, 3)
    assert np.array_equal(latentpress.decode(both), postfilter.apply(restored, full, bias, 8))
    path = tmp_path / "r.lpx"
    path.write_bytes(both)
    expected = hashlib.sha256(latentpress.decode(both).tobytes()).hexdigest()
    for threads in (1, 2):
        code = (f"import torch, hashlib, latentpress; torch.set_num_threads({threads}); "
                f"print(hashlib.sha256(latentpress.decode(open({str(path)!r}, 'rb').read()).tobytes()).hexdigest())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


@pytest.mark.parametrize("filt", [b"", bytes([0]), bytes([restoration.STRENGTHS + 1]), bytes([255]), bytes([1, 3])])
def test_invalid_restoration_bytes_are_refused(plain, filt):
    with pytest.raises(CorruptPayloadError, match="FILT"):
        latentpress.decode(_with_filter(plain, filt))


def test_greyscale_files_take_no_restoration(photo):
    grey = np.ascontiguousarray(photo[72:136, 44:124, 1])
    data = latentpress.encode(grey, "overfit", quality=40, preset="fast")
    with pytest.raises(CorruptPayloadError, match="strength"):
        latentpress.decode(_with_filter(data, bytes([1])))
    with pytest.raises(CorruptPayloadError, match="selects nothing"):
        latentpress.decode(_with_filter(data, bytes([0])))


def test_version_5_files_read_filt_as_the_linear_filter_alone(plain):
    header, sections = container.read(_with_filter(plain, bytes([1])))
    v5 = container.write(dataclasses.replace(header, codec_version=5), sections)
    with pytest.raises(CorruptPayloadError, match="FILT"):          # a 1-byte linear filter is truncated
        latentpress.decode(v5)


def test_the_restoration_network_counts_toward_the_work_limit(net, plain):
    """A file that selects the network declares its 6,336 MAC/pixel on top of the rest
    of the decoder: a limit between the two refuses it, and the file without it passes."""
    from latentpress import Limits
    from latentpress.codecs.overfit.architecture import Architecture
    from latentpress.errors import LimitError
    header, _ = container.read(plain)
    base = Architecture.parse(header.params["arch"]).decoder_macs_per_pixel(3)["total"]
    limits = Limits(max_macs_per_pixel=int(base + net.macs_per_pixel() - 1))
    with pytest.raises(LimitError, match="multiply-adds"):
        latentpress.decode(_with_filter(plain, bytes([3])), limits=limits)
    assert latentpress.decode(plain, limits=limits).shape == (64, 80, 3)
    assert net.macs_per_pixel() == 6336
