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
from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import base_arm, wavelet
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.codec import _image_tensor, _integer_arm, _sampled_bits, levels_for
from latentpress.codecs.overfit.model import GAIN_EXPONENTS, OverfitModel, Synthesis, Upsampler
from latentpress.codecs.overfit.presets import PRESETS, lambda_for_quality
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.metrics import psnr


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[72:136, 44:124])


@pytest.fixture(scope="module")
def encoded(crop):
    return {q: latentpress.encode(crop, "overfit", quality=q, preset="fast", iterations=60) for q in (30, 80)}


def test_round_trip_at_two_qualities(crop, encoded):
    sizes, qualities = [], []
    for q in (30, 80):
        header = latentpress.read_info(encoded[q])
        assert header.codec == "overfit" and header.params["arch"] == "dwt4-arm24x2b-syn8.8"   # 80 wide: 4 levels
        decoded = latentpress.decode(encoded[q])
        assert decoded.shape == crop.shape
        sizes.append(len(encoded[q]))
        qualities.append(psnr(crop, decoded))
    assert sizes[0] < sizes[1]
    assert qualities[1] > 20


def test_decoding_is_bit_identical_in_other_processes_and_thread_counts(encoded, tmp_path):
    path = tmp_path / "o.lpx"
    path.write_bytes(encoded[80])
    here = latentpress.decode(encoded[80])
    for threads in (1, 2):
        code = (f"import torch, hashlib, latentpress; torch.set_num_threads({threads}); "
                f"print(hashlib.sha256(latentpress.decode(open({str(path)!r}, 'rb').read()).tobytes()).hexdigest())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == hashlib.sha256(here.tobytes()).hexdigest()


@pytest.mark.parametrize("shape, floor", [((17, 23), 28.5), ((9, 40, 3), 29.0)])     # 32.3, 33.4 dB measured
def test_any_size_and_greyscale(photo, shape, floor):
    """Odd sizes, grey and colour, round-trip: PSNR floors a few dB under what the
    encoder reaches on these crops."""
    image = np.ascontiguousarray(photo[72:72 + shape[0], 44:44 + shape[1]])
    image = image if len(shape) == 3 else np.ascontiguousarray(image[..., 1])
    data = latentpress.encode(image, "overfit", preset="fast", iterations=5)
    decoded = latentpress.decode(data)
    assert decoded.shape == shape and psnr(image, decoded) > floor


def _strip(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A thin image of ``shape`` cut from a photograph: bands of its rows (or columns)
    laid end to end."""
    height, width = shape[:2]
    if height < width:
        pieces = [image[72 + height * i:72 + height * (i + 1)] for i in range(-(-width // image.shape[1]))]
        out = np.concatenate(pieces, axis=1)[:, :width]
    else:
        bands = image.shape[1] // width                     # its column bands in turn, again if need be
        pieces = [image[:, width * (i % bands):width * (i % bands + 1)] for i in range(-(-height // image.shape[0]))]
        out = np.concatenate(pieces, axis=0)[:height]
    return np.ascontiguousarray(out if len(shape) == 3 else out[..., 1])


@pytest.mark.parametrize("transform", ["wavelet", "pyramid"])
@pytest.mark.parametrize("colour", [True, False])
def test_warm_start_decodes_the_transform_before_any_training(crop, colour, transform):
    """The synthesis starts as the exact inverse of the latents' transform (wavelet or
    Laplacian pyramid), so the untrained model already reproduces the image at the
    chosen gain."""
    torch.manual_seed(0)             # the spare units' random start (torch seeds each process at random)
    image = crop if colour else crop[:, :, 1].copy()
    x = _image_tensor(image)
    arch = dataclasses.replace(PRESETS["fast"].architecture, transform=transform, band_context=transform == "wavelet")
    model = OverfitModel(levels_for(arch, *image.shape[:2]), *image.shape[:2], x.shape[1])
    model.warm_start(x, lambda_for_quality(70))
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


@pytest.mark.parametrize("shape, size", [((37, 100), 16), ((1, 5), 2), ((7, 1), 3), ((64, 64), 64), ((65, 63), 32)])
def test_the_tiled_synthesis_is_the_synthesis(shape, size):
    """Decoding runs a trained synthesis a tile at a time (its activations stay small
    at any image size): the whole-image function, margins and replicated edges
    included, up to float rounding (the convolutions' blocking follows the shape)."""
    torch.manual_seed(0)
    arch = Architecture(levels=2, arm_hidden=8, arm_layers=2, synthesis=(16, 8), transform="wavelet")
    synthesis = Synthesis(arch, 9, 3)
    x = torch.randn(1, 9, *shape)
    with torch.no_grad():
        whole = synthesis(x)
    tiled = torch.full_like(whole, float("nan"))           # every pixel must be written
    for top, left, tile in synthesis.tiles(x, size):
        assert tile.shape[-2] <= size and tile.shape[-1] <= size
        tiled[..., top:top + tile.shape[-2], left:left + tile.shape[-1]] = tile
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)


@pytest.mark.parametrize("shape, strip", [((1, 300), 64), ((3, 129), 64), ((2, 9), 3), ((1, 1), 1)])
def test_the_upsampler_in_strips_is_the_upsampler(monkeypatch, shape, strip):
    """The pyramid's upsampler runs in strips of columns on wide grids (on a
    1-pixel-high image's 1-row grids its transposed convolution computes 16 rows per
    output row, and one pass would hold them for the whole width): the same values and
    gradients as one pass, up to float rounding."""
    torch.manual_seed(0)
    upsampler = Upsampler()
    with torch.no_grad():
        upsampler.kernel.add_(0.01 * torch.randn_like(upsampler.kernel))
    x = torch.randn(1, 3, *shape, requires_grad=True)
    size = (2 * shape[0] - (shape[0] > 1), 2 * shape[1] - 1)
    results = []
    for columns in (1 << 30, strip):
        monkeypatch.setattr(Upsampler, "STRIP", columns)
        out = upsampler(x, size)
        results.append((out, torch.autograd.grad((out * torch.linspace(0, 1, out.numel()).view_as(out)).sum(), x)[0]))
    (whole, whole_grad), (strips, strips_grad) = results
    torch.testing.assert_close(strips, whole, rtol=0, atol=1e-5)
    torch.testing.assert_close(strips_grad, whole_grad, rtol=0, atol=1e-5)


def test_payload_version_2_pyramid_files_still_decode():
    """tests/data/overfit-v2.lpx was written by the version-2 encoder (a Laplacian
    pyramid); its decoded pixels' digest was recorded with that build."""
    data = (Path(__file__).parent / "data" / "overfit-v2.lpx").read_bytes()
    header = latentpress.read_info(data)
    assert header.codec_version == 2 and header.params["arch"].startswith("lat")
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "66c7b4d713c3f6d761e9be9d80c7e061102dc8fbd96f47afcb61574c2d388346"
    with pytest.raises(CorruptPayloadError, match="version 2"):     # a wavelet, with the wavelet's ratio
        latentpress.decode(_rewrite(data, arch=header.params["arch"].replace("lat", "dwt"), ratio=8))


def test_payload_version_4_files_still_decode():
    """tests/data/overfit-v4.lpx was written by the version-4 encoder (band-aware ARM,
    no post-filter: three sections); its decoded pixels' digest was recorded with that
    build."""
    data = (Path(__file__).parent / "data" / "overfit-v4.lpx").read_bytes()
    header = latentpress.read_info(data)
    assert header.codec_version == 4 and "filter" not in header.params
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "2a3bc3acd834db893f36aec34fabcff9ffab8f8524164f9cdb9bff8c0b5fb3a2"


def test_payload_version_6_files_decode_with_the_shipped_restoration_network():
    """tests/data/overfit-v6.lpx was written by the version-6 encoder (a 128×160 crop at
    quality level 3, 40 on today's scale, whose FILT byte 4 selects the restoration
    network at strength 3 and no linear filter); its decoded pixels' digest was recorded with the shipped weights
    (overfit-restore-v1), so a change to the weights or to the network's arithmetic
    shows here."""
    data = (Path(__file__).parent / "data" / "overfit-v6.lpx").read_bytes()
    header, sections = container.read(data)
    assert header.codec_version == 6 and [s.type for s in sections] == ["ARMW", "SYNW", "LATN", "FILT"]
    assert sections[-1].data == bytes([4])
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "c67633cd0e8e62b9c051038c77c685b3d8c7356a24f07e0ca8676d657fdbf849"


def test_payload_version_7_files_decode_with_the_shipped_arm():
    """tests/data/overfit-v7.lpx was written by the version-7 encoder (preset instant, a
    128×160 crop at quality 40): no ARM weights in the file, the shipped ARM
    (overfit-arm-v1) codes its latents, so a change to those weights or to how they
    are laid out for five levels shows here."""
    data = (Path(__file__).parent / "data" / "overfit-v7.lpx").read_bytes()
    header, sections = container.read(data)
    assert header.codec_version == 7 and header.params["arm_base"] == "v1" and sections[0].data == b""
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "7430455bc64e5fb70cb66f809b6d616bad5c55a8c264f3221b994a58ad55e4fb"


def test_payload_version_5_files_still_decode():
    """tests/data/overfit-v5.lpx was written by the version-5 encoder, with a FILT
    section of version 5's layout (the linear post-filter alone, designed at a tiny λ so
    that a 64×96 crop carries one); its decoded pixels' digest was recorded with that
    build."""
    data = (Path(__file__).parent / "data" / "overfit-v5.lpx").read_bytes()
    header, sections = container.read(data)
    assert header.codec_version == 5 and [s.type for s in sections] == ["ARMW", "SYNW", "LATN", "FILT"]
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "7e80206108c54a33dfb70484959a2213c7923477b1e9655d995e53033eba7e90"


def test_payload_version_3_files_still_decode():
    """tests/data/overfit-v3.lpx was written by the version-3 encoder (wavelet grids, an
    ARM over spatial neighbours only, all grids in one wavefront); its decoded pixels'
    digest was recorded with that build."""
    data = (Path(__file__).parent / "data" / "overfit-v3.lpx").read_bytes()
    header = latentpress.read_info(data)
    assert header.codec_version == 3 and header.params["arch"] == "dwt4-arm8x2-syn8.8"
    digest = hashlib.sha256(latentpress.decode(data).tobytes()).hexdigest()
    assert digest == "51bd80547194b6b425bdf493c227fad988d2b95109d4609838328edcbef78d6e"
    with pytest.raises(CorruptPayloadError, match="band-aware"):       # a version-4 architecture
        latentpress.decode(_rewrite(data, arch="dwt4-arm8x2b-syn8.8"))


@pytest.mark.parametrize("colours", [3, 1])
def test_band_aware_contexts_match_between_training_and_coding(crop, colours):
    """The float ARM trained on model.contexts and the integer ARM that codes must see
    the same inputs: the parent features (torch vs numpy) and the one-hot band
    identity (float inputs vs per-plane first-layer offsets) agree, so both predict
    the same means up to the weights' rounding."""
    from latentpress.codecs.overfit import arm as A
    from latentpress.codecs.overfit.codec import _arm_layers, _integer_arm
    from latentpress.nn.precision import to_integers
    image = crop if colours == 3 else crop[:, :, 0].copy()
    x = _image_tensor(image)
    model = OverfitModel(levels_for(PRESETS["fast"].architecture, *image.shape[:2]), *image.shape[:2], colours)
    model.warm_start(x, lambda_for_quality(70))
    grids = model.integer_grids()
    with torch.no_grad():
        contexts, values = model.contexts(model.quantized_grids("round"))
        for layer in _arm_layers(model):
            layer.weight.normal_(0, 0.3)
        mean, _ = model.arm(contexts)
    weights = to_integers([t.detach().numpy() for l in _arm_layers(model) for t in (l.weight, l.bias)], 8)
    integer_arm, plan = _integer_arm(model, weights, 8)
    assert plan.offsets.shape == (len(grids), model.arch.arm_hidden) and np.abs(plan.offsets).max() > 0
    # Integer contexts plane by plane (the crop is smaller than one tile).
    rows = []
    for index, grid in enumerate(grids):
        r, c = (a.ravel() for a in np.mgrid[0:grid.shape[0], 0:grid.shape[1]])
        spatial = A.gather_context(A.padded(grid), r, c)
        link = plan.parents[index]
        parent = np.zeros((2, *grid.shape), np.int64) if link is None else A.parent_features(grids[link[0]], link[1], grid.shape)
        rows.append(np.concatenate([spatial, parent.reshape(2, -1).T], axis=1))
    integer_contexts = np.concatenate(rows)
    assert np.array_equal(integer_contexts, contexts[:, :plan.inputs].numpy().astype(np.int64))
    owner = np.concatenate([np.full(g.size, i) for i, g in enumerate(grids)])
    out = integer_arm(integer_contexts << A.FRAC_BITS, plan.offsets[owner]) / (1 << A.FRAC_BITS)
    assert np.abs(out[:, 0] - mean.numpy()).max() < 0.05 * (1 + np.abs(mean.numpy()).max())


def test_descriptor_round_trip_and_bounds():
    for transform in ("pyramid", "wavelet"):
        arch = Architecture(levels=7, arm_hidden=24, arm_layers=3, synthesis=(24, 12, 8), transform=transform)
        assert Architecture.parse(arch.describe()) == arch
    assert Architecture.parse("dwt6-arm16x2-syn16.16").transform == "wavelet"
    banded = Architecture.parse("dwt6-arm16x2b-syn16.16")
    assert banded.band_context and banded.describe() == "dwt6-arm16x2b-syn16.16"
    for bad in ("lat99-arm16x2-syn16.16", "lat6-arm9999x2-syn16", "lat6-arm16x2-syn16.999",
                "lat6-arm16x9-syn16", "garbage", 7, "lat6-arm16x2-syn" + ".16" * 20, "dwt99-arm16x2-syn16",
                "wav6-arm16x2-syn16", "lat6-arm16x2b-syn16", "dwt6-arm16x2bb-syn16"):
        with pytest.raises(CorruptPayloadError):
            Architecture.parse(bad)


def _rewrite(data: bytes, **params) -> bytes:
    header, sections = container.read(data)
    new = container.Header(codec=header.codec, codec_version=header.codec_version, width=header.width,
                           height=header.height, channels=header.channels, params={**header.params, **params})
    return container.write(new, sections)


def test_absurd_network_in_a_file_is_refused_before_allocation(encoded):
    with pytest.raises(CorruptPayloadError, match="architecture"):
        latentpress.decode(_rewrite(encoded[30], arch="lat8-arm64x4-syn64.64.64.65"))
    for bad in ({"arm_step": 40}, {"gain": 99}, {"gain": 16.0}, {"ratio": 3}, {"syn_step": True}):
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(_rewrite(encoded[30], **bad))
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[30], arch="dwt3-arm8x2-syn8.8"))   # the weights do not fit it
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(encoded[30], arch="lat5-arm8x2-syn8.8"))   # nor for a pyramid


