"""Canonical Huffman coding of integer arrays.

A baseline entropy coder: a static, length-limited, canonical Huffman code fitted to
the histogram of the data, stored next to the coded stream.

Public API
----------
``HuffmanTable``
    Code lengths for the alphabet ``min_symbol .. min_symbol + len(lengths) - 1``
    (length 0 = symbol absent). Lengths are optimal under the limit
    ``MAX_CODE_LENGTH`` (package-merge), codes are canonical as in DEFLATE: assigned
    in increasing order of ``(length, symbol)``.
``huffman_encode`` / ``huffman_decode``
    The bare bit stream, no header.
``encode_with_table`` / ``decode_with_table``
    Table, symbol count and stream in one blob.

Byte layouts
------------
*varint* is unsigned LEB128 (7 bits per byte, low group first, at most 10 bytes,
no redundant trailing zero groups); *zigzag* maps ``0, -1, 1, -2, ...`` to
``0, 1, 2, 3, ...``. Both are those of :mod:`latentpress.binary` (``uvarint``,
``svarint``).

Table (``HuffmanTable.to_bytes``)::

    varint(zigzag(min_symbol))
    varint(alphabet size n)              n <= MAX_ALPHABET
    lengths section                      only when n > 0

The lengths section is a bit stream (MSB first, zero-padded to a whole byte) of
tokens read until n lengths are known. ``prev`` is the last length set by a ``same``,
``step`` or ``literal`` token (initially 0); ``absent`` leaves it alone, so the
sparse tails of a histogram (present, absent, present, ...) stay cheap:

    ``0``                   same     one length equal to ``prev``
    ``10``                  absent   one length 0
    ``110`` s               step     one length ``prev + 1`` (s = 0) or ``prev - 1`` (s = 1)
    ``1110`` vvvvv          literal  one length v (5 bits, 0..MAX_CODE_LENGTH)
    ``1111`` z gamma(r)     run      r lengths equal to ``prev`` (z = 0) or 0 (z = 1);
                                     gamma(r) is Elias gamma: k zeros, then r in k+1 bits

Laplace-like histograms give slowly varying lengths, so most symbols cost one or two
bits: a 256-symbol table is typically 20-60 bytes, a uniform one 4 bytes.

Stream (``huffman_encode``): the codes of the symbols in order, MSB first, the last
byte zero-padded. Its length is exactly ``ceil(ideal_bits / 8)`` bytes.

Blob (``encode_with_table``)::

    table bytes | varint(symbol count) | stream (rest of the blob)

Decoding is strict: any inconsistency (truncation, trailing bytes, non-zero padding
bits, an invalid code, a table that breaks a limit or the Kraft inequality) raises
:class:`~latentpress.errors.CorruptPayloadError`; no allocation is larger than what
the limits and the length of the input allow.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass

import numpy as np

from latentpress.binary import Reader, svarint, uvarint
from latentpress.errors import CorruptPayloadError, ParameterError

__all__ = [
    "MAX_ALPHABET",
    "MAX_CODE_LENGTH",
    "HuffmanTable",
    "decode_with_table",
    "encode_with_table",
    "huffman_decode",
    "huffman_encode",
]

MAX_CODE_LENGTH = 24
MAX_ALPHABET = 1 << 20

BytesLike = bytes | bytearray | memoryview

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
# Weights are summed pairwise by package-merge; staying below 2**62 keeps every
# partial sum inside int64.
_MAX_TOTAL_COUNT = 1 << 62
# Widest window for which the decoder uses a direct lookup table (2**16 entries);
# wider codes use canonical per-length arithmetic instead.
_LUT_BITS = 16
# Stream bytes examined per decoder pass (8 bit positions each): bounds the
# temporary arrays (tens of MB) independently of the stream length.
_DECODE_CHUNK_BYTES = 1 << 17
_ENCODE_CHUNK_SYMBOLS = 1 << 18
_GAMMA_MAX_ZEROS = MAX_ALPHABET.bit_length() - 1


# ----------------------------------------------------------------------- bit I/O


class _BitWriter:
    """MSB-first writer that flushes whole bytes, so cost stays linear in the output."""

    def __init__(self) -> None:
        self.out = bytearray()
        self._acc = 0
        self._nbits = 0

    def write(self, value: int, nbits: int) -> None:
        self._acc = (self._acc << nbits) | value
        self._nbits += nbits
        while self._nbits >= 8:
            self._nbits -= 8
            self.out.append((self._acc >> self._nbits) & 0xFF)
        self._acc &= (1 << self._nbits) - 1

    def finish(self) -> bytes:
        if self._nbits:
            self.out.append((self._acc << (8 - self._nbits)) & 0xFF)
        return bytes(self.out)


class _BitReader:
    def __init__(self, data: BytesLike, pos: int) -> None:
        self._data = data
        self.pos = pos
        self._acc = 0
        self._nbits = 0

    def read(self, nbits: int) -> int:
        while self._nbits < nbits:
            if self.pos >= len(self._data):
                raise CorruptPayloadError("huffman: table code lengths are truncated")
            self._acc = (self._acc << 8) | self._data[self.pos]
            self.pos += 1
            self._nbits += 8
        self._nbits -= nbits
        value = self._acc >> self._nbits
        self._acc &= (1 << self._nbits) - 1
        return value

    def check_padding(self) -> None:
        if self._acc:
            raise CorruptPayloadError("huffman: table padding bits are not zero")


def _write_repeats(writer: _BitWriter, run: int, single: tuple[int, int], run_flag: int) -> None:
    """Write ``run`` repeats as single tokens or one run token, whichever is shorter."""
    gamma_bits = 2 * (run.bit_length() - 1) + 1
    if 5 + gamma_bits < run * single[1]:
        writer.write(0b11110 | run_flag, 5)
        writer.write(run, gamma_bits)
    else:
        for _ in range(run):
            writer.write(*single)


# ------------------------------------------------------------------ code lengths


def _code_lengths(counts: np.ndarray, limit: int) -> np.ndarray:
    """Optimal code lengths under ``limit`` by package-merge (Larmore & Hirschberg).

    ``counts`` is int64, non-negative; symbols with count 0 get length 0. Runs in
    O(n * limit) vectorized steps; a plain Huffman code plus a heuristic Kraft fix
    would also respect the limit but is not optimal.
    """
    lengths = np.zeros(counts.shape[0], dtype=np.uint8)
    present = np.flatnonzero(counts)
    n = present.shape[0]
    if n == 0:
        return lengths
    if n == 1:
        # A code needs at least one bit per symbol for the stream to have a length.
        lengths[present] = 1
        return lengths
    if n > 1 << limit:
        raise ParameterError(f"huffman: {n} symbols do not fit in codes of at most {limit} bits")
    order = present[np.argsort(counts[present], kind="stable")]
    weights = counts[order].astype(np.int64)
    # An unrestricted Huffman code is never deeper than n - 1, so more levels are no-ops.
    levels = min(limit, n - 1)

    # Level lists from the deepest (only leaves) up; each next list merges the leaves
    # with the pairwise packages of the previous list. Only which items are leaves
    # is kept: that is all the backtracking below needs.
    leaf_index = np.arange(n)
    is_leaf_per_level = [np.ones(n, dtype=bool)]
    current = weights
    for _ in range(levels - 1):
        paired = current.shape[0] // 2 * 2
        packages = current[0:paired:2] + current[1:paired:2]
        # Leaves go before packages of equal weight; both inputs are sorted.
        leaf_pos = leaf_index + np.searchsorted(packages, weights, side="left")
        package_pos = np.arange(packages.shape[0]) + np.searchsorted(weights, packages, side="right")
        merged = np.empty(n + packages.shape[0], dtype=np.int64)
        merged[leaf_pos] = weights
        merged[package_pos] = packages
        is_leaf = np.zeros(merged.shape[0], dtype=bool)
        is_leaf[leaf_pos] = True
        is_leaf_per_level.append(is_leaf)
        current = merged

    # The first 2n - 2 items of the top list are selected; a selected package
    # selects the first 2 * (number of selected packages) items one level down. A
    # leaf selected at a level adds one bit to its code, and the leaves selected at
    # any level are the lightest ones, so each level contributes a prefix.
    sorted_lengths = np.zeros(n, dtype=np.int64)
    take = 2 * n - 2
    for is_leaf in reversed(is_leaf_per_level):
        leaves = int(np.count_nonzero(is_leaf[:take]))
        sorted_lengths[:leaves] += 1
        take = 2 * (take - leaves)
    lengths[order] = sorted_lengths
    return lengths


# ------------------------------------------------------------------------ table


def _as_symbol_array(symbols: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(symbols)
    if array.dtype.kind not in "iu":
        raise ParameterError(f"huffman: {what} must be an integer array, got dtype {array.dtype}")
    array = array.reshape(-1)
    if array.dtype == np.uint64 and array.size and int(array.max()) > _INT64_MAX:
        raise ParameterError(f"huffman: {what} has values beyond the int64 range")
    return array.astype(np.int64, copy=False)


@dataclass(frozen=True, eq=False)
class HuffmanTable:
    """Code lengths of a canonical, length-limited Huffman code.

    ``lengths[i]`` is the code length of symbol ``min_symbol + i`` (0 = absent). The
    constructor validates and raises :class:`ParameterError`; use ``from_counts`` or
    ``fit`` to build an optimal table and ``from_bytes`` to read a stored one.
    """

    min_symbol: int
    lengths: np.ndarray

    def __post_init__(self) -> None:
        problem = _table_problem(self.min_symbol, self.lengths)
        if problem is not None:
            raise ParameterError(f"huffman: invalid table: {problem}")
        lengths = np.array(self.lengths, dtype=np.uint8)
        # Read-only so that the cached code arrays can never go stale.
        lengths.setflags(write=False)
        object.__setattr__(self, "min_symbol", int(self.min_symbol))
        object.__setattr__(self, "lengths", lengths)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HuffmanTable):
            return NotImplemented
        return self.min_symbol == other.min_symbol and np.array_equal(self.lengths, other.lengths)

    def __hash__(self) -> int:
        return hash((self.min_symbol, self.lengths.tobytes()))

    def __repr__(self) -> str:
        present = int(np.count_nonzero(self.lengths))
        top = int(self.lengths.max()) if self.lengths.size else 0
        return (
            f"HuffmanTable(min_symbol={self.min_symbol}, alphabet={self.lengths.size}, "
            f"present={present}, max_length={top})"
        )

    # ----------------------------------------------------------- construction

    @classmethod
    def from_counts(cls, counts: np.ndarray, min_symbol: int) -> HuffmanTable:
        """Optimal table for ``counts[i]`` occurrences of ``min_symbol + i``.

        The alphabet is trimmed to the first..last symbol with a non-zero count; all
        counts zero gives the empty table.
        """
        counts = np.asarray(counts)
        if counts.ndim != 1 or counts.dtype.kind not in "iu":
            raise ParameterError("huffman: counts must be a 1-D integer array")
        if counts.shape[0] > MAX_ALPHABET:
            raise ParameterError(f"huffman: alphabet of {counts.shape[0]} symbols exceeds {MAX_ALPHABET}")
        if counts.size and int(counts.min()) < 0:
            raise ParameterError("huffman: counts must be non-negative")
        present = np.flatnonzero(counts)
        if present.size == 0:
            return cls(0, np.zeros(0, dtype=np.uint8))
        first, last = int(present[0]), int(present[-1])
        min_symbol = int(min_symbol) + first
        if min_symbol < _INT64_MIN or min_symbol + (last - first) > _INT64_MAX:
            raise ParameterError("huffman: the symbol range does not fit in int64")
        counts = counts[first : last + 1]
        # The cheap bound avoids an exact (Python-int) sum in the common case.
        if int(counts.max()) * counts.shape[0] >= _MAX_TOTAL_COUNT:
            if sum(int(c) for c in counts) >= _MAX_TOTAL_COUNT:
                raise ParameterError("huffman: counts sum to 2**62 or more")
        lengths = _code_lengths(counts.astype(np.int64), MAX_CODE_LENGTH)
        return cls(min_symbol, lengths)

    @classmethod
    def fit(cls, symbols: np.ndarray) -> HuffmanTable:
        """Optimal table for the histogram of an integer array (of any shape)."""
        values = _as_symbol_array(symbols, "symbols")
        if values.size == 0:
            return cls(0, np.zeros(0, dtype=np.uint8))
        low, high = int(values.min()), int(values.max())
        if high - low + 1 > MAX_ALPHABET:
            raise ParameterError(
                f"huffman: symbol range {low}..{high} spans more than MAX_ALPHABET={MAX_ALPHABET} values"
            )
        counts = np.bincount(values - low, minlength=high - low + 1)
        return cls.from_counts(counts, low)

    # ---------------------------------------------------------------- codes

    @functools.cached_property
    def _canonical(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Present symbol indices in (length, symbol) order, their lengths, and the
        left-justified (MAX_CODE_LENGTH-bit) start of each code in that order."""
        present = np.flatnonzero(self.lengths)
        order = present[np.argsort(self.lengths[present], kind="stable")]
        lengths = self.lengths[order].astype(np.int64)
        # Canonical codes left-justified are the running Kraft sum: each code starts
        # where the previous one's interval ends.
        span = np.left_shift(1, MAX_CODE_LENGTH - lengths)
        starts = np.cumsum(span) - span
        return order, lengths, starts

    @functools.cached_property
    def codes(self) -> np.ndarray:
        """Code of each symbol of the alphabet (int64; 0 for absent symbols)."""
        order, lengths, starts = self._canonical
        codes = np.zeros(self.lengths.shape[0], dtype=np.int64)
        codes[order] = starts >> (MAX_CODE_LENGTH - lengths)
        return codes

    @property
    def max_symbol(self) -> int:
        return self.min_symbol + self.lengths.shape[0] - 1

    def _indices(self, symbols: np.ndarray) -> np.ndarray:
        values = _as_symbol_array(symbols, "symbols")
        if values.size == 0:
            return values
        if int(values.min()) < self.min_symbol or int(values.max()) > self.max_symbol:
            raise ParameterError("huffman: a symbol lies outside the table's alphabet")
        indices = values - self.min_symbol
        if not np.all(self.lengths[indices]):
            raise ParameterError("huffman: a symbol has no code in the table")
        return indices

    def ideal_bits(self, symbols: np.ndarray) -> int:
        """Exact size in bits of ``symbols`` coded with this table (sum of code lengths)."""
        indices = self._indices(symbols)
        return int(self.lengths[indices].sum(dtype=np.int64))

    # -------------------------------------------------------- serialization

    def to_bytes(self) -> bytes:
        """Serialize as described in the module docstring."""
        header = svarint(self.min_symbol) + uvarint(self.lengths.shape[0])
        if self.lengths.shape[0] == 0:
            return header
        writer = _BitWriter()
        # Runs of equal lengths found by numpy: the token loop then costs per run,
        # not per symbol, which matters for wide sparse alphabets.
        run_starts = np.flatnonzero(np.diff(self.lengths, prepend=np.uint8(255)))
        run_lengths = np.diff(run_starts, append=self.lengths.shape[0])
        prev = 0
        for value, run in zip(self.lengths[run_starts].tolist(), run_lengths.tolist()):
            if value == 0 and prev != 0:
                _write_repeats(writer, run, single=(0b10, 2), run_flag=1)
                continue
            if value != prev:
                if abs(value - prev) == 1:
                    writer.write(0b1100 | (value < prev), 4)
                else:
                    writer.write(0b1110, 4)
                    writer.write(value, 5)
                prev = value
                run -= 1
            if run:
                _write_repeats(writer, run, single=(0b0, 1), run_flag=0)
        return header + writer.finish()

    @classmethod
    def from_bytes(cls, data: BytesLike) -> tuple[HuffmanTable, int]:
        """Read a table from the start of ``data``; return it and the bytes consumed.

        Raises :class:`CorruptPayloadError` on any malformed or out-of-limit table.
        """
        data = memoryview(data).cast("B") if not isinstance(data, (bytes, bytearray)) else data
        header = Reader(data, "huffman")
        # A 64-bit zigzag varint covers exactly the int64 range: no extra bound here.
        min_symbol = header.svarint(bound=1 << 63, name="table min_symbol")
        n = header.uvarint(name="table alphabet size")
        pos = header.pos
        if n > MAX_ALPHABET:
            raise CorruptPayloadError(
                f"huffman: table alphabet of {n} symbols exceeds MAX_ALPHABET={MAX_ALPHABET}"
            )
        if min_symbol < _INT64_MIN or min_symbol + max(n - 1, 0) > _INT64_MAX:
            raise CorruptPayloadError("huffman: table symbol range does not fit in int64")
        if n == 0:
            return cls(min_symbol, np.zeros(0, dtype=np.uint8)), pos
        # Runs let a few bytes declare many lengths, so the bound on this allocation
        # is MAX_ALPHABET (1 MiB), checked above, not the input length.
        lengths = bytearray(n)
        reader = _BitReader(data, pos)
        read = reader.read
        prev = 0
        i = 0
        while i < n:
            if read(1) == 0:  # same
                lengths[i] = prev
                i += 1
            elif read(1) == 0:  # absent
                i += 1
            elif read(1) == 0:  # step
                prev = prev - 1 if read(1) else prev + 1
                if not 0 <= prev <= MAX_CODE_LENGTH:
                    raise CorruptPayloadError(
                        f"huffman: table code length {prev} outside 0..{MAX_CODE_LENGTH}"
                    )
                lengths[i] = prev
                i += 1
            elif read(1) == 0:  # literal
                prev = read(5)
                if prev > MAX_CODE_LENGTH:
                    raise CorruptPayloadError(f"huffman: table code length {prev} exceeds {MAX_CODE_LENGTH}")
                lengths[i] = prev
                i += 1
            else:  # run
                value = 0 if read(1) else prev
                zeros = 0
                while read(1) == 0:
                    zeros += 1
                    if zeros > _GAMMA_MAX_ZEROS:
                        raise CorruptPayloadError("huffman: table run length is too long")
                run = (1 << zeros) | read(zeros)
                if run > n - i:
                    raise CorruptPayloadError("huffman: table run goes past the end of the alphabet")
                if value:
                    lengths[i : i + run] = bytes([value]) * run
                i += run
        reader.check_padding()
        array = np.frombuffer(bytes(lengths), dtype=np.uint8)
        problem = _table_problem(min_symbol, array)
        if problem is not None:
            raise CorruptPayloadError(f"huffman: invalid table: {problem}")
        return cls(min_symbol, array), reader.pos


