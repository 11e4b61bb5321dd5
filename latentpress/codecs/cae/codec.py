"""Codec ``cae``: report 003 — a pretrained convolutional autoencoder, PCA rotation of its
feature maps, and JPEG 2000's entropy coder with its rate control.

Report 003: Zhengxue Cheng, Heming Sun, Masaru Takeuchi, Jiro Katto, "Deep Convolutional
AutoEncoder-based Lossy Image Compression", Picture Coding Symposium (PCS) 2018. Its
networks are in model.py (trained by latentpress/train/cae.py), its method here.

Encoding (§II-B), per image:

1. RGB → YCbCr (full-range BT.601) in [0, 1]; each component through its CAE encoder
   (model.py; Y through the luma model, Cb and Cr through the chroma model), giving n6
   feature maps at 1/8 resolution. ``patches=true`` cuts the image into 128×128 patches
   coded independently, as the report does (§II-A; block artefacts, §III-B); the
   default runs the fully convolutional networks on the whole image (padded to a
   multiple of 8 by edge replication), which costs fewer bits (no patch borders).
2. PCA per component: U = the eigenvectors of the maps' second-moment matrix
   (eq. 2, n6×n6, uncentred so that no means need storing), sorted by eigenvalue; U is
   quantized to integers at 2^−u_bits (u_bits chosen per image, below) and stored; the
   maps are rotated, Y′ = Ûᵀ·Y (eq. 3), so energy gathers in the first maps.
3. The rotated maps are tiled in vertical-scan order (map k at row k mod 8, column
   k div 8 of the mosaic) and quantized to B = 12 bits between their minimum and maximum
   (eq. 4); the luma mosaic sits on top, Cb and Cr side by side below it, in one
   12-bit greyscale image.
4. ``entropy=jpeg2000`` (default): OpenJPEG (through Pillow) codes that image with its
   rate control aimed at ``bpp`` for the whole file (header and side information
   included), so EBCOT's post-compression rate-distortion optimisation shares the bits
   between all maps of all components. Where the header and the rotation leave less
   than 0.01 byte per map value (a small image at a low bpp), the maps get that much
   and the file overshoots the target. ``entropy=range`` (beyond the report): the 12-bit values are instead
   quantized uniformly around the level of zero, with the finest step whose coded size
   meets ``bpp`` (bisection on the size), and range-coded under per-file factorized
   priors (entropy/integer_tensors.py, layout "rows": a table per map, one shared table, or a Laplace per
   map, whichever codes smallest). One step for all maps of the
   orthonormal rotation spends bits where reverse water-filling would: maps weaker than
   the step quantize to zeros.

Decoding: eq. (5) dequantization, eq. (6) Y = Û⁻ᵀ·Y′ (solved exactly, so the stored
Û need not be orthonormal), the CAE decoders, YCbCr → RGB, crop. ``pca=false``
skips the rotation (U = identity, not stored): the report's ablation.

u_bits (4…10) is the precision at which U costs least: its bytes are taken from the
maps' budget, and a coarser Û gathers energy less well; a Gaussian reverse
water-filling estimate of the maps' distortion at the remaining budget decides.
Precisions whose Û is ill-conditioned (its inverse would amplify the maps' coding
error by more than 10%) are skipped.

Payload version 1. Header parameters (CAEHeader): ``model`` (the shipped weights' id),
``bpp`` (the target, not read by the decoder), ``entropy``, ``pca``, ``patches``,
``u_bits`` (with PCA only), ``step16`` (range mode only: the uniform quantization step on
the 12-bit scale, in sixteenths; the quantized values are counted from the level of
zero, −low/(high−low)·4095). Sections, in order:

``RANG``  float32 minimum and maximum of all rotated maps (eq. 4; one range for all
          components, so that JPEG 2000's rate allocation weighs their errors alike)
``PCAU``  per component: Û as integer rows (entropy/integer_tensors.py, layout "tensors"), absent
          without PCA
``MAPS``  jpeg2000: the JPEG 2000 codestream of the mosaic (one component, one tile:
          the decoder refuses any structure the encoder does not write before OpenJPEG
          sees it, jpeg2000.check_codestream); range: the quantized mosaic rows
          (entropy/integer_tensors.py, layout "rows"), one row per map
"""

