"""The overfit codec's warm start: Laplacian pyramid (payload version 2) against the CDF
9/7 wavelet (version 3), through the real encoder and file, on one image at several
qualities. Both use the medium preset (its networks, its ARM fitting, no joint
training: the file is the warm start plus the ARM fitted to it), seed 0. Writes
results/overfit/transforms-IMAGE.json (resumable) with the JPEG 2000 PSNR at the same
rate from the Kodak bench records when they exist.

    python benchmarks/overfit_transforms.py [IMAGE] [QUALITIES...]
    (default: ../shared/data/kodak/kodim23.png 2 4 6 8)
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

import latentpress
from latentpress.codecs.overfit import codec as overfit_codec
from latentpress.image import load_image
from latentpress.metrics import psnr

ROOT = Path(__file__).resolve().parent.parent


def jpeg2000_psnr_at(image: str, bpp: float) -> float | None:
    """PSNR of JPEG 2000 at this rate on this image, interpolated (log-rate) between the
    bench's rate points."""
    points = []
    records = ROOT / "results" / "kodak" / "records.jsonl"
    if not records.exists():
        return None
    for line in records.read_text().splitlines():
        row = json.loads(line)
        if row.get("codec") == "jpeg2000" and row.get("image") == image and "bpp" in row:
            points.append((row["bpp"], row["psnr"]))
    points.sort()
    if len(points) < 2 or not points[0][0] <= bpp <= points[-1][0]:
        return None
    rates, psnrs = zip(*points)
    return float(np.interp(np.log(bpp), np.log(rates), psnrs))


def main() -> None:
    image_path = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "kodak" / "kodim23.png")
    qualities = [int(q) for q in sys.argv[2:]] or [30, 50, 70, 90]
    out = ROOT / "results" / "overfit" / f"transforms-{image_path.stem}.json"
    rows = json.loads(out.read_text()) if out.exists() else {}
    image = load_image(image_path)
    pixels = image.shape[0] * image.shape[1]
    medium = overfit_codec.PRESETS["medium"]
    try:
        for transform in ("pyramid", "wavelet"):
            levels = 7 if transform == "pyramid" else 6
            overfit_codec.PRESETS["medium"] = dataclasses.replace(
                medium, architecture=dataclasses.replace(medium.architecture, transform=transform, levels=levels))
            for quality in qualities:
                key = f"{transform}-q{quality}"
                if key in rows:
                    continue
                started = time.perf_counter()
                data = latentpress.encode(image, "overfit", preset="medium", quality=quality)
                seconds = time.perf_counter() - started
                bpp = 8 * len(data) / pixels
                rows[key] = {"transform": transform, "quality": quality, "arch": latentpress.read_info(data).params["arch"],
                             "bpp": bpp, "psnr": psnr(image, latentpress.decode(data)), "encode_s": seconds,
                             "jpeg2000_psnr_at_bpp": jpeg2000_psnr_at(image_path.name, bpp)}
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
                print(key, {k: v for k, v in rows[key].items() if k != "transform"}, flush=True)
    finally:
        overfit_codec.PRESETS["medium"] = medium


if __name__ == "__main__":
    main()
