"""The CDF 9/7 wavelet (JPEG 2000's irreversible transform) by lifting, in torch.

Any length works (odd ones too, and 1, which passes through), with whole-sample
symmetric extension at both ends, so synthesis inverts analysis exactly (up to float
rounding). Everything is differentiable: the overfit codec trains its latents through
the synthesis.

2-D: analysis splits the columns (last axis) into low and high halves, then the rows of
each; a level yields the low band LL (⌈h/2⌉ × ⌈w/2⌉) and three detail bands: HL
(⌈h/2⌉ × ⌊w/2⌋, horizontal detail), LH (⌊h/2⌋ × ⌈w/2⌉) and HH (⌊h/2⌋ × ⌊w/2⌋).
"""

from __future__ import annotations

import torch

ALPHA = -1.586134342059924
BETA = -0.052980118572961
GAMMA = 0.882911075530934
DELTA = 0.443506852043971
ZETA = 1.149604398860241


def _next_sum(s: torch.Tensor, n: int) -> torch.Tensor:
    """s[i] + s[i+1] for i < n; past the end s mirrors (s[n] = s[n−1] for even lengths)."""
    right = s[..., 1:n + 1]
    if right.shape[-1] < n:
        right = torch.cat([right, s[..., n - 1:n]], -1)
    return s[..., :n] + right


def _previous_sum(d: torch.Tensor, m: int) -> torch.Tensor:
    """d[i−1] + d[i] for i < m; d[−1] mirrors to d[0], and for odd lengths d[n] to d[n−1]."""
    total = torch.cat([d[..., :1], d[..., :-1]], -1) + d
    if m > d.shape[-1]:
        total = torch.cat([total, 2 * d[..., -1:]], -1)
    return total


def analyze(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Along the last axis: (low ⌈N/2⌉, high ⌊N/2⌋)."""
    if x.shape[-1] < 2:
        return x, x[..., :0]
    s, d = x[..., 0::2], x[..., 1::2]
    n, m = d.shape[-1], s.shape[-1]
    d = d + ALPHA * _next_sum(s, n)
    s = s + BETA * _previous_sum(d, m)
    d = d + GAMMA * _next_sum(s, n)
    s = s + DELTA * _previous_sum(d, m)
    return s * ZETA, d / ZETA


def synthesize(s: torch.Tensor, d: torch.Tensor | None, length: int) -> torch.Tensor:
    """Inverse of analyze along the last axis, to ``length`` samples; d=None: zeros."""
    n, m = length // 2, s.shape[-1]
    if n == 0:
        return s
    s = s / ZETA
    d = s.new_zeros(*s.shape[:-1], n) if d is None else d * ZETA
    s = s - DELTA * _previous_sum(d, m)
    d = d - GAMMA * _next_sum(s, n)
    s = s - BETA * _previous_sum(d, m)
    d = d - ALPHA * _next_sum(s, n)
    x = torch.stack([s[..., :n], d], -1).flatten(-2)
    return torch.cat([x, s[..., n:]], -1) if m > n else x


def analyze2(x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """One 2-D level: (LL, (HL, LH, HH))."""
    low, high = analyze(x)
    ll, lh = (t.transpose(-1, -2) for t in analyze(low.transpose(-1, -2)))
    hl, hh = (t.transpose(-1, -2) for t in analyze(high.transpose(-1, -2)))
    return ll, (hl, lh, hh)


def synthesize2(ll: torch.Tensor | None, details: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
                size: tuple[int, int]) -> torch.Tensor:
    """Inverse of analyze2 to ``size`` = (h, w); ll=None or details=None: zeros."""
    height, width = size
    if details is None:
        low = synthesize(ll.transpose(-1, -2), None, height).transpose(-1, -2)
        return synthesize(low, None, width)
    hl, lh, hh = details
    if ll is None:
        ll = lh.new_zeros(*lh.shape[:-2], (height + 1) // 2, lh.shape[-1])
    low = synthesize(ll.transpose(-1, -2), lh.transpose(-1, -2), height).transpose(-1, -2)
    high = synthesize(hl.transpose(-1, -2), hh.transpose(-1, -2), height).transpose(-1, -2)
    return synthesize(low, high, width)


def band_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    """Size of the low band after each level: [(⌈h/2⌉, ⌈w/2⌉), …]."""
    sizes = []
    for _ in range(levels):
        height, width = (height + 1) // 2, (width + 1) // 2
        sizes.append((height, width))
    return sizes
