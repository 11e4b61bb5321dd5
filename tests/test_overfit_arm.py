"""Bit-exactness of the overfit codec's auto-regressive model."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

from latentpress.codecs.overfit import arm as A
from latentpress.entropy import tables
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.errors import CorruptPayloadError
from latentpress.nn.fixed_point import MAX_INPUT_BITS, IntegerLinear, IntegerMLP


def trained_like_arm(seed: int = 0) -> IntegerMLP:
    torch.manual_seed(seed)
    model = A.ARM()
    with torch.no_grad():
        model.out.bias.copy_(torch.tensor([0.0, 0.5]))
    return model.to_integer()


def laplace_grid(shape, seed=1, scale=2.0) -> np.ndarray:
    return np.rint(np.random.default_rng(seed).laplace(0, scale, shape)).astype(np.int64)


def test_round_trip_and_rate_matches_the_model():
    arm = trained_like_arm()
    grid = laplace_grid((37, 53))
    encoder = EntropyEncoder()
    A.encode_grid(encoder, grid, arm)
    data = encoder.finish()
    decoder = EntropyDecoder(data)
    assert np.array_equal(A.decode_grid(decoder, 37, 53, arm), grid)
    decoder.finish()
    ideal = A.ideal_bits(grid, arm) / 8
    assert ideal * 0.98 - 8 <= len(data) <= ideal * 1.02 + 8


def test_tiled_wavefront_respects_causality(monkeypatch):
    """Every context position inside a latent's tile is coded in an earlier wavefront."""
    monkeypatch.setattr(A, "TILE_ROWS", 4)
    monkeypatch.setattr(A, "TILE_COLS", 6)
    A._schedule.cache_clear()
    sizes = ((9, 11), (5, 6))
    tiles = tuple(t for h, w in sizes for t in A.tile_sizes(h, w))
    positions, owners, bounds, deltas, length = A._schedule(tiles)
    A._schedule.cache_clear()
    done = np.zeros(length, bool)
    inside = np.zeros(length, bool)              # positions that hold a latent (not border)
    inside[positions] = True
    for start, stop in zip(bounds[:-1], bounds[1:]):
        for where, owner in zip(positions[start:stop], owners[start:stop]):
            for neighbour in where + deltas[0]:
                assert done[neighbour] or not inside[neighbour]
        done[positions[start:stop]] = True
    assert done[inside].all() and len(bounds) - 1 == 3 * 3 + 5 + 1


def test_predictions_do_not_depend_on_batching():
    """Raster order, one latent per call, gives exactly the wavefront's parameters."""
    arm = trained_like_arm(3)
    grid = laplace_grid((8, 10), seed=5)
    source = A.padded(grid)
    rows, cols = np.mgrid[0:8, 0:10]
    rows, cols = rows.ravel(), cols.ravel()
    batched = A._predict(arm, A.gather_context(source, rows, cols))
    single = [A._predict(arm, A.gather_context(source, rows[i:i + 1], cols[i:i + 1])) for i in range(rows.size)]
    assert np.array_equal(batched[0], np.concatenate([s[0] for s in single]))
    assert np.array_equal(batched[1], np.concatenate([s[1] for s in single]))


def _digest_in_subprocess(threads: int) -> str:
    code = f"""
import hashlib, numpy as np, torch
torch.set_num_threads({threads})
import sys; sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})
from test_overfit_arm import trained_like_arm, laplace_grid
from latentpress.codecs.overfit import arm as A
from latentpress.entropy.coder import EntropyEncoder, EntropyDecoder
enc = EntropyEncoder(); grid = laplace_grid((30, 40), seed=9)
A.encode_grid(enc, grid, trained_like_arm(7)); data = enc.finish()
out = A.decode_grid(EntropyDecoder(data), 30, 40, trained_like_arm(7))
assert np.array_equal(out, grid)
print(hashlib.sha256(data).hexdigest())
"""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_bit_identical_across_processes_and_thread_counts():
    encoder = EntropyEncoder()
    A.encode_grid(encoder, laplace_grid((30, 40), seed=9), trained_like_arm(7))
    here = hashlib.sha256(encoder.finish()).hexdigest()
    assert _digest_in_subprocess(1) == here
    assert _digest_in_subprocess(2) == here


