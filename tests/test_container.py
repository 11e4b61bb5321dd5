from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latentpress import container
from latentpress.container import MAGIC, ColourSpace, Header, Limits, Section
from latentpress.errors import (
    ChecksumError,
    FormatError,
    LimitError,
    NotLpxError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
)


def make_header(**overrides) -> Header:
    fields = dict(codec="test-codec", codec_version=3, width=640, height=480, channels=3,
                  params={"quality": 42, "model": "x"})
    fields.update(overrides)
    return Header(**fields)


SECTIONS = [Section("LATN", b"\x01\x02\x03" * 10), Section("WGHT", b""), Section("LATN", b"xyz"),
            Section("ICCP", b"profile")]


def test_round_trip_every_field():
    data = container.write(make_header(), SECTIONS)
    header, sections = container.read(data)
    assert header == make_header()
    assert header.format_version == 1
    assert header.colour_space == ColourSpace.SRGB
    assert dict(header.params) == {"quality": 42, "model": "x"}
    assert sections == SECTIONS
    assert header.file_bytes == len(data)
    assert [s.type for s in header.sections] == ["LATN", "WGHT", "LATN", "ICCP", "END "]
    assert header.sections[0].offset == data.index(b"LATN")
    assert data.startswith(MAGIC)


def test_layout_matches_spec():
    """Byte offsets of docs/format.md, checked on a concrete file."""
    data = container.write(make_header(params={}), [Section("ABCD", b"hi")])
    assert data[:8] == b"\x89LPX\r\n\x1a\n"
    assert data[8] == 1 and data[9] == 0
    (body_length,) = struct.unpack_from("<H", data, 10)
    assert body_length == 16 + len("test-codec") + 0
    body = data[12:12 + body_length]
    assert body[0] == len("test-codec") and body[1:11] == b"test-codec"
    assert struct.unpack_from("<HIIBBBH", body, 11) == (3, 640, 480, 3, 8, 1, 0)
    (crc,) = struct.unpack_from("<I", data, 12 + body_length)
    assert crc == zlib.crc32(data[:12 + body_length])
    pos = 16 + body_length
    assert data[pos:pos + 4] == b"ABCD" and struct.unpack_from("<I", data, pos + 4)[0] == 2
    assert struct.unpack_from("<I", data, pos + 10)[0] == zlib.crc32(b"ABCDhi")
    assert data[pos + 14:] == b"END " + b"\0" * 4 + struct.pack("<I", zlib.crc32(b"END "))


codec_names = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10)
section_types = st.from_regex(r"[A-Za-z0-9 ]{4}", fullmatch=True).filter(
    lambda t: t not in ("END ",) + container.METADATA_TYPES)


@settings(max_examples=150, deadline=None)
@given(name=codec_names, version=st.integers(0, 0xFFFF), width=st.integers(1, 8192),
       height=st.integers(1, 8192), grey=st.booleans(),
       params=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
       sections=st.lists(st.tuples(section_types, st.binary(max_size=300)), max_size=6))
def test_round_trip_property(name, version, width, height, grey, params, sections):
    header = Header(codec=name, codec_version=version, width=width, height=height,
                    channels=1 if grey else 3, colour_space=ColourSpace.GREY if grey else ColourSpace.SRGB,
                    params=params)
    written = [Section(t, d) for t, d in sections]
    try:
        data = container.write(header, written)
    except FormatError as exc:          # params over 4096 bytes is the only legal refusal
        assert "parameters take" in str(exc)
        return
    read_header, read_sections = container.read(data)
    assert read_header == header
    assert read_sections == written


def test_small_file_every_truncation_is_an_error():
    data = container.write(make_header(), SECTIONS)
    for length in range(len(data)):
        with pytest.raises(FormatError):
            container.read(data[:length])


