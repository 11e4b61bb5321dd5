"""Tests of latentpress.metrics against known values and reference implementations.

SSIM is checked against scikit-image, MS-SSIM against pytorch-msssim (both on the shipped
crops of two training photographs, tests/data/) and BD-rate/BD-PSNR against the
``bjontegaard`` package; those comparisons are skipped when the reference package is not
installed.
"""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from latentpress.errors import ImageError, ParameterError
from latentpress.metrics import bd_psnr, bd_rate, bits_per_pixel, ms_ssim, psnr, psnr_y, ssim

# Rate-distortion points of the bjontegaard package's README (x265 presets).
README_RATES_A = [9487.76, 4593.60, 2486.44, 1358.24]
README_PSNRS_A = [40.037, 38.615, 36.845, 34.851]
README_RATES_B = [9787.80, 4469.00, 2451.52, 1356.24]
README_PSNRS_B = [40.121, 38.651, 36.970, 34.987]
# Learned-codec-like curves in bpp with unequal point counts, given out of order.
BPP_A = [0.45, 0.12, 1.10, 0.25, 0.72]
BPP_PSNRS_A = [31.4, 27.1, 35.6, 29.3, 33.5]
BPP_B = [0.21, 0.68, 0.10, 0.40]
BPP_PSNRS_B = [29.8, 34.1, 27.4, 32.0]


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())))


def _luma(image: np.ndarray) -> np.ndarray:
    return np.round(image @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)


