"""BD-rate (PSNR) of each overfit preset against the classic codecs it is compared
with (JPEG 2000, AVIF, HEIC), both ways of averaging over Kodak: the average curve (from the
report's BD matrix in results/kodak/summary.json: run `latentpress report` first) and
the mean of the 24 images' own BD-rates (from the bench records, as the report reads
them: each codec's newest identity); then both again on the qualities 1, 2, 4 and 6
alone (the points payload version 5 was measured at, up to about 0.9 bpp), to show how
much the rate range moves the figures; writes results/overfit/vs-classic.json.

    python benchmarks/overfit_vs_classic.py
"""

from __future__ import annotations

import json
from pathlib import Path

from latentpress.bench.report import CodecResults, _bd, _curve, _per_image, averaged_curve, load

ROOT = Path(__file__).resolve().parent.parent
ANCHORS = ("jpeg2000", "avif", "avif-s2", "heic", "heic-veryslow")
FEWER = (1, 2, 4, 6)


def _restricted(codec: CodecResults, levels) -> CodecResults:
    """The records at these levels (1-8, as the version-6 sweep recorded them) or at their
    qualities on the 0-100 scale (presets.quality_of_level)."""
    from latentpress.codecs.overfit.presets import quality_of_level
    wanted = set(levels) | {quality_of_level(level) for level in levels}
    return CodecResults(codec.name, codec.lossless, [r for r in codec.records if r["params"].get("quality") in wanted])


def main() -> None:
    codecs, _ = load(ROOT / "results" / "kodak")
    # matrix[anchor][codec]: BD-rate of codec against anchor on the average curves.
    matrix = json.loads((ROOT / "results" / "kodak" / "summary.json").read_text())["bd_matrix_psnr"]
    out = {"command": "python benchmarks/overfit_vs_classic.py", "presets": {}}
    for preset in ("instant", "fast", "medium", "slow"):
        test = codecs[f"overfit-{preset}"]
        entry = {}
        for anchor_name in ANCHORS:
            anchor = codecs[anchor_name]
            images = {r["image"] for r in test.records} & {r["image"] for r in anchor.records}
            per_image, count = _per_image(test, anchor, images, "psnr")
            fewer = _restricted(test, FEWER)
            fewer_curve = _bd(_curve(averaged_curve(anchor, images), "psnr"), _curve(averaged_curve(fewer, images), "psnr"))
            fewer_per_image, _ = _per_image(fewer, anchor, images, "psnr")
            entry[anchor_name] = {"average curve (%)": round(matrix[anchor_name][f"overfit-{preset}"], 2),
                                  "per image (%)": round(per_image, 2), "images": count,
                                  "qualities": sorted({r["params"]["quality"] for r in test.records}),
                                  f"qualities {FEWER} only: average curve (%)": round(fewer_curve, 2),
                                  f"qualities {FEWER} only: per image (%)": round(fewer_per_image, 2)}
        out["presets"][preset] = entry
        print(preset, json.dumps(entry))
    path = ROOT / "results" / "overfit" / "vs-classic.json"
    path.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
