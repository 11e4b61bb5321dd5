"""The optional compiled module, latentpress._native (latentpress/_native.c).

It holds the inner loops of the decoders whose entropy models are small integer networks
(the overfit codec's ARM wavefront, the lossless codecs' prediction loops). Each has a numpy
definition that gives the same results, only slower; callers use the compiled loop when
``module()`` returns it.
"""

from __future__ import annotations

import os

import numpy as np


def module():
    """latentpress._native, or None where it was not built (setup.py builds it when a C
    compiler is at hand) or LATENTPRESS_NATIVE=0 asks for the numpy code."""
    if os.environ.get("LATENTPRESS_NATIVE", "1") == "0":
        return None
    try:
        from latentpress import _native
    except ImportError:
        return None
    return _native


def network_spec(net) -> tuple[tuple, tuple, tuple]:
    """An IntegerMLP as the compiled module takes it: (weights, biases, relu) per layer,
    the integer arrays themselves (it decides per layer whether float64 is exact)."""
    return (tuple(np.ascontiguousarray(layer.weight, np.int64) for layer in net.layers),
            tuple(np.ascontiguousarray(layer.bias, np.int64) for layer in net.layers),
            tuple(bool(layer.relu) for layer in net.layers))
