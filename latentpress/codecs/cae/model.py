"""Report 003's convolutional autoencoder (§II-A), one for luma and one for chroma.

Report 003: Zhengxue Cheng, Heming Sun, Masaru Takeuchi, Jiro Katto, "Deep Convolutional
AutoEncoder-based Lossy Image Compression", PCS 2018.

Each component (Y, Cb or Cr, full-range BT.601, in [0, 1]) goes through a symmetric
CAE: Y through the luma model, Cb and Cr through the chroma model. (The report designs
"the CAE for each luma or chroma component" but trains on luma only, §III-A; a model
trained on chroma serves the smoother chroma planes with fewer filters.) Every down-sampling unit is a stride-2 convolution with padding 1 and
every up-sampling unit a stride-2 transposed convolution with padding 1 (4×4 kernels,
so sizes halve and double exactly), PReLU after every layer but the last of each half;
six convolution layers in the encoder, the decoder mirroring it::

    encoder  x−½ ─c3─P─c4↓─P─c3─P─c4↓─P─c3─P─c4↓─▶ y        (n6 maps at 1/8 resolution)
    decoder  y ─t4↑─P─c3─P─t4↑─P─c3─P─t4↑─P─c3─▶ +½ = x̂

The report's filter counts (n1…n6) are lost from its text. Ours, chosen so a Kodak image
decodes in a few seconds on a 2-core CPU (the file header names the model; each model's
descriptor is in its weights file's metadata):

    luma    n1…n6 = 32, 64, 64, 64, 64, 32    (n6 = 32 maps: half a code value per pixel)
    chroma  n1…n6 = 16, 32, 32, 32, 32, 16

n6 also sets the side information of §II-B, an n6×n6 rotation per component and image:
32 maps for luma keep it near 0.01 bpp on a Kodak image (64 would cost four times that).

Training (train/cae.py) follows eq. (1): MSE(x, D(E(x) + u)) + λ·mean|E(x)|, with u
uniform in [−½, ½) standing in for rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

DOWNSAMPLING = 8


@dataclass(frozen=True)
class CAEArchitecture:
    filters: tuple[int, int, int, int, int, int]      # n1…n6; n6 = code maps

    @property
    def code_channels(self) -> int:
        return self.filters[-1]

    def describe(self) -> str:
        return "n" + ".".join(map(str, self.filters))

    @classmethod
    def parse(cls, text: object) -> "CAEArchitecture":
        if not isinstance(text, str) or not text.startswith("n"):
            raise ValueError(f"not a CAE descriptor: {text!r}")
        parts = text[1:].split(".")
        if len(parts) != 6 or not all(p.isdigit() and len(p) <= 3 for p in parts):
            raise ValueError(f"not a CAE descriptor: {text!r}")
        arch = cls(tuple(int(p) for p in parts))          # type: ignore[arg-type]
        if arch.describe() != text or not all(1 <= f <= 256 for f in arch.filters):
            raise ValueError(f"not a canonical CAE descriptor: {text!r}")
        return arch


LUMA = CAEArchitecture((32, 64, 64, 64, 64, 32))
CHROMA = CAEArchitecture((16, 32, 32, 32, 32, 16))


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 4, stride=2, padding=1)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1)


def _same(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1)


class ConvolutionalAutoencoder(nn.Module):
    def __init__(self, arch: CAEArchitecture) -> None:
        super().__init__()
        self.arch = arch
        n1, n2, n3, n4, n5, n6 = arch.filters
        self.encoder = nn.Sequential(
            _same(1, n1), nn.PReLU(n1), _down(n1, n2), nn.PReLU(n2),
            _same(n2, n3), nn.PReLU(n3), _down(n3, n4), nn.PReLU(n4),
            _same(n4, n5), nn.PReLU(n5), _down(n5, n6))
        self.decoder = nn.Sequential(
            _up(n6, n5), nn.PReLU(n5), _same(n5, n4), nn.PReLU(n4),
            _up(n4, n3), nn.PReLU(n3), _same(n3, n2), nn.PReLU(n2),
            _up(n2, n1), nn.PReLU(n1), _same(n1, 1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """N×1×H×W in [0, 1] (H, W multiples of 8) → N×n6×H/8×W/8."""
        return self.encoder(x - 0.5)

    def decode(self, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(y) + 0.5

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.encode(x)
        return self.decode(y if noise is None else y + noise), y


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """N×3×H×W RGB in [0, 1] → YCbCr in [0, 1] (full-range BT.601, as image.rgb_to_ycbcr)."""
    r, g, b = rgb.unbind(1)
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 0.5 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 0.5 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return torch.stack([y, cb, cr], dim=1)
