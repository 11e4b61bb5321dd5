"""Adapters for the codecs people use today, for side-by-side measurement.

These are not ``.lpx`` codecs: each writes its own standard file format through the
real library (libjpeg-turbo and libwebp via Pillow; OpenJPEG, libavif/libaom, libjxl,
CharLS via imagecodecs; libheif/x265 via pillow-heif). Nothing is reimplemented. A
library missing on a machine makes its codec unavailable with a reason, never a crash.

Each adapter declares its quality knob and the sweep of rate points the bench uses:
for lossy codecs chosen to cover about 0.1–3 bpp on Kodak where the codec can reach it.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ClassicCodec:
    name: str
    description: str
    lossless: bool
    library: Callable[[], str]              # "libjpeg-turbo 3.1.3"; raises ImportError if missing
    encode: Callable[[np.ndarray, dict[str, Any]], bytes]
    decode: Callable[[bytes], np.ndarray]
    points: tuple[dict[str, Any], ...] = field(default=({},))

    def available(self) -> tuple[bool, str]:
        """(True, library version) or (False, why not)."""
        try:
            return True, self.library()
        except Exception as exc:  # a broken optional install must not break the bench
            return False, f"{type(exc).__name__}: {exc}"


def _as_rgb_or_grey(pixels: np.ndarray) -> np.ndarray:
    return pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels


# Pillow: JPEG, WebP, PNG ------------------------------------------------------------

def _pillow_encode(fmt: str, **fixed: Any) -> Callable[[np.ndarray, dict[str, Any]], bytes]:
    def encode(pixels: np.ndarray, params: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format=fmt, **fixed, **params)
        return buffer.getvalue()
    return encode


def _pillow_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("L" if image.mode in ("L", "1", "I;16") else "RGB"))


def _pillow_feature(feature: str, name: str) -> Callable[[], str]:
    def version() -> str:
        from PIL import features
        if not features.check(feature):
            raise ImportError(f"Pillow was built without {name}")
        return f"{name} {features.version(feature)} (Pillow {Image.__version__})"
    return version


# imagecodecs: JPEG 2000, AVIF, JPEG XL, JPEG-LS --------------------------------------

def _imagecodecs(function: str, **fixed: Any) -> Callable[..., Any]:
    def call(*args: Any, **params: Any) -> Any:
        import imagecodecs
        return getattr(imagecodecs, function)(*args, **fixed, **params)
    return call


def _imagecodecs_version(codec: str) -> Callable[[], str]:
    def version() -> str:
        import imagecodecs
        getattr(imagecodecs, f"{codec}_encode")  # raises AttributeError if not built
        return f"{getattr(imagecodecs, f'{codec}_version')()} (imagecodecs {imagecodecs.__version__})"
    return version


def _avif_version() -> str:
    text = _imagecodecs_version("avif")()
    import imagecodecs
    # Make sure libavif has the AV1 encoder we name (libaom).
    imagecodecs.avif_encode(np.zeros((8, 8, 3), np.uint8), level=50, codec="aom")
    return text + " with libaom"


def _jpeg2k_encode(pixels: np.ndarray, params: dict[str, Any]) -> bytes:
    import imagecodecs
    # imagecodecs' `level` for JPEG 2000 is OpenJPEG's fixed-quality target in dB PSNR;
    # `reversible` selects the 5/3 integer wavelet for lossless coding.
    return imagecodecs.jpeg2k_encode(pixels, codecformat="jp2", **params)


# pillow-heif: HEIC (x265) -------------------------------------------------------------

def _heif_version() -> str:
    import pillow_heif
    info = pillow_heif.libheif_info()
    if "x265" not in str(info.get("encoders", {})):
        raise ImportError("libheif has no x265 HEVC encoder")
    return f"libheif {info['libheif']} with {info['encoders']['x265']} (pillow-heif {pillow_heif.__version__})"


def _heif_encoder(**fixed: Any) -> Callable[[np.ndarray, dict[str, Any]], bytes]:
    def encode(pixels: np.ndarray, params: dict[str, Any]) -> bytes:
        import pillow_heif
        mode = "L" if pixels.ndim == 2 else "RGB"
        heif = pillow_heif.from_bytes(mode=mode, size=(pixels.shape[1], pixels.shape[0]), data=pixels.tobytes())
        buffer = io.BytesIO()
        # 4:4:4 chroma keeps HEIC comparable with the 4:4:4 learned codecs; x265 intra.
        heif.save(buffer, format="HEIF", chroma=444, **fixed, **params)
        return buffer.getvalue()
    return encode


def _heif_decode(data: bytes) -> np.ndarray:
    import pillow_heif
    heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=True)
    image = heif.to_pillow()
    return np.asarray(image.convert("L" if image.mode == "L" else "RGB"))


def _sweep(key: str, values: Any, **fixed: Any) -> tuple[dict[str, Any], ...]:
    return tuple({key: v, **fixed} for v in values)


CLASSIC: dict[str, ClassicCodec] = {c.name: c for c in [
    ClassicCodec("jpeg-420", "JPEG, 4:2:0 chroma (libjpeg-turbo via Pillow)", False,
                 _pillow_feature("libjpeg_turbo", "libjpeg-turbo"),
                 _pillow_encode("JPEG", subsampling=2), _pillow_decode,
                 _sweep("quality", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95))),
    ClassicCodec("jpeg-444", "JPEG, 4:4:4 chroma (libjpeg-turbo via Pillow)", False,
                 _pillow_feature("libjpeg_turbo", "libjpeg-turbo"),
                 _pillow_encode("JPEG", subsampling=0), _pillow_decode,
                 _sweep("quality", (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95))),
    ClassicCodec("jpeg2000", "JPEG 2000 (OpenJPEG via imagecodecs), fixed-quality mode", False,
                 _imagecodecs_version("jpeg2k"), _jpeg2k_encode, _imagecodecs("jpeg2k_decode"),
                 _sweep("level", (24, 26, 28, 30, 32, 34, 36, 38, 40, 43, 46))),
    ClassicCodec("webp", "WebP lossy (libwebp via Pillow), method 6", False,
                 _pillow_feature("webp", "libwebp"), _pillow_encode("WEBP", method=6), _pillow_decode,
                 _sweep("quality", (0, 5, 15, 30, 50, 70, 80, 90, 95, 100))),
    ClassicCodec("avif", "AVIF (libavif + libaom via imagecodecs), 4:4:4, speed 6", False,
                 _avif_version,
                 lambda pixels, params: _imagecodecs("avif_encode", codec="aom", speed=6)(pixels, **params),
                 _imagecodecs("avif_decode"),
                 _sweep("level", (10, 20, 30, 40, 50, 60, 70, 80, 90, 95))),
    # The settings a demanding user would pick: a slow libaom speed, x265's slowest
    # practical preset, libjxl's highest effort; the defaults above are the fast ones.
    ClassicCodec("avif-s2", "AVIF (libavif + libaom via imagecodecs), 4:4:4, speed 2", False,
                 _avif_version,
                 lambda pixels, params: _imagecodecs("avif_encode", codec="aom", speed=2)(pixels, **params),
                 _imagecodecs("avif_decode"),
                 _sweep("level", (10, 20, 30, 40, 50, 60, 70, 80, 90, 95))),
    ClassicCodec("jpegxl", "JPEG XL (libjxl via imagecodecs), effort 7", False,
                 _imagecodecs_version("jpegxl"),
                 lambda pixels, params: _imagecodecs("jpegxl_encode", effort=7)(pixels, **params),
                 _imagecodecs("jpegxl_decode"),
                 _sweep("distance", (20.0, 12.0, 8.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8, 0.5, 0.3))),
    ClassicCodec("heic", "HEIC / HEVC intra (libheif + x265 via pillow-heif), 4:4:4", False,
                 _heif_version, _heif_encoder(), _heif_decode,
                 _sweep("quality", (5, 15, 30, 45, 60, 75, 85, 92, 97))),
    ClassicCodec("heic-veryslow", "HEIC / HEVC intra (libheif + x265 via pillow-heif), 4:4:4, preset veryslow",
                 False, _heif_version, _heif_encoder(enc_params={"preset": "veryslow"}), _heif_decode,
                 _sweep("quality", (5, 15, 30, 45, 60, 75, 85, 92, 97))),
    ClassicCodec("jpegxl-e9", "JPEG XL (libjxl via imagecodecs), effort 9", False,
                 _imagecodecs_version("jpegxl"),
                 lambda pixels, params: _imagecodecs("jpegxl_encode", effort=9)(pixels, **params),
                 _imagecodecs("jpegxl_decode"),
                 _sweep("distance", (20.0, 12.0, 8.0, 5.0, 3.5, 2.5, 1.8, 1.2, 0.8, 0.5, 0.3))),
    ClassicCodec("png", "PNG, maximum compression (libpng/zlib via Pillow)", True,
                 lambda: f"zlib {__import__('PIL.features', fromlist=['version']).version('zlib')} (Pillow {Image.__version__})",
                 _pillow_encode("PNG", optimize=True, compress_level=9), _pillow_decode),
    ClassicCodec("webp-lossless", "WebP lossless (libwebp via Pillow), method 6, quality 100", True,
                 _pillow_feature("webp", "libwebp"),
                 _pillow_encode("WEBP", lossless=True, quality=100, method=6), _pillow_decode),
    ClassicCodec("jpegls", "JPEG-LS (CharLS via imagecodecs)", True,
                 _imagecodecs_version("jpegls"),
                 lambda pixels, params: _imagecodecs("jpegls_encode")(pixels, **params),
                 _imagecodecs("jpegls_decode")),
    ClassicCodec("jpeg2000-lossless", "JPEG 2000 lossless, 5/3 wavelet (OpenJPEG via imagecodecs)", True,
                 _imagecodecs_version("jpeg2k"),
                 lambda pixels, params: _jpeg2k_encode(pixels, {"reversible": True, "level": 0, **params}),
                 _imagecodecs("jpeg2k_decode")),
    ClassicCodec("jpegxl-lossless", "JPEG XL lossless (libjxl via imagecodecs), effort 7", True,
                 _imagecodecs_version("jpegxl"),
                 lambda pixels, params: _imagecodecs("jpegxl_encode", lossless=True, effort=7)(pixels, **params),
                 _imagecodecs("jpegxl_decode")),
    ClassicCodec("jpegxl-lossless-e9", "JPEG XL lossless (libjxl via imagecodecs), effort 9", True,
                 _imagecodecs_version("jpegxl"),
                 lambda pixels, params: _imagecodecs("jpegxl_encode", lossless=True, effort=9)(pixels, **params),
                 _imagecodecs("jpegxl_decode")),
]}
