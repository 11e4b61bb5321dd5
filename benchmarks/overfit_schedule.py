"""How the overfit codec's training converges on one image: PSNR and rate every 50
iterations, with noise and after rounding. Exploratory (issue 4): tells what more
iterations, other learning rates or noise fractions buy.

    python benchmarks/overfit_schedule.py PRESET LATENT_LR NET_LR ITERATIONS NOISE_FRACTION QUALITY [IMAGE]

Prints one line per 50 iterations: iteration, PSNR (noisy latents), bpp estimate,
then PSNR and bpp estimate with rounded latents, and elapsed seconds. Single thread.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from latentpress.codecs.overfit import codec as overfit_codec
from latentpress.codecs.overfit.model import OverfitModel
from latentpress.codecs.overfit.presets import PRESETS, lambda_for_quality
from latentpress.image import load_image


def main() -> None:
    preset, latent_lr, net_lr, iterations, noise_fraction, quality = sys.argv[1:7]
    image_path = sys.argv[7] if len(sys.argv) > 7 else "../shared/data/kodak/kodim23.png"
    torch.set_num_threads(1)
    image = load_image(image_path)
    x = overfit_codec._image_tensor(image)
    height, width = image.shape[:2]
    model = OverfitModel(PRESETS[preset].architecture, height, width, x.shape[1])
    networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
    optimizer = torch.optim.Adam([{"params": list(model.latents), "lr": float(latent_lr)},
                                  {"params": networks, "lr": float(net_lr)}])
    bases = [float(latent_lr), float(net_lr)]
    iterations, lmbda = int(iterations), lambda_for_quality(int(quality))
    started = time.time()
    for step in range(iterations):
        decay = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / iterations))
        for group, base in zip(optimizer.param_groups, bases):
            group["lr"] = base * decay
        grids = model.quantized_grids("noise" if step < float(noise_fraction) * iterations else "ste")
        mse = torch.mean((model.decode(grids) - x) ** 2)
        bpp = model.rate_bits(grids) / (height * width)
        loss = mse + lmbda * bpp
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 50 == 0 or step == iterations - 1:
            with torch.no_grad():
                rounded = model.quantized_grids("round")
                mse_r = torch.mean((model.decode(rounded).clamp(0, 1) - x) ** 2).item()
                bpp_r = (model.rate_bits(rounded) / (height * width)).item()
            print(step, round(-10 * math.log10(mse.item()), 2), round(bpp.item(), 3), "rounded",
                  round(-10 * math.log10(mse_r), 2), round(bpp_r, 3), round(time.time() - started, 1), flush=True)


if __name__ == "__main__":
    main()
