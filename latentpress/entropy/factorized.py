"""Factorized priors: one integer frequency table per channel, stored in the file.

A factorized prior models every symbol of channel ``c`` as i.i.d. under one table.
The table is either fitted to the data being coded (:meth:`FactorizedPrior.fit`, the
per-file prior) or made from a learned density (:meth:`FactorizedPrior.from_pmf`);
either way it is integers, serialised compactly with :meth:`to_bytes`, and the
decoder rebuilds bit-identical constriction models from it.

Layout of ``to_bytes``: uvarint channel count C, then per channel: svarint minimum
symbol, uvarint support size n (≤ MAX_SUPPORT), n+1 uvarint frequencies (≥ 1; the
last is the escape symbol for values outside [minimum, minimum+n)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from latentpress.binary import Reader, svarint, uvarint
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder, categorical_model

MAX_SUPPORT = 4096
MAX_CHANNELS = 1 << 16
MAX_FREQUENCY = 1 << 20
DEFAULT_PRECISION = 12


@dataclass(frozen=True, eq=False)
class FactorizedPrior:
    minimums: tuple[int, ...]
    frequencies: tuple[np.ndarray, ...]     # per channel, support + escape, int64 ≥ 1

    @property
    def channels(self) -> int:
        return len(self.minimums)

    @classmethod
    def fit(cls, symbols: np.ndarray, precision: int = DEFAULT_PRECISION) -> "FactorizedPrior":
        """Fit tables to ``symbols`` of shape (C, N): counts scaled to ~2**precision.

        Supports wider than MAX_SUPPORT keep the central range and escape the rest.
        """
        symbols = np.asarray(symbols, dtype=np.int64)
        if symbols.ndim != 2:
            raise ValueError("symbols must have shape (channels, count)")
        minimums, tables = [], []
        for row in symbols:
            if row.size == 0:
                minimums.append(0)
                tables.append(np.ones(2, np.int64))
                continue
            lo, hi = int(row.min()), int(row.max())
            if hi - lo + 1 > MAX_SUPPORT:
                lo = int(np.median(row)) - MAX_SUPPORT // 2
                hi = lo + MAX_SUPPORT - 1
            inside = (row >= lo) & (row <= hi)
            counts = np.bincount(row[inside] - lo, minlength=hi - lo + 1)
            counts = np.append(counts, row.size - inside.sum())
            scaled = np.floor(counts * ((1 << precision) / row.size) + 0.5).astype(np.int64)
            minimums.append(lo)
            tables.append(np.maximum(scaled, 1))
        return cls(tuple(minimums), tuple(tables))

    @classmethod
    def from_pmf(cls, minimums: list[int], pmfs: list[np.ndarray], precision: int = 16) -> "FactorizedPrior":
        """Quantize per-channel probability vectors (e.g. a learned density evaluated on
        the integers minimum…minimum+n−1; remaining mass goes to the escape symbol)."""
        tables = []
        for pmf in pmfs:
            pmf = np.clip(np.asarray(pmf, np.float64), 0, None)
            escape = max(0.0, 1.0 - pmf.sum())
            scaled = np.floor(np.append(pmf, escape) * (1 << precision) + 0.5).astype(np.int64)
            tables.append(np.maximum(scaled, 1))
        return cls(tuple(int(m) for m in minimums), tuple(tables))

    def to_bytes(self) -> bytes:
        out = [uvarint(self.channels)]
        for lo, table in zip(self.minimums, self.frequencies):
            out += [svarint(lo), uvarint(table.size - 1)]
            out += [uvarint(int(f)) for f in table]
        return b"".join(out)

    @classmethod
    def read(cls, reader: Reader) -> "FactorizedPrior":
        channels = reader.uvarint(MAX_CHANNELS)
        minimums, tables = [], []
        for _ in range(channels):
            minimums.append(reader.svarint(1 << 40))
            support = reader.uvarint(MAX_SUPPORT)
            if support == 0:
                raise reader.fail("factorized prior channel with an empty support")
            # Each frequency takes at least one byte, so this loop is bounded by the input.
            if support + 1 > reader.remaining:
                raise reader.fail("factorized prior table is truncated")
            table = np.array([reader.uvarint(MAX_FREQUENCY) for _ in range(support + 1)], np.int64)
            if table.min() < 1:
                raise reader.fail("factorized prior has a zero frequency")
            tables.append(table)
        return cls(tuple(minimums), tuple(tables))

    @classmethod
    def from_bytes(cls, data: bytes) -> "FactorizedPrior":
        reader = Reader(data, "factorized prior")
        prior = cls.read(reader)
        reader.expect_end()
        return prior

    def ideal_bits(self, symbols: np.ndarray) -> float:
        """−log2 p of ``symbols`` (C, N) under the tables (escape payloads excluded)."""
        bits = 0.0
        for row, lo, table in zip(np.asarray(symbols, np.int64), self.minimums, self.frequencies):
            index = row - lo
            index = np.where((index < 0) | (index >= table.size - 1), table.size - 1, index)
            bits -= np.log2(table[index] / table.sum()).sum()
        return float(bits)

    def encode(self, encoder: EntropyEncoder, symbols: np.ndarray) -> None:
        symbols = np.asarray(symbols, dtype=np.int64)
        if symbols.ndim != 2 or symbols.shape[0] != self.channels:
            raise ValueError(f"expected symbols of shape ({self.channels}, N), got {symbols.shape}")
        for row, lo, table in zip(symbols, self.minimums, self.frequencies):
            support = table.size - 1
            index = row - lo
            escaped = (index < 0) | (index >= support)
            encoder.encode_categorical(np.where(escaped, support, index), categorical_model(table))
            if escaped.any():
                if np.abs(index[escaped].astype(np.float64)).max() >= float(1 << 62):
                    raise ValueError("a symbol lies 2**62 or more outside its table; it cannot be coded")
                below = index[escaped] < 0
                magnitude = np.where(below, -index[escaped] - 1, index[escaped] - support)
                encoder.encode_escaped(magnitude, below)

    def decode(self, decoder: EntropyDecoder, count: int) -> np.ndarray:
        out = np.empty((self.channels, count), np.int64)
        for c, (lo, table) in enumerate(zip(self.minimums, self.frequencies)):
            support = table.size - 1
            index = decoder.decode_categorical(categorical_model(table), count)
            escaped = index == support
            if escaped.any():
                magnitude, below = decoder.decode_escaped(int(escaped.sum()))
                index[escaped] = np.where(below, -magnitude - 1, magnitude + support)
            out[c] = index + lo
        return out
