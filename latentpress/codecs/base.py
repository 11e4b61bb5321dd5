"""The Codec contract and the codec registry.

A codec turns a uint8 image into an ordered list of container sections plus the
parameters the decoder needs (recorded in the file header), and back. It knows
nothing about files, the CLI or the container's byte layout.

Codecs register by name. Built-in codecs are listed in ``_BUILTIN`` and imported on
first use, so ``import latentpress`` (and with it the Pillow plugin) stays light and
does not import torch until a learned codec is actually used.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from latentpress.container import Header, Section
from latentpress.errors import CorruptPayloadError, ParameterError, UnknownCodecError, UnsupportedVersionError


@dataclass(frozen=True)
class Payload:
    """What a codec's encoder returns."""

    sections: list[Section]
    params: dict[str, Any]          # stored in the header; what the decoder needs


@dataclass(frozen=True)
class NoParams:
    """For codecs without parameters."""


@dataclass(frozen=True)
class NoHeaderParams:
    """For payloads whose header holds no parameters."""


class Codec(ABC):
    name: ClassVar[str]
    version: ClassVar[int]             # payload layout version, stored in the header
    description: ClassVar[str]         # one line, shown by `latentpress codecs`
    lossless: ClassVar[bool] = False
    # Progressive files decode from a prefix of their stages: decode(..., steps=k).
    progressive: ClassVar[bool] = False
    Params: ClassVar[type] = NoParams  # a frozen dataclass; may define validate()
    # The header parameters the decoder reads, as a frozen dataclass typed like Params
    # (int, float, bool, str, Literal[...]; ``X | None = None`` for a key some files
    # lack); it may define check(), raising CorruptPayloadError. See header_params().
    HeaderParams: ClassVar[type] = NoHeaderParams
    # Why a lossy codec takes no ``quality`` (e.g. a fixed rate), for its error message.
    no_quality: ClassVar[str] = "it has no quality setting"
    # What quality_params() sets, in a few words (for `latentpress codecs`).
    quality_meaning: ClassVar[str] = ""
    # Peak memory of a decode: a fixed part and a part per pixel of the image, upper
    # bounds of what benchmarks/decode_memory.py measured (results/security/
    # decode-memory.json); checked against Limits.max_decode_memory before decoding.
    decode_base_bytes: ClassVar[int] = 64 << 20
    decode_bytes_per_pixel: ClassVar[int] = 64

    @abstractmethod
    def encode(self, image: np.ndarray, params: Any) -> Payload:
        """image: uint8 H×W or H×W×3 (C-contiguous); params: an instance of Params."""

    @classmethod
    def decode_memory(cls, header: Header) -> int:
        """Bytes a decode of this header's image may need (beyond the library itself)."""
        return cls.decode_base_bytes + cls.decode_bytes_per_pixel * cls.working_pixels(header)

    @classmethod
    def working_pixels(cls, header: Header) -> int:
        """Pixels the decoder works on: the image's, or more where it pads the image (to
        whole blocks: a 1-pixel-high image may cost 32 rows)."""
        return header.width * header.height

    @abstractmethod
    def decode(self, header: Header, sections: Sequence[Section]) -> np.ndarray:
        """Reconstruct the image the header describes; must validate the sections."""

    # Shared helpers --------------------------------------------------------------

    @classmethod
    def quality_params(cls, quality: int) -> dict[str, Any] | None:
        """The parameters that ``quality`` (0-100, higher is better, as cwebp's -q) stands
        for, in a codec whose rate knob is another parameter (a bpp target, a code length);
        None where there is nothing to map. A codec with a ``quality`` field in its Params
        takes it directly."""
        return None

    @classmethod
    def quality_scale(cls) -> str:
        """One line on what ``quality`` does in this codec (for `latentpress codecs`)."""
        if any(f.name == "quality" for f in dataclasses.fields(cls.Params)):
            return f"quality 0-100 (higher is better){': ' + cls.quality_meaning if cls.quality_meaning else ''}"
        if cls.quality_params(50) is not None:
            return f"quality 0-100 sets {cls.quality_meaning}"
        return "lossless: no quality" if cls.lossless else f"no quality: {cls.no_quality}"

    @classmethod
    def parse_params(cls, values: Mapping[str, Any]) -> Any:
        """Build and validate Params from keyword values (strings from the CLI are coerced)."""
        fields = {f.name: f for f in dataclasses.fields(cls.Params)}
        if "quality" in values and "quality" not in fields:
            values = cls._mapped_quality(dict(values), set(fields))
        unknown = sorted(set(values) - set(fields))
        if unknown:
            valid = ", ".join(sorted(fields)) or "none"
            hint = " (--lambda on the command line)" if unknown[0] == "lmbda" else ""
            raise ParameterError(f"codec {cls.name!r} has no parameter {unknown[0]!r}{hint} (valid: {valid})")
        hints = typing.get_type_hints(cls.Params)
        converted = {key: _coerce(cls.name, key, value, hints[key]) for key, value in values.items()}
        params = cls.Params(**converted)
        validate = getattr(params, "validate", None)
        if validate is not None:
            validate()
        return params

    @classmethod
    def header_params(cls, header: Header) -> Any:
        """The header's parameters as HeaderParams, validated: CorruptPayloadError for a
        key the payload does not have, a missing key, a value of the wrong type, or what
        HeaderParams.check() refuses. A file is untrusted: nothing is coerced."""
        fields = {f.name: f for f in dataclasses.fields(cls.HeaderParams)}
        unknown = sorted(set(header.params) - set(fields))
        if unknown:
            raise CorruptPayloadError(f"{cls.name} header: unexpected parameter {unknown[0]!r}")
        hints = typing.get_type_hints(cls.HeaderParams)
        values = {}
        for name, f in fields.items():
            if name in header.params:
                values[name] = _checked(cls.name, name, header.params[name], hints[name])
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise CorruptPayloadError(f"{cls.name} header: parameter {name!r} is missing")
        stored = cls.HeaderParams(**values)
        check = getattr(stored, "check", None)
        if check is not None:
            check()
        return stored

    @classmethod
    def _mapped_quality(cls, values: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        quality = _coerce(cls.name, "quality", values.pop("quality"), int)
        if not 0 <= quality <= 100:
            raise ParameterError(f"quality must be 0-100, got {quality}")
        mapped = cls.quality_params(quality)
        if mapped is None:
            if cls.lossless:
                raise ParameterError(f"codec {cls.name!r} is lossless: it takes no quality")
            raise ParameterError(f"codec {cls.name!r} takes no quality: {cls.no_quality}")
        both = sorted(set(mapped) & set(values))
        if both:
            raise ParameterError(f"codec {cls.name!r}: quality sets {both[0]}; give one or the other")
        return {**values, **mapped}

    @classmethod
    def check_version(cls, header: Header) -> None:
        if header.codec_version != cls.version:
            raise UnsupportedVersionError(
                f"{cls.name} payload version {header.codec_version} is not supported by this "
                f"build (it reads version {cls.version})")

    @staticmethod
    def expect_sections(sections: Sequence[Section], expected: Sequence[str]) -> list[bytes]:
        found = [s.type for s in sections]
        if found != list(expected):
            raise CorruptPayloadError(f"expected sections {list(expected)}, found {found}")
        return [s.data for s in sections]


def _coerce(codec: str, key: str, value: Any, kind: Any) -> Any:
    """Convert a CLI string (or a Python value) to the declared field type."""
    origin = typing.get_origin(kind)
    try:
        if origin is typing.Literal:
            choices = typing.get_args(kind)
            if value not in choices:
                raise ValueError(f"choose one of {', '.join(map(str, choices))}")
            return value
        if kind is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError("expected true or false")
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("expected an integer")
            if isinstance(value, bool):
                raise ValueError("expected an integer")
            return int(value)
        if kind is float:
            result = float(value)
            if result != result or result in (float("inf"), float("-inf")):
                raise ValueError("expected a finite number")
            return result
        if kind is str:
            return str(value)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"codec {codec!r} parameter {key}={value!r}: {exc}") from None
    return value


