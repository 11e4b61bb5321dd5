"""The lossless predictive codecs: exact round trips, bit-exact decoding,
a bounded number of decoding wavefronts, and bad input."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import latentpress
from latentpress import cli, container
from latentpress.codecs.lossless import context as ctx
from latentpress.errors import CorruptPayloadError, LatentpressError, ParameterError

CODECS = ("lossless", "mlp-lossless")
FAST = {"iterations": 30}


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[52:132, 44:140])


@pytest.fixture(scope="module")
def encoded(crop):
    return {name: latentpress.encode(crop, name, **FAST) for name in CODECS}


@pytest.mark.parametrize("name", CODECS)
def test_exact_on_a_photo_and_smaller_than_raw(crop, encoded, name):
    assert np.array_equal(latentpress.decode(encoded[name]), crop)
    assert len(encoded[name]) < crop.nbytes * 0.8


def test_lossless_beats_png_on_a_photo(crop, encoded):
    import io

    from PIL import Image
    png = io.BytesIO()
    Image.fromarray(crop).save(png, format="PNG", optimize=True)
    assert len(encoded["lossless"]) < len(png.getvalue())


EXTREMES = {
    "constant": np.full((20, 30, 3), 77, np.uint8),
    "noise": np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8),
    "one_pixel": np.array([[[255, 0, 128]]], np.uint8),
    "one_row": np.random.default_rng(1).integers(0, 256, (1, 700, 3), dtype=np.uint8),
    "one_column": np.random.default_rng(2).integers(0, 256, (300, 1, 3), dtype=np.uint8),
    "grey": np.random.default_rng(3).integers(0, 256, (33, 17), dtype=np.uint8),
    "extremes": np.tile(np.array([[[0, 255, 0], [255, 0, 255]], [[255, 255, 255], [0, 0, 0]]], np.uint8), (8, 9, 1)),
    # crosses a tile boundary in both directions
    "tiles": np.random.default_rng(4).integers(100, 140, (ctx.TILE_ROWS + 3, ctx.TILE_COLS + 5, 3), dtype=np.uint8),
}


@pytest.mark.parametrize("name", CODECS)
@pytest.mark.parametrize("case", sorted(EXTREMES))
def test_exact_on_synthetic_extremes(name, case):
    image = EXTREMES[case]
    assert np.array_equal(latentpress.decode(latentpress.encode(image, name, iterations=5)), image)


def test_ycocg_r_is_reversible_over_every_extreme_and_a_random_million():
    rng = np.random.default_rng(5)
    corners = np.array([[r, g, b] for r in (0, 1, 254, 255) for g in (0, 1, 254, 255) for b in (0, 1, 254, 255)])
    rgb = np.concatenate([corners, rng.integers(0, 256, (1_000_000, 3))]).astype(np.uint8)[None]
    planes = ctx.rgb_to_ycocg(rgb)
    assert planes[0].min() >= 0 and planes[0].max() <= 255 and np.abs(planes[1:]).max() <= 255
    assert np.array_equal(ctx.ycocg_to_rgb(planes), rgb)


def test_wavefront_is_causal_within_tiles(monkeypatch):
    monkeypatch.setattr(ctx, "TILE_ROWS", 4)
    monkeypatch.setattr(ctx, "TILE_COLS", 7)
    ctx.schedule.cache_clear()
    shape = ctx.ContextShape(2, 3)
    height, width = 9, 19
    rows, cols, bounds = ctx.schedule(height, width, shape.row_stride)
    ctx.schedule.cache_clear()
    done = np.zeros((height, width), bool)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        for r, c in zip(rows[start:stop].tolist(), cols[start:stop].tolist()):
            top, left = r - r % 4, c - c % 7
            for dr, dc in shape.offsets:
                rr, cc = r + dr, c + dc
                if rr >= top and left <= cc < min(left + 7, width):
                    assert done[rr, cc], (r, c, rr, cc)
        done[rows[start:stop], cols[start:stop]] = True
    assert done.all()
    assert len(bounds) - 1 == shape.row_stride * (4 - 1) + 7      # the wavefronts of one full tile
    assert shape.size == 2 * 7 + 3


@pytest.mark.parametrize("name", CODECS)
def test_encoding_is_reproducible_whatever_the_global_random_state(name):
    """The networks' initial weights come from the seed parameter, not from whatever
    torch's global generator holds (which would make encodes differ between processes)."""
    image = np.random.default_rng(3).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    first = latentpress.encode(image, name, iterations=3)
    torch.rand(1000)                                   # move the global generator on
    assert latentpress.encode(image, name, iterations=3) == first
    assert latentpress.encode(image, name, iterations=3, seed=1) != first


