"""How well does the overfit encoder choose its quantization gain?

The wavelet warm start picks the gain (one quantization step for every band) that
minimizes MSE + λ·bits, with bits from a rate model. This compares, on real files of
the `instant` preset (MSE + λ·bpp of the decoded file, post-processing included):

- ``laplace``: each plane under its own zero-mean Laplace, halved (the model alone);
- ``arm, sampled rows``: refined under the shipped ARM's exact rate on one band of
  rows in four (what `instant` and `fast` do, Preset.gain_by_arm);
- ``arm, all rows``: the same on every row;
- ``best of laplace −2…+1``: the best real file among the Laplace choice and its
  neighbours (four encodes; what a search on real files would find).

Costs are relative to ``laplace``; times are whole encodes, one at a time.

    python benchmarks/overfit_gain_choice.py [KODAK] → results/overfit/gain-choice.json
"""

from __future__ import annotations

import dataclasses
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
from latentpress.codecs.overfit import codec as overfit_codec  # noqa: E402
from latentpress.codecs.overfit import model as overfit_model  # noqa: E402
from latentpress.codecs.overfit import presets  # noqa: E402

IMAGES = ("kodim01", "kodim05", "kodim19", "kodim23")
QUALITIES = (30, 50, 70)
OFFSETS = (-2, -1, 0, 1)
WARM_START = overfit_model.OverfitModel.warm_start


def _encode(image: np.ndarray, quality: int) -> tuple[float, int, float]:
    codec = get_codec("overfit")
    cost, seconds, header = file_cost(image, quality, codec.parse_params({"quality": quality, "preset": "instant"}))
    return cost, header["gain"], seconds


def main() -> None:
    kodak = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/kodak")
    instant = presets.PRESETS["instant"]
    laplace = dataclasses.replace(instant, gain_by_arm=False)
    rows, relative = [], {}
    for name in IMAGES:
        image = np.asarray(Image.open(kodak / f"{name}.png").convert("RGB"))
        for quality in QUALITIES:
            row = {"image": name, "quality": quality}
            presets.PRESETS["instant"] = laplace
            offsets = {}
            for offset in OFFSETS:
                overfit_model.OverfitModel.warm_start = with_gain_offset(WARM_START, offset)
                offsets[offset] = _encode(image, quality)
            overfit_model.OverfitModel.warm_start = WARM_START
            presets.PRESETS["instant"] = instant
            results = {"laplace": offsets[0]}
            sample = overfit_codec.SAMPLE_EVERY
            results["arm, sampled rows"] = _encode(image, quality)
            overfit_codec.SAMPLE_EVERY = 1
            results["arm, all rows"] = _encode(image, quality)
            overfit_codec.SAMPLE_EVERY = sample
            results["best of laplace -2..+1"] = min(offsets.values())
            base = results["laplace"][0]
            for method, (cost, gain, seconds) in results.items():
                change = 100 * (cost / base - 1)
                row[method] = {"cost change %": round(change, 3), "gain": gain, "encode s": round(seconds, 2)}
                relative.setdefault(method, []).append(change)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "command": "python benchmarks/overfit_gain_choice.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "what": __doc__.split("\n\n")[1].replace("\n", " "),
        "mean cost change % (MSE + λ·bpp of the real file, against laplace)":
            {method: round(float(np.mean(values)), 3) for method, values in relative.items()},
        "mean encode s": {method: round(float(np.mean([row[method]["encode s"] for row in rows])), 2)
                          for method in relative if method != "best of laplace -2..+1"},
        "rows": rows,
    }
    out = Path("results/overfit/gain-choice.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
