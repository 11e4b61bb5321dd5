"""SHA-256 of what every codec writes for fixed small inputs, to check that a change of
code leaves every bitstream alone.

    python benchmarks/encode_digests.py --out before.json    # on the old revision
    python benchmarks/encode_digests.py --check before.json  # on the new one

Encoders train on the CPU, so digests are only comparable on the same machine and
library versions; the file records both. Each case decodes its file too, and the
digest of the decoded pixels is kept beside the file's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

import latentpress

KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"

# (codec, params, image name): small images and short trainings, one case per payload
# variant a codec can write.
CASES = [
    ("factorized", {"quality": 20}, "rgb"),
    ("factorized", {"quality": 80}, "grey"),
    ("overfit", {"preset": "fast", "quality": 30}, "rgb"),
    ("overfit", {"preset": "medium", "quality": 70, "iterations": 20}, "rgb"),
    ("overfit", {"preset": "fast", "quality": 50}, "grey"),
    ("overfit", {"preset": "fast", "quality": 50}, "thin"),
    ("lossless", {"iterations": 40}, "rgb"),
    ("lossless", {"iterations": 40, "hidden": 8, "context": "3x3"}, "grey"),
    ("mlp-lossless", {"iterations": 40}, "rgb"),
    ("mlp-lossless", {"iterations": 40}, "grey"),
    ("block-cnn", {"epochs": 3, "code_length": 16, "block": 16}, "rgb"),
    ("block-cnn", {"epochs": 3, "code_length": 16, "block": 16, "storage": "float32", "tolerance": 10.0}, "large"),
    ("block-convlstm", {"epochs": 2, "code_length": 16, "block": 16}, "rgb"),
    ("cae", {"bpp": 0.5}, "rgb"),
    ("cae", {"bpp": 1.0, "entropy": "range"}, "rgb"),
    ("cae", {"bpp": 0.5, "patches": True, "pca": False}, "grey"),
    ("cnn-ae", {}, "rgb"),
    ("cnn-ae", {"entropy": "range", "deblock": True}, "grey"),
    ("cnn-rnn-ae", {"steps": 2, "entropy": "range"}, "rgb"),
    ("cnn-ae-ft", {"iterations": 20}, "rgb"),
    ("gan-ae", {"entropy": "range"}, "rgb"),
    ("dense-mnist", {}, "digit"),
    ("dense-mnist", {"code": "range", "model": "fashion"}, "digit"),
    ("dense-mnist", {"code": "float16"}, "digit"),
]


def images() -> dict[str, np.ndarray]:
    photo = np.asarray(Image.open(KODAK / "kodim23.png").convert("RGB"))
    rgb = np.ascontiguousarray(photo[200:264, 300:396])
    grey = np.ascontiguousarray(np.asarray(Image.fromarray(photo[100:148, 100:164]).convert("L")))
    thin = np.ascontiguousarray(photo[10:12, 0:200])
    large = np.ascontiguousarray(np.asarray(Image.fromarray(photo[:256, :384]).convert("L")))
    yy, xx = np.mgrid[0:28, 0:28]
    digit = (np.clip(255 - 40 * np.hypot(yy - 14, xx - 14), 0, 255)).astype(np.uint8)
    return {"rgb": rgb, "grey": grey, "thin": thin, "large": large, "digit": digit}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--out", type=Path)
    group.add_argument("--check", type=Path)
    parser.add_argument("--only", help="comma-separated codec names")
    args = parser.parse_args()
    inputs = images()
    only = set(args.only.split(",")) if args.only else None
    rows = []
    for codec, params, name in CASES:
        if only and codec not in only:
            continue
        start = time.perf_counter()
        data = latentpress.encode(inputs[name], codec, **params)
        pixels = latentpress.decode(data)
        rows.append({"codec": codec, "params": params, "image": name, "bytes": len(data),
                     "file": hashlib.sha256(data).hexdigest(),
                     "pixels": hashlib.sha256(pixels.tobytes()).hexdigest(),
                     "seconds": round(time.perf_counter() - start, 2)})
        print(f"{codec:15} {name:6} {len(data):7} B  {rows[-1]['file'][:16]}  {rows[-1]['seconds']} s", flush=True)
    machine = {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
               "numpy": np.__version__}
    if args.out:
        args.out.write_text(json.dumps({"machine": machine, "cases": rows}, indent=1) + "\n")
        return 0
    old = {(r["codec"], json.dumps(r["params"], sort_keys=True), r["image"]): r
           for r in json.loads(args.check.read_text())["cases"]}
    changed = 0
    for row in rows:
        before = old.get((row["codec"], json.dumps(row["params"], sort_keys=True), row["image"]))
        if before is None:
            print(f"new case: {row['codec']} {row['image']}")
        elif (before["file"], before["pixels"]) != (row["file"], row["pixels"]):
            changed += 1
            print(f"CHANGED: {row['codec']} {row['params']} {row['image']}: "
                  f"{before['bytes']} -> {row['bytes']} bytes")
    print(f"{len(rows)} cases, {changed} changed")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
