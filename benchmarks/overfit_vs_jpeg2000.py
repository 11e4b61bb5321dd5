"""Where the overfit codec stands against JPEG 2000, point by point: for every Kodak
record of an overfit variant (its current identity), the PSNR JPEG 2000 reaches on the
same image at the same rate (interpolated in log-rate between the bench's JPEG 2000
points) and the difference. Reads results/kodak/records.jsonl and meta.json (or another
bench folder's), writes results/overfit/vs-jpeg2000-PRESET.json (…-PRESET-FOLDER.json
for another folder) with per-quality medians.

Points below the bench's lowest JPEG 2000 rate (its lowest target is 24 dB) are left
out, unless IMAGES (the folder of the bench's images) is given: JPEG 2000 is then also
encoded at lower targets (LOW_LEVELS, the bench's encoder and settings) for the images
that have such points, and those points are compared on the extended curve
(``extended`` in the output: the points it adds).

    python benchmarks/overfit_vs_jpeg2000.py [VARIANT [FOLDER [IMAGES]]]   (default: overfit-fast results/kodak)
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LOW_LEVELS = (12, 14, 16, 18, 20, 22)


def low_points(path: Path) -> list[tuple[float, float]]:
    """(bpp, PSNR) of JPEG 2000 at LOW_LEVELS on one image, as the bench encodes it."""
    from latentpress.bench.classic import CLASSIC
    from latentpress.image import load_image
    from latentpress.metrics import psnr

    codec, image = CLASSIC["jpeg2000"], load_image(path)
    out = []
    for level in LOW_LEVELS:
        data = codec.encode(image, {"level": level})
        out.append((8 * len(data) / (image.shape[0] * image.shape[1]), psnr(image, codec.decode(data))))
    return out


def main() -> None:
    variant = sys.argv[1] if len(sys.argv) > 1 else "overfit-fast"
    folder = Path(sys.argv[2]).resolve() if len(sys.argv) > 2 else ROOT / "results" / "kodak"
    images = Path(sys.argv[3]).resolve() if len(sys.argv) > 3 else None
    identity = json.loads((folder / "meta.json").read_text())["codecs"][variant]["identity"]
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    anchor: dict[str, list[tuple[float, float]]] = {}
    for r in records:
        if r["codec"] == "jpeg2000" and r.get("psnr") is not None:
            anchor.setdefault(r["image"], []).append((r["bpp"], r["psnr"]))
    ours = [r for r in records if r["codec"] == variant and r["identity"] == identity and r["image"] in anchor]
    extended: dict[str, list[tuple[float, float]]] = {}
    if images is not None:
        for name in sorted({r["image"] for r in ours if r["bpp"] < min(b for b, _ in anchor[r["image"]])}):
            extended[name] = low_points(images / name)
            anchor[name] = anchor[name] + [p for p in extended[name] if p[0] < min(b for b, _ in anchor[name])]
    points = []
    for r in ours:
        rates, psnrs = zip(*sorted(anchor[r["image"]]))
        if not rates[0] <= r["bpp"] <= rates[-1]:
            continue
        reference = float(np.interp(math.log(r["bpp"]), np.log(rates), psnrs))
        points.append({"image": r["image"], "quality": r["params"]["quality"], "bpp": r["bpp"], "psnr": r["psnr"],
                       "jpeg2000_psnr": reference, "difference_db": r["psnr"] - reference})
    qualities = sorted({p["quality"] for p in points})
    summary = {}
    for q in qualities:
        diffs = [p["difference_db"] for p in points if p["quality"] == q]
        summary[str(q)] = {"points": len(diffs), "median_db": statistics.median(diffs), "min_db": min(diffs),
                           "max_db": max(diffs), "below": sum(d < 0 for d in diffs)}
        print(f"quality {q}: {len(diffs)} points, median {statistics.median(diffs):+.2f} dB, "
              f"{sum(d < 0 for d in diffs)} below JPEG 2000")
    suffix = "" if folder == ROOT / "results" / "kodak" else f"-{folder.name}"
    out = ROOT / "results" / "overfit" / f"vs-jpeg2000-{variant.removeprefix('overfit-')}{suffix}.json"
    out.write_text(json.dumps({"variant": variant, "identity": identity, "by_quality": summary, "points": points}
                              | ({"extended": {"levels": LOW_LEVELS, "points": extended}} if images else {}),
                              indent=1) + "\n")


if __name__ == "__main__":
    main()