def _table_problem(min_symbol: object, lengths: object) -> str | None:
    """Why (min_symbol, lengths) is not a usable table, or None if it is."""
    if isinstance(min_symbol, (bool, np.bool_)) or not isinstance(min_symbol, (int, np.integer)):
        return "min_symbol must be an integer"
    array = np.asarray(lengths)
    if array.ndim != 1 or array.dtype.kind not in "iu":
        return "lengths must be a 1-D integer array"
    n = array.shape[0]
    if n > MAX_ALPHABET:
        return f"alphabet of {n} symbols exceeds MAX_ALPHABET={MAX_ALPHABET}"
    if int(min_symbol) < _INT64_MIN or int(min_symbol) + max(n - 1, 0) > _INT64_MAX:
        return "symbol range does not fit in int64"
    if n == 0:
        return None
    if int(array.min()) < 0 or int(array.max()) > MAX_CODE_LENGTH:
        return f"code lengths must lie in 0..{MAX_CODE_LENGTH}"
    present = array[array > 0].astype(np.int64)
    if present.size == 0:
        return "no symbol has a code"
    # n <= 2**20 terms of at most 2**23 each: the sum fits in int64 exactly.
    kraft = int(np.left_shift(1, MAX_CODE_LENGTH - present).sum())
    if kraft > 1 << MAX_CODE_LENGTH:
        return f"code lengths violate the Kraft inequality (sum = {kraft / (1 << MAX_CODE_LENGTH):.6g} > 1)"
    return None


