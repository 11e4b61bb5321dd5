"""Report 001's block CNN autoencoders (§4.1, §4.2, §6.2, §6.3): CNN-AE, CNN-RNN-AE,
CNN-AE-FT and GAN-AE.

Report 001: "Image Compression Using Deep Learning" (the report names no authors).

Every 32×32 RGB block (values in [0, 1]) is coded on its own as a 4×8×8 latent at
6 bits a value: 32·32·3·8 bits in, 8·8·4·6 bits out, the report's fixed 16:1 ratio
(1.5 bpp). The report's figures with the layer sizes are lost from its text; what it does
say fixes the shapes below: fully convolutional networks, max-pooling down, "an
interpolation function followed by a convolution" up, asymmetric (a wide encoder, a
narrow decoder), and a CNN-AE decoder of "~1300 weights" (§6.2). Ours::

    encoder      conv 3×3 3→32 · ReLU · conv 3×3 32→32 · ReLU · max-pool 2
                 · conv 3×3 32→64 · ReLU · max-pool 2 · conv 3×3 64→4 · sigmoid
    decoder      bilinear ×2 · conv 3×3 4→12 · ReLU · bilinear ×2 · conv 3×3 12→8 · ReLU
                 · conv 1×1 8→3 · sigmoid                                  (1,343 weights)
    narrow       bilinear ×2 · conv 3×3 4→6 · ReLU · bilinear ×2 · conv 3×3 6→3 · sigmoid
    decoder                                                                  (387 weights)
    critic       conv 4×4/2 3→32 · LeakyReLU · conv 4×4/2 32→64 · LeakyReLU
                 · conv 4×4/2 64→128 · LeakyReLU · conv 4×4 128→1 (no sigmoid: WGAN)

- ``cnn-ae``: encoder + decoder.
- ``cnn-rnn-ae`` (Fig. 7): three stages with their own encoder and decoder; stage k
  codes the residual of the reconstruction so far (mapped from [−1, 1] to [0, 1]) and
  its decoder's output is added back. To keep the report's 16:1 at three stages, each
  stage's latent has 2 bits a value (3 × 2 = 6); a decoder may stop after any stage
  (48:1, 24:1, 16:1).
- ``cnn-ae-ft`` (Figs. 8, 11): the CNN-AE encoder (frozen) and the narrow decoder,
  pretrained on the training crops, then fine-tuned on the blocks of the image being
  coded; its weights go into the file.
- ``gan-ae`` (Fig. 10, §6.3): encoder and decoder trained with a critic, loss
  λ1·L2 + λ2·Wasserstein.
- The deblocking post-filter (beyond the report, its §8: "some image processing" against
  the square patterns): a residual network over the whole decoded image, across the
  block edges, trained on cnn-ae's decoded training crops::

      conv 3×3 3→16 · ReLU · conv 3×3 16→16 · ReLU · conv 3×3 16→3, added to its input
                                                          (3,203 weights, 3,168 MAC/pixel)

Quantization: the encoder's sigmoid output z ∈ [0, 1] is stored as round(z·(L−1)) with
L = 2^bits levels. Training adds uniform noise of one quantization step in place of the
rounding (the report trains without it; without it a network learns to use precision the
file does not keep).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional

BLOCK = 32
LATENT_CHANNELS = 4
LATENT_SIDE = BLOCK // 4
LATENT_BITS = 6                       # cnn-ae, cnn-ae-ft, gan-ae
RNN_STEPS = 3
RNN_BITS = LATENT_BITS // RNN_STEPS   # 2 bits per stage: 16:1 after three


class Upsample(nn.Module):
    """Bilinear ×2 (the report's "interpolation function followed by convolution")."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return functional.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def encoder() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, LATENT_CHANNELS, 3, padding=1), nn.Sigmoid())


def decoder() -> nn.Sequential:
    return nn.Sequential(
        Upsample(), nn.Conv2d(LATENT_CHANNELS, 12, 3, padding=1), nn.ReLU(),
        Upsample(), nn.Conv2d(12, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 3, 1), nn.Sigmoid())


def narrow_decoder() -> nn.Sequential:
    return nn.Sequential(
        Upsample(), nn.Conv2d(LATENT_CHANNELS, 6, 3, padding=1), nn.ReLU(),
        Upsample(), nn.Conv2d(6, 3, 3, padding=1), nn.Sigmoid())


def critic() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(128, 1, 4), nn.Flatten())


def weight_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def quantize(z: torch.Tensor, bits: int) -> torch.Tensor:
    """z ∈ [0, 1] → integers 0 … 2^bits − 1."""
    return torch.round(z.clamp(0, 1) * ((1 << bits) - 1))


def dequantize(q: torch.Tensor, bits: int) -> torch.Tensor:
    return q / ((1 << bits) - 1)


def noisy(z: torch.Tensor, bits: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Training stand-in for quantize→dequantize: uniform noise of one quantization step."""
    noise = torch.rand(z.shape, generator=generator).to(z.device) - 0.5
    return z + noise / ((1 << bits) - 1)


class BlockAutoencoder(nn.Module):
    """cnn-ae, gan-ae (decoder()) and cnn-ae-ft (narrow_decoder())."""

    def __init__(self, narrow: bool = False) -> None:
        super().__init__()
        self.encoder = encoder()
        self.decoder = narrow_decoder() if narrow else decoder()

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.decoder(noisy(self.encoder(x), LATENT_BITS, generator))


class RecurrentAutoencoder(nn.Module):
    """cnn-rnn-ae: RNN_STEPS stages, each coding the residual left by the ones before."""

    def __init__(self, steps: int = RNN_STEPS) -> None:
        super().__init__()
        self.encoders = nn.ModuleList(encoder() for _ in range(steps))
        self.decoders = nn.ModuleList(decoder() for _ in range(steps))

    def stage_input(self, x: torch.Tensor, reconstruction: torch.Tensor | None) -> torch.Tensor:
        return x if reconstruction is None else (x - reconstruction + 1) / 2

    def stage_output(self, stage: int, latent: torch.Tensor, reconstruction: torch.Tensor | None) -> torch.Tensor:
        out = self.decoders[stage](latent)
        return out if reconstruction is None else reconstruction + 2 * out - 1

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        """The reconstruction after each stage (training: noisy latents)."""
        outputs, reconstruction = [], None
        for stage, enc in enumerate(self.encoders):
            latent = noisy(enc(self.stage_input(x, reconstruction)), RNN_BITS, generator)
            reconstruction = self.stage_output(stage, latent, reconstruction)
            outputs.append(reconstruction)
        return outputs


class PostFilter(nn.Module):
    """The deblocking post-filter: x + f(x), receptive field 7×7 (HALO pixels each side)."""

    HALO = 3

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 3, 3, padding=1))
        nn.init.zeros_(self.body[-1].weight)       # starts as the identity
        nn.init.zeros_(self.body[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)