def test_params_to_tables_is_integer_exact():
    frac = A.FRAC_BITS
    one = 1 << frac
    centres, ids = tables.params_to_tables(np.array([0, one // 2, -one // 2, 5 * one + one // 4]),
                                           np.array([-100 * one, 0, 0, 10 * one]), frac)
    assert centres.tolist() == [0, 1, 0, 5]
    offsets = ids % tables.NUM_OFFSETS - tables.OFFSET_STEPS
    assert offsets.tolist() == [0, -8, -8, 4]
    scale_index = ids // tables.NUM_OFFSETS
    assert scale_index[0] == 0 and scale_index[3] == tables.NUM_SCALES - 1
    assert abs(tables.scales()[scale_index[1]] - 1.0) < 0.07


def test_absurd_integer_networks_are_refused():
    with pytest.raises(CorruptPayloadError):
        IntegerLinear(np.full((2, 2), 1 << 30, np.int64), np.zeros(2, np.int64), True)
    with pytest.raises(CorruptPayloadError):
        IntegerLinear(np.zeros((2, 5000), np.int64), np.zeros(2, np.int64), True)
    with pytest.raises(CorruptPayloadError):
        IntegerMLP((IntegerLinear(np.zeros((3, 12), np.int64), np.zeros(3, np.int64), True),
                    IntegerLinear(np.zeros((2, 4), np.int64), np.zeros(2, np.int64), False)), 8)


def test_out_of_range_latents():
    with pytest.raises(ValueError):
        A.encode_grid(EntropyEncoder(), np.array([[A.MAX_LATENT + 1]]), trained_like_arm())


def test_interleaved_grids_round_trip():
    arm = trained_like_arm(4)
    grids = [laplace_grid((20, 30), seed=1), laplace_grid((10, 15), seed=2), laplace_grid((5, 8), seed=3),
             laplace_grid((1, 1), seed=4)]
    encoder = EntropyEncoder()
    A.encode_grids(encoder, grids, arm)
    decoder = EntropyDecoder(encoder.finish())
    decoded = A.decode_grids(decoder, [g.shape for g in grids], arm)
    decoder.finish()
    for a, b in zip(decoded, grids):
        assert np.array_equal(a, b)


def test_float64_products_are_taken_only_where_exact():
    rng = np.random.default_rng(7)
    big = (1 << MAX_INPUT_BITS) - 1
    x = rng.integers(-big, big + 1, (500, 12), dtype=np.int64)
    x[0] = big                                             # the worst case: every term at its largest
    weight = rng.integers(-(1 << 23), 1 << 23, (16, 12), dtype=np.int64)
    weight[0] = (1 << 24) - 1
    mlp = IntegerMLP((IntegerLinear(weight, np.zeros(16, np.int64), relu=False),), 8)
    assert mlp._float_weights[0] is not None
    assert np.array_equal(mlp(x), (x @ weight.T) >> 8)
    wide = np.full((2, 1024), (1 << 24) - 1, np.int64)     # row sums reach 2**34: integer path
    mlp = IntegerMLP((IntegerLinear(wide, np.zeros(2, np.int64), relu=False),), 8)
    assert mlp._float_weights[0] is None
    inputs = np.full((3, 1024), big, np.int64)
    assert np.array_equal(mlp(inputs), (inputs @ wide.T) >> 8)


def test_a_bias_added_before_the_floor_is_exact_at_the_float_bound():
    """A float64 layer adds its bias before the floor. With a row sum of weights just
    under 2**29, inputs near the clamp can make the sum cross 2**39 (in units of
    2**-14), where its last fractional bit does not fit, and round up to the next
    integer: a value the integer path does not give. So a row sum that large takes the
    int64 path; under the float path's bound (2**28) the float formula is exact."""
    big = (1 << MAX_INPUT_BITS) - 1
    bias = np.array([1 << 21], np.int64)
    for count, exact in ((32, False), (16, True)):
        weight = np.array([[big] * count + [1]], np.int64)      # row sum: count * big + 1
        x = np.array([[big] * count + [(1 << 14) - 33]], np.int64)  # the sum's fraction: 1 - 2**-14
        mlp = IntegerMLP((IntegerLinear(weight, bias, relu=False),), 14)
        reference = ((x @ weight.T) >> 14) + bias
        assert (mlp._float_weights[0] is not None) == exact
        assert np.array_equal(mlp(x), reference)
        float_formula = np.floor(x.astype(np.float64) @ (weight.T * 2.0 ** -14) + bias).astype(np.int64)
        assert np.array_equal(float_formula, reference) == exact    # the corner a 2**29 bound would allow


def _integer_path(mlp: IntegerMLP, x: np.ndarray, offsets=None) -> np.ndarray:
    """The reference: int64 arithmetic at every layer, whatever the weights."""
    for index, layer in enumerate(mlp.layers):
        x = np.clip(x, -(1 << MAX_INPUT_BITS) + 1, (1 << MAX_INPUT_BITS) - 1)
        x = ((x @ layer.weight.T) >> mlp.frac_bits) + layer.bias
        if index == 0 and offsets is not None:
            x = x + offsets
        if layer.relu:
            x = np.maximum(x, 0)
    return x


@pytest.mark.parametrize("magnitude", [1 << 6, 1 << 12, 1 << 20])
def test_float_paths_equal_the_integer_arithmetic(magnitude):
    """__call__'s all-float64 path and on_integers (plain integer inputs, no shift)
    give the int64 result bit for bit, negative products (floor) and clamps included."""
    rng = np.random.default_rng(magnitude)
    widths = (14, 16, 16, 2)
    layers = tuple(IntegerLinear(rng.integers(-magnitude, magnitude, (b, a)), rng.integers(-(1 << 23), 1 << 23, b),
                                 relu=i < 2) for i, (a, b) in enumerate(zip(widths, widths[1:])))
    mlp = IntegerMLP(layers, 8)
    assert all(w is not None for w in mlp._float_weights)
    offsets = rng.integers(-magnitude * 100, magnitude * 100, (400, 16))
    x = rng.integers(-(1 << 30), 1 << 30, (400, 14))           # many clamped at the first layer
    assert np.array_equal(mlp(x, offsets), _integer_path(mlp, x, offsets))
    small = rng.integers(-(1 << 15), 1 << 15, (400, 14))
    expected = _integer_path(mlp, small << 8, offsets)
    assert np.array_equal(mlp.on_integers(small, offsets), expected)
    assert np.array_equal(mlp.on_integers(small.astype(np.float64), offsets), expected)
    with pytest.raises(ValueError, match="below"):
        mlp.on_integers(np.full((1, 14), 1 << 16))


def test_phased_plan_with_parents_and_offsets_round_trips(monkeypatch):
    """A band-aware plan: a coarse grid first, then two grids that see it as parent
    (one at half resolution, one at the same), each with its own first-layer offset.
    Small tiles, so parents are read across tile borders."""
    monkeypatch.setattr(A, "TILE_ROWS", 4)
    monkeypatch.setattr(A, "TILE_COLS", 5)
    A._schedule.cache_clear()
    torch.manual_seed(2)
    model = A.ARM(8, 2, len(A.CONTEXT) + A.PARENT_INPUTS)
    arm = model.to_integer()
    grids = [laplace_grid((7, 9), seed=1, scale=3.0), laplace_grid((13, 18), seed=2), laplace_grid((7, 9), seed=3)]
    offsets = np.random.default_rng(0).integers(-300, 300, (3, 8))
    plan = A.Plan(((0,), (1, 2)), (None, (0, 2), (0, 1)), offsets)
    encoder = EntropyEncoder()
    A.encode_grids(encoder, grids, arm, plan)
    data = encoder.finish()
    decoder = EntropyDecoder(data)
    decoded = A.decode_grids(decoder, [g.shape for g in grids], arm, plan)
    decoder.finish()
    A._schedule.cache_clear()
    assert all(np.array_equal(a, b) for a, b in zip(decoded, grids))
    ideal = A.grids_ideal_bits(grids, arm, plan) / 8
    assert ideal * 0.98 - 8 <= len(data) <= ideal * 1.02 + 8
    # The parent features are inputs: the children cost a different number of bits
    # when their parent changes.
    children = A.grids_ideal_bits(grids, arm, plan) - A.grids_ideal_bits(grids[:1], arm, A.Plan(((0,),), (None,), offsets[:1]))
    zeroed = A.grids_ideal_bits([grids[0] * 0, *grids[1:]], arm, plan) - A.grids_ideal_bits([grids[0] * 0], arm, A.Plan(((0,),), (None,), offsets[:1]))
    assert abs(children - zeroed) > 1
    with pytest.raises(ValueError, match="every grid"):
        A.encode_grids(EntropyEncoder(), grids, arm, A.Plan(((0,), (1,)), (None, (0, 2), (0, 1)), offsets))
    with pytest.raises(ValueError, match="earlier phase"):       # a parent decoded alongside its child
        A.encode_grids(EntropyEncoder(), grids, arm, A.Plan(((0, 1, 2),), (None, (0, 2), (0, 1)), offsets))
    with pytest.raises(CorruptPayloadError, match="inputs"):
        A.decode_grids(EntropyDecoder(data), [g.shape for g in grids], arm, A.Plan.single(3))


def test_parent_features():
    parent = np.array([[1, -2], [0, 3]])
    value, magnitude = A.parent_features(parent, 2, (4, 3))
    assert value.tolist() == [[1, 1, -2], [1, 1, -2], [0, 0, 3], [0, 0, 3]]
    assert magnitude.tolist() == [[6, 6, 6]] * 4                   # every 3×3 window holds all four
    value, magnitude = A.parent_features(np.arange(9).reshape(3, 3), 1, (3, 3))
    assert value.tolist() == np.arange(9).reshape(3, 3).tolist()
    assert magnitude[0, 0] == 0 + 1 + 3 + 4 and magnitude[1, 1] == 36


def test_decoding_runs_blas_on_one_thread_and_restores_it(monkeypatch):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("numpy reports no BLAS library")
    seen = []
    decode_wavefront = A._decode_wavefront

    def recording(*args):
        seen.append(blas.info()[0]["num_threads"])
        return decode_wavefront(*args)

    monkeypatch.setattr(A, "_decode_wavefront", recording)
    monkeypatch.setenv("LATENTPRESS_NATIVE", "0")        # the numpy path: the one that uses BLAS
    with blas.limit(limits=2):
        arm = trained_like_arm()
        grid = laplace_grid((24, 40), seed=3)
        encoder = EntropyEncoder()
        A.encode_grid(encoder, grid, arm)
        decoded = A.decode_grid(EntropyDecoder(encoder.finish()), *grid.shape, arm)
        after = blas.info()[0]["num_threads"]
    np.testing.assert_array_equal(decoded, grid)
    assert seen and set(seen) == {1}
    assert after == 2


def test_overlapping_blas_limits_restore_the_setting():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from latentpress.nn.threads import single_blas_thread

    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("numpy reports no BLAS library")
    threads = lambda: blas.info()[0]["num_threads"]  # noqa: E731
    with blas.limit(limits=2):
        first, second = single_blas_thread(), single_blas_thread()
        first.__enter__()
        second.__enter__()                 # as a decode in another thread would
        first.__exit__(None, None, None)   # the first leaves before the second
        inside = threads()
        second.__exit__(None, None, None)
        assert (inside, threads()) == (1, 2)
