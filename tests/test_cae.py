"""Report 003 ("Deep Convolutional AutoEncoder-based Lossy Image Compression", Cheng et
al., PCS 2018): the CAE + PCA + JPEG 2000 codec."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest

from latentpress import container
from latentpress.codecs.cae import jpeg2000
from latentpress.codecs.cae.codec import LEVELS
from latentpress.codecs.cae.jpeg2000 import from_mosaic, mosaic_shape, to_mosaic
from latentpress.codecs.cae.model import CHROMA, LUMA, CAEArchitecture
from latentpress.codecs.cae.rotation import principal_axes, rotate, unrotate
from latentpress.errors import CorruptPayloadError


@pytest.fixture(scope="module")
def correlated_maps():
    """32 maps of 12×20 mixed from 4 sources: energy a PCA can gather in 4 maps."""
    rng = np.random.default_rng(5)
    sources = rng.normal(0, [[[8.0]], [[4.0]], [[2.0]], [[1.0]]], (4, 12, 20))
    mixing = rng.normal(0, 1, (32, 4))
    return np.einsum("ck,khw->chw", mixing, sources) + rng.normal(0, 0.01, (32, 12, 20))


def test_pca_rotation_is_orthonormal_and_sorted(correlated_maps):
    u = principal_axes(correlated_maps)
    np.testing.assert_allclose(u.T @ u, np.eye(32), atol=1e-10)
    rotated = u.T @ correlated_maps.reshape(32, -1)
    energy = (rotated ** 2).mean(axis=1)
    assert np.all(np.diff(energy) <= 1e-9)                         # descending (eq. 3)
    assert energy[:4].sum() > 0.999 * energy.sum()                 # compaction


@pytest.mark.parametrize("bits", [4, 6, 8])
def test_quantized_rotation_is_inverted_exactly(correlated_maps, bits):
    """The decoder solves with the stored Û, so coarse U costs compaction, not accuracy:
    reconstruction error < 1e−9 of the maps' scale at any precision."""
    integers = np.rint(principal_axes(correlated_maps) * (1 << bits)).astype(np.int64)
    rotated = rotate([integers], bits, [correlated_maps])[0]
    restored = unrotate(integers / (1 << bits), rotated)
    assert np.abs(restored - correlated_maps).max() < 1e-9 * np.abs(correlated_maps).max()
    energy = (rotated.reshape(32, -1) ** 2).mean(axis=1)
    assert energy[:4].sum() > 0.98 * energy.sum()


def test_singular_rotation_is_a_corrupt_payload():
    with pytest.raises(CorruptPayloadError):
        unrotate(np.zeros((3, 3)), np.ones((3, 2, 2)))


def test_mosaic_vertical_scan_round_trip():
    channels = [LUMA.code_channels, CHROMA.code_channels, CHROMA.code_channels]
    rng = np.random.default_rng(1)
    maps = [rng.integers(0, 4096, (c, 5, 7)) for c in channels]
    mosaic = to_mosaic(maps)
    assert mosaic.shape == mosaic_shape(channels, 5, 7) == (2 * 8 * 5, 4 * 7)
    assert np.array_equal(mosaic[5:10, :7], maps[0][1])           # map 1: second row, first column
    assert np.array_equal(mosaic[:5, 7:14], maps[0][8])           # map 8: first row, second column
    for expected, actual in zip(maps, from_mosaic(mosaic, channels, 5, 7)):
        assert np.array_equal(expected, actual)
    grey = to_mosaic(maps[:1])
    assert grey.shape == mosaic_shape(channels[:1], 5, 7) == (40, 28)


