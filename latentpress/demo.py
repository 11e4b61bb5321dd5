"""``latentpress demo``: compress and decompress one image and report what happened.

With no image given it uses a generated 512×384 test picture (smooth gradients, hard
edges, fine stripes and texture), so the demo needs no data files.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from latentpress import api
from latentpress.codecs.base import DEFAULT_CODEC
from latentpress.image import atomic_write, load_image, save_png
from latentpress.metrics import ms_ssim, psnr


def synthetic_image(width: int = 512, height: int = 384, seed: int = 2026) -> np.ndarray:
    """A deterministic synthetic RGB picture with the structures codecs find hard."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.empty((height, width, 3))
    image[..., 0] = 120 + 100 * np.sin(xx / 70.0) * np.cos(yy / 90.0)
    image[..., 1] = 60 + 150 * (yy / height)
    image[..., 2] = 200 - 140 * (xx / width)
    for cx, cy, radius, colour in ((140, 120, 70, (230, 40, 40)), (380, 250, 95, (30, 160, 60)),
                                   (300, 90, 40, (250, 220, 40))):
        disc = (xx - cx) ** 2 + (yy - cy) ** 2 < radius ** 2
        image[disc] = colour
    stripes = (slice(280, 360), slice(30, 230))
    image[stripes] = np.where((xx[stripes] // 3) % 2 == 0, 235.0, 25.0)[..., None]
    texture = (slice(20, 110), slice(400, 500))
    image[texture] = 128 + rng.normal(0, 35, image[texture].shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def run_demo(image_path: str | None = None, codec: str | None = None,
             params: dict | None = None, keep: str | None = None, out=print) -> dict:
    pixels = load_image(image_path) if image_path else synthetic_image()
    source = image_path or "generated 512x384 test image"
    codec = codec or DEFAULT_CODEC
    started = time.perf_counter()
    data = api.encode(pixels, codec, **(params or {}))
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    decoded = api.decode(data)
    decode_s = time.perf_counter() - started
    height, width = pixels.shape[:2]
    result = {
        "image": source, "codec": codec, "bytes": len(data), "width": width, "height": height,
        "bpp": 8.0 * len(data) / (width * height), "psnr": psnr(pixels, decoded),
        "ms_ssim": ms_ssim(pixels, decoded) if min(height, width) > 160 else None,
        "encode_s": encode_s, "decode_s": decode_s,
        "raw_bytes": pixels.size, "ratio": pixels.size / len(data),
    }
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="latentpress-demo-"))
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / "demo.lpx") as handle:
        handle.write(data)
    save_png(decoded, folder / "demo-decoded.png")
    out(f"latentpress demo — {source}")
    out(f"  codec      {codec} {dict(api.read_info(data).params)}")
    out(f"  size       {result['bytes']:,} bytes ({result['ratio']:.1f}:1 vs {result['raw_bytes']:,} raw)")
    out(f"  bpp        {result['bpp']:.4f}")
    out(f"  PSNR       {result['psnr']:.2f} dB" + (f", MS-SSIM {result['ms_ssim']:.4f}" if result["ms_ssim"] else ""))
    out(f"  time       encode {encode_s:.2f} s, decode {decode_s:.2f} s")
    out(f"  written    {folder / 'demo.lpx'} and {folder / 'demo-decoded.png'}")
    out(f"  inspect    latentpress info {folder / 'demo.lpx'}")
    return result
