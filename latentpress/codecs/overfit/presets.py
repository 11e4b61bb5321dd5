"""Presets of the overfit codec: an architecture and a training schedule, as values."""

from __future__ import annotations

from dataclasses import dataclass

from latentpress.codecs.overfit.architecture import Architecture


@dataclass(frozen=True)
class Preset:
    name: str
    architecture: Architecture
    iterations: int
    learning_rate: float = 5e-3
    # Sum of the latents' learning rates over the schedule (codec.train explains).
    latent_travel: float = 1.0
    # Iterations that fit the ARM alone to the warm-start latents, on a random fraction
    # of them, and their learning rate.
    arm_warmup: int = 150
    arm_warmup_fraction: float = 0.25
    arm_learning_rate: float = 3e-2
    # Iterations of linear learning-rate warm-up of the joint training.
    warmup: int = 20
    # Fraction of the iterations trained with additive noise; the rest use rounding
    # with straight-through gradients. From the warm start, noise only lost in our
    # exploratory runs (docs/design.md).
    noise_fraction: float = 0.0


PRESETS = {p.name: p for p in (
    Preset("fast", Architecture(levels=7, arm_hidden=8, arm_layers=2, synthesis=(8, 8)),
           iterations=40, arm_warmup=60, latent_travel=0.25),
    Preset("medium", Architecture(levels=7, arm_hidden=16, arm_layers=2, synthesis=(16, 16)), iterations=180),
    Preset("slow", Architecture(levels=7, arm_hidden=24, arm_layers=2, synthesis=(24, 24)),
           iterations=800, arm_warmup=300, latent_travel=2.0),
)}

QUALITIES = range(1, 9)


def lambda_for_quality(quality: int) -> float:
    """Rate weight of the loss MSE + λ·bpp (MSE on [0, 1] pixels): quality 1 → 0.02,
    each step halves it (quality 8 → 0.00016)."""
    return 0.02 / 2.0 ** (quality - 1)
