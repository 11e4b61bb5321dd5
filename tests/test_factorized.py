from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

import latentpress
from latentpress import container
from latentpress.codecs.factorized.codec import _model
from latentpress.container import Section
from latentpress.errors import CorruptPayloadError, ParameterError, UnsupportedVersionError
from latentpress.metrics import psnr
from latentpress.nn.tiling import tiled_apply

# Floor for quality 50 on a 256×256 crop of the photograph (32.5 dB measured; the full-Kodak
# figures are in docs/bench.md); fails if the model, quantizer or entropy path regresses.
PSNR_FLOOR_Q50 = 30.0


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[:, :256])


def test_round_trip_quality_and_rate(crop):
    sizes, qualities = [], []
    for quality in (10, 50, 90):
        data = latentpress.encode(crop, "factorized", quality=quality)
        decoded = latentpress.decode(data)
        assert decoded.shape == crop.shape and decoded.dtype == np.uint8
        sizes.append(len(data))
        qualities.append(psnr(crop, decoded))
    assert sizes[0] < sizes[1] < sizes[2]
    assert qualities[0] < qualities[1] < qualities[2]
    assert qualities[1] > PSNR_FLOOR_Q50


def test_encoding_is_deterministic(small_rgb):
    assert latentpress.encode(small_rgb, "factorized", quality=40) == latentpress.encode(small_rgb, "factorized", quality=40)


@pytest.mark.parametrize("shape", [(1, 1, 3), (17, 33, 3), (16, 16), (5, 70)])
def test_odd_sizes_and_greyscale(photo, shape):
    image = np.ascontiguousarray(photo[72:72 + shape[0], :shape[1]])
    if len(shape) == 2:
        image = np.ascontiguousarray(image[..., 1])
    data = latentpress.encode(image, "factorized", quality=30)
    decoded = latentpress.decode(data)
    assert decoded.shape == shape
    assert psnr(image, decoded) > 26.0                # 29.0-34.8 dB measured on these crops
    assert latentpress.read_info(data).channels == (1 if len(shape) == 2 else 3)


def test_bpp_counts_the_whole_file(small_rgb):
    data = latentpress.encode(small_rgb, "factorized")
    header = latentpress.read_info(data)
    assert header.bpp == pytest.approx(8 * len(data) / (40 * 56))


def test_tiled_synthesis_matches_whole():
    model = _model()
    torch.manual_seed(0)
    latents = torch.round(torch.randn(1, 64, 10, 12) * 3)
    with torch.inference_mode():
        whole = model.decode_latents(latents)
        tiled = tiled_apply(model.decode_latents, latents, Fraction(16), tile=4, margin=4)
    assert tiled.shape == whole.shape
    assert torch.max(torch.abs(tiled - whole)) < 1e-3


def _rewrite(data: bytes, params=None, sections=None, version=None) -> bytes:
    header, found = container.read(data)
    fields = dict(codec=header.codec, codec_version=header.codec_version if version is None else version,
                  width=header.width, height=header.height, channels=header.channels,
                  colour_space=header.colour_space, params=dict(header.params) if params is None else params)
    return container.write(container.Header(**fields), found if sections is None else sections)


@pytest.mark.parametrize("change, error", [
    (dict(params={"quality": 50, "model": "other-model"}), CorruptPayloadError),
    (dict(params={"quality": 500, "model": "factorized-v1"}), CorruptPayloadError),
    (dict(params={"quality": "50", "model": "factorized-v1"}), CorruptPayloadError),
    (dict(version=2), UnsupportedVersionError),
    (dict(sections=[Section("LATN", b"")]), CorruptPayloadError),
    (dict(sections=[Section("PRIO", b"\0" * 3), Section("LATN", b"")]), CorruptPayloadError),
    (dict(sections=[Section("PRIO", b"\x99" * 64), Section("LATN", b"")]), CorruptPayloadError),
    (dict(sections=[Section("PRIO", b"\0" * 64), Section("LATN", b"abc")]), CorruptPayloadError),
])
def test_inconsistent_payloads_are_refused(small_rgb, change, error):
    data = _rewrite(latentpress.encode(small_rgb, "factorized"), **change)
    with pytest.raises(error):
        latentpress.decode(data)


def test_any_consistent_payload_decodes_to_the_declared_size(small_rgb):
    """A payload with valid CRCs but random latent bytes still yields an image of the header's size."""
    rng = np.random.default_rng(1)
    data = latentpress.encode(small_rgb, "factorized")
    for _ in range(5):
        garbage = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
        rewritten = _rewrite(data, sections=[Section("PRIO", bytes([3] * 64)), Section("LATN", garbage)])
        try:
            assert latentpress.decode(rewritten).shape == small_rgb.shape
        except CorruptPayloadError:
            pass


def test_parameter_errors(small_rgb):
    with pytest.raises(ParameterError, match="between 0 and 100"):
        latentpress.encode(small_rgb, "factorized", quality=101)
    with pytest.raises(ParameterError, match="quality"):
        latentpress.encode(small_rgb, "factorized", quality="high")
    with pytest.raises(ParameterError, match="no parameter 'speed'"):
        latentpress.encode(small_rgb, speed=3)


@pytest.mark.slow
def test_decode_memory_is_bounded_by_the_tile_not_the_claim():
    """A 200-byte file claiming 2048×2048 decodes in bounded memory (about 3 bytes per
    pixel for the output plus one 1024×1024 tile of network activations)."""
    from latentpress.bench.measure import measure
    header = container.Header(codec="factorized", codec_version=1, width=2048, height=2048, channels=3,
                              params={"model": "factorized-v1", "quality": 50})
    data = container.write(header, [Section("PRIO", bytes([0]) + bytes(64)), Section("LATN", b"")])
    assert len(data) < 200
    latentpress.decode(container.write(header.__class__(**{**header.__dict__, "width": 16, "height": 16,
                                                              "sections": (), "file_bytes": 0}),
                                       [Section("PRIO", bytes([0]) + bytes(64)), Section("LATN", b"")]))
    _, before = measure(lambda: None)
    image, during = measure(lambda: latentpress.decode(data))
    assert image.shape == (2048, 2048, 3)
    assert during.peak_rss_mb - before.peak_rss_mb < 700
