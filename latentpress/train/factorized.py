"""Train the ``factorized`` codec's autoencoder on random crops of photographs.

    python -m latentpress.train.factorized --data ../shared/data/photos \
        --run runs/factorized --steps 6000 --export latentpress/weights/factorized-v1.safetensors

Resumable: rerunning the same command continues from runs/.../checkpoint.safetensors.
Loss per step: bits per pixel + λ0·g²·MSE(255-scale), g drawn log-uniformly from the
codec's gain range (see latentpress.codecs.factorized.model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from latentpress.codecs.factorized.model import (
    GAIN_MAX,
    GAIN_MIN,
    Architecture,
    FactorizedAutoencoder,
    lambda_for_gain,
    log_uniform,
)
from latentpress.train.crops import RandomCrops
from latentpress.train.loop import TrainConfig, export_checkpoint, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="folder of training photographs")
    parser.add_argument("--run", default="runs/factorized", help="checkpoint/log folder")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--lambda0", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--export", help="write the shipped weights (float16 safetensors) here")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    model = FactorizedAutoencoder(Architecture())
    crops = RandomCrops(args.data, args.crop)
    pixels_per_batch = args.batch * args.crop * args.crop

    def step_fn(step: int):
        x = crops.batch(args.batch, args.seed, step)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        gain = log_uniform(generator, args.batch, GAIN_MIN, GAIN_MAX)
        y = model.encode_latents(x) * gain.view(-1, 1, 1, 1)
        y_noisy = y + torch.rand(y.shape, generator=generator) - 0.5
        x_hat = model.decode_latents(y_noisy / gain.view(-1, 1, 1, 1))
        mse = (x_hat - x).square().flatten(1).mean(1) * 255.0**2
        bits = model.rate_bits(y_noisy, gain)
        bpp = bits / (args.crop * args.crop)
        loss = (bpp + lambda_for_gain(gain, args.lambda0) * mse).mean()
        psnr = 10 * torch.log10(255.0**2 / mse.mean()).item()
        return loss, {"loss": loss.item(), "bpp": bits.sum().item() / pixels_per_batch, "psnr": psnr}

    config = TrainConfig(steps=args.steps, learning_rate=args.lr, seed=args.seed, threads=args.threads)
    train(model, step_fn, config, args.run)
    if args.export:
        export_checkpoint(model, args.run, args.export, {
            "model": "factorized", "architecture": model.arch.describe(), "steps": str(args.steps),
            "lambda0": str(args.lambda0), "data": Path(args.data).name,
        })


if __name__ == "__main__":
    main()
