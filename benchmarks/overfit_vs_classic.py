"""BD-rate (PSNR) of each overfit preset against the classic codecs of issue 4's targets
(JPEG 2000, AVIF, HEIC), both ways of averaging over Kodak: the average curve (the
report's BD matrix) and the mean of the 24 images' own BD-rates. Reads the bench
records (as the report does: each codec's newest identity); writes
results/overfit/vs-classic.json.

    python benchmarks/overfit_vs_classic.py
"""

from __future__ import annotations

import json
from pathlib import Path

from latentpress.bench.report import _bd, _per_image, averaged_curve, load

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ("jpeg2000", "avif", "heic")


def main() -> None:
    codecs, _ = load(ROOT / "results" / "kodak")
    out = {"command": "python benchmarks/overfit_vs_classic.py", "presets": {}}
    for preset in ("fast", "medium", "slow"):
        test = codecs[f"overfit-{preset}"]
        entry = {}
        for anchor_name in ANCHORS:
            anchor = codecs[anchor_name]
            images = {r["image"] for r in test.records} & {r["image"] for r in anchor.records}
            curve = lambda c: [(p.bpp, p.psnr) for p in averaged_curve(c, images) if p.psnr is not None]  # noqa: E731
            per_image, count = _per_image(test, anchor, images, "psnr")
            entry[anchor_name] = {"average curve (%)": round(_bd(curve(anchor), curve(test)), 2),
                                  "per image (%)": round(per_image, 2), "images": count}
        out["presets"][preset] = entry
        print(preset, json.dumps(entry))
    path = ROOT / "results" / "overfit" / "vs-classic.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
