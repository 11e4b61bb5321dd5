"""Time and peak resident memory of one call.

Peak RSS comes from the kernel: writing "5" to /proc/self/clear_refs resets the
process's high-water mark (VmHWM), so the mark read after the call is the peak during
it — exact, and free of sampling. Where that interface is missing (not Linux), the
lifetime peak from getrusage is reported instead, which can only overstate.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Measured:
    seconds: float
    peak_rss_mb: float


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _peak_mb(exact: bool) -> float:
    if exact:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def measure(fn: Callable[[], T]) -> tuple[T, Measured]:
    exact = _reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    return result, Measured(seconds, _peak_mb(exact))
