"""Variants of the overfit encoder's rate-distortion optimized rounding (RDOQ).

`instant` rounds the warm start's latents toward zero, one greedy pass under the
shipped ARM (OverfitModel.rdoq). This compares, on real `instant` files (MSE + λ·bpp of
the decoded file, post-processing included), relative to that:

- ``passes N``: the pass repeated with the moved latents' contexts;
- ``to zero``: a latent may also drop straight to zero;
- ``scale s``: the rate weighed at s·λ in the decision (a moved latent also makes its
  neighbours' contexts quieter, which the greedy pass does not count);
- ``gain ±1``: the quantization gain one step off the encoder's choice, then RDOQ.

    python benchmarks/overfit_rdoq_probe.py [KODAK] → results/overfit/rdoq-probe.json
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from overfit_files import file_cost, with_gain_offset  # noqa: E402
from latentpress.codecs.base import get_codec  # noqa: E402
from latentpress.codecs.overfit import model as overfit_model  # noqa: E402
from latentpress.train import overfit as training  # noqa: E402

IMAGES = ("kodim01", "kodim05", "kodim19", "kodim23")
QUALITIES = (30, 50, 70)
VARIANTS = {
    "one pass": {},
    "passes 2": {"passes": 2},
    "passes 3": {"passes": 3},
    "to zero": {"to_zero": True},
    "scale 0.8": {"scale": 0.8},
    "scale 1.25": {"scale": 1.25},
    "scale 1.5": {"scale": 1.5},
    "gain +1": {"gain": 1},
    "gain -1": {"gain": -1},
}
RDOQ = training._rdoq
WARM_START = overfit_model.OverfitModel.warm_start


def _variant(options: dict) -> None:
    options = dict(options)
    offset = options.pop("gain", 0)

    def rdoq(model, x, lmbda, label):
        return model.rdoq(x, lmbda, **options)

    training._rdoq = rdoq
    overfit_model.OverfitModel.warm_start = with_gain_offset(WARM_START, offset)


def _encode(image: np.ndarray, quality: int, preset: str) -> tuple[float, float]:
    codec = get_codec("overfit")
    return file_cost(image, quality, codec.parse_params({"quality": quality, "preset": preset}))[:2]


def main() -> None:
    kodak = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/kodak")
    preset = "instant"
    rows, relative = [], {}
    for name in IMAGES:
        image = np.asarray(Image.open(kodak / f"{name}.png").convert("RGB"))
        for quality in QUALITIES:
            row = {"image": name, "quality": quality}
            results = {}
            for variant, options in VARIANTS.items():
                _variant(options)
                results[variant] = _encode(image, quality, preset)
            training._rdoq, overfit_model.OverfitModel.warm_start = RDOQ, WARM_START
            base = results["one pass"][0]
            for variant, (cost, seconds) in results.items():
                change = 100 * (cost / base - 1)
                row[variant] = {"cost change %": round(change, 3), "encode s": round(seconds, 2)}
                relative.setdefault(variant, []).append(change)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "command": "python benchmarks/overfit_rdoq_probe.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "preset": preset,
        "mean cost change % (MSE + λ·bpp of the real file, against one pass)":
            {variant: round(float(np.mean(values)), 3) for variant, values in relative.items()},
        "mean encode s": {variant: round(float(np.mean([row[variant]["encode s"] for row in rows])), 2)
                          for variant in relative},
        "rows": rows,
    }
    out = Path("results/overfit/rdoq-probe.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
