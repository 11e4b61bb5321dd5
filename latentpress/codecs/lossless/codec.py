"""Codecs ``lossless`` and ``mlp-lossless``: predictive coding with small networks trained
on the one image.

``mlp-lossless`` is the lossless coder of report 001 §3 ("Image Compression Using Deep
Learning"; the report names no authors): a raster-scan causal context (60 pixels by
default: 5 rows of 11 above and 5 to the left) of the same colour channel, an MLP with
ReLUs trained on the image with MSE, its prediction rounded, the residuals (mod 256)
coded with one canonical Huffman table. The quantized network and the table are in the
file. Where it departs from the report: the context is given relative to LOCO-I's
median edge prediction and the network predicts the correction to that prediction (a
normalization: it sees the same pixels); contexts stop at tile borders (context.py) so
that decoding is vectorized; and the network runs in integers (below).

``lossless`` extends that method with what the field has shown to be stronger (see
docs/codecs/lossless.md for what each part gains): a reversible colour transform
(YCoCg-R), a network per plane that predicts a discretized Laplace (mean relative to
LOCO-I's median edge predictor, and scale) from the causal neighbours of its plane and
from the already decoded planes of the same pixel, trained on the code length itself
(latentpress/train/lossless.py), and range coding under those distributions.

In both, the network that drives the decoder runs in integer arithmetic
(latentpress.nn.fixed_point) in the encoder's final pass and in the decoder, so the
decoder derives exactly the encoder's predictions on any machine; its weights are
integers at 2**−precision, the precision chosen per image for the fewest total bits.
Decoding runs over a tiled wavefront (context.py): every pixel whose context is known is
decoded in the same vectorized call. Where latentpress._native is built, both decoders
run their loops there instead (_NativeLossless, and one call for mlp-lossless); the
numpy loops are the definition.

Payload version 1 (both codecs). Header parameters (LosslessHeader): ``context`` ("RxH":
rows above, half width), ``hidden`` (width of the two hidden layers), ``step`` (the
weight precision: weights are integers times 2**−step). Sections:

``mlp-lossless``: ``NETW`` (the network's integer weights, entropy/integer_tensors.py,
layout "tensors"), ``HUFF`` (Huffman table and residuals, entropy/huffman.py
``encode_with_table``).

``lossless``: ``NETW`` (the networks of every plane, in plane order), ``PIXL`` (the
planes' values, range-coded in wavefront order: wavefront by wavefront, plane by plane).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.lossless import context as ctx
from latentpress.container import Header, Section, active_limits
from latentpress.entropy import huffman, tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder, guarded
from latentpress.entropy.integer_tensors import decode_tensors, encode_tensors
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.nn import native
from latentpress.nn.fixed_point import IntegerLinear, IntegerMLP
from latentpress.nn.precision import search_precision
from latentpress.train.lossless import train_planes, train_predictor

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


def _parse_context(text: str) -> ctx.ContextShape:
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
            _parse_context(self.context)
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
        _parse_context(self.context)
        if not 1 <= self.hidden <= MAX_HIDDEN:
            raise CorruptPayloadError(f"invalid hidden width {self.hidden!r}")
        if self.step not in WEIGHT_PRECISIONS:
            raise CorruptPayloadError(f"invalid weight precision (step) {self.step!r}")

    @property
    def shape(self) -> ctx.ContextShape:
        return _parse_context(self.context)


class _Net(nn.Module):
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


def _float_weights(net: _Net) -> list[np.ndarray]:
    """The network's weights as stored: the input scale folded into the first layer."""
    tensors = [t.detach().numpy().astype(np.float64) for t in net.tensors()]
    tensors[0] = tensors[0] / INPUT_SCALE
    return tensors


def _integer_net(integers: list[np.ndarray], precision: int) -> IntegerMLP:
    shift = FRAC_BITS - precision
    layers = [IntegerLinear(integers[2 * k] << shift, integers[2 * k + 1] << shift, relu=k < 2) for k in range(3)]
    return IntegerMLP(tuple(layers), FRAC_BITS)


def _net_shapes(inputs: int, hidden: int, outputs: int) -> list[tuple[int, ...]]:
    return [(hidden, inputs), (hidden,), (hidden, hidden), (hidden,), (outputs, hidden), (outputs,)]


