"""Quantized network weights, entropy-coded: the decoder stored in the file.

Each tensor's integers are coded under a zero-mean discretized Laplace whose scale is
fitted to that tensor and stored as one byte (an index into the quantized scale grid),
all tensors of a network in one range-coded stream::

    uvarint(number of tensors) | one scale byte per tensor (255: all zero) | stream
"""

from __future__ import annotations

import numpy as np

from latentpress.binary import Reader, uvarint
from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError

ALL_ZERO = 255
MAX_INTEGER = 1 << 24


def encode_integers(tensors: list[np.ndarray]) -> bytes:
    encoder = EntropyEncoder()
    scale_bytes = bytearray()
    for tensor in tensors:
        values = np.asarray(tensor, np.int64).ravel()
        if not values.any():
            scale_bytes.append(ALL_ZERO)
            continue
        _, table = tables.snap(0.0, max(float(np.abs(values).mean()), 1e-3))
        scale_bytes.append(int(table) // tables.NUM_OFFSETS)
        encoder.encode_parametric(values, Family.LAPLACE, np.zeros_like(values), np.full(values.size, table))
    return uvarint(len(tensors)) + bytes(scale_bytes) + encoder.finish()


def decode_integers(data: bytes, shapes: list[tuple[int, ...]], what: str) -> list[np.ndarray]:
    reader = Reader(data, what)
    count = reader.uvarint(len(shapes))
    if count != len(shapes):
        raise CorruptPayloadError(f"{what}: {count} tensors, the architecture has {len(shapes)}")
    scale_bytes = reader.take(count)
    decoder = EntropyDecoder(reader.take(reader.remaining))
    out = []
    for shape, index in zip(shapes, scale_bytes):
        size = int(np.prod(shape))
        if index == ALL_ZERO:
            out.append(np.zeros(shape, np.int64))
            continue
        if index >= tables.NUM_SCALES:
            raise CorruptPayloadError(f"{what}: scale index {index} out of range")
        table = index * tables.NUM_OFFSETS + tables.OFFSET_STEPS
        values = decoder.decode_parametric(Family.LAPLACE, np.zeros(size, np.int64), np.full(size, table))
        if np.abs(values).max(initial=0) >= MAX_INTEGER:
            raise CorruptPayloadError(f"{what}: weight out of range")
        out.append(values.reshape(shape))
    decoder.finish()
    return out