def test_too_large_claims_are_refused():
    header = container.Header(codec="overfit", codec_version=2, width=5000, height=5000, channels=3,
                              params={"arch": "lat6-arm8x2-syn8.8", "arm_step": 6, "syn_step": 8, "gain": 16, "ratio": 3})
    data = container.write(header, [container.Section(t, b"") for t in ("ARMW", "SYNW", "LATN")])
    with pytest.raises(LimitError):
        latentpress.decode(data)


def test_parameter_validation(crop):
    with pytest.raises(ParameterError, match="quality"):
        latentpress.encode(crop, "overfit", quality=101)
    with pytest.raises(ParameterError, match="preset"):
        latentpress.encode(crop, "overfit", preset="turbo")


# 29.4, 30.8 and 32.6 dB measured
@pytest.mark.parametrize("shape, floor", [((1, 3000, 3), 26.5), ((2, 3000, 3), 28.0), ((3000, 40), 29.5)])
def test_thin_images_decode_in_a_bounded_number_of_wavefronts(photo, monkeypatch, shape, floor):
    """Tiles bound the wavefronts: a 1×3000 image takes as few as a 64×256 one, and a
    band-aware ARM (one phase per level) at most that many per level. PSNR floors a few
    dB under what the encoder reaches on these strips."""
    from latentpress.codecs.overfit import arm
    image = _strip(photo, shape)
    data = latentpress.encode(image, "overfit", preset="fast", iterations=2)
    arch = Architecture.parse(latentpress.read_info(data).params["arch"])
    calls = []
    original = arm._Predictor.__call__
    monkeypatch.setattr(arm._Predictor, "__call__", lambda *a: calls.append(1) or original(*a))
    monkeypatch.setenv("LATENTPRESS_NATIVE", "0")    # the numpy path: a predictor call per wavefront
    decoded = latentpress.decode(data)
    assert decoded.shape == image.shape and psnr(image, decoded) > floor
    phases = arch.levels + 1 if arch.band_context else 1
    rows, cols = arm.SMALL_TILE                              # payload version 5's tiles
    assert 0 < len(calls) <= phases * (3 * (rows - 1) + cols)


