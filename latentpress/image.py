"""Images in and out: loading, mode checks, colour conversion, padding.

latentpress works on uint8 arrays: H×W (greyscale) or H×W×3 (RGB). Everything that
turns a file or a PIL image into such an array, with a clear error for what is not
supported, lives here.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from latentpress.errors import ImageError

# Modes converted without loss to L or RGB.
_LOSSLESS_TO_L = {"1", "L"}
_LOSSLESS_TO_RGB = {"RGB", "P"}


@dataclass
class LoadedImage:
    """Pixels plus the metadata that is passed through unchanged (ICC profile, EXIF)."""

    pixels: np.ndarray
    icc_profile: bytes | None = None
    exif: bytes | None = None
    metadata: dict[str, bytes] = field(default_factory=dict)


def from_pil(image: Image.Image) -> np.ndarray:
    """PIL image → uint8 H×W or H×W×3, refusing what cannot be represented exactly."""
    mode = image.mode
    if mode in _LOSSLESS_TO_L:
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if mode == "P":
        if "transparency" in image.info:
            raise ImageError("palette image with transparency: alpha is not supported; "
                             "flatten it onto a background first")
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if mode == "RGB":
        return np.asarray(image, dtype=np.uint8)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        raise ImageError(f"image has an alpha channel (mode {mode}); latentpress codes "
                         "greyscale and RGB only: flatten it onto a background first")
    if mode.startswith("I;16") or mode in ("I", "F"):
        raise ImageError(f"image has more than 8 bits per sample (mode {mode}); "
                         "latentpress codes 8-bit images only: convert it to 8 bits first")
    raise ImageError(f"unsupported image mode {mode}; convert it to RGB or greyscale (L) first")


def as_array(image: "np.ndarray | Image.Image") -> np.ndarray:
    """Validate and normalise an API input to a C-contiguous uint8 H×W or H×W×3 array."""
    if isinstance(image, Image.Image):
        return from_pil(image)
    if not isinstance(image, np.ndarray):
        raise ImageError(f"expected an image: a uint8 numpy array, a PIL image, or an image file as a path, "
                         f"its bytes or a binary file object; got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ImageError(f"expected a uint8 array, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ImageError(f"expected an H×W or H×W×3 array, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ImageError(f"image is empty (shape {image.shape})")
    return np.ascontiguousarray(image)


# File name suffixes of the image files latentpress reads from folders (training, batch).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
# Names that say "an image file", which an .lpx must not be given.
IMAGE_FILE_SUFFIXES = IMAGE_SUFFIXES | {".ppm", ".pgm", ".pnm", ".gif", ".jp2", ".j2k", ".jxl", ".avif", ".heic",
                                        ".heif", ".jxr", ".qoi"}


def open_image(path: str | os.PathLike, max_pixels: int | None = None) -> LoadedImage:
    """Read an image file (PNG, JPEG, TIFF, BMP, WebP... anything Pillow reads)."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    return _open(path, path, max_pixels)


def open_image_bytes(data: bytes, name: str, max_pixels: int | None = None) -> LoadedImage:
    """The same from the bytes of an image file (``name`` labels its errors)."""
    return _open(io.BytesIO(data), Path(name), max_pixels)


