"""What the two lossless codecs share: their parameters and header, the predictor
network, and its integer form.

Both train a small MLP on the image being coded (latentpress/train/lossless.py) and
store it as integers at 2**−precision (latentpress.nn.precision), the precision chosen
per image for the fewest total bits; in the encoder's final pass and in the decoder it
runs in integer arithmetic (latentpress.nn.fixed_point), so the decoder derives exactly
the encoder's predictions on any machine. The header (LosslessHeader) holds
``context`` ("RxH": rows above, half width), ``hidden`` (the width of the two hidden
layers) and ``step`` (the weight precision).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentpress.codecs.lossless import context as ctx
from latentpress.container import active_limits
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.nn.fixed_point import IntegerLinear, IntegerMLP

FRAC_BITS = 14
WEIGHT_PRECISIONS = tuple(range(6, FRAC_BITS + 1))     # weights at 2**−precision
INPUT_SCALE = 32.0                 # the float networks see pixel differences / 32
MAX_PIXELS = 1 << 24
MAX_MACS_PER_PIXEL = 1 << 15       # defaults: lossless 5,664, mlp-lossless 8,928 (RGB)
MAX_CONTEXT_ROWS = 8
MAX_HIDDEN = 128
TRAINING_PIXELS = 1 << 18          # networks train on a random sample of this many pixels
SEARCH_PIXELS = 1 << 16            # the weight-precision search estimates bits on this many
CHUNK = 1 << 16                    # the final pass predicts this many pixels at a time
_CONTEXT_PATTERN = re.compile(r"(\d)x(\d)", re.ASCII)


def parse_context(text: str) -> ctx.ContextShape:
    if not (match := _CONTEXT_PATTERN.fullmatch(text)):
        raise CorruptPayloadError(f"invalid context shape {text!r}")
    rows, half = int(match[1]), int(match[2])
    if not (1 <= rows <= MAX_CONTEXT_ROWS and 1 <= half <= MAX_CONTEXT_ROWS):
        raise CorruptPayloadError(f"context shape {text!r} out of range (1-{MAX_CONTEXT_ROWS} each)")
    return ctx.ContextShape(rows, half)


@dataclass(frozen=True)
class LosslessParams:
    iterations: int = 3000
    """Training iterations (minibatches of 8192 pixels)."""
    hidden: int = 0
    """Width of the two hidden layers of each plane's network (0: from the image size,
    8 for small images up to 32 from 0.26 megapixels: the weights are in the file)."""
    context: str = "2x2"
    """Causal context "RxH": R rows above of 2H+1 pixels, and H to the left."""
    time_budget: float = 0.0
    """Stop training after this many seconds (0: no limit)."""
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.iterations <= 1_000_000:
            raise ParameterError(f"iterations must be 1-1000000, got {self.iterations}")
        if not 0 <= self.hidden <= MAX_HIDDEN:
            raise ParameterError(f"hidden must be 0-{MAX_HIDDEN}, got {self.hidden}")
        try:
            parse_context(self.context)
        except CorruptPayloadError as exc:
            raise ParameterError(str(exc)) from None
        if self.time_budget < 0:
            raise ParameterError("time_budget must not be negative")
        if not 0 <= self.seed < 2 ** 63:
            raise ParameterError(f"seed must be 0 to 2**63 - 1, got {self.seed}")


@dataclass(frozen=True)
class MlpLosslessParams(LosslessParams):
    iterations: int = 1500
    """Training iterations (minibatches of 8192 pixels)."""
    context: str = "5x5"
    """Causal context "RxH" (report 001's 60 pixels: 5 rows of 11 above, 5 to the left)."""


@dataclass(frozen=True)
class LosslessHeader:
    """The header of both codecs. ``step`` is the weight precision (the networks'
    weights are integers times 2**−step); the stored key keeps that name."""

    context: str
    hidden: int
    step: int

    def check(self) -> None:
        parse_context(self.context)
        if not 1 <= self.hidden <= MAX_HIDDEN:
            raise CorruptPayloadError(f"invalid hidden width {self.hidden!r}")
        if self.step not in WEIGHT_PRECISIONS:
            raise CorruptPayloadError(f"invalid weight precision (step) {self.step!r}")

    @property
    def shape(self) -> ctx.ContextShape:
        return parse_context(self.context)

    @property
    def precision(self) -> int:
        return self.step


class PredictorNet(nn.Module):
    def __init__(self, inputs: int, hidden: int, outputs: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(inputs, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, outputs)])
        with torch.no_grad():
            self.layers[-1].weight.mul_(0.01)
            self.layers[-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x / INPUT_SCALE
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)

    def tensors(self) -> list[torch.Tensor]:
        return [t for layer in self.layers for t in (layer.weight, layer.bias)]


def float_weights(net: PredictorNet) -> list[np.ndarray]:
    """The network's weights as stored: the input scale folded into the first layer."""
    tensors = [t.detach().numpy().astype(np.float64) for t in net.tensors()]
    tensors[0] = tensors[0] / INPUT_SCALE
    return tensors


def integer_net(integers: list[np.ndarray], precision: int) -> IntegerMLP:
    shift = FRAC_BITS - precision
    layers = [IntegerLinear(integers[2 * k] << shift, integers[2 * k + 1] << shift, relu=k < 2) for k in range(3)]
    return IntegerMLP(tuple(layers), FRAC_BITS)


def net_shapes(inputs: int, hidden: int, outputs: int) -> list[tuple[int, ...]]:
    return [(hidden, inputs), (hidden,), (hidden, hidden), (hidden,), (outputs, hidden), (outputs,)]


def check_size(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise LimitError(f"the lossless codecs code images up to {MAX_PIXELS:,} pixels; this one has {height * width:,}")


def auto_hidden(pixels: int) -> int:
    return int(min(32, max(8, math.sqrt(pixels) / 16)))


def check_work(inputs: list[int], hidden: int, outputs: int, pixels: int) -> None:
    """Refuse networks whose decoding would take more than MAX_MACS_PER_PIXEL per pixel
    (a small file must not be able to ask for hours of work)."""
    macs = sum(n * hidden + hidden * hidden + hidden * outputs for n in inputs)
    active_limits().check_macs("lossless", macs)
    if macs > MAX_MACS_PER_PIXEL:
        raise LimitError(f"the network asks for {macs:,} multiply-adds per pixel "
                         f"(at most {MAX_MACS_PER_PIXEL:,}; {pixels:,} pixels)")


def image_planes(image: np.ndarray, transform: bool) -> tuple[np.ndarray, list[int]]:
    """(P, H, W) int64 planes and their neutral values."""
    if image.ndim == 2:
        return image[None].astype(np.int64), [128]
    if transform:
        return ctx.rgb_to_ycocg(image), [128, 0, 0]
    return np.moveaxis(image, -1, 0).astype(np.int64), [128, 128, 128]


def sample(height: int, width: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of up to ``count`` distinct random pixels (all of a small image)."""
    total = height * width
    flat = np.arange(total) if total <= count else \
        np.random.default_rng(seed).choice(total, count, replace=False)
    return flat // width, flat % width