def test_descriptor_must_be_canonical_ascii():
    for bad in ("lat\u0666-arm16x2-syn16.16", "lat06-arm16x2-syn16.16", "dwt06-arm16x2-syn16.16"):
        with pytest.raises(CorruptPayloadError):
            Architecture.parse(bad)


def test_an_untrained_synthesis_is_rebuilt_not_stored(crop, encoded):
    """The fast preset only fits the ARM, so its synthesis is the wavelet's exact
    inverse: the file says syn_step 0 and carries no synthesis weights."""
    data = latentpress.encode(crop, "overfit", preset="fast", quality=50)
    header, sections = container.read(data)
    assert header.params["syn_step"] == 0 and [len(s.data) for s in sections if s.type == "SYNW"] == [0]
    assert psnr(crop, latentpress.decode(data)) > 25
    with pytest.raises(CorruptPayloadError, match="step 0"):          # weights present: not the inverse
        latentpress.decode(_rewrite(encoded[30], syn_step=0))
    v2 = (Path(__file__).parent / "data" / "overfit-v2.lpx").read_bytes()
    with pytest.raises(CorruptPayloadError):
        latentpress.decode(_rewrite(v2, syn_step=0))


def test_rdoq_moves_latents_toward_zero_only_when_the_bits_are_worth_it(crop):
    x = _image_tensor(crop)
    model = OverfitModel(levels_for(PRESETS["fast"].architecture, *crop.shape[:2]), *crop.shape[:2], 3)
    model.warm_start(x, lambda_for_quality(50))
    before = [y.detach().clone() for y in model.latents]
    assert model.rdoq(x, 0.0) == 0                        # no rate weight: rounding stays
    assert all(torch.equal(a, b) for a, b in zip(before, model.latents))
    moved = model.rdoq(x, 1.0)                            # rate is everything: many move
    assert moved > 0
    after = list(model.latents)
    assert all(torch.all(b.abs() <= a.abs()) and torch.all(b * a >= 0) for a, b in zip(before, after))
    assert sum(int((a != b).sum()) for a, b in zip(before, after)) == moved
    assert all(torch.all((a - b).abs() <= 1) for a, b in zip(before, after))


