"""Does the restoration network gain from seeing the wavelet's latents? (lever 5 of
docs/codecs/overfit-research.md)

The shipped restoration network sees only the decoded 8-bit image. This study trains
float networks of its topology (3×3 convolutions on the 2×2-block grid) on the same
pairs and schedule, at about its multiply-accumulates per pixel, with and without extra
inputs on that grid (clipped to ±8): the finest wavelet
level's integer latents (3 orientations × Y, Cb, Cr, which sit exactly on the 2×2
blocks), and those of the next level too (each repeated over its 2×2 block). It reports
the mean PSNR gain on the held-out photographs' pairs at each level, the network at its
level's strength, beside the shipped integer network's on the same pairs.

    python -m latentpress.train.restoration pairs --photos ../shared/data/photos \\
        --cache runs/restoration2-pairs --crop 384 --preset instant --crops 2
    python benchmarks/restoration_inputs.py runs/restoration2-pairs [--steps 8000]
        → results/overfit/restoration/inputs.json

Each variant's training resumes from its checkpoint under runs/restoration-inputs/.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentpress.codecs.overfit import restoration  # noqa: E402
from latentpress.train import restoration as training  # noqa: E402
from latentpress.train.loop import CHECKPOINT, TrainConfig, read_checkpoint, train  # noqa: E402

# At (about) the shipped network's multiply-accumulates per pixel: the extra inputs are
# paid for with narrower hidden layers.
VARIANTS = {
    "image only": dict(channels=32, depth=2, planes=0),
    "image + finest level's latents": dict(channels=30, depth=2, planes=9),
    "image + two finest levels' latents": dict(channels=28, depth=2, planes=18),
}


def _planes(pair: tuple, planes: int) -> torch.Tensor | None:
    if not planes:
        return None
    z = training.latent_inputs(pair, planes, slice(0, pair[3].shape[1]), slice(0, pair[3].shape[2]))
    return torch.from_numpy(z[None].astype(np.float32))


def _psnr_gain(original: np.ndarray, decoded: np.ndarray, restored: np.ndarray) -> float:
    base = np.mean((decoded.astype(np.float64) - original) ** 2)
    after = np.mean((restored.astype(np.float64) - original) ** 2)
    return 10 * math.log10(base / max(after, 1e-12))


def _summary(gains: dict[int, list[float]]) -> dict:
    per_level = {level: round(float(np.mean(values)), 4) for level, values in sorted(gains.items())}
    return {"mean over levels (dB)": round(float(np.mean(list(per_level.values()))), 4), "per level (dB)": per_level}


@torch.no_grad()
def evaluate_float(model: training.RestorationModel, pairs: list[tuple]) -> dict:
    gains: dict[int, list[float]] = {}
    for pair in pairs:
        original, decoded, level = pair[:3]
        x = torch.from_numpy(decoded).permute(2, 0, 1)[None].float() - 128.0
        y = model(x, torch.tensor([level - 1]), planes=_planes(pair, model.planes))
        restored = np.clip(np.rint(y[0].permute(1, 2, 0).numpy() + 128.0), 0, 255)
        gains.setdefault(level, []).append(_psnr_gain(original, decoded, restored))
    return _summary(gains)


def evaluate_shipped(pairs: list[tuple]) -> dict:
    net = restoration.shipped()
    gains: dict[int, list[float]] = {}
    for original, decoded, level, *_ in pairs:
        gains.setdefault(level, []).append(_psnr_gain(original, decoded, net(decoded, level - 1)))
    return _summary(gains)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cache", type=Path)
    parser.add_argument("--run", type=Path, default=Path("runs/restoration-inputs"))
    parser.add_argument("--steps", type=int, default=8000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--patch", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--output", type=Path, default=Path("results/overfit/restoration/inputs.json"))
    args = parser.parse_args()
    train_pairs = training.load_pairs(args.cache, held_out=False, latents=True)
    test_pairs = training.load_pairs(args.cache, held_out=True, latents=True)
    result = {
        "command": "python benchmarks/restoration_inputs.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads available, "
                   f"{args.threads} used",
        "pairs": f"{len(train_pairs)} training, {len(test_pairs)} held-out (384x384 crops, instant preset, "
                 "no post-processing)",
        "schedule": f"{args.steps} float Adam steps, batch {args.batch} patches of {args.patch}, lr 1e-3 "
                    "(a tenth for the last 15%), seed 0",
        "shipped network (integer, payload versions 6-7) on the held-out pairs": evaluate_shipped(test_pairs),
        "variants": {},
    }
    for name in args.variants.split(","):
        spec = VARIANTS[name]
        torch.manual_seed(0)
        model = training.RestorationModel(spec["channels"], spec["depth"], spec["planes"])
        patches = training.Patches(train_pairs, args.patch, spec["planes"])

        def step_fn(iteration: int, model=model, patches=patches):
            x, y, t, *planes = patches.batch(args.batch, 0, iteration)
            mse = F.mse_loss(model(x, t, planes=planes[0] if planes else None), y)
            return mse, {"mse": mse.item()}

        folder = args.run / name.replace(" ", "-").replace("'", "").replace("+", "plus")
        started = time.monotonic()
        train(model, step_fn, TrainConfig(steps=args.steps, learning_rate=1e-3, seed=0, threads=args.threads,
                                          checkpoint_every=500, log_every=100), folder)
        read_checkpoint(folder / CHECKPOINT, {"model.": model})
        macs = sum(conv.weight.numel() for conv in model.convs) // restoration.FACTOR ** 2
        result["variants"][name] = {"MAC per pixel": macs, "held-out gains": evaluate_float(model, test_pairs),
                                    "training seconds (this call)": round(time.monotonic() - started, 1)}
        print(name, json.dumps(result["variants"][name]), flush=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
