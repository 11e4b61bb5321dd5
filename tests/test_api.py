from __future__ import annotations

import io
import os

import numpy as np
import pytest
from PIL import Image

import latentpress
from latentpress.errors import (
    ImageError,
    LatentpressError,
    LimitError,
    UnknownCodecError,
)
from latentpress.metrics import psnr


def test_codecs_listing():
    listing = {c.name: c for c in latentpress.codecs()}
    assert "factorized" in listing
    assert listing["factorized"].params == {"quality": 50}
    assert listing["factorized"].description


def test_numpy_and_pil_inputs_agree(small_rgb):
    assert latentpress.encode(small_rgb) == latentpress.encode(Image.fromarray(small_rgb))


def test_pil_modes(small_rgb):
    """Greyscale stays greyscale, a palette image is coded as its RGB pixels: both come
    back at a quality a coder of the default codec reaches (34 and 21 dB measured: the
    palette's dithering is noise that costs the default quality dearly)."""
    grey = Image.fromarray(small_rgb).convert("L")
    decoded = latentpress.decode(latentpress.encode(grey))
    assert decoded.ndim == 2 and psnr(np.asarray(grey), decoded) > 31
    palette = Image.fromarray(small_rgb).convert("P")
    decoded = latentpress.decode(latentpress.encode(palette))
    assert decoded.shape == small_rgb.shape and psnr(np.asarray(palette.convert("RGB")), decoded) > 18
    with pytest.raises(ImageError, match="alpha"):
        latentpress.encode(Image.fromarray(small_rgb).convert("RGBA"))
    with pytest.raises(ImageError, match="8 bits"):
        latentpress.encode(Image.new("I;16", (8, 8)))
    with pytest.raises(ImageError, match="mode CMYK"):
        latentpress.encode(Image.new("CMYK", (8, 8)))


@pytest.mark.parametrize("bad", [
    np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((0, 8, 3), np.uint8),
    np.zeros((2, 2, 2, 3), np.uint8), "not an image", [[1, 2], [3, 4]],
])
def test_bad_arrays(bad):
    with pytest.raises(ImageError):
        latentpress.encode(bad)


def test_single_channel_axis_is_greyscale():
    image = np.full((9, 9, 1), 100, np.uint8)
    decoded = latentpress.decode(latentpress.encode(image))
    assert decoded.shape == (9, 9) and np.abs(decoded.astype(int) - 100).max() <= 12


def test_icc_and_exif_pass_through(small_rgb):
    image = Image.fromarray(small_rgb)
    exif = Image.Exif()
    exif[0x010E] = "a test description"
    image.info["icc_profile"] = b"fake icc profile bytes"
    data = latentpress.encode(image, exif=exif.tobytes())
    types = [s.type for s in latentpress.read_info(data).sections]
    assert "ICCP" in types and "EXIF" in types
    decoded = latentpress.decode_image(data)
    assert decoded.info["icc_profile"] == b"fake icc profile bytes"
    reloaded = Image.Exif()
    reloaded.load(decoded.info["exif"])
    assert reloaded[0x010E] == "a test description"


def test_unknown_codec(small_rgb):
    with pytest.raises(UnknownCodecError, match="factorized"):
        latentpress.encode(small_rgb, "no-such-codec")
    data = latentpress.encode(small_rgb)
    assert latentpress.read_info(data).codec == "overfit"          # the default codec
    forged = data.replace(b"overfit", b"overfix")
    with pytest.raises(latentpress.ChecksumError):
        latentpress.decode(forged)


def test_unknown_codec_in_a_valid_file(small_rgb):
    from latentpress import container
    header, sections = container.read(latentpress.encode(small_rgb))
    other = container.write(container.Header(codec="future-codec", codec_version=1, width=header.width,
                                             height=header.height, channels=3), sections)
    assert latentpress.read_info(other).codec == "future-codec"
    with pytest.raises(UnknownCodecError, match="future-codec"):
        latentpress.decode(other)


def test_limits_apply_to_encode_and_decode(small_rgb):
    with pytest.raises(LimitError):
        latentpress.encode(small_rgb, limits=latentpress.Limits(max_pixels=100))
    data = latentpress.encode(small_rgb)
    with pytest.raises(LimitError):
        latentpress.decode(data, limits=latentpress.Limits(max_pixels=100))


