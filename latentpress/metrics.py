"""Quality and rate-distortion metrics for evaluating codecs.

Image metrics take two uint8 images of the same shape (H×W greyscale or H×W×3 RGB):

- :func:`psnr` (over all channels) and :func:`psnr_y` (over full-range BT.601 luma);
- :func:`ssim` and :func:`ms_ssim` (Wang et al.), computed with the conventions of
  pytorch-msssim so that numbers can be compared with published learned-compression
  results;
- :func:`bits_per_pixel` for the rate side.

Curve metrics compare two rate-distortion curves: :func:`bd_rate` and :func:`bd_psnr`
(Bjøntegaard delta) with either the original cubic-polynomial fit or PCHIP interpolation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from latentpress.errors import ImageError, ParameterError
from latentpress.image import as_array

_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

_WINDOW_SIZE = 11
_WINDOW_SIGMA = 1.5
_DATA_RANGE = 255.0
_C1 = (0.01 * _DATA_RANGE) ** 2
_C2 = (0.03 * _DATA_RANGE) ** 2
_MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
# Each of the 4 halvings must leave more than a window's reach of pixels; this is the
# bound pytorch-msssim asserts.
_MS_SSIM_MIN_SIDE = (_WINDOW_SIZE - 1) * 2 ** (len(_MS_SSIM_WEIGHTS) - 1)

_BD_METHODS = {"cubic": 4, "pchip": 2}  # method -> fewest points it can fit


def psnr(reference: np.ndarray, test: np.ndarray, peak: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB over all pixels and channels; ``inf`` if identical."""
    if not (math.isfinite(peak) and peak > 0):
        raise ParameterError(f"peak must be a positive finite number, got {peak}")
    reference, test = _image_pair(reference, test)
    error = reference.astype(np.float64) - test.astype(np.float64)
    return _psnr_from_mse(float(np.mean(error * error)), peak)


def psnr_y(reference: np.ndarray, test: np.ndarray) -> float:
    """PSNR in dB of the luma Y = 0.299R + 0.587G + 0.114B (unrounded); equals :func:`psnr`
    for greyscale images."""
    reference, test = _image_pair(reference, test)
    if reference.ndim == 2:
        return psnr(reference, test)
    error = (reference.astype(np.float64) - test.astype(np.float64)) @ _LUMA_WEIGHTS
    return _psnr_from_mse(float(np.mean(error * error)), _DATA_RANGE)


def ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Mean SSIM (11-tap Gaussian window, σ = 1.5, K1 = 0.01, K2 = 0.03) over the pixels
    where the window fits entirely inside the image, averaged over channels."""
    reference, test = _image_pair(reference, test)
    if min(reference.shape[:2]) < _WINDOW_SIZE:
        raise ImageError(f"SSIM needs an image of at least {_WINDOW_SIZE}×{_WINDOW_SIZE} "
                         f"pixels, got {_size(reference)}")
    ssim_per_channel, _ = _ssim_and_cs(_channels_last(reference), _channels_last(test))
    return float(ssim_per_channel.mean())


def ms_ssim(reference: np.ndarray, test: np.ndarray) -> float:
    """Multi-scale SSIM (Wang, Simoncelli, Bovik 2003) over 5 scales, averaged over channels.

    Matches ``pytorch_msssim.ms_ssim(X, Y, data_range=255, size_average=True)``: contrast-
    structure terms at scales 1-4 and the full SSIM at scale 5, each clipped at 0 before
    being raised to its weight. Both sides must exceed 160 pixels.
    """
    reference, test = _image_pair(reference, test)
    if min(reference.shape[:2]) <= _MS_SSIM_MIN_SIDE:
        raise ImageError(f"MS-SSIM needs both sides larger than {_MS_SSIM_MIN_SIDE} pixels "
                         f"(5 scales with an {_WINDOW_SIZE}-pixel window), got {_size(reference)}")
    x, y = _channels_last(reference), _channels_last(test)
    result = np.ones(x.shape[2])
    last = len(_MS_SSIM_WEIGHTS) - 1
    for scale, weight in enumerate(_MS_SSIM_WEIGHTS):
        ssim_per_channel, cs_per_channel = _ssim_and_cs(x, y)
        term = ssim_per_channel if scale == last else cs_per_channel
        # A negative term raised to a fractional weight is NaN; pytorch-msssim clips at 0.
        result *= np.maximum(term, 0.0) ** weight
        if scale != last:
            x, y = _halve(x), _halve(y)
    return float(result.mean())


def bits_per_pixel(num_bytes: int, width: int, height: int) -> float:
    """Rate of a ``num_bytes`` file for a ``width``×``height`` image, in bits per pixel."""
    if num_bytes < 0:
        raise ParameterError(f"num_bytes must be non-negative, got {num_bytes}")
    if width <= 0 or height <= 0:
        raise ParameterError(f"image size must be positive, got {width}×{height}")
    return 8.0 * num_bytes / (width * height)


def bd_rate(rates_a: Sequence[float], psnrs_a: Sequence[float], rates_b: Sequence[float],
            psnrs_b: Sequence[float], method: str = "pchip") -> float:
    """Bjøntegaard delta rate: average rate difference of curve B against curve A at equal
    quality, in percent (negative: B needs fewer bits).

    ``method`` is ``"cubic"`` (VCEG-M33 cubic polynomial fit, ≥ 4 points per curve) or
    ``"pchip"`` (piecewise cubic Hermite interpolation, ≥ 2 points per curve). Rates may be in
    any unit (bpp, kbit/s) as long as both curves use the same; points may come in any order.
    """
    rates_a, psnrs_a = _rd_curve(rates_a, psnrs_a, "A", method)
    rates_b, psnrs_b = _rd_curve(rates_b, psnrs_b, "B", method)
    _check_overlap(psnrs_a, psnrs_b, "PSNR")
    # Log-rate is averaged over the PSNR range both curves cover, so the result is a ratio
    # of rates at equal quality.
    delta = _mean_difference(psnrs_a, np.log(rates_a), psnrs_b, np.log(rates_b), method, "PSNR")
    return 100.0 * math.expm1(delta)


def bd_psnr(rates_a: Sequence[float], psnrs_a: Sequence[float], rates_b: Sequence[float],
            psnrs_b: Sequence[float], method: str = "pchip") -> float:
    """Bjøntegaard delta PSNR: average PSNR difference of curve B against curve A at equal
    rate, in dB (positive: B has the higher quality). Same arguments as :func:`bd_rate`."""
    rates_a, psnrs_a = _rd_curve(rates_a, psnrs_a, "A", method)
    rates_b, psnrs_b = _rd_curve(rates_b, psnrs_b, "B", method)
    _check_overlap(rates_a, rates_b, "rate")
    return _mean_difference(np.log(rates_a), psnrs_a, np.log(rates_b), psnrs_b, method, "rate")


def _image_pair(reference: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    reference, test = as_array(reference), as_array(test)
    if reference.shape != test.shape:
        raise ImageError(f"reference and test images differ in shape: {reference.shape} "
                         f"vs {test.shape}")
    return reference, test


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}×{image.shape[0]}"


def _psnr_from_mse(mse: float, peak: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(peak * peak / mse)


def _channels_last(image: np.ndarray) -> np.ndarray:
    pixels = image.astype(np.float64)
    return pixels[:, :, np.newaxis] if pixels.ndim == 2 else pixels


def _gaussian_window() -> np.ndarray:
    offsets = np.arange(_WINDOW_SIZE) - _WINDOW_SIZE // 2
    window = np.exp(-(offsets ** 2) / (2 * _WINDOW_SIGMA ** 2))
    return window / window.sum()


_WINDOW = _gaussian_window()


def _valid_blur(stack: np.ndarray) -> np.ndarray:
    """Gaussian-filter axes 1 and 2 of ``stack``, keeping only outputs whose window lies
    inside the image (MATLAB/pytorch 'valid')."""
    from scipy.ndimage import correlate1d         # scipy costs ~0.4 s to import: only when needed

    radius = _WINDOW_SIZE // 2
    # The border mode only affects outputs cropped away below.
    stack = correlate1d(stack, _WINDOW, axis=1, mode="constant")[:, radius:-radius]
    return correlate1d(stack, _WINDOW, axis=2, mode="constant")[:, :, radius:-radius]


def _ssim_and_cs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and mean contrast-structure term of two H×W×C float images."""
    mu_x, mu_y, xx, yy, xy = _valid_blur(np.stack([x, y, x * x, y * y, x * y]))
    mu_xx, mu_yy, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
    cs_map = (2 * (xy - mu_xy) + _C2) / ((xx - mu_xx) + (yy - mu_yy) + _C2)
    ssim_map = (2 * mu_xy + _C1) / (mu_xx + mu_yy + _C1) * cs_map
    return ssim_map.mean(axis=(0, 1)), cs_map.mean(axis=(0, 1))


