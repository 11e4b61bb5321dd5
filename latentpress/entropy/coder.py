"""Range coding of integer arrays on top of constriction's queue (FIFO) range coder.

One :class:`EntropyEncoder` collects any number of calls — parametric symbols snapped
to the quantized tables of :mod:`latentpress.entropy.tables`, symbols under explicit
frequency tables (factorized priors), raw uniform integers — into one byte string,
and an :class:`EntropyDecoder` replays the same calls in the same order.

Within one call, symbols are coded grouped by table (a stable sort by table id), so a
whole call costs one constriction call per distinct table instead of one per symbol;
the decoder knows the tables of all symbols of the call and regroups identically.
Values outside a table's support are coded as its escape symbol followed, after the
call's grouped symbols, by an Elias-gamma code of the excess and a sign, so any value
whose distance from its table's centre is below 2**62 round-trips.

The bitstream is defined by the integer tables *and* by constriction's conversion of
those tables into its fixed-point model (``Categorical(perfect=False)``), so the
constriction version is pinned (constraints.txt) and a golden-bitstream test fails if
an upgrade changes a single bit.
"""

from __future__ import annotations

import constriction
import numpy as np

from latentpress.entropy import tables as T
from latentpress.errors import CorruptPayloadError

_Categorical = constriction.stream.model.Categorical
_UNIFORM_BITS = 16
_UNIFORM = constriction.stream.model.Uniform(1 << _UNIFORM_BITS)
_UNIFORM_BIT_COUNT = constriction.stream.model.Uniform(64)
_BIT = constriction.stream.model.Uniform(2)
_MAX_EXCESS = float(1 << 62)
_MAX_EXCESS_BITS = 61          # Elias-gamma exponent of the largest codable excess


def categorical_model(freq: np.ndarray) -> "constriction.stream.model.Categorical":
    """A constriction model for an integer frequency table (deterministic from the ints)."""
    return _Categorical(freq.astype(np.float64) / float(freq.sum()), perfect=False)


class _ModelCache:
    def __init__(self) -> None:
        self._models: dict[int, list] = {}

    def family(self, family: T.Family) -> list:
        """The family's models indexed by table id (None until first used)."""
        models = self._models.get(int(family))
        if models is None:
            models = self._models[int(family)] = [None] * (T.NUM_SCALES * T.NUM_OFFSETS)
        return models

    def parametric(self, family: T.Family, table: int):
        models = self.family(family)
        model = models[table]
        if model is None:
            model = models[table] = categorical_model(T.frequency_tables(family)[table])
        return model


_MODELS = _ModelCache()


