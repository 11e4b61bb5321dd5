"""How often does `medium` / `slow` keep `fast`'s file, and what does its own recipe add?

`medium` and `slow` encode with `fast`'s recipe too and keep the file of least
MSE + λ·bpp (Preset.compete_with). A kept `fast` file has `fast`'s PSNR exactly (the
header differs by the preset's name), so the bench records tell, point by point, which
recipe won. Reads results/kodak/records.jsonl (the current identities only) and writes
results/overfit/compete.json: per preset and quality, the points where `fast`'s file was
kept, and the mean change of MSE + λ·bpp against `fast`'s record of the same point.

    python benchmarks/overfit_compete.py [--presets medium,slow]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from latentpress.bench.identity import variant_identity
from latentpress.codecs.overfit.presets import lambda_for_quality

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--presets", default="medium,slow")
    parser.add_argument("--records", type=Path, default=ROOT / "results" / "kodak" / "records.jsonl")
    args = parser.parse_args()
    points: dict[str, dict] = {}
    wanted = {variant_identity("overfit", {"preset": p}): p for p in ["fast"] + args.presets.split(",")}
    for line in args.records.read_text().splitlines():
        record = json.loads(line)
        preset = next((p for i, p in wanted.items() if record["identity"].startswith(i + "/")), None)
        if preset is not None:
            points.setdefault(preset, {})[record["image"], record["params"]["quality"]] = record
    out = {"command": "python benchmarks/overfit_compete.py"
                      + (f" --presets {args.presets}" if args.presets != "medium,slow" else ""),
           "identities": {p: i for i, p in wanted.items()}, "presets": {}}
    fast = points.get("fast", {})
    for preset in args.presets.split(","):
        rows: dict[int, dict] = {}
        for (image, quality), record in sorted(points.get(preset, {}).items()):
            rival = fast.get((image, quality))
            if rival is None:
                continue
            cost = lambda r: 10 ** (-r["psnr"] / 10) + lambda_for_quality(quality) * r["bpp"]  # noqa: E731
            row = rows.setdefault(quality, {"points": 0, "fast's file kept": 0, "changes": []})
            row["points"] += 1
            row["fast's file kept"] += record["psnr"] == rival["psnr"]
            row["changes"].append(100 * (cost(record) / cost(rival) - 1))
        out["presets"][preset] = {
            str(quality): {"points": row["points"], "fast's file kept": row["fast's file kept"],
                           "mean cost change % vs fast": round(statistics.mean(row["changes"]), 3),
                           "largest gain %": round(min(row["changes"]), 3)}
            for quality, row in sorted(rows.items())}
        every = [c for row in rows.values() for c in row["changes"]]
        if every:
            out["presets"][preset]["all"] = {
                "points": len(every), "fast's file kept": sum(r["fast's file kept"] for r in rows.values()),
                "mean cost change % vs fast": round(statistics.mean(every), 3)}
    path = ROOT / "results" / "overfit" / "compete.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["presets"], indent=2))


if __name__ == "__main__":
    main()