from __future__ import annotations

import functools
import math
import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import numpy as np
import torch

from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.cae import jpeg2000, rotation
from latentpress.codecs.cae.model import (
    CHROMA,
    DOWNSAMPLING,
    LUMA,
    ConvolutionalAutoencoder,
)
from latentpress.container import Header, Section
from latentpress.entropy.integer_tensors import (
    decode_rows,
    decode_tensors,
    encode_rows,
)
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.image import padded_size, rgb_to_ycbcr, to_uint8, ycbcr_to_rgb
from latentpress.nn.tiling import tiled_apply, tiled_map, tiled_map_thin
from latentpress.weights import load_weights

MODEL_ID = "cae-v1"
WEIGHTS = {"luma": "cae-luma-v1.safetensors", "chroma": "cae-chroma-v1.safetensors"}
BITS = 12                                   # B of eq. (4)
LEVELS = (1 << BITS) - 1
PATCH = 128                                 # the report's patch size (§II-A)
MAX_PIXELS = 1 << 24
MAX_STEP = 1 << 12
_OVERHEAD_BYTES = 200                       # header and container framing, inside the bpp target
MIN_MAP_BYTES_PER_VALUE = 0.01              # JPEG 2000's floor when the side information eats the target
ENTROPY = ("jpeg2000", "range")
# Whole-image inference in tiles (pixels; margins cover the networks' receptive fields).
_TILE, _MARGIN = 512, 64
# Maps at most this many rows high (images up to 64 pixels high) decode their windows in
# batches (tiled_map_thin); taller ones window by window, whose values batching would
# change by float rounding.
_THIN_MAP_ROWS = 8
_PATCH_BATCH = 32


@dataclass(frozen=True)
class CAEParams:
    bpp: float = 1.0
    """Target rate of the whole file, bits per pixel (the report: 0.12 to 2.4)."""
    entropy: str = "jpeg2000"
    """jpeg2000 (the report: OpenJPEG's EBCOT with rate control) or range (our range coder)."""
    pca: bool = True
    """Rotate the feature maps by PCA (§II-B); false is the report's ablation."""
    patches: bool = False
    """Code 128×128 patches independently, as the report does (block artefacts)."""

    def validate(self) -> None:
        if not 0.01 <= self.bpp <= 24:
            raise ParameterError(f"bpp must be between 0.01 and 24, got {self.bpp}")
        if self.entropy not in ENTROPY:
            raise ParameterError(f"entropy must be one of {', '.join(ENTROPY)}, got {self.entropy!r}")


@dataclass(frozen=True)
class CAEHeader:
    model: str
    entropy: Literal["jpeg2000", "range"]
    pca: bool
    patches: bool
    u_bits: int | None = None         # with PCA only
    step16: int | None = None         # range coding only
    bpp: float | None = None          # the target the file was made for: not needed to decode it

    def check(self) -> None:
        if self.model != MODEL_ID:
            raise CorruptPayloadError(f"file was made with model {self.model!r}; this build has {MODEL_ID!r}")
        if self.pca != (self.u_bits is not None) or self.pca and self.u_bits not in rotation.U_BITS:
            raise CorruptPayloadError(f"invalid u_bits {self.u_bits!r} (pca {self.pca})")
        if (self.entropy == "range") != (self.step16 is not None) \
                or self.step16 is not None and not 16 <= self.step16 <= 16 * MAX_STEP:
            raise CorruptPayloadError(f"invalid step16 {self.step16!r} (entropy {self.entropy})")


