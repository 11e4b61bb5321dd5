"""Integer tensors coded under priors fitted to each file and stored beside them.

Every learned codec stores integers that nothing earlier in the file predicts: network
weights, block codes, PCA axes, latent channels. They are coded row by row (a row is a
tensor, a latent channel, a code dimension) under one of two priors, fitted to the data:

- **Laplace**: per row a zero-mean discretized Laplace whose maximum-likelihood scale,
  snapped to the table grid (latentpress.entropy.tables), is stored as one byte; 255
  marks an all-zero row, which costs nothing else. Rows may differ in length.
- **Tables**: a frequency table per row, or one shared by all rows
  (latentpress.entropy.factorized.FactorizedPrior).

Two layouts are built on them:

``tensors`` (network weights)::

    uvarint(number of tensors) | one Laplace scale byte per tensor | stream

``rows`` (R rows of N integers), whichever of three modes is smallest::

    mode byte | prior | stream
    mode 0  a table per row             (FactorizedPrior bytes)
    mode 1  one table for all rows      (FactorizedPrior bytes)
    mode 2  per row an offset (the row's median, R svarints), then the Laplace
            scale bytes of the integers minus their offset

The factorized codec stores a prior and its stream in two sections and uses the
Laplace and table priors directly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentpress.binary import Reader, svarint, uvarint
from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.factorized import FactorizedPrior
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError

ALL_ZERO = 255
# Network weights are stored below this magnitude (latentpress.nn.precision quantizes
# to it): float32 holds every such integer exactly.
MAX_WEIGHT = 1 << 24
MAX_VALUE = 1 << 40
MODE_TABLES, MODE_SHARED, MODE_LAPLACE = 0, 1, 2


# The two priors ---------------------------------------------------------------------

def encode_laplace(encoder: EntropyEncoder, rows: Sequence[np.ndarray]) -> bytes:
    """Code each row under its own zero-mean Laplace; return the scale bytes."""
    scale_bytes = bytearray()
    for row in rows:
        values = np.asarray(row, np.int64).ravel()
        if not values.any():
            scale_bytes.append(ALL_ZERO)
            continue
        _, table = tables.snap(0.0, max(float(np.abs(values).mean()), 1e-3))
        scale_bytes.append(int(table) // tables.NUM_OFFSETS)
        encoder.encode_parametric(values, Family.LAPLACE, np.zeros_like(values), np.full(values.size, table))
    return bytes(scale_bytes)


def decode_laplace(decoder: EntropyDecoder, scale_bytes: bytes, sizes: Sequence[int], what: str) -> list[np.ndarray]:
    """Inverse of :func:`encode_laplace` for rows of the given sizes."""
    if len(scale_bytes) != len(sizes):
        raise CorruptPayloadError(f"{what}: {len(scale_bytes)} scale bytes, expected {len(sizes)}")
    rows = []
    for size, index in zip(sizes, scale_bytes):
        if index == ALL_ZERO:
            rows.append(np.zeros(size, np.int64))
            continue
        if index >= tables.NUM_SCALES:
            raise CorruptPayloadError(f"{what}: scale index {index} outside the table")
        table = index * tables.NUM_OFFSETS + tables.OFFSET_STEPS            # mean offset 0
        rows.append(decoder.decode_parametric(Family.LAPLACE, np.zeros(size, np.int64), np.full(size, table)))
    return rows


def encode_tables(symbols: np.ndarray) -> tuple[bytes, bytes]:
    """(R, N) integers under a frequency table per row: (the prior's bytes, the stream)."""
    prior = FactorizedPrior.fit(symbols)
    encoder = EntropyEncoder()
    prior.encode(encoder, symbols)
    return prior.to_bytes(), encoder.finish()


# Layout "tensors" -----------------------------------------------------------------

def encode_tensors(tensors: Sequence[np.ndarray]) -> bytes:
    """Integer tensors (each below MAX_WEIGHT in magnitude) → bytes."""
    encoder = EntropyEncoder()
    scale_bytes = encode_laplace(encoder, tensors)
    return uvarint(len(tensors)) + scale_bytes + encoder.finish()


def decode_tensors(data: bytes, shapes: Sequence[tuple[int, ...]], what: str) -> list[np.ndarray]:
    """Inverse of :func:`encode_tensors`: tensors of the shapes the decoder expects."""
    reader = Reader(data, what)
    count = reader.uvarint(len(shapes))
    if count != len(shapes):
        raise CorruptPayloadError(f"{what}: {count} tensors, the architecture has {len(shapes)}")
    scale_bytes = reader.take(count)
    decoder = EntropyDecoder(reader.take(reader.remaining))
    rows = decode_laplace(decoder, scale_bytes, [int(np.prod(shape)) for shape in shapes], what)
    decoder.finish()
    if any(np.abs(row).max(initial=0) >= MAX_WEIGHT for row in rows):
        raise CorruptPayloadError(f"{what}: weight out of range")
    return [row.reshape(shape) for row, shape in zip(rows, shapes)]


# Layout "rows" --------------------------------------------------------------------

def encode_rows(symbols: np.ndarray) -> bytes:
    """(R, N) integers → bytes (the smallest of the three modes)."""
    symbols = np.asarray(symbols, np.int64)
    if symbols.ndim != 2:
        raise ValueError("symbols must have shape (rows, count)")
    candidates = []
    for mode, rows in ((MODE_TABLES, symbols), (MODE_SHARED, symbols.reshape(1, -1))):
        prior, stream = encode_tables(rows)
        candidates.append(bytes([mode]) + prior + stream)
    offsets = np.median(symbols, axis=1).round().astype(np.int64) if symbols.size else np.zeros(len(symbols), np.int64)
    encoder = EntropyEncoder()
    scale_bytes = encode_laplace(encoder, list(symbols - offsets[:, None]))
    candidates.append(bytes([MODE_LAPLACE]) + b"".join(svarint(int(o)) for o in offsets)
                      + scale_bytes + encoder.finish())
    return min(candidates, key=len)


def decode_rows(data: bytes, rows: int, count: int, what: str) -> np.ndarray:
    """Inverse of :func:`encode_rows`; CorruptPayloadError on anything malformed.
    The caller bounds rows × count."""
    reader = Reader(data, what)
    mode = reader.take(1)[0]
    if mode in (MODE_TABLES, MODE_SHARED):
        prior = FactorizedPrior.read(reader)
        expected = rows if mode == MODE_TABLES else 1
        if prior.channels != expected:
            raise CorruptPayloadError(f"{what}: the prior has {prior.channels} tables, expected {expected}")
        decoder = EntropyDecoder(reader.take(reader.remaining))
        values = prior.decode(decoder, count if mode == MODE_TABLES else rows * count).reshape(rows, count)
    elif mode == MODE_LAPLACE:
        offsets = np.array([reader.svarint(MAX_VALUE) for _ in range(rows)], np.int64)
        scale_bytes = reader.take(rows)
        decoder = EntropyDecoder(reader.take(reader.remaining))
        values = np.stack(decode_laplace(decoder, scale_bytes, [count] * rows, what)) + offsets[:, None] \
            if rows else np.zeros((0, count), np.int64)
    else:
        raise CorruptPayloadError(f"{what}: unknown mode {mode}")
    decoder.finish()
    if np.abs(values).max(initial=0) >= MAX_VALUE:
        raise CorruptPayloadError(f"{what}: value out of range")
    return values