def test_jpeg2000_rate_control_and_size_check():
    rng = np.random.default_rng(2)
    smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (128, 96)), axis=0), axis=1)
    mosaic = np.rint((smooth - smooth.min()) / np.ptp(smooth) * LEVELS).astype(np.uint16)
    sizes = []
    for target in (400, 1600):
        data = jpeg2000.encode(mosaic, target)
        sizes.append(len(data))
        assert len(data) <= 1.1 * target
        decoded = jpeg2000.decode(data, mosaic.shape, LEVELS)
        assert decoded.shape == mosaic.shape
        error = np.sqrt(np.mean((decoded - mosaic.astype(np.int64)) ** 2))
        assert error < LEVELS / 50                       # a coarse copy of the mosaic, not noise
    assert sizes[0] < sizes[1]
    with pytest.raises(CorruptPayloadError):
        jpeg2000.decode(data, (64, 96), LEVELS)
    with pytest.raises(CorruptPayloadError):
        jpeg2000.decode(data[: len(data) // 2] + b"\x00" * 10, mosaic.shape, LEVELS)


def test_descriptor_round_trip_and_refusals():
    assert CAEArchitecture.parse(LUMA.describe()) == LUMA
    for bad in ("n1.2.3", "x32.64.64.64.64.32", "n032.64.64.64.64.32", "n1.2.3.4.5.999", 7, None):
        with pytest.raises(ValueError):
            CAEArchitecture.parse(bad)


@pytest.fixture()
def untrained(monkeypatch):
    """The codec with freshly initialised networks: the pipeline, not the quality."""
    import torch

    from latentpress.codecs.cae import codec as cae_codec
    from latentpress.codecs.cae.model import ConvolutionalAutoencoder
    torch.manual_seed(0)
    models = {"luma": ConvolutionalAutoencoder(LUMA).eval(), "chroma": ConvolutionalAutoencoder(CHROMA).eval()}
    monkeypatch.setattr(cae_codec, "_models", lambda: models)
    return cae_codec.CAECodec()


# Floors for crops of the photograph at 8 bpp, a few dB under what the shipped weights give
# (the lowest over the four option sets: 23.5, 38.2, 17.0 and 44.4 dB). Small images pay
# the rotation and the header from the same budget, and a 1×1 image with patches is a
# 128×128 patch of one value.
ANY_SIZE_FLOOR = {(1, 1): 21.0, (9, 300): 35.0, (37, 41, 3): 14.0, (130, 100, 3): 41.0}


@pytest.mark.parametrize("shape", sorted(ANY_SIZE_FLOOR))
@pytest.mark.parametrize("options", [{}, {"entropy": "range"}, {"pca": False}, {"patches": True}])
def test_pipeline_round_trips_any_size(photo, shape, options):
    from latentpress import api
    from latentpress.codecs.base import get_codec
    from latentpress.metrics import psnr
    image = np.ascontiguousarray(photo[72:72 + shape[0], :shape[1]])
    if len(shape) == 2:
        image = np.ascontiguousarray(image[..., 1])
    codec = get_codec("cae")
    payload = codec.encode(image, codec.parse_params({"bpp": 8.0, **options}))
    data = api.pack(codec, image, payload)
    header = api.read_info(data)
    sections = container.read(data)[1]
    decoded = codec.decode(header, sections)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert psnr(image, decoded) > ANY_SIZE_FLOOR[shape]
    assert np.array_equal(codec.decode(header, sections), decoded)


def test_crafted_files_are_refused_with_documented_errors(untrained):
    import dataclasses

    from latentpress import api
    from latentpress.container import Section
    from latentpress.errors import LatentpressError, LimitError
    codec = untrained
    image = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    files = {options: api.pack(codec, image, codec.encode(image, codec.parse_params({"bpp": 2.0, "entropy": options})))
             for options in ("jpeg2000", "range")}

    def rewrite(data, params=None, sections=None, **geometry):
        header, found = container.read(data)
        header = dataclasses.replace(header, params={**header.params, **(params or {})}, **geometry)
        return header, [Section(s.type, (sections or {}).get(s.type, s.data)) for s in found]

    bad = [({"model": "cae-v0"}, None), ({"entropy": "zip"}, None), ({"pca": 1}, None), ({"u_bits": 3}, None),
           ({"step16": 0}, "range"), ({"step16": 32}, None), ({"pca": False}, None),     # keys of other modes
           (None, {"RANG": b"\x00" * 8}), (None, {"RANG": b"\x00" * 7}),
           (None, {"PCAU": b"\x01"}), (None, {"MAPS": b"\x00" * 20})]
    for params, sections in bad:
        kind = sections if isinstance(sections, str) else "jpeg2000"
        header, found = rewrite(files[kind], params, None if isinstance(sections, str) else sections)
        with pytest.raises(LatentpressError):
            codec.decode(header, found)
    header, found = rewrite(files["jpeg2000"], {"patches": True}, width=1 << 24, height=1)
    with pytest.raises(LimitError):
        codec.decode(header, found)


# A 32×16 RGB image without PCA: maps of 2×4, a JPEG 2000 mosaic of 32 rows by 16 columns.
CRAFTED_WIDTH, CRAFTED_HEIGHT, CRAFTED_MOSAIC = 32, 16, (32, 16)


def _codestream(values: np.ndarray, **options) -> bytes:
    """values written by Pillow's JPEG 2000 encoder (lossless unless options say otherwise)."""
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "JPEG2000", no_jp2=True, **options)
    return buffer.getvalue()


def _crafted_file(codestream: bytes):
    """A cae file (entropy=jpeg2000, pca=false) of CRAFTED_WIDTH × CRAFTED_HEIGHT around MAPS."""
    from latentpress.codecs.cae.codec import MODEL_ID, CAECodec
    from latentpress.container import Header, Section
    params = {"model": MODEL_ID, "bpp": 1.0, "entropy": "jpeg2000", "pca": False, "patches": False}
    header = Header(codec="cae", codec_version=CAECodec.version, width=CRAFTED_WIDTH, height=CRAFTED_HEIGHT,
                    channels=3, params=params)
    sections = [Section("RANG", struct.pack("<ff", -1.0, 1.0)), Section("MAPS", codestream)]
    return container.read(container.write(header, sections))


@pytest.fixture()
def forbid_pillow(monkeypatch):
    """Call it to fail the test from then on where a codestream reaches Pillow (and so OpenJPEG)."""
    from PIL import Image
    return lambda: monkeypatch.setattr(Image, "open", lambda *a, **k: pytest.fail("the codestream reached Pillow"))


def test_a_tiled_jpeg2000_codestream_is_refused_before_pillow(untrained, forbid_pillow):
    """OpenJPEG's memory grows with the number of tiles: a 256×252 mosaic in 1×1 tiles
    (a 1.35 MB file) took 643 MB against a 245 MB estimate. The encoder writes one tile;
    a codestream of the right size in 1×1 tiles (here 512 of them, which Pillow decodes
    to an array of the mosaic's shape) is refused before Pillow sees it."""
    from PIL import Image
    values = (np.arange(np.prod(CRAFTED_MOSAIC)).reshape(CRAFTED_MOSAIC) * 7 % 4096).astype(np.uint16)
    codestream = _codestream(values, tile_size=(1, 1), num_resolutions=1)
    with Image.open(io.BytesIO(codestream)) as image:
        assert np.asarray(image).shape == CRAFTED_MOSAIC
    header, sections = _crafted_file(codestream)
    forbid_pillow()
    with pytest.raises(CorruptPayloadError, match="tiles of 1x1"):
        untrained.decode(header, sections)


@pytest.mark.parametrize("mode", ["RGBA", "RGB"])
def test_a_jpeg2000_codestream_of_several_components_is_refused_before_pillow(untrained, forbid_pillow, mode):
    """An RGBA codestream of the mosaic's size took 858 MB before the decoded array's
    shape gave it away; the encoder writes one component, and the SIZ marker says."""
    values = np.zeros(CRAFTED_MOSAIC + (len(mode),), np.uint8)
    header, sections = _crafted_file(_codestream(values))
    forbid_pillow()
    with pytest.raises(CorruptPayloadError, match=f"{len(mode)} components"):
        untrained.decode(header, sections)


def _segment(data: bytes, marker: int) -> int:
    """Where the first segment with this marker starts (encoder output: the main header
    and the tile-part header hold marker segments only, so a walk finds it)."""
    position = 2
    while struct.unpack_from(">H", data, position)[0] != marker:
        position += 2 + struct.unpack_from(">H", data, position + 2)[0]
    return position


def _replace(data: bytes, position: int, value: bytes) -> bytes:
    return data[:position] + value + data[position + len(value):]


def _insert(data: bytes, position: int, segment: bytes) -> bytes:
    """segment inserted at position, the tile-part length (Psot) grown to match when it
    lands inside the tile-part."""
    sot = _segment(data, 0xFF90)
    if position > sot:
        psot = struct.unpack_from(">I", data, sot + 6)[0]
        data = _replace(data, sot + 6, struct.pack(">I", psot + len(segment)))
    return data[:position] + segment + data[position:]


def test_jpeg2000_headers_the_encoder_never_writes_are_refused_before_pillow(forbid_pillow):
    """Every SIZ and COD field that sets OpenJPEG's memory (components, precision,
    subsampling, offsets, tiles, layers, levels, code-blocks, precincts) and every
    marker, tile-part or truncation other than the encoder's is a CorruptPayloadError
    raised before Pillow is called; the encoder's own codestream passes."""
    rng = np.random.default_rng(3)
    shape = (64, 48)
    data = jpeg2000.encode(rng.integers(0, 4096, shape).astype(np.uint16), 600)
    assert jpeg2000.decode(data, shape, LEVELS).shape == shape
    siz, cod, sot = 2, _segment(data, 0xFF52), _segment(data, 0xFF90)
    sod = sot + 12
    assert data[sod:sod + 2] == b"\xff\x93"
    forbid_pillow()
    u32 = struct.Struct(">I").pack
    second_part = b"\xff\x90\x00\x0a" + struct.pack(">HIBB", 0, 14, 1, 2) + b"\xff\x93"   # SOT: part 1 of 2; SOD
    mutations = {
        "wrong size": _replace(data, siz + 6, u32(shape[1] + 1)),
        "image offset": _replace(data, siz + 18, u32(1)),
        "tiles narrower than the image": _replace(data, siz + 22, u32(shape[1] // 2)),
        "tiles lower than the image": _replace(data, siz + 26, u32(shape[0] - 1)),
        "tile offset": _replace(data, siz + 30, u32(1)),
        "signed samples": _replace(data, siz + 40, b"\x8f"),
        "17-bit samples": _replace(data, siz + 40, b"\x10"),
        "subsampled": _replace(data, siz + 41, b"\x02"),
        "precinct sizes announced": _replace(data, cod + 4, b"\x01"),
        "two layers": _replace(data, cod + 6, b"\x00\x02"),
        "six levels": _replace(data, cod + 9, b"\x06"),
        "4x4 code-blocks": _replace(data, cod + 10, b"\x00\x00"),
        "HT code-blocks": _replace(data, cod + 12, b"\x40"),
        "COD twice": _insert(data, cod, data[cod:cod + 14]),
        "POC in the main header": _insert(data, sot, b"\xff\x5f\x00\x09" + bytes([0, 0, 0, 1, 1, 1, 0])),
        "COD in the tile-part header": _insert(data, sod, data[cod:cod + 14]),
        "tile 1": _replace(data, sot + 4, b"\x00\x01"),
        "two tile-parts announced": _replace(data, sot + 11, b"\x02"),
        "a second tile-part": data[:-2] + second_part + data[-2:],
        "no EOC": data[:-2],
        "trailing bytes": data + b"\x00",
        "no SOC": data[2:],
    }
    refused = []
    for name, mutated in mutations.items():
        try:
            jpeg2000.decode(mutated, shape, LEVELS)
        except CorruptPayloadError:
            refused.append(name)
    assert refused == list(mutations)
    for end in range(sod + 2):                                  # every truncation of the headers
        with pytest.raises(CorruptPayloadError):
            jpeg2000.decode(data[:end], shape, LEVELS)


def test_decode_memory_counts_the_padded_grid():
    """The decoder works on whole 128×128 patches with patches=true (a 16384×1 file
    peaked at 309 MB against the 237 MB its 16384 pixels allowed) and on multiples of 8
    without; an invalid or missing value is estimated as patches, never an exception."""
    from latentpress.codecs.cae.codec import CAECodec
    base, rate = CAECodec.decode_base_bytes, CAECodec.decode_bytes_per_pixel

    def estimate(width, height, **params):
        header = container.Header("cae", CAECodec.version, width, height, 3, params={"model": "cae-v1", **params})
        return CAECodec.decode_memory(header)

    assert estimate(16384, 1, patches=True) == base + rate * 128 * 16384
    assert estimate(16384, 1, patches=False) == base + rate * 8 * 16384
    assert estimate(130, 100, patches=True) == base + rate * 256 * 128
    assert estimate(4096, 4096, patches=True) == estimate(4096, 4096, patches=False) == base + rate * 4096 * 4096
    for invalid in ({}, {"patches": None}, {"patches": 0}, {"patches": "false"}, {"patches": [False]}):
        assert estimate(16384, 1, **invalid) == base + rate * 128 * 16384, invalid


def test_thin_maps_decode_in_batches_of_windows():
    """A map no higher than 8 rows (an image up to 64 pixels high) decodes its equal
    windows together (rather than a network call per 64 map columns for a 1-row map),
    to the values of the whole map decoded at once up to float rounding, as window by
    window; a taller map goes window by window."""
    import types

    import torch

    from latentpress.codecs.cae.codec import _synthesis
    from latentpress.codecs.cae.model import ConvolutionalAutoencoder
    torch.manual_seed(0)
    model = ConvolutionalAutoencoder(CHROMA).eval()
    rng = np.random.default_rng(4)
    # 200 map columns: windows of 72, 80, 80 and 16 columns (64 plus margins of 8).
    for rows, calls in ((1, [1, 2, 1]), (9, [1] * 4)):
        maps = rng.normal(0, 1, (CHROMA.code_channels, rows, 200)).astype(np.float32)
        with torch.inference_mode():
            expected = model.decode(torch.from_numpy(maps)[None])[0, 0].numpy()
        batches = []
        counting = types.SimpleNamespace(decode=lambda y: (batches.append(len(y)), model.decode(y))[1])
        np.testing.assert_allclose(_synthesis(counting, maps, False), expected, rtol=0, atol=1e-5)
        assert batches == calls, rows

# ---- with the shipped weights (latentpress/weights/cae-*-v1.safetensors) ----

# Floors for a 256×256 crop of the photograph (the full-Kodak curves are in docs/bench.md);
# they fail if the weights, the rotation or either entropy path regresses.
# Measured with the shipped weights: jpeg2000 29.5 / 36.3 dB, range 27.9 / 35.7 dB.
PSNR_FLOOR = {0.5: 25.5, 1.5: 33.5}


@pytest.fixture(scope="module")
def crop(photo):
    return np.ascontiguousarray(photo[:, :256])


@pytest.mark.parametrize("entropy", ["jpeg2000", "range"])
def test_shipped_models_round_trip_at_two_rates(crop, entropy):
    import latentpress
    from latentpress.metrics import psnr
    qualities = []
    for bpp, floor in PSNR_FLOOR.items():
        data = latentpress.encode(crop, "cae", bpp=bpp, entropy=entropy)
        assert 8 * len(data) / crop[..., 0].size <= bpp * 1.02     # the target counts the whole file
        decoded = latentpress.decode(data)
        assert decoded.shape == crop.shape and decoded.dtype == np.uint8
        qualities.append(psnr(crop, decoded))
        assert qualities[-1] > floor, (bpp, entropy, qualities[-1])
    assert qualities[0] < qualities[1]


def test_pca_gathers_energy_in_the_first_maps(crop):
    from latentpress.codecs.cae.codec import _analysis, _models, _planes
    maps = _analysis(_models()["luma"], _planes(crop)[0], False)
    u = principal_axes(maps)
    energy = np.einsum("kc,chw->khw", u.T, maps.astype(np.float64)) ** 2
    per_map = energy.reshape(len(u), -1).mean(axis=1)
    assert np.all(np.diff(per_map) <= 1e-9 * per_map[0])
    assert per_map[:8].sum() > 0.8 * per_map.sum()


def test_greyscale_uses_the_luma_model_only(crop):
    import latentpress
    from latentpress.metrics import psnr
    image = np.ascontiguousarray(crop[..., 1])
    data = latentpress.encode(image, "cae", bpp=1.0)
    decoded = latentpress.decode(data)
    assert decoded.shape == image.shape
    assert psnr(image, decoded) > 33.5                 # 37.0 dB with the shipped weights
    assert latentpress.read_info(data).channels == 1


def test_a_target_below_the_side_information_overshoots_but_decodes_sanely(crop):
    """At 0.12 bpp a 256×256 crop's header and rotation take the whole budget; JPEG 2000
    then gets a floor instead of coding no maps (which decoded to about 8 dB)."""
    import latentpress
    from latentpress.metrics import psnr
    data = latentpress.encode(crop, "cae", bpp=0.12)
    assert 8 * len(data) / crop[..., 0].size > 0.12
    assert psnr(crop, latentpress.decode(data)) > 19.0             # 23.6 dB measured
