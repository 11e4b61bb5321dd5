"""Report 004's dense autoencoder (§1.1, Illustration 1): 784-128-64-128-784, a sigmoid
after every layer, trained with RMSprop on the RMSE of the reconstruction
(latentpress/train/dense.py).

Report 004: Huseyin Can Ercan, "Image Compression with Autoencoders" (2018). The middle
layer (``code``, 64 values in (0, 1) in the report; 50, 36 or 22 in its Table 2) is the
compressed form of a digit. Pixels are scaled to [0, 1].

The code's integer form (:func:`quantize`) and its frequency tables (:func:`fit_priors`,
fitted at training time and shipped with the weights) are here, so that the trainer and
the codec share them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from latentpress.entropy.factorized import FactorizedPrior

SIDE = 28
PIXELS = SIDE * SIDE
HIDDEN = 128
CODE = 64
WIDTHS = (64, 50, 36, 22)          # Table 2
MAX_BITS = 8                       # bits per code value, at most
PRIOR_PRECISION = 14


class DenseAutoencoder(nn.Module):
    def __init__(self, code: int = CODE, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.code = code
        self.encoder = nn.Sequential(nn.Linear(PIXELS, hidden), nn.Sigmoid(), nn.Linear(hidden, code), nn.Sigmoid())
        self.decoder = nn.Sequential(nn.Linear(code, hidden), nn.Sigmoid(), nn.Linear(hidden, PIXELS), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×784 in [0, 1] → the reconstruction."""
        return self.decoder(self.encoder(x))


def weight_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def quantize(code: torch.Tensor, bits: int) -> np.ndarray:
    """Code values in [0, 1] → integers 0 … 2^bits − 1."""
    return torch.round(code.clamp(0, 1) * ((1 << bits) - 1)).numpy().astype(np.int64)


def fit_priors(codes: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-dimension frequency tables of training codes (N×CODE in [0, 1]) at every bit
    depth, as uint8 tensors ``prior.bitsB`` (FactorizedPrior bytes) for the weights file."""
    out = {}
    for bits in range(1, MAX_BITS + 1):
        symbols = quantize(codes, bits).T                     # CODE × N
        prior = FactorizedPrior.fit(symbols, PRIOR_PRECISION)
        out[f"prior.bits{bits}"] = torch.frombuffer(bytearray(prior.to_bytes()), dtype=torch.uint8)
    return out
