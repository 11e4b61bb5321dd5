"""Pillow plugin: ``Image.open("x.lpx")`` decodes, ``img.save("x.lpx", codec=..., quality=...)`` encodes.

Registered when ``latentpress`` is imported. Like Pillow's own format modules it only
hooks open/save/extension/MIME; the work is done by the public API.
"""

from __future__ import annotations

from typing import IO

from PIL import Image, ImageFile

from latentpress import api
from latentpress.container import DEFAULT_LIMITS, MAGIC, ColourSpace
from latentpress.errors import LimitError

FORMAT = "LPX"


def _accept(prefix: bytes) -> bool:
    return prefix[:len(MAGIC)] == MAGIC


class LpxImageFile(ImageFile.ImageFile):
    format = FORMAT
    format_description = "latentpress learned image"

    def _open(self) -> None:
        data = self.fp.read(DEFAULT_LIMITS.max_file_bytes + 1)
        if len(data) > DEFAULT_LIMITS.max_file_bytes:
            raise LimitError(f"file exceeds the .lpx size limit of {DEFAULT_LIMITS.max_file_bytes:,} bytes")
        # _accept has seen the .lpx magic, so no other plugin can read this file: let the
        # latentpress error (truncated, CRC...) through rather than Pillow's generic
        # "cannot identify image file", which a SyntaxError would become.
        header = api.read_info(data)
        self._data = data
        self._mode = "L" if header.colour_space == ColourSpace.GREY else "RGB"
        self._size = (header.width, header.height)
        self.info["lpx_codec"] = header.codec
        self.info["lpx_params"] = dict(header.params)
        self.tile = []

    def load(self):
        if self._data is not None:
            decoded = api.decode_image(self._data)
            self._data = None
            self.im = decoded.im
            self.info.update(decoded.info)
        return Image.Image.load(self)


def _save(image: Image.Image, fp: IO[bytes], filename: str | bytes) -> None:
    options = dict(image.encoderinfo)
    codec = options.pop("codec", None)
    for key in ("icc_profile", "exif"):
        if key in options and options[key] is None:
            del options[key]
    # Pillow passes its own save options along; only the codec's belong to encode().
    for key in ("format", "append_images", "save_all"):
        options.pop(key, None)
    fp.write(api.encode(image, codec, **options))


Image.register_open(FORMAT, LpxImageFile, _accept)
Image.register_save(FORMAT, _save)
Image.register_extension(FORMAT, ".lpx")
Image.register_mime(FORMAT, "image/x-lpx")