@pytest.fixture(scope="module")
def pairs(photo, second_photo) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reference/distorted pairs built from two real photographs (256×320 and 192×256)."""
    original = photo
    rng = np.random.default_rng(1)
    noisy = np.clip(original + rng.normal(0.0, 8.0, original.shape), 0, 255).astype(np.uint8)
    blurred = np.round(gaussian_filter(original.astype(np.float64), (1.2, 1.2, 0))).astype(
        np.uint8)
    # Odd sides exercise the padding of the 2×2 pooling at several MS-SSIM scales.
    odd = original[2:253, 4:317]
    grey = _luma(second_photo)
    small = original[:, 32:288]
    jpeg = _jpeg(original, 20)
    return {
        "noisy": (original, noisy),
        "jpeg": (original, jpeg),
        "jpeg crop": (small, jpeg[:, 32:288]),
        "blurred crop": (small, blurred[:, 32:288]),
        "odd crop": (odd, _jpeg(odd, 10)),
        "grey": (grey, _jpeg(grey, 25)),
        "inverted": (small, 255 - small),
    }


# --- PSNR -------------------------------------------------------------------------------


def test_psnr_of_a_constant_offset_of_one() -> None:
    reference = np.full((8, 12, 3), 100, np.uint8)
    assert psnr(reference, reference + 1) == pytest.approx(48.1308036, abs=1e-6)
    assert psnr(reference[:, :, 0], reference[:, :, 0] - 1) == pytest.approx(48.1308036,
                                                                               abs=1e-6)


def test_psnr_of_a_known_mse_and_peak() -> None:
    reference = np.zeros((4, 4, 3), np.uint8)
    test = reference.copy()
    test[:2] = 4  # half the samples off by 4: MSE = 8
    assert psnr(reference, test) == pytest.approx(10 * math.log10(255 ** 2 / 8), abs=1e-12)
    assert psnr(reference, test, peak=1.0) == pytest.approx(10 * math.log10(1 / 8), abs=1e-12)


def test_identical_images_have_infinite_psnr() -> None:
    image = np.random.default_rng(0).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    assert psnr(image, image) == math.inf
    assert psnr_y(image, image) == math.inf


def test_psnr_y_weights_the_channel_errors_by_bt601_luma() -> None:
    reference = np.full((6, 6, 3), 50, np.uint8)
    green_off = reference.copy()
    green_off[:, :, 1] += 1
    # Y error is 0.587 everywhere; RGB MSE is 1/3.
    assert psnr_y(reference, green_off) == pytest.approx(
        10 * math.log10(255 ** 2 / 0.587 ** 2), abs=1e-9)
    assert psnr(reference, green_off) == pytest.approx(10 * math.log10(3 * 255 ** 2), abs=1e-9)


def test_psnr_y_sees_only_the_luma_part_of_an_error() -> None:
    reference = np.full((5, 5, 3), 100, np.uint8)
    test = reference.copy()
    # R + 2 and G − 1 move Y by 0.598 − 0.587 = 0.011 only.
    test[:, :, 0] += 2
    test[:, :, 1] -= 1
    assert psnr_y(reference, test) == pytest.approx(10 * math.log10(255 ** 2 / 0.011 ** 2),
                                                    abs=1e-6)
    assert psnr_y(reference, test) > psnr(reference, test) + 30


def test_psnr_y_equals_psnr_on_greyscale() -> None:
    rng = np.random.default_rng(3)
    reference = rng.integers(0, 256, (16, 20), dtype=np.uint8)
    test = np.clip(reference.astype(int) + rng.integers(-3, 4, reference.shape), 0, 255)
    test = test.astype(np.uint8)
    assert psnr_y(reference, test) == psnr(reference, test)


# --- SSIM / MS-SSIM -----------------------------------------------------------------------


def test_ssim_and_ms_ssim_of_identical_images_are_one() -> None:
    reference = np.random.default_rng(4).integers(0, 256, (170, 190, 3), dtype=np.uint8)
    assert ssim(reference, reference) == pytest.approx(1.0, abs=1e-12)
    assert ms_ssim(reference, reference) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("case", ["noisy", "jpeg", "odd crop", "grey"])
def test_ssim_matches_scikit_image(pairs, case: str) -> None:
    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity
    reference, test = pairs[case]
    expected = structural_similarity(
        reference, test, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, channel_axis=None if reference.ndim == 2 else 2)
    # skimage filters with reflected borders but averages the map cropped by the window
    # radius (5), which is the 'valid' region, with the same 11-tap kernel (truncate 3.5 ×
    # σ 1.5): only float64 rounding can differ.
    assert ssim(reference, test) == pytest.approx(expected, abs=1e-10)


@pytest.fixture(scope="module")
def torch_single_thread():
    """pytorch-msssim with one thread: on a loaded small machine extra threads only thrash."""
    torch = pytest.importorskip("torch")
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(previous)


def _to_tensor(torch, image: np.ndarray):
    pixels = image[:, :, np.newaxis] if image.ndim == 2 else image
    return torch.from_numpy(pixels.astype(np.float64)).permute(2, 0, 1).unsqueeze(0)


# The whole photograph in one pair; crops elsewhere keep pytorch-msssim's CPU time down.
@pytest.mark.parametrize("case", ["noisy", "jpeg crop", "blurred crop", "odd crop", "grey",
                                  "inverted"])
def test_ms_ssim_matches_pytorch_msssim(pairs, torch_single_thread, case: str) -> None:
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    torch = torch_single_thread
    reference, test = pairs[case]
    x, y = _to_tensor(torch, reference), _to_tensor(torch, test)
    # pytorch-msssim builds its Gaussian window in float32; handing it the float64 window
    # removes that rounding (~1e-7) and leaves a comparison of the algorithms alone.
    offsets = torch.arange(11, dtype=torch.float64) - 5
    window = torch.exp(-offsets ** 2 / (2 * 1.5 ** 2))
    window = (window / window.sum()).repeat(x.shape[1], 1, 1, 1)
    expected = pytorch_msssim.ms_ssim(x, y, data_range=255, size_average=True, win=window)
    assert ms_ssim(reference, test) == pytest.approx(expected.item(), abs=1e-10)


def test_ms_ssim_matches_pytorch_msssim_called_as_usual(pairs, torch_single_thread) -> None:
    pytorch_msssim = pytest.importorskip("pytorch_msssim")
    reference, test = pairs["jpeg crop"]
    x = _to_tensor(torch_single_thread, reference).float()
    y = _to_tensor(torch_single_thread, test).float()
    expected = pytorch_msssim.ms_ssim(x, y, data_range=255, size_average=True)
    # float32 filtering of values up to 255² and the float32 window cost ~1e-6.
    assert ms_ssim(reference, test) == pytest.approx(expected.item(), abs=1e-4)


def test_ms_ssim_clips_negative_terms_to_zero() -> None:
    reference = np.random.default_rng(6).integers(0, 256, (170, 190), dtype=np.uint8)
    # Inverting the image makes the contrast-structure term negative; without the clip a
    # negative base with a fractional weight would give NaN.
    assert ms_ssim(reference, 255 - reference) == 0.0
    assert ssim(reference, 255 - reference) < 0


def test_ssim_and_ms_ssim_rank_distortions(pairs) -> None:
    reference, _ = pairs["blurred crop"]
    mild = _jpeg(reference, 80)
    harsh = _jpeg(reference, 5)
    assert 1.0 > ssim(reference, mild) > ssim(reference, harsh)
    assert 1.0 > ms_ssim(reference, mild) > ms_ssim(reference, harsh)


def test_ms_ssim_accepts_the_smallest_allowed_image() -> None:
    image = np.random.default_rng(5).integers(0, 256, (161, 170, 3), dtype=np.uint8)
    assert ms_ssim(image, image) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("shape", [(160, 400, 3), (400, 160), (100, 100, 3)])
def test_ms_ssim_rejects_images_too_small_for_five_scales(shape) -> None:
    image = np.zeros(shape, np.uint8)
    with pytest.raises(ImageError, match="larger than 160 pixels"):
        ms_ssim(image, image)


def test_ssim_rejects_images_smaller_than_the_window() -> None:
    image = np.zeros((10, 40, 3), np.uint8)
    with pytest.raises(ImageError, match="at least 11×11"):
        ssim(image, image)


@pytest.mark.parametrize("metric", [psnr, psnr_y, ssim, ms_ssim])
@pytest.mark.parametrize("test_shape", [(200, 201, 3), (200, 200)])
def test_metrics_reject_shape_mismatch(metric, test_shape) -> None:
    reference = np.zeros((200, 200, 3), np.uint8)
    with pytest.raises(ImageError, match="differ in shape"):
        metric(reference, np.zeros(test_shape, np.uint8))


def test_metrics_reject_non_uint8_images() -> None:
    image = np.zeros((20, 20, 3), np.float32)
    with pytest.raises(ImageError, match="uint8"):
        psnr(image, image)


@pytest.mark.parametrize("peak", [0.0, -1.0, math.inf, math.nan])
def test_psnr_rejects_bad_peak(peak: float) -> None:
    image = np.zeros((4, 4), np.uint8)
    with pytest.raises(ParameterError, match="peak"):
        psnr(image, image, peak=peak)


# --- bits per pixel -------------------------------------------------------------------


def test_bits_per_pixel() -> None:
    assert bits_per_pixel(49152, 768, 512) == 1.0
    assert bits_per_pixel(0, 3, 5) == 0.0
    assert bits_per_pixel(15, 4, 5) == pytest.approx(6.0)


@pytest.mark.parametrize("args", [(-1, 10, 10), (10, 0, 10), (10, 10, -2)])
def test_bits_per_pixel_rejects_bad_arguments(args) -> None:
    with pytest.raises(ParameterError):
        bits_per_pixel(*args)


# --- Bjøntegaard delta ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["cubic", "pchip"])
@pytest.mark.parametrize("curves", [
    (README_RATES_A, README_PSNRS_A, README_RATES_B, README_PSNRS_B),
    (BPP_A, BPP_PSNRS_A, BPP_B, BPP_PSNRS_B),
], ids=["readme", "bpp"])
def test_bd_metrics_match_the_bjontegaard_package(method: str, curves) -> None:
    bjontegaard = pytest.importorskip("bjontegaard")
    sorted_curves = []
    for rates, psnrs in (curves[:2], curves[2:]):
        order = np.argsort(rates)
        sorted_curves += [np.asarray(rates)[order], np.asarray(psnrs)[order]]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # its warning on curves overlapping < 75 %
        expected_rate = bjontegaard.bd_rate(*sorted_curves, method=method,
                                            require_matching_points=False)
        expected_psnr = bjontegaard.bd_psnr(*sorted_curves, method=method,
                                            require_matching_points=False)
    assert bd_rate(*curves, method=method) == pytest.approx(expected_rate, rel=1e-6)
    assert bd_psnr(*curves, method=method) == pytest.approx(expected_psnr, rel=1e-6)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_of_a_curve_against_itself_is_zero(method: str) -> None:
    assert bd_rate(BPP_A, BPP_PSNRS_A, BPP_A, BPP_PSNRS_A, method) == pytest.approx(0, abs=1e-12)
    assert bd_psnr(BPP_A, BPP_PSNRS_A, BPP_A, BPP_PSNRS_A, method) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_rate_of_a_uniform_rate_saving(method: str) -> None:
    rates_b = [0.9 * rate for rate in BPP_A]
    assert bd_rate(BPP_A, BPP_PSNRS_A, rates_b, BPP_PSNRS_A, method) == pytest.approx(-10.0,
                                                                                      abs=1e-9)
    assert bd_psnr(BPP_A, BPP_PSNRS_A, rates_b, BPP_PSNRS_A, method) > 0


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_psnr_of_a_uniform_quality_gain(method: str) -> None:
    psnrs_b = [value + 0.5 for value in BPP_PSNRS_A]
    assert bd_psnr(BPP_A, BPP_PSNRS_A, BPP_A, psnrs_b, method) == pytest.approx(0.5, abs=1e-9)
    assert bd_rate(BPP_A, BPP_PSNRS_A, BPP_A, psnrs_b, method) < 0


def test_bd_rate_pchip_works_with_two_points() -> None:
    assert bd_rate([0.2, 0.8], [30.0, 36.0], [0.16, 0.64], [30.0, 36.0]) == pytest.approx(-20.0)


def test_bd_metrics_default_to_pchip() -> None:
    curves = (README_RATES_A, README_PSNRS_A, README_RATES_B, README_PSNRS_B)
    assert bd_rate(*curves) == bd_rate(*curves, method="pchip") != bd_rate(*curves, "cubic")
    assert bd_psnr(*curves) == bd_psnr(*curves, method="pchip") != bd_psnr(*curves, "cubic")


@pytest.mark.parametrize("function", [bd_rate, bd_psnr])
@pytest.mark.parametrize(("curves", "method", "message"), [
    (([1, 2, 3], [30, 32, 34], [1, 2, 3, 4], [30, 32, 34, 36]), "cubic", "at least 4 points"),
    (([1], [30], [1, 2], [30, 32]), "pchip", "at least 2 points"),
    (([1, 2], [30, 32], [1, 2, 3], [30, 32]), "pchip", "same length"),
    (([1, 0, 3], [30, 32, 34], [1, 2, 3], [30, 32, 34]), "pchip", "positive"),
    (([1, -2, 3], [30, 32, 34], [1, 2, 3], [30, 32, 34]), "pchip", "positive"),
    (([1, 2, 3], [30, math.nan, 34], [1, 2, 3], [30, 32, 34]), "pchip", "finite"),
    (([1, 2, math.inf], [30, 32, 34], [1, 2, 3], [30, 32, 34]), "pchip", "finite"),
    (([1, 2], [30, 32], [1, 2], [30, 32]), "akima", "unknown BD method"),
    (([[1, 2]], [[30, 32]], [1, 2], [30, 32]), "pchip", "1-D"),
])
def test_bd_metrics_reject_bad_curves(function, curves, method: str, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        function(*curves, method=method)


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_rate_rejects_curves_without_common_quality(method: str) -> None:
    rates = [1.0, 2.0, 4.0, 8.0]
    with pytest.raises(ParameterError, match="do not overlap in PSNR"):
        bd_rate(rates, [30, 31, 32, 33], rates, [34, 35, 36, 37], method)
    with pytest.raises(ParameterError, match="do not overlap in PSNR"):
        bd_rate(rates, [30, 31, 32, 33], rates, [33, 34, 35, 36], method)  # touch at 33


@pytest.mark.parametrize("method", ["cubic", "pchip"])
def test_bd_psnr_rejects_curves_without_common_rate(method: str) -> None:
    psnrs = [30, 32, 34, 36]
    # The ranges are reported in the caller's rate units, not as the logs integrated over.
    with pytest.raises(ParameterError, match=r"do not overlap in rate: A covers \[0\.1, 0\.4\], "
                                             r"B covers \[0\.5, 0\.8\]"):
        bd_psnr([0.1, 0.2, 0.3, 0.4], psnrs, [0.5, 0.6, 0.7, 0.8], psnrs, method)


def test_bd_metrics_reject_repeated_values_of_the_integration_variable() -> None:
    with pytest.raises(ParameterError, match="curve A: two points have the same PSNR"):
        bd_rate([1, 2, 3], [30, 32, 32], [1, 2, 3], [30, 31, 33])
    with pytest.raises(ParameterError, match="curve B: two points have the same rate"):
        bd_psnr([1, 2, 3], [30, 32, 34], [1, 2, 2], [30, 31, 33])
