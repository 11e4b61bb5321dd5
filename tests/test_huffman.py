"""Tests of latentpress.entropy.huffman (canonical, length-limited Huffman coding)."""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np
import pytest

from latentpress.binary import uvarint
from latentpress.entropy.huffman import (
    MAX_ALPHABET,
    MAX_CODE_LENGTH,
    HuffmanTable,
    _code_lengths,
    decode_with_table,
    encode_with_table,
    huffman_decode,
    huffman_encode,
)
from latentpress.errors import CorruptPayloadError, ParameterError


def _laplace(rng: np.random.Generator, scale: float, size: int) -> np.ndarray:
    return np.round(rng.laplace(0.0, scale, size=size)).astype(np.int64)


def _kraft(lengths: np.ndarray) -> float:
    present = lengths[lengths > 0].astype(np.float64)
    return float(np.sum(2.0 ** -present))


def _huffman_cost(counts: list[int]) -> int:
    """Total coded bits of an unrestricted Huffman code (reference, heap based)."""
    heap = [c for c in counts if c > 0]
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    cost = 0
    while len(heap) > 1:
        merged = heapq.heappop(heap) + heapq.heappop(heap)
        cost += merged
        heapq.heappush(heap, merged)
    return cost


def _fibonacci(n: int) -> list[int]:
    fib = [1, 1]
    while len(fib) < n:
        fib.append(fib[-1] + fib[-2])
    return fib[:n]


def _roundtrip(symbols: np.ndarray) -> None:
    table = HuffmanTable.fit(symbols)
    stream = huffman_encode(symbols, table)
    assert len(stream) == (table.ideal_bits(symbols) + 7) // 8
    decoded = huffman_decode(stream, table, symbols.size)
    assert decoded.dtype == np.int64
    np.testing.assert_array_equal(decoded, symbols.reshape(-1))
    blob = encode_with_table(symbols)
    np.testing.assert_array_equal(decode_with_table(blob), symbols.reshape(-1))


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize(
    "make",
    [
        lambda rng: _laplace(rng, 3.0, 5000),
        lambda rng: _laplace(rng, 40.0, 5000),
        lambda rng: rng.geometric(0.3, size=4000).astype(np.int64) - 3,
        lambda rng: rng.integers(-1000, 1000, size=3000),
        lambda rng: rng.integers(0, 256, size=(40, 50)).astype(np.uint8),
        lambda rng: rng.integers(0, 2, size=777).astype(np.int8),
        lambda rng: rng.integers(-(2**62), -(2**62) + 5, size=100),
    ],
    ids=["laplace3", "laplace40", "geometric", "uniform2000", "uint8_2d", "binary", "far_negative"],
)
def test_roundtrip_random(make) -> None:
    _roundtrip(make(np.random.default_rng(1234)))


def test_roundtrip_wide_codes_without_lookup_table() -> None:
    # Max code length > 16 takes the binary-search decoding path.
    rng = np.random.default_rng(5)
    symbols = _laplace(rng, 12.0, 200_000)
    table = HuffmanTable.fit(symbols)
    assert int(table.lengths.max()) > 16
    _roundtrip(symbols)


def test_all_equal_and_single_symbol() -> None:
    symbols = np.full(1000, -7, dtype=np.int64)
    table = HuffmanTable.fit(symbols)
    assert table.min_symbol == -7
    np.testing.assert_array_equal(table.lengths, [1])
    assert len(huffman_encode(symbols, table)) == 125
    _roundtrip(symbols)
    _roundtrip(np.array([42]))


def test_empty_array() -> None:
    symbols = np.zeros(0, dtype=np.int64)
    table = HuffmanTable.fit(symbols)
    assert table.lengths.size == 0
    assert huffman_encode(symbols, table) == b""
    assert huffman_decode(b"", table, 0).shape == (0,)
    blob = encode_with_table(symbols)
    assert len(blob) == 3
    assert decode_with_table(blob).shape == (0,)


