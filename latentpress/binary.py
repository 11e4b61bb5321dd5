"""Small helpers to write and strictly read payload bytes (varints, fixed-width ints,
fixed-width bit fields).

Codec payloads are untrusted input: :class:`Reader` raises
:class:`~latentpress.errors.CorruptPayloadError` on every overrun or oversized value
instead of an IndexError or a huge allocation. Varints are LEB128 and canonical: the
writers emit the minimal encoding and the reader accepts nothing else.
"""

from __future__ import annotations

import struct

import numpy as np

from latentpress.errors import CorruptPayloadError

_MAX_VARINT_BYTES = 10


def uvarint(value: int) -> bytes:
    """LEB128 encoding of a nonnegative integer below 2**64."""
    if value < 0 or value >= 1 << 64:
        raise ValueError(f"uvarint out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def svarint(value: int) -> bytes:
    """Zigzag + LEB128 encoding of a signed integer in [−2**63, 2**63).

    Zigzag maps ``0, -1, 1, -2, ...`` to ``0, 1, 2, 3, ...``.
    """
    if value < -(1 << 63) or value >= 1 << 63:
        raise ValueError(f"svarint out of range: {value}")
    return uvarint(2 * value if value >= 0 else -2 * value - 1)


class Reader:
    def __init__(self, data: bytes, what: str = "payload") -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self.data) - self.pos

    def fail(self, message: str) -> CorruptPayloadError:
        return CorruptPayloadError(f"{self.what}: {message}")

    def take(self, count: int) -> bytes:
        if count < 0 or count > self.remaining:
            raise self.fail(f"needs {count} bytes at offset {self.pos}, {self.remaining} left")
        out = self.data[self.pos:self.pos + count].tobytes()
        self.pos += count
        return out

    def uvarint(self, maximum: int = (1 << 64) - 1, name: str = "varint") -> int:
        """Read an unsigned LEB128 number of at most ``maximum``.

        Only the minimal encoding is accepted (a last byte of 0x00 after a
        continuation byte is a redundant zero group), so each value has exactly one
        encoding. ``name`` says which field it is in the error messages.
        """
        start = self.pos
        value = shift = 0
        for _ in range(_MAX_VARINT_BYTES):
            if self.pos >= len(self.data):
                raise self.fail(f"{name} at offset {start} is truncated (ends inside a number)")
            byte = self.data[self.pos]
            self.pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                if byte == 0 and self.pos - start > 1:
                    raise self.fail(
                        f"{name} at offset {start} has a redundant (non-minimal) varint encoding"
                    )
                if value > maximum:
                    raise self.fail(f"{name} {value} at offset {start} exceeds the maximum {maximum}")
                return value
        raise self.fail(f"{name} at offset {start} is longer than {_MAX_VARINT_BYTES} bytes")

    def svarint(self, bound: int = 1 << 62, name: str = "varint") -> int:
        """Read a zigzag LEB128 number with ``abs(value) <= bound``.

        ``bound=1 << 63`` accepts the whole int64 range.
        """
        start = self.pos
        raw = self.uvarint(name=name)
        value = (raw >> 1) ^ -(raw & 1)
        if abs(value) > bound:
            raise self.fail(f"{name} {value} at offset {start} out of range ±{bound}")
        return value

    def unpack(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size))

    def expect_end(self) -> None:
        if self.remaining:
            raise self.fail(f"{self.remaining} unexpected bytes at the end")


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Non-negative integers below 2^bits → fixed-width bits, MSB first."""
    shifts = np.arange(bits - 1, -1, -1, dtype=np.uint8)
    return np.packbits(((values.astype(np.uint8).reshape(-1, 1) >> shifts) & 1).ravel()).tobytes()


def unpack_bits(data: bytes, count: int, bits: int, what: str) -> np.ndarray:
    """Inverse of :func:`pack_bits`: ``count`` values; the data must have exactly their length."""
    if len(data) != -(-count * bits // 8):
        raise CorruptPayloadError(f"{what}: {len(data)} bytes where {count} values of {bits} bits take "
                                  f"{-(-count * bits // 8)}")
    flat = np.unpackbits(np.frombuffer(data, np.uint8))[:count * bits].reshape(count, bits)
    return flat @ (1 << np.arange(bits - 1, -1, -1))
