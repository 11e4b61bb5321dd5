"""Report 000's shallow block autoencoders (§3.3, §3.4) and their shared decoder.

Report 000: Mario Sergio Fuentes Juarez, "Shallow Autoencoders for Lossy Image
Compression", The University of Texas at Austin. Every block of ``block``×``block`` RGB
pixels (32 in the report) is coded on its own::

    block-cnn encoder       conv 3×3→32 tanh · conv 3×3→64 ReLU · max-pool 2 · dropout 0.25
                            · flatten · dense → code_length, tanh
    block-convlstm encoder  the block as a 1-step sequence · ConvLSTM 3×3/2→64 · ConvLSTM
                            3×3/2→128 · ConvLSTM 3×3/2→128 (ReLU activations, hard-sigmoid
                            gates) · flatten · dense → code_length, tanh
    decoder (both)          dense code_length → 3·(block−2)², tanh · reshape 3×(block−2)²
                            · transposed conv 3×3 → 3×block×block, sigmoid

All convolutions are "valid" (no padding). The report's figures are lost from its text;
these layer sizes are those of its public implementation and they reproduce its decoder
size exactly: (64 + 1)·2700 + (3·3·3·3 + 3) = 175,584 weights for code length 64, and
the 408 KB and ≈1 MB files of its Table 3 for code lengths 32 and 80 (see
:func:`decoder_weight_count`).

Initialisation follows Keras' defaults (Glorot uniform kernels, zero biases, Glorot
normal for the transposed convolution as the report's code asks — except that Keras cuts
that normal at 2σ and ours at ±2, which for σ ≈ 0.19 cuts nothing; it concerns 81
weights and the committed results were made this way).

The decoder also runs without torch (:func:`synthesize`, numpy float64), so decoding a
file needs no deep-learning framework.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentpress.nn.convlstm import ConvLSTM2d, conv_output_size

KINDS = ("cnn", "convlstm")
MIN_BLOCK, MAX_BLOCK = 16, 64
MAX_CODE_LENGTH = 1024
CHANNELS = 3


@dataclass(frozen=True)
class BlockArchitecture:
    kind: str = "cnn"
    block: int = 32
    code_length: int = 64

    def validate(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}")
        if not MIN_BLOCK <= self.block <= MAX_BLOCK:
            raise ValueError(f"block must be {MIN_BLOCK}-{MAX_BLOCK} pixels, got {self.block}")
        if not 1 <= self.code_length <= MAX_CODE_LENGTH:
            raise ValueError(f"code_length must be 1-{MAX_CODE_LENGTH}, got {self.code_length}")

    @property
    def hidden_side(self) -> int:
        """Side of the decoder's dense output, reshaped to 3 channels: a 3×3 "valid"
        transposed convolution then grows it by 2 to the block size."""
        return self.block - 2

    def decoder_shapes(self) -> list[tuple[int, ...]]:
        """Shapes of the decoder tensors in file order: dense weight (out, in), dense bias,
        transposed-convolution weight (in, out, 3, 3), its bias."""
        hidden = CHANNELS * self.hidden_side ** 2
        return [(hidden, self.code_length), (hidden,), (CHANNELS, CHANNELS, 3, 3), (CHANNELS,)]


def decoder_weight_count(code_length: int, block: int = 32) -> int:
    """S_d / 4 of report 000's criterion: 175,584 for code length 64 and 32×32 blocks."""
    shapes = BlockArchitecture("cnn", block, code_length).decoder_shapes()
    return sum(int(np.prod(shape)) for shape in shapes)


def _glorot(layer: nn.Module) -> nn.Module:
    """Keras' default initialisation: Glorot-uniform kernel, zero bias."""
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


class CNNEncoder(nn.Module):
    """§3.3."""

    def __init__(self, arch: BlockArchitecture):
        super().__init__()
        pooled = (arch.block - 4) // 2
        self.layers = nn.Sequential(
            _glorot(nn.Conv2d(CHANNELS, 32, 3)), nn.Tanh(),
            _glorot(nn.Conv2d(32, 64, 3)), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
            _glorot(nn.Linear(64 * pooled * pooled, arch.code_length)), nn.Tanh())

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        return self.layers(blocks)


