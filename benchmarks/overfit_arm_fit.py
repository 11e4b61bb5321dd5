"""What a change to an overfit preset buys: encode Kodak images with the preset as
shipped (--preset, default slow) and with changed fields (e.g. arm_warmup=4000, or
refine_iterations=300), and compare the cost the encoder minimizes, J = MSE + λ·bpp on
the real file (MSE on [0, 1] pixels). Encodes are deterministic (the base variant
reproduces the Kodak sweep's files), so J does not depend on what else runs; the
seconds do. A tuple field takes ':'-separated values (arm_widths=8:16:24). Writes
results/overfit/<name>.json (--name, default arm-fit-slow) after every encode, and a
rerun with the same name keeps the encodes it holds: a killed run resumes.

    python benchmarks/overfit_arm_fit.py [--preset slow] [--variants "base;arm_warmup=4000"]
        [--images kodim05,kodim23] [--qualities 30,70] [--threads 1] [--name arm-fit-slow]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import latentpress  # noqa: E402
from latentpress.bench.run import machine_description  # noqa: E402
from latentpress.codecs.overfit import presets  # noqa: E402
from latentpress.image import load_image  # noqa: E402
from latentpress.metrics import psnr  # noqa: E402

def variant_preset(variant: str, shipped: presets.Preset) -> presets.Preset:
    if variant == "base":
        return shipped
    fields = dict(item.split("=") for item in variant.split(","))

    def value(text: str):
        if ":" in text:
            return tuple(int(v) for v in text.split(":"))
        return float(text) if "." in text else int(text)

    return dataclasses.replace(shipped, **{k: value(v) for k, v in fields.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="slow", choices=sorted(presets.PRESETS))
    parser.add_argument("--variants", default="base;arm_warmup=4000;arm_warmup_fraction=0.25",
                        help="';'-separated: base, or comma-separated preset fields=values")
    parser.add_argument("--images", default="kodim05,kodim23")
    parser.add_argument("--qualities", default="30,70")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="arm-fit-slow", help="names the result file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = ROOT / "results" / "overfit" / f"{args.name}.json"
    records = json.loads(out.read_text())["records"] if out.exists() else []
    done = {(r["variant"], r["image"], r["quality"]) for r in records}
    shipped = presets.PRESETS[args.preset]
    for variant in args.variants.split(";"):
        presets.PRESETS[args.preset] = variant_preset(variant, shipped)
        try:
            for image in args.images.split(","):
                pixels = load_image(ROOT.parent / "shared" / "data" / "kodak" / f"{image}.png")
                for quality in map(int, args.qualities.split(",")):
                    if (variant, image, quality) in done:
                        continue
                    start = time.perf_counter()
                    data = latentpress.encode(pixels, codec="overfit", preset=args.preset, quality=quality)
                    seconds = time.perf_counter() - start
                    decoded = latentpress.decode(data)
                    bpp = len(data) * 8 / (pixels.shape[0] * pixels.shape[1])
                    mse = float(np.mean((pixels.astype(np.float64) - decoded) ** 2)) / 255 ** 2
                    record = {"variant": variant, "image": image, "quality": quality, "bpp": round(bpp, 6),
                              "psnr": round(psnr(pixels, decoded), 4),
                              "J": mse + presets.lambda_for_quality(quality) * bpp, "encode_s": round(seconds, 1)}
                    records.append(record)
                    print(json.dumps(record), flush=True)
                    _write(out, records)
        finally:
            presets.PRESETS[args.preset] = shipped
    _write(out, records)
    print(f"wrote {out}")


def _write(out: Path, records: list[dict]) -> None:
    base = {(r["image"], r["quality"]): r["J"] for r in records if r["variant"] == "base"}
    for r in records:
        if (r["image"], r["quality"]) in base:
            r["J vs base"] = round(r["J"] / base[(r["image"], r["quality"])] - 1, 5)
    out.write_text(json.dumps({"command": "python benchmarks/overfit_arm_fit.py " + " ".join(sys.argv[1:]),
                               "machine": machine_description(), "records": records}, indent=2) + "\n")


if __name__ == "__main__":
    main()
