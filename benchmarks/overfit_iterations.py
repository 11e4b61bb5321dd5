"""What joint training buys the overfit codec: the real encode (file size, PSNR, time) of
one image at one quality for a series of joint-iteration counts, with the medium
preset's networks and ARM fitting. Writes
results/overfit/iterations-IMAGE-qQ-wavelet.json (resumable: counts already measured
are kept; iterations-kodim23-q6.json holds the same for the version-2 pyramid).

    python benchmarks/overfit_iterations.py [IMAGE] [QUALITY] [COUNTS...]
    (default: ../shared/data/kodak/kodim23.png 6 0 60 180)

Iteration count 0 is the warm start with the ARM fitted to it (the medium preset).
Run it alone on the machine: it measures encode time.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

import latentpress
from latentpress.image import load_image
from latentpress.metrics import psnr


def main() -> None:
    image_path = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/kodak/kodim23.png")
    quality = int(sys.argv[2]) if len(sys.argv) > 2 else 70
    counts = [int(c) for c in sys.argv[3:]] or [0, 60, 180]
    out = Path(__file__).resolve().parent.parent / "results" / "overfit" / f"iterations-{image_path.stem}-q{quality}-wavelet.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = json.loads(out.read_text()) if out.exists() else {}
    image = load_image(image_path)
    pixels = image.shape[0] * image.shape[1]
    for count in counts:
        if str(count) in rows:
            continue
        started = time.perf_counter()
        # iterations=0 means "the preset's", which for medium is none.
        data = latentpress.encode(image, "overfit", preset="medium", quality=quality, iterations=count)
        seconds = time.perf_counter() - started
        decoded = latentpress.decode(data)
        rows[str(count)] = {"bpp": 8 * len(data) / pixels, "psnr": psnr(image, decoded), "encode_s": seconds,
                            "threads": torch.get_num_threads()}
        out.write_text(json.dumps(rows, indent=2, sort_keys=True) + "\n")
        print(count, {k: round(v, 4) for k, v in rows[str(count)].items()}, flush=True)


if __name__ == "__main__":
    main()
