"""Where an overfit decode spends its time: one Kodak image encoded once, decoded
several times (wall time), then once more with timers around the decoder's stages
(the compiled wavefront steps, latentpress._native, which gather contexts, run the
integer ARM and its table lookup and drive the entropy decoder; or with
LATENTPRESS_NATIVE=0 those three in numpy, timed apart; then the restoration network
and the linear post-filter of payload version 6) and around each phase of the
wavefront (the low band, then each level, coarse to fine).
Run it alone on the machine. Writes results/overfit/decode-profile-<image>-<preset>-q<quality>.json.

    python benchmarks/overfit_decode_profile.py [--image kodim01] [--preset fast] [--quality 70]
"""

from __future__ import annotations

import argparse
import functools
import json
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

import latentpress
from latentpress.bench.run import machine_description
from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import postfilter, restoration
from latentpress.entropy.coder import EntropyDecoder

ROOT = Path(__file__).resolve().parent.parent


def _timed(totals: dict, key: str, function):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
    return wrapper


def profile(data: bytes) -> dict:
    """One decode with timers: per stage (seconds, calls) and per phase."""
    totals: dict[str, float] = {}
    phases = []
    patches = [(arm_module._NativePhase, "decode", "compiled wavefront steps (contexts, ARM, entropy decoding)"),
               (arm_module._Phase, "contexts", "gather contexts"),
               (arm_module._Predictor, "__call__", "ARM and table lookup"),
               (EntropyDecoder, "decode_parametric", "entropy decoding"),
               (restoration.RestorationNet, "__call__", "restoration network"),
               (postfilter, "apply", "linear post-filter")]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    init, write_back = arm_module._Phase.__init__, arm_module._Phase.write_back

    def phase_init(self, plan, phase, shapes, grids):
        self._started = time.perf_counter()
        init(self, plan, phase, shapes, grids)
        self._shape = shapes[phase[0]] if phase else (0, 0)

    def phase_done(self, buffer, grids):
        write_back(self, buffer, grids)
        phases.append({"grid shape": list(self._shape), "planes": len({g for g, _, _ in self.spans}),
                       "steps": int(len(self.bounds) - 1), "latents": int(self.positions.size),
                       "seconds": round(time.perf_counter() - self._started, 4)})

    try:
        for owner, name, key in patches:
            setattr(owner, name, _timed(totals, key, getattr(owner, name)))
        arm_module._Phase.__init__, arm_module._Phase.write_back = phase_init, phase_done
        start = time.perf_counter()
        latentpress.decode(data)
        total = time.perf_counter() - start
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)
        arm_module._Phase.__init__, arm_module._Phase.write_back = init, write_back
    stages = {key: round(value, 4) for key, value in totals.items()}
    latent_seconds = sum(p["seconds"] for p in phases)
    after = sum(totals.get(key, 0.0) for key in ("restoration network", "linear post-filter"))
    stages["rest of the latent decoding (phase setup, stores)"] = round(latent_seconds - sum(totals.values()) + after, 4)
    stages["everything else (header, weights, inverse wavelet, colour)"] = round(total - latent_seconds - after, 4)
    return {"seconds (with timers)": round(total, 4), "stages": stages, "phases": phases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", default="kodim01")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--quality", type=int, default=70)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    args = parser.parse_args()
    pixels = np.asarray(Image.open(args.kodak / f"{args.image}.png").convert("RGB"))
    start = time.perf_counter()
    data = latentpress.encode(pixels, codec="overfit", preset=args.preset, quality=args.quality)
    encode_seconds = time.perf_counter() - start
    latentpress.decode(data)                       # warm-up: imports, caches
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        latentpress.decode(data)
        times.append(time.perf_counter() - start)
    result = {
        "command": f"python benchmarks/overfit_decode_profile.py --image {args.image} --preset {args.preset} "
                   f"--quality {args.quality} --repeats {args.repeats}",
        "machine": machine_description(),
        "latentpress": latentpress.__version__,
        "decoder": "numpy" if arm_module.native.module() is None else "compiled wavefront step",
        "image": args.image, "preset": args.preset, "quality": args.quality,
        "bytes": len(data), "bpp": round(8 * len(data) / (pixels.shape[0] * pixels.shape[1]), 4),
        "encode seconds": round(encode_seconds, 2),
        "decode seconds": {"min": round(min(times), 4), "median": round(statistics.median(times), 4),
                           "max": round(max(times), 4), "runs": len(times)},
        "profiled decode": profile(data),
    }
    out = ROOT / "results" / "overfit" / f"decode-profile-{args.image}-{args.preset}-q{args.quality}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
