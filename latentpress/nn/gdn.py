"""Generalized divisive normalization (Ballé, Laparra, Simoncelli 2016).

GDN is the nonlinearity of the factorized-prior and hyperprior autoencoders: it
gaussianizes local responses, which lets a small transform reach a lower rate than
ReLU stacks of the same size. ``inverse=True`` gives IGDN for the synthesis side.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GDN(nn.Module):
    """y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2) (or x * sqrt(...) when inverse)."""

    _PEDESTAL = 1e-6

    def __init__(self, channels: int, inverse: bool = False, gamma_init: float = 0.1) -> None:
        super().__init__()
        self.inverse = inverse
        # Parameters are stored as square roots so that squaring keeps them nonnegative
        # without a projection step after each optimizer update.
        self.beta_sqrt = nn.Parameter(torch.ones(channels))
        self.gamma_sqrt = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + self._PEDESTAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        beta = self.beta_sqrt.square() + 1e-6
        gamma = self.gamma_sqrt.square().view(channels, channels, 1, 1)
        norm = torch.sqrt(F.conv2d(x * x, gamma, beta))
        return x * norm if self.inverse else x / norm