def test_every_single_bit_flip_is_detected():
    data = container.write(make_header(params={"q": 1}), [Section("LATN", bytes(range(40)))])
    for position in range(len(data) * 8):
        corrupt = bytearray(data)
        corrupt[position // 8] ^= 1 << (position % 8)
        with pytest.raises((FormatError, LimitError)):
            container.read(bytes(corrupt))


def test_trailing_garbage():
    data = container.write(make_header(), SECTIONS)
    with pytest.raises(TrailingDataError, match="trailing"):
        container.read(data + b"\0")


def test_not_lpx():
    with pytest.raises(NotLpxError):
        container.read(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(TruncatedError):
        container.read(b"")


def rebuild(version=1, flags=0, body: bytes | None = None, sections: bytes = b"") -> bytes:
    """Craft a file with valid CRCs around arbitrary header fields."""
    if body is None:
        name = b"test"
        body = bytes([len(name)]) + name + struct.pack("<HIIBBBH", 1, 4, 4, 3, 8, 1, 0)
    prefix = struct.pack("<8sBBH", MAGIC, version, flags, len(body)) + body
    end = b"END " + b"\0" * 4 + struct.pack("<I", zlib.crc32(b"END "))
    return prefix + struct.pack("<I", zlib.crc32(prefix)) + sections + end


def section_bytes(kind: bytes, data: bytes, length: int | None = None) -> bytes:
    return (kind + struct.pack("<I", len(data) if length is None else length) + data
            + struct.pack("<I", zlib.crc32(kind + data)))


def test_crafted_file_is_valid():
    header, sections = container.read(rebuild())
    assert header.codec == "test" and sections == []


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_format_version(version):
    with pytest.raises(UnsupportedVersionError, match="format version"):
        container.read(rebuild(version=version))


def test_corrupt_version_byte_is_reported_as_corruption():
    data = bytearray(rebuild())
    data[8] = 2                      # version changed without a matching CRC
    with pytest.raises(ChecksumError):
        container.read(bytes(data))


def test_nonzero_flags():
    with pytest.raises(FormatError, match="flags"):
        container.read(rebuild(flags=1))


def geometry_body(width=4, height=4, channels=3, depth=8, colour=1, params=b"", name=b"test") -> bytes:
    return bytes([len(name)]) + name + struct.pack("<HIIBBBH", 1, width, height, channels, depth, colour, len(params)) + params


def test_huge_claimed_size_is_refused_before_allocation():
    with pytest.raises(LimitError, match="100000x100000"):
        container.read(rebuild(body=geometry_body(width=100000, height=100000)))


def test_pixel_limit_is_configurable():
    data = rebuild(body=geometry_body(width=100, height=100))
    container.read(data)
    with pytest.raises(LimitError):
        container.read(data, Limits(max_pixels=9999))


@pytest.mark.parametrize("body, message", [
    (geometry_body(width=0), "size"),
    (geometry_body(channels=2), "channel"),
    (geometry_body(channels=1, colour=1), "channel"),
    (geometry_body(depth=16), "bit depth"),
    (geometry_body(colour=7), "colour space"),
    (geometry_body(name=b"Bad_Name"), "codec name"),
    (geometry_body(params=b"[1, 2]"), "JSON object"),
    (geometry_body(params=b'{"a": 1, "a": 2}'), "duplicate"),
    (geometry_body(params=b'{"a": NaN}'), "not allowed"),
    (geometry_body(params=b'{"a": 1e999}'), "overflows"),
    (geometry_body(params=b'{"a": \xff}'), "JSON"),
    (geometry_body(params=b"[" * 2040 + b"]" * 2040), "JSON"),
])
def test_invalid_header_fields(body, message):
    with pytest.raises(FormatError, match=message):
        container.read(rebuild(body=body))


def test_body_length_mismatch():
    body = geometry_body() + b"\0"
    with pytest.raises(FormatError, match="does not match"):
        container.read(rebuild(body=body))


def test_section_longer_than_file():
    with pytest.raises(TruncatedError, match="declares"):
        container.read(rebuild(sections=section_bytes(b"LATN", b"abc", length=1000)))


def test_section_over_limit_refused_before_reading():
    data = rebuild(sections=section_bytes(b"LATN", b"abc", length=2**31))
    with pytest.raises(LimitError, match="limit"):
        container.read(data)
    with pytest.raises(LimitError):
        container.read(rebuild(sections=section_bytes(b"LATN", b"abcdef")), Limits(max_section_bytes=5))


def test_section_count_limit():
    many = b"".join(section_bytes(b"LATN", b"") for _ in range(5))
    container.read(rebuild(sections=many), Limits(max_sections=5))
    with pytest.raises(LimitError):
        container.read(rebuild(sections=many), Limits(max_sections=4))


def test_bad_section_type_and_bad_end():
    with pytest.raises(FormatError, match="section type"):
        container.read(rebuild(sections=section_bytes(b"LA\0N", b"")))
    bad_end = rebuild()[:-12] + section_bytes(b"END ", b"x")
    with pytest.raises(FormatError, match="END section has length"):
        container.read(bad_end)


def test_duplicate_metadata_refused():
    with pytest.raises(FormatError, match="twice"):
        container.read(rebuild(sections=section_bytes(b"ICCP", b"a") + section_bytes(b"ICCP", b"b")))
    with pytest.raises(FormatError):
        container.write(make_header(), [Section("EXIF", b"a"), Section("EXIF", b"b")])


def test_header_crc_mismatch():
    data = bytearray(rebuild())
    data[20] ^= 0x10
    with pytest.raises(ChecksumError, match="header CRC"):
        container.read(bytes(data))


def test_writer_validates():
    with pytest.raises(FormatError):
        container.write(make_header(codec="UPPER"), [])
    with pytest.raises(FormatError):
        container.write(make_header(channels=1), [])
    with pytest.raises(FormatError):
        container.write(make_header(params={"big": "x" * 5000}), [])
    with pytest.raises(FormatError):
        Section("END ", b"")
    with pytest.raises(FormatError):
        Section("toolong", b"")


def test_split_metadata():
    payload, metadata = container.split_metadata(SECTIONS)
    assert [s.type for s in payload] == ["LATN", "WGHT", "LATN"]
    assert metadata == {"ICCP": b"profile"}
