"""Rows of integers coded under zero-mean Laplace models fitted per row.

The simplest adaptive prior: each row (a latent channel, a weight tensor) gets the
maximum-likelihood Laplace scale snapped to the table grid, stored as one byte — 255
marks an all-zero row, which costs nothing else. The coded symbols go into a shared
range coder, row after row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.tables import Family
from latentpress.errors import CorruptPayloadError

ALL_ZERO = 255


def encode_rows(encoder: EntropyEncoder, rows: Sequence[np.ndarray]) -> bytes:
    """Code each row; return the scale bytes (one per row) the decoder needs."""
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


def decode_rows(decoder: EntropyDecoder, scale_bytes: bytes, sizes: Sequence[int], what: str) -> list[np.ndarray]:
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