def test_slow_searches_the_arm_width_and_keeps_the_cheapest_file(crop, monkeypatch):
    """A preset with arm_widths encodes once per width, narrowest first, and keeps the
    file of least MSE + λ·bpp; a time budget spent on the first width ends the search."""
    from latentpress.codecs.overfit import codec as overfit_codec
    searching = dataclasses.replace(PRESETS["slow"], name="search", arm_warmup=40, arm_widths=(8, 16), compete_with=())
    monkeypatch.setitem(PRESETS, "search", searching)
    params = overfit_codec.OverfitParams(quality=50, preset="search")
    x, lmbda = _image_tensor(crop), lambda_for_quality(50)
    arch = levels_for(searching.architecture, *crop.shape[:2])
    single = {w: overfit_codec._encode_once(x, dataclasses.replace(arch, arm_hidden=w), searching, lmbda, 0, 0.0,
                                            params, "test") for w in (8, 16)}
    for (cost, payload), w in ((single[w], w) for w in (8, 16)):
        decoded = latentpress.decode(container.write(
            container.Header("overfit", overfit_codec.OverfitCodec.version, crop.shape[1], crop.shape[0], 3, params=payload.params), payload.sections))
        mse = np.mean((decoded.astype(np.float64) - crop) ** 2) / 255 ** 2
        framed = sum(container.SECTION_FRAMING_BYTES + len(s.data) for s in payload.sections)
        bpp = 8 * framed / (crop.shape[0] * crop.shape[1])
        assert cost == pytest.approx(mse + lmbda * bpp)        # the cost is the real file's
        assert payload.params["arch"] == f"dwt4-arm{w}x2b-syn24.24"
    chosen = latentpress.encode(crop, "overfit", quality=50, preset="search")
    best = min((8, 16), key=lambda w: single[w][0])
    assert latentpress.read_info(chosen).params["arch"] == f"dwt4-arm{best}x2b-syn24.24"
    hurried = latentpress.encode(crop, "overfit", quality=50, preset="search", time_budget=1e-6)
    assert latentpress.read_info(hurried).params["arch"] == "dwt4-arm8x2b-syn24.24"


