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

    def identity(self) -> str:
        if self.family == "lpx":
            import latentpress
            return f"{type(get_codec(self.name)).identity()}/latentpress-{latentpress.__version__}"
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
            return api.encode(pixels, self.name, **params)
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
    known = ", ".join(sorted(set(CLASSIC) | set(lpx_codecs())))
    raise UnknownCodecError(f"unknown codec {name!r} for the bench (known: {known})")


def all_bench_codecs() -> list[str]:
    return sorted(lpx_codecs()) + list(CLASSIC)
