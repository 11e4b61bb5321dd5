"""The overfit codec's architecture descriptor: one short string in the file header.

``dwt6-arm16x2b-syn16.16`` means latent grids holding a six-level CDF 9/7 wavelet
decomposition (resolutions 1/2 down to 1/64; wavelet.py), an ARM of two hidden layers
of 16 that also sees each latent's parent and band ("b", payload versions 4 and later;
without it, version 3: spatial neighbours only), and a synthesis of 1×1 layers of
widths 16 and 16 followed by one 3×3 layer to the output channels. ``lat7-…`` (payload
version 2, and images 1 pixel thin) means seven grids of a Laplacian pyramid instead
(full resolution down to 1/64, with a learned ×2 upsampler). The decoder rebuilds
exactly this. Parsing is strict and bounded, so a file cannot ask
for an absurd network.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from latentpress.errors import CorruptPayloadError

MAX_LEVELS = 8
MAX_ARM_HIDDEN = 64
MAX_ARM_LAYERS = 4
MAX_SYNTHESIS_WIDTH = 64
MAX_SYNTHESIS_LAYERS = 4
_PATTERN = re.compile(r"(lat|dwt)(\d{1,2})-arm(\d{1,3})x(\d)(b?)-syn(\d{1,3}(?:\.\d{1,3}){0,7})", re.ASCII)


@dataclass(frozen=True)
class Architecture:
    levels: int = 6
    arm_hidden: int = 16
    arm_layers: int = 2
    synthesis: tuple[int, ...] = (16, 16)
    transform: str = "pyramid"          # or "wavelet"
    # The ARM also sees each latent's parent (the co-located latent of the same band
    # one level coarser) and which band it codes (payload versions 4 and later, wavelet
    # only): descriptor "arm…b".
    band_context: bool = False

    def __post_init__(self) -> None:
        problems = []
        if not 1 <= self.levels <= MAX_LEVELS:
            problems.append(f"{self.levels} latent grids (1-{MAX_LEVELS})")
        if not 1 <= self.arm_hidden <= MAX_ARM_HIDDEN:
            problems.append(f"ARM width {self.arm_hidden} (1-{MAX_ARM_HIDDEN})")
        if not 1 <= self.arm_layers <= MAX_ARM_LAYERS:
            problems.append(f"{self.arm_layers} ARM layers (1-{MAX_ARM_LAYERS})")
        if not 1 <= len(self.synthesis) <= MAX_SYNTHESIS_LAYERS or \
                not all(1 <= w <= MAX_SYNTHESIS_WIDTH for w in self.synthesis):
            problems.append(f"synthesis widths {self.synthesis} (1-{MAX_SYNTHESIS_LAYERS} layers "
                            f"of 1-{MAX_SYNTHESIS_WIDTH})")
        if self.transform not in ("pyramid", "wavelet"):
            problems.append(f"transform {self.transform!r}")
        if self.band_context and self.transform != "wavelet":
            problems.append("a band-aware ARM without wavelet bands")
        if problems:
            raise CorruptPayloadError("unsupported overfit architecture: " + "; ".join(problems))

    def describe(self) -> str:
        return (f"{'dwt' if self.transform == 'wavelet' else 'lat'}{self.levels}-arm{self.arm_hidden}x{self.arm_layers}"
                f"{'b' if self.band_context else ''}-syn" + ".".join(str(w) for w in self.synthesis))

    @classmethod
    def parse(cls, text: object) -> "Architecture":
        if not isinstance(text, str) or len(text) > 64 or not (match := _PATTERN.fullmatch(text)):
            raise CorruptPayloadError(f"invalid overfit architecture descriptor {text!r}")
        kind, levels, hidden, layers, band, synthesis = match.groups()
        arch = cls(int(levels), int(hidden), int(layers), tuple(int(w) for w in synthesis.split(".")),
                   "wavelet" if kind == "dwt" else "pyramid", band == "b")
        if arch.describe() != text:          # one spelling per architecture (no leading zeros)
            raise CorruptPayloadError(f"non-canonical overfit architecture descriptor {text!r}")
        return arch

    def grid_channels(self, colours: int) -> list[int]:
        """Channels of each latent grid. Pyramid: one grid per level, luma only at full
        resolution. Wavelet: the HL, LH and HH bands of each level (finest first), each
        with every colour, then the low band."""
        if self.transform == "wavelet":
            return [colours] * (3 * self.levels + 1)
        return [1] + [colours] * (self.levels - 1)

    def grid_levels(self) -> list[int]:
        """Resolution of each grid as k in 1/2**k."""
        if self.transform == "wavelet":
            return [k + 1 for k in range(self.levels) for _ in range(3)] + [self.levels]
        return list(range(self.levels))

    def feature_channels(self, colours: int) -> list[int]:
        """Full-resolution planes the synthesis receives from each level (finest first;
        for the wavelet the low band's come last): one per colour, luma only for the
        pyramid's full-resolution level."""
        if self.transform == "wavelet":
            return [colours] * (self.levels + 1)
        return self.grid_channels(colours)

    def synthesis_macs_per_pixel(self, colours: int) -> int:
        widths = (sum(self.feature_channels(colours)),) + self.synthesis
        return sum(a * b for a, b in zip(widths, widths[1:])) + 9 * self.synthesis[-1] * colours

    def upsampling_macs_per_pixel(self, colours: int) -> float:
        """Pyramid: the 8×8 transposed convolution costs 16 MAC per output sample and
        channel; the features of levels k+1 … L−1 are upsampled to level k's resolution.
        Wavelet: a 2-D lifting synthesis costs about 6 MAC per output sample and channel
        (two 1-D passes of four lifting steps and a scaling); at resolution 1/2**k it
        makes the planes of levels k+1 … L and the low band."""
        channels = self.feature_channels(colours)
        if self.transform == "wavelet":
            return sum(6 * sum(channels[k:]) / 4 ** k for k in range(self.levels))
        return sum(16 * sum(channels[k + 1:]) / 4 ** k for k in range(self.levels - 1))

    def arm_inputs(self, colours: int) -> int:
        """Inputs of the ARM: 12 causal neighbours; with band_context also the parent's
        latent and neighbourhood magnitude, and a one-hot band identity (level 1 … L
        or the low band, colour, orientation)."""
        return 12 + (2 + self.levels + 1 + colours + 3 if self.band_context else 0)

    def arm_macs_per_latent(self) -> int:
        # The band identity's one-hot inputs cost no multiplications: their weights
        # are one offset per grid added to the first layer.
        widths = (12 + 2 * self.band_context,) + (self.arm_hidden,) * self.arm_layers + (2,)
        return sum(a * b for a, b in zip(widths, widths[1:]))

    def latents_per_pixel(self, colours: int) -> float:
        return sum(c / 4 ** k for k, c in zip(self.grid_levels(), self.grid_channels(colours)))

    def decoder_macs_per_pixel(self, colours: int, trained_synthesis: bool = True) -> dict[str, float]:
        """Multiply-accumulates per image pixel of each decoding stage (tile borders and
        odd sizes ignored). An untrained wavelet synthesis (syn_step 0, what every
        preset writes) is decoded as one inverse wavelet transform per colour (about 6
        MAC per sample and level, on 1 + ¼ + … of the pixels) and a colour conversion."""
        arm = self.arm_macs_per_latent() * self.latents_per_pixel(colours)
        if self.transform == "wavelet" and not trained_synthesis:
            inverse = sum(6 * colours / 4 ** k for k in range(self.levels))
            stages = {"arm": arm, "upsampling": inverse, "synthesis": float(colours * colours)}
        else:
            stages = {"arm": arm, "upsampling": self.upsampling_macs_per_pixel(colours),
                      "synthesis": float(self.synthesis_macs_per_pixel(colours))}
        return {**stages, "total": sum(stages.values())}
