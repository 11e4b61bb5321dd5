"""Codecs ``cnn-ae``, ``gan-ae``, ``cnn-rnn-ae`` and ``cnn-ae-ft``: report 001's pretrained
block autoencoders.

Report 001: "Image Compression Using Deep Learning" (the report names no authors).
``cnn-ae`` is its §4.1 CNN autoencoder, ``gan-ae`` the same network trained with a
Wasserstein critic (§4.2, §6.3), ``cnn-rnn-ae`` its residual, progressive variant
(Fig. 7) and ``cnn-ae-ft`` its autoencoder with a narrow decoder fine-tuned on each
image (Fig. 8; latentpress/train/cnnae_ft.py). The networks are in model.py, trained by
latentpress/train/cnnae.py and train/gan.py; the report's figures with the layer sizes
are lost, and model.py says how its text fixes ours.

The image is cut into 32×32 blocks (edge-padded to a multiple of 32, cropped after
decoding); every block becomes a 4×8×8 latent of integers, stored as fixed-width bits
with no entropy coding, as in the report (its own §7 caveat). ``cnn-ae`` stores 6 bits a
value: 1.5 bpp, the report's 16:1 on an RGB image whose sides are multiples of 32 (the
header adds about 100 bytes). ``cnn-rnn-ae`` stores ``steps`` residual stages (1-3) of
2 bits a value each: 0.5, 1.0 or 1.5 bpp. A greyscale image is coded as RGB with three
equal channels (so at three times the bits per pixel of its one channel) and decoded
back to one.

Beyond the report:

- ``entropy=range`` (the report's §7 notes it used no entropy coding) range-codes the
  same integers instead, one row per latent channel under per-file factorized priors
  (entropy/integer_tensors.py, layout "rows"); the decoded image is identical, the file
  usually smaller (on a tiny image the priors can cost more than they save).
- ``deblock=true`` runs a shipped post-filter over the decoded image, across the block
  edges (the report's §8 asks for "some image processing" against the square
  patterns); it costs no bytes, only a header flag.

Payload version 1. Header parameters (AEHeader, and RNNHeader for cnn-rnn-ae):
``model`` (the shipped weights' id), ``entropy`` (none or range), ``deblock`` (true when
the decoder runs the post-filter; written only then, so that files without it read the
same by builds that lack the filter) and, for cnn-rnn-ae, ``steps`` (the stages
stored). Sections: ``LATN`` (cnn-ae, gan-ae, cnn-ae-ft), or ``STG1`` … ``STGk``
(cnn-rnn-ae, one per stage, in order), then ``DECW`` (cnn-ae-ft: the fine-tuned decoder,
per tensor in state-dict order a float32 scale and int8 values). Latents with
entropy=none: all blocks in raster order of blocks, each block's 4×8×8 values in C
order, packed most significant bit first, zero-padded to a whole byte; with
entropy=range: integer rows, row c holding channel c of every block (blocks in raster
order, then the 8×8 positions in C order).
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar, Literal

import numpy as np
import torch

from latentpress.binary import pack_bits, unpack_bits
from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.cnnae.model import (
    BLOCK,
    LATENT_BITS,
    LATENT_CHANNELS,
    LATENT_SIDE,
    RNN_BITS,
    RNN_STEPS,
    BlockAutoencoder,
    PostFilter,
    RecurrentAutoencoder,
    dequantize,
    quantize,
)
from latentpress.container import Header, Section
from latentpress.entropy.integer_tensors import decode_rows, encode_rows
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.image import pad_to_multiple, padded_size, to_uint8
from latentpress.nn.tiling import tiled_map
from latentpress.train.cnnae_ft import fine_tune
from latentpress.weights import load_weights

MAX_PIXELS = 1 << 24
BATCH = 1024                      # blocks per network call
LATENT_VALUES = LATENT_CHANNELS * LATENT_SIDE * LATENT_SIDE


ENTROPY = ("none", "range")


def _check_entropy(entropy: str) -> None:
    if entropy not in ENTROPY:
        raise ParameterError(f"entropy must be one of {', '.join(ENTROPY)}, got {entropy!r}")


def pack_latents(latents: np.ndarray, bits: int, entropy: str) -> bytes:
    """N×4×8×8 integers → fixed-width bits (none) or range-coded rows, one per latent
    channel, under per-file factorized priors (range; entropy/integer_tensors.py, layout "rows")."""
    if entropy == "none":
        return pack_bits(latents, bits)
    return encode_rows(latents.astype(np.int64).transpose(1, 0, 2, 3).reshape(LATENT_CHANNELS, -1))


def unpack_latents(data: bytes, blocks: int, bits: int, entropy: str, what: str) -> np.ndarray:
    if entropy == "none":
        values = unpack_bits(data, blocks * LATENT_VALUES, bits, what)
        return values.reshape(blocks, LATENT_CHANNELS, LATENT_SIDE, LATENT_SIDE)
    rows = decode_rows(data, LATENT_CHANNELS, blocks * LATENT_SIDE * LATENT_SIDE, what)
    if rows.min(initial=0) < 0 or rows.max(initial=0) >= 1 << bits:
        raise CorruptPayloadError(f"{what}: latent values outside 0-{(1 << bits) - 1}")
    return rows.reshape(LATENT_CHANNELS, blocks, LATENT_SIDE, LATENT_SIDE).transpose(1, 0, 2, 3)


@dataclass(frozen=True, kw_only=True)
class AEHeader:
    """The header of cnn-ae, gan-ae and cnn-ae-ft (a subclass per codec names its model)."""

    MODEL: ClassVar[str]
    model: str
    entropy: Literal["none", "range"]
    deblock: bool = False            # written only when true

    def check(self) -> None:
        if self.model != self.MODEL:
            raise CorruptPayloadError(f"file was made with model {self.model!r}; this build has {self.MODEL!r}")


@dataclass(frozen=True, kw_only=True)
class RNNHeader(AEHeader):
    MODEL: ClassVar[str] = "cnn-rnn-ae-v1"
    steps: int                       # the stages stored

    def check(self) -> None:
        super().check()
        if not 1 <= self.steps <= RNN_STEPS:
            raise CorruptPayloadError(f"invalid steps {self.steps!r}")


@dataclass(frozen=True, kw_only=True)
class CNNAEHeader(AEHeader):
    MODEL: ClassVar[str] = "cnn-ae-v1"


@dataclass(frozen=True, kw_only=True)
class GANAEHeader(AEHeader):
    MODEL: ClassVar[str] = "gan-ae-v1"


@dataclass(frozen=True, kw_only=True)
class FineTuneHeader(AEHeader):
    MODEL: ClassVar[str] = "cnn-ae-ft-v1"


def _stored_options(params) -> dict:
    """Header parameters shared by the family (``deblock`` only when on, so that files
    without it read the same by builds that lack the filter)."""
    out = {"entropy": params.entropy}
    if params.deblock:
        out["deblock"] = True
    return out


def _blocks(image: np.ndarray) -> tuple[torch.Tensor, int, int]:
    """uint8 H×W(×3) → N×3×32×32 float blocks in [0, 1], and the block grid."""
    rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
    padded = pad_to_multiple(rgb, BLOCK)
    rows, columns = padded.shape[0] // BLOCK, padded.shape[1] // BLOCK
    blocks = padded.reshape(rows, BLOCK, columns, BLOCK, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3, BLOCK, BLOCK)
    return torch.from_numpy(np.ascontiguousarray(blocks)).float() / 255.0, rows, columns


TILE = 256                        # post-filter tile side (plus PostFilter.HALO each side)


def deblock(rgb: np.ndarray) -> np.ndarray:
    """The shipped post-filter (model.py PostFilter) over an H×W×3 float image in [0, 1],
    in tiles so that memory stays bounded; a tile sees HALO pixels of its neighbours, so
    the result is the whole-image filter's."""
    net = _load("cnn-deblock-v1")
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1), np.float32))[None]
    out = np.empty_like(rgb, dtype=np.float32)
    with torch.inference_mode():
        for top, left, tile in tiled_map(net, x, Fraction(1), TILE, PostFilter.HALO):
            out[top:top + tile.shape[-2], left:left + tile.shape[-1]] = tile[0].clamp(0, 1).numpy().transpose(1, 2, 0)
    return out


