"""The overfit codec's networks: latent grids, learned upsampling, synthesis, ARM.

    grids ŷ_0 … ŷ_{L−1}  (resolution 1, 1/2, …, 1/2^(L−1); level 0 has one channel,
      │                   the others one per colour channel: 3 for RGB, 1 for grey)
      │ each divided by its gain  g·r^k  and upsampled to full resolution by a
      │ learned ×2 transposed convolution (one 8×8 kernel shared by all steps and
      │ channels, initialized to bicubic), applied k times
      ▼
    channels ─1×1─ReLU─1×1─ReLU─3×3─▶ RGB (or grey) in [0, 1]

The ARM (arm.py) gives every latent a discretized Laplace; the rate is the sum of
−log2 of those probabilities.

Warm start. Training from zero latents needs thousands of iterations; this codec
starts instead from a closed-loop Laplacian pyramid of the image in YCbCr (BT.601,
centred: Y − ½, Cb, Cr): level L−1 holds the coarsest image, each finer level the
residual between the image at that scale and the upsampled reconstruction of the
coarser ones, every level rounded after multiplication by its gain g·r^k (finer steps
at coarser levels; g = 2^(n/4), n ∈ 0…32, and r ∈ {1.5, 2, 2.5} chosen per image). Level 0 carries luma only (chroma detail at
full resolution is left to the synthesis). The synthesis starts as the exact inverse:
its first units sum the levels of each YCbCr channel (as ReLU pairs +s, −s), the next
layer passes them on, the 3×3 layer's centre tap maps YCbCr to RGB. So the first
iteration already decodes the pyramid's image, and training (MSE + λ·bpp, rounding
with straight-through gradients) improves latents, synthesis and ARM from there.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.entropy import tables
from latentpress.nn.likelihood import laplace_interval_probability

LOG_SCALE_MIN = math.log(tables.SCALE_MIN)
LOG_SCALE_MAX = math.log(float(tables.scales()[-1]))
# Gain of level k is 2**(gain_exp/4) · (ratio/2)**k.
GAIN_EXPONENTS = range(0, 33)
RATIOS = (3, 4, 5)
# YCbCr (BT.601, centred) → RGB; the synthesis' output layer starts as this map.
YCBCR_TO_RGB = torch.tensor([[1.0, 0.0, 1.402], [1.0, -0.344136, -0.714136], [1.0, 1.772, 0.0]])


def grid_sizes(height: int, width: int, levels: int) -> list[tuple[int, int]]:
    sizes = [(height, width)]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append((-(-h // 2), -(-w // 2)))
    return sizes


def level_gains(gain_exp: int, ratio: int, levels: int) -> list[float]:
    return [2.0 ** (gain_exp / 4) * (ratio / 2) ** k for k in range(levels)]


def _context_kernel() -> torch.Tensor:
    kernel = torch.zeros(len(arm_module.CONTEXT), 1, 5, 5)
    for index, (dr, dc) in enumerate(arm_module.CONTEXT):
        kernel[index, 0, dr + 2, dc + 2] = 1.0
    return kernel


def _cubic_taps(a: float = -0.5) -> torch.Tensor:
    """The 8 taps of ×2 cubic-convolution interpolation (Keys, a = −0.5) as a
    transposed-convolution kernel: distances 1.75, 1.25, 0.75, 0.25, mirrored."""
    def weight(d: float) -> float:
        return (a + 2) * d ** 3 - (a + 3) * d ** 2 + 1 if d <= 1 else a * d ** 3 - 5 * a * d ** 2 + 8 * a * d - 4 * a
    half = [weight(d) for d in (1.75, 1.25, 0.75, 0.25)]
    return torch.tensor(half + half[::-1])


class Upsampler(nn.Module):
    """×2 learned upsampling of every channel of (1, C, h, w) independently: one 8×8
    transposed-convolution kernel shared by all levels and channels, initialized to
    bicubic interpolation (a better predictor of each finer level than bilinear, so the
    warm-start pyramid's residuals cost fewer bits)."""

    def __init__(self) -> None:
        super().__init__()
        taps = _cubic_taps()
        self.kernel = nn.Parameter(torch.outer(taps, taps).view(1, 1, 8, 8))

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        x = x.transpose(0, 1)                        # channels as a batch
        height, width = x.shape[-2:]
        up = F.conv_transpose2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), self.kernel, stride=2)
        return up[..., 7:7 + 2 * height, 7:7 + 2 * width][..., :size[0], :size[1]].transpose(0, 1)


