"""Seed 003: the CAE + PCA + JPEG 2000 codec."""

from __future__ import annotations

import numpy as np
import pytest

from latentpress import container
from latentpress.codecs.cae.codec import (
    LEVELS, _jpeg2000_decode, _jpeg2000_encode, _rotate, _unrotate, from_mosaic, mosaic_shape,
    principal_axes, to_mosaic,
)
from latentpress.codecs.cae.model import CHROMA, LUMA, CAEArchitecture
from latentpress.errors import CorruptPayloadError


@pytest.fixture(scope="module")
def correlated_maps():
    """32 maps of 12×20 mixed from 4 sources: energy a PCA can gather in 4 maps."""
    rng = np.random.default_rng(5)
    sources = rng.normal(0, [[[8.0]], [[4.0]], [[2.0]], [[1.0]]], (4, 12, 20))
    mixing = rng.normal(0, 1, (32, 4))
    return np.einsum("ck,khw->chw", mixing, sources) + rng.normal(0, 0.01, (32, 12, 20))


def test_pca_rotation_is_orthonormal_and_sorted(correlated_maps):
    u = principal_axes(correlated_maps)
    np.testing.assert_allclose(u.T @ u, np.eye(32), atol=1e-10)
    rotated = u.T @ correlated_maps.reshape(32, -1)
    energy = (rotated ** 2).mean(axis=1)
    assert np.all(np.diff(energy) <= 1e-9)                         # descending (eq. 3)
    assert energy[:4].sum() > 0.999 * energy.sum()                 # compaction


@pytest.mark.parametrize("bits", [4, 6, 8])
def test_quantized_rotation_is_inverted_exactly(correlated_maps, bits):
    """The decoder solves with the stored Û, so coarse U costs compaction, not accuracy:
    reconstruction error < 1e−9 of the maps' scale at any precision."""
    integers = np.rint(principal_axes(correlated_maps) * (1 << bits)).astype(np.int64)
    rotated = _rotate([integers], bits, [correlated_maps])[0]
    restored = _unrotate(integers / (1 << bits), rotated)
    assert np.abs(restored - correlated_maps).max() < 1e-9 * np.abs(correlated_maps).max()
    energy = (rotated.reshape(32, -1) ** 2).mean(axis=1)
    assert energy[:4].sum() > 0.98 * energy.sum()


def test_singular_rotation_is_a_corrupt_payload():
    with pytest.raises(CorruptPayloadError):
        _unrotate(np.zeros((3, 3)), np.ones((3, 2, 2)))


def test_mosaic_vertical_scan_round_trip():
    channels = [LUMA.code_channels, CHROMA.code_channels, CHROMA.code_channels]
    rng = np.random.default_rng(1)
    maps = [rng.integers(0, 4096, (c, 5, 7)) for c in channels]
    mosaic = to_mosaic(maps)
    assert mosaic.shape == mosaic_shape(channels, 5, 7) == (2 * 8 * 5, 4 * 7)
    assert np.array_equal(mosaic[5:10, :7], maps[0][1])           # map 1: second row, first column
    assert np.array_equal(mosaic[:5, 7:14], maps[0][8])           # map 8: first row, second column
    for expected, actual in zip(maps, from_mosaic(mosaic, channels, 5, 7)):
        assert np.array_equal(expected, actual)
    grey = to_mosaic(maps[:1])
    assert grey.shape == mosaic_shape(channels[:1], 5, 7) == (40, 28)


