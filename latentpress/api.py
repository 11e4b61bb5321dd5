"""The public Python API: encode, decode, read_info, codecs.

Everything the CLI, the bench and the Pillow plugin do goes through these functions.
Errors caused by the input are subclasses of :class:`latentpress.LatentpressError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from latentpress import container
from latentpress.codecs.base import DEFAULT_CODEC, Codec, Payload, all_codecs, get_codec
from latentpress.container import DEFAULT_LIMITS, ColourSpace, Header, Limits, Section
from latentpress.errors import CorruptPayloadError, ParameterError
from latentpress.image import as_array


@dataclass(frozen=True)
class CodecInfo:
    name: str
    version: int
    description: str
    lossless: bool
    params: dict[str, Any]       # parameter name → default


def encode(image: "np.ndarray | Image.Image", codec: str | None = None, *,
           icc_profile: bytes | None = None, exif: bytes | None = None,
           limits: Limits = DEFAULT_LIMITS, **params: Any) -> bytes:
    """Compress an image into ``.lpx`` bytes.

    ``image`` is a uint8 array (H×W or H×W×3) or a PIL image (whose ICC profile and EXIF
    are kept unless given explicitly). ``params`` are the codec's parameters (see
    :func:`codecs`); strings are accepted and converted, as from the command line.
    """
    if isinstance(image, Image.Image):
        icc_profile = icc_profile if icc_profile is not None else image.info.get("icc_profile")
        if exif is None and isinstance(image.info.get("exif"), bytes):
            exif = image.info["exif"]
    icc_profile = _metadata_bytes("icc_profile", icc_profile)
    exif = _metadata_bytes("exif", exif.tobytes() if isinstance(exif, Image.Exif) else exif)
    pixels = as_array(image)
    height, width = pixels.shape[:2]
    limits.check_pixels(width, height)
    implementation = get_codec(codec or DEFAULT_CODEC)
    payload = implementation.encode(pixels, implementation.parse_params(params))
    return pack(implementation, pixels, payload, icc_profile=icc_profile, exif=exif, limits=limits)


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


def _decode(data: bytes, limits: Limits, steps: int | None = None) -> tuple[np.ndarray, Header, dict[str, bytes]]:
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


def decode(data: bytes, *, limits: Limits = DEFAULT_LIMITS, steps: int | None = None) -> np.ndarray:
    """Decompress ``.lpx`` bytes to a uint8 array (H×W or H×W×3).

    ``steps``: for a progressive file (``cnn-rnn-ae``), decode only its first stages.
    """
    return _decode(data, limits, steps)[0]


def decode_image(data: bytes, *, limits: Limits = DEFAULT_LIMITS, steps: int | None = None) -> Image.Image:
    """Decompress to a PIL image carrying the file's ICC profile and EXIF in ``info``."""
    pixels, _, metadata = _decode(data, limits, steps)
    image = Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")
    if "ICCP" in metadata:
        image.info["icc_profile"] = metadata["ICCP"]
    if "EXIF" in metadata:
        image.info["exif"] = metadata["EXIF"]
    return image


def read_info(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Header:
    """Parse and verify a file's structure without decoding the image.

    The returned header lists the sections (type, offset, length, CRC) and the file
    size; every CRC has been checked.
    """
    return container.read(data, limits)[0]


def codecs() -> list[CodecInfo]:
    """The registered codecs with their parameters and defaults."""
    import dataclasses

    return [CodecInfo(cls.name, cls.version, cls.description, cls.lossless,
                      {f.name: f.default for f in dataclasses.fields(cls.Params)})
            for cls in all_codecs()]
