"""The overfit codec's post-filter (payload versions 5 and later): a per-image linear filter,
fitted by least squares to the one image, applied to the decoded 8-bit image.

For output channel c and pixel p::

    r = b_c + Σ_{c'} Σ_o K[c, c', o] · (x_{c'}(p + o) − 128)
    y_c(p) = clip(x_c(p) + ⌊(r + 2**(s−1)) / 2**s⌋, 0, 255)

with integer kernels K and biases b at precision 2**−s, a square support of 3, 5 or 7,
only the output's own channel or every channel, and replicated borders. The FILT
section holds it all: three bytes (support, 0 own or 1 cross-channel, s), then the
integers (latentpress.entropy.integer_tensors: centre weights, pair weights, biases).
No FILT section: no filter. Kernels are point-symmetric (K[o] = K[−o]), so
the file stores, per output channel and input channel, one centre weight v and one
weight w per pair of opposite taps, and the filter reads as
v·(x − 128) + Σ w·(x(p + o) + x(p − o) − 2·x(p)): a correction of the decoded value
(the pair terms have no DC response). The encoder picks the support, the channels and
the precision s that minimize MSE + λ·bpp, or no filter.

Exact everywhere: every kernel's weights satisfy 128·Σ|K| + |b| ≤ 2**23 (checked on
decoding), so every partial sum of the convolution, in any order, is an integer below
2**24, which float32 holds exactly; the decoder's output is the same on every machine
and thread count.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

from latentpress import container
from latentpress.entropy.integer_tensors import decode_tensors, encode_tensors
from latentpress.errors import CorruptPayloadError

SIZES = (3, 5, 7)
PRECISIONS = (6, 7, 8, 9, 10, 11)   # s: weights are integers at 2**−s
MAX_SUM = 1 << 23              # bound of 128·Σ|K| + |b| per output channel
_CENTRE = 128
_ROWS_PER_CHUNK = 64           # of the image, while the encoder accumulates its normal equations
SECTION_BYTES = container.SECTION_FRAMING_BYTES


def pairs(size: int) -> list[tuple[int, int]]:
    """One offset of each pair of opposite taps of a size × size support."""
    radius = size // 2
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1) if (dy, dx) > (0, 0)]


def tensor_shapes(size: int, cross: bool, colours: int) -> list[tuple[int, ...]]:
    """(centre weights, pair weights, biases) as stored in FILT."""
    inputs = colours if cross else 1
    return [(colours, inputs), (colours, inputs, len(pairs(size))), (colours,)]


def macs_per_pixel(size: int, cross: bool, colours: int) -> int:
    return size * size * colours * (colours if cross else 1)


def kernel(tensors: list[np.ndarray], size: int, cross: bool, colours: int) -> tuple[np.ndarray, np.ndarray]:
    """The stored integers → (full kernels (colours, colours, size, size), biases),
    int64; CorruptPayloadError when a kernel breaks the exactness bound."""
    centre, weights, bias = (np.asarray(t, np.int64) for t in tensors)
    radius = size // 2
    full = np.zeros((colours, colours, size, size), np.int64)
    for c in range(colours):
        for index, source in enumerate(range(colours) if cross else (c,)):
            full[c, source, radius, radius] += centre[c, index]
            for (dy, dx), w in zip(pairs(size), weights[c, index]):
                full[c, source, radius + dy, radius + dx] += w
                full[c, source, radius - dy, radius - dx] += w
                full[c, source, radius, radius] -= 2 * w
    if np.any(_CENTRE * np.abs(full).sum(axis=(1, 2, 3)) + np.abs(bias) > MAX_SUM):
        raise CorruptPayloadError("post-filter weights out of range")
    return full, bias


def apply(image: np.ndarray, full: np.ndarray, bias: np.ndarray, precision: int) -> np.ndarray:
    """Filter an 8-bit image (H×W or H×W×3) with integer kernels at 2**−precision."""
    colours = full.shape[0]
    radius = full.shape[-1] // 2
    pixels = image.reshape(*image.shape[:2], colours)
    x = torch.from_numpy(pixels.astype(np.float32) - _CENTRE).permute(2, 0, 1)[None]
    with torch.inference_mode():
        padded = F.pad(x, (radius,) * 4, mode="replicate") if min(image.shape[:2]) > 0 else x
        r = F.conv2d(padded, torch.from_numpy(full.astype(np.float32)))
        r += torch.from_numpy((bias + (1 << (precision - 1))).astype(np.float32)).view(1, -1, 1, 1)
        r.mul_(1.0 / (1 << precision)).floor_()
        out = (r + x + _CENTRE).clamp_(0, 255)[0].permute(1, 2, 0).numpy().astype(np.uint8)
    return out.reshape(image.shape)


def _features(padded: np.ndarray, rows: slice, height: int, width: int, radius: int) -> np.ndarray:
    """Design-matrix rows of image rows ``rows``: per channel its centred value and the
    pair sums of the largest support, then a constant. Built column by column into one
    array (a transposed view is returned): stacking separate columns cost more than the
    products that use them."""
    top = rows.start
    count = rows.stop - rows.start
    support = pairs(2 * radius + 1)
    out = np.empty((padded.shape[2] * (1 + len(support)) + 1, count, width))
    index = 0
    for c in range(padded.shape[2]):
        centre = padded[radius + top:radius + top + count, radius:radius + width, c]
        np.subtract(centre, _CENTRE, out=out[index])
        index += 1
        for dy, dx in support:
            plus = padded[radius + top + dy:radius + top + dy + count, radius + dx:radius + dx + width, c]
            minus = padded[radius + top - dy:radius + top - dy + count, radius - dx:radius - dx + width, c]
            column = out[index]
            np.add(plus, minus, out=column)
            column -= 2 * centre
            index += 1
    out[index] = 1.0
    return out.reshape(out.shape[0], -1).T


def _normal_equations(decoded: np.ndarray, original: np.ndarray):
    """(AᵀA, AᵀE, per-channel ΣE²) of the largest support, E = original − decoded,
    accumulated a band of rows at a time (bounded memory at any image size)."""
    height, width, colours = decoded.shape
    radius = max(SIZES) // 2
    padded = np.pad(decoded.astype(np.float64), ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    error = original.astype(np.float64) - decoded
    n = colours * (1 + len(pairs(max(SIZES)))) + 1
    gram, cross, energy = np.zeros((n, n)), np.zeros((n, colours)), np.zeros(colours)
    for top in range(0, height, _ROWS_PER_CHUNK):
        rows = slice(top, min(height, top + _ROWS_PER_CHUNK))
        a = _features(padded, rows, height, width, radius)
        e = error[rows].reshape(-1, colours)
        gram += a.T @ a
        cross += a.T @ e
        energy += (e * e).sum(axis=0)
    return gram, cross, energy


def _columns(size: int, sources: list[int]) -> list[int]:
    """Columns of the design matrix for a support and input channels (bias last)."""
    per_channel = 1 + len(pairs(max(SIZES)))
    kept = [0] + [1 + i for i, (dy, dx) in enumerate(pairs(max(SIZES))) if max(abs(dy), abs(dx)) <= size // 2]
    return [s * per_channel + k for s in sources for k in kept]


def design(decoded: np.ndarray, original: np.ndarray, lmbda: float):
    """The post-filter that minimizes MSE + λ·bpp for this image, by the normal
    equations' prediction of its squared error: (FILT bytes, filtered image) of the
    best candidate, or None where no filter predicts a gain. The caller compares the
    real filtered image with the unfiltered one."""
    shape = decoded.shape
    decoded = decoded.reshape(*shape[:2], -1)
    original = original.reshape(decoded.shape)
    height, width, colours = decoded.shape
    count = height * width * colours
    if height * width == 0:
        return None
    gram, cross_terms, energy = _normal_equations(decoded, original)
    scale = 255.0 ** 2 * count
    bias_column = gram.shape[0] - 1
    best = None
    for cross in (False, True) if colours > 1 else (False,):
        for size in SIZES:
            solutions = []
            for c in range(colours):
                cols = _columns(size, list(range(colours)) if cross else [c]) + [bias_column]
                g = gram[np.ix_(cols, cols)]
                solution = np.linalg.lstsq(g + 1e-9 * np.trace(g) * np.eye(len(cols)), cross_terms[cols, c],
                                           rcond=None)[0]
                solutions.append((cols, solution))
            for precision in PRECISIONS:
                sse, tensors = 0.0, [[], [], []]
                for c, (cols, solution) in enumerate(solutions):
                    q = np.rint(solution * (1 << precision))
                    w = q / (1 << precision)
                    g = gram[np.ix_(cols, cols)]
                    sse += energy[c] - 2 * w @ cross_terms[cols, c] + w @ g @ w
                    per_source = len(_columns(size, [0]))
                    blocks = q[:-1].reshape(-1, per_source).astype(np.int64)
                    tensors[0].append(blocks[:, 0])
                    tensors[1].append(blocks[:, 1:])
                    tensors[2].append(int(q[-1]))
                tensors = [np.stack(tensors[0]), np.stack(tensors[1]), np.array(tensors[2], np.int64)]
                try:
                    full, bias = kernel(tensors, size, cross, colours)
                except CorruptPayloadError:
                    continue
                data = bytes([size, int(cross), precision]) + encode_tensors(tensors)
                cost = (sse - energy.sum()) / scale + lmbda * 8 * (SECTION_BYTES + len(data)) / (height * width)
                if best is None or cost < best[0]:
                    best = (cost, data, full, bias, precision)
    if best is None or best[0] >= 0:
        return None
    _, data, full, bias, precision = best
    return data, apply(decoded.reshape(shape), full, bias, precision)


def decode_filter(data: bytes, colours: int) -> tuple[np.ndarray, np.ndarray, int]:
    """A FILT section → (kernels, biases, precision)."""
    if len(data) < 3:
        raise CorruptPayloadError("FILT: truncated post-filter")
    size, cross, precision = data[:3]
    if size not in SIZES or cross not in (0, 1) or (cross and colours == 1) or precision not in PRECISIONS:
        raise CorruptPayloadError(f"FILT: invalid post-filter (support {size}, cross-channel {cross}, "
                                  f"precision {precision})")
    tensors = decode_tensors(data[3:], tensor_shapes(size, bool(cross), colours), "FILT")
    full, bias = kernel(tensors, size, bool(cross), colours)
    return full, bias, precision
