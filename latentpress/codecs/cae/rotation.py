"""The PCA rotation of report 003 (Cheng et al., "Deep Convolutional AutoEncoder-based
Lossy Image Compression", PCS 2018, §II-B): the feature maps of a component rotated
onto the eigenvectors of their second-moment matrix, which compacts their energy into
the first maps. The rotation Û is stored at a precision chosen per image.
"""

from __future__ import annotations

import math

import numpy as np

from latentpress.entropy.integer_tensors import encode_tensors
from latentpress.errors import CorruptPayloadError, ParameterError
from latentpress.nn.precision import search_precision

U_BITS = (4, 5, 6, 7, 8, 9, 10)                # precisions tried for Û (integers at 2**−bits)
MAX_CONDITION = 1.1


def principal_axes(maps: np.ndarray) -> np.ndarray:
    """U of eq. (2)-(3): eigenvectors of the n6×n6 second-moment matrix of the maps, as
    columns sorted by decreasing eigenvalue, each signed so its largest entry is positive."""
    data = maps.reshape(maps.shape[0], -1).astype(np.float64)
    moments = data @ data.T / max(1, data.shape[1])
    values, vectors = np.linalg.eigh(moments)
    vectors = vectors[:, np.argsort(values)[::-1]]
    signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
    return vectors * np.where(signs == 0, 1.0, signs)


def unrotate(u: np.ndarray, rotated: np.ndarray) -> np.ndarray:
    """Eq. (6) with the stored Û: Y = Û⁻ᵀ·Y′ (exact inverse of the encoder's Y′ = Ûᵀ·Y)."""
    flat = rotated.reshape(rotated.shape[0], -1)
    try:
        return np.linalg.solve(u.T, flat).reshape(rotated.shape)
    except np.linalg.LinAlgError:
        raise CorruptPayloadError("PCAU: the rotation matrix is singular") from None


def water_filling_distortion(variances: np.ndarray, count: int, budget_bits: float) -> float:
    """Gaussian reverse water-filling: the distortion of coding maps of these variances
    (``count`` values each) in ``budget_bits`` — the proxy that picks U's precision."""
    variances = np.maximum(variances, 1e-12)
    if budget_bits <= 0:
        return float(variances.sum() * count)
    low, high = 1e-12, float(variances.max())
    for _ in range(60):
        level = math.sqrt(low * high)
        bits = 0.5 * count * np.maximum(0.0, np.log2(variances / level)).sum()
        low, high = (level, high) if bits > budget_bits else (low, level)
    return float(np.minimum(variances, high).sum() * count)


def rotation_bytes(integers: list[np.ndarray]) -> bytes:
    return encode_tensors([column for u in integers for column in u.T])


def choose_rotation(maps: list[np.ndarray], budget_bytes: float) -> tuple[int, list[np.ndarray]]:
    """The U precision whose side information plus coding loss costs least."""
    axes = [principal_axes(m) for m in maps]
    count = maps[0][0].size

    def distortion(bits: int, integers: list[np.ndarray]):
        if max(np.linalg.cond(u / (1 << bits)) for u in integers) > MAX_CONDITION:
            return None
        side = len(rotation_bytes(integers))
        variances = np.concatenate([
            np.mean(((u / (1 << bits)).T @ m.reshape(m.shape[0], -1).astype(np.float64)) ** 2, axis=1)
            for u, m in zip(integers, maps)])
        return water_filling_distortion(variances, count, 8 * (budget_bytes - side)), None

    choice = search_precision(axes, U_BITS, distortion)
    if choice is None:               # never seen: at 10 bits Û is orthonormal within 1e-3
        raise ParameterError("cae: no precision gives a well-conditioned PCA rotation")
    return choice.precision, choice.integers


def rotate(integers: list[np.ndarray], bits: int, maps: list[np.ndarray]) -> list[np.ndarray]:
    return [((u / (1 << bits)).T @ m.reshape(m.shape[0], -1).astype(np.float64)).reshape(m.shape)
            for u, m in zip(integers, maps)]
