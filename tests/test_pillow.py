from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import latentpress


def test_open_decodes(tmp_path, small_rgb):
    path = tmp_path / "x.lpx"
    path.write_bytes(latentpress.encode(small_rgb, quality=70))
    with Image.open(path) as image:
        assert image.format == "LPX"
        assert image.size == (56, 40) and image.mode == "RGB"
        assert image.info["lpx_codec"] == "overfit"                  # the default codec
        pixels = np.asarray(image)
    assert np.array_equal(pixels, latentpress.decode(path.read_bytes()))


def test_save_encodes_with_options(tmp_path, small_rgb):
    path = tmp_path / "y.lpx"
    Image.fromarray(small_rgb).save(path, quality=65)
    header = latentpress.read_info(path.read_bytes())
    assert header.codec == "overfit" and header.params["preset"] == "instant" and header.params["quality"] == 65
    Image.fromarray(small_rgb).save(path, codec="factorized", quality=15)
    header = latentpress.read_info(path.read_bytes())
    assert header.codec == "factorized" and header.params["quality"] == 15
    Image.fromarray(small_rgb).convert("L").save(path, codec="factorized")
    with Image.open(path) as image:
        assert image.mode == "L"
        image.load()


def test_corrupt_file_is_not_opened(tmp_path, small_rgb):
    path = tmp_path / "z.lpx"
    data = bytearray(latentpress.encode(small_rgb))
    data[30] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(latentpress.ChecksumError, match="CRC"):
        Image.open(path)
    path.write_bytes(bytes(data[:40]))
    with pytest.raises(latentpress.TruncatedError):
        Image.open(path)


def test_save_with_pillow_exif_object(tmp_path, small_rgb):
    exif = Image.Exif()
    exif[0x010E] = "described"
    path = tmp_path / "e.lpx"
    Image.fromarray(small_rgb).save(path, exif=exif)
    with Image.open(path) as image:
        image.load()
        assert image.getexif()[0x010E] == "described"
    with pytest.raises(latentpress.ParameterError, match="icc_profile"):
        Image.fromarray(small_rgb).save(tmp_path / "f.lpx", icc_profile="not bytes")


def test_registered_extension_and_mime():
    assert Image.registered_extensions()[".lpx"] == "LPX"
    assert Image.MIME["LPX"] == "image/x-lpx"
