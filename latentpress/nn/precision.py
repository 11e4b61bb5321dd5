"""Network weights as integers at a power-of-two precision, and the choice of precision.

A weight ``w`` is stored as the integer ``rint(w · 2**precision)``. Every codec that
stores a network chooses its precision the same way: it tries a range of precisions,
skips those at which some weight would not be representable (magnitude at least
latentpress.entropy.integer_tensors.MAX_WEIGHT, or not finite), and keeps the one of
least cost (bits, or distortion + λ·bits), or the first one good enough.

Coarser precisions cost fewer bits and more distortion; finer ones the reverse. A
weight that overflows at one precision overflows at every finer one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from latentpress.entropy.integer_tensors import MAX_WEIGHT

T = TypeVar("T")


def to_integers(tensors: Sequence[np.ndarray], precision: int) -> list[np.ndarray] | None:
    """Integers ``rint(w · 2**precision)`` (network weights, or other values stored the
    same way); None when any is not representable (NaN included)."""
    scaled = [np.asarray(t, np.float64) * (1 << precision) for t in tensors]
    if not all(np.all(np.abs(values) < MAX_WEIGHT) for values in scaled):
        return None
    return [np.rint(values).astype(np.int64) for values in scaled]


def from_integers(integers: Sequence[np.ndarray], precision: int) -> list[np.ndarray]:
    """The float64 values the integers stand for."""
    return [np.asarray(values).astype(np.float64) / (1 << precision) for values in integers]


@dataclass(frozen=True)
class Choice(Generic[T]):
    precision: int
    integers: list[np.ndarray]
    cost: float
    extra: T                          # what the cost function built on the way (e.g. the integer network)


def search_precision(tensors: Sequence[np.ndarray], precisions: Iterable[int],
                     cost: Callable[[int, list[np.ndarray]], tuple[float, T] | None]) -> Choice[T] | None:
    """The representable precision of least cost (the first on ties), or None.

    ``cost(precision, integers)`` returns (cost, extra), or None where the codec cannot
    use those integers (e.g. its integer arithmetic would overflow)."""
    best: Choice[T] | None = None
    for precision in precisions:
        integers = to_integers(tensors, precision)
        if integers is None:
            continue
        result = cost(precision, integers)
        if result is not None and (best is None or result[0] < best.cost):
            best = Choice(precision, integers, result[0], result[1])
    return best


def first_precision(tensors: Sequence[np.ndarray], precisions: Iterable[int],
                    good_enough: Callable[[int, list[np.ndarray]], bool]) -> tuple[int, list[np.ndarray]] | None:
    """The first precision (in the given order) whose integers are good enough, else the
    last representable one; None when none is representable."""
    chosen = None
    for precision in precisions:
        integers = to_integers(tensors, precision)
        if integers is None:
            continue
        chosen = (precision, integers)
        if good_enough(precision, integers):
            break
    return chosen
