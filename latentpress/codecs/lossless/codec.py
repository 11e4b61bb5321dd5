"""Codec ``lossless``: predictive coding with a small network per plane, trained on
the one image, under range coding.

It extends the lossless coder of report 001 §3 ("Image Compression Using Deep
Learning"; the report names no authors; ``mlp-lossless``, mlp.py, is that coder as
published) with what the field has shown to be stronger (docs/codecs/lossless.md says
what each part gains): a reversible colour transform (YCoCg-R); per plane, a network
that predicts a discretized Laplace (its mean relative to LOCO-I's median edge
predictor, and its scale) from the causal neighbours of its plane and from the already
decoded planes of the same pixel, trained on the code length itself; range coding under
those distributions. The networks are stored and run in integers (common.py).

Decoding runs over a tiled wavefront (context.py): every pixel whose context is known
is decoded in the same vectorized call. Where latentpress._native is built, the decoder
runs its loop there (_NativeLossless); the numpy loop is the definition.

Payload version 1. Header parameters: common.LosslessHeader. Sections:

``NETW``  the networks of every plane, in plane order (entropy/integer_tensors.py,
          layout "tensors")
``PIXL``  the planes' values, range-coded in wavefront order: wavefront by wavefront,
          plane by plane
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
from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder, guarded
from latentpress.entropy.integer_tensors import decode_tensors, encode_tensors
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError, ParameterError
from latentpress.nn import native
from latentpress.nn.fixed_point import IntegerMLP
from latentpress.nn.precision import search_precision
from latentpress.train.lossless import train_planes


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
        count = self.loop.steps()                                  # steps(): the number of wavefronts
        with progress.task("decoding the planes", total=count, unit="wavefront") as bar:
            for wavefront in range(count):
                for p in range(self.nplanes):
                    decoded, status = guarded(run, wavefront, p, decode, models, make)
                    if status == 1:                   # an escape symbol: the general path
                        values = decoder.resolve_groups(Family.LAPLACE, self.centres[:decoded], self.ids[:decoded],
                                                        self.order[:decoded], self.index[:decoded])
                        flat[p, self.positions[:decoded]] = _in_range(values, *_PLANE_LIMITS[p])
                    elif status:
                        raise CorruptPayloadError("decoded pixel out of range")
                bar.advance()


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
        check_size(height, width)
        shape = parse_context(params.context)
        hidden = params.hidden or auto_hidden(height * width)
        planes, neutrals = image_planes(image, transform=True)
        check_work([shape.size + p * (shape.size + 1) for p in range(len(planes))], hidden, 2, height * width)
        rows, cols = sample(height, width, TRAINING_PIXELS, params.seed)
        data = [_plane_features(planes, p, rows, cols, shape, neutrals) for p in range(len(planes))]
        targets = [planes[p, rows, cols] - base for p, (_, base) in enumerate(data)]
        torch.manual_seed(params.seed)              # the networks' initial weights: reproducible encodes
        nets = [PredictorNet(f.shape[1], hidden, 2) for f, _ in data]
        train_planes(nets, [f for f, _ in data], targets, params.iterations, params.time_budget, params.seed)
        # Weight precision: the one that minimizes weight bits + the pixels' bits
        # (estimated on the first SEARCH_PIXELS of the training sample).
        search = slice(0, SEARCH_PIXELS)
        sizes = [len(net.tensors()) for net in nets]

        def bits(precision: int, flat: list[np.ndarray]):
            integers = [flat[sum(sizes[:p]):sum(sizes[:p + 1])] for p in range(len(nets))]
            try:
                integer_nets = [integer_net(w, precision) for w in integers]
            except CorruptPayloadError:
                return None           # beyond what the integer network can run exactly
            pixel_bits = sum(_ideal_bits(planes[p, rows[search], cols[search]],
                                         *_predict_tables(n, f[search], base[search]))
                             for p, (n, (f, base)) in enumerate(zip(integer_nets, data)))
            return pixel_bits * (height * width) / rows[search].size + 8 * len(encode_tensors(flat)), integer_nets

        with progress.task("lossless: choosing the networks' precision", total=len(WEIGHT_PRECISIONS)) as bar:
            choice = search_precision([t for net in nets for t in float_weights(net)], WEIGHT_PRECISIONS,
                                      progress.advancing(bar, bits))
        if choice is None:
            raise ParameterError("training diverged: the network weights are too large to store")
        precision, integer_nets = choice.precision, choice.extra
        del data, targets
        with progress.task("lossless: coding the planes"):
            pixels = _encode_planes(planes, integer_nets, shape, neutrals)
        sections = [Section("NETW", encode_tensors(choice.integers)), Section("PIXL", pixels)]
        return Payload(sections, {"context": f"{shape.rows}x{shape.half_width}", "hidden": hidden,
                                  "step": precision})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        check_size(header.height, header.width)
        stored = self.header_params(header)
        shape, hidden = stored.shape, stored.hidden
        net_data, pixel_data = self.expect_sections(sections, ["NETW", "PIXL"])
        colour = header.channels == 3
        neutrals = [128, 0, 0] if colour else [128]
        inputs = [shape.size + p * (shape.size + 1) for p in range(len(neutrals))]
        check_work(inputs, hidden, 2, header.height * header.width)
        tensors = decode_tensors(net_data, [s for n in inputs for s in net_shapes(n, hidden, 2)], "NETW")
        nets = [integer_net(tensors[6 * p:6 * p + 6], stored.precision) for p in range(len(neutrals))]
        height, width = header.height, header.width
        planes = np.zeros((len(neutrals), height, width), np.int16)      # YCoCg-R values fit in ±255
        decoder = EntropyDecoder(pixel_data)
        limits = _PLANE_LIMITS[:len(neutrals)]
        compiled = native.module()
        if compiled is not None:
            _NativeLossless(compiled, planes, shape, nets, neutrals).decode(decoder)
        else:
            with progress.task("decoding the planes", unit="wavefront") as bar:
                for rows, cols in ctx.wavefronts(height, width, shape.row_stride):
                    for p, net in enumerate(nets):
                        features, base = _plane_features(planes, p, rows, cols, shape, neutrals)
                        centres, ids = _predict_tables(net, features, base)
                        planes[p, rows, cols] = _in_range(decoder.decode_parametric(Family.LAPLACE, centres, ids),
                                                          *limits[p])
                    bar.advance()
        decoder.finish()
        pixels = ctx.ycocg_to_rgb(planes) if colour else planes[0]
        if pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
            raise CorruptPayloadError("decoded colour out of range")
        return pixels.astype(np.uint8)


def _ideal_bits(symbols: np.ndarray, centres: np.ndarray, ids: np.ndarray) -> float:
    return tables.ideal_bits(Family.LAPLACE, symbols, centres, ids)