# ---------------------------------------------------------------------- streams


def huffman_encode(symbols: np.ndarray, table: HuffmanTable) -> bytes:
    """Code ``symbols`` (flattened, C order) with ``table``; MSB-first, zero-padded.

    Raises :class:`ParameterError` for a symbol without a code in the table.
    """
    indices = table._indices(symbols)
    if indices.size == 0:
        return b""
    lengths = table.lengths[indices].astype(np.int64)
    codes = table.codes[indices]
    ends = np.cumsum(lengths)
    total_bits = int(ends[-1])
    out = np.zeros((total_bits + 7) // 8, dtype=np.uint8)
    for start in range(0, indices.size, _ENCODE_CHUNK_SYMBOLS):
        stop = min(start + _ENCODE_CHUNK_SYMBOLS, indices.size)
        length = lengths[start:stop]
        offset = ends[start:stop] - length
        byte = offset >> 3
        # Placing the code in a 32-bit big-endian word that starts at its first byte:
        # bit offset <= 7 and length <= 24, so it always fits.
        word = codes[start:stop] << (32 - (offset & 7) - length)
        first = int(byte[0])
        size = int(byte[-1]) + 4 - first
        part = np.zeros(size, dtype=np.int64)
        # Codes never share bits, so summing bytes into place equals OR-ing them.
        for k in range(4):
            byte_values = (word >> (24 - 8 * k)) & 0xFF
            part += np.bincount(byte - first + k, weights=byte_values, minlength=size).astype(np.int64)
        keep = min(size, out.shape[0] - first)
        out[first : first + keep] |= part[:keep].astype(np.uint8)
    return out.tobytes()


def huffman_decode(data: BytesLike, table: HuffmanTable, count: int) -> np.ndarray:
    """Decode exactly ``count`` symbols (int64) from a stream made by ``huffman_encode``.

    The stream must end in the byte holding the last code, with zero padding bits.
    Raises :class:`CorruptPayloadError` if the data is inconsistent with ``count``.
    """
    if not isinstance(table, HuffmanTable):
        raise ParameterError("huffman: table must be a HuffmanTable")
    try:
        count = operator.index(count)
    except TypeError:
        raise ParameterError(f"huffman: count must be an integer, got {type(count).__name__}") from None
    if count < 0:
        raise ParameterError(f"huffman: count must be non-negative, got {count}")
    raw = bytes(data)
    total_bits = 8 * len(raw)
    if count > total_bits:
        raise CorruptPayloadError(f"huffman: {count} symbols cannot fit in {len(raw)} bytes")
    if count == 0:
        if raw:
            raise CorruptPayloadError("huffman: stream has data but no symbols")
        return np.zeros(0, dtype=np.int64)
    order, sorted_lengths, starts = table._canonical
    if order.size == 0:
        raise CorruptPayloadError("huffman: symbols declared but the table is empty")

    width = int(sorted_lengths[-1])
    starts = starts >> (MAX_CODE_LENGTH - width)
    end_of_code = int(starts[-1]) + 1  # windows at or above it start no code
    # Per-window work is done for every bit position, so it is kept to one gather
    # producing a uint8 step (the code length); the symbol is looked up only at the
    # positions the walk visits. Invalid windows step by 1 (a small int keeps
    # ``tolist`` allocation-free) and are caught when the visited windows are checked.
    lut = None
    if width <= _LUT_BITS:
        lut = np.full(1 << width, -1, dtype=np.int64)
        lut[:end_of_code] = np.repeat(np.arange(order.size), np.left_shift(1, width - sorted_lengths))
        step_lut = np.where(lut >= 0, sorted_lengths[lut], 1).astype(np.uint8)
    else:
        # Canonical decoding: the window's length is found among the <= 24 first
        # codes of each length (cache-resident), then the rank within that length is
        # plain arithmetic; a search over all codes is several times slower for
        # large alphabets, a full table would have up to 2**24 entries.
        first_rank = np.flatnonzero(np.diff(sorted_lengths, prepend=0))
        first_start = starts[first_rank]
        group_length = sorted_lengths[first_rank]
        rank_shift = width - group_length
        group_step = group_length.astype(np.uint8)

    padded = raw + b"\0\0\0\0"   # widened to uint32 a chunk at a time: 4 B per stream byte otherwise
    # Window of bit 8*b + s is taken from the big-endian 32-bit word at byte b: with
    # s <= 7 and width <= 24 it lies inside that word.
    shifts = (32 - width - np.arange(8)).astype(np.uint32)
    mask = np.uint32((1 << width) - 1)

    out = np.empty(count, dtype=np.int64)
    done = 0
    pos = 0
    while done < count:
        if pos >= total_bits:
            raise CorruptPayloadError("huffman: stream ended before all symbols were decoded")
        remaining = count - done
        first_byte = pos >> 3
        # Enough bytes for the remaining symbols at `width` bits each, at most.
        nbytes = min(_DECODE_CHUNK_BYTES, len(raw) - first_byte, (remaining * width + 7) // 8 + 1)
        chunk = np.frombuffer(padded, np.uint8, nbytes + 3, first_byte).astype(np.uint32)
        words = (chunk[:-3] << 24) | (chunk[1:-2] << 16) | (chunk[2:-1] << 8) | chunk[3:]
        windows = ((words[:, None] >> shifts) & mask).reshape(-1)
        if lut is not None:
            step = step_lut[windows]
        else:
            group = np.searchsorted(first_start, windows, side="right") - 1
            step = group_step[group]
        # The walk from code to code is inherently sequential: one list lookup per
        # symbol, everything per bit position having been done by numpy above.
        step_list = step.tolist()
        limit = 8 * nbytes
        visited: list[int] = []
        visit = visited.append
        q = pos - 8 * first_byte
        while q < limit:
            visit(q)
            q += step_list[q]
        if len(visited) > remaining:
            del visited[remaining:]
        taken = np.array(visited, dtype=np.int64)
        taken_windows = windows[taken].astype(np.int64)
        if int(taken_windows.max()) >= end_of_code:
            raise CorruptPayloadError("huffman: invalid code in stream")
        if lut is not None:
            out[done : done + taken.size] = lut[taken_windows]
        else:
            group = np.searchsorted(first_start, taken_windows, side="right") - 1
            out[done : done + taken.size] = first_rank[group] + (
                (taken_windows - first_start[group]) >> rank_shift[group]
            )
        done += taken.size
        pos = 8 * first_byte + int(taken[-1]) + int(step[taken[-1]])
    if pos > total_bits:
        raise CorruptPayloadError("huffman: stream ended inside the last code")
    if (pos + 7) // 8 != len(raw):
        raise CorruptPayloadError("huffman: trailing bytes after the last code")
    if pos % 8 and raw[-1] & ((1 << (8 - pos % 8)) - 1):
        raise CorruptPayloadError("huffman: padding bits after the last code are not zero")
    symbols = order.astype(np.int64, copy=False)[out]
    symbols += table.min_symbol
    return symbols


# ------------------------------------------------------------------------ blobs


def encode_with_table(symbols: np.ndarray) -> bytes:
    """Fit a table to ``symbols`` (flattened) and return table | count | stream."""
    values = _as_symbol_array(symbols, "symbols")
    table = HuffmanTable.fit(values)
    return table.to_bytes() + uvarint(values.size) + huffman_encode(values, table)


def decode_with_table(data: BytesLike, expected_count: int | None = None) -> np.ndarray:
    """Inverse of ``encode_with_table``: a 1-D int64 array; strict about every byte.
    With ``expected_count``, a stream declaring another count is refused before any
    decoding (so a small stream cannot ask for a huge output)."""
    raw = bytes(data)
    table, pos = HuffmanTable.from_bytes(raw)
    reader = Reader(raw, "huffman")
    reader.pos = pos
    count = reader.uvarint(name="symbol count")
    if expected_count is not None and count != expected_count:
        raise CorruptPayloadError(f"huffman: {count} symbols where {expected_count} are expected")
    return huffman_decode(raw[reader.pos :], table, count)
