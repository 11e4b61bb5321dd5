"""Keep BLAS single-threaded around loops of many small matrix products.

An entropy decoder driven by a network (the overfit codec's ARM wavefront) runs a few
hundred to a few thousand products of a few thousand rows by 14 × 16 weights, one per
step. OpenBLAS splits each of those above about 2**18 multiply-adds across its threads,
and waking and parking the threads costs more than it saves at that size: measured on
the 2-core host (results/overfit/decode-compare-*.json), the decode takes about 10%
longer and burns about 40% more CPU time than with one BLAS thread.

The limit changes a process-wide setting of the BLAS library for the duration of the
``with`` block (restored afterwards); products computed meanwhile by other threads of
the process also run on one thread. The values computed do not depend on it: the ARM's
products are exact (latentpress.nn.fixed_point).
"""

from __future__ import annotations

import contextlib
import functools
from typing import Iterator


@functools.cache
def _controller():
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:             # the dependency is declared; a stripped install still decodes
        return None
    return ThreadpoolController().select(user_api="blas")


@contextlib.contextmanager
def single_blas_thread() -> Iterator[None]:
    controller = _controller()
    if controller is None or not controller.lib_controllers:
        yield
        return
    with controller.limit(limits=1):
        yield