def _checked(codec: str, key: str, value: Any, kind: Any) -> Any:
    """A header value of the declared type, or CorruptPayloadError."""
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is typing.Literal:
        ok = any(type(value) is type(choice) and value == choice for choice in args)
        expected = "one of " + ", ".join(map(repr, args))
    elif kind is float:
        ok, expected = type(value) in (int, float), "a number"
    else:
        ok, expected = type(value) is kind, f"{getattr(kind, '__name__', kind)}"
    if not ok:
        raise CorruptPayloadError(f"{codec} header: parameter {key}={value!r}, expected {expected}")
    return value


# Registry ------------------------------------------------------------------------

_BUILTIN: dict[str, str] = {
    "factorized": "latentpress.codecs.factorized.codec",
    "overfit": "latentpress.codecs.overfit.codec",
    "lossless": "latentpress.codecs.lossless.codec",
    "mlp-lossless": "latentpress.codecs.lossless.mlp",
    "block-cnn": "latentpress.codecs.blocks.codec",
    "block-convlstm": "latentpress.codecs.blocks.codec",
    "cae": "latentpress.codecs.cae.codec",
    "cnn-ae": "latentpress.codecs.cnnae.codec",
    "cnn-rnn-ae": "latentpress.codecs.cnnae.codec",
    "cnn-ae-ft": "latentpress.codecs.cnnae.codec",
    "gan-ae": "latentpress.codecs.cnnae.codec",
    "dense-mnist": "latentpress.codecs.dense.codec",
}
_REGISTRY: dict[str, type[Codec]] = {}

# overfit at its default preset, instant: no per-image training, a few seconds per photograph.
DEFAULT_CODEC = "overfit"


def register(cls: type[Codec]) -> type[Codec]:
    """Class decorator: make a codec available by its ``name``."""
    if not getattr(cls, "name", None) or not isinstance(cls.version, int):
        raise TypeError("a codec needs a name and an integer version")
    existing = _REGISTRY.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"codec name {cls.name!r} is already registered by {existing.__qualname__}")
    _REGISTRY[cls.name] = cls
    return cls


def get_codec(name: str) -> Codec:
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        known = ", ".join(available()) or "none"
        raise UnknownCodecError(f"unknown codec {name!r} (this build has: {known})")
    return _REGISTRY[name]()


def available() -> list[str]:
    return sorted(set(_BUILTIN) | set(_REGISTRY))


def all_codecs() -> list[type[Codec]]:
    """Every codec class, importing the built-in ones."""
    return [type(get_codec(name)) for name in available()]
