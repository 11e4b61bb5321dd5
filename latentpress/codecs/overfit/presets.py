"""Presets of the overfit codec: an architecture and a training schedule, as values."""

from __future__ import annotations

from dataclasses import dataclass

from latentpress.codecs.overfit.architecture import Architecture


@dataclass(frozen=True)
class Preset:
    name: str
    architecture: Architecture
    iterations: int
    learning_rate: float = 1e-2
    # Adam moves every parameter by about its learning rate per step; latents must
    # travel several units in a few hundred steps, so they get a larger one.
    latent_learning_rate: float = 0.1
    # Fraction of the iterations trained with additive noise; the rest use rounding
    # with straight-through gradients.
    noise_fraction: float = 0.6


PRESETS = {p.name: p for p in (
    Preset("fast", Architecture(levels=6, arm_hidden=8, arm_layers=2, synthesis=(8, 8)), iterations=120),
    Preset("medium", Architecture(levels=7, arm_hidden=16, arm_layers=2, synthesis=(16, 16)), iterations=400),
    Preset("slow", Architecture(levels=7, arm_hidden=24, arm_layers=2, synthesis=(24, 24)), iterations=1500),
)}

QUALITIES = range(1, 9)


def lambda_for_quality(quality: int) -> float:
    """Rate weight of the loss MSE + λ·bpp (MSE on [0, 1] pixels): quality 1 → 0.02,
    each step halves it (quality 8 → 0.00016)."""
    return 0.02 / 2.0 ** (quality - 1)