@pytest.mark.parametrize(("tile", "size"), [((4, 7), (9, 19)), ((4, 7), (3, 30)), ((3, 5), (37, 6)),
                                            ((128, 512), (130, 513)), ((128, 512), (1, 1))])
@pytest.mark.parametrize("row_stride", [1, 2, 4])
def test_decoders_wavefront_order_is_the_schedule(monkeypatch, tile, size, row_stride):
    """ctx.wavefronts (the decoders' order, built one wavefront at a time) is schedule()'s."""
    monkeypatch.setattr(ctx, "TILE_ROWS", tile[0])
    monkeypatch.setattr(ctx, "TILE_COLS", tile[1])
    ctx.schedule.cache_clear()
    rows, cols, bounds = ctx.schedule(*size, row_stride)
    ctx.schedule.cache_clear()
    fronts = list(ctx.wavefronts(*size, row_stride))
    assert len(fronts) == len(bounds) - 1
    for (r, c), start, stop in zip(fronts, bounds[:-1], bounds[1:]):
        assert np.array_equal(r, rows[start:stop]) and np.array_equal(c, cols[start:stop])


@pytest.mark.parametrize("name", CODECS)
def test_decoding_is_bit_identical_in_other_processes_and_thread_counts(encoded, name, tmp_path):
    path = tmp_path / "x.lpx"
    path.write_bytes(encoded[name])
    expected = hashlib.sha256(latentpress.decode(encoded[name]).tobytes()).hexdigest()
    for threads in (1, 2):
        code = (f"import torch, hashlib, latentpress; torch.set_num_threads({threads}); "
                f"print(hashlib.sha256(latentpress.decode(open({str(path)!r}, 'rb').read()).tobytes()).hexdigest())")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        assert out.stdout.strip() == expected


def _rewrite(data: bytes, **params) -> bytes:
    header, sections = container.read(data)
    new = container.Header(codec=header.codec, codec_version=header.codec_version, width=header.width,
                           height=header.height, channels=header.channels, params={**header.params, **params})
    return container.write(new, sections)


@pytest.mark.parametrize("name", CODECS)
def test_bad_headers_and_payloads_are_refused(encoded, name):
    data = encoded[name]
    for bad in ({"context": "9x9"}, {"context": "2x"}, {"context": 5}, {"hidden": 0}, {"hidden": 999},
                {"hidden": 24.0}, {"step": 99}, {"step": True}, {"context": "3x3"}, {"hidden": 7}):
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(_rewrite(data, **bad))
    header, sections = container.read(data)
    for cut in (1, len(sections[-1].data) // 2):
        damaged = sections[:-1] + [container.Section(sections[-1].type, sections[-1].data[:-cut])]
        with pytest.raises(LatentpressError):
            latentpress.decode(container.write(header, damaged))


@pytest.mark.parametrize("name", CODECS)
def test_every_truncation_and_bit_flip_of_a_tiny_file_is_refused(name):
    data = latentpress.encode(EXTREMES["one_pixel"], name, iterations=2)
    for length in range(len(data)):
        with pytest.raises(LatentpressError):
            latentpress.decode(data[:length])
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(LatentpressError):
            latentpress.decode(bytes(flipped))


def test_parameters_are_validated(crop):
    for bad in ({"context": "0x2"}, {"context": "big"}, {"hidden": 500}, {"iterations": -1}, {"quality": 3}):
        with pytest.raises(ParameterError):
            latentpress.encode(crop, "lossless", **bad)


def test_cli_lossless_flag(tmp_path, photo):
    from PIL import Image
    source = tmp_path / "in.png"
    Image.fromarray(np.ascontiguousarray(photo[:16, :24])).save(source)
    out = tmp_path / "out.lpx"
    assert cli.main(["encode", str(source), str(out), "--lossless", "--iterations", "3", "--quiet"]) == 0
    assert latentpress.read_info(out.read_bytes()).codec == "lossless"
    assert cli.main(["encode", str(source), str(tmp_path / "x.lpx"), "--lossless", "--codec", "factorized"]) != 0
    assert not (tmp_path / "x.lpx").exists()
