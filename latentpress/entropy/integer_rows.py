"""Rows of integers (feature maps, code dimensions) under the cheapest per-file prior.

Three ways to code R rows of N integers, all with the prior stored in the data; the
encoder keeps whichever gives the fewest bytes::

    mode 0  one FactorizedPrior table per row
    mode 1  one FactorizedPrior table shared by all rows
    mode 2  per row an svarint offset (the row's median) and a Laplace scale byte
            (entropy/laplace_rows.py) for the integers minus the offset

Layout: mode byte | mode 0/1: the FactorizedPrior bytes; mode 2: R svarint offsets,
then R scale bytes | the range-coded stream (rows in order).
"""

from __future__ import annotations

import numpy as np

from latentpress.binary import Reader, svarint
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.factorized import FactorizedPrior
from latentpress.entropy.laplace_rows import decode_rows, encode_rows
from latentpress.errors import CorruptPayloadError

MODE_TABLES, MODE_SHARED, MODE_LAPLACE = 0, 1, 2
MAX_VALUE = 1 << 40


def encode_integer_rows(symbols: np.ndarray) -> bytes:
    """(R, N) integers → bytes (the smallest of the three modes)."""
    symbols = np.asarray(symbols, np.int64)
    if symbols.ndim != 2:
        raise ValueError("symbols must have shape (rows, count)")
    candidates = []
    for mode, rows in ((MODE_TABLES, symbols), (MODE_SHARED, symbols.reshape(1, -1))):
        prior = FactorizedPrior.fit(rows)
        encoder = EntropyEncoder()
        prior.encode(encoder, rows)
        candidates.append(bytes([mode]) + prior.to_bytes() + encoder.finish())
    offsets = np.median(symbols, axis=1).round().astype(np.int64) if symbols.size else np.zeros(len(symbols), np.int64)
    encoder = EntropyEncoder()
    scale_bytes = encode_rows(encoder, list(symbols - offsets[:, None]))
    candidates.append(bytes([MODE_LAPLACE]) + b"".join(svarint(int(o)) for o in offsets)
                      + scale_bytes + encoder.finish())
    return min(candidates, key=len)


def decode_integer_rows(data: bytes, rows: int, count: int, what: str) -> np.ndarray:
    """Inverse of :func:`encode_integer_rows`; CorruptPayloadError on anything malformed.
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
        values = np.stack(decode_rows(decoder, scale_bytes, [count] * rows, what)) + offsets[:, None] \
            if rows else np.zeros((0, count), np.int64)
    else:
        raise CorruptPayloadError(f"{what}: unknown mode {mode}")
    decoder.finish()
    if np.abs(values).max(initial=0) >= MAX_VALUE:
        raise CorruptPayloadError(f"{what}: value out of range")
    return values