@functools.cache
def _models() -> dict[str, ConvolutionalAutoencoder]:
    models = {}
    for component, arch in (("luma", LUMA), ("chroma", CHROMA)):
        model = ConvolutionalAutoencoder(arch)
        model.load_state_dict(load_weights(WEIGHTS[component]))
        model.eval()
        models[component] = model
    return models


def _component_models(channels: int) -> list[ConvolutionalAutoencoder]:
    models = _models()
    return [models["luma"]] + [models["chroma"]] * (channels - 1)


def _planes(image: np.ndarray) -> np.ndarray:
    """uint8 H×W(×3) → C×H×W float32 YCbCr in [0, 1]."""
    if image.ndim == 2:
        return (image[None].astype(np.float32) / 255.0)
    return (rgb_to_ycbcr(image) / 255.0).transpose(2, 0, 1).astype(np.float32)


def _grid(height: int, width: int, patches: bool) -> tuple[int, int]:
    """The padded size the networks see, bounded before anything is allocated (a thin
    image pads to a whole row of patches)."""
    multiple = PATCH if patches else DOWNSAMPLING
    grid_h, grid_w = padded_size(height, width, multiple)
    if grid_h * grid_w > MAX_PIXELS:
        raise LimitError(f"cae codes images up to {MAX_PIXELS:,} pixels (padded to multiples of "
                         f"{multiple}); {width}x{height} pads to {grid_h * grid_w:,}")
    return grid_h, grid_w


def _analysis(model: ConvolutionalAutoencoder, plane: np.ndarray, patches: bool) -> np.ndarray:
    """H×W (padded) → n6×H/8×W/8 feature maps."""
    x = torch.from_numpy(np.ascontiguousarray(plane))[None, None]
    with torch.inference_mode():
        if not patches:
            return tiled_apply(model.encode, x, Fraction(1, DOWNSAMPLING), _TILE, _MARGIN)[0].numpy()
        rows, columns = plane.shape[0] // PATCH, plane.shape[1] // PATCH
        tiles = x.reshape(rows, PATCH, columns, PATCH).permute(0, 2, 1, 3).reshape(-1, 1, PATCH, PATCH)
        codes = torch.cat([model.encode(tiles[i:i + _PATCH_BATCH]) for i in range(0, len(tiles), _PATCH_BATCH)])
        side = PATCH // DOWNSAMPLING
        maps = codes.reshape(rows, columns, -1, side, side).permute(2, 0, 3, 1, 4)
        return maps.reshape(-1, rows * side, columns * side).numpy()


def _synthesis(model: ConvolutionalAutoencoder, maps: np.ndarray, patches: bool) -> np.ndarray:
    """n6×h×w → (8h)×(8w) plane."""
    y = torch.from_numpy(np.ascontiguousarray(maps, dtype=np.float32))[None]
    height, width = maps.shape[1] * DOWNSAMPLING, maps.shape[2] * DOWNSAMPLING
    with torch.inference_mode():
        if not patches:
            out = np.empty((height, width), np.float32)
            tile, margin = _TILE // DOWNSAMPLING, _MARGIN // DOWNSAMPLING
            windows = tiled_map_thin(model.decode, y, DOWNSAMPLING, tile, margin) if maps.shape[1] <= _THIN_MAP_ROWS \
                else tiled_map(model.decode, y, Fraction(DOWNSAMPLING), tile, margin)
            for top, left, part in windows:
                out[top:top + part.shape[-2], left:left + part.shape[-1]] = part[0, 0].numpy()
            return out
        side = PATCH // DOWNSAMPLING
        rows, columns = maps.shape[1] // side, maps.shape[2] // side
        tiles = y[0].reshape(-1, rows, side, columns, side).permute(1, 3, 0, 2, 4).reshape(rows * columns, -1, side, side)
        out = torch.cat([model.decode(tiles[i:i + _PATCH_BATCH]) for i in range(0, len(tiles), _PATCH_BATCH)])
        return out.reshape(rows, columns, PATCH, PATCH).permute(0, 2, 1, 3).reshape(height, width).numpy()


