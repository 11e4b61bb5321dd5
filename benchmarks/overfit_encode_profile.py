"""Where an overfit encode spends its time: one
Kodak image encoded at a few qualities with timers around the encoder's stages: the
warm start (wavelet decomposition and the gain search), the ARM fit (without its
rate-distortion optimized rounding pass), that rounding pass, the search for the ARM
weights' precision (ideal bits of every latent under each candidate), the real decode
that measures the file's distortion, and the range coding of the latents. A preset that
searches the ARM width (slow) runs every stage once per width it tries. Run it alone on
the machine. Writes results/overfit/encode-profile-<image>-<preset>.json.

    python benchmarks/overfit_encode_profile.py [--image kodim23] [--preset slow] [--qualities 20 50 70]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from overfit_decode_profile import _timed  # the script's folder is on sys.path
from PIL import Image

import latentpress
from latentpress.bench.run import machine_description
from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import codec as overfit_codec
from latentpress.codecs.overfit.model import OverfitModel
from latentpress.train import overfit as overfit_training

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "data" / "kodak"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default="kodim23")
    parser.add_argument("--preset", default="slow")
    parser.add_argument("--qualities", type=int, nargs="+", default=[20, 50, 70])
    args = parser.parse_args()
    image = np.asarray(Image.open(KODAK / f"{args.image}.png").convert("RGB"))
    latentpress.encode(image[:64, :64], "overfit", preset="fast", quality=4)           # warm-up
    stages = {"warm start": (OverfitModel, "warm_start"), "rdoq": (OverfitModel, "rdoq"),
              "ARM fit (with rdoq)": (overfit_training, "train"),
              "ARM precision search": (arm_module, "grids_ideal_bits"),
              "decode for the distortion": (overfit_codec, "_reconstruct"),
              "range coding": (overfit_codec, "_code_latents")}
    originals = {key: getattr(owner, name) for key, (owner, name) in stages.items()}
    rows = {}
    try:
        for quality in args.qualities:
            totals: dict[str, float] = {}
            for key, (owner, name) in stages.items():
                setattr(owner, name, _timed(totals, key, originals[key]))
            started = time.perf_counter()
            data = latentpress.encode(image, "overfit", preset=args.preset, quality=quality)
            total = time.perf_counter() - started
            for key, (owner, name) in stages.items():
                setattr(owner, name, originals[key])
            fit = totals.pop("ARM fit (with rdoq)", 0.0)
            totals["ARM fit"] = fit - totals.get("rdoq", 0.0)
            header = latentpress.read_info(data)
            seconds = {key: round(value, 2) for key, value in sorted(totals.items(), key=lambda kv: -kv[1])}
            seconds["everything else"] = round(total - sum(totals.values()), 2)
            rows[f"q{quality}"] = {"encode_s": round(total, 2), "bpp": round(8 * len(data) / image[..., 0].size, 4),
                                   "architecture": header.params["arch"], "stages_s": seconds}
            print(quality, json.dumps(rows[f"q{quality}"]), flush=True)
    finally:
        for key, (owner, name) in stages.items():
            setattr(owner, name, originals[key])
    out = ROOT / "results" / "overfit" / f"encode-profile-{args.image}-{args.preset}.json"
    out.write_text(json.dumps({"command": f"python benchmarks/overfit_encode_profile.py --image {args.image} "
                                          f"--preset {args.preset} --qualities "
                                          + " ".join(map(str, args.qualities)),
                               "machine": machine_description(), "image": args.image, "preset": args.preset,
                               "qualities": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
