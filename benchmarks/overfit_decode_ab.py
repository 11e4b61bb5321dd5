"""What payload version 5's layout does to overfit decoding time: each Kodak image is
encoded once (version 5: 32×128 ARM tiles, and a post-filter where it pays), and the
same latents and ARM are re-coded in version 4's layout (64×256 tiles, no post-filter);
both files are decoded by this build, alternately, several times, in one process. Run it
alone on the machine. Writes results/overfit/decode-ab-<preset>-q<quality>.json.

    python benchmarks/overfit_decode_ab.py [--preset fast] [--quality 70] [--images kodim01,kodim05,...]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

import latentpress
from latentpress import container
from latentpress.bench.run import machine_description
from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import codec as overfit
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.model import OverfitModel
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.integer_tensors import decode_tensors

ROOT = Path(__file__).resolve().parent.parent


def as_version_4(data: bytes) -> bytes:
    """The same latents and ARM in payload version 4's layout (no post-filter)."""
    header, sections = container.read(data)
    parts = {s.type: s.data for s in sections}
    arch = Architecture.parse(header.params["arch"])
    model = OverfitModel(arch, header.height, header.width, header.channels, header.params["gain"],
                         header.params["ratio"])
    layers = overfit._arm_layers(model)
    integers = decode_tensors(parts["ARMW"], [tuple(t.shape) for l in layers for t in (l.weight, l.bias)], "ARMW")
    arm5, plan5 = overfit._integer_arm(model, integers, header.params["arm_step"], 5)
    decoder = EntropyDecoder(parts["LATN"])
    grids = arm_module.decode_grids(decoder, model.grid_shapes(), arm5, plan5)
    arm4, plan4 = overfit._integer_arm(model, integers, header.params["arm_step"], 4)
    encoder = EntropyEncoder()
    arm_module.encode_grids(encoder, grids, arm4, plan4)
    old = [container.Section("ARMW", parts["ARMW"]), container.Section("SYNW", parts["SYNW"]),
           container.Section("LATN", encoder.finish())]
    return container.write(dataclasses.replace(header, codec_version=4), old)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--quality", type=int, default=70)
    parser.add_argument("--images", default="kodim01,kodim05,kodim13,kodim14,kodim15,kodim23")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    args = parser.parse_args()
    rows = []
    for name in args.images.split(","):
        pixels = np.asarray(Image.open(args.kodak / f"{name}.png").convert("RGB"))
        new = latentpress.encode(pixels, codec="overfit", preset=args.preset, quality=args.quality)
        old = as_version_4(new)
        unfiltered = np.mean([latentpress.decode(old) != latentpress.decode(new)])
        times = {"v4": [], "v5": []}
        for _ in range(args.repeats):
            for label, data in (("v4", old), ("v5", new)):
                start = time.perf_counter()
                latentpress.decode(data)
                times[label].append(time.perf_counter() - start)
        filt = [s.data[:3] for s in container.read(new)[1] if s.type == "FILT"]
        rows.append({"image": name, "bytes v4 layout": len(old), "bytes v5": len(new),
                     "post-filter": list(filt[0]) if filt else None,
                     "pixels the post-filter changed": round(float(unfiltered), 4),
                     "decode seconds v4 layout (median)": round(statistics.median(times["v4"]), 4),
                     "decode seconds v5 (median)": round(statistics.median(times["v5"]), 4)})
        print(json.dumps(rows[-1]), flush=True)
    ratio = statistics.median(r["decode seconds v5 (median)"] / r["decode seconds v4 layout (median)"] for r in rows)
    result = {
        "command": f"python benchmarks/overfit_decode_ab.py --preset {args.preset} --quality {args.quality} "
                   f"--images {args.images} --repeats {args.repeats}",
        "machine": machine_description(), "latentpress": latentpress.__version__,
        "median ratio v5 / v4 layout": round(ratio, 3), "images": rows,
    }
    out = ROOT / "results" / "overfit" / f"decode-ab-{args.preset}-q{args.quality}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "images"}, indent=2))


if __name__ == "__main__":
    main()
