"""The overfit codec's restoration network (payload version 6): a small convolutional
network, trained on photographs and shipped with the package, that removes the
wavelet's ringing and blur from the decoded 8-bit image before the per-image linear
post-filter (postfilter.py) runs.

    decoded (uint8) − 128 ─▶ space-to-depth ×2 ─▶ 3×3 conv ─ReLU─▶ … ─▶ 3×3 conv
        ─▶ depth-to-space ×2 ─▶ + decoded ─▶ clip to 0…255

It is an integer network: weights and biases are integers, every hidden activation is
an integer in 0…255 (``⌊(acc + 2**(s−1)) / 2**s⌋`` clipped: a ReLU with a ceiling), the
output is an integer correction of each pixel. The first layer's bias is
``b + t·v`` for the *strength* t ∈ 0…STRENGTHS−1 the encoder picks per image and
stores in the file (an image-level conditioning input, as a constant input plane
would be but without its border effects). Each layer's weights keep every partial sum
of its convolution an integer below 2**24 (checked when the network is built), so a
float32 convolution is exact, in any summation order, on every machine and thread
count, like the linear post-filter.

The image is processed in tiles (bands of rows, cut into columns on wide images) with
a margin of one row and column per layer (in the half-resolution grid), which bounds
the decoder's memory at any image size and shape and gives exactly the whole-image
result: a tile's zero padding only reaches its margin, which is dropped.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from latentpress.errors import CorruptPayloadError
from latentpress.nn.tiling import windows

FACTOR = 2
STRENGTHS = 8                     # t = 0 … 7
_CENTRE = 128
_EXACT = 1 << 24                  # float32 holds every integer below this exactly
# Half-resolution positions per tile, margins aside: bounds the activations held at
# once (about 34 MB per 32-channel activation) at any image size; tiles are at most
# _TILE_COLUMNS wide, so a tile is at least 128 rows and its margins cost at most 7%.
_BAND_POSITIONS = 1 << 18
_TILE_COLUMNS = 1 << 11
WEIGHTS = "overfit-restore-v1.safetensors"


@dataclass(frozen=True)
class IntegerConv:
    """A 3×3 convolution of integers: out = ⌊(conv(x, weight) + bias + 2**(shift−1)) / 2**shift⌋."""

    weight: np.ndarray            # (out, in, 3, 3) int64
    bias: np.ndarray              # (out,) int64
    shift: int

    def check(self, input_bound: int) -> None:
        """Every partial sum below 2**24 for inputs of magnitude ≤ input_bound."""
        if self.weight.ndim != 4 or self.weight.shape[2:] != (3, 3) or self.bias.shape != (self.weight.shape[0],):
            raise CorruptPayloadError("restoration network: inconsistent layer shapes")
        if not 1 <= self.shift <= 23:
            raise CorruptPayloadError(f"restoration network: shift {self.shift} out of range")
        worst = input_bound * np.abs(self.weight).sum(axis=(1, 2, 3)) + np.abs(self.bias) + (1 << (self.shift - 1))
        if np.any(worst >= _EXACT):
            raise CorruptPayloadError("restoration network: weights too large for exact float32 arithmetic")


@dataclass(frozen=True)
class RestorationNet:
    """The integer network; ``conditioning`` (first layer's outputs,) is v, added t times
    to the first layer's bias."""

    layers: tuple[IntegerConv, ...]
    conditioning: np.ndarray

    def __post_init__(self) -> None:
        if len(self.layers) < 2 or self.layers[0].weight.shape[1] != 3 * FACTOR ** 2 \
                or self.layers[-1].weight.shape[0] != 3 * FACTOR ** 2:
            raise CorruptPayloadError("restoration network: wrong input or output width")
        for a, b in zip(self.layers, self.layers[1:]):
            if a.weight.shape[0] != b.weight.shape[1]:
                raise CorruptPayloadError("restoration network: layers do not chain")
        if self.conditioning.shape != self.layers[0].bias.shape:
            raise CorruptPayloadError("restoration network: conditioning has the wrong width")
        for strength in (0, STRENGTHS - 1):
            first = self.layers[0]
            IntegerConv(first.weight, first.bias + strength * self.conditioning, first.shift).check(_CENTRE)
        for layer in self.layers[1:]:
            layer.check(255)

    @property
    def margin(self) -> int:
        """Rows of the half-resolution grid a band needs beyond its own, each side."""
        return len(self.layers)

    def macs_per_pixel(self) -> int:
        return sum(layer.weight.size for layer in self.layers) // FACTOR ** 2

    @functools.cached_property
    def _tensors(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer: weights and bias + 2**(s−1), both times 2**−s. A power of two
        scales every product and partial sum exactly (each a multiple of 2**−s below
        2**(24−s)), so the convolution returns acc / 2**s exactly and its floor is the
        shift, with no pass of its own. Channels-last layout: oneDNN's convolutions
        with these few channels run faster in it."""
        return [(torch.from_numpy((layer.weight * 2.0 ** -layer.shift).astype(np.float32))
                 .contiguous(memory_format=torch.channels_last), self._offset(layer, 0))
                for layer in self.layers]

    @functools.cached_property
    def _first_offsets(self) -> list[torch.Tensor]:
        """The first layer's offset at each strength."""
        return [self._offset(self.layers[0], strength) for strength in range(STRENGTHS)]

    def _offset(self, layer: IntegerConv, strength: int) -> torch.Tensor:
        """(bias + strength·v + 2**(s−1)) · 2**−s: summed in int64 (below 2**24, checked
        in __post_init__), so exact in float32."""
        bias = layer.bias + (strength * self.conditioning if strength else 0) + (1 << (layer.shift - 1))
        return torch.from_numpy((bias * 2.0 ** -layer.shift).astype(np.float32))

    def __call__(self, image: np.ndarray, strength: int) -> np.ndarray:
        """The restored uint8 image (H×W×3) at strength 0 … STRENGTHS−1."""
        if not 0 <= strength < STRENGTHS:
            raise CorruptPayloadError(f"restoration strength {strength} out of range")
        height, width = image.shape[:2]
        if height == 0 or width == 0:
            return image.copy()
        # Even sides (replicated edge), then space-to-depth, a tile at a time.
        padded = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        rows, columns = padded.shape[0] // FACTOR, padded.shape[1] // FACTOR
        tile_columns = min(columns, _TILE_COLUMNS)
        band = max(1, _BAND_POSITIONS // tile_columns)
        out = np.empty_like(padded)
        f = FACTOR
        with torch.inference_mode():
            for w in windows(rows, columns, band, tile_columns, self.margin):
                pixels = torch.from_numpy(padded[f * w.y0:f * w.y1, f * w.x0:f * w.x1]).permute(2, 0, 1)[None].float()
                grid = F.pixel_unshuffle(pixels - _CENTRE, f).contiguous(memory_format=torch.channels_last)
                correction = self._run(grid, strength)[..., w.top - w.y0:w.bottom - w.y0, w.left - w.x0:w.right - w.x0]
                restored = pixels[..., f * (w.top - w.y0):f * (w.bottom - w.y0), f * (w.left - w.x0):f * (w.right - w.x0)]
                restored = restored.add_(F.pixel_shuffle(correction, f)).clamp_(0, 255)
                out[f * w.top:f * w.bottom, f * w.left:f * w.right] = restored[0].permute(1, 2, 0).numpy()
        return np.ascontiguousarray(out[:height, :width])

    def _run(self, h: torch.Tensor, strength: int) -> torch.Tensor:
        last = len(self._tensors) - 1
        for index, (weight, offset) in enumerate(self._tensors):
            if index == 0:
                offset = self._first_offsets[strength]
            h = F.conv2d(h, weight, offset, padding=1).floor_()
            if index < last:
                h.clamp_(0, 255)
        return h


def reference(net: RestorationNet, image: np.ndarray, strength: int) -> np.ndarray:
    """The network in int64 numpy arithmetic, whole image at once (for tests): what
    RestorationNet.__call__ must equal exactly."""
    height, width = image.shape[:2]
    padded = np.pad(image, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge").astype(np.int64) - _CENTRE
    h2, w2 = padded.shape[0] // FACTOR, padded.shape[1] // FACTOR
    # Space-to-depth in pixel_unshuffle's channel order: c·4 + dy·2 + dx.
    h = padded.reshape(h2, FACTOR, w2, FACTOR, 3).transpose(4, 1, 3, 0, 2).reshape(3 * FACTOR ** 2, h2, w2)
    x = h
    last = len(net.layers) - 1
    for index, layer in enumerate(net.layers):
        bias = layer.bias + (strength * net.conditioning if index == 0 else 0)
        p = np.pad(h, ((0, 0), (1, 1), (1, 1)))
        acc = np.zeros((layer.weight.shape[0], h2, w2), np.int64)
        for dy in range(3):
            for dx in range(3):
                acc += np.einsum("oi,ihw->ohw", layer.weight[:, :, dy, dx], p[:, dy:dy + h2, dx:dx + w2])
        h = (acc + bias[:, None, None] + (1 << (layer.shift - 1))) >> layer.shift
        if index < last:
            h = np.clip(h, 0, 255)
    out = np.clip(x + h + _CENTRE, 0, 255)
    out = out.reshape(3, FACTOR, FACTOR, h2, w2).transpose(3, 1, 4, 2, 0).reshape(2 * h2, 2 * w2, 3)
    return out[:height, :width].astype(np.uint8)


def from_tensors(tensors: dict[str, np.ndarray]) -> RestorationNet:
    """The network from its safetensors tensors (train/restoration.py export)."""
    layers = []
    while f"layer{len(layers)}.weight" in tensors:
        index = len(layers)
        shift = tensors[f"layer{index}.shift"]
        if shift.shape != (1,):
            raise CorruptPayloadError("restoration network: a layer's shift must be one integer")
        layers.append(IntegerConv(tensors[f"layer{index}.weight"].astype(np.int64),
                                  tensors[f"layer{index}.bias"].astype(np.int64), int(shift[0])))
    return RestorationNet(tuple(layers), tensors["conditioning"].astype(np.int64))


@functools.cache
def shipped() -> RestorationNet:
    """The network shipped with the package (its SHA-256 checked on loading)."""
    from safetensors.numpy import load

    from latentpress.weights import weights_bytes

    return from_tensors(load(weights_bytes(WEIGHTS)))
