from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, UnidentifiedImageError

import latentpress


def test_open_decodes(tmp_path, small_rgb):
    path = tmp_path / "x.lpx"
    path.write_bytes(latentpress.encode(small_rgb, quality=70))
    with Image.open(path) as image:
        assert image.format == "LPX"
        assert image.size == (56, 40) and image.mode == "RGB"
        assert image.info["lpx_codec"] == "factorized"
        pixels = np.asarray(image)
    assert np.array_equal(pixels, latentpress.decode(path.read_bytes()))


def test_save_encodes_with_options(tmp_path, small_rgb):
    path = tmp_path / "y.lpx"
    Image.fromarray(small_rgb).save(path, quality=15)
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
    with pytest.raises(UnidentifiedImageError):
        Image.open(path)


def test_registered_extension_and_mime():
    assert Image.registered_extensions()[".lpx"] == "LPX"
    assert Image.MIME["LPX"] == "image/x-lpx"
