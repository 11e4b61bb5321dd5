"""A fixed deblocking filter for the block codecs, tried first and not shipped:
its mean PSNR gain on training photos (never Kodak) over a grid of thresholds, for
cnn-ae and cnn-rnn-ae decoded outputs. The best was +0.002 dB (cnn-ae) and +0.007 dB
(cnn-rnn-ae): the errors of these decoders are not steps at the block edges that a ramp
can remove, so the codecs' ``deblock`` is the learned post-filter instead (model.py
PostFilter). ::

    python benchmarks/seed001_deblock.py    # → results/seed001/deblock-ramp.json (~1 min)

The filter, in the style of H.264's: at every block edge whose step is small
(|q0 − p0| < edge, on the [0, 1] scale) and whose two sides are locally flat (|p1 − p0|,
|q1 − q0| < flat), the step is spread into a ramp over the three pixels each side;
larger steps are kept as real edges. Columns first, then rows, per colour channel.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from latentpress import api
from latentpress.codecs.cnnae.codec import BLOCK
from latentpress.image import load_image, pad_to_multiple, to_uint8
from latentpress.metrics import psnr
from latentpress.train.crops import HELD_OUT

ROOT = Path(__file__).resolve().parent.parent
EDGES = (0.04, 0.08, 0.12, 0.16, 0.24, 1.0)
FLATS = (0.01, 0.02, 0.04, 0.08, 1.0)
PHOTOS = 8          # the first training photos (not HELD_OUT)
_RAMP = np.array([1.0, 2.0, 3.0], np.float32) / 7.0       # offsets of p2, p1, p0 (and −q2, −q1, −q0) per unit step


def deblock(rgb: np.ndarray, edge: float, flat: float) -> np.ndarray:
    """Smooth the 32×32 block grid of an H×W×3 float image in [0, 1] (H, W multiples of 32)."""
    out = np.array(rgb, np.float32)
    for axis in (1, 0):
        view = np.moveaxis(out, axis, 0)                      # boundaries now along axis 0
        for start in range(BLOCK, view.shape[0], BLOCK):
            p1, p0, q0, q1 = (view[start + k] for k in (-2, -1, 0, 1))
            step = q0 - p0
            mask = (np.abs(step) < edge) & (np.abs(p1 - p0) < flat) & (np.abs(q1 - q0) < flat)
            d = np.where(mask, step, 0.0)
            for k, w in zip((-3, -2, -1), _RAMP):
                view[start + k] += d * w
            for k, w in zip((2, 1, 0), _RAMP):
                view[start + k] -= d * w
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"))
    parser.add_argument("--out", default=str(ROOT / "results" / "seed001" / "deblock-ramp.json"))
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    paths = sorted(p for p in Path(args.photos).glob("*.png") if p.stem not in HELD_OUT)[:PHOTOS]
    results = {"photos": [p.name for p in paths], "codecs": {}}
    for codec in ("cnn-ae", "cnn-rnn-ae"):
        gains = np.zeros((len(EDGES), len(FLATS)))
        for path in paths:
            image = load_image(path)
            image = np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image
            height, width = image.shape[:2]
            # Decode on the padded grid, so the filter sees what the codec's decoder sees.
            padded = pad_to_multiple(image, BLOCK)
            decoded = api.decode(api.encode(padded, codec)).astype(np.float32) / 255.0
            base = psnr(image, to_uint8(decoded[:height, :width] * 255.0))
            for i, edge in enumerate(EDGES):
                for j, flat in enumerate(FLATS):
                    smoothed = to_uint8(deblock(decoded, edge, flat)[:height, :width] * 255.0)
                    gains[i, j] += (psnr(image, smoothed) - base) / len(paths)
        results["codecs"][codec] = {"edges": EDGES, "flats": FLATS, "mean_psnr_gain_db": gains.round(4).tolist()}
        best = np.unravel_index(np.argmax(gains), gains.shape)
        print(f"{codec}: best edge {EDGES[best[0]]}, flat {FLATS[best[1]]}: +{gains[best]:.3f} dB")
        for i, edge in enumerate(EDGES):
            print(f"  edge {edge:5.2f}: " + "  ".join(f"{g:+.3f}" for g in gains[i]))
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
