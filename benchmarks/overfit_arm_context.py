"""Which extra ARM inputs a shipped ARM would use: bits per latent of float ARMs trained
on the training photos' wavelet latents (the shipped ARM's rows, latentpress.train.overfit_arm)
with the inputs of today's band-aware ARM and with extra context from other planes.

A shipped ARM costs no bytes in a file, so an input that lowers the bits of the training
photos' latents is worth its multiply-accumulates, unlike in a per-image ARM whose
weights are stored. Extra inputs measured (each a co-located value or the sum of |latent|
over the co-located 3×3 neighbourhood, as the parent inputs are):

  luma     for a chroma plane, the luma plane of the same band (value, Σ|·|): the
           luma of a level coded before its chroma (one more phase per level)
  cb       for Cr, the Cb plane of the same band (value, Σ|·|): a third phase per level
  luma_o   for a chroma plane, Σ|·| of the luma's two other orientations at its level
  coarse_o Σ|·| of the two other orientations one level coarser, same colour (zero at
           the coarsest level): no new phase
  coarse_c Σ|·| of the same band one level coarser in the other two colours (the low
           band at the coarsest level): no new phase
  coarse_before  coarse_c over the colours before this one only (Y none, Cb from Y, Cr
           from Y and Cb): what a pipelined order can give, where each level's Y, Cb
           and Cr are coded in three consecutive phases that each also code the next
           coarser colour of the level before (levels + 3 phases in all, not 3 · levels)

Rows are made once (warm start of every training crop at nine qualities, as the shipped
ARM's rows) and cached in runs/overfit-arm-context/rows.safetensors; every variant's ARM
is trained with the shipped ARM's recipe and validated on a held-back twentieth.
Writes results/overfit/arm-context.json (run "today" first at each width: the other
rows are compared with it, and with "today" at 24 wide, version 7's ARM).

    python benchmarks/overfit_arm_context.py [--photos ../shared/data/photos] [--rows 10000] [--steps 4000]
        [--variants today,all] [--hidden 24] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress.bench.run import machine_description  # noqa: E402
from latentpress.codecs.overfit import base_arm  # noqa: E402
from latentpress.codecs.overfit.arm import ARM  # noqa: E402
from latentpress.codecs.overfit.model import OverfitModel, _parent_features  # noqa: E402
from latentpress.codecs.overfit.presets import lambda_for_quality  # noqa: E402
from latentpress.train.overfit_arm import QUALITIES, _bits, architecture, training_crops  # noqa: E402

EXTRA = {"luma": (0, 1), "cb": (2, 3), "luma_o": (4, 5), "coarse_o": (6, 7), "coarse_c": (8,), "coarse_before": (9,)}
VARIANTS = {
    "today": (),
    "coarse (no new phase)": ("coarse_o", "coarse_c"),
    "luma": ("luma",),
    "luma + luma_o": ("luma", "luma_o"),
    "luma + cb": ("luma", "cb"),
    "luma + coarse": ("luma", "coarse_o", "coarse_c"),
    "all": ("luma", "cb", "luma_o", "coarse_o", "coarse_c"),
    "all pipelined": ("luma", "cb", "luma_o", "coarse_o", "coarse_before"),
}


def extra_features(planes: list[torch.Tensor], levels: int, colours: int = 3) -> list[torch.Tensor]:
    """Per plane (integer_grids order), its (h·w, 10) extra inputs (EXTRA's columns; the
    last is coarse_c over the colours coded before this one only: "pipelined")."""
    low = 3 * levels
    plane = lambda grid, colour: planes[grid * colours + colour]        # noqa: E731
    out = []
    for grid in range(low + 1):
        level, orientation = divmod(grid, 3)
        for colour in range(colours):
            shape = tuple(plane(grid, colour).shape)
            n = shape[0] * shape[1]
            f = torch.zeros(n, 10)
            if grid == low:
                if colour:
                    f[:, 0:2] = _parent_features(plane(low, 0), 1, shape)
                if colour == 2:
                    f[:, 2:4] = _parent_features(plane(low, 1), 1, shape)
                out.append(f)
                continue
            if colour:
                f[:, 0:2] = _parent_features(plane(grid, 0), 1, shape)
                others = [o for o in range(3) if o != orientation]
                f[:, 4] = _parent_features(plane(3 * level + others[0], 0), 1, shape)[:, 1]
                f[:, 5] = _parent_features(plane(3 * level + others[1], 0), 1, shape)[:, 1]
            if colour == 2:
                f[:, 2:4] = _parent_features(plane(grid, 1), 1, shape)
            if level < levels - 1:
                others = [o for o in range(3) if o != orientation]
                coarse = 3 * (level + 1)
                f[:, 6] = _parent_features(plane(coarse + others[0], colour), 2, shape)[:, 1]
                f[:, 7] = _parent_features(plane(coarse + others[1], colour), 2, shape)[:, 1]
                f[:, 8] = sum(_parent_features(plane(coarse + orientation, c), 2, shape)[:, 1]
                              for c in range(colours) if c != colour)
                if colour:
                    f[:, 9] = sum(_parent_features(plane(coarse + orientation, c), 2, shape)[:, 1]
                                  for c in range(colour))
            else:
                f[:, 8] = sum(_parent_features(plane(low, c), 1, shape)[:, 1] for c in range(colours) if c != colour)
                if colour:
                    f[:, 9] = sum(_parent_features(plane(low, c), 1, shape)[:, 1] for c in range(colour))
            out.append(f)
    return out


def make_rows(photos: Path, out: Path, rows: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    contexts, extras, values, tags = [], [], [], []
    for _, quality, x in training_crops(photos, QUALITIES, rng):
        model = OverfitModel(architecture(), *x.shape[2:], 3)
        model.warm_start(x, lambda_for_quality(quality), spare_units=False)
        grids = [g.detach() for g in model.quantized_grids("round")]
        order = torch.randperm(model.latent_count())[:rows]
        c, v = model.contexts(grids, rows=order)
        planes = [grid[0, k] for grid in grids for k in range(grid.shape[1])]
        e = torch.cat(extra_features(planes, base_arm.LEVELS))[order]
        contexts.append(c)
        extras.append(e)
        values.append(v)
        tags.append(torch.full((len(v),), quality, dtype=torch.int16))
    from safetensors.torch import save_file

    out.parent.mkdir(parents=True, exist_ok=True)
    save_file({"contexts": torch.cat(contexts), "extra": torch.cat(extras), "values": torch.cat(values),
               "quality": torch.cat(tags)}, str(out))


def train(contexts: torch.Tensor, values: torch.Tensor, quality: torch.Tensor, held: int, steps: int,
          hidden: int, layers: int, batch: int = 32768, learning_rate: float = 1e-2, seed: int = 0) -> dict:
    """The shipped ARM's recipe (latentpress.train.overfit_arm.train_arm) on given columns."""
    torch.manual_seed(seed)
    val = (contexts[:held], values[:held], quality[:held])
    contexts, values = contexts[held:], values[held:]
    arm = ARM(hidden, layers, contexts.shape[1])
    optimizer = torch.optim.Adam(arm.parameters(), lr=learning_rate)
    started = time.monotonic()
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = learning_rate * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        pick = torch.randint(0, len(values), (batch,))
        loss = _bits(arm, contexts[pick], values[pick]).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        bits = _bits(arm, val[0], val[1])
    macs = (contexts.shape[1] - (base_arm.LEVELS + 1 + 3 + 3)) * hidden + hidden * hidden * (layers - 1) + 2 * hidden
    return {"inputs": contexts.shape[1], "hidden": hidden, "seed": seed, "MAC per latent": macs,
            "seconds": round(time.monotonic() - started, 1),
            "bits per latent": round(bits.mean().item(), 5),
            "per quality": {int(q): round(bits[val[2] == q].mean().item(), 5) for q in val[2].unique()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    parser.add_argument("--rows", type=int, default=10_000, help="latents sampled per crop and quality")
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--hidden", type=int, default=base_arm.HIDDEN,
                        help="the ARM's width (v1 is 24 wide; v2, with nine extra inputs, 20)")
    parser.add_argument("--seed", type=int, default=0, help="the training's seed (a second seed shows the noise)")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "overfit-arm-context" / "rows.safetensors")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "overfit" / "arm-context.json")
    args = parser.parse_args()
    torch.set_num_threads(2)
    if not args.cache.exists():
        make_rows(args.photos, args.cache, args.rows)
    from safetensors.torch import load_file

    data = load_file(str(args.cache))
    order = torch.randperm(len(data["values"]), generator=torch.Generator().manual_seed(0))
    contexts, extra, values, quality = (data[k][order] for k in ("contexts", "extra", "values", "quality"))
    held = len(values) // 20
    result = json.loads(args.out.read_text()) if args.out.exists() else {}
    result.update({"command": "python benchmarks/overfit_arm_context.py " + " ".join(sys.argv[1:]),
                   "machine": machine_description(), "rows": len(values), "validation rows": held,
                   "layers": base_arm.LAYERS, "steps": args.steps,
                   "extra inputs": {k: list(v) for k, v in EXTRA.items()}})
    result.setdefault("variants", {})
    for variant in args.variants.split(","):
        name = f"{variant}, hidden {args.hidden}" + (f", seed {args.seed}" if args.seed else "")
        if name in result["variants"]:
            continue
        columns = [c for key in VARIANTS[variant] for c in EXTRA[key]]
        inputs = torch.cat([contexts, extra[:, columns]], dim=1) if columns else contexts
        row = train(inputs, values, quality, held, args.steps, args.hidden, base_arm.LAYERS, seed=args.seed)
        row["extra"] = list(VARIANTS[variant])
        result["variants"][name] = row
        today = result["variants"].get(f"today, hidden {args.hidden}" + (f", seed {args.seed}" if args.seed else ""))
        if today:
            row["vs today"] = round(row["bits per latent"] / today["bits per latent"] - 1, 5)
        widest = result["variants"].get("today, hidden 24")       # version 7's ARM
        if widest:
            row["vs today at 24 wide"] = round(row["bits per latent"] / widest["bits per latent"] - 1, 5)
        print(name, json.dumps(row), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
