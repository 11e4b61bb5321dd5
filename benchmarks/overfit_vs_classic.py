"""BD-rate (PSNR) of each overfit preset against the classic codecs of issue 4's targets
(JPEG 2000, AVIF, HEIC), both ways of averaging over Kodak: the average curve (from the
report's BD matrix in results/kodak/summary.json: run `latentpress report` first) and
the mean of the 24 images' own BD-rates (from the bench records, as the report reads
them: each codec's newest identity); writes results/overfit/vs-classic.json.

    python benchmarks/overfit_vs_classic.py
"""

from __future__ import annotations

import json
from pathlib import Path

from latentpress.bench.report import _per_image, load

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ("jpeg2000", "avif", "heic")


def main() -> None:
    codecs, _ = load(ROOT / "results" / "kodak")
    # matrix[anchor][codec]: BD-rate of codec against anchor on the average curves.
    matrix = json.loads((ROOT / "results" / "kodak" / "summary.json").read_text())["bd_matrix_psnr"]
    out = {"command": "python benchmarks/overfit_vs_classic.py", "presets": {}}
    for preset in ("fast", "medium", "slow"):
        test = codecs[f"overfit-{preset}"]
        entry = {}
        for anchor_name in ANCHORS:
            anchor = codecs[anchor_name]
            images = {r["image"] for r in test.records} & {r["image"] for r in anchor.records}
            per_image, count = _per_image(test, anchor, images, "psnr")
            entry[anchor_name] = {"average curve (%)": round(matrix[anchor_name][f"overfit-{preset}"], 2),
                                  "per image (%)": round(per_image, 2), "images": count}
        out["presets"][preset] = entry
        print(preset, json.dumps(entry))
    path = ROOT / "results" / "overfit" / "vs-classic.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
