"""Are `medium` and `slow` worth their encode time over `fast`?

`fast` (payload version 7) fine-tunes the shipped ARM and chooses its quantization gain
under the shipped ARM's rate; `medium` and `slow` fit ARMs from a random start (slow:
8 and 16 units, the better file kept) with the warm start's Laplace rate model. This
encodes development images with `fast`, and with `medium` and `slow` given the same
gain choice (Preset.gain_by_arm, which their version-6 Kodak rows lacked), and reports
MSE + λ·bpp of the real file (post-processing included) relative to `fast`, with the
encode time.

    python benchmarks/overfit_presets_probe.py [KODAK] → results/overfit/presets-probe.json
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

from overfit_files import file_cost  # noqa: E402
from latentpress.codecs.base import get_codec  # noqa: E402
from latentpress.codecs.overfit import presets  # noqa: E402

ROWS = (("kodim01", 30), ("kodim01", 70), ("kodim23", 30), ("kodim23", 70))


def _encode(image: np.ndarray, quality: int, preset: presets.Preset) -> tuple[float, float]:
    presets.PRESETS["probe"] = preset
    codec = get_codec("overfit")
    return file_cost(image, quality, dataclasses.replace(codec.parse_params({"quality": quality}), preset="probe"))[:2]


def main() -> None:
    kodak = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/kodak")
    recipes = {
        "fast": presets.PRESETS["fast"],
        "medium, gain_by_arm": dataclasses.replace(presets.PRESETS["medium"], gain_by_arm=True),
        "slow, gain_by_arm": dataclasses.replace(presets.PRESETS["slow"], gain_by_arm=True),
    }
    rows, relative = [], {}
    for name, quality in ROWS:
        image = np.asarray(Image.open(kodak / f"{name}.png").convert("RGB"))
        results = {recipe: _encode(image, quality, preset) for recipe, preset in recipes.items()}
        base = results["fast"][0]
        row = {"image": name, "quality": quality}
        for recipe, (cost, seconds) in results.items():
            change = 100 * (cost / base - 1)
            row[recipe] = {"cost change %": round(change, 3), "encode s": round(seconds, 2)}
            relative.setdefault(recipe, []).append(change)
        rows.append(row)
        print(json.dumps(row), flush=True)
    del presets.PRESETS["probe"]
    result = {
        "command": "python benchmarks/overfit_presets_probe.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "recipes": {recipe: repr(preset) for recipe, preset in recipes.items()},
        "mean cost change % (MSE + λ·bpp of the real file, against fast)":
            {recipe: round(float(np.mean(values)), 3) for recipe, values in relative.items()},
        "mean encode s": {recipe: round(float(np.mean([row[recipe]["encode s"] for row in rows])), 2)
                          for recipe in relative},
        "rows": rows,
    }
    Path("results/overfit/presets-probe.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("rows", "recipes")}, indent=2))


if __name__ == "__main__":
    main()
