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

native = A.native.module()
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


# ---- the lossless codecs' compiled loops ---------------------------------------------

from latentpress.codecs.base import get_codec  # noqa: E402
from latentpress.codecs.lossless import codec as L  # noqa: E402
from latentpress.codecs.lossless import common as N
from latentpress.codecs.lossless import context as ctx
from latentpress.container import Header, Section  # noqa: E402
from latentpress.entropy import huffman  # noqa: E402
from latentpress.entropy.integer_tensors import encode_tensors  # noqa: E402


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 8 x 16 pixels, so a small image has many (the compiled loops take the
    tile size from the Python side)."""
    monkeypatch.setattr(ctx, "TILE_ROWS", 8)
    monkeypatch.setattr(ctx, "TILE_COLS", 16)
    ctx.schedule.cache_clear()
    yield
    ctx.schedule.cache_clear()


def _decode_lossless_both(monkeypatch, name: str, header: Header, sections: list[Section]):
    """(numpy path's pixels or error, compiled path's pixels or error)."""
    results = []
    for flag in ("0", "1"):
        monkeypatch.setenv("LATENTPRESS_NATIVE", flag)
        try:
            results.append(get_codec(name).decode(header, sections).tolist())
        except CorruptPayloadError as exc:
            results.append(str(exc))
    return results


def _structured_image(seed: int, shape, spikes: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(x / 5.0 + seed) * np.cos(y / 7.0)
    image = np.clip(base[..., None] + rng.normal(0, 3, (h, w, 3)) + [0, 20, -20], 0, 255).astype(np.uint8)
    image = image if len(shape) == 3 else image[..., 0].copy()
    for _ in range(spikes):                     # far from any prediction: escape symbols
        image[rng.integers(h), rng.integers(w)] = rng.choice([0, 255])
    return image


def _payload(image: np.ndarray, name: str):
    import latentpress
    from latentpress import container
    header, sections = container.read(latentpress.encode(image, codec=name, iterations=20))
    return header, [s for s in sections if s.type in ("NETW", "PIXL", "HUFF")]


@needs_native
@pytest.mark.parametrize("name", ["lossless", "mlp-lossless"])
@pytest.mark.parametrize("shape", [(21, 37, 3), (19, 40), (1, 35, 3), (30, 1)])
def test_compiled_lossless_decodes_what_numpy_decodes(monkeypatch, small_tiles, name, shape):
    """Many small tiles, thin images, grey and colour, outliers coded as escapes: both
    paths return the image."""
    image = _structured_image(len(shape) + shape[0], shape, spikes=6)
    header, sections = _payload(image, name)
    resolved = []
    original = L.EntropyDecoder.resolve_groups
    monkeypatch.setattr(L.EntropyDecoder, "resolve_groups",
                        lambda self, *a: (resolved.append(os.environ["LATENTPRESS_NATIVE"]), original(self, *a))[1])
    numpy_result, native_result = _decode_lossless_both(monkeypatch, name, header, sections)
    assert numpy_result == native_result == image.tolist()
    if name == "lossless" and shape[0] > 1 and shape[1] > 1:
        assert "1" in resolved                    # the compiled step's escape path ran


@needs_native
@pytest.mark.parametrize("name", ["lossless", "mlp-lossless"])
@pytest.mark.parametrize("seed", range(6))
def test_compiled_lossless_fails_as_numpy_fails(monkeypatch, small_tiles, name, seed):
    """Corrupt payloads (random words after a valid prefix, one flipped bit, the other
    codec's network): the same pixels, or the same error, from both paths."""
    image = _structured_image(seed, (17, 29, 3), spikes=3)
    header, sections = _payload(image, name)
    rng = np.random.default_rng(seed)
    data = sections[1].data
    if seed % 3 == 0:
        half = len(data) // 8 * 4
        data = data[:half] + rng.integers(0, 256, len(data) - half, np.uint8).tobytes()
    elif seed % 3 == 1:
        flipped = bytearray(data)
        flipped[int(rng.integers(len(data) // 3, len(data)))] ^= 1 << int(rng.integers(8))
        data = bytes(flipped)
    else:                                          # a network trained on another image
        sections[0] = _payload(_structured_image(seed + 50, (17, 29, 3)), name)[1][0]
    sections[1] = Section(sections[1].type, data)
    numpy_result, native_result = _decode_lossless_both(monkeypatch, name, header, sections)
    assert numpy_result == native_result


def _big_net(rng, inputs: int, hidden: int, outputs: int) -> list[np.ndarray]:
    """Integer weights (at precision 14: stored as they are used) whose first two layers are
    too large for exact float64 products (row sums above 2**29): the int64 layers."""
    top = (1 << 24) - 1
    signs = lambda *shape: rng.choice([-1, 1], shape)                                  # noqa: E731
    return [signs(hidden, inputs) * rng.integers(top - 999, top, (hidden, inputs)), rng.integers(-top, top, hidden),
            signs(hidden, hidden) * rng.integers(top - 999, top, (hidden, hidden)), rng.integers(-top, top, hidden),
            rng.integers(-2, 3, (outputs, hidden)), np.array([0, 3 << 14][:outputs])]


@needs_native
@pytest.mark.parametrize("name", ["lossless", "mlp-lossless"])
def test_compiled_lossless_runs_inexact_layers_in_int64(monkeypatch, small_tiles, name):
    """Networks whose float64 products would not be exact: the compiled loops run those
    layers in int64 and decode what numpy decodes."""
    rng = np.random.default_rng(7)
    image = _structured_image(7, (13, 21, 3))
    shape, hidden = (ctx.ContextShape(2, 2), 40) if name == "lossless" else (ctx.ContextShape(5, 5), 40)
    params = {"context": f"{shape.rows}x{shape.half_width}", "hidden": hidden, "step": 14}
    header = Header(name, 1, 21, 13, 3, params=params)
    if name == "lossless":
        planes, neutrals = N.image_planes(image, transform=True)
        integers = [_big_net(rng, shape.size + p * (shape.size + 1), hidden, 2) for p in range(3)]
        nets = [N.integer_net(w, 14) for w in integers]
        assert all(any(w is None for w in net._float_weights[:2]) for net in nets[1:])
        sections = [Section("NETW", encode_tensors([t for w in integers for t in w])),
                    Section("PIXL", L._encode_planes(planes, nets, shape, neutrals))]
        expected = image.tolist()
    else:
        integers = _big_net(rng, shape.size, hidden, 1)
        assert all(w is None for w in N.integer_net(integers, 14)._float_weights[:2])
        residuals = rng.integers(0, 256, 3 * 13 * 21)
        sections = [Section("NETW", encode_tensors(integers)), Section("HUFF", huffman.encode_with_table(residuals))]
        expected = None
    numpy_result, native_result = _decode_lossless_both(monkeypatch, name, header, sections)
    assert numpy_result == native_result and not isinstance(native_result, str)
    assert expected is None or native_result == expected


def _lossless_arrays(height=6, width=7, planes=1, largest=None):
    largest = largest or height
    ntables = 64 * 17
    spec = L.native.network_spec(N.integer_net([np.zeros(s, np.int64) for s in N.net_shapes(12, 4, 2)], 14))
    return dict(planes=np.zeros((planes, height, width), np.int16), height=height, width=width, tile_rows=128,
                tile_cols=512, offsets=np.array(ctx.ContextShape(2, 2).offsets, np.int32), stride=3,
                neutrals=(128,), lows=(0,), highs=(255,), nets=(spec,), thresholds=np.zeros(63, np.int64),
                radii=np.ones(64, np.int64), frac_bits=14, num_offsets=17, offset_steps=8,
                centres=np.zeros(largest, np.int64), ids=np.zeros(largest, np.int64),
                order=np.zeros(largest, np.int64), keys=np.zeros(ntables, np.int64),
                counts=np.zeros(ntables, np.int64), index=np.zeros(largest, np.int32),
                positions=np.zeros(largest, np.int64))


@needs_native
def test_lossless_stepper_checks_its_arguments():
    stepper = native.Lossless(**_lossless_arrays())
    assert stepper.steps() == 3 * 5 + 7
    for bad, error in ((dict(planes=np.zeros((1, 6, 6), np.int16)), ValueError),       # wrong size
                       (dict(planes=np.zeros((1, 6, 7), np.int32)), TypeError),
                       (dict(offsets=np.array([[0, 1], [-1, 0], [-1, -1], [0, -1]], np.int32)), ValueError),
                       (dict(offsets=np.array([[-1, 0], [-1, -1]], np.int32)), ValueError),   # no W
                       (dict(tile_rows=0), ValueError),
                       (dict(positions=np.zeros(5, np.int64)), ValueError),               # smaller than a step
                       (dict(neutrals=(128, 0)), ValueError),
                       (dict(nets=(((np.zeros((4, 11), np.int64),), (np.zeros(4, np.int64),), (True,)),)), ValueError),
                       (dict(nets=(((np.full((2, 12), 1 << 24, np.int64),), (np.zeros(2, np.int64),), (False,)),)),
                        ValueError)):
        arrays = _lossless_arrays()
        arrays.update(bad)
        with pytest.raises(error):
            native.Lossless(**arrays)
    models = [None] * (64 * 17)
    for t, p in ((-1, 0), (22, 0), (0, 1)):
        with pytest.raises(ValueError, match="out of range"):
            stepper.run(t, p, None, models, None)
    residuals, planes = np.zeros((1, 4, 5), np.int64), np.zeros((1, 4, 5), np.int16)
    spec = L.native.network_spec(N.integer_net([np.zeros(s, np.int64) for s in N.net_shapes(12, 4, 1)], 14))
    offsets = np.array(ctx.ContextShape(2, 2).offsets, np.int32)
    native.mlp_lossless(planes, residuals, 4, 5, 128, 512, offsets, spec, 14)
    assert (planes == 128).all()                  # a zero network predicts the MED of neutral values
    residuals[0, 1, 1] = 256
    with pytest.raises(ValueError, match="residuals"):
        native.mlp_lossless(planes, residuals, 4, 5, 128, 512, offsets, spec, 14)
    with pytest.raises(ValueError, match="agree"):
        native.mlp_lossless(planes, residuals[:, :3], 4, 5, 128, 512, offsets, spec, 14)


@needs_native
def test_compiled_objects_refuse_use_before_a_successful_init_and_re_init_while_decoding():
    """A Stepper or Lossless whose __init__ failed or never ran refuses every call (it
    would follow unchecked indices); one in the middle of run() refuses __init__ from
    the coder's callback (it would free the buffers in use)."""
    fresh = native.Stepper.__new__(native.Stepper)
    with pytest.raises(RuntimeError, match="initialized"):
        fresh.run(np.zeros(40), 0, 0, None, [None] * (64 * 17), None, A.MAX_LATENT)
    arrays = _lossless_arrays()
    stepper = native.Lossless(**arrays)
    with pytest.raises(ValueError):
        stepper.__init__(**dict(arrays, positions=np.zeros(2, np.int64)))
    for call in (stepper.steps, lambda: stepper.run(0, 0, None, [None] * (64 * 17), None)):
        with pytest.raises(RuntimeError, match="initialized"):
            call()
    stepper = native.Lossless(**arrays)

    def make(key):
        stepper.__init__(**arrays)                 # from inside run(): refused

    with pytest.raises(RuntimeError, match="re-initialize"):
        stepper.run(0, 0, None, [None] * (64 * 17), make)
    assert stepper.steps() == 3 * 5 + 7           # still usable
