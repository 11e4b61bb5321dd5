"""Rate-distortion, speed and memory of the ``factorized`` codec on the 24 Kodak images.

    python benchmarks/factorized_kodak.py --kodak ../shared/data/kodak --out results/factorized_kodak.json

For each quality: mean bpp (whole .lpx file), PSNR-RGB, PSNR-Y, MS-SSIM, encode and
decode seconds (in-process, model already loaded), and the peak resident memory of a
fresh process that encodes or decodes one Kodak image (kodim01). JPEG (Pillow,
4:2:0) is measured in the same run as a reference point. The full side-by-side bench
with every classic codec is `latentpress bench` (issue 3).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import latentpress
from latentpress.image import load_image
from latentpress.metrics import ms_ssim, psnr, psnr_y

QUALITIES = (0, 15, 30, 50, 70, 85, 100)
JPEG_QUALITIES = (10, 25, 50, 75, 90)

_RSS_CHILD = r"""
import resource, sys, numpy as np, latentpress
from latentpress.image import load_image
mode, path, quality = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "encode":
    latentpress.encode(load_image(path), "factorized", quality=quality)
else:
    latentpress.decode(open(path, "rb").read())
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def peak_rss_mb(mode: str, image: Path, quality: int) -> int:
    """Peak RSS (MB) of a fresh process that encodes ``image`` or decodes its .lpx."""
    with tempfile.TemporaryDirectory() as folder:
        target = image
        if mode == "decode":
            target = Path(folder) / "image.lpx"
            target.write_bytes(latentpress.encode(load_image(image), "factorized", quality=quality))
        out = subprocess.run([sys.executable, "-c", _RSS_CHILD, mode, str(target), str(quality)],
                             capture_output=True, text=True, check=True)
    return int(out.stdout.strip())


def machine() -> dict:
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "latentpress": latentpress.__version__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", default="../shared/data/kodak")
    parser.add_argument("--out", default="results/factorized_kodak.json")
    args = parser.parse_args()
    paths = sorted(Path(args.kodak).glob("kodim*.png"))
    if len(paths) != 24:
        sys.exit(f"expected 24 Kodak images in {args.kodak}, found {len(paths)}")
    images = [load_image(p) for p in paths]
    latentpress.decode(latentpress.encode(images[0][:64, :64]))   # load the model once

    records = []
    for quality in QUALITIES:
        for path, image in zip(paths, images):
            start = time.perf_counter()
            data = latentpress.encode(image, "factorized", quality=quality)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = latentpress.decode(data)
            decode_s = time.perf_counter() - start
            records.append({"codec": "factorized", "params": {"quality": quality}, "image": path.name,
                            "width": image.shape[1], "height": image.shape[0], "bytes": len(data),
                            "bpp": 8 * len(data) / (image.shape[0] * image.shape[1]),
                            "psnr": psnr(image, decoded), "psnr_y": psnr_y(image, decoded),
                            "ms_ssim": ms_ssim(image, decoded), "encode_s": encode_s, "decode_s": decode_s})
        print(f"factorized q={quality} done", file=sys.stderr)
    for quality in JPEG_QUALITIES:
        for path, image in zip(paths, images):
            start = time.perf_counter()
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, format="JPEG", quality=quality, subsampling=2)
            encode_s = time.perf_counter() - start
            start = time.perf_counter()
            decoded = np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))
            decode_s = time.perf_counter() - start
            size = buffer.getbuffer().nbytes
            records.append({"codec": "jpeg-420", "params": {"quality": quality}, "image": path.name,
                            "width": image.shape[1], "height": image.shape[0], "bytes": size,
                            "bpp": 8 * size / (image.shape[0] * image.shape[1]),
                            "psnr": psnr(image, decoded), "psnr_y": psnr_y(image, decoded),
                            "ms_ssim": ms_ssim(image, decoded), "encode_s": encode_s, "decode_s": decode_s})

    summary = []
    for codec, qualities in (("factorized", QUALITIES), ("jpeg-420", JPEG_QUALITIES)):
        for quality in qualities:
            rows = [r for r in records if r["codec"] == codec and r["params"]["quality"] == quality]
            entry = {"codec": codec, "quality": quality,
                     **{k: float(np.mean([r[k] for r in rows]))
                        for k in ("bpp", "psnr", "psnr_y", "ms_ssim", "encode_s", "decode_s")}}
            if codec == "factorized":
                entry["encode_peak_rss_mb"] = peak_rss_mb("encode", paths[0], quality)
                entry["decode_peak_rss_mb"] = peak_rss_mb("decode", paths[0], quality)
            summary.append(entry)
    result = {"command": "python benchmarks/factorized_kodak.py", "machine": machine(),
              "images": len(paths), "summary": summary, "records": records}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"{'codec':<11}{'q':>4}{'bpp':>8}{'PSNR':>8}{'MS-SSIM':>9}{'enc s':>7}{'dec s':>7}{'enc MB':>8}{'dec MB':>8}")
    for e in summary:
        print(f"{e['codec']:<11}{e['quality']:>4}{e['bpp']:>8.3f}{e['psnr']:>8.2f}{e['ms_ssim']:>9.4f}"
              f"{e['encode_s']:>7.2f}{e['decode_s']:>7.2f}{e.get('encode_peak_rss_mb', ''):>8}{e.get('decode_peak_rss_mb', ''):>8}")


if __name__ == "__main__":
    main()
