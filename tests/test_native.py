"""The compiled ARM step (latentpress/_native.c) against the numpy decoder it replaces:
the same grids bit for bit, the same errors on corrupt data, and its own checks."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from latentpress.codecs.overfit import arm as A
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.errors import CorruptPayloadError
from latentpress.nn.fixed_point import IntegerLinear, IntegerMLP

native = A._native_module()
needs_native = pytest.mark.skipif(native is None, reason="latentpress._native is not built")


def test_native_module_is_built():
    """CI builds it (setup.py; optional only for machines without a C compiler)."""
    if os.environ.get("LATENTPRESS_NATIVE") == "0":
        pytest.skip("LATENTPRESS_NATIVE=0")
    assert native is not None


def _decode_both(monkeypatch, data: bytes, shapes, arm, plan):
    """(numpy path's result or error, compiled path's result or error, phases the
    compiled path ran)."""
    ran = []
    original = A._NativePhase.decode
    monkeypatch.setattr(A._NativePhase, "decode", lambda self, *a: (ran.append(1), original(self, *a))[1])
    results = []
    for flag in ("0", "1"):
        monkeypatch.setenv("LATENTPRESS_NATIVE", flag)
        try:
            decoder = EntropyDecoder(data)
            grids = A.decode_grids(decoder, shapes, arm, plan)
            decoder.finish()
            results.append([g.tolist() for g in grids])
        except CorruptPayloadError as exc:
            results.append(str(exc))
    return results[0], results[1], len(ran)


def _band_plan(hidden: int, seed: int):
    torch.manual_seed(seed)
    arm = A.ARM(hidden, 2, len(A.CONTEXT) + A.PARENT_INPUTS).to_integer()
    offsets = np.random.default_rng(seed).integers(-300, 300, (3, hidden))
    return arm, A.Plan(((0,), (1, 2)), (None, (0, 2), (0, 1)), offsets, tile=(4, 5))


@needs_native
@pytest.mark.parametrize("hidden", [8, 16, 12])       # 12: no constant-width product
def test_compiled_step_decodes_what_numpy_decodes(monkeypatch, hidden):
    """A band-aware plan (parents across small tiles, per-grid offsets) with outliers
    coded as escapes: both paths return the encoded grids."""
    arm, plan = _band_plan(hidden, hidden)
    rng = np.random.default_rng(hidden)
    grids = [np.rint(rng.laplace(0, s, shape)).astype(np.int64)
             for s, shape in ((6.0, (9, 11)), (2.0, (17, 22)), (0.3, (9, 11)))]
    grids[1][3, 4], grids[1][10, 20], grids[2][0, 0] = 1900, -2048, 700    # escapes
    encoder = EntropyEncoder()
    A.encode_grids(encoder, grids, arm, plan)
    numpy_result, native_result, ran = _decode_both(monkeypatch, encoder.finish(), [g.shape for g in grids],
                                                    arm, plan)
    assert ran == 2 and numpy_result == native_result == [g.tolist() for g in grids]


@needs_native
@pytest.mark.parametrize("seed", range(9))
def test_compiled_step_fails_as_numpy_fails(monkeypatch, seed):
    """Corrupt data: coded under another ARM, random words after a valid prefix, one
    flipped bit. The same grids, or the same error, from both paths."""
    arm, plan = _band_plan(8, 100 + seed)
    rng = np.random.default_rng(seed)
    grids = [np.clip(np.rint(rng.laplace(0, 40.0 if seed % 3 == 0 else 2.0, shape)), -A.MAX_LATENT,
                     A.MAX_LATENT).astype(np.int64) for shape in ((9, 11), (17, 22), (9, 11))]
    encoder = EntropyEncoder()
    A.encode_grids(encoder, grids, arm, plan)
    data = encoder.finish()
    if seed % 3 == 0:
        arm, _ = _band_plan(8, 200 + seed)
    elif seed % 3 == 1:
        half = len(data) // 8 * 4
        data = data[:half] + rng.integers(0, 256, len(data) - half, np.uint8).tobytes()
    else:
        flipped = bytearray(data)
        flipped[int(rng.integers(len(data) // 2, len(data)))] ^= 1 << int(rng.integers(8))
        data = bytes(flipped)
    numpy_result, native_result, ran = _decode_both(monkeypatch, data, [g.shape for g in grids], arm, plan)
    assert ran and numpy_result == native_result


@needs_native
def test_encoder_predictions_are_the_same_both_ways(monkeypatch):
    """The encoder's rate estimates and bytes, chunked (a chunk of 50 latents here),
    from the compiled predictor and from numpy."""
    monkeypatch.setattr(A, "_CHUNK", 50)
    arm, plan = _band_plan(16, 5)
    rng = np.random.default_rng(5)
    grids = [np.rint(rng.laplace(0, 3.0, shape)).astype(np.int64) for shape in ((9, 11), (17, 22), (9, 11))]
    results = []
    for flag in ("0", "1"):
        monkeypatch.setenv("LATENTPRESS_NATIVE", flag)
        encoder = EntropyEncoder()
        A.encode_grids(encoder, grids, arm, plan)
        results.append((encoder.finish(), A.grids_ideal_bits(grids, arm, plan)))
    assert results[0] == results[1]


def test_inexact_weights_take_the_numpy_path(monkeypatch):
    """Weights whose float64 products would not be exact never reach compiled code."""
    big = (1 << 24) - 1                          # 40 of them: a row sum above 2**29
    arm = IntegerMLP((IntegerLinear(np.ones((40, len(A.CONTEXT)), np.int64), np.zeros(40, np.int64), True),
                      IntegerLinear(np.zeros((2, 40), np.int64) + np.array([[big], [0]]), np.array([0, 256]), False)),
                     8)
    assert any(w is None for w in arm._float_weights)
    grid = np.random.default_rng(0).integers(-3, 4, (6, 7))
    encoder = EntropyEncoder()
    A.encode_grid(encoder, grid, arm)
    numpy_result, native_result, ran = _decode_both(monkeypatch, encoder.finish(), [grid.shape], arm, None)
    assert ran == 0 and numpy_result == native_result == [grid.tolist()]


def _stepper_arrays(positions=(10, 11), store_length=40):
    ntables = 64 * 17
    return dict(positions=np.array(positions, np.int32), owners=np.zeros(len(positions), np.int32),
                tile_grid=np.zeros(1, np.int64), deltas=np.array([-9, -1], np.int32), store_length=store_length,
                weights=(np.zeros((2, 2)),), biases=(np.zeros(2),), relu=(False,), offsets=np.zeros(0),
                zero=np.zeros((1, 2), np.int64), thresholds=np.zeros(63, np.int64), radii=np.ones(64, np.int64),
                frac_bits=8, num_offsets=17, offset_steps=8, centres=np.zeros(2, np.int64),
                ids=np.zeros(2, np.int64), order=np.zeros(2, np.int64), keys=np.zeros(ntables, np.int64),
                counts=np.zeros(ntables, np.int64), index=np.zeros(2, np.int32))


@needs_native
def test_stepper_checks_every_index_it_follows():
    native.Stepper(**_stepper_arrays())
    for bad in (dict(positions=(10, 40)), dict(positions=(5, 11)), dict(store_length=11)):
        arrays = _stepper_arrays(**bad)
        with pytest.raises(ValueError, match="outside"):
            native.Stepper(**arrays)
    arrays = _stepper_arrays()
    arrays["tile_grid"] = np.ones(1, np.int64)                     # grid 1 of 1
    with pytest.raises(ValueError, match="grid"):
        native.Stepper(**arrays)
    arrays = _stepper_arrays()
    arrays["positions"] = arrays["positions"].astype(np.int64)
    with pytest.raises(TypeError, match="int32"):
        native.Stepper(**arrays)
    arrays = _stepper_arrays()
    arrays["weights"] = (np.zeros((3, 2)),)                        # 3 inputs, 2 deltas
    with pytest.raises(ValueError, match="chain"):
        native.Stepper(**arrays)
    stepper = native.Stepper(**_stepper_arrays())
    models = [None] * (64 * 17)
    for store, start, stop in ((np.zeros(39), 0, 2), (np.zeros(40), 0, 3), (np.zeros(40), 1, 0)):
        with pytest.raises(ValueError):
            stepper.run(store, start, stop, None, models, None, A.MAX_LATENT)
    with pytest.raises(TypeError):
        stepper.run(np.zeros(40, np.float32), 0, 2, None, models, None, A.MAX_LATENT)
