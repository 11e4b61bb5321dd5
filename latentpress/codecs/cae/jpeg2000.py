"""The JPEG 2000 entropy coder of report 003 (Cheng et al., "Deep Convolutional
AutoEncoder-based Lossy Image Compression", PCS 2018): the quantized feature maps
tiled into one mosaic image, coded by OpenJPEG (through Pillow) at a target size, and
the check that refuses, before OpenJPEG sees them, codestreams of any structure our
encoder never writes.
"""

from __future__ import annotations

import io
import math
import struct
from typing import NoReturn

import numpy as np
from PIL import Image

from latentpress.errors import CorruptPayloadError

SCAN_ROWS = 8                                  # maps per mosaic column (vertical scan, §II-C)


def mosaic_shape(channels: list[int], height: int, width: int) -> tuple[int, int]:
    """Rows and columns of the mosaic for components with ``channels`` maps of h×w."""
    columns = [-(-c // SCAN_ROWS) for c in channels]
    luma_rows = SCAN_ROWS * height
    below = sum(columns[1:]) * width
    return luma_rows * (2 if len(channels) > 1 else 1), max(columns[0] * width, below)


def to_mosaic(components: list[np.ndarray]) -> np.ndarray:
    """Rotated maps (per component c×h×w) → one image, vertical scan within a component:
    map k at row k mod 8, column k div 8; luma on top, chroma side by side below."""
    height, width = components[0].shape[1:]
    rows, columns = mosaic_shape([c.shape[0] for c in components], height, width)
    out = np.zeros((rows, columns), components[0].dtype)
    left = 0
    for index, maps in enumerate(components):
        top = 0 if index == 0 else SCAN_ROWS * height
        for k, plane in enumerate(maps):
            y, x = top + (k % SCAN_ROWS) * height, left + (k // SCAN_ROWS) * width
            out[y:y + height, x:x + width] = plane
        if index > 0:
            left += -(-maps.shape[0] // SCAN_ROWS) * width
    return out


def from_mosaic(mosaic: np.ndarray, channels: list[int], height: int, width: int) -> list[np.ndarray]:
    components, left = [], 0
    for index, count in enumerate(channels):
        top = 0 if index == 0 else SCAN_ROWS * height
        maps = np.empty((count, height, width), mosaic.dtype)
        for k in range(count):
            y, x = top + (k % SCAN_ROWS) * height, left + (k // SCAN_ROWS) * width
            maps[k] = mosaic[y:y + height, x:x + width]
        components.append(maps)
        if index > 0:
            left += -(-count // SCAN_ROWS) * width
    return components


def encode(mosaic: np.ndarray, target_bytes: float) -> bytes:
    """The mosaic (integers below 2**16) as a codestream of about ``target_bytes``."""
    image = Image.fromarray(mosaic.astype(np.uint16))
    ratio = max(1.0, 2.0 * mosaic.size / max(target_bytes, 1.0))
    resolutions = max(1, min(6, int(math.log2(min(mosaic.shape))) - 1))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG2000", irreversible=True, quality_mode="rates", quality_layers=[ratio],
               no_jp2=True, num_resolutions=resolutions)
    return buffer.getvalue()


# Markers of the codestreams encode() writes (ITU-T T.800 Annex A), in order:
# SOC, SIZ, COD, QCD, COM, then one tile-part (SOT, SOD, the data) and EOC.
_SOC, _SIZ, _COD, _QCD, _COM = 0xFF4F, 0xFF51, 0xFF52, 0xFF5C, 0xFF64
_SOT, _SOD, _EOC = 0xFF90, 0xFF93, 0xFFD9
_SIZ_FIELDS = struct.Struct(">HIIIIIIIIH")   # Rsiz, Xsiz, Ysiz, XOsiz, YOsiz, XTsiz, YTsiz, XTOsiz, YTOsiz, Csiz
_COD_FIELDS = struct.Struct(">BBHBBBBBB")    # Scod, progression, layers, MCT, levels, xcb, ycb, cblk style, wavelet
_SOT_FIELDS = struct.Struct(">HIBB")         # Isot, Psot, TPsot, TNsot
_MAX_LEVELS = 5                              # encode(): at most 6 resolutions
_CODE_BLOCK = 4                              # 64×64 code-blocks (exponents − 2), OpenJPEG's default


def check_codestream(data: bytes, shape: tuple[int, int]) -> None:
    """Refuse, before OpenJPEG allocates anything, what encode() never writes.

    OpenJPEG's memory grows with the codestream's structure, not only with its image
    size: tiles, components, code-blocks, precincts and layers multiply its per-block
    structures (docs/security/memory.md, finding 2, has the measurements). Our
    codestreams hold one unsigned component of at most 16 bits at full resolution, no
    offsets, one tile in one tile-part, one quality layer, at most 5 decomposition
    levels, 64×64 code-blocks, the default (maximal) precincts and no markers but SIZ,
    COD, QCD and COM in the main header and none in the tile-part header. Within that,
    the peak follows the image size.
    """
    def fail(why: str) -> NoReturn:
        raise CorruptPayloadError(f"MAPS: {why}")

    def segment(position: int, allowed: tuple[int, ...], where: str) -> tuple[int, bytes, int]:
        """The marker at ``position``, its segment's body and the position after it."""
        if position + 4 > len(data):
            fail(f"JPEG 2000 {where} truncated")
        marker, length = struct.unpack_from(">HH", data, position)
        if marker not in allowed:
            fail(f"JPEG 2000 marker {marker:04X} in the {where}: not a codestream this codec writes")
        if length < 2 or position + 2 + length > len(data):
            fail(f"JPEG 2000 {where} truncated")
        return marker, data[position + 4:position + 2 + length], position + 2 + length

    if data[:2] != _SOC.to_bytes(2, "big"):
        fail("not a JPEG 2000 codestream (no SOC marker)")
    _, siz, position = segment(2, (_SIZ,), "main header")
    if len(siz) < _SIZ_FIELDS.size:
        fail("JPEG 2000 SIZ truncated")
    (_, width, height, x_offset, y_offset, tile_width, tile_height, tile_x_offset, tile_y_offset,
     components) = _SIZ_FIELDS.unpack_from(siz)
    if components != 1 or len(siz) != _SIZ_FIELDS.size + 3:
        fail(f"JPEG 2000 image of {components} components ({len(siz) + 2}-byte SIZ): one expected")
    depth, x_step, y_step = siz[_SIZ_FIELDS.size:]
    if (width, height) != (shape[1], shape[0]):
        fail(f"codestream of {width}x{height}, expected {shape[1]}x{shape[0]}")
    if depth > 0x0F or (x_step, y_step) != (1, 1):
        fail(f"JPEG 2000 samples of Ssiz {depth:#04x} subsampled {x_step}x{y_step}: unsigned samples of "
             f"at most 16 bits at full resolution expected")
    if x_offset or y_offset or tile_x_offset or tile_y_offset or tile_width < width or tile_height < height:
        fail(f"JPEG 2000 tiles of {tile_width}x{tile_height} at ({tile_x_offset}, {tile_y_offset}), image at "
             f"({x_offset}, {y_offset}): one tile at the origin expected")
    seen: set[int] = set()
    while True:
        marker, body, after = segment(position, (_COD, _QCD, _COM, _SOT), "main header")
        if marker == _SOT:
            break
        if marker in seen and marker != _COM:
            fail(f"JPEG 2000 marker {marker:04X} repeated in the main header")
        seen.add(marker)
        if marker == _COD:
            if len(body) != _COD_FIELDS.size:
                fail("JPEG 2000 COD with precinct sizes or of a wrong length")
            scod, _, layers, _, levels, xcb, ycb, style, _ = _COD_FIELDS.unpack(body)
            if scod or layers != 1 or levels > _MAX_LEVELS or (xcb, ycb) != (_CODE_BLOCK, _CODE_BLOCK) or style:
                fail(f"JPEG 2000 COD of Scod {scod}, {layers} layers, {levels} levels, code-blocks of "
                     f"2^{xcb + 2}x2^{ycb + 2}, style {style}: the encoder writes 0, 1, at most "
                     f"{_MAX_LEVELS}, 64x64, 0")
        position = after
    if not {_COD, _QCD} <= seen:
        fail("JPEG 2000 main header without COD or QCD")
    if len(body) != _SOT_FIELDS.size:
        fail("JPEG 2000 SOT of a wrong length")
    tile, tile_part_bytes, part, parts = _SOT_FIELDS.unpack(body)
    if (tile, part) != (0, 0) or parts not in (0, 1):
        fail(f"JPEG 2000 tile-part {part} of {parts} of tile {tile}: one tile-part expected")
    if position + tile_part_bytes != len(data) - 2 or data[-2:] != _EOC.to_bytes(2, "big"):
        fail("JPEG 2000 tile-part and EOC do not end the codestream (truncated or more tile-parts)")
    if data[after:after + 2] != _SOD.to_bytes(2, "big"):
        fail("JPEG 2000 tile-part header with markers of its own")


def decode(data: bytes, shape: tuple[int, int], maximum: int) -> np.ndarray:
    """The codestream's samples (int64, clipped to 0 … maximum); CorruptPayloadError
    for anything encode() does not write or OpenJPEG refuses."""
    check_codestream(data, shape)
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG2000"]) as image:
            if image.size != (shape[1], shape[0]):
                raise CorruptPayloadError(f"MAPS: codestream of {image.size}, expected {shape[1]}x{shape[0]}")
            image.load()
            values = np.asarray(image)
    except CorruptPayloadError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise CorruptPayloadError(f"MAPS: not a valid JPEG 2000 codestream ({exc})") from None
    if values.shape != shape:
        raise CorruptPayloadError(f"MAPS: decoded {values.shape}, expected {shape}")
    return np.clip(values.astype(np.int64), 0, maximum)
