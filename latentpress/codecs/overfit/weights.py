"""Quantized network weights, entropy-coded: the decoder stored in the file.

Each tensor's integers are coded under a zero-mean discretized Laplace fitted to that
tensor, all tensors of a network in one range-coded stream::

    uvarint(number of tensors) | one scale byte per tensor (255: all zero) | stream

(see latentpress.entropy.laplace_rows).
"""

from __future__ import annotations

import numpy as np

from latentpress.binary import Reader, uvarint
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.laplace_rows import decode_rows, encode_rows
from latentpress.errors import CorruptPayloadError

MAX_INTEGER = 1 << 24


def encode_integers(tensors: list[np.ndarray]) -> bytes:
    encoder = EntropyEncoder()
    scale_bytes = encode_rows(encoder, tensors)
    return uvarint(len(tensors)) + scale_bytes + encoder.finish()


def decode_integers(data: bytes, shapes: list[tuple[int, ...]], what: str) -> list[np.ndarray]:
    reader = Reader(data, what)
    count = reader.uvarint(len(shapes))
    if count != len(shapes):
        raise CorruptPayloadError(f"{what}: {count} tensors, the architecture has {len(shapes)}")
    scale_bytes = reader.take(count)
    decoder = EntropyDecoder(reader.take(reader.remaining))
    rows = decode_rows(decoder, scale_bytes, [int(np.prod(shape)) for shape in shapes], what)
    decoder.finish()
    if any(np.abs(row).max(initial=0) >= MAX_INTEGER for row in rows):
        raise CorruptPayloadError(f"{what}: weight out of range")
    return [row.reshape(shape) for row, shape in zip(rows, shapes)]
