"""Seed 004's dense autoencoder (§1.1, Illustration 1): 784-128-64-128-784, a sigmoid
after every layer, trained with RMSprop on the RMSE of the reconstruction.

The middle layer (``code``, 64 values in (0, 1) in the seed; 50, 36 or 22 in its Table 2)
is the compressed form of a digit. Pixels are scaled to [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

SIDE = 28
PIXELS = SIDE * SIDE
HIDDEN = 128
CODE = 64
WIDTHS = (64, 50, 36, 22)          # Table 2


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