def _groups(keys: np.ndarray, small: bool | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable grouping: (order, distinct keys, group start offsets into order). Keys
    are nonnegative; below 2**16 (table ids; ``small`` where the caller knows) they
    sort by radix sort, the same order."""
    if small is None:
        small = keys.size and 0 <= keys.min() and keys.max() < 1 << 16
    order = np.argsort(keys.astype(np.uint16) if small else keys, kind="stable")
    sorted_keys = keys[order]
    first = np.empty(keys.size, bool)
    if keys.size:
        first[0] = True
        np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return order, sorted_keys[starts], np.append(starts, keys.size)


def _check_tables(table_ids: np.ndarray) -> None:
    if table_ids.size and (table_ids.min() < 0 or table_ids.max() >= T.NUM_SCALES * T.NUM_OFFSETS):
        raise CorruptPayloadError("entropy model table id out of range")


class EntropyEncoder:
    def __init__(self) -> None:
        self._coder = constriction.stream.queue.RangeEncoder()

    def _encode_excess(self, excess: np.ndarray, negative: np.ndarray) -> None:
        # Elias-gamma on excess+1: bit count, then the bits below the leading one in
        # 16-bit chunks, then the sign.
        for value, sign in zip((excess + 1).tolist(), negative.tolist()):
            nbits = value.bit_length() - 1
            self._coder.encode(np.array([nbits], np.int32), _UNIFORM_BIT_COUNT)
            rest = value - (1 << nbits)
            for shift in range(0, nbits, _UNIFORM_BITS):
                self._coder.encode(np.array([(rest >> shift) & 0xFFFF], np.int32), _UNIFORM)
            self._coder.encode(np.array([int(sign)], np.int32), _BIT)

    def encode_parametric(self, symbols: np.ndarray, family: T.Family, centres: np.ndarray,
                          table_ids: np.ndarray) -> None:
        """Code integer ``symbols`` under snapped models (see tables.snap)."""
        family = T.Family(family)
        symbols = np.asarray(symbols, dtype=np.int64).ravel()
        centres = np.asarray(centres, dtype=np.int64).ravel()
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        if not symbols.size == centres.size == table_ids.size:
            raise ValueError("symbols, centres and table ids must have the same size")
        _check_tables(table_ids)
        radius = T.radii(family)[table_ids // T.NUM_OFFSETS]
        residual = symbols - centres
        if residual.size and np.abs(residual.astype(np.float64)).max() >= _MAX_EXCESS:
            raise ValueError("a symbol lies 2**62 or more from its model's centre; it cannot be coded")
        escaped = np.abs(residual) > radius
        index = np.where(escaped, 2 * radius + 1, residual + radius).astype(np.int32)
        order, keys, starts = _groups(table_ids, small=T.NUM_SCALES * T.NUM_OFFSETS <= 1 << 16)
        for key, lo, hi in zip(keys.tolist(), starts[:-1].tolist(), starts[1:].tolist()):
            self._coder.encode(index[order[lo:hi]], _MODELS.parametric(family, key))
        if escaped.any():
            magnitude = np.abs(residual[escaped]) - radius[escaped] - 1
            self._encode_excess(magnitude, residual[escaped] < 0)

    def encode_gaussian(self, symbols, means, scales) -> None:
        centres, ids = T.snap(means, scales)
        self.encode_parametric(symbols, T.Family.GAUSSIAN, centres, ids)

    def encode_laplace(self, symbols, means, scales) -> None:
        centres, ids = T.snap(means, scales)
        self.encode_parametric(symbols, T.Family.LAPLACE, centres, ids)

    def encode_logistic(self, symbols, means, scales) -> None:
        centres, ids = T.snap(means, scales)
        self.encode_parametric(symbols, T.Family.LOGISTIC, centres, ids)

    def encode_categorical(self, indices: np.ndarray, model) -> None:
        """Code indices 0…n−1 i.i.d. under one prepared model (see categorical_model)."""
        indices = np.ascontiguousarray(indices, dtype=np.int32).ravel()
        if indices.size:
            self._coder.encode(indices, model)

    def encode_escaped(self, values: np.ndarray, negative: np.ndarray) -> None:
        """Code nonnegative int64 values (and signs) with the escape code."""
        self._encode_excess(np.asarray(values, np.int64), np.asarray(negative, bool))

    def finish(self) -> bytes:
        return self._coder.get_compressed().astype("<u4").tobytes()


def guarded(call, *args):
    """call(*args) on the range decoder, or on compiled code that calls it, with any
    failure reported as CorruptPayloadError: constriction reports invalid compressed data
    with AssertionError, and a Rust panic surfaces as pyo3's PanicException (a
    BaseException); both mean a corrupt file."""
    try:
        return call(*args)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        raise CorruptPayloadError(f"entropy-coded data is corrupt ({exc})") from None


class EntropyDecoder:
    def __init__(self, data: bytes) -> None:
        if len(data) % 4:
            raise CorruptPayloadError("entropy-coded data is not a whole number of 32-bit words")
        words = np.frombuffer(data, dtype="<u4").astype(np.uint32)
        self._coder = constriction.stream.queue.RangeDecoder(words)

    def _read(self, model, count: int | None = None):
        return guarded(self._coder.decode, model) if count is None else guarded(self._coder.decode, model, count)

    def _decode_excess(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        values = np.empty(count, np.int64)
        negative = np.empty(count, bool)
        for i in range(count):
            nbits = int(self._read(_UNIFORM_BIT_COUNT))
            if nbits > _MAX_EXCESS_BITS:
                raise CorruptPayloadError("escaped value is out of range")
            rest = 0
            for shift in range(0, nbits, _UNIFORM_BITS):
                rest |= int(self._read(_UNIFORM)) << shift
            if rest >= 1 << nbits:
                raise CorruptPayloadError("escaped value is malformed")
            values[i] = (1 << nbits) + rest - 1
            negative[i] = bool(self._read(_BIT))
        return values, negative

    def decode_parametric(self, family: T.Family, centres: np.ndarray, table_ids: np.ndarray) -> np.ndarray:
        family = T.Family(family)
        centres = np.asarray(centres, dtype=np.int64).ravel()
        table_ids = np.asarray(table_ids, dtype=np.int64).ravel()
        _check_tables(table_ids)
        order, keys, starts = _groups(table_ids, small=T.NUM_SCALES * T.NUM_OFFSETS <= 1 << 16)
        grouped = self.decode_groups(family, keys, np.diff(starts))
        return self.resolve_groups(family, centres, table_ids, order, grouped)

    def decode_groups(self, family: T.Family, keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """The symbol indices of one decode_parametric call whose symbols, grouped by
        table (a stable sort), are ``counts[i]`` symbols of table ``keys[i]`` in turn:
        int32, in that grouped order (resolve_groups turns them into values). Keys must
        be valid table ids (decode_parametric checks them; the compiled ARM wavefront makes
        only valid ones)."""
        # The hot loop of every ARM-driven decoder (one constriction call per distinct
        # table of the call): models from a list, one concatenation at the end.
        models, decode, parts = _MODELS.family(family), self._coder.decode, []
        try:
            for key, count in zip(keys.tolist(), counts.tolist()):
                parts.append(decode(models[key] or _MODELS.parametric(family, key), count))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:           # as guarded, once for the whole loop
            raise CorruptPayloadError(f"entropy-coded data is corrupt ({exc})") from None
        return np.concatenate(parts) if parts else np.zeros(0, np.int32)

    def group_decoder(self, family: T.Family):
        """(decode, models, make) for a compiled caller of the coder (latentpress._native):
        the coder's decode(model, count), the family's models by table id (None until
        first used) and make(table id), which builds and keeps a missing one."""
        family = T.Family(family)
        return self._coder.decode, _MODELS.family(family), lambda key: _MODELS.parametric(family, key)

    def resolve_groups(self, family: T.Family, centres: np.ndarray, table_ids: np.ndarray,
                       order: np.ndarray, grouped: np.ndarray) -> np.ndarray:
        """Values of a call's symbols from decode_groups' indices (``order``: the
        grouping permutation), reading the escaped values that follow the call."""
        radius = T.radii(family)[table_ids // T.NUM_OFFSETS]
        index = np.empty(table_ids.size, np.int64)
        index[order] = grouped
        residual = index - radius
        escaped = residual == radius + 1
        if escaped.any():
            magnitude, negative = self._decode_excess(int(escaped.sum()))
            value = magnitude + radius[escaped] + 1
            residual[escaped] = np.where(negative, -value, value)
        return centres + residual

    def decode_gaussian(self, means, scales) -> np.ndarray:
        centres, ids = T.snap(means, scales)
        return self.decode_parametric(T.Family.GAUSSIAN, centres, ids)

    def decode_laplace(self, means, scales) -> np.ndarray:
        centres, ids = T.snap(means, scales)
        return self.decode_parametric(T.Family.LAPLACE, centres, ids)

    def decode_logistic(self, means, scales) -> np.ndarray:
        centres, ids = T.snap(means, scales)
        return self.decode_parametric(T.Family.LOGISTIC, centres, ids)

    def finish(self) -> None:
        """Check that the stream held nothing beyond what was decoded."""
        if not self._coder.maybe_exhausted():
            raise CorruptPayloadError("entropy-coded data continues after the last symbol")

    def decode_categorical(self, model, count: int) -> np.ndarray:
        if count == 0:
            return np.zeros(0, np.int64)
        return self._read(model, count).astype(np.int64)

    def decode_escaped(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        return self._decode_excess(count)
