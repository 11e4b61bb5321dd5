"""The ``.lpx`` container: header, typed CRC-checked sections, strict reader.

The byte layout is specified in docs/format.md; this module is its only
implementation. The container knows nothing about codecs: it frames a header and
an ordered list of sections and checks every length, limit and CRC before trusting
anything. Reading copies each section's payload once, so it never needs more than
about twice the input's size.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from latentpress.errors import (
    ChecksumError,
    FormatError,
    LimitError,
    NotLpxError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
)

MAGIC = b"\x89LPX\r\n\x1a\n"
FORMAT_VERSION = 1
END = "END "
METADATA_TYPES = ("ICCP", "EXIF", "XMP ", "ENCP")

_PREFIX = struct.Struct("<8sBBH")          # magic, version, flags, body length
_GEOMETRY = struct.Struct("<HIIBBBH")      # codec version, w, h, channels, depth, colour, params length
_SECTION_HEAD = struct.Struct("<4sI")
_CRC = struct.Struct("<I")
# Bytes a section adds to a file beside its data: type and length, then CRC.
SECTION_FRAMING_BYTES = _SECTION_HEAD.size + _CRC.size
_CODEC_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_SECTION_TYPE = re.compile(rb"[A-Za-z0-9 ]{4}")
MAX_CODEC_NAME = 32
MAX_PARAMS_BYTES = 4096


class ColourSpace(enum.IntEnum):
    GREY = 0
    SRGB = 1


@dataclass(frozen=True)
class Limits:
    """Bounds a reader enforces before allocating anything; see docs/format.md."""

    max_pixels: int = 1 << 26
    max_section_bytes: int = 1 << 28
    max_sections: int = 4096
    max_file_bytes: int = 1 << 30
    # Multiply-adds per pixel of the networks a file declares and the decoder must run
    # (overfit, lossless, mlp-lossless): a small file must not ask for hours of work.
    max_macs_per_pixel: int = 1 << 15
    # Memory a decode may need, as its codec estimates it from the header before
    # decoding (Codec.decode_memory: bytes per pixel measured with
    # benchmarks/decode_memory.py): lower it for untrusted input.
    max_decode_memory: int = 1 << 32

    def check_decode_memory(self, codec: str, estimate: float) -> None:
        if estimate > self.max_decode_memory:
            raise LimitError(f"{codec}: decoding this file needs about {estimate / 2**20:,.0f} MiB, over the limit "
                             f"of {self.max_decode_memory / 2**20:,.0f} MiB (raise it with max_decode_memory / "
                             "--max-decode-memory)")

    def check_macs(self, codec: str, macs: float) -> None:
        if macs > self.max_macs_per_pixel:
            raise LimitError(f"{codec}: the file's network asks for {macs:,.0f} multiply-adds per pixel, over the "
                             f"limit of {self.max_macs_per_pixel:,} (raise it with max_macs_per_pixel / "
                             "--max-macs-per-pixel)")

    def check_pixels(self, width: int, height: int) -> None:
        if width * height > self.max_pixels:
            raise LimitError(f"image of {width}x{height} = {width * height:,} pixels exceeds the "
                             f"limit of {self.max_pixels:,} pixels (raise it with max_pixels / --max-pixels)")


DEFAULT_LIMITS = Limits()
# The limits of the decode in progress (api sets them), for checks only a codec can make.
_ACTIVE: contextvars.ContextVar[Limits] = contextvars.ContextVar("latentpress_limits", default=DEFAULT_LIMITS)


def active_limits() -> Limits:
    return _ACTIVE.get()


@contextlib.contextmanager
def limits_in_effect(limits: Limits):
    token = _ACTIVE.set(limits)
    try:
        yield limits
    finally:
        _ACTIVE.reset(token)


@dataclass(frozen=True)
class SectionInfo:
    """Where a section sits in a file (for ``latentpress info``)."""

    type: str
    offset: int
    length: int
    crc: int


@dataclass(frozen=True)
class Section:
    type: str
    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.type, str) or not _SECTION_TYPE.fullmatch(self.type.encode("ascii", "replace")):
            raise FormatError(f"section type must be 4 characters from A-Z a-z 0-9 space, got {self.type!r}")
        if self.type == END:
            raise FormatError("the END section is written by the container, not by codecs")


@dataclass(frozen=True)
class Header:
    """Everything a file says about its image before the payload."""

    codec: str
    codec_version: int
    width: int
    height: int
    channels: int
    bit_depth: int = 8
    colour_space: ColourSpace = ColourSpace.SRGB
    params: Mapping[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # Filled in by the reader; not part of what a writer is given.
    sections: tuple[SectionInfo, ...] = field(default=(), compare=False)
    file_bytes: int = field(default=0, compare=False)
    header_bytes: int = field(default=0, compare=False)
    header_crc: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "colour_space", ColourSpace(self.colour_space))

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def bpp(self) -> float:
        """Bits per pixel of the whole file (0 for a header not read from a file)."""
        return 8.0 * self.file_bytes / self.pixels if self.file_bytes else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format_version": self.format_version, "codec": self.codec,
            "codec_version": self.codec_version, "width": self.width, "height": self.height,
            "channels": self.channels, "bit_depth": self.bit_depth,
            "colour_space": self.colour_space.name.lower(), "params": dict(self.params),
            "file_bytes": self.file_bytes, "bpp": self.bpp, "header_bytes": self.header_bytes,
            "header_crc32": f"{self.header_crc:08x}",
            "sections": [{"type": s.type, "offset": s.offset, "length": s.length,
                          "crc32": f"{s.crc:08x}"} for s in self.sections],
        }


def _crc(*parts: bytes) -> int:
    value = 0
    for part in parts:
        value = zlib.crc32(part, value)
    return value


def _encode_params(params: Mapping[str, Any]) -> bytes:
    try:
        text = json.dumps(dict(params), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise FormatError(f"codec parameters must be JSON-serialisable: {exc}") from None
    data = b"" if not params else text.encode("utf-8")
    if len(data) > MAX_PARAMS_BYTES:
        raise FormatError(f"codec parameters take {len(data)} bytes, more than {MAX_PARAMS_BYTES}")
    return data


def _validate_geometry(header: Header, limits: Limits) -> None:
    if not _CODEC_NAME.fullmatch(header.codec):
        raise FormatError(f"codec name {header.codec!r} is not 1-32 characters of [a-z0-9-]")
    if not 0 <= header.codec_version <= 0xFFFF:
        raise FormatError(f"codec payload version {header.codec_version} does not fit 16 bits")
    if not (1 <= header.width <= 0xFFFFFFFF and 1 <= header.height <= 0xFFFFFFFF):
        raise FormatError(f"image size {header.width}x{header.height} is invalid")
    limits.check_pixels(header.width, header.height)
    if header.bit_depth != 8:
        raise FormatError(f"bit depth {header.bit_depth} is not supported (format version 1 has 8 only)")
    expected = {ColourSpace.GREY: 1, ColourSpace.SRGB: 3}[header.colour_space]
    if header.channels != expected:
        raise FormatError(f"colour space {header.colour_space.name.lower()} needs {expected} "
                          f"channel(s), header says {header.channels}")


def write(header: Header, sections: Sequence[Section], limits: Limits = DEFAULT_LIMITS) -> bytes:
    """Serialise a header and sections (in order) into ``.lpx`` bytes."""
    _validate_geometry(header, limits)
    name = header.codec.encode("ascii")
    params = _encode_params(header.params)
    body = (bytes([len(name)]) + name
            + _GEOMETRY.pack(header.codec_version, header.width, header.height, header.channels,
                             header.bit_depth, int(header.colour_space), len(params))
            + params)
    prefix = _PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(body))
    out = [prefix, body, _CRC.pack(_crc(prefix, body))]
    if len(sections) > limits.max_sections:
        raise LimitError(f"{len(sections)} sections exceed the limit of {limits.max_sections}")
    seen_metadata = set()
    for section in list(sections) + [None]:
        kind, data = (END, b"") if section is None else (section.type, bytes(section.data))
        if kind in METADATA_TYPES:
            if kind in seen_metadata:
                raise FormatError(f"metadata section {kind!r} given twice")
            seen_metadata.add(kind)
        if len(data) > limits.max_section_bytes:
            raise LimitError(f"section {kind!r} of {len(data):,} bytes exceeds the limit of "
                             f"{limits.max_section_bytes:,} bytes")
        type_bytes = kind.encode("ascii")
        out += [_SECTION_HEAD.pack(type_bytes, len(data)), data, _CRC.pack(_crc(type_bytes, data))]
    return b"".join(out)


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"number {text} overflows a double")
    return value


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def _decode_params(data: bytes) -> dict[str, Any]:
    if not data:
        return {}
    try:
        value = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates,
                           parse_constant=_reject_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise FormatError(f"codec parameters are not a valid JSON object: {exc}") from None
    if not isinstance(value, dict):
        raise FormatError("codec parameters must be a JSON object")
    return value


# Signatures of the files people most often hand to a decoder by mistake.
_OTHER_FORMATS = ((b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
                  (b"GIF8", "a GIF image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
                  (b"BM", "a BMP image"), (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
                  (b"\xff\x0a", "a JPEG XL image"), (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"),
                  (b"P5", "a PGM image"), (b"P6", "a PPM image"))


def _what_it_is(view: memoryview) -> str | None:
    head = bytes(view[:16])
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "an AVIF image" if brand in (b"avif", b"avis") else "a HEIF/HEIC image" \
            if brand in (b"heic", b"heix", b"mif1", b"msf1") else None
    return next((name for magic, name in _OTHER_FORMATS if head.startswith(magic)), None)


def _parse_header(view: memoryview, limits: Limits) -> tuple[Header, int]:
    if len(view) < len(MAGIC) or bytes(view[:len(MAGIC)]) != MAGIC:
        if len(view) < len(MAGIC) and bytes(view) == MAGIC[:len(view)]:
            raise TruncatedError(f"truncated: the file is {len(view)} bytes long, shorter than the .lpx magic")
        kind = _what_it_is(view)
        if kind is not None:
            raise NotLpxError(f"this is {kind}, not an .lpx file (encode it first: latentpress encode)")
        raise NotLpxError("not an .lpx file (it does not start with the .lpx magic bytes \\x89LPX\\r\\n\\x1a\\n)")
    if len(view) < _PREFIX.size:
        raise TruncatedError("truncated: the file ends inside the header")
    _, version, flags, body_length = _PREFIX.unpack_from(view)
    # The 12-byte prefix and the CRC after the body keep their place in every format
    # version, so a corrupt header is reported as corrupt, not as "from the future".
    body_ok = 1 + 1 + _GEOMETRY.size <= body_length <= 1 + MAX_CODEC_NAME + _GEOMETRY.size + MAX_PARAMS_BYTES
    end = _PREFIX.size + body_length
    if body_ok:
        if len(view) < end + _CRC.size:
            raise TruncatedError("truncated: the file ends inside the header")
        (stored_crc,) = _CRC.unpack_from(view, end)
        if _crc(view[:end]) != stored_crc:
            raise ChecksumError("header CRC mismatch: the header is corrupt")
    if version != FORMAT_VERSION:
        raise UnsupportedVersionError(f".lpx format version {version} is not supported by this "
                                      f"build (it reads version {FORMAT_VERSION}); upgrade latentpress")
    if not body_ok:
        raise FormatError(f"header body length {body_length} is out of range")
    if flags != 0:
        raise FormatError(f"header flags are {flags:#04x}; version 1 defines none")
    body = bytes(view[_PREFIX.size:end])
    name_length = body[0]
    if not 1 <= name_length <= MAX_CODEC_NAME or 1 + name_length + _GEOMETRY.size > len(body):
        raise FormatError(f"codec name length {name_length} is invalid")
    raw_name = body[1:1 + name_length]
    name = raw_name.decode("ascii", "replace")
    if not _CODEC_NAME.fullmatch(name):
        raise FormatError(f"codec name {raw_name!r} is not [a-z0-9-]")
    (codec_version, width, height, channels, bit_depth, colour, params_length) = \
        _GEOMETRY.unpack_from(body, 1 + name_length)
    params_start = 1 + name_length + _GEOMETRY.size
    if params_start + params_length != len(body):
        raise FormatError(f"header body length {len(body)} does not match its fields "
                          f"({params_start} + {params_length} bytes of parameters)")
    if colour not in ColourSpace._value2member_map_:
        raise FormatError(f"unknown colour space {colour}")
    header = Header(codec=name, codec_version=codec_version, width=width, height=height,
                    channels=channels, bit_depth=bit_depth, colour_space=ColourSpace(colour),
                    params=_decode_params(body[params_start:]), header_bytes=end + _CRC.size,
                    header_crc=stored_crc)
    _validate_geometry(header, limits)
    return header, end + _CRC.size


def read(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> tuple[Header, list[Section]]:
    """Parse and verify a whole ``.lpx`` file.

    Returns the header (with ``sections`` and ``file_bytes`` filled in) and every
    section except ``END ``, in file order. Raises a :class:`FormatError` subclass
    or :class:`LimitError` on anything out of place.
    """
    view = memoryview(data).cast("B")
    if len(view) == 0:
        raise TruncatedError("the file is empty (0 bytes), not an .lpx file")
    header, pos = _parse_header(view, limits)
    sections: list[Section] = []
    infos: list[SectionInfo] = []
    seen_metadata: set[str] = set()
    while True:
        if len(view) - pos < _SECTION_HEAD.size:
            raise TruncatedError(f"truncated: the file ends at byte {len(view)} where a section header "
                                 f"was expected (no END section)")
        raw_type, length = _SECTION_HEAD.unpack_from(view, pos)
        if not _SECTION_TYPE.fullmatch(raw_type):
            raise FormatError(f"invalid section type {raw_type!r} at byte {pos}")
        kind = raw_type.decode("ascii")
        if length > limits.max_section_bytes:
            raise LimitError(f"section {kind!r} at byte {pos} declares {length:,} bytes, over the "
                             f"limit of {limits.max_section_bytes:,}")
        start = pos + _SECTION_HEAD.size
        if length + _CRC.size > len(view) - start:
            raise TruncatedError(f"truncated: section {kind!r} at byte {pos} declares {length:,} bytes "
                                 f"but only {max(0, len(view) - start - _CRC.size):,} remain")
        payload = view[start:start + length]
        (stored_crc,) = _CRC.unpack_from(view, start + length)
        if _crc(raw_type, payload) != stored_crc:
            raise ChecksumError(f"CRC mismatch in section {kind!r} at byte {pos}: the file is corrupt")
        infos.append(SectionInfo(kind, pos, length, stored_crc))
        pos = start + length + _CRC.size
        if kind == END:
            if length != 0:
                raise FormatError(f"END section has length {length}, must be 0")
            break
        if kind in METADATA_TYPES:
            if kind in seen_metadata:
                raise FormatError(f"metadata section {kind!r} appears twice")
            seen_metadata.add(kind)
        if len(sections) >= limits.max_sections:
            raise LimitError(f"more than {limits.max_sections} sections")
        sections.append(Section(kind, payload.tobytes()))
    if pos != len(view):
        raise TrailingDataError(f"{len(view) - pos} bytes of trailing data after the END section")
    header = replace(header, sections=tuple(infos), file_bytes=len(view))
    return header, sections


def split_metadata(sections: Sequence[Section]) -> tuple[list[Section], dict[str, bytes]]:
    """Separate the codec's sections from the container's metadata sections."""
    payload = [s for s in sections if s.type not in METADATA_TYPES]
    metadata = {s.type: s.data for s in sections if s.type in METADATA_TYPES}
    return payload, metadata
