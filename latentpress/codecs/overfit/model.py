"""The overfit codec's networks: latent grids, learned upsampling, synthesis, ARM.

    grids ŷ_0 … ŷ_{L−1}  (1 channel each, resolution 1, 1/2, …, 1/2^(L−1))
      │ each upsampled to full resolution by a learned ×2 transposed convolution
      │ (one 4×4 kernel shared by all steps, initialized to bilinear), applied i times
      ▼
    L channels ─1×1─ReLU─1×1─ReLU─3×3─▶ RGB (or grey) in [0, 1]

The ARM (arm.py) gives every latent a discretized Laplace; the rate is the sum of
−log2 of those probabilities. Training follows Cool-chic / C3: additive uniform noise
on the latents first, then rounding with a straight-through gradient.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.entropy import tables
from latentpress.nn.likelihood import laplace_interval_probability

LOG_SCALE_MIN = math.log(tables.SCALE_MIN)
LOG_SCALE_MAX = math.log(float(tables.scales()[-1]))


def grid_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append((-(-h // 2), -(-w // 2)))
    return sizes


def _context_kernel() -> torch.Tensor:
    kernel = torch.zeros(len(arm_module.CONTEXT), 1, 5, 5)
    for index, (dr, dc) in enumerate(arm_module.CONTEXT):
        kernel[index, 0, dr + 2, dc + 2] = 1.0
    return kernel


class Upsampler(nn.Module):
    """×2 learned upsampling (shared 4×4 transposed-convolution kernel, bilinear init)."""

    def __init__(self) -> None:
        super().__init__()
        taps = torch.tensor([0.25, 0.75, 0.75, 0.25])
        self.kernel = nn.Parameter(torch.outer(taps, taps).view(1, 1, 4, 4))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        height, width = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1), mode="replicate")
        up = F.conv_transpose2d(padded, self.kernel, stride=2, padding=1)
        return up[..., 2:2 + 2 * height, 2:2 + 2 * width][..., :size[0], :size[1]]


class Synthesis(nn.Module):
    def __init__(self, arch: Architecture, channels: int) -> None:
        super().__init__()
        widths = (arch.levels,) + arch.synthesis
        self.pointwise = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(widths, widths[1:]))
        self.out = nn.Conv2d(widths[-1], channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.pointwise:
            x = torch.relu(layer(x))
        return self.out(F.pad(x, (1, 1, 1, 1), mode="replicate")) + 0.5


class OverfitModel(nn.Module):
    def __init__(self, arch: Architecture, height: int, width: int, channels: int) -> None:
        super().__init__()
        self.arch = arch
        self.sizes = grid_sizes(height, width, arch.levels)
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(1, 1, h, w)) for h, w in self.sizes)
        self.upsampler = Upsampler()
        self.synthesis = Synthesis(arch, channels)
        self.arm = arm_module.ARM(arch.arm_hidden, arch.arm_layers)
        self.register_buffer("context_kernel", _context_kernel(), persistent=False)

    def decode(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Quantized (or noisy) grids → image in [0, 1] (not clamped)."""
        features = []
        for level, grid in enumerate(grids):
            for target in range(level - 1, -1, -1):
                grid = self.upsampler(grid, self.sizes[target])
            features.append(grid)
        return self.synthesis(torch.cat(features, dim=1))

    def rate_bits(self, grids: list[torch.Tensor]) -> torch.Tensor:
        contexts, values = [], []
        for grid in grids:
            context = F.conv2d(grid, self.context_kernel, padding=2)
            contexts.append(context.flatten(2).squeeze(0).T)
            values.append(grid.flatten())
        mean, log_scale = self.arm(torch.cat(contexts))
        scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
        return -torch.log2(laplace_interval_probability(torch.cat(values) - mean, scale)).sum()

    def quantized_grids(self, mode: str) -> list[torch.Tensor]:
        if mode == "noise":
            return [y + torch.rand_like(y) - 0.5 for y in self.latents]
        if mode == "ste":
            return [y + (torch.round(y) - y).detach() for y in self.latents]
        return [torch.round(y) for y in self.latents]