def test_skewed_distribution_is_length_limited() -> None:
    counts = np.array(_fibonacci(32), dtype=np.int64)
    # Without the limit the optimal code is a chain 31 deep.
    unlimited = _code_lengths(counts, 64)
    assert int(unlimited.max()) == 31
    assert int((unlimited * counts).sum()) == _huffman_cost(counts.tolist())
    table = HuffmanTable.from_counts(counts, -10)
    assert int(table.lengths.max()) == MAX_CODE_LENGTH
    assert _kraft(table.lengths) == 1.0
    # Limiting costs something, but not much.
    limited_cost = int((table.lengths.astype(np.int64) * counts).sum())
    assert _huffman_cost(counts.tolist()) < limited_cost < 1.001 * _huffman_cost(counts.tolist())
    symbols = np.repeat(np.arange(-10, 22), np.minimum(counts, 50))
    encoded = huffman_encode(symbols, table)
    np.testing.assert_array_equal(huffman_decode(encoded, table, symbols.size), symbols)


def test_package_merge_is_optimal() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        counts = rng.integers(0, 1000, size=int(rng.integers(2, 40))) ** rng.integers(1, 3)
        if np.count_nonzero(counts) < 2:
            continue
        lengths = _code_lengths(counts.astype(np.int64), 64)
        assert int((lengths.astype(np.int64) * counts).sum()) == _huffman_cost(counts.tolist())
        assert np.all((lengths > 0) == (counts > 0))


def test_limited_lengths_match_brute_force() -> None:
    rng = np.random.default_rng(8)
    for _ in range(10):
        counts = rng.integers(1, 100, size=6) ** 3
        best = min(
            sum(c * l for c, l in zip(counts.tolist(), ls))
            for ls in itertools.product(range(1, 4), repeat=6)
            if sum(2.0**-l for l in ls) <= 1.0
        )
        lengths = _code_lengths(counts.astype(np.int64), 3)
        assert int(lengths.max()) <= 3
        assert _kraft(lengths) <= 1.0
        assert int((lengths.astype(np.int64) * counts).sum()) == best


# ----------------------------------------------------------- code properties


def test_canonical_codes() -> None:
    rng = np.random.default_rng(3)
    table = HuffmanTable.fit(_laplace(rng, 6.0, 20_000))
    present = np.flatnonzero(table.lengths)
    lengths = table.lengths[present].astype(np.int64)
    codes = table.codes[present]
    assert _kraft(table.lengths) <= 1.0
    # Left-justified codes increase strictly in (length, symbol) order, and each
    # code is the previous one plus one, shifted to its length.
    order = np.lexsort((present, lengths))
    justified = codes[order] << (MAX_CODE_LENGTH - lengths[order])
    assert np.all(np.diff(justified) > 0)
    assert codes[order][0] == 0
    for a, b in zip(order[:-1], order[1:]):
        assert codes[b] == (codes[a] + 1) << (lengths[b] - lengths[a])
    # Prefix-free: no code is a prefix of another.
    words = [format(int(c), f"0{int(n)}b") for c, n in zip(codes, lengths)]
    for x, y in itertools.combinations(words, 2):
        assert not x.startswith(y) and not y.startswith(x)


def test_coded_size_near_entropy() -> None:
    rng = np.random.default_rng(11)
    symbols = _laplace(rng, 8.0, 100_000)
    _, counts = np.unique(symbols, return_counts=True)
    p = counts / counts.sum()
    entropy_bits = float(-(counts * np.log2(p)).sum())
    blob = encode_with_table(symbols)
    table = HuffmanTable.fit(symbols)
    assert table.ideal_bits(symbols) >= entropy_bits
    assert 8 * len(huffman_encode(symbols, table)) <= 1.03 * entropy_bits
    assert 8 * len(blob) <= 1.03 * entropy_bits


def test_symbol_not_in_table_raises_parameter_error() -> None:
    table = HuffmanTable.from_counts(np.array([5, 0, 3]), 10)
    with pytest.raises(ParameterError):
        huffman_encode(np.array([10, 11]), table)
    with pytest.raises(ParameterError):
        huffman_encode(np.array([13]), table)
    with pytest.raises(ParameterError):
        huffman_encode(np.array([9]), table)
    with pytest.raises(ParameterError):
        huffman_encode(np.array([1.5]), table)


