"""Codec ``dense-mnist``: report 004's dense autoencoder for 28×28 greyscale images.

Report 004: Huseyin Can Ercan, "Image Compression with Autoencoders" (2018): a dense
784-128-64-128-784 autoencoder (model.py) whose 64-value middle layer is the compressed
digit. Where it departs from the report: the code is stored in a fixed binary form
rather than as the report's 19-digit text (below), and the decoder is shared, not
stored per file: the package ships the trained models (``model=mnist``:
weights/dense-mnist-v1.safetensors, trained on 8,000 digits of the MNIST test split;
``model=fashion``: dense-fashion-v1, trained on Fashion-MNIST's 60,000 training images;
latentpress/train/dense.py), and a file holds only the 64-value code plus the model's
id and the first 16 hex digits of its SHA-256, so that a file is never decoded with
other weights.

Code representations (``code``), all fixed little-endian where multi-byte, so that a file
reads the same on every machine (the report's §1.2 worry, which it answered with text):

- ``float32``: the encoder's sigmoid outputs as they are (256 bytes);
- ``float16``: the same rounded to half precision (128 bytes);
- ``fixed`` (default): each value quantized to ``bits`` bits, round(z·(2^bits − 1)),
  packed most significant bit first (64 bytes at 8 bits);
- ``range``: the same integers range-coded under per-dimension frequency tables that ship
  with the model (fitted on its training codes at each bit depth, model.py fit_priors).
  It saves next to nothing: the trained sigmoid code spreads each value almost uniformly
  over (0, 1), so the tables are nearly flat (results/seed004/).

Payload version 1. Header parameters (DenseHeader): ``model`` (``dense-mnist-v1`` or
``dense-fashion-v1``), ``weights`` (the SHA-256 prefix), ``code``, ``bits`` (fixed and
range only). One section, ``CODE``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from latentpress.binary import pack_bits, unpack_bits
from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.dense.model import MAX_BITS, SIDE, DenseAutoencoder, quantize
from latentpress.container import Header, Section
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.factorized import FactorizedPrior
from latentpress.errors import CorruptPayloadError, ImageError, ParameterError
from latentpress.image import to_uint8
from latentpress.weights import CHECKSUMS, load_weights

MODELS = {"mnist": "dense-mnist-v1", "fashion": "dense-fashion-v1"}
CODES = ("float32", "float16", "fixed", "range")


@functools.cache
def _load(model_id: str) -> tuple[DenseAutoencoder, dict[int, FactorizedPrior]]:
    tensors = load_weights(f"{model_id}.safetensors")
    priors = {int(k.removeprefix("prior.bits")): FactorizedPrior.from_bytes(bytes(v.to(torch.uint8).numpy()))
              for k, v in tensors.items() if k.startswith("prior.")}
    state = {k: v for k, v in tensors.items() if not k.startswith("prior.")}
    model = DenseAutoencoder(code=state["encoder.2.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval(), priors


def _checksum(model_id: str) -> str:
    return CHECKSUMS.get(f"{model_id}.safetensors", "missing")[:16]


@dataclass(frozen=True)
class DenseParams:
    model: str = "mnist"
    """Which shipped model: mnist (digits) or fashion (Fashion-MNIST clothing)."""
    code: str = "fixed"
    """How the 64-value code is stored: float32, float16, fixed (bits per value) or range."""
    bits: int = 8
    """Bits per code value for fixed and range (1-8)."""

    def validate(self) -> None:
        if self.model not in MODELS:
            raise ParameterError(f"model must be one of {', '.join(MODELS)}, got {self.model!r}")
        if self.code not in CODES:
            raise ParameterError(f"code must be one of {', '.join(CODES)}, got {self.code!r}")
        if not 1 <= self.bits <= MAX_BITS:
            raise ParameterError(f"bits must be 1-{MAX_BITS}, got {self.bits}")


@dataclass(frozen=True)
class DenseHeader:
    model: str
    weights: str                     # the first 16 hex digits of the weights' SHA-256
    code: Literal["float32", "float16", "fixed", "range"]
    bits: int | None = None          # fixed and range only

    def check(self) -> None:
        if self.model not in MODELS.values():
            raise CorruptPayloadError(f"file was made with model {self.model!r}; this build has "
                                      f"{', '.join(MODELS.values())}")
        if self.weights != _checksum(self.model):
            raise CorruptPayloadError(f"file was made with weights {self.weights!r} of {self.model}; "
                                      f"this build's are {_checksum(self.model)!r}")
        if (self.code in ("fixed", "range")) != (self.bits is not None) \
                or self.bits is not None and not 1 <= self.bits <= MAX_BITS:
            raise CorruptPayloadError(f"invalid bits {self.bits!r} for code {self.code}")


@register
class DenseMNISTCodec(Codec):
    name = "dense-mnist"
    version = 1
    description = "report 004: dense 784-128-64-128-784 autoencoder for 28x28 greyscale digits; shared decoder"
    Params = DenseParams
    HeaderParams = DenseHeader

    quality_meaning = "the bits per code value, 1 to 8 (fixed and range codes)"

    @classmethod
    def quality_params(cls, quality: int) -> dict:
        """Quality 0-100 → bits per code value of the fixed and range codes, 1 to 8."""
        return {"bits": 1 + (quality * (MAX_BITS - 1) + 50) // 100}

    def encode(self, image: np.ndarray, params: DenseParams) -> Payload:
        if image.ndim != 2 or image.shape != (SIDE, SIDE):
            shape = "x".join(map(str, image.shape[1::-1])) + ("" if image.ndim == 2 else f"x{image.shape[2]}")
            raise ImageError(f"dense-mnist codes {SIDE}x{SIDE} greyscale images only (MNIST-style digits); "
                             f"this one is {shape}. Convert to 8-bit greyscale and resize to {SIDE}x{SIDE} first.")
        model_id = MODELS[params.model]
        model, priors = _load(model_id)
        with torch.inference_mode():
            code = model.encoder(torch.from_numpy(image.reshape(1, -1)).float() / 255.0)[0]
        if params.code == "float32":
            data = code.numpy().astype("<f4").tobytes()
        elif params.code == "float16":
            data = code.numpy().astype("<f2").tobytes()
        elif params.code == "fixed":
            data = pack_bits(quantize(code, params.bits), params.bits)
        else:
            encoder = EntropyEncoder()
            priors[params.bits].encode(encoder, quantize(code, params.bits)[:, None])
            data = encoder.finish()
        header = {"model": model_id, "weights": _checksum(model_id), "code": params.code}
        if params.code in ("fixed", "range"):
            header["bits"] = params.bits
        return Payload([Section("CODE", data)], header)

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        stored = self.header_params(header)
        if (header.width, header.height, header.channels) != (SIDE, SIDE, 1):
            raise CorruptPayloadError(f"dense-mnist files hold {SIDE}x{SIDE} greyscale images, "
                                      f"not {header.width}x{header.height}x{header.channels}")
        (data,) = self.expect_sections(sections, ["CODE"])
        model, priors = _load(stored.model)
        code = self._code(data, stored.code, stored.bits, priors, model.code)
        with torch.inference_mode():
            pixels = model.decoder(torch.from_numpy(code)[None])[0].numpy()
        return to_uint8(pixels.reshape(SIDE, SIDE) * 255.0)

    @staticmethod
    def _code(data: bytes, kind: str, bits: int | None, priors: dict[int, FactorizedPrior], width: int) -> np.ndarray:
        if kind in ("float32", "float16"):
            dtype = np.dtype("<f4" if kind == "float32" else "<f2")
            if len(data) != width * dtype.itemsize:
                raise CorruptPayloadError(f"CODE: {len(data)} bytes where {width} {kind} values take "
                                          f"{width * dtype.itemsize}")
            code = np.frombuffer(data, dtype).astype(np.float32)
            if not np.isfinite(code).all():
                raise CorruptPayloadError("CODE: a value is not finite")
            return code
        if kind == "fixed":
            values = unpack_bits(data, width, bits, "CODE")
        else:
            decoder = EntropyDecoder(data)
            values = priors[bits].decode(decoder, 1)[:, 0]
            decoder.finish()
            if values.min() < 0 or values.max() >= 1 << bits:
                raise CorruptPayloadError(f"CODE: values outside 0-{(1 << bits) - 1}")
        return (values / ((1 << bits) - 1)).astype(np.float32)
