"""What optimizing the latents through overfit's fixed decoder buys, before building it
into an encoder (docs/codecs/overfit-research.md, lever 1): from the state the `fast`
preset reaches (wavelet warm start, ARM fit with its RDOQ pass), N Adam iterations on
MSE + λ·bits with a quantization proxy, then the latents rounded; the cost
J = MSE + λ·bpp of the rounded latents under the ARM (the rate the ARM estimates, the
MSE of the exact inverse transform; no file is written) against J before.

Proxies: ``softround`` (soft-rounding, temperature 0.35 → 0.08), ``softround-noise``
(Cool-chic 5.0's soft_round(soft_round(y, T) + σ·n, T), σ 0.22 → 0.15), ``ste-soft``
(rounding forward, soft-rounding's gradient), ``ste`` (rounding forward, identity
gradient). Writes results/overfit/<name>.json.

    python benchmarks/overfit_refine_probe.py [--images kodim23,kodim01] [--qualities 30,70]
        [--iterations 100] [--rates 0.02,0.05] [--crop 256] [--name refine-probe]
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
from latentpress.codecs.overfit import codec as overfit_codec  # noqa: E402
from latentpress.codecs.overfit import presets  # noqa: E402
from latentpress.codecs.overfit.model import OverfitModel  # noqa: E402
from latentpress.image import load_image  # noqa: E402
from latentpress.train import overfit as training  # noqa: E402


def soft_round(y: torch.Tensor, temperature: float) -> torch.Tensor:
    """A differentiable stand-in for rounding that approaches it as the temperature falls
    (Agustsson and Theis, "Universally Quantized Neural Compression", NeurIPS 2020)."""
    floor = torch.floor(y)
    return floor + 0.5 + torch.tanh((y - floor - 0.5) / temperature) / (2 * math.tanh(0.5 / temperature))


def _proxies():
    soft = soft_round

    def ste_soft(y, temperature, sigma):
        s = soft(y, temperature)
        return s + (torch.round(y) - s).detach()

    return {
        "softround": lambda y, t, s: soft(y, t),
        "softround-noise": lambda y, t, s: soft(soft(y, t) + s * torch.randn_like(y), t),
        "ste-soft": ste_soft,
        "ste": lambda y, t, s: y + (torch.round(y) - y).detach(),
    }


def _start(x: torch.Tensor, lmbda: float) -> OverfitModel:
    preset = presets.PRESETS["fast"]
    arch = overfit_codec.levels_for(preset.architecture, x.shape[2], x.shape[3])
    torch.manual_seed(0)
    model = OverfitModel(arch, x.shape[2], x.shape[3], x.shape[1])
    model.warm_start(x, lmbda, spare_units=False)
    training.train(model, x, preset, lmbda, 0, 0.0, 0)
    return model


def _cost(model: OverfitModel, x: torch.Tensor, lmbda: float) -> tuple[float, float, float]:
    pixels = x.shape[2] * x.shape[3]
    with torch.no_grad():
        grids = model.quantized_grids("round")
        mse = torch.mean((model.decode_inverse(grids).clamp(0, 1) - x) ** 2).item()
        bpp = model.rate_bits(grids).item() / pixels
    return mse, bpp, mse + lmbda * bpp


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default="kodim23,kodim01")
    parser.add_argument("--qualities", default="30,70")
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--rates", default="0.02,0.05", help="Adam learning rates of the latents")
    parser.add_argument("--crop", type=int, default=256, help="centre crop side (0: whole image)")
    parser.add_argument("--name", default="refine-probe")
    args = parser.parse_args()
    torch.set_num_threads(1)
    records = []
    for image in args.images.split(","):
        pixels = load_image(ROOT.parent / "shared" / "data" / "kodak" / f"{image}.png")
        if args.crop:
            top, left = (pixels.shape[0] - args.crop) // 2, (pixels.shape[1] - args.crop) // 2
            pixels = np.ascontiguousarray(pixels[top:top + args.crop, left:left + args.crop])
        x = overfit_codec._image_tensor(pixels)
        pixel_count = x.shape[2] * x.shape[3]
        for quality in map(int, args.qualities.split(",")):
            lmbda = presets.lambda_for_quality(quality)
            for name, proxy in _proxies().items():
                for rate in map(float, args.rates.split(",")):
                    model = _start(x, lmbda)
                    before = _cost(model, x, lmbda)
                    latents = list(model.latents)
                    optimizer = torch.optim.Adam([{"params": latents, "lr": rate},
                                                  {"params": list(model.arm.parameters()), "lr": 3e-3}])
                    started = time.perf_counter()
                    for iteration in range(args.iterations):
                        done = iteration / max(1, args.iterations - 1)
                        temperature, sigma = 0.35 + (0.08 - 0.35) * done, 0.22 + (0.15 - 0.22) * done
                        grids = [proxy(y, temperature, sigma) for y in latents]
                        mse = torch.mean((model.decode_inverse(grids) - x) ** 2)
                        loss = mse + lmbda * model.rate_bits(grids) / pixel_count
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                    with torch.no_grad():
                        for y in latents:
                            y.copy_(torch.round(y))
                    after = _cost(model, x, lmbda)
                    record = {"image": image, "quality": quality, "proxy": name, "lr": rate,
                              "iterations": args.iterations, "J before": before[2], "J after": after[2],
                              "J change": round(after[2] / before[2] - 1, 4),
                              "bpp before": round(before[1], 4), "bpp after": round(after[1], 4),
                              "seconds": round(time.perf_counter() - started, 1)}
                    records.append(record)
                    print(json.dumps(record), flush=True)
    out = ROOT / "results" / "overfit" / f"{args.name}.json"
    out.write_text(json.dumps({"command": "python benchmarks/overfit_refine_probe.py " + " ".join(sys.argv[1:]),
                               "machine": machine_description(), "records": records}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
