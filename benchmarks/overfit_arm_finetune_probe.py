"""Does fitting the shipped ARM to the image pay? On a development subset of Kodak, the
cost MSE + λ·bpp of the real file (no post-processing, so that only the ARM differs) of
``instant`` (the shipped ARM as it is), ``fast`` (an 8-unit ARM fitted from a random
start, its weights stored) and ``instant`` fine-tuned from the shipped ARM for a number of
iterations (the differences stored where they pay: payload version 7's ``arm_base``).

    OMP_NUM_THREADS=1 python benchmarks/overfit_arm_finetune_probe.py [--images kodim01,kodim14] [--qualities 30,70]

writes results/overfit/arm-finetune-probe.json (resumable: finished rows are kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress.codecs.overfit import codec as overfit  # noqa: E402
from latentpress.codecs.overfit.presets import PRESETS, lambda_for_quality  # noqa: E402
from latentpress.container import Header  # noqa: E402
from latentpress.image import load_image  # noqa: E402

VARIANTS = {
    "instant": PRESETS["instant"],
    "fast": PRESETS["fast"],
    "instant+300": dataclasses.replace(PRESETS["instant"], name="instant+300", arm_warmup=300, arm_learning_rate=3e-3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--images", default="kodim01,kodim14")
    parser.add_argument("--qualities", default="30,70")
    args = parser.parse_args()
    out = ROOT / "results" / "overfit" / "arm-finetune-probe.json"
    done = json.loads(out.read_text()) if out.exists() else {"command": "OMP_NUM_THREADS=1 python benchmarks/overfit_arm_finetune_probe.py",
                                                              "rows": []}
    have = {(r["image"], r["quality"], r["variant"]) for r in done["rows"]}
    for name, preset in VARIANTS.items():
        PRESETS[name] = preset
    for image_name in args.images.split(","):
        image = load_image(args.kodak / f"{image_name}.png")
        height, width = image.shape[:2]
        for quality in (int(q) for q in args.qualities.split(",")):
            lmbda = lambda_for_quality(quality)
            for name in VARIANTS:
                if (image_name, quality, name) in have:
                    continue
                started = time.perf_counter()
                payload = overfit._encode(image, overfit.OverfitParams(quality=quality, preset=name),
                                          post_process=False)
                seconds = time.perf_counter() - started
                header = Header("overfit", overfit.OverfitCodec.version, width, height, 3, params=payload.params)
                decoded = overfit.OverfitCodec().decode(header, payload.sections)
                mse = float(np.mean((decoded.astype(np.float64) - image) ** 2))
                bits = 8 * sum(len(s.data) for s in payload.sections)
                done["rows"].append({"image": image_name, "quality": quality, "variant": name,
                                     "bpp": bits / (height * width), "psnr": 10 * np.log10(255 ** 2 / mse),
                                     "armw_bytes": len(payload.sections[0].data), "encode_s": round(seconds, 2),
                                     "cost": mse / 255 ** 2 + lmbda * bits / (height * width)})
                out.write_text(json.dumps(done, indent=1) + "\n")
                print(done["rows"][-1], flush=True)
    rows = done["rows"]
    summary = {}
    for name in VARIANTS:
        ratios = [r["cost"] / next(s["cost"] for s in rows if (s["image"], s["quality"], s["variant"]) ==
                                   (r["image"], r["quality"], "fast")) for r in rows if r["variant"] == name]
        summary[name] = {"cost relative to fast (mean)": round(float(np.mean(ratios)), 4),
                         "encode s (mean)": round(float(np.mean([r["encode_s"] for r in rows if r["variant"] == name])), 1)}
    done["summary"] = summary
    out.write_text(json.dumps(done, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
