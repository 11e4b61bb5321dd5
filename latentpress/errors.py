"""The exceptions latentpress raises.

Every error caused by the data or the arguments a user hands in is a subclass of
:class:`LatentpressError`, so callers can catch that one class. The CLI turns each of
them into a one-line message and a non-zero exit code.
"""

from __future__ import annotations


class LatentpressError(Exception):
    """Base class of every error latentpress raises on bad input or bad arguments."""


class FormatError(LatentpressError):
    """The bytes are not a valid ``.lpx`` file (bad magic, bad field, bad layout)."""


class NotLpxError(FormatError):
    """The data does not start with the ``.lpx`` magic bytes."""


class TruncatedError(FormatError):
    """The file ends before a field or section it declares."""


class ChecksumError(FormatError):
    """A CRC32 stored in the file does not match the bytes it covers."""


class TrailingDataError(FormatError):
    """There are bytes after the end-of-file section."""


class UnsupportedVersionError(FormatError):
    """The file uses a container or codec payload version this build cannot read."""


class UnknownCodecError(LatentpressError):
    """No codec of that name is registered in this build."""


class LimitError(LatentpressError):
    """A declared size (pixels, section bytes, network size) exceeds a configured limit."""


class CorruptPayloadError(FormatError):
    """A codec payload passed its CRC but its content is inconsistent with the header."""


class ImageError(LatentpressError):
    """An input image cannot be read or has a mode/size latentpress does not handle."""


class ParameterError(LatentpressError, ValueError):
    """A codec parameter or option has an invalid name or value."""


class WeightsError(LatentpressError):
    """Shipped model weights are missing or fail their checksum."""
