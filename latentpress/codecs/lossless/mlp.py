"""Codec ``mlp-lossless``: the lossless coder of report 001 §3 ("Image Compression Using
Deep Learning"; the report names no authors), as published.

A raster-scan causal context of the same colour channel (60 pixels by default: 5 rows
of 11 above and 5 to the left), an MLP with ReLUs trained on the image with MSE, its
prediction rounded, the residuals (mod 256) coded with one canonical Huffman table.
The quantized network and the table are in the file.

Where it departs from the report: the context is given relative to LOCO-I's median
edge prediction and the network predicts the correction to that prediction (a
normalization: it sees the same pixels); contexts stop at tile borders (context.py) so
that decoding is vectorized; and the network runs in integers (common.py). Where
latentpress._native is built, the whole decode runs there in one call; the numpy loop
is the definition.

Payload version 1. Header parameters: common.LosslessHeader. Sections:

``NETW``  the network's integer weights (entropy/integer_tensors.py, layout "tensors")
``HUFF``  the Huffman table and the residuals (entropy/huffman.py ``encode_with_table``)
"""

from __future__ import annotations

import numpy as np
import torch

from latentpress import progress
from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.lossless import context as ctx
from latentpress.codecs.lossless.common import (
    CHUNK,
    FRAC_BITS,
    SEARCH_PIXELS,
    TRAINING_PIXELS,
    WEIGHT_PRECISIONS,
    LosslessHeader,
    LosslessParams,
    MlpLosslessParams,
    PredictorNet,
    auto_hidden,
    check_size,
    check_work,
    float_weights,
    image_planes,
    integer_net,
    net_shapes,
    parse_context,
    sample,
)
from latentpress.container import Header, Section
from latentpress.entropy import huffman
from latentpress.entropy.integer_tensors import decode_tensors, encode_tensors
from latentpress.errors import CorruptPayloadError, ParameterError
from latentpress.nn import native
from latentpress.nn.fixed_point import IntegerMLP
from latentpress.nn.precision import search_precision
from latentpress.train.lossless import train_predictor


