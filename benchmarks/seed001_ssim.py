"""Why report 001's SSIM figures are so much higher than ours: SSIM of the same
Kodak decodes (cnn-ae at 16:1, JPEG and JPEG 2000 at most its size, as
benchmarks/seed001.py makes them) under the SSIM variants a 2017 implementation could
have used. The seed gives the SSIM formula but neither its window, nor its colour
handling, nor its data range. ::

    python benchmarks/seed001_ssim.py    # → results/seed001/ssim-variants.json (~2 min)

Variants: the window (11-tap Gaussian, σ = 1.5, as latentpress.metrics; or a 7×7 uniform
window, scikit-image's default), RGB channels averaged or luma (BT.601) only, and the
data range: pixels in [0, 255] with L = 255 (correct); pixels scaled to [0, 1] with the
constants still for L = 255 (a common mistake: C1, C2 then swamp the variances); pixels in
[0, 1] with L = 2 (scikit-image's old default for float images).
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage
from seed001 import _jpeg2000_at_most, _jpeg_at_most

from latentpress import api

ROOT = Path(__file__).resolve().parent.parent
SEED = {"jpeg2000": 0.993, "jpeg": 0.986, "cnn-ae": 0.968}
RANGES = {"[0,255], L=255": (255.0, 255.0), "[0,1], L=255": (1.0, 255.0), "[0,1], L=2": (1.0, 2.0)}


def ssim_variant(a: np.ndarray, b: np.ndarray, window: str, colour: str, scale: float, data_range: float) -> float:
    if colour == "luma":
        weights = np.array([0.299, 0.587, 0.114])
        a, b = a.astype(np.float64) @ weights, b.astype(np.float64) @ weights
        a, b = a[:, :, None], b[:, :, None]
    x, y = a.astype(np.float64) * scale / 255.0, b.astype(np.float64) * scale / 255.0
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    values = []
    for channel in range(x.shape[2]):
        if window == "gaussian 11, σ 1.5":
            blur = lambda v: ndimage.gaussian_filter(v, 1.5, truncate=3.5)   # noqa: E731  (11 taps)
            margin = 5
        else:
            blur = lambda v: ndimage.uniform_filter(v, 7)                    # noqa: E731
            margin = 3
        p, q = x[:, :, channel], y[:, :, channel]
        mu_p, mu_q = blur(p), blur(q)
        var_p, var_q, cov = blur(p * p) - mu_p ** 2, blur(q * q) - mu_q ** 2, blur(p * q) - mu_p * mu_q
        s = ((2 * mu_p * mu_q + c1) * (2 * cov + c2)) / ((mu_p ** 2 + mu_q ** 2 + c1) * (var_p + var_q + c2))
        values.append(s[margin:-margin, margin:-margin].mean())
    return float(np.mean(values))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    parser.add_argument("--out", default=str(ROOT / "results" / "seed001" / "ssim-variants.json"))
    args = parser.parse_args(argv)
    variants = [(w, c, r) for w in ("gaussian 11, σ 1.5", "uniform 7×7") for c in ("RGB mean", "luma")
                for r in RANGES]
    scores: dict[str, dict[str, list[float]]] = {name: {" | ".join(v): [] for v in variants} for name in SEED}
    for path in sorted(Path(args.images).glob("kodim*.png")):
        pixels = np.asarray(Image.open(path).convert("RGB"))
        data = api.encode(pixels, "cnn-ae")
        decoded = {"cnn-ae": api.decode(data)}
        for name, encode in (("jpeg", _jpeg_at_most), ("jpeg2000", _jpeg2000_at_most)):
            decoded[name] = np.asarray(Image.open(io.BytesIO(encode(pixels, len(data)))).convert("RGB"))
        for name, image in decoded.items():
            for window, colour, label in variants:
                scale, data_range = RANGES[label]
                scores[name][" | ".join((window, colour, label))].append(
                    ssim_variant(pixels, image, window, colour, scale, data_range))
        print(path.name, flush=True)
    means = {name: {k: float(np.mean(v)) for k, v in per.items()} for name, per in scores.items()}
    Path(args.out).write_text(json.dumps({"seed": SEED, "mean_ssim": means}, indent=1) + "\n")
    print(f"{'variant':55s} " + " ".join(f"{n:>9s}" for n in SEED))
    print(f"{'the seed':55s} " + " ".join(f"{SEED[n]:9.3f}" for n in SEED))
    for key in means["cnn-ae"]:
        print(f"{key:55s} " + " ".join(f"{means[n][key]:9.4f}" for n in SEED))


if __name__ == "__main__":
    main()
