"""Presets of the overfit codec: an architecture and a training schedule, as values."""

from __future__ import annotations

from dataclasses import dataclass, field

from latentpress.codecs.overfit.architecture import Architecture


@dataclass(frozen=True)
class Preset:
    name: str
    architecture: Architecture
    iterations: int                 # of joint training (0: none, the synthesis stays the inverse)
    learning_rate: float = 5e-3
    # Sum of the latents' learning rates over the schedule (train/overfit.py explains).
    latent_travel: float = 1.0
    # Iterations that fit the ARM alone to the warm-start latents, on a random fraction
    # of them, and their learning rate.
    arm_warmup: int = 150
    arm_warmup_fraction: float = 0.25
    arm_learning_rate: float = 3e-2
    # Iterations of linear learning-rate warm-up of the joint training.
    warmup: int = 20
    # Fraction of the iterations trained with additive noise; the rest use rounding
    # with straight-through gradients. None by default: the warm start's latents are
    # already integers of the right scale, and noise only lost from there
    # (docs/codecs/overfit.md).
    noise_fraction: float = 0.0
    # Rate-distortion optimized rounding of the latents half-way through the ARM fit
    # (OverfitModel.rdoq).
    rdoq: bool = False
    # A rate-distortion search over the ARM's width: one encode per width, narrowest
    # first, keeping the file of least MSE + λ·bpp measured on the real file; the search
    # stops at the first width that does no better (a wider ARM's weights cost more
    # bits). Empty: the architecture's width only.
    arm_widths: tuple[int, ...] = ()
    # Start the ARM from the shipped one (base_arm.py) and store only what differs
    # from it (payload version 7). Where it does not apply (an image too thin for the
    # wavelet), the ARM is fitted from a random start for at least FALLBACK_ARM_WARMUP
    # iterations at FALLBACK_ARM_LEARNING_RATE.
    arm_base: bool = False
    # Choose the quantization gain under the shipped ARM's rate (from a sample of the
    # rows) instead of the per-plane Laplace estimate alone (OverfitModel.warm_start):
    # 1.0% lower MSE + λ·bpp on the development images for about 0.4 s more per Kodak
    # image (results/overfit/gain-choice.json). Needs a shipped ARM for the layout.
    gain_by_arm: bool = False
    # Presets whose files compete with this one's: each is encoded with its own recipe
    # first, and the file of least MSE + λ·bpp is kept, so this preset never does worse
    # than they do on any image (the file records this preset's name). Not in the repr:
    # bench/identity.py adds the rivals' own reprs.
    compete_with: tuple[str, ...] = field(default=(), repr=False)


FALLBACK_ARM_WARMUP = 300
FALLBACK_ARM_LEARNING_RATE = 3e-2


PRESETS = {p.name: p for p in (
    # No per-image fitting: the shipped ARM as it is, with the rounding it makes
    # rate-distortion optimal.
    Preset("instant", Architecture(levels=6, arm_hidden=24, arm_layers=2, synthesis=(8, 8), transform="wavelet",
                                   band_context=True),
           iterations=0, arm_warmup=0, rdoq=True, arm_base=True, gain_by_arm=True),
    # From the wavelet warm start, joint training bought nothing measurable for its
    # time (docs/codecs/overfit.md): the presets only fit the ARM, which is where the
    # bits are saved. fast fine-tunes the shipped ARM to the image at a tenth of the
    # learning rate a random start needs and stores the differences: 1.3% lower cost
    # than fitting an 8-unit ARM from a random start for 1000 iterations, in a third
    # of the time (results/overfit/arm-finetune-probe.json).
    Preset("fast", Architecture(levels=6, arm_hidden=24, arm_layers=2, synthesis=(8, 8), transform="wavelet",
                                band_context=True),
           iterations=0, arm_warmup=300, arm_learning_rate=3e-3, rdoq=True, arm_base=True, gain_by_arm=True),
    # An ARM of their own fitted from a random start (slow: 8 and 16 units, the better
    # kept) gave, with the same gain choice, files 1.8% (medium) and 0.2% (slow) worse
    # than fast's on average, better on some images and worse on others
    # (results/overfit/presets-probe.json): so fast's file competes and the better one
    # is kept.
    Preset("medium", Architecture(levels=6, arm_hidden=16, arm_layers=2, synthesis=(16, 16), transform="wavelet",
                                  band_context=True),
           iterations=0, arm_warmup=2000, arm_warmup_fraction=0.1, rdoq=True, gain_by_arm=True,
           compete_with=("fast",)),
    # Which ARM pays for its stored weights differs by image and rate (fast's 8 units
    # beat medium's 16 at quality 1, not at quality 6): slow searches the widths per
    # file. Wider ARMs (24 and 32 units) lowered the cost too little for the encode
    # time they add (and a wider ARM decodes slower): slow tries 8 and 16
    # (docs/codecs/overfit.md).
    Preset("slow", Architecture(levels=6, arm_hidden=16, arm_layers=2, synthesis=(24, 24), transform="wavelet",
                                band_context=True),
           iterations=0, arm_warmup=2000, arm_warmup_fraction=0.1, rdoq=True, arm_widths=(8, 16), gain_by_arm=True,
           compete_with=("fast",)),
)}

QUALITIES = range(0, 101)


def lambda_for_quality(quality: float) -> float:
    """Rate weight of the loss MSE + λ·bpp (MSE on [0, 1] pixels) for quality 0-100:
    quality 20 → 0.02, and every 10 above halves it (50 → 0.0025, 90 → 0.00016)."""
    return 0.02 * 2.0 ** (-(quality - 20) / 10)


def quality_of_level(level: int) -> int:
    """The quality (0-100) of one of the eight levels (1-8) overfit's quality was before
    it took the common scale: level k is quality 10·k + 10, the same λ."""
    return 10 * level + 10