def test_every_error_is_a_latentpress_error():
    for name in latentpress.__all__:
        obj = getattr(latentpress, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, LatentpressError)


def test_decode_rejects_non_lpx_input(small_rgb):
    buffer = io.BytesIO()
    Image.fromarray(small_rgb).save(buffer, format="PNG")
    with pytest.raises(latentpress.NotLpxError):
        latentpress.decode(buffer.getvalue())
    with pytest.raises(latentpress.TruncatedError):
        latentpress.read_info(b"")


def test_paths_file_objects_and_bytes_are_accepted(tmp_path, small_rgb):
    source = tmp_path / "photo.png"
    Image.fromarray(small_rgb).save(source, icc_profile=b"profile")
    from_array = latentpress.encode(small_rgb, quality=40)
    from_path = latentpress.encode(source, quality=40)
    assert latentpress.encode(str(source), quality=40) == from_path
    assert latentpress.encode(source.read_bytes(), quality=40) == from_path
    with open(source, "rb") as handle:
        assert latentpress.encode(handle, quality=40) == from_path
    assert "ICCP" in [s.type for s in latentpress.read_info(from_path).sections]      # the file's profile kept
    assert np.array_equal(latentpress.decode(from_path), latentpress.decode(from_array))
    lpx = tmp_path / "photo.lpx"
    lpx.write_bytes(from_path)
    expected = latentpress.decode(from_path)
    assert np.array_equal(latentpress.decode(lpx), expected)
    assert np.array_equal(latentpress.decode(str(lpx)), expected)
    with open(lpx, "rb") as handle:
        assert np.array_equal(latentpress.decode(handle), expected)
    assert np.array_equal(np.asarray(latentpress.decode_image(lpx)), expected)
    assert latentpress.read_info(lpx).file_bytes == len(from_path)


@pytest.mark.parametrize("bad, words", [
    (3, "expected .lpx data as bytes, a path or a binary file object"),
    ("missing.lpx", "missing.lpx: no such file"),
])
def test_anything_else_is_a_latentpress_error_that_says_what_was_expected(bad, words):
    for call in (latentpress.decode, latentpress.read_info, latentpress.decode_image):
        with pytest.raises(LatentpressError, match=words):
            call(bad)


def test_errors_from_a_path_name_the_file(tmp_path, small_rgb):
    png = tmp_path / "photo.png"
    Image.fromarray(small_rgb).save(png)
    with pytest.raises(LatentpressError, match="photo.png: this is a PNG image, not an .lpx file"):
        latentpress.decode(png)
    with open(tmp_path / "photo.png") as text:                     # text mode
        with pytest.raises(LatentpressError, match="binary mode"):
            latentpress.decode(text)
    with pytest.raises(ImageError, match="nothing.png: no such file"):
        latentpress.encode(tmp_path / "nothing.png")
    Image.fromarray(small_rgb).convert("RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(ImageError, match="alpha.png: .*alpha"):
        latentpress.encode(tmp_path / "alpha.png")


def test_api_sources_are_bounded_like_the_command_line(tmp_path, small_rgb):
    from latentpress import Limits
    source = tmp_path / "photo.png"
    Image.fromarray(small_rgb).save(source)
    with pytest.raises(LimitError, match="photo.png"):
        latentpress.encode(source, limits=Limits(max_file_bytes=100))
    lpx = tmp_path / "photo.lpx"
    lpx.write_bytes(latentpress.encode(source))
    with pytest.raises(LimitError):
        latentpress.decode(lpx, limits=Limits(max_file_bytes=100))
    with pytest.raises(ImageError, match="is an .lpx file, not an image"):
        latentpress.encode(lpx)                          # not silently decoded and coded again
    fifo = tmp_path / "pipe.lpx"
    os.mkfifo(fifo)
    with pytest.raises(LatentpressError, match="not a regular file"):
        latentpress.decode(fifo)
    with pytest.raises(ImageError, match="not a regular file"):
        latentpress.encode(fifo)
