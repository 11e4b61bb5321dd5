"""The overfit codec end to end through the container (short schedules: seconds)."""

from __future__ import annotations

import dataclasses
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import latentpress
from latentpress import container
from latentpress.codecs.overfit import wavelet
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.codec import _image_tensor, levels_for
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
        assert header.codec == "overfit" and header.params["arch"] == "dwt4-arm8x2-syn8.8"   # 80 wide: 4 levels
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
        assert out.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


@pytest.mark.parametrize("shape", [(17, 23), (9, 40, 3)])
def test_any_size_and_greyscale(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = latentpress.encode(image, "overfit", preset="fast", iterations=5)
    assert latentpress.decode(data).shape == shape


@pytest.mark.parametrize("transform", ["wavelet", "pyramid"])
@pytest.mark.parametrize("colour", [True, False])
def test_warm_start_decodes_the_transform_before_any_training(crop, colour, transform):
    """The synthesis starts as the exact inverse of the latents' transform (wavelet or
    Laplacian pyramid), so the untrained model already reproduces the image at the
    chosen gain."""
    image = crop if colour else crop[:, :, 1].copy()
    x = _image_tensor(image)
    arch = dataclasses.replace(PRESETS["fast"].architecture, transform=transform)
    model = OverfitModel(levels_for(arch, *image.shape[:2]), *image.shape[:2], x.shape[1])
    model.warm_start(x, lambda_for_quality(6))
    if transform == "wavelet":
        grids, transform_image = model.wavelet_grids(model.wavelet_bands(x), model.gain_exp, model.ratio)
        assert all(torch.equal(g, y) for g, y in zip(grids, model.quantized_grids("round")))
    else:
        _, transform_image = model.pyramid(x, model.gain_exp, model.ratio)
    with torch.no_grad():
        decoded = model.decode(model.quantized_grids("round"))
    assert torch.max(torch.abs(decoded - transform_image)) < 0.5 / 255   # the free units start near 0
    if transform == "wavelet":    # the decoder's shortcut for an untrained synthesis (syn_step 0)
        assert torch.max(torch.abs(model.decode_inverse(model.quantized_grids("round")) - transform_image)) < 1e-5
    assert psnr(image, np.rint(decoded.clamp(0, 1)[0].permute(1, 2, 0).numpy().squeeze() * 255).astype(np.uint8)) > 30
    assert [tuple(g.shape[:2]) for g in model.integer_grids()] == model.grid_shapes()


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 3), (7, 9), (33, 20), (64, 64)])
def test_wavelet_synthesis_inverts_analysis_at_any_size(shape):
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    low, details = wavelet.analyze2(x)
    assert low.shape[-2:] == ((shape[0] + 1) // 2, (shape[1] + 1) // 2)
    assert torch.allclose(wavelet.synthesize2(low, details, shape), x, atol=1e-12)
    # Linear: the low band and the details synthesized apart add up to the whole.
    apart = wavelet.synthesize2(low, None, shape) + wavelet.synthesize2(None, details, shape)
    assert torch.allclose(apart, x, atol=1e-12)
    # Close to orthonormal: a constant keeps its energy in the low band.
    low, details = wavelet.analyze2(torch.ones(1, 1, 16, 16, dtype=torch.float64))
    assert torch.allclose(low, torch.full_like(low, 2.0)) and all(d.abs().max() < 1e-12 for d in details)


def test_payload_version_2_pyramid_files_still_decode():
    """tests/data/overfit-v2.lpx was written by the version-2 encoder (a Laplacian
    pyramid); its decoded pixels' digest was recorded with that build."""
    data = (Path(__file__).parent / "data" / "overfit-v2.lpx").read_bytes()
    header = latentpress.read_info(data)
    assert header.codec_version == 2 and header.params["arch"].startswith("lat")
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "66c7b4d713c3f6d761e9be9d80c7e061102dc8fbd96f47afcb61574c2d388346"
    with pytest.raises(CorruptPayloadError, match="version 2"):
        latentpress.decode(_rewrite(data, arch=header.params["arch"].replace("lat", "dwt")))


def test_descriptor_round_trip_and_bounds():
    for transform in ("pyramid", "wavelet"):
        arch = Architecture(levels=7, arm_hidden=24, arm_layers=3, synthesis=(24, 12, 8), transform=transform)
        assert Architecture.parse(arch.describe()) == arch
    assert Architecture.parse("dwt6-arm16x2-syn16.16").transform == "wavelet"
    for bad in ("lat99-arm16x2-syn16.16", "lat6-arm9999x2-syn16", "lat6-arm16x2-syn16.999",
                "lat6-arm16x9-syn16", "garbage", 7, "lat6-arm16x2-syn" + ".16" * 20, "dwt99-arm16x2-syn16",
                "wav6-arm16x2-syn16"):
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
    for bad in ({"arm_step": 40}, {"gain": 99}, {"gain": 16.0}, {"ratio": 3}, {"syn_step": True}):
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(_rewrite(encoded[2], **bad))
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[2], arch="dwt3-arm8x2-syn8.8"))   # weights no longer fit
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[2], arch="lat5-arm8x2-syn8.8"))   # nor for a pyramid


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
    for bad in ("lat\u0666-arm16x2-syn16.16", "lat06-arm16x2-syn16.16", "dwt06-arm16x2-syn16.16"):
        with pytest.raises(CorruptPayloadError):
            Architecture.parse(bad)


def test_an_untrained_synthesis_is_rebuilt_not_stored(crop, encoded):
    """The fast preset only fits the ARM, so its synthesis is the wavelet's exact
    inverse: the file says syn_step 0 and carries no synthesis weights."""
    data = latentpress.encode(crop, "overfit", preset="fast", quality=4)
    header, sections = container.read(data)
    assert header.params["syn_step"] == 0 and [len(s.data) for s in sections if s.type == "SYNW"] == [0]
    assert psnr(crop, latentpress.decode(data)) > 25
    with pytest.raises(CorruptPayloadError, match="step 0"):          # weights present: not the inverse
        latentpress.decode(_rewrite(encoded[2], syn_step=0))
    v2 = (Path(__file__).parent / "data" / "overfit-v2.lpx").read_bytes()
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(v2, syn_step=0))


def test_rdoq_moves_latents_toward_zero_only_when_the_bits_are_worth_it(crop):
    x = _image_tensor(crop)
    model = OverfitModel(levels_for(PRESETS["fast"].architecture, *crop.shape[:2]), *crop.shape[:2], 3)
    model.warm_start(x, lambda_for_quality(4))
    before = [y.detach().clone() for y in model.latents]
    assert model.rdoq(x, 0.0) == 0                        # no rate weight: rounding stays
    assert all(torch.equal(a, b) for a, b in zip(before, model.latents))
    moved = model.rdoq(x, 1.0)                            # rate is everything: many move
    assert moved > 0
    after = list(model.latents)
    assert all(torch.all(b.abs() <= a.abs()) and torch.all(b * a >= 0) for a, b in zip(before, after))
    assert sum(int((a != b).sum()) for a, b in zip(before, after)) == moved
    assert all(torch.all((a - b).abs() <= 1) for a, b in zip(before, after))
