"""Quantized probability tables for discretized Laplace, Gaussian and logistic models.

Learned codecs drive the entropy coder with a mean and a scale per symbol. If the
encoder and the decoder turned those floats into a CDF independently, one ulp of
difference in ``exp`` between two machines would desynchronise the range coder. So
the parameters are *snapped* to a fixed grid (64 log-spaced scales × 17 mean offsets)
and every grid point has one integer frequency table, computed here with IEEE
+, −, ×, ÷ only (our own ``exp`` and ``erfc``; no libm, no SIMD transcendental), so
the tables are bit-identical on every machine. ``TABLES_SHA256`` pins them and a test
checks it.

Snapping makes equal floats give equal tables on every machine; it cannot make unequal
floats agree. A decoder must therefore feed the range decoder only parameters it can
reproduce exactly: integers read from the file (as the ``factorized`` codec does) or
the output of integer / fixed-point arithmetic. Float networks evaluated on both sides
are not allowed on this path, however they are snapped afterwards.

A table for (scale s, offset δ) covers the symbols c−R … c+R around the rounded mean
c, plus one escape symbol (index 2R+1) that carries the tail mass; the coder sends the
escaped value's excess separately (see :mod:`latentpress.entropy.coder`).
"""

from __future__ import annotations

import enum
import functools
import hashlib

import numpy as np

PRECISION = 24                      # frequencies sum to 2**PRECISION (constriction's range coder precision)
NUM_SCALES = 64
SCALE_MIN = 0.05
LOG_SCALE_STEP = 0.12               # ln of the ratio between neighbouring scales (s_max ≈ 97)
OFFSET_STEPS = 8                    # mean offsets δ = j/16, j = −8 … 8
NUM_OFFSETS = 2 * OFFSET_STEPS + 1
MAX_RADIUS = 1024

_LN2 = 0.6931471805599453
_INV_LN2 = 1.4426950408889634


class Family(enum.IntEnum):
    LAPLACE = 0
    GAUSSIAN = 1
    LOGISTIC = 2


# How many scales wide the explicit support reaches before the escape symbol.
_TAIL_WIDTH = {Family.LAPLACE: 12.0, Family.GAUSSIAN: 6.0, Family.LOGISTIC: 12.0}


def det_exp_neg(x: np.ndarray) -> np.ndarray:
    """exp(−x) for x ≥ 0, from IEEE basic operations only (bit-reproducible).

    Range reduction x = k·ln2 + r with r ∈ [0, ln2), a degree-16 Taylor polynomial of
    exp(−r) (error < 1e-16 relative), and an exact power-of-two scaling.
    """
    x = np.asarray(x, dtype=np.float64)
    x = np.minimum(x, 745.0)
    k = np.floor(x * _INV_LN2)
    r = x - k * _LN2
    poly = np.ones_like(r)
    for n in range(16, 0, -1):
        poly = 1.0 - r * poly / n
    return np.ldexp(poly, -k.astype(np.int64))


def det_erfc(z: np.ndarray) -> np.ndarray:
    """erfc(z) for z ≥ 0 (Chebyshev fit of Numerical Recipes' erfcc, |rel. error| < 1.2e-7).

    Accuracy only matters for compression efficiency; reproducibility is what matters
    for correctness, and this uses det_exp_neg and basic operations only.
    """
    z = np.asarray(z, dtype=np.float64)
    t = 1.0 / (1.0 + 0.5 * z)
    coefficients = (-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
                    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277)
    poly = np.zeros_like(t)
    for c in reversed(coefficients):
        poly = poly * t + c
    return t * det_exp_neg(z * z - poly)


def _upper_tail(family: Family, x: np.ndarray) -> np.ndarray:
    """P(X > x) for x ≥ 0 and unit scale."""
    if family == Family.LAPLACE:
        return 0.5 * det_exp_neg(x)
    if family == Family.GAUSSIAN:
        return 0.5 * det_erfc(x * 0.7071067811865476)
    e = det_exp_neg(x)
    return e / (1.0 + e)


def _cdf(family: Family, x: np.ndarray) -> np.ndarray:
    """Unit-scale CDF, symmetric evaluation so both tails keep full precision."""
    tail = _upper_tail(family, np.abs(x))
    return np.where(x < 0, tail, 1.0 - tail)


@functools.cache
def scales() -> np.ndarray:
    """The scale grid s_i = SCALE_MIN·exp(i·LOG_SCALE_STEP), computed reproducibly."""
    return SCALE_MIN / det_exp_neg(np.arange(NUM_SCALES) * LOG_SCALE_STEP)


@functools.cache
def scale_boundaries() -> np.ndarray:
    """Geometric midpoints between neighbouring scales, for snapping by comparison only."""
    grid = scales()
    return np.sqrt(grid[:-1] * grid[1:])


@functools.cache
def radii(family: Family) -> np.ndarray:
    """Half-width R of the explicit support of each scale's tables."""
    return np.minimum(MAX_RADIUS, np.ceil(scales() * _TAIL_WIDTH[Family(family)]).astype(np.int64) + 1)