class ConvLSTMEncoder(nn.Module):
    """§3.4: three ConvLSTM layers on the block presented as a sequence of length one."""

    def __init__(self, arch: BlockArchitecture):
        super().__init__()
        side = arch.block
        layers = []
        for in_channels, filters in ((CHANNELS, 64), (64, 128), (128, 128)):
            layers.append(ConvLSTM2d(in_channels, filters, 3, stride=2, activation="relu"))
            side = conv_output_size(side, 3, 2)
        self.recurrent = nn.ModuleList(layers)
        self.code = nn.Sequential(nn.Flatten(), _glorot(nn.Linear(128 * side * side, arch.code_length)), nn.Tanh())

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        sequence = blocks[:, None]
        for layer in self.recurrent:
            sequence = layer(sequence)
        return self.code(sequence[:, -1])


class BlockDecoder(nn.Module):
    """Densely connected to the code, then one transposed convolution (both kinds)."""

    def __init__(self, arch: BlockArchitecture):
        super().__init__()
        self.arch = arch
        self.dense = _glorot(nn.Linear(arch.code_length, CHANNELS * arch.hidden_side ** 2))
        self.deconvolution = nn.ConvTranspose2d(CHANNELS, CHANNELS, 3)
        nn.init.trunc_normal_(self.deconvolution.weight, std=(2 / (2 * 9 * CHANNELS)) ** 0.5)
        nn.init.zeros_(self.deconvolution.bias)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        side = self.arch.hidden_side
        hidden = torch.tanh(self.dense(codes)).view(-1, CHANNELS, side, side)
        return torch.sigmoid(self.deconvolution(hidden))

    def tensors(self) -> list[torch.Tensor]:
        """In file order (BlockArchitecture.decoder_shapes)."""
        return [self.dense.weight, self.dense.bias, self.deconvolution.weight, self.deconvolution.bias]


class BlockAutoencoder(nn.Module):
    def __init__(self, arch: BlockArchitecture):
        super().__init__()
        arch.validate()
        self.arch = arch
        self.encoder = CNNEncoder(arch) if arch.kind == "cnn" else ConvLSTMEncoder(arch)
        self.decoder = BlockDecoder(arch)

    def forward(self, blocks: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(blocks))


def synthesize(tensors: list[np.ndarray], codes: np.ndarray, arch: BlockArchitecture) -> np.ndarray:
    """The decoder in numpy float64: codes (n, code_length) → blocks (n, 3, block, block)
    in [0, 1]. ``tensors`` as BlockDecoder.tensors()."""
    dense_weight, dense_bias, kernel, bias = (np.asarray(t, np.float64) for t in tensors)
    side = arch.hidden_side
    # A file's weights are any finite float32 or bounded integers: sums stay finite in
    # float64, and exp may overflow to inf, whose sigmoid is the right limit, 0.
    with np.errstate(over="ignore"):
        hidden = np.tanh(codes @ dense_weight.T + dense_bias).reshape(-1, CHANNELS, side, side)
        out = np.zeros((hidden.shape[0], CHANNELS, arch.block, arch.block))
        for dy in range(3):
            for dx in range(3):
                out[:, :, dy:dy + side, dx:dx + side] += np.einsum("nihw,io->nohw", hidden, kernel[:, :, dy, dx])
        out += bias[None, :, None, None]
        return 1.0 / (1.0 + np.exp(-out))


def to_blocks(pixels: np.ndarray, block: int) -> np.ndarray:
    """H×W×3 with sides multiples of ``block`` → (n, 3, block, block), row-major block order."""
    height, width = pixels.shape[:2]
    grid = pixels.reshape(height // block, block, width // block, block, CHANNELS)
    return np.ascontiguousarray(grid.transpose(0, 2, 4, 1, 3)).reshape(-1, CHANNELS, block, block)


def from_blocks(blocks: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Inverse of :func:`to_blocks`: (rows·columns, 3, b, b) → (rows·b)×(columns·b)×3."""
    block = blocks.shape[-1]
    grid = blocks.reshape(rows, columns, CHANNELS, block, block).transpose(0, 3, 1, 4, 2)
    return grid.reshape(rows * block, columns * block, CHANNELS)