def test_a_change_to_one_preset_leaves_the_others_bench_identity(monkeypatch):
    from latentpress.bench.identity import variant_identity
    before = {p: variant_identity("overfit", {"preset": p}) for p in PRESETS}
    assert len(set(before.values())) == len(PRESETS)
    monkeypatch.setitem(PRESETS, "slow", dataclasses.replace(PRESETS["slow"], arm_warmup=1))
    after = {p: variant_identity("overfit", {"preset": p}) for p in PRESETS}
    assert after["slow"] != before["slow"] and all(after[p] == before[p] for p in ("instant", "fast", "medium"))
    assert variant_identity("overfit", {}) == after["instant"]         # the default preset
    # medium and slow keep fast's file where it is better: a change to fast is theirs too.
    monkeypatch.setitem(PRESETS, "fast", dataclasses.replace(PRESETS["fast"], arm_warmup=1))
    again = {p: variant_identity("overfit", {"preset": p}) for p in PRESETS}
    assert all(again[p] != after[p] for p in ("fast", "medium", "slow")) and again["instant"] == after["instant"]


def test_a_preset_keeps_the_cheaper_of_its_own_file_and_its_rivals(crop, monkeypatch):
    """compete_with: the rival's recipe is encoded too and the file of least
    MSE + λ·bpp kept, recorded under the preset's own name; a spent time budget stops
    after the rival."""
    from latentpress.codecs.overfit import codec as overfit_codec
    own = dataclasses.replace(PRESETS["medium"], name="own", arm_warmup=30, compete_with=())
    rival = dataclasses.replace(PRESETS["instant"], name="rival")
    monkeypatch.setitem(PRESETS, "own", own)
    monkeypatch.setitem(PRESETS, "rival", rival)
    monkeypatch.setitem(PRESETS, "both", dataclasses.replace(own, name="both", compete_with=("rival",)))
    x, lmbda = _image_tensor(crop), lambda_for_quality(50)
    costs = {}
    for name in ("own", "rival"):
        params = overfit_codec.OverfitParams(quality=50, preset=name)
        arch = levels_for(PRESETS[name].architecture, *crop.shape[:2])
        costs[name], payload = overfit_codec._encode_once(x, arch, PRESETS[name], lmbda, 0, 0.0, params, "test")
        costs[name, "arch"] = payload.params["arch"]
    assert costs["own", "arch"] != costs["rival", "arch"]
    chosen = latentpress.read_info(latentpress.encode(crop, "overfit", quality=50, preset="both")).params
    cheaper = min(("own", "rival"), key=lambda name: costs[name])
    assert chosen["arch"] == costs[cheaper, "arch"] and chosen["preset"] == "both"
    hurried = latentpress.encode(crop, "overfit", quality=50, preset="both", time_budget=1e-6)
    assert latentpress.read_info(hurried).params["arch"] == costs["rival", "arch"]