class Synthesis(nn.Module):
    def __init__(self, arch: Architecture, inputs: int, channels: int) -> None:
        super().__init__()
        widths = (inputs,) + arch.synthesis
        self.pointwise = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(widths, widths[1:]))
        self.out = nn.Conv2d(widths[-1], channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.pointwise:
            x = torch.relu(layer(x))
        return self.out(F.pad(x, (1, 1, 1, 1), mode="replicate")) + 0.5


class OverfitModel(nn.Module):
    def __init__(self, arch: Architecture, height: int, width: int, channels: int, gain_exp: int = 16,
                 ratio: int = 3) -> None:
        super().__init__()
        self.arch = arch
        self.sizes = grid_sizes(height, width, arch.levels)
        self.channels = arch.grid_channels(channels)
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(1, c, h, w))
                                        for c, (h, w) in zip(self.channels, self.sizes))
        self.upsampler = Upsampler()
        self.synthesis = Synthesis(arch, sum(self.channels), channels)
        self.arm = arm_module.ARM(arch.arm_hidden, arch.arm_layers)
        self.register_buffer("context_kernel", _context_kernel(), persistent=False)
        self.set_gain(gain_exp, ratio)

    def set_gain(self, gain_exp: int, ratio: int) -> None:
        self.gain_exp, self.ratio = gain_exp, ratio
        self.gains = level_gains(gain_exp, ratio, self.arch.levels)

    def decode(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Quantized grids → image in [0, 1] (not clamped). Coarse to fine: the
        features gathered so far are upsampled once per level, all channels at once."""
        features = None
        for level in range(len(grids) - 1, -1, -1):
            grid = grids[level] * (1.0 / self.gains[level])
            features = grid if features is None else \
                torch.cat([grid, self.upsampler(features, self.sizes[level])], dim=1)
        return self.synthesis(features)

    def rate_bits(self, grids: list[torch.Tensor], fraction: float = 1.0) -> torch.Tensor:
        """Bits of the grids under the (float) ARM; with fraction < 1, an unbiased
        estimate from that random fraction of the latents (for fitting the ARM alone)."""
        contexts, values = [], []
        for grid in grids:
            planes = grid.transpose(0, 1)                                   # (C, 1, h, w)
            context = F.conv2d(planes, self.context_kernel, padding=2)      # (C, 12, h, w)
            contexts.append(context.permute(0, 2, 3, 1).reshape(-1, len(arm_module.CONTEXT)))
            values.append(planes.reshape(-1))
        contexts, values = torch.cat(contexts), torch.cat(values)
        if fraction < 1.0:
            keep = torch.randperm(values.numel())[:max(1, int(values.numel() * fraction))]
            contexts, values = contexts[keep], values[keep]
        mean, log_scale = self.arm(contexts)
        scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
        bits = -torch.log2(laplace_interval_probability(values - mean, scale)).sum()
        return bits / fraction if fraction < 1.0 else bits

    def quantized_grids(self, mode: str) -> list[torch.Tensor]:
        if mode == "noise":
            return [y + torch.rand_like(y) - 0.5 for y in self.latents]
        if mode == "ste":
            return [y + (torch.round(y) - y).detach() for y in self.latents]
        return [torch.round(y) for y in self.latents]

    def integer_grids(self) -> list[np.ndarray]:
        """The rounded latents as the coder sees them: one 2-D grid per level and channel."""
        limit = arm_module.MAX_LATENT
        return [np.clip(np.rint(plane.detach().numpy().astype(np.float64)), -limit, limit).astype(np.int64)
                for y in self.latents for plane in y[0]]

    def load_integer_grids(self, grids: list[np.ndarray]) -> None:
        planes = iter(grids)
        with torch.no_grad():
            for y in self.latents:
                y.copy_(torch.from_numpy(np.stack([next(planes) for _ in range(y.shape[1])]).astype(np.float32))[None])

    def grid_shapes(self) -> list[tuple[int, int]]:
        return [size for channels, size in zip(self.channels, self.sizes) for _ in range(channels)]

    # ---- warm start ----------------------------------------------------------------

    def _to_working_space(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] == 1:
            return x - 0.5
        return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(YCBCR_TO_RGB), x - 0.5)

    def _from_working_space(self, y: torch.Tensor) -> torch.Tensor:
        if y.shape[1] == 1:
            return y + 0.5
        return torch.einsum("ij,bjhw->bihw", YCBCR_TO_RGB, y) + 0.5

    @torch.no_grad()
    def scales(self, x: torch.Tensor) -> list[torch.Tensor]:
        """x in the working space at every level's resolution (2×2 means)."""
        scales = [self._to_working_space(x)]
        for _ in self.sizes[1:]:
            h, w = scales[-1].shape[-2:]
            scales.append(F.avg_pool2d(F.pad(scales[-1], (0, w % 2, 0, h % 2), mode="replicate"), 2))
        return scales

    @torch.no_grad()
    def pyramid(self, x: torch.Tensor, gain_exp: int, ratio: int,
                scales: list[torch.Tensor] | None = None) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Closed-loop Laplacian pyramid of x at the given gain: (rounded grids, the
        image they reconstruct through a linear synthesis)."""
        gains = level_gains(gain_exp, ratio, self.arch.levels)
        scales = scales or self.scales(x)
        grids: list[torch.Tensor] = [None] * len(self.sizes)
        reconstruction = None
        for level in range(len(self.sizes) - 1, -1, -1):
            prediction = 0 if reconstruction is None else self.upsampler(reconstruction, self.sizes[level])
            residual = torch.round((scales[level] - prediction) * gains[level])
            residual = residual.clamp(-arm_module.MAX_LATENT, arm_module.MAX_LATENT)
            residual[:, self.channels[level]:] = 0
            grids[level] = residual[:, :self.channels[level]]
            reconstruction = prediction + residual / gains[level]
        return grids, self._from_working_space(reconstruction)

    @torch.no_grad()
    def warm_start(self, x: torch.Tensor, lmbda: float) -> None:
        """Choose the gain that minimizes MSE + λ·(estimated bpp) of the pyramid, load the
        pyramid into the latents and set the synthesis to its inverse."""
        pixels = x.shape[-1] * x.shape[-2]
        scales = self.scales(x)
        tried = {}

        def cost(gain_exp: int, ratio: int) -> float:
            if (gain_exp, ratio) not in tried:
                grids, image = self.pyramid(x, gain_exp, ratio, scales)
                mse = torch.mean((image.clamp(0, 1) - x) ** 2).item()
                tried[gain_exp, ratio] = (mse + lmbda * _estimated_bits(grids) / pixels, grids)
            return tried[gain_exp, ratio][0]

        # Every other gain, then the neighbours of the best.
        coarse = min(((g, r) for r in RATIOS for g in GAIN_EXPONENTS[::2]), key=lambda key: cost(*key))
        gain_exp, ratio = min(((g, coarse[1]) for g in (coarse[0] - 1, coarse[0], coarse[0] + 1)
                               if g in GAIN_EXPONENTS), key=lambda key: cost(*key))
        grids = tried[gain_exp, ratio][1]
        self.set_gain(gain_exp, ratio)
        for latent, grid in zip(self.latents, grids):
            latent.copy_(grid)
        self._invert_pyramid(x.shape[1])

    @torch.no_grad()
    def _invert_pyramid(self, colours: int) -> None:
        first, *rest = self.synthesis.pointwise
        out = self.synthesis.out
        if first.out_channels < 2 * colours or any(l.out_channels < 2 * colours for l in rest):
            return                       # too narrow to hold the inverse: keep the random init
        used = 2 * colours
        # Units 2j and 2j+1 of the first layer: ReLU(±Σ_levels channel j).
        first.weight[:used] = 0
        first.bias[:used] = 0
        offset = 0
        for channels in self.channels:
            for j in range(channels):
                first.weight[2 * j, offset + j] = 1.0
                first.weight[2 * j + 1, offset + j] = -1.0
            offset += channels
        for layer in rest:                  # identity on the used units
            layer.weight[:used] = 0
            layer.weight[:, :used] = 0
            layer.bias[:used] = 0
            for unit in range(used):
                layer.weight[unit, unit] = 1.0
        matrix = YCBCR_TO_RGB if colours == 3 else torch.ones(1, 1)
        out.weight.normal_(0.0, 1e-3)
        out.weight[:, :used] = 0
        out.bias.zero_()
        for j in range(colours):
            out.weight[:, 2 * j, 1, 1] = matrix[:, j]
            out.weight[:, 2 * j + 1, 1, 1] = -matrix[:, j]


def _estimated_bits(grids: list[torch.Tensor]) -> float:
    """A cheap rate estimate for choosing the gain: each plane under its own zero-mean
    discretized Laplace, halved (the ARM, which sees neighbours, codes these pyramids
    in roughly half of that)."""
    bits = 0.0
    for grid in grids:
        for plane in grid[0]:
            values = plane.abs().flatten().double()
            scale = max(values.mean().item(), 0.05)
            upper = torch.exp(-torch.clamp(values - 0.5, min=0) / scale)
            lower = torch.exp(-(values + 0.5) / scale)
            p = torch.where(values == 0, 1 - math.exp(-0.5 / scale), 0.5 * (upper - lower))
            bits += -torch.log2(p.clamp_min(1e-9)).sum().item()
    return 0.5 * bits
