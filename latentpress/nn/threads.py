"""Keep BLAS single-threaded around loops of many small matrix products.

An entropy decoder driven by a network (the overfit codec's ARM wavefront) runs a
thousand or so products of a few thousand rows by 14 × 16 weights, one per wavefront.
OpenBLAS splits each of those above about 2**18 multiply-adds across its threads, and
at that size the second thread only burns CPU: measured on the 2-core host
(results/overfit/decode-compare-blas-thread.json, 12 Kodak files at quality 6), one
BLAS thread left the decode's wall-clock time the same (ratio 0.99, within the host's
noise) and cut its CPU time by 23-27% where the ARM has 16 hidden units (9% over all
files), CPU that parallel decodes (batch, bench workers) can use.

The limit changes a process-wide setting of the BLAS library while any ``with`` block
is open (restored when the last one closes); products computed meanwhile by other
threads of the process also run on one thread. The values computed do not depend on
it: the ARM's products are exact (latentpress.nn.fixed_point).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from typing import Iterator


@functools.cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:             # the dependency is declared; a stripped install still decodes
        return None
    return ThreadpoolController().select(user_api="blas")


_lock = threading.Lock()
_depth = 0
_restore = None


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    """Nested and concurrent uses (decodes in several threads) share one limit: the
    first to enter sets it, the last to leave restores what was there before."""
    global _depth, _restore
    controller = _controller()
    if controller is None or not controller.lib_controllers:
        yield
        return
    with _lock:
        if _depth == 0:
            _restore = controller.limit(limits=1)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _restore.restore_original_limits()
                _restore = None