@register
class MlpLosslessCodec(Codec):
    name = "mlp-lossless"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 48 << 20
    decode_bytes_per_pixel = 112
    version = 1
    lossless = True
    description = ("lossless, report 001 §3: per-image MLP predicting each pixel from a 60-pixel causal "
                   "context (MSE), residuals Huffman-coded")
    Params = MlpLosslessParams
    HeaderParams = LosslessHeader

    def encode(self, image: np.ndarray, params: LosslessParams) -> Payload:
        height, width = image.shape[:2]
        check_size(height, width)
        shape = parse_context(params.context)
        hidden = params.hidden or auto_hidden(height * width)
        planes, neutrals = image_planes(image, transform=False)
        channels = len(planes)
        check_work([shape.size] * channels, hidden, 1, height * width)
        rows, cols = sample(height, width, TRAINING_PIXELS // channels, params.seed)
        # One network for every channel: the channels' contexts, stacked.
        features, bases = zip(*(_mlp_features(planes[p], rows, cols, shape) for p in range(channels)))
        features, bases = np.concatenate(features).astype(np.int16), np.concatenate(bases)
        targets = np.concatenate([planes[p, rows, cols] for p in range(channels)])
        torch.manual_seed(params.seed)              # the network's initial weights: reproducible encodes
        net = PredictorNet(shape.size, hidden, 1)
        train_predictor(net, features, targets - bases, params.iterations, params.time_budget, params.seed)
        # Weight precision: the one that minimizes weight bits + the residuals' empirical
        # entropy (on the first SEARCH_PIXELS of the training sample).
        search = slice(0, SEARCH_PIXELS)

        def bits(precision: int, integers: list[np.ndarray]):
            try:
                integer = integer_net(integers, precision)
            except CorruptPayloadError:
                return None           # beyond what the integer network can run exactly
            residuals = (targets[search] - _mlp_predict(integer, features[search].astype(np.int64), bases[search])) % 256
            counts = np.bincount(residuals, minlength=256)
            probabilities = counts[counts > 0] / residuals.size
            entropy = -np.sum(probabilities * np.log2(probabilities)) * channels * height * width
            return entropy + 8 * len(encode_tensors(integers)), integer

        with progress.task("mlp-lossless: choosing the network's precision", total=len(WEIGHT_PRECISIONS)) as bar:
            choice = search_precision(float_weights(net), WEIGHT_PRECISIONS, progress.advancing(bar, bits))
        if choice is None:
            raise ParameterError("training diverged: the network weights are too large to store")
        precision, integers, integer = choice.precision, choice.integers, choice.extra
        del features, targets, bases
        residuals = np.empty((channels, height * width), np.int64)
        all_rows, all_cols = (a.ravel().astype(np.int64) for a in np.mgrid[0:height, 0:width])
        with progress.task("mlp-lossless: predicting the pixels", total=-(-all_rows.size // CHUNK),
                           unit="chunk") as bar:
            for start in range(0, all_rows.size, CHUNK):
                r, c = all_rows[start:start + CHUNK], all_cols[start:start + CHUNK]
                for p in range(channels):
                    residuals[p, start:start + r.size] = (planes[p, r, c] - _mlp_predict(
                        integer, *_mlp_features(planes[p], r, c, shape))) % 256
                bar.advance()
        with progress.task("mlp-lossless: Huffman coding"):
            coded = huffman.encode_with_table(residuals.ravel())
        return Payload([Section("NETW", encode_tensors(integers)), Section("HUFF", coded)],
                       {"context": f"{shape.rows}x{shape.half_width}", "hidden": hidden, "step": precision})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        check_size(header.height, header.width)
        stored = self.header_params(header)
        shape, hidden = stored.shape, stored.hidden
        net_data, residual_data = self.expect_sections(sections, ["NETW", "HUFF"])
        check_work([shape.size] * header.channels, hidden, 1, header.height * header.width)
        net = integer_net(decode_tensors(net_data, net_shapes(shape.size, hidden, 1), "NETW"), stored.precision)
        height, width, channels = header.height, header.width, header.channels
        with progress.task("decoding the residuals"):
            residuals = huffman.decode_with_table(residual_data, expected_count=channels * height * width)
        if residuals.size and (residuals.min() < 0 or residuals.max() > 255):
            raise CorruptPayloadError("residuals out of range")
        residuals = residuals.reshape(channels, height, width).astype(np.int64)
        compiled = native.module()
        if compiled is not None:                  # the loop below, compiled (latentpress/_native.c)
            planes = np.zeros((channels, height, width), np.int16)
            with progress.task("predicting the pixels"):
                compiled.mlp_lossless(planes, residuals, height, width, ctx.TILE_ROWS, ctx.TILE_COLS,
                                      np.array(shape.offsets, np.int32),
                                      native.network_spec(net), FRAC_BITS)
            return (planes[0] if channels == 1 else np.moveaxis(planes, 0, -1)).astype(np.uint8)
        planes = np.zeros((channels, height, width), np.int64)
        with progress.task("predicting the pixels", unit="wavefront") as bar:
            for rows, cols in ctx.wavefronts(height, width, shape.row_stride):
                features, bases = zip(*(_mlp_features(planes[p], rows, cols, shape) for p in range(channels)))
                predicted = _mlp_predict(net, np.concatenate(features), np.concatenate(bases)).reshape(channels, -1)
                for p in range(channels):
                    planes[p, rows, cols] = (predicted[p] + residuals[p, rows, cols]) % 256
                bar.advance()
        return (planes[0] if channels == 1 else np.moveaxis(planes, 0, -1)).astype(np.uint8)


def _mlp_features(plane: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  shape: ctx.ContextShape) -> tuple[np.ndarray, np.ndarray]:
    """The context relative to LOCO-I's median edge prediction, and that prediction
    (the network predicts the correction: a normalization of report 001's MLP, which
    sees the same pixels)."""
    context = ctx.gather(plane, rows, cols, shape.offsets, 128)
    base = ctx.median_edge(context, shape.offsets)
    return context - base[:, None], base


def _mlp_predict(net: IntegerMLP, features: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Rounded, clipped prediction (pixel value)."""
    out = net(features << FRAC_BITS)[:, 0]
    return np.clip(((out + (1 << (FRAC_BITS - 1))) >> FRAC_BITS) + base, 0, 255)