def test_large_images_fit_and_round_on_bounded_contexts(crop, monkeypatch):
    """Beyond MAX_CONTEXT_ROWS latents the encoder builds ARM contexts a group of planes
    at a time and fits the ARM on a random subset of them (bounded memory): the same
    contexts row for row, the same rounding, and a file that decodes."""
    from latentpress.codecs.overfit import model as overfit_model
    from latentpress.train import overfit as overfit_training
    x, lmbda = _image_tensor(crop), lambda_for_quality(50)
    arch = levels_for(PRESETS["fast"].architecture, *crop.shape[:2])
    model = OverfitModel(arch, *crop.shape[:2], 3)
    model.arm.load_integers(base_arm.for_layout(arch.levels, 3))       # as the encoder starts
    model.warm_start(x, lmbda)
    grids = model.quantized_grids("round")
    whole, values = model.contexts(grids)
    assert values.numel() == model.latent_count() > 1000
    rows = torch.randperm(values.numel())[:700]
    part, part_values = model.contexts(grids, rows=rows)
    assert torch.equal(part, whole[rows]) and torch.equal(part_values, values[rows])
    start = [y.detach().clone() for y in model.latents]
    moved = model.rdoq(x, lmbda)
    rounded = [y.detach().clone() for y in model.latents]
    with torch.no_grad():
        for y, s in zip(model.latents, start):
            y.copy_(s)
    monkeypatch.setattr(overfit_model, "MAX_CONTEXT_ROWS", 300)       # many groups of planes
    assert model.rdoq(x, lmbda) == moved > 0
    assert all(torch.equal(a, y) for a, y in zip(rounded, model.latents))
    monkeypatch.setattr(overfit_training, "MAX_CONTEXT_ROWS", 300)    # fitted on 300 latents
    data = latentpress.encode(crop, "overfit", preset="fast", quality=50)
    assert psnr(crop, latentpress.decode(data)) > 25