def _zero_level(low: float, high: float) -> float:
    """Where the value 0 falls on the 12-bit scale of eq. (4): range mode quantizes around it,
    so that the low-energy rotated maps, near zero, cost next to nothing."""
    return -low / (high - low) * LEVELS


def _range_code(rows: np.ndarray, target_bytes: float) -> tuple[int, bytes]:
    """The finest quantization step (step16 / 16 levels) whose range-coded rows fit the
    target, found by bisection on the coded size itself (the size falls as the step grows,
    up to a few bytes of table choices, so the result may sit a step or two above the
    finest)."""
    def coded(step16: int) -> bytes:
        return encode_rows(np.rint(rows * (16.0 / step16)).astype(np.int64))

    low, high = 16, 16 * MAX_STEP
    found = None
    while low < high:
        middle = (low + high) // 2
        data = coded(middle)
        if len(data) <= target_bytes:
            high, found = middle, (middle, data)
        else:
            low = middle + 1
    if found is None or found[0] != low:
        found = (low, coded(low))           # the coarsest step: the smallest file there is
    return found


@register
class CAECodec(Codec):
    name = "cae"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin.
    decode_base_bytes = 224 << 20
    decode_bytes_per_pixel = 152
    version = 1
    description = "report 003: pretrained convolutional autoencoder + PCA rotation + JPEG 2000 entropy coder, bpp target"
    Params = CAEParams
    HeaderParams = CAEHeader

    quality_meaning = "the bpp target, 0.12 to 2.4, log-spaced (0.54 at 50)"

    @classmethod
    def quality_params(cls, quality: int) -> dict:
        """Quality 0-100 → the bpp target, log-spaced over the report's range: 0.12 bpp at
        0, 2.4 at 100 (0.54 at 50)."""
        return {"bpp": round(0.12 * 20.0 ** (quality / 100), 4)}

    @classmethod
    def working_pixels(cls, header: Header) -> int:
        """The padded grid the decoder works on (_grid): whole 128×128 patches with
        ``patches=true`` (a 1-pixel-high image costs 128 rows), multiples of 8 without.
        The parameters are untrusted: anything but ``patches: false`` counts as patches
        (the decoder refuses an invalid value, but the estimate must not raise). Counted on
        the header's pixels, a thin file with patches would be underestimated
        (results/security/crafted-memory.json)."""
        return math.prod(padded_size(header.height, header.width,
                                     DOWNSAMPLING if header.params.get("patches") is False else PATCH))

    def encode(self, image: np.ndarray, params: CAEParams) -> Payload:
        height, width = image.shape[:2]
        if height * width > MAX_PIXELS:
            raise LimitError(f"cae codes images up to {MAX_PIXELS:,} pixels; this one has {height * width:,}")
        planes = _planes(image)
        grid_h, grid_w = _grid(height, width, params.patches)
        padded = np.pad(planes, [(0, 0), (0, grid_h - height), (0, grid_w - width)], mode="edge")
        models = _component_models(len(planes))
        maps = [_analysis(model, plane, params.patches) for model, plane in zip(models, padded)]
        budget = params.bpp * height * width / 8 - _OVERHEAD_BYTES
        header = {"model": MODEL_ID, "bpp": params.bpp, "entropy": params.entropy, "pca": params.pca,
                  "patches": params.patches}
        sections = []
        if params.pca:
            bits, integers = rotation.choose_rotation(maps, budget)
            rotated = rotation.rotate(integers, bits, maps)
            side = rotation.rotation_bytes(integers)
            header["u_bits"] = bits
        else:
            rotated, side = [m.astype(np.float64) for m in maps], b""
        low = min(float(r.min()) for r in rotated)
        high = max(float(r.max()) for r in rotated)
        low, high = float(np.float32(low)), float(np.float32(high))
        if not high > low:
            high = low + 1.0
        sections.append(Section("RANG", struct.pack("<ff", low, high)))
        if params.pca:
            sections.append(Section("PCAU", side))
        target = budget - len(side) - 8
        levels = [(r - low) / (high - low) * LEVELS for r in rotated]          # eq. (4), unrounded
        if params.entropy == "jpeg2000":
            mosaic = jpeg2000.to_mosaic([np.clip(np.rint(v), 0, LEVELS).astype(np.uint16) for v in levels])
            # Where the header and the rotation leave (almost) nothing of the target (a
            # small image at a low bpp), JPEG 2000 would code no maps at all and decode
            # mid-grey levels far from the maps' zero: give it a floor, and overshoot.
            target = max(target, MIN_MAP_BYTES_PER_VALUE * mosaic.size)
            sections.append(Section("MAPS", jpeg2000.encode(mosaic, target)))
        else:
            rows = np.concatenate([v.reshape(v.shape[0], -1) for v in levels]) - _zero_level(low, high)
            step16, coded = _range_code(rows, target)
            sections.append(Section("MAPS", coded))
            header["step16"] = step16
        return Payload(sections, header)

    def decode(self, header: Header, sections) -> np.ndarray:
        self.check_version(header)
        stored = self.header_params(header)
        rotated_maps, patches = stored.pca, stored.patches
        height, width = header.height, header.width
        if height * width > MAX_PIXELS:
            raise LimitError(f"cae decodes images up to {MAX_PIXELS:,} pixels; this one claims {height * width:,}")
        models = _component_models(header.channels)
        channels = [m.arch.code_channels for m in models]
        grid_h, grid_w = _grid(height, width, patches)
        map_h, map_w = grid_h // DOWNSAMPLING, grid_w // DOWNSAMPLING
        data = self.expect_sections(sections, ["RANG", "PCAU", "MAPS"] if rotated_maps else ["RANG", "MAPS"])
        if len(data[0]) != 8:
            raise CorruptPayloadError("RANG must hold two float32 values")
        low, high = struct.unpack("<ff", data[0])
        if not (math.isfinite(low) and math.isfinite(high) and high > low):
            raise CorruptPayloadError(f"RANG: invalid range {low}, {high}")
        if stored.entropy == "jpeg2000":
            mosaic = jpeg2000.decode(data[-1], jpeg2000.mosaic_shape(channels, map_h, map_w), LEVELS)
            levels = [v.astype(np.float64) for v in jpeg2000.from_mosaic(mosaic, channels, map_h, map_w)]
        else:
            rows = (decode_rows(data[-1], sum(channels), map_h * map_w, "MAPS") * (stored.step16 / 16.0)
                    + _zero_level(low, high))
            levels, start = [], 0
            for count in channels:
                levels.append(rows[start:start + count].reshape(count, map_h, map_w))
                start += count
        rotated = [low + v * ((high - low) / LEVELS) for v in levels]             # eq. (5)
        if rotated_maps:
            bits = stored.u_bits
            columns = decode_tensors(data[1], [(c,) for c in channels for _ in range(c)], "PCAU")
            maps, start = [], 0
            for count, values in zip(channels, rotated):
                u = np.stack(columns[start:start + count], axis=1) / (1 << bits)
                maps.append(rotation.unrotate(u, values))                                  # eq. (6)
                start += count
        else:
            maps = rotated
        # A crafted file can drive the networks to ±inf or NaN: clamp, NaN → mid-grey.
        planes = [np.nan_to_num(_synthesis(model, m, patches)[:height, :width], nan=0.5, posinf=1.0, neginf=0.0)
                  for model, m in zip(models, maps)]
        if header.channels == 1:
            return to_uint8(planes[0] * 255.0)
        return to_uint8(ycbcr_to_rgb(np.stack(planes, axis=-1).astype(np.float64) * 255.0))
