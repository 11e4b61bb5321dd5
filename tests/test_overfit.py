"""The overfit codec end to end through the container (short schedules: seconds)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

import latentpress
from latentpress import container
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.codec import _image_tensor
from latentpress.codecs.overfit.model import OverfitModel
from latentpress.codecs.overfit.presets import PRESETS, lambda_for_quality
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.metrics import psnr


@pytest.fixture(scope="module")
def crop(kodim23):
    return np.ascontiguousarray(kodim23[200:264, 300:380])


@pytest.fixture(scope="module")
def encoded(crop):
    return {q: latentpress.encode(crop, "overfit", quality=q, preset="fast", iterations=60) for q in (2, 7)}


def test_round_trip_at_two_qualities(crop, encoded):
    sizes, qualities = [], []
    for q in (2, 7):
        header = latentpress.read_info(encoded[q])
        assert header.codec == "overfit" and header.params["arch"] == "lat5-arm8x2-syn8.8"   # 80 wide: 5 grids
        decoded = latentpress.decode(encoded[q])
        assert decoded.shape == crop.shape
        sizes.append(len(encoded[q]))
        qualities.append(psnr(crop, decoded))
    assert sizes[0] < sizes[1]
    assert qualities[1] > 20


def test_decoding_is_bit_identical_in_other_processes_and_thread_counts(encoded, tmp_path):
    path = tmp_path / "o.lpx"
    path.write_bytes(encoded[7])
    here = latentpress.decode(encoded[7])
    for threads in (1, 2):
        code = (f"import torch, hashlib, latentpress; torch.set_num_threads({threads}); "
                f"print(hashlib.sha256(latentpress.decode(open({str(path)!r}, 'rb').read()).tobytes()).hexdigest())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        import hashlib
        assert out.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


@pytest.mark.parametrize("shape", [(17, 23), (9, 40, 3)])
def test_any_size_and_greyscale(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = latentpress.encode(image, "overfit", preset="fast", iterations=5)
    assert latentpress.decode(data).shape == shape


@pytest.mark.parametrize("colour", [True, False])
def test_warm_start_decodes_the_pyramid_before_any_training(crop, colour):
    """The synthesis starts as the exact inverse of the latents' Laplacian pyramid, so
    the untrained model already reproduces the image at the chosen gain."""
    image = crop if colour else crop[:, :, 1].copy()
    x = _image_tensor(image)
    model = OverfitModel(PRESETS["fast"].architecture, *image.shape[:2], x.shape[1])
    model.warm_start(x, lambda_for_quality(6))
    _, pyramid_image = model.pyramid(x, model.gain_exp, model.ratio)
    with torch.no_grad():
        decoded = model.decode(model.quantized_grids("round"))
    assert torch.max(torch.abs(decoded - pyramid_image)) < 0.5 / 255   # the free units start near 0
    assert psnr(image, np.rint(decoded.clamp(0, 1)[0].permute(1, 2, 0).numpy().squeeze() * 255).astype(np.uint8)) > 30
    assert [tuple(g.shape[:2]) for g in model.integer_grids()] == model.grid_shapes()


def test_descriptor_round_trip_and_bounds():
    arch = Architecture(levels=7, arm_hidden=24, arm_layers=3, synthesis=(24, 12, 8))
    assert Architecture.parse(arch.describe()) == arch
    for bad in ("lat99-arm16x2-syn16.16", "lat6-arm9999x2-syn16", "lat6-arm16x2-syn16.999",
                "lat6-arm16x9-syn16", "garbage", 7, "lat6-arm16x2-syn" + ".16" * 20):
        with pytest.raises(CorruptPayloadError):
            Architecture.parse(bad)


def _rewrite(data: bytes, **params) -> bytes:
    header, sections = container.read(data)
    new = container.Header(codec=header.codec, codec_version=header.codec_version, width=header.width,
                           height=header.height, channels=header.channels, params={**header.params, **params})
    return container.write(new, sections)


def test_absurd_network_in_a_file_is_refused_before_allocation(encoded):
    with pytest.raises(CorruptPayloadError, match="architecture"):
        latentpress.decode(_rewrite(encoded[2], arch="lat8-arm64x4-syn64.64.64.65"))
    for bad in ({"arm_step": 40}, {"gain": 99}, {"gain": 16.0}, {"ratio": 2}, {"syn_step": True}):
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(_rewrite(encoded[2], **bad))
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[2], arch="lat6-arm8x2-syn8.8"))   # weights no longer fit


def test_too_large_claims_are_refused():
    header = container.Header(codec="overfit", codec_version=2, width=5000, height=5000, channels=3,
                              params={"arch": "lat6-arm8x2-syn8.8", "arm_step": 6, "syn_step": 8, "gain": 16, "ratio": 3})
    data = container.write(header, [container.Section(t, b"") for t in ("ARMW", "SYNW", "LATN")])
    with pytest.raises(LimitError):
        latentpress.decode(data)


def test_parameter_validation(crop):
    with pytest.raises(ParameterError, match="quality"):
        latentpress.encode(crop, "overfit", quality=9)
    with pytest.raises(ParameterError, match="preset"):
        latentpress.encode(crop, "overfit", preset="turbo")


def test_thin_images_decode_in_a_bounded_number_of_steps(monkeypatch):
    """Tiles bound the wavefront: a 1×3000 image takes as few steps as a 64×256 one."""
    from latentpress.codecs.overfit import arm
    image = np.random.default_rng(1).integers(0, 256, (1, 3000, 3), dtype=np.uint8)
    data = latentpress.encode(image, "overfit", preset="fast", iterations=2)
    calls = []
    original = arm._predict
    monkeypatch.setattr(arm, "_predict", lambda *a: calls.append(1) or original(*a))
    assert latentpress.decode(data).shape == image.shape
    assert len(calls) <= 3 * arm.TILE_ROWS + arm.TILE_COLS


def test_descriptor_must_be_canonical_ascii():
    for bad in ("lat\u0666-arm16x2-syn16.16", "lat06-arm16x2-syn16.16"):
        with pytest.raises(CorruptPayloadError):
            Architecture.parse(bad)
