"""Training of the overfit codec's shipped ARM (latentpress/codecs/overfit/base_arm.py).

Two stages:

``rows``   crops of the training photos (../shared/data/photos, crops.HELD_OUT left
           out; 768×512, landscape or portrait as the photo) at every quality of a
           list, each through the encoder's wavelet warm start (the gain it picks
           for that λ), optionally followed by its rate-distortion optimized
           rounding under a given ARM (``--base``: the rounding the encoder does);
           a random sample of every crop's latents with their ARM inputs, saved to
           one file.
``train``  the float ARM on those rows (bits of the discretized Laplace, Adam with
           cosine decay), bits per latent on a held-back twentieth of the rows per
           quality; ``--export`` writes its integers at arm.FRAC_BITS as
           safetensors, ``--report`` the figures as JSON.

    python -m latentpress.train.overfit_arm rows --photos ../shared/data/photos --out runs/overfit-arm/rows0.safetensors
    python -m latentpress.train.overfit_arm train --rows runs/overfit-arm/rows0.safetensors \
        --export latentpress/weights/overfit-arm-v1.safetensors --report results/overfit/shipped-arm.json

The shipped ARM is trained on rows without the rounding pass (``rows --base`` makes
rows after the rounding a first ARM makes; the shipped one does not use it).

benchmarks/train_overfit_arm.sh runs these.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from latentpress.codecs.overfit import base_arm
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.arm import ARM, FRAC_BITS
from latentpress.codecs.overfit.model import LOG_SCALE_MAX, LOG_SCALE_MIN, OverfitModel
from latentpress.codecs.overfit.presets import lambda_for_quality
from latentpress.nn.likelihood import laplace_interval_probability
from latentpress.train.crops import HELD_OUT

QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
CROP = (512, 768)


def architecture(hidden: int = base_arm.HIDDEN, layers: int = base_arm.LAYERS) -> Architecture:
    return Architecture(levels=base_arm.LEVELS, arm_hidden=hidden, arm_layers=layers, synthesis=(8, 8),
                        transform="wavelet", band_context=True)


def load_integers(path: Path) -> list[np.ndarray]:
    from safetensors.numpy import load_file

    return base_arm.from_tensors(load_file(str(path)))


def training_crops(photos: Path, qualities, rng: np.random.Generator):
    """(photo, quality, image tensor (1, 3, h, w) in [0, 1]) for every training photo
    (crops.HELD_OUT left out) at every quality, each a crop of up to CROP (landscape or
    portrait as the photo) at a place drawn from ``rng``; progress printed per photo."""
    paths = [p for p in sorted(photos.glob("*.png")) if p.stem not in HELD_OUT]
    if not paths:
        raise SystemExit(f"no training photos in {photos}")
    started = time.monotonic()
    for index, path in enumerate(paths):
        image = np.asarray(Image.open(path).convert("RGB"))
        height, width = image.shape[:2]
        h, w = (min(height, CROP[0]), min(width, CROP[1])) if height < width else \
            (min(height, CROP[1]), min(width, CROP[0]))
        for quality in qualities:
            top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
            crop = np.array(image[top:top + h, left:left + w])
            yield path, quality, torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 255.0
        print(f"{index + 1}/{len(paths)} {path.name} {time.monotonic() - started:.0f} s", flush=True)


def make_rows(photos: Path, out: Path, base: Path | None, rows: int = 40_000, qualities=QUALITIES,
              seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    base_integers = load_integers(base) if base else None
    hidden = base_integers[0].shape[0] if base_integers else base_arm.HIDDEN
    layers = len(base_integers) // 2 - 1 if base_integers else base_arm.LAYERS
    contexts, values, tags = [], [], []
    for _, quality, x in training_crops(photos, qualities, rng):
        model = OverfitModel(architecture(hidden, layers), *x.shape[2:], 3)
        lmbda = lambda_for_quality(quality)
        model.warm_start(x, lmbda, spare_units=False)
        if base_integers is not None:
            model.arm.load_integers(base_integers)
            model.rdoq(x, lmbda)
        grids = [g.detach() for g in model.quantized_grids("round")]
        order = torch.randperm(model.latent_count())[:rows]
        c, v = model.contexts(grids, rows=order)
        contexts.append(c)
        values.append(v)
        tags.append(torch.full((len(v),), quality, dtype=torch.int16))
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"contexts": torch.cat(contexts), "values": torch.cat(values), "quality": torch.cat(tags)}, str(out),
              metadata={"base": str(base) if base else ""})


def _bits(arm: ARM, contexts: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    mean, log_scale = arm(contexts)
    scale = torch.exp(log_scale.clamp(LOG_SCALE_MIN, LOG_SCALE_MAX))
    return -torch.log2(laplace_interval_probability(values - mean, scale))


def train_arm(rows: Path, hidden: int, layers: int, steps: int, batch: int = 32768,
              learning_rate: float = 1e-2, seed: int = 0) -> tuple[ARM, dict]:
    from safetensors import safe_open

    torch.manual_seed(seed)
    with safe_open(str(rows), "pt") as handle:
        contexts, values, quality = (handle.get_tensor(name) for name in ("contexts", "values", "quality"))
        base = (handle.metadata() or {}).get("base", "")
    order = torch.randperm(len(values))
    contexts, values, quality = contexts[order], values[order], quality[order]
    held = len(values) // 20
    val = (contexts[:held], values[:held], quality[:held])
    contexts, values = contexts[held:], values[held:]
    arm = ARM(hidden, layers, contexts.shape[1])
    optimizer = torch.optim.Adam(arm.parameters(), lr=learning_rate)
    started = time.monotonic()

    def validation() -> dict:
        with torch.no_grad():
            bits = _bits(arm, val[0], val[1])
        return {"bits per latent": round(bits.mean().item(), 5),
                "per quality": {int(q): round(bits[val[2] == q].mean().item(), 5) for q in val[2].unique()}}

    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        pick = torch.randint(0, len(values), (batch,))
        loss = _bits(arm, contexts[pick], values[pick]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % 1000 == 0:
            print(f"step {step} {time.monotonic() - started:.0f} s: {loss.item():.4f} bits per latent", flush=True)
    report = {"rows": str(rows), "base of the rows' rounding": base, "hidden": hidden,
              "layers": layers, "steps": steps, "training rows": len(values), "validation rows": held,
              "seconds": round(time.monotonic() - started, 1), "validation": validation()}
    return arm, report


def integers_of(arm: ARM) -> list[np.ndarray]:
    layers = list(arm.hidden) + [arm.out]
    return [np.rint(t.detach().numpy().astype(np.float64) * 2 ** FRAC_BITS).astype(np.int64)
            for layer in layers for t in (layer.weight, layer.bias)]


def export(arm: ARM, path: Path) -> str:
    """Write the ARM's integers at FRAC_BITS (int32) as safetensors; returns the SHA-256."""
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(base_arm.to_tensors(integers_of(arm)), str(path), metadata={"format": "latentpress overfit shipped ARM",
                                            "levels": str(base_arm.LEVELS), "colours": str(base_arm.COLOURS)})
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("rows")
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--base", type=Path, help="an exported ARM whose rate-distortion optimized rounding to apply")
    p.add_argument("--rows", type=int, default=40_000, help="latents sampled per crop and quality")
    p = sub.add_parser("train")
    p.add_argument("--rows", type=Path, required=True)
    p.add_argument("--hidden", type=int, default=base_arm.HIDDEN)
    p.add_argument("--layers", type=int, default=base_arm.LAYERS)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--export", type=Path)
    p.add_argument("--report", type=Path)
    args = parser.parse_args(argv)
    if args.stage == "rows":
        make_rows(args.photos, args.out, args.base, args.rows)
        return
    arm, report = train_arm(args.rows, args.hidden, args.layers, args.steps)
    if args.export:
        report["sha256"] = export(arm, args.export)
        report["export"] = str(args.export)
    print(json.dumps(report, indent=2))
    if args.report:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
