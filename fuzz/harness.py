"""Shared pieces of the fuzz harnesses; see fuzz/README.md.

The codec harness does not fuzz whole files: a flipped byte in a whole file is almost
always caught by a CRC, so the fuzzer would never get past the container. Its input is
instead a *framed* list of parts, from which it builds a file with valid CRCs:

    part 0      the header's codec parameters (JSON)
    part 1      width, height as two little-endian uint16
    part 2…     the payload sections, in the order of the seed file's section types

each part as a little-endian uint32 length and that many bytes (a length past the end
takes what is left). The codec's own decoder then runs on it: any exception that is
not a LatentpressError is a finding (the API lets it through as a bug).
"""

from __future__ import annotations

import json
import struct

from latentpress import container
from latentpress.container import DEFAULT_LIMITS, ColourSpace, Header, Section


def frame(parts: list[bytes]) -> bytes:
    return b"".join(struct.pack("<I", len(p)) + p for p in parts)


def unframe(data: bytes, count: int) -> list[bytes]:
    parts, pos = [], 0
    while len(parts) < count and pos + 4 <= len(data):
        (length,) = struct.unpack_from("<I", data, pos)
        pos += 4
        parts.append(data[pos:pos + length])
        pos += length
    return parts


def seed_parts(data: bytes) -> tuple[Header, list[str], list[bytes]]:
    """A valid file → (its header, its payload section types, its framed parts)."""
    header, sections = container.read(data)
    payload, _ = container.split_metadata(sections)
    parts = [json.dumps(dict(header.params)).encode(), struct.pack("<HH", header.width, header.height)]
    return header, [s.type for s in payload], parts + [s.data for s in payload]


def build(template: Header, types: list[str], data: bytes) -> tuple[Header, list[Section]] | None:
    """The header and sections the framed ``data`` describes, or None when it cannot be a
    file (bad JSON, or a file the container itself refuses to write, e.g. over a limit)."""
    parts = unframe(data, 2 + len(types))
    if len(parts) < 2:
        return None
    try:
        params = json.loads(parts[0])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(params, dict) or len(parts[1]) != 4:
        return None
    width, height = struct.unpack("<HH", parts[1])
    header = Header(codec=template.codec, codec_version=template.codec_version, width=width, height=height,
                    channels=template.channels, colour_space=ColourSpace(template.colour_space), params=params)
    sections = [Section(kind, body) for kind, body in zip(types, parts[2:])]
    try:                        # what a reader would see: written, then read back with every check
        return container.read(container.write(header, sections, DEFAULT_LIMITS))
    except Exception as exc:    # noqa: BLE001 — the container's documented errors only
        from latentpress.errors import LatentpressError
        if isinstance(exc, LatentpressError):
            return None
        raise