def _image(blocks: torch.Tensor, rows: int, columns: int, height: int, width: int, channels: int,
           smooth: bool = False) -> np.ndarray:
    array = blocks.numpy().reshape(rows, columns, 3, BLOCK, BLOCK).transpose(0, 3, 1, 4, 2)
    rgb = array.reshape(rows * BLOCK, columns * BLOCK, 3)
    if smooth:
        rgb = deblock(rgb)
    rgb = rgb[:height, :width] * 255.0
    return to_uint8(rgb if channels == 3 else rgb.mean(axis=2))


def _batched(fn, x: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return torch.cat([fn(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])


def _padded_pixels(height: int, width: int) -> int:
    """Pixels after padding to whole blocks: what the networks and buffers work on."""
    return math.prod(padded_size(height, width, BLOCK))


def _render(decoder: torch.nn.Module, values: np.ndarray, header: Header, smooth: bool) -> np.ndarray:
    """6-bit latents (blocks × 4 × 8 × 8) → the decoded image the header describes."""
    rows, columns = _grid(header)
    blocks = _batched(decoder, dequantize(torch.from_numpy(values).float(), LATENT_BITS))
    return _image(blocks, rows, columns, header.height, header.width, header.channels, smooth)


def _grid(header: Header) -> tuple[int, int]:
    if _padded_pixels(header.height, header.width) > MAX_PIXELS:
        raise LimitError(f"{header.codec} decodes images up to {MAX_PIXELS:,} pixels (padded to whole "
                         f"32×32 blocks); this one claims {header.width}x{header.height}")
    return -(-header.height // BLOCK), -(-header.width // BLOCK)


def _check_size(image: np.ndarray, name: str) -> None:
    if _padded_pixels(image.shape[0], image.shape[1]) > MAX_PIXELS:
        raise LimitError(f"{name} codes images up to {MAX_PIXELS:,} pixels (padded to whole 32×32 blocks); "
                         f"this one is {image.shape[1]}x{image.shape[0]}")


@functools.cache
def _load(model_id: str) -> torch.nn.Module:
    if model_id == "cnn-deblock-v1":
        model = PostFilter()
    elif model_id == RNNHeader.MODEL:
        model = RecurrentAutoencoder()
    else:
        model = BlockAutoencoder(narrow=model_id == FineTuneHeader.MODEL)
    model.load_state_dict(load_weights(f"{model_id}.safetensors"))
    return model.eval()


class _PretrainedBlockCodec(Codec):
    version = 1
    no_quality = "its latents are fixed-width, a fixed 16:1 (cnn-rnn-ae and factorized have a rate to choose)"

    @classmethod
    def model_id(cls) -> str:
        """The shipped weights this codec runs (``<id>.safetensors``), as its files record."""
        return cls.HeaderParams.MODEL

    @classmethod
    def working_pixels(cls, header: Header) -> int:
        return _padded_pixels(header.height, header.width)


@dataclass(frozen=True)
class AEParams:
    entropy: str = "none"
    """none: fixed-width 6-bit latents, the report's exact 16:1; range: range-coded under
    per-file priors (smaller, the ratio then depends on the image)."""
    deblock: bool = False
    """Run the shipped deblocking post-filter over the decoded image (recorded in the
    header; costs no bytes, about 0.2 s per Kodak image)."""

    def validate(self) -> None:
        _check_entropy(self.entropy)


@register
class CNNAECodec(_PretrainedBlockCodec):
    name = "cnn-ae"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 48 << 20
    decode_bytes_per_pixel = 128
    description = "report 001 §4.1: pretrained CNN autoencoder on 32x32 blocks, 6-bit latents, fixed 16:1"
    Params = AEParams
    HeaderParams = CNNAEHeader

    def encode(self, image: np.ndarray, params: AEParams) -> Payload:
        _check_size(image, self.name)
        model = _load(self.model_id())
        blocks, _, _ = _blocks(image)
        latents = quantize(_batched(model.encoder, blocks), LATENT_BITS).numpy().astype(np.uint8)
        return Payload([Section("LATN", pack_latents(latents, LATENT_BITS, params.entropy))],
                       {"model": self.model_id(), **_stored_options(params)})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        stored = self.header_params(header)
        rows, columns = _grid(header)
        (data,) = self.expect_sections(sections, ["LATN"])
        values = unpack_latents(data, rows * columns, LATENT_BITS, stored.entropy, "LATN")
        return _render(_load(self.model_id()).decoder, values, header, stored.deblock)


@register
class GANAECodec(CNNAECodec):
    """cnn-ae's architecture and file layout; the weights trained on with a critic (§4.2, §6.3)."""
    name = "gan-ae"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 64 << 20
    decode_bytes_per_pixel = 128
    description = "report 001 §4.2: the cnn-ae autoencoder trained on with a Wasserstein critic, 6-bit latents, 16:1"
    HeaderParams = GANAEHeader


@dataclass(frozen=True)
class RNNParams:
    steps: int = RNN_STEPS
    """Residual stages stored: 1, 2 or 3 (0.5, 1.0, 1.5 bpp on RGB; 3 is the report's 16:1)."""
    entropy: str = "none"
    """none (fixed-width bits) or range (per-file priors), as for cnn-ae."""
    deblock: bool = False
    """Smooth the 32×32 block grid when decoding, as for cnn-ae."""

    def validate(self) -> None:
        if not 1 <= self.steps <= RNN_STEPS:
            raise ParameterError(f"steps must be 1-{RNN_STEPS}, got {self.steps}")
        _check_entropy(self.entropy)


@register
class CNNRNNAECodec(_PretrainedBlockCodec):
    name = "cnn-rnn-ae"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 40 << 20
    decode_bytes_per_pixel = 176
    description = "report 001 Fig. 7: recurrent residual CNN autoencoder, 1-3 stages of 2-bit latents (progressive)"
    Params = RNNParams
    HeaderParams = RNNHeader

    quality_meaning = "the stages stored: 1 below 34, 2 below 67, else 3"

    @classmethod
    def quality_params(cls, quality: int) -> dict:
        """Quality 0-100 → the residual stages stored: 1 below 34, 2 below 67, else 3."""
        return {"steps": 1 + (quality >= 34) + (quality >= 67)}
    progressive = True

    def encode(self, image: np.ndarray, params: RNNParams) -> Payload:
        _check_size(image, self.name)
        model = _load(self.model_id())
        blocks, _, _ = _blocks(image)
        sections, reconstruction = [], None
        for stage in range(params.steps):
            codes = []
            with torch.inference_mode():
                for i in range(0, len(blocks), BATCH):
                    before = None if reconstruction is None else reconstruction[i:i + BATCH]
                    inputs = model.stage_input(blocks[i:i + BATCH], before)
                    codes.append(quantize(model.encoders[stage](inputs), RNN_BITS))
            latents = torch.cat(codes)
            sections.append(Section(f"STG{stage + 1}",
                                    pack_latents(latents.numpy().astype(np.uint8), RNN_BITS, params.entropy)))
            reconstruction = self._stage_output(model, stage, latents, reconstruction)
        return Payload(sections, {"model": self.model_id(), "steps": params.steps, **_stored_options(params)})

    @staticmethod
    def _stage_output(model: RecurrentAutoencoder, stage: int, latents: torch.Tensor,
                      reconstruction: torch.Tensor | None) -> torch.Tensor:
        values = dequantize(latents.float(), RNN_BITS)
        outputs = []
        with torch.inference_mode():
            for i in range(0, len(values), BATCH):
                before = None if reconstruction is None else reconstruction[i:i + BATCH]
                outputs.append(model.stage_output(stage, values[i:i + BATCH], before))
        return torch.cat(outputs)

    def decode(self, header: Header, sections, steps: int | None = None) -> np.ndarray:
        """``steps``: decode only the first stages (progressive decoding); all by default."""
        self.check_version(header)
        stored = self.header_params(header)
        if steps is not None and not 1 <= steps <= stored.steps:
            raise ParameterError(f"this file holds {stored.steps} stage(s); cannot decode {steps}")
        rows, columns = _grid(header)
        data = self.expect_sections(sections, [f"STG{k + 1}" for k in range(stored.steps)])
        model = _load(self.model_id())
        reconstruction = None
        for stage in range(steps or stored.steps):
            latents = torch.from_numpy(unpack_latents(data[stage], rows * columns, RNN_BITS, stored.entropy,
                                                      f"STG{stage + 1}"))
            reconstruction = self._stage_output(model, stage, latents, reconstruction)
        return _image(reconstruction.clamp(0, 1), rows, columns, header.height, header.width, header.channels,
                      stored.deblock)


@dataclass(frozen=True)
class FineTuneParams:
    iterations: int = 400
    """Adam iterations fine-tuning the narrow decoder on the image's blocks (0: the pretrained one)."""
    lr: float = 1e-3
    seed: int = 0
    entropy: str = "none"
    """none (fixed-width bits) or range (per-file priors), as for cnn-ae."""
    deblock: bool = False
    """Smooth the 32×32 block grid when decoding, as for cnn-ae."""

    def validate(self) -> None:
        _check_entropy(self.entropy)
        if not 0 <= self.seed < 1 << 63:
            raise ParameterError(f"seed must be 0 to 2^63-1, got {self.seed}")
        if not 0 <= self.iterations <= 100_000:
            raise ParameterError(f"iterations must be 0-100000, got {self.iterations}")
        if not 0 < self.lr <= 1:
            raise ParameterError(f"lr must be in (0, 1], got {self.lr}")


MAX_SCALE = 1e6                   # of a DECW tensor: weights up to 1.27e8


def _decoder_tensors(decoder: torch.nn.Module) -> list[tuple[str, torch.Tensor]]:
    return list(decoder.state_dict().items())


def pack_decoder(decoder: torch.nn.Module) -> bytes:
    """Each tensor, in state-dict order: a float32 scale, then int8 values (w ≈ scale·q)."""
    out = bytearray()
    for _, tensor in _decoder_tensors(decoder):
        values = tensor.detach().float().numpy().ravel()
        peak = float(np.abs(values).max()) if values.size else 0.0
        if not (np.isfinite(peak) and peak / 127.0 < MAX_SCALE):
            raise ParameterError(f"fine-tuning diverged (weights up to {peak}); use a lower lr")
        scale = np.float32(peak / 127.0)
        q = np.zeros(values.size, np.int8) if scale == 0 else np.clip(np.rint(values / scale), -127, 127).astype(np.int8)
        out += np.asarray(scale, "<f4").tobytes() + q.tobytes()
    return bytes(out)


def unpack_decoder(data: bytes, decoder: torch.nn.Module) -> None:
    """Load pack_decoder's bytes into ``decoder`` (same architecture)."""
    tensors = _decoder_tensors(decoder)
    expected = sum(4 + t.numel() for _, t in tensors)
    if len(data) != expected:
        raise CorruptPayloadError(f"DECW: {len(data)} bytes where the decoder takes {expected}")
    state, offset = {}, 0
    for name, tensor in tensors:
        scale = float(np.frombuffer(data, "<f4", 1, offset)[0])
        if not (np.isfinite(scale) and 0 <= scale < MAX_SCALE):
            raise CorruptPayloadError(f"DECW: invalid scale {scale} for {name}")
        q = np.frombuffer(data, np.int8, tensor.numel(), offset + 4).astype(np.float32)
        state[name] = torch.from_numpy(q * np.float32(scale)).reshape(tensor.shape)
        offset += 4 + tensor.numel()
    decoder.load_state_dict(state)


@register
class CNNAEFTCodec(_PretrainedBlockCodec):
    name = "cnn-ae-ft"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 24 << 20
    decode_bytes_per_pixel = 88
    description = "report 001 Fig. 8: CNN-AE encoder + a narrow decoder fine-tuned on the image, stored in the file (int8)"
    Params = FineTuneParams
    HeaderParams = FineTuneHeader

    def fine_tune(self, image: np.ndarray, params: FineTuneParams) -> tuple[torch.Tensor, torch.nn.Module]:
        """The image's 6-bit latents and its fine-tuned narrow decoder (before int8 storage;
        train/cnnae_ft.py)."""
        _check_size(image, self.name)
        pretrained = _load(self.model_id())
        blocks, _, _ = _blocks(image)
        latents = quantize(_batched(pretrained.encoder, blocks), LATENT_BITS)
        decoder = copy.deepcopy(pretrained.decoder).train()
        if params.iterations:
            fine_tune(decoder, dequantize(latents, LATENT_BITS), blocks, params.iterations, params.lr, params.seed)
        return latents, decoder.eval()

    def encode(self, image: np.ndarray, params: FineTuneParams) -> Payload:
        latents, decoder = self.fine_tune(image, params)
        return Payload([Section("LATN", pack_latents(latents.numpy().astype(np.uint8), LATENT_BITS, params.entropy)),
                        Section("DECW", pack_decoder(decoder))], {"model": self.model_id(), **_stored_options(params)})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        stored = self.header_params(header)
        rows, columns = _grid(header)
        latent_data, weight_data = self.expect_sections(sections, ["LATN", "DECW"])
        values = unpack_latents(latent_data, rows * columns, LATENT_BITS, stored.entropy, "LATN")
        decoder = copy.deepcopy(_load(self.model_id()).decoder)
        unpack_decoder(weight_data, decoder)
        return _render(decoder, values, header, stored.deblock)