def _check_size(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise LimitError(f"the lossless codecs code images up to {MAX_PIXELS:,} pixels; this one has {height * width:,}")


def _auto_hidden(pixels: int) -> int:
    return int(min(32, max(8, math.sqrt(pixels) / 16)))


def _check_work(inputs: list[int], hidden: int, outputs: int, pixels: int) -> None:
    """Refuse networks whose decoding would take more than MAX_MACS_PER_PIXEL per pixel
    (a small file must not be able to ask for hours of work)."""
    macs = sum(n * hidden + hidden * hidden + hidden * outputs for n in inputs)
    active_limits().check_macs("lossless", macs)
    if macs > MAX_MACS_PER_PIXEL:
        raise LimitError(f"the network asks for {macs:,} multiply-adds per pixel "
                         f"(at most {MAX_MACS_PER_PIXEL:,}; {pixels:,} pixels)")


def _image_planes(image: np.ndarray, transform: bool) -> tuple[np.ndarray, list[int]]:
    """(P, H, W) int64 planes and their neutral values."""
    if image.ndim == 2:
        return image[None].astype(np.int64), [128]
    if transform:
        return ctx.rgb_to_ycocg(image), [128, 0, 0]
    return np.moveaxis(image, -1, 0).astype(np.int64), [128, 128, 128]


# ---- lossless: conditional Laplace per plane, range-coded ------------------------------

def _plane_features(planes: np.ndarray, p: int, rows: np.ndarray, cols: np.ndarray,
                    shape: ctx.ContextShape, neutrals: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Network inputs of plane p at (rows, cols) and its base prediction (MED).

    Plane p's neighbours minus its MED; for every earlier plane q: q's neighbours minus
    q's value at the pixel, and that value minus q's MED."""
    offsets = shape.offsets
    own = ctx.gather(planes[p], rows, cols, offsets, neutrals[p])
    base = ctx.median_edge(own, offsets)
    features = [own - base[:, None]]
    width = planes.shape[2]
    for q in range(p):
        theirs = ctx.gather(planes[q], rows, cols, offsets, neutrals[q])
        value = planes[q].ravel()[rows * width + cols]
        features += [theirs - value[:, None], (value - ctx.median_edge(theirs, offsets))[:, None]]
    # The decoder keeps its planes in int16 (values within ±255); the networks work in int64.
    return np.concatenate(features, axis=1).astype(np.int64), base.astype(np.int64)


def _predict_tables(net: IntegerMLP, features: np.ndarray, base: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = net(features << FRAC_BITS)
    return tables.params_to_tables(out[:, 0] + (base << FRAC_BITS), out[:, 1], FRAC_BITS)


def _encode_planes(planes: np.ndarray, nets: list[IntegerMLP], shape: ctx.ContextShape,
                   neutrals: list[int]) -> bytes:
    """The PIXL section: every plane's values under its integer network, range-coded in
    the decoder's order (a coder call per wavefront and plane)."""
    height, width = planes.shape[1:]
    # Predictions of every pixel in decoding order, a chunk at a time.
    order_rows, order_cols, bounds = ctx.schedule(height, width, shape.row_stride)
    centres = np.empty((len(planes), order_rows.size), np.int32)
    ids = np.empty((len(planes), order_rows.size), np.int32)
    for start in range(0, order_rows.size, CHUNK):
        r, c = order_rows[start:start + CHUNK], order_cols[start:start + CHUNK]
        for p, net in enumerate(nets):
            features, base = _plane_features(planes, p, r, c, shape, neutrals)
            centres[p, start:start + r.size], ids[p, start:start + r.size] = _predict_tables(net, features, base)
    symbols = planes[:, order_rows, order_cols]
    encoder = EntropyEncoder()
    for start, stop in zip(bounds[:-1], bounds[1:]):
        for p in range(len(planes)):
            encoder.encode_parametric(symbols[p, start:stop], Family.LAPLACE,
                                      centres[p, start:stop].astype(np.int64), ids[p, start:stop].astype(np.int64))
    return encoder.finish()


_PLANE_LIMITS = ((0, 255), (-255, 255), (-255, 255))       # Y (or grey), Co, Cg


def _in_range(values: np.ndarray, low: int, high: int) -> np.ndarray:
    if values.size and (values.min() < low or values.max() > high):
        raise CorruptPayloadError("decoded pixel out of range")
    return values


class _NativeLossless:
    """The decode loop of LosslessCodec, compiled (latentpress/_native.c): one call per
    wavefront and plane gathers the contexts, runs the plane's
    network, groups the pixels by table, has the entropy coder decode each group and
    writes the values. The same numbers as the numpy loop, which is the definition."""

    def __init__(self, module, planes: np.ndarray, shape: ctx.ContextShape, nets: list[IntegerMLP],
                 neutrals: list[int]) -> None:
        nplanes, height, width = planes.shape
        tiles = -(-height // ctx.TILE_ROWS) * -(-width // ctx.TILE_COLS)
        largest = tiles * min(height, ctx.TILE_ROWS)               # one pixel per tile row and wavefront
        self.planes, self.nplanes = planes, nplanes
        self.centres, self.ids, self.order, self.positions = (np.empty(largest, np.int64) for _ in range(4))
        self.index = np.empty(largest, np.int32)
        ntables = tables.NUM_SCALES * tables.NUM_OFFSETS
        limits = _PLANE_LIMITS[:nplanes]
        self.loop = module.Lossless(
            planes, height, width, ctx.TILE_ROWS, ctx.TILE_COLS, np.array(shape.offsets, np.int32),
            shape.row_stride, tuple(neutrals),
            tuple(low for low, _ in limits), tuple(high for _, high in limits),
            tuple(native.network_spec(net) for net in nets), tables.log_scale_thresholds(FRAC_BITS),
            np.ascontiguousarray(tables.radii(Family.LAPLACE), np.int64), FRAC_BITS, tables.NUM_OFFSETS,
            tables.OFFSET_STEPS, self.centres, self.ids, self.order, np.empty(ntables, np.int64),
            np.empty(ntables, np.int64), self.index, self.positions)

    def decode(self, decoder: EntropyDecoder) -> None:
        run, flat = self.loop.run, self.planes.reshape(self.nplanes, -1)
        decode, models, make = decoder.group_decoder(Family.LAPLACE)
        for wavefront in range(self.loop.steps()):                 # steps(): the number of wavefronts
            for p in range(self.nplanes):
                count, status = guarded(run, wavefront, p, decode, models, make)
                if status == 1:                   # an escape symbol: the general path
                    values = decoder.resolve_groups(Family.LAPLACE, self.centres[:count], self.ids[:count],
                                                    self.order[:count], self.index[:count])
                    flat[p, self.positions[:count]] = _in_range(values, *_PLANE_LIMITS[p])
                elif status:
                    raise CorruptPayloadError("decoded pixel out of range")


@register
class LosslessCodec(Codec):
    name = "lossless"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 16 << 20
    decode_bytes_per_pixel = 40
    version = 1
    lossless = True
    description = ("lossless, extends report 001 §3: YCoCg-R, a per-image network per plane predicting a "
                   "Laplace from causal neighbours and decoded planes, range-coded (bit-exact integer inference)")
    Params = LosslessParams
    HeaderParams = LosslessHeader

    def encode(self, image: np.ndarray, params: LosslessParams) -> Payload:
        height, width = image.shape[:2]
        _check_size(height, width)
        shape = _parse_context(params.context)
        hidden = params.hidden or _auto_hidden(height * width)
        planes, neutrals = _image_planes(image, transform=True)
        _check_work([shape.size + p * (shape.size + 1) for p in range(len(planes))], hidden, 2, height * width)
        rows, cols = _sample(height, width, TRAINING_PIXELS, params.seed)
        data = [_plane_features(planes, p, rows, cols, shape, neutrals) for p in range(len(planes))]
        targets = [planes[p, rows, cols] - base for p, (_, base) in enumerate(data)]
        torch.manual_seed(params.seed)              # the networks' initial weights: reproducible encodes
        nets = [_Net(f.shape[1], hidden, 2) for f, _ in data]
        train_planes(nets, [f for f, _ in data], targets, params.iterations, params.time_budget, params.seed)
        # Weight precision: the one that minimizes weight bits + the pixels' bits
        # (estimated on the first SEARCH_PIXELS of the training sample).
        search = slice(0, SEARCH_PIXELS)
        sizes = [len(net.tensors()) for net in nets]

        def bits(precision: int, flat: list[np.ndarray]):
            integers = [flat[sum(sizes[:p]):sum(sizes[:p + 1])] for p in range(len(nets))]
            try:
                integer_nets = [_integer_net(w, precision) for w in integers]
            except CorruptPayloadError:
                return None           # beyond what the integer network can run exactly
            pixel_bits = sum(_ideal_bits(planes[p, rows[search], cols[search]],
                                         *_predict_tables(n, f[search], base[search]))
                             for p, (n, (f, base)) in enumerate(zip(integer_nets, data)))
            return pixel_bits * (height * width) / rows[search].size + 8 * len(encode_tensors(flat)), integer_nets

        choice = search_precision([t for net in nets for t in _float_weights(net)], WEIGHT_PRECISIONS, bits)
        if choice is None:
            raise ParameterError("training diverged: the network weights are too large to store")
        precision, integer_nets = choice.precision, choice.extra
        del data, targets
        sections = [Section("NETW", encode_tensors(choice.integers)),
                    Section("PIXL", _encode_planes(planes, integer_nets, shape, neutrals))]
        return Payload(sections, {"context": f"{shape.rows}x{shape.half_width}", "hidden": hidden,
                                  "step": precision})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        _check_size(header.height, header.width)
        stored = self.header_params(header)
        shape, hidden = stored.shape, stored.hidden
        net_data, pixel_data = self.expect_sections(sections, ["NETW", "PIXL"])
        colour = header.channels == 3
        neutrals = [128, 0, 0] if colour else [128]
        inputs = [shape.size + p * (shape.size + 1) for p in range(len(neutrals))]
        _check_work(inputs, hidden, 2, header.height * header.width)
        tensors = decode_tensors(net_data, [s for n in inputs for s in _net_shapes(n, hidden, 2)], "NETW")
        nets = [_integer_net(tensors[6 * p:6 * p + 6], stored.step) for p in range(len(neutrals))]
        height, width = header.height, header.width
        planes = np.zeros((len(neutrals), height, width), np.int16)      # YCoCg-R values fit in ±255
        decoder = EntropyDecoder(pixel_data)
        limits = _PLANE_LIMITS[:len(neutrals)]
        compiled = native.module()
        if compiled is not None:
            _NativeLossless(compiled, planes, shape, nets, neutrals).decode(decoder)
        else:
            for rows, cols in ctx.wavefronts(height, width, shape.row_stride):
                for p, net in enumerate(nets):
                    features, base = _plane_features(planes, p, rows, cols, shape, neutrals)
                    centres, ids = _predict_tables(net, features, base)
                    planes[p, rows, cols] = _in_range(decoder.decode_parametric(Family.LAPLACE, centres, ids),
                                                      *limits[p])
        decoder.finish()
        pixels = ctx.ycocg_to_rgb(planes) if colour else planes[0]
        if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
            raise CorruptPayloadError("decoded colour out of range")
        return pixels.astype(np.uint8)


def _ideal_bits(symbols: np.ndarray, centres: np.ndarray, ids: np.ndarray) -> float:
    return tables.ideal_bits(Family.LAPLACE, symbols, centres, ids)


def _sample(height: int, width: int, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of up to ``count`` distinct random pixels (all of a small image)."""
    total = height * width
    flat = np.arange(total) if total <= count else \
        np.random.default_rng(seed).choice(total, count, replace=False)
    return flat // width, flat % width


# ---- mlp-lossless: report 001's MSE predictor + Huffman ---------------------------------

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
        _check_size(height, width)
        shape = _parse_context(params.context)
        hidden = params.hidden or _auto_hidden(height * width)
        planes, neutrals = _image_planes(image, transform=False)
        channels = len(planes)
        _check_work([shape.size] * channels, hidden, 1, height * width)
        rows, cols = _sample(height, width, TRAINING_PIXELS // channels, params.seed)
        # One network for every channel: the channels' contexts, stacked.
        features, bases = zip(*(_mlp_features(planes[p], rows, cols, shape) for p in range(channels)))
        features, bases = np.concatenate(features).astype(np.int16), np.concatenate(bases)
        targets = np.concatenate([planes[p, rows, cols] for p in range(channels)])
        torch.manual_seed(params.seed)              # the network's initial weights: reproducible encodes
        net = _Net(shape.size, hidden, 1)
        train_predictor(net, features, targets - bases, params.iterations, params.time_budget, params.seed)
        # Weight precision: the one that minimizes weight bits + the residuals' empirical
        # entropy (on the first SEARCH_PIXELS of the training sample).
        search = slice(0, SEARCH_PIXELS)

        def bits(precision: int, integers: list[np.ndarray]):
            try:
                integer = _integer_net(integers, precision)
            except CorruptPayloadError:
                return None           # beyond what the integer network can run exactly
            residuals = (targets[search] - _mlp_predict(integer, features[search].astype(np.int64), bases[search])) % 256
            counts = np.bincount(residuals, minlength=256)
            probabilities = counts[counts > 0] / residuals.size
            entropy = -np.sum(probabilities * np.log2(probabilities)) * channels * height * width
            return entropy + 8 * len(encode_tensors(integers)), integer

        choice = search_precision(_float_weights(net), WEIGHT_PRECISIONS, bits)
        if choice is None:
            raise ParameterError("training diverged: the network weights are too large to store")
        precision, integers, integer = choice.precision, choice.integers, choice.extra
        del features, targets, bases
        residuals = np.empty((channels, height * width), np.int64)
        all_rows, all_cols = (a.ravel().astype(np.int64) for a in np.mgrid[0:height, 0:width])
        for start in range(0, all_rows.size, CHUNK):
            r, c = all_rows[start:start + CHUNK], all_cols[start:start + CHUNK]
            for p in range(channels):
                residuals[p, start:start + r.size] = (planes[p, r, c] - _mlp_predict(
                    integer, *_mlp_features(planes[p], r, c, shape))) % 256
        coded = huffman.encode_with_table(residuals.ravel())
        return Payload([Section("NETW", encode_tensors(integers)), Section("HUFF", coded)],
                       {"context": f"{shape.rows}x{shape.half_width}", "hidden": hidden, "step": precision})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        _check_size(header.height, header.width)
        stored = self.header_params(header)
        shape, hidden = stored.shape, stored.hidden
        net_data, residual_data = self.expect_sections(sections, ["NETW", "HUFF"])
        _check_work([shape.size] * header.channels, hidden, 1, header.height * header.width)
        net = _integer_net(decode_tensors(net_data, _net_shapes(shape.size, hidden, 1), "NETW"), stored.step)
        height, width, channels = header.height, header.width, header.channels
        residuals = huffman.decode_with_table(residual_data, expected_count=channels * height * width)
        if residuals.size and (residuals.min() < 0 or residuals.max() > 255):
            raise CorruptPayloadError("residuals out of range")
        residuals = residuals.reshape(channels, height, width).astype(np.int64)
        compiled = native.module()
        if compiled is not None:                  # the loop below, compiled (latentpress/_native.c)
            planes = np.zeros((channels, height, width), np.int16)
            compiled.mlp_lossless(planes, residuals, height, width, ctx.TILE_ROWS, ctx.TILE_COLS,
                                  np.array(shape.offsets, np.int32),
                                  native.network_spec(net), FRAC_BITS)
            return (planes[0] if channels == 1 else np.moveaxis(planes, 0, -1)).astype(np.uint8)
        planes = np.zeros((channels, height, width), np.int64)
        for rows, cols in ctx.wavefronts(height, width, shape.row_stride):
            features, bases = zip(*(_mlp_features(planes[p], rows, cols, shape) for p in range(channels)))
            predicted = _mlp_predict(net, np.concatenate(features), np.concatenate(bases)).reshape(channels, -1)
            for p in range(channels):
                planes[p, rows, cols] = (predicted[p] + residuals[p, rows, cols]) % 256
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
