"""Codec ``factorized``: a pretrained factorized-prior autoencoder (the reference path).

A small version of J. Ballé, V. Laparra, E. P. Simoncelli, "End-to-end Optimized Image
Compression", ICLR 2017: the default codec, and the one that proves the whole path —
image → analysis transform → quantized latents → range coder → ``.lpx`` → range decoder
→ synthesis transform → image — with weights shipped in the package (model.py has the
network, with 64 channels so that it trains and runs on a 2-core CPU, and one model
for every rate; latentpress/train/factorized.py the command that trained it).

Entropy model: factorized (every latent of a channel i.i.d.), with the probabilities
stored in the file, so the decoder's range coder is driven by integers from the file,
never by a float network. The encoder codes the latents both ways below and keeps the
smaller file:

- mode 0, parametric: a zero-mean discretized Laplace per channel whose scale is
  fitted to this image and stored as one byte (an index into the quantized scale grid
  of latentpress.entropy.tables);
- mode 1, table: a per-channel frequency table fitted to this image
  (latentpress.entropy.FactorizedPrior), stored compactly.

Ballé et al. learn a non-parametric density per channel once; fitting the prior per
image instead costs a few dozen bytes and adapts it to each image and to every gain
of the quality knob, which a single learned density cannot.

Payload version 1, sections in order:

``PRIO``  one mode byte, then for mode 0: M bytes, per latent channel the scale index
          (0…63) or 255 for a channel whose latents are all zero (not coded at all);
          for mode 1: the FactorizedPrior bytes (M channels).
``LATN``  the range-coded latents, channel by channel, raster order within a channel;
          latent grid = ceil(H/16) × ceil(W/16).

Header parameters: ``quality`` (0…100, sets the quantization gain) and ``model``
(the shipped weights' id; a file made with other weights is refused).

Decoding writes the output tile by tile (1024×1024 pixels) into the uint8 image, so
peak memory is about 3 bytes per pixel plus one tile, whatever the image size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.factorized.model import (
    DOWNSAMPLING,
    Architecture,
    FactorizedAutoencoder,
    gain_for_quality,
)
from latentpress.container import Header, Section
from latentpress.entropy import EntropyDecoder, EntropyEncoder, FactorizedPrior
from latentpress.entropy.integer_tensors import decode_laplace, encode_laplace, encode_tables
from latentpress.errors import CorruptPayloadError, ParameterError
from latentpress.image import pad_to_multiple, to_uint8
from latentpress.nn.tiling import tiled_apply, tiled_map
from latentpress.weights import load_weights

MODEL_ID = "factorized-v1"
MODE_PARAMETRIC = 0
MODE_TABLE = 1
# Tiles of 1024×1024 pixels bound memory (~0.5 GB) on large images; Kodak is one tile.
_TILE_LATENTS = 64
_MARGIN_LATENTS = 4


@functools.cache
def _model() -> FactorizedAutoencoder:
    model = FactorizedAutoencoder(Architecture())
    model.load_state_dict(load_weights(MODEL_ID + ".safetensors"))
    model.eval()
    return model


@dataclass(frozen=True)
class FactorizedParams:
    quality: int = 50
    """0 (smallest file) … 100 (best quality)."""

    def validate(self) -> None:
        if not 0 <= self.quality <= 100:
            raise ParameterError(f"quality must be between 0 and 100, got {self.quality}")


@dataclass(frozen=True)
class FactorizedHeader:
    quality: int
    model: str

    def check(self) -> None:
        if self.model != MODEL_ID:
            raise CorruptPayloadError(f"file was made with model {self.model!r}; this build has {MODEL_ID!r}")
        if not 0 <= self.quality <= 100:
            raise CorruptPayloadError(f"invalid quality {self.quality!r} in header")


@register
class FactorizedCodec(Codec):
    name = "factorized"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 128 << 20
    decode_bytes_per_pixel = 200
    version = 1
    description = "pretrained factorized-prior autoencoder (Ballé et al. 2017), quality 0-100"
    Params = FactorizedParams
    HeaderParams = FactorizedHeader
    quality_meaning = "sets the latents' quantization gain"

    def encode(self, image: np.ndarray, params: FactorizedParams) -> Payload:
        model = _model()
        rgb = image if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        padded = pad_to_multiple(rgb, DOWNSAMPLING)
        x = torch.from_numpy(np.array(padded)).permute(2, 0, 1)[None].float().div_(255.0)
        with torch.inference_mode():
            latents = tiled_apply(model.encode_latents, x, Fraction(1, DOWNSAMPLING),
                                  _TILE_LATENTS * DOWNSAMPLING, _MARGIN_LATENTS * DOWNSAMPLING)
            symbols = torch.round(latents[0] * gain_for_quality(params.quality))
        symbols = symbols.numpy().astype(np.int64).reshape(symbols.shape[0], -1)

        candidates = [_code_parametric(symbols), _code_table(symbols)]
        prior, stream = min(candidates, key=lambda pair: len(pair[0]) + len(pair[1]))
        sections = [Section("PRIO", prior), Section("LATN", stream)]
        return Payload(sections, {"quality": params.quality, "model": MODEL_ID})

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        quality = self.header_params(header).quality
        prior, stream = self.expect_sections(sections, ["PRIO", "LATN"])
        model = _model()
        channels = model.arch.latent_channels
        grid_h = -(-header.height // DOWNSAMPLING)
        grid_w = -(-header.width // DOWNSAMPLING)
        decoder = EntropyDecoder(stream)
        if prior[:1] == bytes([MODE_PARAMETRIC]):
            symbols = _decode_parametric(prior[1:], decoder, channels, grid_h * grid_w)
        elif prior[:1] == bytes([MODE_TABLE]):
            table = FactorizedPrior.from_bytes(prior[1:])
            if table.channels != channels:
                raise CorruptPayloadError(f"PRIO has {table.channels} channels, expected {channels}")
            symbols = table.decode(decoder, grid_h * grid_w)
        else:
            raise CorruptPayloadError(f"unknown PRIO mode {prior[:1]!r}")
        decoder.finish()
        if np.abs(symbols).max(initial=0) > 1e6:
            raise CorruptPayloadError("latent values out of range")
        y_hat = torch.from_numpy(symbols.astype(np.float32).reshape(1, channels, grid_h, grid_w))
        y_hat /= gain_for_quality(quality)
        out = np.empty((header.height, header.width) + ((3,) if header.channels == 3 else ()), np.uint8)
        with torch.inference_mode():
            for top, left, tile in tiled_map(model.decode_latents, y_hat, Fraction(DOWNSAMPLING),
                                             _TILE_LATENTS, _MARGIN_LATENTS):
                rgb = tile[0].permute(1, 2, 0)[:header.height - top, :header.width - left].numpy() * 255.0
                region = to_uint8(rgb.mean(axis=2) if header.channels == 1 else rgb)
                out[top:top + region.shape[0], left:left + region.shape[1]] = region
        return out


def _code_parametric(symbols: np.ndarray) -> tuple[bytes, bytes]:
    encoder = EntropyEncoder()
    scale_bytes = encode_laplace(encoder, symbols)
    return bytes([MODE_PARAMETRIC]) + scale_bytes, encoder.finish()


def _code_table(symbols: np.ndarray) -> tuple[bytes, bytes]:
    prior, stream = encode_tables(symbols)
    return bytes([MODE_TABLE]) + prior, stream


def _decode_parametric(prior: bytes, decoder: EntropyDecoder, channels: int, count: int) -> np.ndarray:
    return np.stack(decode_laplace(decoder, prior, [count] * channels, "factorized PRIO"))
