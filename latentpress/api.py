"""The public Python API: encode, decode, read_info, codecs.

Everything the CLI, the bench and the Pillow plugin do goes through these functions.
Errors caused by the input are subclasses of :class:`latentpress.LatentpressError`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
from PIL import Image

from latentpress import container
from latentpress.codecs.base import DEFAULT_CODEC, Codec, Payload, all_codecs, get_codec
from latentpress.container import DEFAULT_LIMITS, ColourSpace, Header, Limits, Section
from latentpress.errors import CorruptPayloadError, ImageError, LatentpressError, LimitError, ParameterError
from latentpress.image import as_array, open_image, open_image_bytes

# What the functions accept: an image (array, PIL image, or an image file as a path,
# its bytes or a binary file object), and an .lpx file (its bytes, a path or a binary
# file object).
ImageSource = Union[np.ndarray, Image.Image, str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]
LpxSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", IO[bytes]]


def _name(source: Any) -> str:
    return os.fspath(source) if isinstance(source, (str, os.PathLike)) else getattr(source, "name", "<data>")


def _read_bytes(source: Any, limit: int, what: str) -> bytes:
    """The bytes of a path or a binary file object, at most ``limit`` of them."""
    name = _name(source)
    try:
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if path.is_dir():
                raise ParameterError(f"{name}: is a directory, not {what}")
            if path.exists() and not path.is_file():
                # FIFOs, devices and the like have no size to check and may never end.
                raise ParameterError(f"{name}: not a regular file")
            if path.exists() and path.stat().st_size > limit:
                raise LimitError(f"{name}: {path.stat().st_size:,} bytes, more than {limit:,} "
                                 f"(Limits.max_file_bytes)")
            with open(path, "rb") as handle:
                data = handle.read(limit + 1)
        else:
            data = source.read(limit + 1)
    except FileNotFoundError:
        raise ParameterError(f"{name}: no such file") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{name}: a file object opened in text mode; open it in binary mode ('rb')") from None
    except OSError as exc:
        raise ParameterError(f"{name}: cannot read: {exc.strerror or exc}") from None
    if not isinstance(data, (bytes, bytearray)):
        raise ParameterError(f"{name}: a file object opened in text mode; open it in binary mode ('rb')")
    if len(data) > limit:
        raise LimitError(f"{name}: more than {limit:,} bytes (Limits.max_file_bytes)")
    return bytes(data)


def _is_file(source: Any) -> bool:
    return callable(getattr(source, "read", None))


def _lpx_bytes(source: Any, limits: Limits) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return source
    if isinstance(source, (str, os.PathLike)) or _is_file(source):
        return _read_bytes(source, limits.max_file_bytes, "an .lpx file")
    raise ParameterError(f"expected .lpx data as bytes, a path or a binary file object, "
                         f"got {type(source).__name__}")


def _with_name(source: Any, call):
    """Run call(), naming the file in any LatentpressError when ``source`` was a path."""
    try:
        return call()
    except LatentpressError as exc:
        name = _name(source) if isinstance(source, (str, os.PathLike)) else None
        if name and not str(exc).startswith(name):
            raise type(exc)(f"{name}: {exc}") from None
        raise


@dataclass(frozen=True)
class CodecInfo:
    name: str
    version: int
    description: str
    lossless: bool
    params: dict[str, Any]       # parameter name → default
    quality: str                 # what quality 0-100 does in this codec


def encode(image: ImageSource, codec: str | None = None, *,
           icc_profile: bytes | None = None, exif: bytes | None = None,
           limits: Limits = DEFAULT_LIMITS, **params: Any) -> bytes:
    """Compress an image into ``.lpx`` bytes.

    ``image`` is a uint8 array (H×W or H×W×3), a PIL image, or an image file Pillow can
    read given as a path, its bytes or a binary file object (a PIL image's or a file's
    ICC profile and EXIF are kept unless given explicitly). ``params`` are the codec's
    parameters (see :func:`codecs`), checked before any work starts; strings are
    accepted and converted, as from the command line.
    """
    implementation = get_codec(codec or DEFAULT_CODEC)
    parsed = implementation.parse_params(params)
    if isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview)) or _is_file(image):
        loaded = _with_name(image, lambda: _open_image_source(image, limits))
        pixels = loaded.pixels
        icc_profile = icc_profile if icc_profile is not None else loaded.icc_profile
        exif = exif if exif is not None else loaded.exif
    else:
        if isinstance(image, Image.Image):
            icc_profile = icc_profile if icc_profile is not None else image.info.get("icc_profile")
            if exif is None and isinstance(image.info.get("exif"), bytes):
                exif = image.info["exif"]
        pixels = as_array(image)
    icc_profile = _metadata_bytes("icc_profile", icc_profile)
    exif = _metadata_bytes("exif", exif.tobytes() if isinstance(exif, Image.Exif) else exif)
    height, width = pixels.shape[:2]
    limits.check_pixels(width, height)
    payload = implementation.encode(pixels, parsed)
    return pack(implementation, pixels, payload, icc_profile=icc_profile, exif=exif, limits=limits)


def _open_image_source(source: Any, limits: Limits):
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageError(f"{os.fspath(source)}: no such file")
        if path.is_dir():
            raise ImageError(f"{os.fspath(source)}: is a directory, not an image")
        if not path.is_file():
            raise ImageError(f"{os.fspath(source)}: not a regular file")
        if path.stat().st_size > limits.max_file_bytes:
            raise LimitError(f"{os.fspath(source)}: {path.stat().st_size:,} bytes, more than "
                             f"{limits.max_file_bytes:,} (Limits.max_file_bytes)")
        return open_image(path, max_pixels=limits.max_pixels)
    data = bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else \
        _read_bytes(source, limits.max_file_bytes, "an image")
    return open_image_bytes(data, _name(source), max_pixels=limits.max_pixels)


def pack(implementation: Codec, pixels: np.ndarray, payload: Payload, *, icc_profile: bytes | None = None,
         exif: bytes | None = None, limits: Limits = DEFAULT_LIMITS, request: bytes | None = None) -> bytes:
    """The ``.lpx`` bytes of a payload that ``implementation`` made from ``pixels`` (for
    tools that build payloads themselves, e.g. several storage modes from one training).
    ``request``: an ``ENCP`` section (batch.request_record), recording what was asked for."""
    height, width = pixels.shape[:2]
    grey = pixels.ndim == 2
    header = Header(codec=implementation.name, codec_version=implementation.version,
                    width=width, height=height, channels=1 if grey else 3,
                    colour_space=ColourSpace.GREY if grey else ColourSpace.SRGB,
                    params=payload.params)
    metadata = [Section(kind, data) for kind, data in (("ICCP", icc_profile), ("EXIF", exif), ("ENCP", request))
                if data]
    return container.write(header, payload.sections + metadata, limits)


def _metadata_bytes(name: str, value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ParameterError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value) or None


def _decode(source: LpxSource, limits: Limits, steps: int | None = None) -> tuple[np.ndarray, Header, dict[str, bytes]]:
    return _with_name(source, lambda: _decode_bytes(_lpx_bytes(source, limits), limits, steps))


def _decode_bytes(data: bytes, limits: Limits, steps: int | None) -> tuple[np.ndarray, Header, dict[str, bytes]]:
    header, sections = container.read(data, limits)
    payload, metadata = container.split_metadata(sections)
    implementation = get_codec(header.codec)
    if steps is not None and not implementation.progressive:
        raise ParameterError(f"{header.codec} files are not progressive: decode them whole (no steps)")
    if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int) or steps < 1):
        raise ParameterError(f"steps must be a positive integer, got {steps!r}")
    limits.check_decode_memory(header.codec, implementation.decode_memory(header))
    # A codec validates its payload and raises CorruptPayloadError on what the bytes
    # cause; any other exception is a bug in the codec and surfaces as itself.
    with container.limits_in_effect(limits):
        pixels = (implementation.decode(header, payload) if steps is None
                  else implementation.decode(header, payload, steps=steps))
    expected = (header.height, header.width) + (() if header.channels == 1 else (3,))
    if pixels.shape != expected or pixels.dtype != np.uint8:
        raise CorruptPayloadError(f"{header.codec} decoded shape {pixels.shape}, header says {expected}")
    return pixels, header, metadata


def decode(data: LpxSource, *, limits: Limits = DEFAULT_LIMITS, steps: int | None = None) -> np.ndarray:
    """Decompress an ``.lpx`` file (its bytes, a path or a binary file object) to a uint8
    array (H×W or H×W×3).

    ``steps``: for a progressive file (``cnn-rnn-ae``), decode only its first stages.
    """
    return _decode(data, limits, steps)[0]


def decode_image(data: LpxSource, *, limits: Limits = DEFAULT_LIMITS, steps: int | None = None) -> Image.Image:
    """Decompress to a PIL image carrying the file's ICC profile and EXIF in ``info``."""
    pixels, _, metadata = _decode(data, limits, steps)
    image = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    if "ICCP" in metadata:
        image.info["icc_profile"] = metadata["ICCP"]
    if "EXIF" in metadata:
        image.info["exif"] = metadata["EXIF"]
    return image


def read_info(data: LpxSource, *, limits: Limits = DEFAULT_LIMITS) -> Header:
    """Parse and verify a file's structure (bytes, a path or a binary file object)
    without decoding the image.

    The returned header lists the sections (type, offset, length, CRC) and the file
    size; every CRC has been checked.
    """
    return _with_name(data, lambda: container.read(_lpx_bytes(data, limits), limits)[0])


def codecs() -> list[CodecInfo]:
    """The registered codecs with their parameters and defaults."""
    import dataclasses

    return [CodecInfo(cls.name, cls.version, cls.description, cls.lossless,
                      {f.name: f.default for f in dataclasses.fields(cls.Params)}, cls.quality_scale())
            for cls in all_codecs()]