def _halve(image: np.ndarray) -> np.ndarray:
    """2×2 average pooling as pytorch-msssim does it."""
    # pytorch-msssim pads an odd side with one zero in front and still divides by 4, so the
    # first row/column of the result is half dark. Reproduced so the scores agree with it.
    padding = [(side % 2, 0) for side in image.shape[:2]] + [(0, 0)]
    image = np.pad(image, padding)
    return (image[0::2, 0::2] + image[1::2, 0::2] + image[0::2, 1::2] + image[1::2, 1::2]) / 4


def _rd_curve(rates: Sequence[float], psnrs: Sequence[float], name: str,
              method: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one rate-distortion curve; return it as float arrays."""
    if method not in _BD_METHODS:
        raise ParameterError(f"unknown BD method {method!r}; use one of "
                             f"{', '.join(sorted(_BD_METHODS))}")
    rates = np.asarray(rates, dtype=np.float64)
    psnrs = np.asarray(psnrs, dtype=np.float64)
    if rates.ndim != 1 or psnrs.ndim != 1 or len(rates) != len(psnrs):
        raise ParameterError(f"curve {name}: rates and PSNRs must be 1-D sequences of the same "
                             f"length, got shapes {rates.shape} and {psnrs.shape}")
    if len(rates) < _BD_METHODS[method]:
        raise ParameterError(f"curve {name}: method {method!r} needs at least "
                             f"{_BD_METHODS[method]} points, got {len(rates)}")
    if not (np.all(np.isfinite(rates)) and np.all(np.isfinite(psnrs))):
        raise ParameterError(f"curve {name}: rates and PSNRs must be finite")
    if np.any(rates <= 0):
        raise ParameterError(f"curve {name}: rates must be positive, got {rates.tolist()}")
    return rates, psnrs


def _check_overlap(values_a: np.ndarray, values_b: np.ndarray, name: str) -> None:
    if not min(values_a.max(), values_b.max()) > max(values_a.min(), values_b.min()):
        raise ParameterError(
            f"the curves do not overlap in {name}: A covers [{values_a.min():.6g}, "
            f"{values_a.max():.6g}], B covers [{values_b.min():.6g}, {values_b.max():.6g}]")


def _mean_difference(x_a: np.ndarray, y_a: np.ndarray, x_b: np.ndarray, y_b: np.ndarray,
                     method: str, x_name: str) -> float:
    """Mean of y_b(x) - y_a(x) over the x interval both curves cover (checked non-empty)."""
    low = max(x_a.min(), x_b.min())
    high = min(x_a.max(), x_b.max())
    integral_a = _integrate(x_a, y_a, low, high, method, "A", x_name)
    integral_b = _integrate(x_b, y_b, low, high, method, "B", x_name)
    return float((integral_b - integral_a) / (high - low))


def _integrate(x: np.ndarray, y: np.ndarray, low: float, high: float, method: str,
               name: str, x_name: str) -> float:
    order = np.argsort(x)
    x, y = x[order], y[order]
    if np.any(np.diff(x) == 0):
        raise ParameterError(f"curve {name}: two points have the same {x_name}")
    if method == "cubic":
        # Polynomial.fit maps x onto [-1, 1] first: on raw PSNRs (~30-45) the cubic's
        # Vandermonde matrix has a condition number around 1e5, on [-1, 1] around 10.
        antiderivative = np.polynomial.Polynomial.fit(x, y, 3).integ()
        return float(antiderivative(high) - antiderivative(low))
    from scipy.interpolate import PchipInterpolator

    return float(PchipInterpolator(x, y).integrate(low, high))
