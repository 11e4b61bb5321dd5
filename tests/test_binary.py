"""Tests of latentpress.binary (varints and the strict payload Reader)."""

from __future__ import annotations

import pytest

from latentpress.binary import Reader, svarint, uvarint
from latentpress.errors import CorruptPayloadError

UNSIGNED_EDGES = [0, 1, 127, 128, 255, 16383, 16384, 2**63 - 1, 2**64 - 1]
SIGNED_EDGES = [0, 1, -1, 63, -64, 64, -65, 2**62, -(2**62), 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("value", UNSIGNED_EDGES)
def test_uvarint_round_trip(value: int) -> None:
    data = uvarint(value)
    assert len(data) == max(1, -(-value.bit_length() // 7))
    reader = Reader(data)
    assert reader.uvarint() == value
    reader.expect_end()


@pytest.mark.parametrize("value", SIGNED_EDGES)
def test_svarint_round_trip(value: int) -> None:
    reader = Reader(svarint(value))
    assert reader.svarint(bound=1 << 63) == value
    reader.expect_end()


def test_known_encodings() -> None:
    assert uvarint(0) == b"\x00"
    assert uvarint(127) == b"\x7f"
    assert uvarint(128) == b"\x80\x01"
    assert uvarint(2**63 - 1) == b"\xff" * 8 + b"\x7f"
    # Zigzag: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ...
    assert [svarint(v) for v in (0, -1, 1, -2)] == [b"\x00", b"\x01", b"\x02", b"\x03"]
    assert svarint(2**62) == uvarint(2**63)
    assert svarint(-(2**62)) == uvarint(2**63 - 1)


def test_default_svarint_bound_is_two_to_the_62() -> None:
    assert Reader(svarint(2**62)).svarint() == 2**62
    assert Reader(svarint(-(2**62))).svarint() == -(2**62)
    with pytest.raises(CorruptPayloadError, match="out of range"):
        Reader(svarint(2**62 + 1)).svarint()
    with pytest.raises(CorruptPayloadError, match="out of range"):
        Reader(svarint(-(2**62) - 1)).svarint()


def test_writers_reject_out_of_range_values() -> None:
    for bad in (-1, 2**64):
        with pytest.raises(ValueError):
            uvarint(bad)
    for bad in (2**63, -(2**63) - 1):
        with pytest.raises(ValueError):
            svarint(bad)


@pytest.mark.parametrize(
    "data",
    [b"\x80\x00", b"\x81\x00", b"\xff\x80\x00", b"\xff" * 8 + b"\x80\x00", b"\x80" * 9 + b"\x00"],
)
def test_non_minimal_encoding_rejected(data: bytes) -> None:
    with pytest.raises(CorruptPayloadError, match="redundant"):
        Reader(data).uvarint()
    with pytest.raises(CorruptPayloadError, match="redundant"):
        Reader(data).svarint()


def test_single_zero_byte_is_the_minimal_zero() -> None:
    reader = Reader(b"\x00\x00")
    assert reader.uvarint() == 0
    assert reader.uvarint() == 0
    reader.expect_end()


@pytest.mark.parametrize("data", [b"", b"\x80", b"\xff\xff", b"\xff" * 9])
def test_truncated_varint(data: bytes) -> None:
    with pytest.raises(CorruptPayloadError, match="truncated"):
        Reader(data).uvarint()


def test_overlong_varint() -> None:
    with pytest.raises(CorruptPayloadError, match="longer than 10 bytes"):
        Reader(b"\x80" * 10 + b"\x01").uvarint()
    with pytest.raises(CorruptPayloadError, match="longer than 10 bytes"):
        Reader(b"\xff" * 11).uvarint()


def test_value_over_maximum() -> None:
    # Tenth byte 0x02 puts a bit at 2**64: beyond any 64-bit value.
    with pytest.raises(CorruptPayloadError, match="exceeds the maximum"):
        Reader(b"\xff" * 9 + b"\x02").uvarint()
    assert Reader(uvarint(1000)).uvarint(maximum=1000) == 1000
    with pytest.raises(CorruptPayloadError, match="1001 at offset 0 exceeds the maximum 1000"):
        Reader(uvarint(1001)).uvarint(maximum=1000)


def test_messages_name_the_payload_field_and_offset() -> None:
    reader = Reader(b"\x05\x80\x00", "demo")
    assert reader.uvarint() == 5
    with pytest.raises(CorruptPayloadError, match=r"^demo: count at offset 1 has a redundant"):
        reader.uvarint(name="count")


def test_take_beyond_the_end() -> None:
    reader = Reader(b"abcd")
    assert reader.take(3) == b"abc"
    with pytest.raises(CorruptPayloadError, match="needs 2 bytes at offset 3, 1 left"):
        reader.take(2)
    with pytest.raises(CorruptPayloadError):
        reader.take(-1)
    assert reader.take(1) == b"d"
    reader.expect_end()


def test_expect_end_with_leftover_bytes() -> None:
    reader = Reader(uvarint(300) + b"xy")
    assert reader.uvarint() == 300
    with pytest.raises(CorruptPayloadError, match="2 unexpected bytes at the end"):
        reader.expect_end()