# ---- the shipped ARM (payload version 7) ---------------------------------------------

@pytest.fixture(scope="module")
def instant(photo):
    image = np.ascontiguousarray(photo[40:168, 60:220])                     # 128×160: 5 levels
    return image, latentpress.encode(image, "overfit", quality=50, preset="instant")


def test_instant_codes_with_the_shipped_arm_and_stores_no_weights(instant):
    image, data = instant
    header, sections = container.read(data)
    assert header.codec_version == 7 and header.params["arm_base"] == "v1"
    assert header.params["arch"] == "dwt5-arm24x2b-syn8.8" and sections[0].type == "ARMW" and sections[0].data == b""
    decoded = latentpress.decode(data)
    assert psnr(image, decoded) > 29.0                                     # 31.6 dB measured
    # Bit-identical in a fresh process (the shipped ARM loaded there from the package).
    code = ("import sys, hashlib, latentpress; "
            "print(hashlib.sha256(latentpress.decode(sys.stdin.buffer.read()).tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, check=True)
    assert out.stdout.decode().strip() == hashlib.sha256(decoded.tobytes()).hexdigest()


def test_a_fitted_arm_from_the_shipped_one_stores_its_differences(monkeypatch):
    """A preset that fine-tunes the shipped ARM stores integer differences from it at
    the precision of least cost, or nothing where they do not pay. On stripes, which
    no photograph resembles, they pay (3.7 against 7.4 KB measured) and decode."""
    tuned = dataclasses.replace(PRESETS["instant"], name="tuned", arm_warmup=100, arm_learning_rate=1e-2)
    monkeypatch.setitem(PRESETS, "tuned", tuned)
    y, x = np.mgrid[:192, :192]
    image = np.clip(np.stack([128 + 100 * np.sin(x / 1.3 + y / 7.0), 128 + 60 * np.cos(y / 2.1), 128 + 0 * x], -1),
                    0, 255).astype(np.uint8)
    data = latentpress.encode(image, "overfit", quality=70, preset="tuned")
    header, sections = container.read(data)
    assert header.params["arm_base"] == "v1" and len(sections[0].data) > 0
    assert len(data) < 0.8 * len(latentpress.encode(image, "overfit", quality=70, preset="instant"))
    assert psnr(image, latentpress.decode(data)) > 33.0


@pytest.mark.parametrize("levels, colours", [(6, 3), (3, 3), (1, 1), (6, 1)])
def test_the_shipped_arm_fits_every_layout_of_bands(levels, colours):
    from latentpress.codecs.overfit import base_arm
    arch = Architecture(levels=levels, arm_hidden=base_arm.HIDDEN, arm_layers=base_arm.LAYERS, synthesis=(8, 8),
                        transform="wavelet", band_context=True)
    model = OverfitModel(arch, 256, 256, colours)
    integers = base_arm.for_layout(levels, colours)
    expected = [tuple(t.shape) for layer in list(model.arm.hidden) + [model.arm.out] for t in (layer.weight, layer.bias)]
    assert [t.shape for t in integers] == expected == base_arm.shapes(levels, colours)
    full = base_arm.shipped()[0]
    # The low band's column is the shipped low band's; grey takes the luma column.
    low = base_arm.SPATIAL + levels
    assert np.array_equal(integers[0][:, low], full[:, base_arm.SPATIAL + base_arm.LEVELS])
    assert np.array_equal(integers[0][:, low + 1], full[:, base_arm.SPATIAL + base_arm.LEVELS + 1])
    assert np.array_equal(integers[0][:, :base_arm.SPATIAL], full[:, :base_arm.SPATIAL])
    assert all(np.array_equal(a, b) for a, b in zip(integers[1:], base_arm.shipped()[1:]))


def test_shipped_arm_headers_are_checked(instant):
    """An unknown shipped ARM, one named by an architecture it does not fit, or one in a
    payload version before 7 are corrupt files, not crashes."""
    _, data = instant
    header, sections = container.read(data)
    for change in ({"arm_base": "v9"}, {"arm_base": 1}, {"arch": "dwt5-arm16x2b-syn8.8"}):
        params = dict(header.params) | change
        forged = container.write(dataclasses.replace(header, params=params), sections)
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(forged)
    older = container.write(dataclasses.replace(header, codec_version=6), sections)
    with pytest.raises(CorruptPayloadError, match="no shipped ARM"):
        latentpress.decode(older)


def test_an_image_too_thin_for_the_wavelet_fits_its_own_arm(photo):
    """instant has no per-image fitting, but the shipped ARM only covers wavelet bands:
    a one-pixel-thin image takes the pyramid and an ARM fitted to it."""
    image = np.ascontiguousarray(photo[100:101, :200])
    data = latentpress.encode(image, "overfit", quality=50, preset="instant")
    header, sections = container.read(data)
    assert "arm_base" not in header.params and header.params["arch"].startswith("lat")
    assert len(sections[0].data) > 0 and latentpress.decode(data).shape == image.shape


# ---- the gain choice under the shipped ARM's rate ---------------------------------------

def test_the_warm_start_refines_its_gain_under_the_rate_it_is_given(crop):
    x = _image_tensor(crop)
    arch = levels_for(PRESETS["instant"].architecture, *crop.shape[:2])
    model = OverfitModel(arch, *crop.shape[:2], 3)
    model.warm_start(x, lambda_for_quality(50))
    laplace = model.gain_exp
    model.warm_start(x, lambda_for_quality(50), rate=lambda grids: 0.0)          # free bits: finest step
    assert model.gain_exp == max(GAIN_EXPONENTS) > laplace
    expensive = lambda grids: 1e9 * sum(float(g.abs().sum()) for g in grids)     # noqa: E731
    model.warm_start(x, lambda_for_quality(50), rate=expensive)
    assert model.gain_exp < laplace                                              # bits dear: coarser


def test_sampled_rows_estimate_the_shipped_arms_bits(photo):
    tall = np.ascontiguousarray(np.concatenate([photo, photo[::-1]])[:, :96])      # 512×96: 8 bands of 64 rows
    arch = levels_for(PRESETS["instant"].architecture, *tall.shape[:2])
    assert arch.levels == 6
    model = OverfitModel(arch, *tall.shape[:2], 3)
    base = base_arm.for_layout(arch.levels, 3)
    arm, plan = _integer_arm(model, base, arm_module.FRAC_BITS)
    grids = model.wavelet_grids(model.wavelet_bands(_image_tensor(tall)), 14, 8)[0]
    planes = [np.rint(p.numpy()).astype(np.int64) for g in grids for p in g[0]]
    full = arm_module.grids_ideal_bits(planes, arm, plan)
    sampled = _sampled_bits(grids, arm, plan, arch.levels)
    assert sampled != full and abs(sampled / full - 1) < 0.25
    small = OverfitModel(arch, 448, 96, 3)                                          # 7 bands: all rows
    short = small.wavelet_grids(small.wavelet_bands(_image_tensor(np.ascontiguousarray(tall[:448]))), 14, 8)[0]
    arm, plan = _integer_arm(small, base, arm_module.FRAC_BITS)
    assert _sampled_bits(short, arm, plan, arch.levels) == arm_module.grids_ideal_bits(
        [np.rint(p.numpy()).astype(np.int64) for g in short for p in g[0]], arm, plan)
