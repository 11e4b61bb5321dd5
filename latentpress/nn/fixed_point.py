"""Integer inference for the small networks that drive an entropy decoder.

A float MLP evaluated on two machines can differ in the last bit (BLAS kernels, thread
counts, FMA), and a range decoder fed a different probability desynchronises for the
rest of the file. So those networks are run in integer arithmetic: weights and biases
are integers (the float values times 2**frac_bits, rounded — and these integers are
what the file stores), activations carry ``frac_bits`` fractional bits, products are
rescaled with an arithmetic right shift. Integer matrix products in numpy are exact,
so the result is the same on every machine, thread count and batch order.

Weights are bounds-checked when the network is built, and every layer's input is
clamped (deterministically, the same in encoder and decoder) to MAX_INPUT_BITS, so
int64 can never overflow: a crafted file cannot make the decoder compute garbage.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from latentpress.errors import CorruptPayloadError

MAX_WEIGHT_BITS = 24          # |integer weight| < 2**24
MAX_INPUT_BITS = 24           # |input| < 2**24 (inputs carry frac_bits fractional bits)
MAX_FAN_IN = 1024


@dataclass(frozen=True)
class IntegerLinear:
    weight: np.ndarray            # (out, in) int64, value = weight / 2**frac_bits
    bias: np.ndarray              # (out,) int64, value = bias / 2**frac_bits
    relu: bool

    def __post_init__(self) -> None:
        if self.weight.ndim != 2 or self.bias.shape != (self.weight.shape[0],):
            raise CorruptPayloadError("integer layer has inconsistent shapes")
        if self.weight.shape[1] > MAX_FAN_IN:
            raise CorruptPayloadError(f"integer layer fan-in {self.weight.shape[1]} exceeds {MAX_FAN_IN}")
        limit = 1 << MAX_WEIGHT_BITS
        if any(np.any((t >= limit) | (t <= -limit)) for t in (self.weight, self.bias)):
            raise CorruptPayloadError("integer layer weight out of range")


@dataclass(frozen=True)
class IntegerMLP:
    """y = L_n(…ReLU(L_1(x))…) with every value a fixed-point integer of ``frac_bits``."""

    layers: tuple[IntegerLinear, ...]
    frac_bits: int

    def __post_init__(self) -> None:
        if not 0 <= self.frac_bits <= 16:
            raise CorruptPayloadError(f"fixed-point precision {self.frac_bits} bits is out of range")
        for a, b in zip(self.layers, self.layers[1:]):
            if a.weight.shape[0] != b.weight.shape[1]:
                raise CorruptPayloadError("integer MLP layers do not chain")

    @classmethod
    def from_float(cls, layers: list[tuple[np.ndarray, np.ndarray, bool]], frac_bits: int) -> "IntegerMLP":
        scale = float(1 << frac_bits)
        return cls(tuple(IntegerLinear(np.rint(np.asarray(w, np.float64) * scale).astype(np.int64),
                                       np.rint(np.asarray(b, np.float64) * scale).astype(np.int64), relu)
                         for w, b, relu in layers), frac_bits)

    @functools.cached_property
    def _float_weights(self) -> tuple[np.ndarray | None, ...]:
        """Per layer, its weights as float64 when a float64 product is exact: with inputs
        below 2**MAX_INPUT_BITS and a row L1 norm below 2**(52 − MAX_INPUT_BITS), every
        product and every partial sum is an integer below 2**52, so BLAS (any summation
        order, with or without FMA) returns the exact integer result, and adding a bias
        or offset below 2**MAX_WEIGHT_BITS to it (_call_float) is exact too. Else None.
        (With 2**(53 − MAX_INPUT_BITS), a bias added before the floor could round:
        test_overfit_arm constructs such a network.)"""
        limit = 1 << (52 - MAX_INPUT_BITS)
        return tuple(layer.weight.T.astype(np.float64)
                     if np.abs(layer.weight).sum(axis=1, initial=0).max(initial=0) < limit else None
                     for layer in self.layers)

    def __call__(self, x: np.ndarray, first_offsets: np.ndarray | None = None) -> np.ndarray:
        """x: (n, in) int64 fixed-point inputs → (n, out) int64 fixed-point outputs.
        first_offsets (n, out of the first layer), if given, is added to the first
        layer's output before its ReLU: exactly what one-hot inputs x_k = 1 with
        weights w_k would add (a product w_k·2**frac_bits shifts back to w_k exactly)."""
        if all(w is not None for w in self._float_weights):
            return self._call_float(np.asarray(x), first_offsets)
        x = np.asarray(x, dtype=np.int64)
        for index, (layer, float_weight) in enumerate(zip(self.layers, self._float_weights)):
            # Clamp keeps every product below 2**(MAX_INPUT_BITS + MAX_WEIGHT_BITS + log2 fan-in) < 2**63.
            x = np.clip(x, -(1 << MAX_INPUT_BITS) + 1, (1 << MAX_INPUT_BITS) - 1)
            if float_weight is not None:
                product = (x.astype(np.float64) @ float_weight).astype(np.int64)
            else:
                product = x @ layer.weight.T
            x = (product >> self.frac_bits) + layer.bias
            if index == 0 and first_offsets is not None:
                x = x + first_offsets
            if layer.relu:
                x = np.maximum(x, 0)
        return x

    @functools.cached_property
    def _float_biases(self) -> tuple[np.ndarray, ...]:
        return tuple(layer.bias.astype(np.float64) for layer in self.layers)

    @functools.cached_property
    def _float_shifted_weights(self) -> tuple[np.ndarray | None, ...]:
        """_float_weights times 2**−frac_bits (exact: a power of two)."""
        return tuple(None if w is None else w * (1.0 / (1 << self.frac_bits)) for w in self._float_weights)

    def _call_float(self, x: np.ndarray, first_offsets: np.ndarray | None, plain_inputs: bool = False) -> np.ndarray:
        """__call__ with every value held in float64 (when every layer's product is exact,
        _float_weights): integers below 2**53 are exact in float64, so is a product by
        weights pre-scaled by 2**−frac_bits (every partial sum a multiple of 2**−frac_bits
        below 2**52 of them), and its floor is the arithmetic right shift; an integer
        bias or offset (below 2**24 each, or a sum of a few such weights) added before
        the floor keeps the sum below 2**53 of them, so it is the same as after it; a ReLU followed
        by the next layer's clamp is one clamp to [0, bound]. So every step gives the
        integer path's value, in fewer passes over the activations.
        plain_inputs: x holds the integers themselves, not shifted, within the clamp
        (on_integers): the first layer neither clamps nor shifts (x·2**f·w >> f = x·w)."""
        bound = float((1 << MAX_INPUT_BITS) - 1)
        # The clamp works in place: copy the caller's array unless it is only read.
        x = np.asarray(x, np.float64) if plain_inputs else x.astype(np.float64)
        clamped = False                 # x is already within [0, bound] (a ReLU and a clamp)
        last = len(self.layers) - 1
        for index, (layer, weight, shifted_weight, bias) in enumerate(
                zip(self.layers, self._float_weights, self._float_shifted_weights, self._float_biases)):
            shifted = not (plain_inputs and index == 0)
            if shifted and not clamped:     # a clip (np.clip's own overhead is larger)
                np.maximum(x, -bound, out=x)
                np.minimum(x, bound, out=x)
            x = x @ (shifted_weight if shifted else weight)
            x += bias
            if index == 0 and first_offsets is not None:
                x += first_offsets
            if shifted:
                np.floor(x, out=x)
            clamped = False
            if layer.relu:
                np.maximum(x, 0.0, out=x)
                if index < last:            # the next layer's clamp, at once
                    np.minimum(x, bound, out=x)
                    clamped = True
        return x.astype(np.int64)

    def on_integers(self, x: np.ndarray, first_offsets: np.ndarray | None = None,
                    within_bound: bool = False) -> np.ndarray:
        """``self(x << frac_bits, first_offsets)`` for inputs that are plain integers
        (float64 or int64) below 2**(MAX_INPUT_BITS − frac_bits) in magnitude, checked
        unless the caller guarantees it (within_bound: its inputs are bounded by
        construction); a float64 x goes straight into the first product."""
        limit = 1 << (MAX_INPUT_BITS - self.frac_bits)
        if not within_bound and x.size and np.abs(x).max() >= limit:
            raise ValueError(f"integer inputs must lie below 2**{MAX_INPUT_BITS - self.frac_bits}")
        if any(w is None for w in self._float_weights):
            return self(np.asarray(x).astype(np.int64) << self.frac_bits, first_offsets)
        return self._call_float(x, first_offsets, plain_inputs=True)

    def to_float(self) -> list[tuple[np.ndarray, np.ndarray, bool]]:
        scale = float(1 << self.frac_bits)
        return [(l.weight / scale, l.bias / scale, l.relu) for l in self.layers]