def test_alphabet_limit() -> None:
    with pytest.raises(ParameterError):
        HuffmanTable.fit(np.array([0, MAX_ALPHABET]))
    table = HuffmanTable.fit(np.array([0, MAX_ALPHABET - 1]))
    assert table.lengths.size == MAX_ALPHABET
    with pytest.raises(ParameterError):
        HuffmanTable.from_counts(np.ones(MAX_ALPHABET + 1, dtype=np.int64), 0)


def test_invalid_table_construction_raises() -> None:
    with pytest.raises(ParameterError):
        HuffmanTable(0, np.array([1, 1, 1]))
    with pytest.raises(ParameterError):
        HuffmanTable(0, np.array([25, 1]))
    with pytest.raises(ParameterError):
        HuffmanTable(0, np.array([0, 0]))


# ------------------------------------------------------------- serialization


def test_table_serialization_roundtrip_and_compactness() -> None:
    rng = np.random.default_rng(4)
    cases = [
        HuffmanTable.fit(rng.integers(0, 256, size=50_000)),
        HuffmanTable.fit(np.clip(128 + _laplace(rng, 40.0, 50_000), 0, 255)),
        HuffmanTable.fit(_laplace(rng, 30.0, 50_000)),
        HuffmanTable.fit(rng.integers(-5, 5, size=100) * 1000),  # sparse: long zero runs
        HuffmanTable.from_counts(np.array(_fibonacci(32)), 3),
        HuffmanTable.fit(np.array([-(2**63), -(2**63) + 2])),
        HuffmanTable(-3, np.array([0, 2, 0, 2, 2, 0])),  # incomplete code, edge zeros
    ]
    for table in cases:
        data = table.to_bytes()
        parsed, used = HuffmanTable.from_bytes(data + b"tail")
        assert used == len(data)
        assert parsed == table
    assert cases[0].lengths.size == cases[1].lengths.size == 256
    assert len(cases[0].to_bytes()) <= 8  # one literal and one run
    assert len(cases[1].to_bytes()) < 100
    assert len(cases[2].to_bytes()) < 180  # 653 symbols, sparse tails
    assert len(cases[3].to_bytes()) < 40  # 9001 symbols, 10 present


# ----------------------------------------------------------- corrupt inputs


def _decode_is_strict(data: bytes) -> None:
    try:
        decode_with_table(data)
    except CorruptPayloadError:
        pass


def test_truncated_blob_always_raises() -> None:
    blob = encode_with_table(np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, -6] * 3))
    np.testing.assert_array_equal(decode_with_table(blob)[:3], [3, 1, 4])
    for cut in range(len(blob)):
        with pytest.raises(CorruptPayloadError):
            decode_with_table(blob[:cut])
    with pytest.raises(CorruptPayloadError):
        decode_with_table(blob + b"\0")


def test_random_and_mutated_bytes_raise_only_corrupt_payload() -> None:
    rng = np.random.default_rng(99)
    for size in range(0, 40):
        for _ in range(25):
            _decode_is_strict(rng.integers(0, 256, size=size, dtype=np.uint8).tobytes())
    blob = bytearray(encode_with_table(_laplace(rng, 2.0, 300)))
    for i in range(len(blob)):
        for bit in range(8):
            mutated = bytearray(blob)
            mutated[i] ^= 1 << bit
            _decode_is_strict(bytes(mutated))
    table = HuffmanTable.fit(_laplace(rng, 20.0, 1000))  # codes > 8 bits: many invalid
    for _ in range(200):
        data = rng.integers(0, 256, size=int(rng.integers(0, 30)), dtype=np.uint8).tobytes()
        try:
            huffman_decode(data, table, int(rng.integers(0, 2 * len(data) + 1)))
        except CorruptPayloadError:
            pass


def test_incomplete_code_rejects_unused_bit_patterns() -> None:
    table = HuffmanTable(0, np.array([1]))  # symbol 0 is "0"; "1" is no code
    np.testing.assert_array_equal(huffman_decode(b"\x00", table, 8), np.zeros(8))
    with pytest.raises(CorruptPayloadError, match="invalid code"):
        huffman_decode(b"\x01", table, 8)


