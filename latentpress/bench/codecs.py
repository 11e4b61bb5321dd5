"""One view of every codec the bench can run: the project's ``.lpx`` codecs and the
classic adapters of latentpress.bench.classic, with their sweep points and identity.

Each ``.lpx`` codec has a sweep (the parameter settings run by default, one RD point
each) and may have variants: named settings run as codecs of their own, a curve each
(``overfit-fast`` is ``overfit`` with ``preset=fast`` merged into every point)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from latentpress import api
from latentpress.bench.classic import CLASSIC
from latentpress.bench.identity import variant_identity
from latentpress.codecs.base import available as lpx_codecs
from latentpress.codecs.base import get_codec
from latentpress.codecs.overfit.presets import PRESETS
from latentpress.errors import UnknownCodecError


@dataclass(frozen=True)
class Sweep:
    points: tuple[dict[str, Any], ...] = ({},)
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


def _points(key: str, values: tuple) -> tuple[dict[str, Any], ...]:
    return tuple({key: value} for value in values)


SWEEPS: dict[str, Sweep] = {
    "factorized": Sweep(_points("quality", (0, 15, 30, 50, 70, 85, 100))),
    # About 0.07 to 1.7 bpp on Kodak.
    "overfit": Sweep(_points("quality", (20, 30, 50, 70, 90)),
                     {f"overfit-{preset}": {"preset": preset} for preset in PRESETS}),
    # The code lengths of Table 3 of report 000.
    "block-cnn": Sweep(_points("code_length", (32, 64, 80))),
    "block-convlstm": Sweep(_points("code_length", (32, 64, 80))),
    # The range of rates of report 003.
    "cae": Sweep(_points("bpp", (0.12, 0.25, 0.5, 1.0, 1.6, 2.4)),
                 {"cae-range": {"entropy": "range"}, "cae-nopca": {"pca": False}, "cae-patches": {"patches": True}}),
    "cnn-ae": Sweep(variants={"cnn-ae-range": {"entropy": "range"}}),
    "cnn-rnn-ae": Sweep(_points("steps", (1, 2, 3)), {"cnn-rnn-ae-range": {"entropy": "range"}}),
    "dense-mnist": Sweep(_points("bits", (3, 4, 5, 6, 8))),
}

# Names that stand for several classic codecs on the command line.
GROUPS = {"classic-lossy": lambda: [n for n, c in CLASSIC.items() if not c.lossless],
          "classic-lossless": lambda: [n for n, c in CLASSIC.items() if c.lossless]}


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
            return f"{variant_identity(self.codec or self.name, dict(self.fixed))}{variant}" \
                f"/latentpress-{latentpress.__version__}"
        return f"{self.name}/{CLASSIC[self.name].library()}"

    def library(self) -> str:
        if self.family == "lpx":
            import torch

            import latentpress
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
        return BenchCodec(name, "lpx", get_codec(name).lossless, SWEEPS.get(name, Sweep()).points)
    for base, sweep in SWEEPS.items():
        if name in sweep.variants:
            return BenchCodec(name, "lpx", get_codec(base).lossless, sweep.points, base,
                              tuple(sorted(sweep.variants[name].items())))
    known = ", ".join(all_bench_codecs())
    raise UnknownCodecError(f"unknown codec {name!r} for the bench (known: {known})")


def all_bench_codecs() -> list[str]:
    variants = [v for name in sorted(lpx_codecs()) for v in SWEEPS.get(name, Sweep()).variants]
    return sorted(lpx_codecs()) + variants + list(CLASSIC)


def expand(text: str) -> list[str]:
    """Comma-separated bench codec names and groups → names, each once, in order;
    UnknownCodecError before any work for a name the bench does not know."""
    names: list[str] = []
    for name in (n.strip() for n in text.split(",") if n.strip()):
        for expanded in GROUPS[name]() if name in GROUPS else [name]:
            bench_codec(expanded)
            if expanded not in names:
                names.append(expanded)
    return names
