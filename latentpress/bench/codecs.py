"""One view of every codec the bench can run: the project's ``.lpx`` codecs and the
classic adapters of latentpress.codecs.classic, with their sweep points and identity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from latentpress import api
from latentpress.codecs.base import available as lpx_codecs
from latentpress.codecs.base import get_codec
from latentpress.codecs.classic import CLASSIC
from latentpress.errors import UnknownCodecError


@dataclass(frozen=True)
class BenchCodec:
    name: str
    family: str                       # "lpx" or "classic"
    lossless: bool
    points: tuple[dict[str, Any], ...]
    codec: str = ""                   # the .lpx codec a variant runs ("" : name)
    fixed: tuple[tuple[str, Any], ...] = ()   # a variant's parameters, added to every point

    def identity(self) -> str:
        if self.family == "lpx":
            import latentpress
            variant = "".join(f"/{key}={value}" for key, value in self.fixed)
            implementation = type(get_codec(self.codec or self.name))
            return f"{implementation.variant_identity(dict(self.fixed))}{variant}/latentpress-{latentpress.__version__}"
        return f"{self.name}/{CLASSIC[self.name].library()}"

    def library(self) -> str:
        if self.family == "lpx":
            import latentpress
            import torch
            return f"latentpress {latentpress.__version__} (torch {torch.__version__})"
        return CLASSIC[self.name].library()

    def available(self) -> tuple[bool, str]:
        if self.family == "lpx":
            return True, self.library()
        return CLASSIC[self.name].available()

    def encode(self, pixels: np.ndarray, params: dict[str, Any]) -> bytes:
        if self.family == "lpx":
            return api.encode(pixels, self.codec or self.name, **{**dict(self.fixed), **params})
        return CLASSIC[self.name].encode(pixels, params)

    def decode(self, data: bytes) -> np.ndarray:
        if self.family == "lpx":
            return api.decode(data)
        return CLASSIC[self.name].decode(data)


def bench_codec(name: str) -> BenchCodec:
    if name in CLASSIC:
        codec = CLASSIC[name]
        return BenchCodec(name, "classic", codec.lossless, codec.points)
    if name in lpx_codecs():
        cls = type(get_codec(name))
        return BenchCodec(name, "lpx", cls.lossless, cls.bench_points)
    for base in lpx_codecs():
        cls = type(get_codec(base))
        if name in cls.bench_variants:
            return BenchCodec(name, "lpx", cls.lossless, cls.bench_points, base,
                              tuple(sorted(cls.bench_variants[name].items())))
    known = ", ".join(all_bench_codecs())
    raise UnknownCodecError(f"unknown codec {name!r} for the bench (known: {known})")


def all_bench_codecs() -> list[str]:
    variants = [v for name in sorted(lpx_codecs()) for v in type(get_codec(name)).bench_variants]
    return sorted(lpx_codecs()) + variants + list(CLASSIC)
