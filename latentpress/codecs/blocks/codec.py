"""Codecs ``block-cnn`` and ``block-convlstm``: report 000's shallow block autoencoders.

Report 000: Mario Sergio Fuentes Juarez, "Shallow Autoencoders for Lossy Image
Compression", The University of Texas at Austin. It compresses one image (§3.1, §4.1) by
training a shallow autoencoder on its 32×32 blocks, then storing the decoder and one
code per block; the encoder is thrown away. ``block-cnn`` is its §3.3 network,
``block-convlstm`` its §3.4 one (model.py); both train as the report does
(latentpress/train/blocks.py: the image cut into blocks, 300 epochs, blocks presented one
at a time in shuffled order, RMSprop with Keras' defaults, loss = sum of squared
errors), then one pass in inference mode (dropout off) extracts the codes. fit() below
is items 1-3 of §3.1, payload() item 4; feasibility() is the report's §3.2 criterion.

Departures, each a parameter or beyond the report:

- ``storage=float32`` stores what the report stores, 32-bit floats, so its compression
  ratios can be checked (§4.1: 175,584 weights + 400 codes of 64 values for a 640×640
  image). The default, ``storage=quantized``, is the report's "future work": the
  decoder's weights become integers at 2^−weight precision, entropy-coded (one Laplace
  per tensor, entropy/integer_tensors.py), and the codes integers at 2^−code precision,
  coded under a factorized prior fitted to this file. Both precisions are the coarsest
  that cost at most ``tolerance`` dB of PSNR against the float decoder (half of it for
  the codes); when none does, the finest that the file format holds.
- Sides that are not multiples of the block size (§5) are padded by edge replication
  and cropped after decoding.
- Greyscale images are coded as RGB with equal channels and decoded to grey.
- Reconstructions are rounded to 8 bits (the report's code truncates).
- ``restarts`` (default 2): a training whose first epochs barely lower the error has
  collapsed to the mean colour and is restarted from the next random seed
  (train/blocks.py); ``restarts=0`` is the report's procedure.

Payload version 1. Header parameters (BlockHeader): ``code_length``, ``block``,
``storage``, and for quantized storage the two precisions, stored as ``weight_step``
and ``code_step``. Sections, in order:

``DECW``  the decoder: dense weight (3·(block−2)² × code_length, row-major), dense bias,
          transposed-convolution weight (3 in × 3 out × 3 × 3), its bias. float32:
          little-endian float32 values, exactly S_d = 4 × weights bytes; quantized: the
          integers in entropy/integer_tensors.py's "tensors" layout.
``CODE``  the block codes, blocks in row-major order. float32: n_b × code_length
          little-endian float32 values (exactly c_l·n_b bytes of the report's
          criterion); quantized: the integers as code_length rows of n_b values (one row
          per code dimension) in entropy/integer_tensors.py's "rows" layout, which fits
          the prior to this file three ways and keeps the smallest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from latentpress import progress
from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.blocks.model import (
    CHANNELS,
    MAX_BLOCK,
    MAX_CODE_LENGTH,
    MIN_BLOCK,
    BlockArchitecture,
    decoder_weight_count,
    synthesize,
    to_blocks,
)
from latentpress.container import Header, Section
from latentpress.entropy.integer_tensors import decode_rows, decode_tensors, encode_rows, encode_tensors
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.image import pad_to_multiple, padded_size, to_uint8
from latentpress.metrics import psnr
from latentpress.nn.precision import first_precision, from_integers
from latentpress.train import blocks as training

STORAGE = ("quantized", "float32")
CODE_PRECISIONS = tuple(range(1, 13))   # codes lie in (−1, 1) (tanh): at most 2**12 + 1 levels
WEIGHT_PRECISIONS = tuple(range(2, 17))
MAX_PIXELS = 1 << 24
MAX_CODE_VALUES = 1 << 25               # n_b × code_length: bounds the decoder's code array
MAX_DECODER_WORK = 1 << 36              # n_b × decoder weights: about a minute of decoding
RENDER_PIXELS = 1 << 20                  # pixels of the blocks synthesized at once (1,024 32×32 blocks)
# Quantized sizes are known only after training; the pre-check assumes half a byte per
# weight and per code value, less than any file has needed, so it refuses only
# configurations that cannot compress at all.
OPTIMISTIC_QUANTIZED_BYTES = 0.5


@dataclass(frozen=True)
class Feasibility:
    """Report 000 §3.2: S_d + c_l·n_b < 3·P_i (bytes)."""

    decoder_bytes: float      # S_d
    code_bytes: float         # c_l·n_b
    blocks: int               # n_b
    raw_bytes: int            # 3·P_i (P_i for a greyscale image)

    @property
    def compressed_bytes(self) -> float:
        return self.decoder_bytes + self.code_bytes

    @property
    def feasible(self) -> bool:
        return self.compressed_bytes < self.raw_bytes

    @property
    def ratio(self) -> float:
        return self.raw_bytes / self.compressed_bytes

    def explain(self) -> str:
        relation = "<" if self.feasible else ">="
        return (f"decoder {self.decoder_bytes:,.0f} B + codes {self.code_bytes:,.0f} B "
                f"({self.blocks} blocks) = {self.compressed_bytes:,.0f} B {relation} raw "
                f"{self.raw_bytes:,} B (ratio {self.ratio:.2f})")


def block_count(height: int, width: int, block: int) -> int:
    """Blocks of an image padded to whole blocks."""
    return math.ceil(height / block) * math.ceil(width / block)


def _chunk(block: int) -> int:
    """Blocks run through a network at once: RENDER_PIXELS pixels' worth."""
    return max(1, RENDER_PIXELS // (block * block))


def feasibility(code_length: int, block: int, height: int, width: int, channels: int = 3,
                bytes_per_weight: float = 4.0, bytes_per_code_value: float = 4.0) -> Feasibility:
    """The report's criterion for any block size, code length and image size (float32
    storage by default; pass the quantized bytes per value for other storage)."""
    blocks = block_count(height, width, block)
    return Feasibility(decoder_weight_count(code_length, block) * bytes_per_weight,
                       code_length * blocks * bytes_per_code_value, blocks, channels * height * width)


@dataclass(frozen=True)
class BlockParams:
    code_length: int = 64
    """Values per block code (the bottleneck's width)."""
    block: int = 32
    """Block side in pixels (16-64)."""
    epochs: int = 300
    """Passes over the image's blocks."""
    storage: str = "quantized"
    """quantized (integers, entropy-coded) or float32 (the report's own accounting)."""
    tolerance: float = 0.1
    """quantized: PSNR (dB) the quantization of weights and codes may cost."""
    batch_size: int = 1
    """Blocks per gradient step (the report: 1)."""
    time_budget: float = 0.0
    """Stop training after this many seconds (0: no limit)."""
    restarts: int = 2
    """Retrain from the next seed when the first 3 epochs barely lower the error (0: the report's procedure)."""
    seed: int = 0

    def validate(self) -> None:
        if not 1 <= self.code_length <= MAX_CODE_LENGTH:
            raise ParameterError(f"code_length must be 1-{MAX_CODE_LENGTH}, got {self.code_length}")
        if not MIN_BLOCK <= self.block <= MAX_BLOCK:
            raise ParameterError(f"block must be {MIN_BLOCK}-{MAX_BLOCK} pixels "
                                 f"(the ConvLSTM encoder halves it three times), got {self.block}")
        if not 1 <= self.epochs <= 100_000:
            raise ParameterError(f"epochs must be 1-100000, got {self.epochs}")
        if self.storage not in STORAGE:
            raise ParameterError(f"storage must be one of {', '.join(STORAGE)}, got {self.storage!r}")
        if not 0 < self.tolerance <= 10:
            raise ParameterError(f"tolerance must be in (0, 10] dB, got {self.tolerance}")
        if not 1 <= self.batch_size <= 4096:
            raise ParameterError(f"batch_size must be 1-4096, got {self.batch_size}")
        if self.time_budget < 0:
            raise ParameterError("time_budget must not be negative")
        if not 0 <= self.restarts <= 10:
            raise ParameterError(f"restarts must be 0-10, got {self.restarts}")


def _check_size(height: int, width: int, code_length: int, block: int) -> None:
    """Bound what the padded image costs, before anything is allocated: a 1-pixel-high
    image pads to a whole row of blocks."""
    blocks = block_count(height, width, block)
    padded = blocks * block * block
    if padded > MAX_PIXELS:
        raise LimitError(f"block codecs code images up to {MAX_PIXELS:,} pixels (padded to whole "
                         f"{block}-pixel blocks); {width}x{height} pads to {padded:,}")
    if blocks * code_length > MAX_CODE_VALUES:
        raise LimitError(f"{blocks * code_length:,} code values exceed the limit of {MAX_CODE_VALUES:,}")
    work = blocks * decoder_weight_count(code_length, block)
    if work > MAX_DECODER_WORK:
        raise LimitError(f"decoding would take {work:,} multiply-adds, over the limit of {MAX_DECODER_WORK:,}")


def _check_feasible(params: BlockParams, height: int, width: int, channels: int) -> None:
    per_value = 4.0 if params.storage == "float32" else OPTIMISTIC_QUANTIZED_BYTES
    check = feasibility(params.code_length, params.block, height, width, channels, per_value, per_value)
    if not check.feasible:
        estimate = "" if params.storage == "float32" else f" (at an optimistic {per_value} B per value)"
        raise ParameterError(f"{width}x{height} cannot be compressed with code_length "
                             f"{params.code_length} and {params.block}-pixel blocks{estimate}: "
                             f"{check.explain()}; use a larger image or a shorter code")


def render(tensors: list[np.ndarray], codes: np.ndarray, arch: BlockArchitecture,
           height: int, width: int) -> np.ndarray:
    """Decode codes into the uint8 RGB image (cropped), a chunk of blocks at a time."""
    block = arch.block
    columns = math.ceil(width / block)
    out = np.empty((math.ceil(height / block) * block, columns * block, CHANNELS), np.uint8)
    chunk = _chunk(block)
    for start in range(0, codes.shape[0], chunk):
        pixels = synthesize(tensors, codes[start:start + chunk], arch)
        pixels = to_uint8(pixels.transpose(0, 2, 3, 1) * 255.0)
        for offset, tile in enumerate(pixels):
            row, column = divmod(start + offset, columns)
            out[row * block:(row + 1) * block, column * block:(column + 1) * block] = tile
    return out[:height, :width]


def _float32_bytes(values: list[np.ndarray]) -> bytes:
    return b"".join(np.asarray(v, "<f4").tobytes() for v in values)


def _read_float32(data: bytes, shapes: list[tuple[int, ...]], what: str) -> list[np.ndarray]:
    sizes = [int(np.prod(shape)) for shape in shapes]
    if len(data) != 4 * sum(sizes):
        raise CorruptPayloadError(f"{what}: {len(data)} bytes, expected {4 * sum(sizes)} (float32)")
    flat = np.frombuffer(data, "<f4").astype(np.float64)
    if not np.all(np.isfinite(flat)):
        raise CorruptPayloadError(f"{what}: values that are not finite")
    ends = np.cumsum(sizes)
    return [flat[end - size:end].reshape(shape) for end, size, shape in zip(ends, sizes, shapes)]


@dataclass(frozen=True, eq=False)
class Fitted:
    """A trained block autoencoder's decoder and codes, before storage."""

    arch: BlockArchitecture
    rgb: np.ndarray                 # the image as coded (grey replicated to RGB)
    weights: list[np.ndarray]       # decoder tensors, BlockDecoder.tensors() order
    codes: np.ndarray               # (n_b, code_length), block row-major order
    history: list[float]            # mean squared error per epoch


def _valid_geometry(code_length: int, block: int) -> bool:
    return 1 <= code_length <= MAX_CODE_LENGTH and MIN_BLOCK <= block <= MAX_BLOCK


@dataclass(frozen=True)
class BlockHeader:
    """The header of both codecs. The quantized storage's precisions are stored as
    ``weight_step`` and ``code_step``: weight (code) precisions, the values being
    integers times 2**−precision."""

    code_length: int
    block: int
    storage: Literal["quantized", "float32"]
    weight_step: int | None = None
    code_step: int | None = None

    def check(self) -> None:
        if not _valid_geometry(self.code_length, self.block):
            raise CorruptPayloadError(f"invalid block parameters {self.code_length!r}, {self.block!r}, "
                                      f"{self.storage!r}")
        if self.storage == "float32":
            if self.weight_step is not None or self.code_step is not None:
                raise CorruptPayloadError("float32 storage with weight or code precisions")
        elif self.weight_step not in WEIGHT_PRECISIONS or self.code_step not in CODE_PRECISIONS:
            raise CorruptPayloadError(f"invalid precisions (weight_step, code_step) {self.weight_step!r}, "
                                      f"{self.code_step!r}")

    @property
    def weight_precision(self) -> int | None:
        return self.weight_step

    @property
    def code_precision(self) -> int | None:
        return self.code_step


def _declared_geometry(header: Header) -> tuple[int, int] | None:
    """(code_length, block) as the header declares them, for the memory estimate, which
    must not raise: None where the decoder refuses them (it checks the whole header
    before it allocates anything)."""
    code_length, block = header.params.get("code_length"), header.params.get("block")
    if type(code_length) is int and type(block) is int and _valid_geometry(code_length, block) \
            and header.params.get("storage") in STORAGE:
        return code_length, block
    return None


class _BlockCodec(Codec):
    version = 1
    kind: str
    # Measured peak decode memory (results/security/decode-memory.json, and the crafted
    # files of results/security/crafted-memory.json), with a margin: see decode_memory.
    decode_base_bytes = 40 << 20
    decode_bytes_per_pixel = 8
    decode_bytes_per_weight = 64
    decode_bytes_per_code = 32
    Params = BlockParams
    HeaderParams = BlockHeader

    quality_meaning = "the code length, 8 to 128 (the default 64 at 47-53)"

    @classmethod
    def quality_params(cls, quality: int) -> dict:
        """Quality 0-100 → the code length, 8 to 128 in steps of 8 (64, the default, at
        47-53): the block codes are what the rate pays for (report 000, Table 3)."""
        return {"code_length": 8 * (1 + quality * 15 // 100)}

    def encode(self, image: np.ndarray, params: BlockParams) -> Payload:
        return self.payload(self.fit(image, params), params)

    def fit(self, image: np.ndarray, params: BlockParams) -> Fitted:
        """Train the autoencoder on the image's blocks (train/blocks.py) and extract the
        codes (§3.1 1-3)."""
        height, width = image.shape[:2]
        channels = 1 if image.ndim == 2 else 3
        _check_size(height, width, params.code_length, params.block)
        _check_feasible(params, height, width, channels)
        rgb = image if channels == 3 else np.repeat(image[:, :, None], 3, axis=2)
        padded = pad_to_multiple(rgb, params.block)
        blocks = torch.from_numpy(to_blocks(padded, params.block)).float() / 255.0
        arch = BlockArchitecture(self.kind, params.block, params.code_length)
        model, history = training.fit(arch, blocks, params.epochs, params.batch_size, params.time_budget,
                                      params.seed, params.restarts)
        with torch.inference_mode():
            chunk = _chunk(params.block)
            codes = torch.cat([model.encoder(blocks[i:i + chunk])
                               for i in range(0, blocks.shape[0], chunk)]).double().numpy()
        weights = [t.detach().double().numpy() for t in model.decoder.tensors()]
        if not np.all(np.isfinite(codes)) or not all(np.all(np.isfinite(w)) for w in weights):
            raise ParameterError("training diverged (values that are not finite); try another seed")
        return Fitted(arch, np.ascontiguousarray(rgb), weights, codes, history)

    def payload(self, fitted: Fitted, params: BlockParams) -> Payload:
        """Store the decoder and the codes (§3.1 4) as ``params.storage`` asks."""
        arch, rgb, weights, codes = fitted.arch, fitted.rgb, fitted.weights, fitted.codes
        height, width = rgb.shape[:2]
        header = {"code_length": arch.code_length, "block": arch.block, "storage": params.storage}
        if params.storage == "float32":
            sections = [Section("DECW", _float32_bytes(weights)), Section("CODE", _float32_bytes([codes]))]
            return Payload(sections, header)

        def quality(weight_values: list[np.ndarray], code_values: np.ndarray) -> float:
            return psnr(rgb, render(weight_values, code_values, arch, height, width))

        target = quality(weights, codes) - params.tolerance
        # Codes lie in (−1, 1): every code precision is representable. The coarsest that
        # costs at most half the tolerance, then the coarsest weight precision within it.
        with progress.task(f"{self.name}: choosing the precisions") as bar:
            code_precision, (symbols,) = first_precision(
                [codes], CODE_PRECISIONS, progress.advancing(bar, lambda precision, integers:
                    quality(weights, from_integers(integers, precision)[0]) >= target + params.tolerance / 2))
            coded_codes = from_integers([symbols], code_precision)[0]
            chosen = first_precision(weights, WEIGHT_PRECISIONS, progress.advancing(bar, lambda precision, integers:
                                     quality(from_integers(integers, precision), coded_codes) >= target))
        if chosen is None:
            raise ParameterError("training diverged: the decoder's weights are too large to store")
        weight_precision, integers = chosen
        sections = [Section("DECW", encode_tensors(integers)), Section("CODE", encode_rows(symbols.T))]
        header.update(weight_step=weight_precision, code_step=code_precision)
        return Payload(sections, header)

    @classmethod
    def working_pixels(cls, header: Header) -> int:
        declared = _declared_geometry(header)
        if declared is None:
            return super().working_pixels(header)         # refused before any allocation
        return math.prod(padded_size(header.height, header.width, declared[1]))

    @classmethod
    def decode_memory(cls, header: Header) -> int:
        """Per padded pixel, and per value of what the file declares: the decoder's
        weights (up to 11.8 million, at 64-pixel blocks and code length 1,024) and the
        codes (up to MAX_CODE_VALUES) are decoded whole, through the range decoder's
        temporaries and float64 copies."""
        estimate = super().decode_memory(header)
        declared = _declared_geometry(header)
        if declared is None:
            return estimate                               # refused before any allocation
        code_length, block = declared
        return estimate + cls.decode_bytes_per_weight * decoder_weight_count(code_length, block) \
            + cls.decode_bytes_per_code * block_count(header.height, header.width, block) * code_length

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        stored = self.header_params(header)
        code_length, block = stored.code_length, stored.block
        _check_size(header.height, header.width, code_length, block)
        arch = BlockArchitecture(self.kind, block, code_length)
        blocks = block_count(header.height, header.width, block)
        weight_data, code_data = self.expect_sections(sections, ["DECW", "CODE"])
        shapes = arch.decoder_shapes()
        if stored.storage == "float32":
            weights = _read_float32(weight_data, shapes, "DECW")
            codes = _read_float32(code_data, [(blocks, code_length)], "CODE")[0]
        else:
            weights = from_integers(decode_tensors(weight_data, shapes, "DECW"), stored.weight_precision)
            symbols = decode_rows(code_data, code_length, blocks, "CODE").T
            codes = from_integers([symbols], stored.code_precision)[0]
        rgb = render(weights, codes, arch, header.height, header.width)
        return rgb if header.channels == 3 else to_uint8(rgb.mean(axis=2))


@register
class BlockCNNCodec(_BlockCodec):
    name = "block-cnn"
    kind = "cnn"
    description = "report 000 §3.3: shallow CNN block autoencoder trained on the image; decoder + block codes in the file"


@register
class BlockConvLSTMCodec(_BlockCodec):
    name = "block-convlstm"
    kind = "convlstm"
    description = "report 000 §3.4: shallow ConvLSTM+CNN block autoencoder trained on the image; decoder + codes in the file"