def table_id(scale_index: np.ndarray, offset_index: np.ndarray) -> np.ndarray:
    """Flat table number of (scale index, offset index in −8…8)."""
    return scale_index * NUM_OFFSETS + (offset_index + OFFSET_STEPS)


@functools.cache
def frequency_tables(family: Family) -> tuple[np.ndarray, ...]:
    """Integer frequency tables (int64, sum 2**PRECISION, all ≥ 1), one per table id.

    Table ``t`` has 2R+2 entries: symbols −R…R relative to the rounded mean, then the
    escape symbol with the mass of both tails.
    """
    family = Family(family)
    tables = []
    total = 1 << PRECISION
    for scale, radius in zip(scales(), radii(family)):
        k = np.arange(-radius, radius + 1, dtype=np.float64)
        for j in range(-OFFSET_STEPS, OFFSET_STEPS + 1):
            offset = j / (2 * OFFSET_STEPS)
            edges = np.concatenate([k - 0.5, [radius + 0.5]])
            cdf = _cdf(family, (edges - offset) / scale)
            pmf = np.concatenate([np.diff(cdf), [cdf[0] + (1.0 - cdf[-1])]])
            free = total - pmf.size           # every symbol gets at least 1
            freq = np.floor(pmf * free).astype(np.int64) + 1
            # Rounding leaves a remainder; give it to the most probable symbol, which
            # changes its code length least.
            freq[np.argmax(freq)] += total - freq.sum()
            tables.append(freq)
    return tuple(tables)


@functools.cache
def flat_tables(family: Family) -> tuple[np.ndarray, np.ndarray]:
    """All tables of a family in one array, and each table's start: for vectorized lookups."""
    freq = frequency_tables(Family(family))
    starts = np.concatenate([[0], np.cumsum([t.size for t in freq])[:-1]])
    return np.concatenate(freq), starts


def ideal_bits(family: Family, symbols: np.ndarray, centres: np.ndarray, table_ids: np.ndarray) -> float:
    """−log2 p of symbols under snapped models, escape payloads excluded (no coding)."""
    radius = radii(family)[table_ids // NUM_OFFSETS]
    residual = np.asarray(symbols, np.int64) - centres
    index = np.where(np.abs(residual) > radius, 2 * radius + 1, residual + radius)
    flat, starts = flat_tables(family)
    return float(-np.log2(flat[starts[table_ids] + index] / float(1 << PRECISION)).sum())


def tables_digest() -> str:
    """SHA-256 over every family's tables, to pin them across machines and releases."""
    digest = hashlib.sha256()
    for family in Family:
        for table in frequency_tables(family):
            digest.update(table.astype("<i8").tobytes())
    return digest.hexdigest()


def snap(means: np.ndarray, scale_values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Snap float (mean, scale) pairs to (integer centre, table id).

    Scales outside the grid are clamped to its ends. Uses comparisons, floor and
    rint only, so equal inputs give equal outputs on every machine.
    """
    means = np.asarray(means, dtype=np.float64)
    scale_values = np.asarray(scale_values, dtype=np.float64)
    if not (np.all(np.isfinite(means)) and np.all(np.isfinite(scale_values))):
        raise ValueError("means and scales must be finite")
    centres = np.floor(means + 0.5)
    offsets = np.rint((means - centres) * (2 * OFFSET_STEPS)).astype(np.int64)
    offsets = np.clip(offsets, -OFFSET_STEPS, OFFSET_STEPS)
    scale_index = np.searchsorted(scale_boundaries(), scale_values, side="right")
    return centres.astype(np.int64), table_id(scale_index, offsets)


# ln(SCALE_MIN) written out, so the thresholds below use no libm at all.
_LOG_SCALE_MIN = -2.995732273553991


@functools.cache
def log_scale_thresholds(frac_bits: int) -> np.ndarray:
    """Fixed-point ln-scale boundaries between neighbouring scales of the table grid."""
    edges = [(_LOG_SCALE_MIN + (i + 0.5) * LOG_SCALE_STEP) * (1 << frac_bits)
             for i in range(NUM_SCALES - 1)]
    return np.floor(np.array(edges)).astype(np.int64)


def params_to_tables(mean_fixed: np.ndarray, log_scale_fixed: np.ndarray,
                     frac_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-point (mean, ln scale), as an integer network outputs them with ``frac_bits``
    fractional bits → (integer centre, table id), with integer operations only, so the
    encoder and the decoder derive the same table on any machine."""
    one = 1 << frac_bits
    centres = (mean_fixed + (one >> 1)) >> frac_bits
    remainder = mean_fixed - (centres << frac_bits)                  # in [−one/2, one/2)
    offsets = (remainder * (2 * OFFSET_STEPS) + (one >> 1)) >> frac_bits
    # np.minimum/np.maximum: np.clip's own overhead is most of its cost on one wavefront's latents.
    offsets = np.minimum(np.maximum(offsets, -OFFSET_STEPS, out=offsets), OFFSET_STEPS, out=offsets)
    scale_index = np.searchsorted(log_scale_thresholds(frac_bits), log_scale_fixed, side="right")
    return centres, table_id(scale_index, offsets)