def _open(source, path: Path, max_pixels: int | None) -> LoadedImage:
    head = _head(source)
    if head == b"":
        raise ImageError(f"{path}: the file is empty")
    if head is not None and head.startswith(b"\x89LPX"):
        # Pillow would decode it through latentpress's own plugin: coding it again
        # would lose quality twice, unasked.
        raise ImageError(f"{path}: is an .lpx file, not an image (decode it first: latentpress decode)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                if max_pixels is not None and image.width * image.height > max_pixels:
                    raise ImageError(f"{path}: {image.width}x{image.height} exceeds the "
                                     f"limit of {max_pixels} pixels")
                _refuse_deep_samples(image, path)
                image.load()
                pixels = from_pil(image)
                return LoadedImage(pixels, image.info.get("icc_profile") or None,
                                   _exif_bytes(image))
    except ImageError as exc:
        if str(exc).startswith(str(path)):
            raise
        raise ImageError(f"{path}: {exc}") from None
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise ImageError(f"{path}: {exc}") from None
    except UnidentifiedImageError:
        if (_head(source) or b"").startswith(b"\x89LPX"):
            raise ImageError(f"{path}: is an .lpx file, not an image (decode it: latentpress decode)") from None
        raise ImageError(f"{path}: not an image file Pillow can read") from None
    except Exception as exc:  # noqa: BLE001 — Pillow's decoders raise many kinds on malformed files
        raise ImageError(f"{path}: cannot read image: {type(exc).__name__}: {exc}") from None


def _head(source) -> bytes | None:
    """The first bytes of a file or buffer; None where it cannot be read (Pillow says why)."""
    if isinstance(source, io.BytesIO):
        return source.getvalue()[:8]
    try:
        with open(source, "rb") as handle:
            return handle.read(8)
    except OSError:
        return None


def _refuse_deep_samples(image: Image.Image, path: Path) -> None:
    """Pillow opens 16-bit RGB PNG/TIFF as 8-bit RGB, dropping the low bits silently;
    its raw mode (e.g. ``RGB;16B``) still tells, before any pixel is decoded."""
    for tile in image.tile or []:
        args = tile.args if hasattr(tile, "args") else tile[3]
        rawmode = args[0] if isinstance(args, tuple) and args else args
        if isinstance(rawmode, str) and ";16" in rawmode:
            raise ImageError(f"{path}: image has 16 bits per sample; latentpress codes 8-bit "
                             "images only: convert it to 8 bits first")


def _exif_bytes(image: Image.Image) -> bytes | None:
    exif = image.info.get("exif")
    return exif if isinstance(exif, bytes) and exif else None


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Pixels of an image file as uint8 H×W or H×W×3."""
    return open_image(path).pixels


def to_pil(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")


# The formats decode writes, by file suffix: the lossless ones Pillow writes, with the
# options that keep every pixel. JPEG and lossy WebP would lose what was decoded.
OUTPUT_FORMATS = {
    ".png": ("PNG", {}),
    ".tif": ("TIFF", {"compression": "tiff_deflate"}),
    ".tiff": ("TIFF", {"compression": "tiff_deflate"}),
    ".webp": ("WEBP", {"lossless": True, "quality": 100, "exact": True}),
    ".ppm": ("PPM", {}),
    ".pgm": ("PPM", {}),
    ".pnm": ("PPM", {}),
    ".bmp": ("BMP", {}),
}
_METADATA = {"PNG": ("icc_profile", "exif"), "TIFF": ("icc_profile", "exif"), "WEBP": ("icc_profile", "exif"),
             "PPM": (), "BMP": ()}


def output_format(path: str | os.PathLike) -> str:
    """The format decode writes to ``path`` (its suffix), or ImageError saying what can be."""
    suffix = Path(path).suffix.lower()
    if suffix in OUTPUT_FORMATS:
        return OUTPUT_FORMATS[suffix][0]
    choices = ", ".join(OUTPUT_FORMATS)
    if suffix in (".jpg", ".jpeg", ".jxl", ".avif", ".heic"):
        raise ImageError(f"{os.fspath(path)}: decode writes lossless formats only ({choices}); "
                         f"{suffix} would lose what was decoded: write PNG and convert it if you must")
    raise ImageError(f"{os.fspath(path)}: cannot tell the format from the suffix {suffix or '(none)'!r}: "
                     f"use one of {choices}")


_WEBP_MAX_SIDE = 16383


def check_output_format(format: str, suffix: str, width: int, height: int, channels: int) -> None:
    """ImageError for an image the format cannot hold (checked before decoding it)."""
    if format == "WEBP" and max(width, height) > _WEBP_MAX_SIDE:
        raise ImageError(f"WebP holds images up to {_WEBP_MAX_SIDE} pixels a side; this one is "
                         f"{width}x{height}: use .png or .tif")
    if suffix == ".pgm" and channels != 1:
        raise ImageError("a .pgm file holds greyscale; this image is in colour: use .ppm or .png")


def image_bytes(pixels: np.ndarray, format: str = "PNG", icc_profile: bytes | None = None,
                exif: bytes | None = None, suffix: str = ".png") -> tuple[bytes, list[str]]:
    """The image file's bytes in ``format``, and the metadata the format had no place for."""
    image = to_pil(pixels)
    if suffix == ".ppm" and image.mode == "L":
        image = image.convert("RGB")                # a .ppm holds colour; the grey values stay exact
    elif suffix == ".pgm" and image.mode != "L":
        raise ImageError("a .pgm file holds greyscale; this image is in colour: use .ppm or .png")
    options = dict(OUTPUT_FORMATS.get(suffix, (format, {}))[1])
    dropped = []
    for key, value in (("icc_profile", icc_profile), ("exif", exif)):
        if value:
            if key in _METADATA[format]:
                options[key] = value
            else:
                dropped.append("ICC profile" if key == "icc_profile" else "EXIF")
    buffer = io.BytesIO()
    try:
        image.save(buffer, format=format, **options)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot write {format}: {exc}") from None
    return buffer.getvalue(), dropped


def save_image(pixels: np.ndarray, path: str | os.PathLike, icc_profile: bytes | None = None,
               exif: bytes | None = None, overwrite: bool = True) -> list[str]:
    """Write an image atomically in the lossless format its suffix names (the destination
    appears complete or not at all); returns the metadata the format had no place for."""
    format = output_format(path)
    try:
        data, dropped = image_bytes(pixels, format, icc_profile, exif, Path(path).suffix.lower())
    except ImageError as exc:
        raise ImageError(f"{os.fspath(path)}: {exc}") from None
    with atomic_write(path, overwrite) as handle:
        handle.write(data)
    return dropped


def save_png(pixels: np.ndarray, path: str | os.PathLike, icc_profile: bytes | None = None,
             exif: bytes | None = None, overwrite: bool = True) -> None:
    """Write a PNG atomically (the destination appears complete or not at all)."""
    extra = {}
    if icc_profile:
        extra["icc_profile"] = icc_profile
    if exif:
        extra["exif"] = exif
    with atomic_write(path, overwrite) as handle:
        to_pil(pixels).save(handle, format="PNG", **extra)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class atomic_write:
    """Context manager: write to a temporary file beside ``path``, publish on success.

    The data is flushed to disk before it is published, so ``path`` appears complete or
    not at all. With ``overwrite=False`` publishing fails if ``path`` has appeared in
    the meantime (``FileExistsError``) instead of replacing it. On any exception the
    temporary file is removed and ``path`` is left untouched. The file gets the usual
    permissions (0666 less the umask), not mkstemp's private 0600.
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = True) -> None:
        self.path = Path(path)
        self.overwrite = overwrite

    def __enter__(self):
        directory = self.path.parent if str(self.path.parent) else Path(".")
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=directory)
        os.fchmod(fd, 0o666 & ~_umask())
        self._handle = os.fdopen(fd, "wb")
        return self._handle

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._handle.flush()
                os.fsync(self._handle.fileno())
            self._handle.close()
            if exc_type is None:
                if self.overwrite:
                    os.replace(self._tmp, self.path)
                else:
                    os.link(self._tmp, self.path)    # fails if the name exists
        finally:
            if not self._handle.closed:
                self._handle.close()
            if os.path.exists(self._tmp):
                os.unlink(self._tmp)


def rgb_to_ycbcr(rgb: np.ndarray) -> np.ndarray:
    """Full-range BT.601 (JFIF) RGB → YCbCr, float64, same value range as the input."""
    rgb = rgb.astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b
    cr = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b
    return np.stack([y, cb, cr], axis=-1)


def ycbcr_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr` (float64, not rounded)."""
    y, cb, cr = ycbcr[..., 0], ycbcr[..., 1] - 128.0, ycbcr[..., 2] - 128.0
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    return np.stack([r, g, b], axis=-1)


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """The sides pad_to_multiple gives an image (what a block codec works on)."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def pad_to_multiple(pixels: np.ndarray, multiple: int) -> np.ndarray:
    """Pad bottom/right by edge replication so both sides are multiples of ``multiple``."""
    height, width = pixels.shape[:2]
    pad_h, pad_w = -height % multiple, -width % multiple
    if not pad_h and not pad_w:
        return pixels
    widths = [(0, pad_h), (0, pad_w)] + [(0, 0)] * (pixels.ndim - 2)
    return np.pad(pixels, widths, mode="edge")


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip floats in [0, 255] to uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)
