"""The network of the ``factorized`` codec: a small factorized-prior autoencoder.

Architecture after Ballé, Laparra, Simoncelli, "End-to-end optimized image
compression" (ICLR 2017), shrunk for a 2-core CPU::

    analysis   x ─conv5s2─GDN─conv5s2─GDN─conv5s2─GDN─conv5s2─▶ y   (M channels, 1/16 res)
    quantizer  y·g ─round─▶ ŷ        (g = gain chosen by the quality knob)
    synthesis  ŷ/g ─deconv5s2─IGDN─deconv5s2─IGDN─deconv5s2─IGDN─deconv5s2─▶ x̂

One model covers a range of rates: training draws the gain g per sample and weights
the distortion by λ0·g², so every g is trained at the slope of its own operating
point. The prior is factorized per channel (a zero-mean Laplace); at encode time the
codec fits each channel's scale to the image and stores it, so training only needs a
learned scale per channel as a rate proxy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from latentpress.nn.gdn import GDN
from latentpress.nn.likelihood import laplace_interval_probability

# The gain range the model is trained for; the quality knob maps onto it.
GAIN_MIN = 0.35
GAIN_MAX = 2.8
DOWNSAMPLING = 16


def gain_for_quality(quality: int) -> float:
    """Map quality 0..100 log-linearly onto [GAIN_MIN, GAIN_MAX]."""
    return GAIN_MIN * (GAIN_MAX / GAIN_MIN) ** (quality / 100.0)


@dataclass(frozen=True)
class Architecture:
    channels: int = 64
    latent_channels: int = 64

    def describe(self) -> str:
        return f"N{self.channels}-M{self.latent_channels}"


def _conv(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _deconv(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


class FactorizedAutoencoder(nn.Module):
    def __init__(self, arch: Architecture = Architecture()) -> None:
        super().__init__()
        n, m = arch.channels, arch.latent_channels
        self.arch = arch
        self.analysis = nn.Sequential(
            _conv(3, n), GDN(n), _conv(n, n), GDN(n), _conv(n, n), GDN(n), _conv(n, m)
        )
        self.synthesis = nn.Sequential(
            _deconv(m, n), GDN(n, inverse=True), _deconv(n, n), GDN(n, inverse=True),
            _deconv(n, n), GDN(n, inverse=True), _deconv(n, 3),
        )
        # Per-channel Laplace scale of y (before the gain), used only as the training
        # rate proxy; the codec fits scales per image.
        self.log_scales = nn.Parameter(torch.zeros(m))

    def encode_latents(self, x: torch.Tensor) -> torch.Tensor:
        """x: N×3×H×W in [0, 1], H and W multiples of 16 → y (unquantized)."""
        return self.analysis(x - 0.5)

    def decode_latents(self, y_hat: torch.Tensor) -> torch.Tensor:
        return self.synthesis(y_hat) + 0.5

    def rate_bits(self, y_noisy: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """Bits of noisy latents y_noisy (already multiplied by gain) per sample."""
        scale = torch.exp(self.log_scales).view(1, -1, 1, 1) * gain.view(-1, 1, 1, 1)
        p = laplace_interval_probability(y_noisy, scale)
        return -torch.log2(p).flatten(1).sum(1)


def lambda_for_gain(gain: torch.Tensor, lambda0: float) -> torch.Tensor:
    """Distortion weight for gain g: λ0·g² (quantization noise power scales as 1/g²)."""
    return lambda0 * gain * gain


def log_uniform(rng: torch.Generator, n: int, low: float, high: float) -> torch.Tensor:
    u = torch.rand(n, generator=rng)
    return torch.exp(math.log(low) + u * (math.log(high) - math.log(low)))
