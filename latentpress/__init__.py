"""latentpress: learned image compression and the ``.lpx`` file format.

>>> import latentpress, numpy as np
>>> data = latentpress.encode(np.zeros((64, 64, 3), np.uint8), quality=50)
>>> latentpress.decode(data).shape
(64, 64, 3)

Importing latentpress also registers the ``.lpx`` format with Pillow.
"""

from latentpress import progress
from latentpress.api import CodecInfo, codecs, decode, decode_image, encode, read_info
from latentpress.codecs.base import Codec, Payload, register
from latentpress.container import ColourSpace, Header, Limits, Section
from latentpress.errors import (
    ChecksumError,
    CorruptPayloadError,
    FormatError,
    ImageError,
    LatentpressError,
    LimitError,
    NotLpxError,
    ParameterError,
    TrailingDataError,
    TruncatedError,
    UnknownCodecError,
    UnsupportedVersionError,
    WeightsError,
)

__version__ = "0.1.0"

__all__ = [
    "ChecksumError", "Codec", "CodecInfo", "ColourSpace", "CorruptPayloadError", "FormatError",
    "Header", "ImageError", "LatentpressError", "LimitError", "Limits", "NotLpxError",
    "ParameterError", "Payload", "Section", "TrailingDataError", "TruncatedError",
    "UnknownCodecError", "UnsupportedVersionError", "WeightsError", "codecs", "decode",
    "decode_image", "encode", "progress", "read_info", "register",
]

from latentpress import pillow as _pillow  # noqa: E402,F401  (importing registers the plugin)
