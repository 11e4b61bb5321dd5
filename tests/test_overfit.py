"""The overfit codec end to end through the container (short schedules: seconds)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import latentpress
from latentpress import container
from latentpress.codecs.overfit.architecture import Architecture
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
        assert header.codec == "overfit" and header.params["arch"] == "lat6-arm8x2-syn8.8"
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
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[2], arm_step=40))
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[2], arch="lat7-arm8x2-syn8.8"))   # weights no longer fit


def test_too_large_claims_are_refused():
    header = container.Header(codec="overfit", codec_version=1, width=5000, height=5000, channels=3,
                              params={"arch": "lat6-arm8x2-syn8.8", "arm_step": 6, "syn_step": 8})
    data = container.write(header, [container.Section(t, b"") for t in ("ARMW", "SYNW", "LATN")])
    with pytest.raises(LimitError):
        latentpress.decode(data)


def test_parameter_validation(crop):
    with pytest.raises(ParameterError, match="quality"):
        latentpress.encode(crop, "overfit", quality=9)
    with pytest.raises(ParameterError, match="preset"):
        latentpress.encode(crop, "overfit", preset="turbo")


def test_thin_images_are_bounded_by_decoding_steps():
    header = container.Header(codec="overfit", codec_version=1, width=100_000, height=1, channels=3,
                              params={"arch": "lat6-arm8x2-syn8.8", "arm_step": 6, "syn_step": 8})
    data = container.write(header, [container.Section(t, b"") for t in ("ARMW", "SYNW", "LATN")])
    with pytest.raises(LimitError, match="steps"):
        latentpress.decode(data)
    with pytest.raises(LimitError, match="steps"):
        latentpress.encode(np.zeros((1, 30_000), np.uint8), "overfit", iterations=1)


def test_descriptor_must_be_canonical_ascii():
    for bad in ("lat\u0666-arm16x2-syn16.16", "lat06-arm16x2-syn16.16"):
        with pytest.raises(CorruptPayloadError):
            Architecture.parse(bad)
