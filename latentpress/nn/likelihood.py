"""Differentiable rate proxies for training: probability of a quantization bin."""

from __future__ import annotations

import torch


def laplace_interval_probability(value: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """P(value−0.5 < Y < value+0.5) for Y ~ Laplace(0, scale), bounded away from 0.

    ``value`` is the (noisy or rounded) symbol minus the predicted mean.
    """
    def cdf_signed(t: torch.Tensor) -> torch.Tensor:
        # 2·CDF(t) − 1, written with expm1 for accuracy near 0.
        return -torch.sign(t) * torch.expm1(-t.abs() / scale)

    p = 0.5 * (cdf_signed(value + 0.5) - cdf_signed(value - 0.5))
    return p.clamp_min(1e-9)
