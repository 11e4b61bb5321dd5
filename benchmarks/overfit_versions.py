"""The overfit presets' payload versions side by side, from the bench records: each
preset's records of an older identity (kept in results/kodak/records.jsonl though the
report uses only the newest) against its current ones, on the images and qualities both
cover: BD-rate (PSNR) per image and on the average curve, rate and PSNR per quality,
encode and decode times. Reads only; writes results/overfit/versions.json.

    python benchmarks/overfit_versions.py [--old v4] [--new v5] [--presets fast,medium,slow] [--output FILE]

--old and --new match a part of the identity between slashes: a payload version (v6),
or a version and one preset's digest (v7/instant-658564d2d5c0) to compare two encoders
of the same payload version.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from latentpress.bench.report import CodecResults, _bd, _per_image, averaged_curve

ROOT = Path(__file__).resolve().parent.parent


def _quality(record: dict) -> int | None:
    from latentpress.codecs.overfit.presets import quality_of_level
    quality = record["params"].get("quality")
    return quality_of_level(quality) if isinstance(quality, int) and quality <= 8 else quality


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", default="v4")
    parser.add_argument("--new", default="v5")
    parser.add_argument("--records", type=Path, default=ROOT / "results" / "kodak" / "records.jsonl")
    parser.add_argument("--presets", default="fast,medium,slow")
    parser.add_argument("--output", type=Path, default=ROOT / "results" / "overfit" / "versions.json")
    args = parser.parse_args()
    latest: dict[str, dict] = {}
    for line in args.records.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        latest[record["key"]] = record
    command = f"python benchmarks/overfit_versions.py --old {args.old} --new {args.new}"
    if args.presets != "fast,medium,slow":
        command += f" --presets {args.presets}"
    if args.output != ROOT / "results" / "overfit" / "versions.json":
        command += f" --output {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}"
    out = {"command": command, "presets": {}}
    for preset in args.presets.split(","):
        runs = {}
        for version in (args.old, args.new):
            rows = [r for r in latest.values()
                    if r["codec"] == f"overfit-{preset}" and f"/{version}/" in r["identity"]]
            identities = sorted({r["identity"] for r in rows})
            if identities:        # the newest identity of that version: the last written
                newest = [r for r in latest.values() if r["identity"] in identities][-1]["identity"]
                rows = [r for r in rows if r["identity"] == newest]
            runs[version] = CodecResults(f"overfit-{preset}", False, rows)
        # Compared on the qualities both versions were measured at (version 6 added 8);
        # levels 1-8 of the earlier sweeps are qualities 20-90 (presets.quality_of_level).
        shared = set.intersection(*({_quality(r) for r in run.records} for run in runs.values()))
        runs = {v: CodecResults(run.name, False, [r for r in run.records if _quality(r) in shared])
                for v, run in runs.items()}
        images = {r["image"] for r in runs[args.old].records} & {r["image"] for r in runs[args.new].records}
        complete = {i for i in images if all(len([r for r in run.records if r["image"] == i]) == len(shared)
                                             for run in runs.values())}
        if not complete:
            continue
        curves = {v: averaged_curve(run, complete) for v, run in runs.items()}
        per_image, count = _per_image(runs[args.new], runs[args.old], complete, "psnr")
        entry = {
            "images": len(complete), "qualities": sorted(shared),
            "BD-rate new vs old, average curve (%)": _bd([(p.bpp, p.psnr) for p in curves[args.old]],
                                                         [(p.bpp, p.psnr) for p in curves[args.new]]),
            "BD-rate new vs old, per image (%)": per_image,
            "points": {v: [{"params": p.params, "bpp": round(p.bpp, 4), "psnr": round(p.psnr, 3)} for p in c]
                       for v, c in curves.items()},
        }
        for v, run in runs.items():
            rows = [r for r in run.records if r["image"] in complete]
            entry[f"{v} encode s (median)"] = round(statistics.median(r["encode_s"] for r in rows), 2)
            entry[f"{v} decode s (median)"] = round(statistics.median(r["decode_s"] for r in rows), 3)
            entry[f"{v} decode s (max)"] = round(max(r["decode_s"] for r in rows), 3)
            entry[f"{v} machine"] = sorted({r["machine"] for r in rows})
        out["presets"][preset] = entry
    args.output.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