def test_stream_strictness() -> None:
    table = HuffmanTable.from_counts(np.array([1, 1, 2]), 0)  # lengths 2, 2, 1
    stream = huffman_encode(np.array([2, 0, 1]), table)  # 0 10 11 + 3 pad bits
    assert stream == bytes([0b01011000])
    np.testing.assert_array_equal(huffman_decode(stream, table, 3), [2, 0, 1])
    with pytest.raises(CorruptPayloadError, match="padding"):
        huffman_decode(bytes([0b01011001]), table, 3)
    with pytest.raises(CorruptPayloadError, match="trailing"):
        huffman_decode(stream + b"\0", table, 3)
    # The padding decodes as symbol 2 ("0"): counts up to 6 are valid, 7 runs out.
    np.testing.assert_array_equal(huffman_decode(stream, table, 6), [2, 0, 1, 2, 2, 2])
    with pytest.raises(CorruptPayloadError, match="ended"):
        huffman_decode(stream, table, 7)
    with pytest.raises(CorruptPayloadError):
        huffman_decode(stream[:0], table, 1)


def test_table_with_kraft_violation_raises() -> None:
    # min 0, n = 3, tokens: literal 1, same, same -> lengths 1, 1, 1.
    data = bytes([0, 3, 0b11100000, 0b10000000])
    with pytest.raises(CorruptPayloadError, match="Kraft"):
        HuffmanTable.from_bytes(data)
    with pytest.raises(CorruptPayloadError, match="Kraft"):
        decode_with_table(data + b"\x01\x00")


def test_table_limits_raise() -> None:
    huge = bytearray([0]) + uvarint(MAX_ALPHABET + 1)
    with pytest.raises(CorruptPayloadError, match="MAX_ALPHABET"):
        HuffmanTable.from_bytes(bytes(huge) + b"\0" * 16)
    with pytest.raises(CorruptPayloadError, match="exceeds"):
        HuffmanTable.from_bytes(bytes([0, 1, 0b11101100, 0b10000000]))  # literal 25
    with pytest.raises(CorruptPayloadError):
        HuffmanTable.from_bytes(bytes([0, 2, 0b10100000]))  # absent, absent
    with pytest.raises(CorruptPayloadError, match="redundant"):
        HuffmanTable.from_bytes(bytes([0x80, 0x00, 1, 0b11000000]))
    with pytest.raises(CorruptPayloadError, match="int64"):
        HuffmanTable.from_bytes(bytes([0xFE] + [0xFF] * 8 + [0x01, 2, 0b11000010, 0]))


def test_huge_count_raises_before_allocating() -> None:
    blob = bytearray(HuffmanTable.fit(np.arange(4)).to_bytes())
    blob += uvarint(10**15)
    blob += b"\x1b"
    with pytest.raises(CorruptPayloadError, match="cannot fit"):
        decode_with_table(bytes(blob))
    with pytest.raises(CorruptPayloadError, match="cannot fit"):
        huffman_decode(b"\x1b", HuffmanTable.fit(np.arange(4)), 2**70)


# ------------------------------------------------------------------- speed


def test_decode_speed_sanity() -> None:
    rng = np.random.default_rng(21)
    symbols = _laplace(rng, 4.0, 200_000)
    table = HuffmanTable.fit(symbols)
    stream = huffman_encode(symbols, table)
    decoded = huffman_decode(stream, table, symbols.size)
    assert np.array_equal(decoded, symbols)
    assert math.isclose(len(stream), table.ideal_bits(symbols) / 8, abs_tol=1)


def test_argument_errors_and_buffer_types() -> None:
    symbols = np.array([5, 6, 6, 7, 7, 7, 7])
    blob = encode_with_table(symbols)
    np.testing.assert_array_equal(decode_with_table(memoryview(blob)), symbols)
    np.testing.assert_array_equal(decode_with_table(bytearray(blob)), symbols)
    table, used = HuffmanTable.from_bytes(memoryview(blob))
    assert used == len(table.to_bytes()) < len(blob)
    assert table == HuffmanTable.fit(symbols) and hash(table) == hash(HuffmanTable.fit(symbols))
    stream = huffman_encode(symbols, table)
    with pytest.raises(ParameterError):
        huffman_decode(stream, table, -1)
    with pytest.raises(ParameterError):
        huffman_decode(stream, table, 2.0)