def test_jpeg2000_rate_control_and_size_check():
    rng = np.random.default_rng(2)
    smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (128, 96)), axis=0), axis=1)
    mosaic = np.rint((smooth - smooth.min()) / np.ptp(smooth) * LEVELS).astype(np.uint16)
    sizes = []
    for target in (400, 1600):
        data = _jpeg2000_encode(mosaic, target)
        sizes.append(len(data))
        assert len(data) <= 1.1 * target
        decoded = _jpeg2000_decode(data, mosaic.shape)
        assert decoded.shape == mosaic.shape
        error = np.sqrt(np.mean((decoded - mosaic.astype(np.int64)) ** 2))
        assert error < LEVELS / 50                       # a coarse copy of the mosaic, not noise
    assert sizes[0] < sizes[1]
    with pytest.raises(CorruptPayloadError):
        _jpeg2000_decode(data, (64, 96))
    with pytest.raises(CorruptPayloadError):
        _jpeg2000_decode(data[: len(data) // 2] + b"\x00" * 10, mosaic.shape)


def test_descriptor_round_trip_and_refusals():
    assert CAEArchitecture.parse(LUMA.describe()) == LUMA
    for bad in ("n1.2.3", "x32.64.64.64.64.32", "n032.64.64.64.64.32", "n1.2.3.4.5.999", 7, None):
        with pytest.raises(ValueError):
            CAEArchitecture.parse(bad)


@pytest.fixture()
def untrained(monkeypatch):
    """The codec with freshly initialised networks: the pipeline, not the quality."""
    import torch

    from latentpress.codecs.cae import codec as cae_codec
    from latentpress.codecs.cae.model import ConvolutionalAutoencoder
    torch.manual_seed(0)
    models = {"luma": ConvolutionalAutoencoder(LUMA).eval(), "chroma": ConvolutionalAutoencoder(CHROMA).eval()}
    monkeypatch.setattr(cae_codec, "_models", lambda: models)
    return cae_codec.CAECodec()


@pytest.mark.parametrize("shape", [(1, 1), (9, 300), (37, 41, 3), (130, 100, 3)])
@pytest.mark.parametrize("options", [{}, {"entropy": "range"}, {"pca": False}, {"patches": True}])
def test_pipeline_round_trips_any_size(untrained, shape, options):
    from latentpress import api
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, shape, dtype=np.uint8)
    codec = untrained
    payload = codec.encode(image, codec.parse_params({"bpp": 2.0, **options}))
    data = api.pack(codec, image, payload)
    header = api.read_info(data)
    sections = container.read(data)[1]
    decoded = codec.decode(header, sections)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(codec.decode(header, sections), decoded)


def test_crafted_files_are_refused_with_documented_errors(untrained):
    import dataclasses

    from latentpress import api
    from latentpress.container import Section
    from latentpress.errors import LatentpressError, LimitError
    codec = untrained
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    files = {options: api.pack(codec, image, codec.encode(image, codec.parse_params({"bpp": 2.0, "entropy": options})))
             for options in ("jpeg2000", "range")}

    def rewrite(data, params=None, sections=None, **geometry):
        header, found = container.read(data)
        header = dataclasses.replace(header, params={**header.params, **(params or {})}, **geometry)
        return header, [Section(s.type, (sections or {}).get(s.type, s.data)) for s in found]

    bad = [({"model": "cae-v0"}, None), ({"entropy": "zip"}, None), ({"pca": 1}, None), ({"u_bits": 3}, None),
           ({"step16": 0}, "range"), (None, {"RANG": b"\x00" * 8}), (None, {"RANG": b"\x00" * 7}),
           (None, {"PCAU": b"\x01"}), (None, {"MAPS": b"\x00" * 20})]
    for params, sections in bad:
        kind = sections if isinstance(sections, str) else "jpeg2000"
        header, found = rewrite(files[kind], params, None if isinstance(sections, str) else sections)
        with pytest.raises(LatentpressError):
            codec.decode(header, found)
    header, found = rewrite(files["jpeg2000"], {"patches": True}, width=1 << 24, height=1)
    with pytest.raises(LimitError):
        codec.decode(header, found)


# ---- with the shipped weights (latentpress/weights/cae-*-v1.safetensors) ----

# Floors for a 256×256 crop of kodim23 (the full-Kodak curves are in the README);
# they fail if the weights, the rotation or either entropy path regresses.
# Measured with the shipped weights: jpeg2000 28.8 / 37.1 dB, range 26.9 / 36.4 dB.
PSNR_FLOOR = {0.5: 25.0, 1.5: 34.5}


@pytest.fixture(scope="module")
def crop(kodim23):
    return np.ascontiguousarray(kodim23[128:384, 256:512])


@pytest.mark.parametrize("entropy", ["jpeg2000", "range"])
def test_shipped_models_round_trip_at_two_rates(crop, entropy):
    import latentpress
    from latentpress.metrics import psnr
    qualities = []
    for bpp, floor in PSNR_FLOOR.items():
        data = latentpress.encode(crop, "cae", bpp=bpp, entropy=entropy)
        assert 8 * len(data) / crop[..., 0].size <= bpp * 1.02     # the target counts the whole file
        decoded = latentpress.decode(data)
        assert decoded.shape == crop.shape and decoded.dtype == np.uint8
        qualities.append(psnr(crop, decoded))
        assert qualities[-1] > floor, (bpp, entropy, qualities[-1])
    assert qualities[0] < qualities[1]


def test_pca_gathers_energy_in_the_first_maps(crop):
    from latentpress.codecs.cae.codec import _analysis, _models, _planes
    maps = _analysis(_models()["luma"], _planes(crop)[0], False)
    u = principal_axes(maps)
    energy = np.einsum("kc,chw->khw", u.T, maps.astype(np.float64)) ** 2
    per_map = energy.reshape(len(u), -1).mean(axis=1)
    assert np.all(np.diff(per_map) <= 1e-9 * per_map[0])
    assert per_map[:8].sum() > 0.8 * per_map.sum()


def test_greyscale_uses_the_luma_model_only():
    import latentpress
    image = np.tile(np.arange(64, dtype=np.uint8)[None] * 4, (48, 1))
    data = latentpress.encode(image, "cae", bpp=1.0)
    assert latentpress.decode(data).shape == image.shape
    assert latentpress.read_info(data).channels == 1


def test_a_target_below_the_side_information_overshoots_but_decodes_sanely(crop):
    """At 0.12 bpp a 256×256 crop's header and rotation take the whole budget; JPEG 2000
    then gets a floor instead of coding no maps (which decoded to about 8 dB)."""
    import latentpress
    from latentpress.metrics import psnr
    data = latentpress.encode(crop, "cae", bpp=0.12)
    assert 8 * len(data) / crop[..., 0].size > 0.12
    assert psnr(crop, latentpress.decode(data)) > 18.0
