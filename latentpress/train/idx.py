"""Reader of the IDX format (MNIST, Fashion-MNIST): gzip-compressed or not.

IDX (http://yann.lecun.com/exdb/mnist/, "file formats"): two zero bytes, a type code
(0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number
of dimensions, each dimension as a big-endian uint32, then the values, big-endian, in C
order. The reader checks that the values fill the file exactly and refuses anything
larger than ``max_bytes`` before allocating it.
"""

from __future__ import annotations

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

from latentpress.errors import ImageError

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
MAX_BYTES = 1 << 30


def read_idx(path: str | Path, max_bytes: int = MAX_BYTES) -> np.ndarray:
    """The array an IDX file holds (native byte order)."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as handle:
            return _read(handle, path, max_bytes)
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ImageError(f"cannot read IDX file {path}: {exc}") from None


def _read(handle: io.BufferedIOBase, path: Path, max_bytes: int) -> np.ndarray:
    magic = handle.read(4)
    if len(magic) != 4 or magic[:2] != b"\0\0" or magic[2] not in _TYPES or magic[3] == 0:
        raise ImageError(f"{path} is not an IDX file (magic {magic.hex()})")
    dtype = np.dtype(_TYPES[magic[2]])
    header = handle.read(4 * magic[3])
    if len(header) != 4 * magic[3]:
        raise ImageError(f"{path}: the IDX header is truncated")
    shape = tuple(int(d) for d in np.frombuffer(header, ">u4"))
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > max_bytes:
        raise ImageError(f"{path}: the IDX file declares {size:,} bytes of data, over the limit of {max_bytes:,}")
    data = handle.read(size + 1)
    if len(data) != size:
        raise ImageError(f"{path}: the IDX file holds {len(data)}{'+' if len(data) > size else ''} bytes of data "
                         f"where its shape {shape} needs {size}")
    return np.frombuffer(data, dtype).reshape(shape).astype(dtype.newbyteorder("="))
