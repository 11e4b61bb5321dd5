"""The overfit codec's networks: latent grids, synthesis, ARM.

Wavelet architectures (``dwt…``, the presets'):

    grids: the HL, LH, HH bands of levels 1 … L of a CDF 9/7 decomposition (resolution
      │    1/2 … 1/2^L), then the low band; Y, Cb, Cr (or grey) channels each
      │ each divided by its gain, each level's bands synthesized alone (wavelet.py) and
      │ carried up to full resolution as a low band: one plane per level and colour
      ▼
    planes ─1×1─ReLU─1×1─ReLU─3×3─▶ RGB (or grey) in [0, 1]

Pyramid architectures (``lat…``: payload version 2, and images 1 pixel thin): grids ŷ_0 … ŷ_{L−1} at resolution
1, 1/2, …, 1/2^(L−1) (level 0 luma only), each divided by its gain g·r^k and upsampled
to full resolution by a learned ×2 transposed convolution (one 8×8 kernel, initialized
to bicubic) applied k times, into the same synthesis.

The ARM (arm.py) gives every latent a discretized Laplace; the rate is the sum of
−log2 of those probabilities.

Warm start. Training from zero latents needs thousands of iterations; this codec
starts instead from a classic transform of the image in YCbCr (BT.601, centred: Y − ½,
Cb, Cr), quantized at the gain that minimizes MSE + λ·(estimated rate), and a
synthesis set to the transform's exact inverse: its first units sum the levels of each
YCbCr channel (as ReLU pairs +s, −s), the next layer passes them on, the 3×3 layer's
centre tap maps YCbCr to RGB. So the first iteration already decodes the transform's
image, and training (latentpress/train/overfit.py: MSE + λ·bpp, rounding with
straight-through gradients) improves latents, synthesis and ARM from there.

- Wavelet: the CDF 9/7 decomposition (as JPEG 2000's), every band rounded with a dead
  zone after multiplication by one gain g = 2^(n/4), n ∈ 0…32 (the transform is close
  to orthonormal, so equal quantization steps suit MSE). It starts far closer to JPEG
  2000 than the pyramid (results/overfit/transforms-kodim23.json;
  docs/codecs/overfit.md).
- Pyramid: a closed-loop Laplacian pyramid: level L−1 holds the coarsest image, each
  finer level the residual between the image at that scale and the upsampled
  reconstruction of the coarser ones, every level rounded after multiplication by its
  gain g·r^k (finer quantization steps at coarser levels; r ∈ {1.5, 2, 2.5}). Level 0
  carries luma only (chroma detail at full resolution is left to the synthesis).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import wavelet
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.entropy import tables
from latentpress.nn.likelihood import laplace_interval_probability
from latentpress.nn.tiling import tiled_apply, tiled_map

LOG_SCALE_MIN = math.log(tables.SCALE_MIN)
LOG_SCALE_MAX = math.log(float(tables.scales()[-1]))
# Gain of level k is 2**(gain_exp/4) · (ratio/2)**k.
GAIN_EXPONENTS = range(0, 33)
RATIOS = (3, 4, 5)
WAVELET_RATIOS = (8,)
# Warm-start rounding of wavelet coefficients: |c|·gain below this rounds to 0 (a dead
# zone, as in JPEG 2000: cheaper zeros for the same distortion).
DEAD_ZONE = 0.6
GAIN_GUESS_AT_UNIT_LAMBDA = -6.0
# The encoder's ARM contexts (float32, about 30 per latent) are built at most this many
# latents at a time, and the ARM is fitted on at most this many (a random subset of a
# larger image's latents): about 0.5 GB at any image size. A Kodak image has 1.2 M.
MAX_CONTEXT_ROWS = 1 << 22
# Output pixels per side of a tile of the synthesis when decoding (Synthesis.tiles):
# a 64-channel activation of a tile is then at most 17 MB, whatever the image size.
SYNTHESIS_TILE = 256
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


def grid_gains(arch: Architecture, gain_exp: int, ratio: int) -> list[float]:
    """The gain of every grid. Pyramid: its level's, 2**(gain_exp/4)·(ratio/2)**k. Wavelet:
    bands of resolution 1/2**k take 2**(gain_exp/4)·(ratio/8)**(k−1) (ratio 8, the only
    one ratios() allows: one quantization step for every band)."""
    if arch.transform == "wavelet":
        return [2.0 ** (gain_exp / 4) * (ratio / 8) ** (k - 1) for k in arch.grid_levels()]
    gains = level_gains(gain_exp, ratio, arch.levels)
    return [gains[k] for k in arch.grid_levels()]


def ratios(arch: Architecture) -> tuple[int, ...]:
    """Gain ratios between levels an architecture may use: the pyramid's finer levels
    carry prediction residuals and want much coarser quantization steps; the wavelet is
    close to orthonormal, so one step for every band suits MSE (finer steps at coarser
    levels did no better against JPEG 2000: docs/codecs/overfit.md)."""
    return RATIOS if arch.transform == "pyramid" else WAVELET_RATIOS


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

    # Input positions per side of a tile of the upsampling (nn/tiling.py; each output
    # reads 2 inputs past its tile). The transposed convolution computes 2h + 14 rows to
    # keep 2h, 16 for the 1-row grids of a 1-pixel-high image (the pyramid's case), and
    # its temporaries grow with them: in strips, their size does not grow with the
    # image's width.
    STRIP = 2048

    def forward(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        up = tiled_apply(self._upsample, x.transpose(0, 1), Fraction(2), self.STRIP, 2)  # channels as a batch
        return up[..., :size[0], :size[1]].transpose(0, 1)

    def _upsample(self, x: torch.Tensor) -> torch.Tensor:
        """×2 of a whole window, its edges replicated."""
        height, width = x.shape[-2:]
        up = F.conv_transpose2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), self.kernel, stride=2)
        return up[..., 7:7 + 2 * height, 7:7 + 2 * width]


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

    @torch.inference_mode()
    def tiles(self, x: torch.Tensor, size: int = SYNTHESIS_TILE):
        """forward(x) a tile of at most size × size output pixels at a time (decoding):
        yields (top, left, output) as nn/tiling.py's tiled_map does, with the 1-pixel
        margin the 3×3 output layer reads, so the hidden activations stay small at any
        image size."""
        yield from tiled_map(self, x, Fraction(1), size, 1)


class OverfitModel(nn.Module):
    def __init__(self, arch: Architecture, height: int, width: int, channels: int, gain_exp: int = 16,
                 ratio: int = 3) -> None:
        super().__init__()
        self.arch = arch
        self.channels = arch.grid_channels(channels)
        self.feature_channels = arch.feature_channels(channels)
        if arch.transform == "wavelet":
            lows = wavelet.band_sizes(height, width, arch.levels)
            # Level k's bands are synthesized to parents[k]: the image, then each low band.
            self.parents = [(height, width)] + lows[:-1]
            self.shapes = [shape for h, w in self.parents
                           for shape in (((h + 1) // 2, w // 2), (h // 2, (w + 1) // 2), (h // 2, w // 2))]
            self.shapes.append(lows[-1])
            self.upsampler = None
        else:
            self.sizes = grid_sizes(height, width, arch.levels)
            self.shapes = list(self.sizes)
            self.upsampler = Upsampler()
        self.latents = nn.ParameterList(nn.Parameter(torch.zeros(1, c, h, w))
                                        for c, (h, w) in zip(self.channels, self.shapes))
        self.synthesis = Synthesis(arch, sum(self.feature_channels), channels)
        self.arm = arm_module.ARM(arch.arm_hidden, arch.arm_layers, arch.arm_inputs(channels))
        self.plan, self.band_inputs = coding_plan(arch, channels)
        self.register_buffer("context_kernel", _context_kernel(), persistent=False)
        self.set_gain(gain_exp, ratio)

    def set_gain(self, gain_exp: int, ratio: int) -> None:
        self.gain_exp, self.ratio = gain_exp, ratio
        self.grid_gains = grid_gains(self.arch, gain_exp, ratio)

    def decode(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Quantized grids → image in [0, 1] (not clamped)."""
        return self.synthesis(self.features(grids))

    def features(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """The synthesis's input: every level's full-resolution planes."""
        if self.arch.transform == "wavelet":
            return self._wavelet_features(grids)
        # Pyramid, coarse to fine: the features gathered so far are upsampled once per
        # level, all channels at once.
        features = None
        for level in range(len(grids) - 1, -1, -1):
            grid = grids[level] * (1.0 / self.grid_gains[level])
            features = grid if features is None else \
                torch.cat([grid, self.upsampler(features, self.sizes[level])], dim=1)
        return features

    def _wavelet_features(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """Every level's contribution to the image, kept apart: level k's three bands
        synthesized alone, then carried up to full resolution as a low band."""
        scaled = [grid * (1.0 / gain) for grid, gain in zip(grids, self.grid_gains)]
        features = scaled[-1]
        for level in range(self.arch.levels - 1, -1, -1):
            parent = self.parents[level]
            detail = wavelet.synthesize2(None, tuple(scaled[3 * level:3 * level + 3]), parent)
            features = torch.cat([detail, wavelet.synthesize2(features, None, parent)], dim=1)
        return features

    def contexts(self, grids: list[torch.Tensor], planes: range | None = None,
                 rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(every latent's ARM inputs (n, inputs), the latents (n,)), plane by plane in
        integer_grids order: 12 causal neighbours, then (band-aware ARM) the parent
        features, as arm.py computes them, and the plane's one-hot band identity. Only
        the given planes, and of them (rows: indices into their concatenation) only
        those rows, in that order: the whole tensor is never built."""
        all_planes = [grid[0, c] for grid in grids for c in range(grid.shape[1])]
        planes = range(len(all_planes)) if planes is None else planes
        sizes = [all_planes[i].numel() for i in planes]
        if rows is None:
            return torch.cat([self._plane_context(all_planes, i) for i in planes]), \
                torch.cat([all_planes[i].reshape(-1) for i in planes])
        contexts = torch.empty(rows.numel(), self.arm.hidden[0].in_features)
        values = torch.empty(rows.numel())
        start = 0
        for i, size in zip(planes, sizes):
            mine = torch.nonzero((rows >= start) & (rows < start + size)).flatten()
            if mine.numel():
                local = rows[mine] - start
                contexts[mine] = self._plane_context(all_planes, i)[local]
                values[mine] = all_planes[i].reshape(-1)[local]
            start += size
        return contexts, values

    def _plane_context(self, planes: list[torch.Tensor], index: int) -> torch.Tensor:
        plane = planes[index]
        inputs = self.arm.hidden[0].in_features
        spatial = F.conv2d(plane[None, None], self.context_kernel, padding=2)[0]    # (12, h, w)
        context = spatial.permute(1, 2, 0).reshape(-1, len(arm_module.CONTEXT))
        if self.plan.parents is not None:
            link = self.plan.parents[index]
            parent = torch.zeros(context.shape[0], arm_module.PARENT_INPUTS) if link is None \
                else _parent_features(planes[link[0]], link[1], tuple(plane.shape))
            band = torch.zeros(context.shape[0], inputs - context.shape[1] - arm_module.PARENT_INPUTS)
            band[:, list(self.band_inputs[index])] = 1.0
            context = torch.cat([context, parent, band], dim=1)
        return context

    def latent_count(self) -> int:
        return sum(latent.numel() for latent in self.latents)

    def bits(self, contexts: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Bits of the latents under the (float) ARM."""
        mean, log_scale = self.arm(contexts)
        scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
        return -torch.log2(laplace_interval_probability(values - mean, scale)).sum()

    def rate_bits(self, grids: list[torch.Tensor]) -> torch.Tensor:
        return self.bits(*self.contexts(grids))

    @torch.no_grad()
    def rdoq(self, x: torch.Tensor, lmbda: float, passes: int = 1, scale: float = 1.0,
             to_zero: bool = False) -> int:
        """Rate-distortion optimized rounding of the wavelet latents, greedy: a latent
        moves by one toward zero (or, with ``to_zero``, to zero) where the squared error
        it adds (in RGB, the transform taken as orthonormal) is worth less than
        ``scale``·λ times the bits it saves under the current ARM, its neighbours'
        contexts held fixed; ``passes`` repeats this with the contexts of the moved
        latents. Returns how many latents moved. (The pyramid's levels are not
        independent: nothing moves.)"""
        if self.arch.transform != "wavelet":
            return 0
        moved = 0
        for _ in range(passes):
            moved_now = self._rdoq_pass(x, lmbda * scale, to_zero)
            moved += moved_now
            if not moved_now:
                break
        return moved

    def _rdoq_pass(self, x: torch.Tensor, lmbda: float, to_zero: bool) -> int:
        colours = x.shape[1]
        # Squared RGB error per unit of squared error in each working-space channel.
        weights = (YCBCR_TO_RGB ** 2).sum(0) / 3 if colours == 3 else torch.ones(1)
        grids = [torch.round(latent) for latent in self.latents]
        candidates = [[values - torch.sign(values) for values in grids]]
        if to_zero:
            candidates.append([torch.zeros_like(values) for values in grids])
        flat_candidates = [torch.cat([t[0].reshape(-1) for t in c]) for c in candidates]   # the contexts' order
        # Bits saved per latent and candidate, a group of planes at a time (bounded
        # memory: one group for a Kodak image).
        saved = [[] for _ in candidates]
        sizes = [plane.numel() for grid in grids for plane in grid[0]]
        first, offset = 0, 0
        while first < len(sizes):
            last, count = first + 1, sizes[first]
            while last < len(sizes) and count + sizes[last] <= MAX_CONTEXT_ROWS:
                count += sizes[last]
                last += 1
            contexts, flat = self.contexts(grids, range(first, last))
            mean, log_scale = self.arm(contexts)
            del contexts
            scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
            now = -torch.log2(laplace_interval_probability(flat - mean, scale))
            for part, flat_candidate in zip(saved, flat_candidates):
                moved_part = flat_candidate[offset:offset + count]
                part.append(now + torch.log2(laplace_interval_probability(moved_part - mean, scale)))
            first, offset = last, offset + count
        saved = [torch.cat(part) for part in saved]
        moved, offset = 0, 0
        for index, (latent, values, band, gain) in enumerate(zip(self.latents, grids, self.wavelet_bands(x),
                                                                 self.grid_gains)):
            error_now = (band - values / gain) ** 2
            best, best_gain = values, torch.zeros_like(values)
            for candidate, saving in zip(candidates, saved):
                toward = candidate[index]
                saving = saving[offset:offset + values.numel()].view(values.shape)
                added_error = weights.view(1, -1, 1, 1) * ((band - toward / gain) ** 2 - error_now)
                net = lmbda * saving - added_error
                move = (values != 0) & (net > best_gain)
                best = torch.where(move, toward, best)
                best_gain = torch.where(move, net, best_gain)
            offset += values.numel()
            changed = best != values
            latent.copy_(best)
            moved += int(changed.sum())
        return moved

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
        return [size for channels, size in zip(self.channels, self.shapes) for _ in range(channels)]

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
        gains = grid_gains(self.arch, gain_exp, ratio)
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
    def wavelet_bands(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The bands of x in the working space, in grid order."""
        low, bands = self._to_working_space(x), []
        for _ in range(self.arch.levels):
            low, details = wavelet.analyze2(low)
            bands += details
        return bands + [low]

    @torch.no_grad()
    def wavelet_grids(self, bands: list[torch.Tensor], gain_exp: int,
                      ratio: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Dead-zone rounded bands at the given gain, and the image they reconstruct."""
        limit = arm_module.MAX_LATENT
        gains = grid_gains(self.arch, gain_exp, ratio)
        grids = [torch.sign(b) * torch.floor(b.abs() * g + (1 - DEAD_ZONE)).clamp(0, limit)
                 for b, g in zip(bands, gains)]
        return grids, self._inverse_wavelet(grids, gains)

    def _inverse_wavelet(self, grids: list[torch.Tensor], gains: list[float]) -> torch.Tensor:
        image = grids[-1] / gains[-1]
        for level in range(self.arch.levels - 1, -1, -1):
            details = tuple(grids[i] / gains[i] for i in range(3 * level, 3 * level + 3))
            image = wavelet.synthesize2(image, details, self.parents[level])
        return self._from_working_space(image)

    @torch.no_grad()
    def decode_inverse(self, grids: list[torch.Tensor]) -> torch.Tensor:
        """What decode gives with the synthesis set by invert_transform (up to float
        rounding), computed directly: one inverse wavelet transform per colour instead
        of every level's planes through the synthesis network."""
        if self.arch.transform != "wavelet":
            return self.decode(grids)
        return self._inverse_wavelet(grids, self.grid_gains)

    @torch.no_grad()
    def warm_start(self, x: torch.Tensor, lmbda: float, spare_units: bool = True,
                   rate: Callable[[list[torch.Tensor]], float] | None = None) -> bool:
        """Choose the gain that minimizes MSE + λ·(estimated bpp) of the pyramid (or the
        wavelet decomposition), load it into the latents and set the synthesis to its
        inverse. Synthesis units the inverse does not use keep a random start for
        training (spare_units) or are zeroed, which costs fewer bits when nothing will
        train them. False when the synthesis is too narrow to hold the inverse (it keeps
        its random start).

        ``rate`` (grids → bits), a better rate model than the per-plane Laplace (the
        shipped ARM's): the gain is then refined by walking downhill from the Laplace
        choice under it. The Laplace estimate's error changes with the rate (from 0.7 to
        1.5 times the shipped ARM's bits on Kodak), so its choice is often one or two
        gains off (results/overfit/gain-choice.json)."""
        pixels = x.shape[-1] * x.shape[-2]
        if self.arch.transform == "wavelet":
            bands = self.wavelet_bands(x)
            grids_at = lambda g, r: self.wavelet_grids(bands, g, r)      # noqa: E731
        else:
            scales = self.scales(x)
            grids_at = lambda g, r: self.pyramid(x, g, r, scales)        # noqa: E731
        tried, best = {}, {}

        def cost(gain_exp: int, ratio: int) -> float:
            if (gain_exp, ratio) not in tried:
                grids, image = grids_at(gain_exp, ratio)
                mse = torch.mean((image.clamp(0, 1) - x) ** 2).item()
                tried[gain_exp, ratio] = mse + lmbda * _estimated_bits(grids) / pixels
                if not best or tried[gain_exp, ratio] < tried[best["key"]]:      # only the best grids are kept
                    best.update(key=(gain_exp, ratio), grids=grids)
            return tried[gain_exp, ratio]

        # Every other gain, then the neighbours of the best. The cost is unimodal in the
        # gain (more rate, less error): from the gain that suits λ, walk downhill over
        # every other gain instead of trying them all.
        evens = list(GAIN_EXPONENTS[::2])
        coarse = min(((_descend(lambda g: cost(g, r), evens, _gain_guess(lmbda)), r) for r in ratios(self.arch)),
                     key=lambda key: cost(*key))
        gain_exp, ratio = min(((g, coarse[1]) for g in (coarse[0] - 1, coarse[0], coarse[0] + 1)
                               if g in GAIN_EXPONENTS), key=lambda key: cost(*key))
        if rate is not None:
            refined: dict[int, float] = {}
            best_refined: dict = {}

            def rate_cost(gain: int) -> float:
                if gain not in refined:
                    grids, image = grids_at(gain, ratio)
                    mse = torch.mean((image.clamp(0, 1) - x) ** 2).item()
                    refined[gain] = mse + lmbda * rate(grids) / pixels
                    if not best_refined or refined[gain] < refined[best_refined["key"][0]]:
                        best_refined.update(key=(gain, ratio), grids=grids)
                return refined[gain]

            gain_exp = _descend(rate_cost, list(GAIN_EXPONENTS), gain_exp)
            best = best_refined           # the descent ends on the gain of least cost
        grids = best["grids"] if best["key"] == (gain_exp, ratio) else grids_at(gain_exp, ratio)[0]
        self.set_gain(gain_exp, ratio)
        for latent, grid in zip(self.latents, grids):
            latent.copy_(grid)
        return self.invert_transform(x.shape[1], spare_units)

    @torch.no_grad()
    def invert_transform(self, colours: int, spare_units: bool = True) -> bool:
        """Set the synthesis to the transform's inverse (False: too narrow for it)."""
        first, *rest = self.synthesis.pointwise
        out = self.synthesis.out
        if first.out_channels < 2 * colours or any(l.out_channels < 2 * colours for l in rest):
            return False                 # too narrow to hold the inverse: keep the random init
        used = 2 * colours
        # Units 2j and 2j+1 of the first layer: ReLU(±Σ_levels channel j).
        first.weight[:used] = 0
        first.bias[:used] = 0
        offset = 0
        for channels in self.feature_channels:
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
        if not spare_units:
            for layer in (first, *rest):
                layer.weight[used:] = 0
                layer.bias[used:] = 0
        matrix = YCBCR_TO_RGB if colours == 3 else torch.ones(1, 1)
        out.weight.normal_(0.0, 1e-3 if spare_units else 0.0)
        out.weight[:, :used] = 0
        out.bias.zero_()
        for j in range(colours):
            out.weight[:, 2 * j, 1, 1] = matrix[:, j]
            out.weight[:, 2 * j + 1, 1, 1] = -matrix[:, j]
        return True


def coding_plan(arch: Architecture, colours: int) -> tuple[arm_module.Plan, list[tuple[int, ...]]]:
    """How the planes (integer_grids order) are coded, and each plane's one-hot band
    inputs (indices into the ARM's band inputs). A band-aware ARM codes the low band
    first, then each level coarse to fine (one wavefront per level); every detail
    plane's parent is the same band and colour one level coarser (the low band for
    the coarsest level, at the same resolution)."""
    count = sum(arch.grid_channels(colours))
    if not arch.band_context:
        return arm_module.Plan.single(count), []
    levels = arch.levels
    plane = lambda grid, colour: grid * colours + colour        # noqa: E731
    low = 3 * levels
    parents, bands = [], []
    for grid in range(low + 1):
        level, orientation = divmod(grid, 3)
        for colour in range(colours):
            if grid == low:
                parents.append(None)
                bands.append((levels, levels + 1 + colour))
            else:
                parents.append((plane(grid + 3, colour), 2) if level < levels - 1 else (plane(low, colour), 1))
                bands.append((level, levels + 1 + colour, levels + 1 + colours + orientation))
    phases = [tuple(plane(low, c) for c in range(colours))]
    phases += [tuple(plane(3 * level + o, c) for o in range(3) for c in range(colours))
               for level in range(levels - 1, -1, -1)]
    return arm_module.Plan(tuple(phases), tuple(parents)), bands


def _parent_features(parent: torch.Tensor, stride: int, shape: tuple[int, int]) -> torch.Tensor:
    """arm.parent_features in torch: (h·w, 2)."""
    parent = parent.clamp(-arm_module.MAX_LATENT, arm_module.MAX_LATENT)
    box = F.conv2d(parent.abs()[None, None], torch.ones(1, 1, 3, 3), padding=1)[0, 0]
    rows = (torch.arange(shape[0]) // stride).clamp(max=parent.shape[0] - 1)[:, None]
    cols = (torch.arange(shape[1]) // stride).clamp(max=parent.shape[1] - 1)[None, :]
    return torch.stack([parent[rows, cols], box[rows, cols]], dim=-1).reshape(-1, 2)


def _gain_guess(lmbda: float) -> float:
    """About the gain exponent the warm start picks for λ: a step size that grows as
    √λ, as at high rate (measured on Kodak)."""
    return GAIN_GUESS_AT_UNIT_LAMBDA - 2.0 * math.log2(max(lmbda, 1e-12))


def _descend(cost, candidates: list[int], guess: float) -> int:
    """The candidate of least cost found by walking downhill from the one nearest the
    guess (the global minimum where the cost is unimodal)."""
    index = min(range(len(candidates)), key=lambda i: abs(candidates[i] - guess))
    for step in (1, -1):
        while 0 <= index + step < len(candidates) and cost(candidates[index + step]) < cost(candidates[index]):
            index += step
    return candidates[index]


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
