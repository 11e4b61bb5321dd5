"""Train report 003's CAE (one per component) on random crops of photographs.

    python -m latentpress.train.cae --component luma --data ../shared/data/photos \
        --run runs/cae-luma --steps 40000 --lr 5e-4 --device cuda --export cae-luma.safetensors

Report 003: Zhengxue Cheng, Heming Sun, Masaru Takeuchi, Jiro Katto, "Deep Convolutional
AutoEncoder-based Lossy Image Compression", PCS 2018. The shipped weights come from
benchmarks/train_cae.sh (the exact commands; docs/codecs/cae.md#training says where they
ran and how long); their loss curves are results/cae/*-log.jsonl.

As §II-A: 128×128 patches, batch 16, Adam at a fixed learning rate (then a tenth of
it: for the last 15% of the steps by default, from ``--decay-at`` if given;
train/loop.py), additive uniform noise in [−½, ½) on the code in place of rounding,
loss = MSE + λ·mean|y| (eq. 1) with the MSE on the 0-255 scale. The report sets λ = 1
on a scale it does not state. On ours, near convergence (MSE about 25, mean amplitude
about 9), λ = 1 would make the amplitude term a third of the loss and trade precision
of the code for a smaller code that JPEG 2000's rate control does not need; λ = 0.01
leaves the amplitude to the reconstruction. The luma model trains on Y; the chroma
model on Cb and Cr (each crop gives both). Resumable: rerunning the same command
continues from the run's checkpoint (``--stop-after`` ends a run early, to resume
later); the loss curve is the run's log.jsonl.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from latentpress.codecs.cae.model import CHROMA, LUMA, ConvolutionalAutoencoder, rgb_to_ycbcr
from latentpress.train.crops import RandomCrops
from latentpress.train.loop import CHECKPOINT, TrainConfig, export_checkpoint, train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--component", choices=("luma", "chroma"), required=True)
    parser.add_argument("--data", required=True, help="folder of training photographs (never Kodak)")
    parser.add_argument("--run", help="checkpoint/log folder (default runs/cae-COMPONENT)")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--lmbda", type=float, default=0.01, help="λ of eq. (1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--decay-at", type=int, default=0,
                        help="step from which the learning rate is a tenth (default: the last 15%%)")
    parser.add_argument("--time-budget", type=float, default=0,
                        help="seconds: fit the step count to this (fixed after the first 200 steps)")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--stop-after", type=int, default=0,
                        help="stop after this step, leaving a checkpoint (0: run to --steps)")
    parser.add_argument("--init-from", help="start a new run from these weights (a safetensors file "
                        "of the same architecture; a fresh optimizer)")
    parser.add_argument("--export", help="write the shipped weights (float16 safetensors) here")
    args = parser.parse_args(argv)
    if not 0 <= args.decay_at <= args.steps:
        parser.error(f"--decay-at must be between 0 (the default schedule) and --steps ({args.steps})")
    if args.component == "chroma" and args.batch % 2:
        parser.error("--batch must be even for chroma (each crop gives a Cb and a Cr sample)")

    torch.manual_seed(args.seed)
    arch = LUMA if args.component == "luma" else CHROMA
    model = ConvolutionalAutoencoder(arch)
    crops = RandomCrops(args.data, args.crop)

    def samples(step: int) -> torch.Tensor:
        if args.component == "luma":
            return rgb_to_ycbcr(crops.batch(args.batch, args.seed, step))[:, :1]
        ycbcr = rgb_to_ycbcr(crops.batch(args.batch // 2, args.seed, step))
        return ycbcr[:, 1:].reshape(args.batch, 1, args.crop, args.crop)

    def step_fn(step: int):
        x = samples(step).to(args.device)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        code_shape = (x.shape[0], arch.code_channels, args.crop // 8, args.crop // 8)
        noise = (torch.rand(code_shape, generator=generator) - 0.5).to(args.device)
        x_hat, y = model(x, noise)
        mse = torch.mean((x_hat - x) ** 2) * 255.0 ** 2
        amplitude = y.abs().mean()
        loss = mse + args.lmbda * amplitude
        psnr = 10 * torch.log10(255.0 ** 2 / mse).item()
        return loss, {"loss": loss.item(), "mse": mse.item(), "amplitude": amplitude.item(), "psnr": psnr}

    run = args.run or f"runs/cae-{args.component}"
    if args.init_from and not (Path(run) / CHECKPOINT).exists():
        model.load_state_dict({k: v.float() for k, v in load_file(args.init_from).items()})
    config = TrainConfig(steps=args.steps, learning_rate=args.lr, seed=args.seed, threads=args.threads,
                         stop_after=args.stop_after, time_budget=args.time_budget, device=args.device,
                         decay_at=args.decay_at)
    done = train(model, step_fn, config, run)
    if args.export:
        export_checkpoint(model, run, args.export, {
            "model": f"cae-{args.component}", "architecture": arch.describe(), "steps": str(done),
            "lambda": str(args.lmbda), "data": Path(args.data).name,
        })


if __name__ == "__main__":
    main()
