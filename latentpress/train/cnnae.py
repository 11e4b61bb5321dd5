"""Train report 001's block autoencoders on random 32×32 crops of photographs.

    python -m latentpress.train.cnnae --model cnn-ae --data ../shared/data/photos \
        --run runs/cnn-ae --steps 20000 --export cnn-ae.safetensors

Report 001: "Image Compression Using Deep Learning" (the report names no authors). It
trains on CIFAR-10 (50,000 32×32 images), which is not available here; random
32×32 crops of ../shared/data/photos stand in for it, without the held-out photos
(train/crops.py HELD_OUT), which Table 2's protocol measures on. §6.2: Adam, MSE, learning
rate 1e-5 (``--lr``; the default here is faster, and results/cnnae/ compares the two).

- ``cnn-ae``: encoder + decoder, MSE of the reconstruction.
- ``cnn-rnn-ae``: three residual stages trained together; the loss is the mean of the
  stages' MSEs, so that every prefix of the stages decodes well (progressive).
- ``cnn-ae-ft``: the narrow decoder on the frozen encoder of a trained cnn-ae
  (``--encoder-from``); the codec then fine-tunes it on each image (train/cnnae_ft.py).
- ``cnn-deblock``: the deblocking post-filter (model.py PostFilter), on 64×64 crops coded
  and decoded by a trained cnn-ae (``--encoder-from``; its 6-bit latents rounded as in the
  codec), so that every crop has block edges inside it and image borders around it.

Resumable; the loss curve is the run's log.jsonl (train/loop.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from safetensors.torch import load_file

from latentpress.codecs.cnnae.model import (
    BLOCK,
    LATENT_BITS,
    BlockAutoencoder,
    PostFilter,
    RecurrentAutoencoder,
    dequantize,
    quantize,
)
from latentpress.train.crops import HELD_OUT, RandomCrops
from latentpress.train.loop import TrainConfig, export_checkpoint, train

MODELS = ("cnn-ae", "cnn-rnn-ae", "cnn-ae-ft", "cnn-deblock")
DEBLOCK_CROP = 2 * BLOCK


def build(name: str) -> torch.nn.Module:
    if name == "cnn-rnn-ae":
        return RecurrentAutoencoder()
    if name == "cnn-deblock":
        return PostFilter()
    return BlockAutoencoder(narrow=name == "cnn-ae-ft")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, required=True)
    parser.add_argument("--data", required=True, help="folder of training photographs (never Kodak)")
    parser.add_argument("--run", help="checkpoint/log folder (default runs/MODEL)")
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--time-budget", type=float, default=0)
    parser.add_argument("--encoder-from", help="cnn-ae-ft, cnn-deblock: the trained cnn-ae weights (cnn-ae-ft keeps "
                        "its encoder; cnn-deblock filters what it decodes)")
    parser.add_argument("--export", help="write the shipped weights (float16 safetensors) here")
    args = parser.parse_args(argv)
    if args.model in ("cnn-ae-ft", "cnn-deblock") and not args.encoder_from:
        parser.error(f"--model {args.model} needs --encoder-from (a trained cnn-ae)")

    torch.manual_seed(args.seed)
    model = build(args.model)
    if args.model == "cnn-ae-ft":
        tensors = load_file(args.encoder_from)
        model.encoder.load_state_dict({k[8:]: v.float() for k, v in tensors.items() if k.startswith("encoder.")})
        model.encoder.requires_grad_(False)
    coder = None
    if args.model == "cnn-deblock":
        coder = BlockAutoencoder()
        coder.load_state_dict({k: v.float() for k, v in load_file(args.encoder_from).items()})
        coder.requires_grad_(False).eval().to(args.device)
    crops = RandomCrops(args.data, DEBLOCK_CROP if coder else BLOCK, exclude=HELD_OUT)

    def coded(x: torch.Tensor) -> torch.Tensor:
        """x (N×3×64×64) through the cnn-ae codec: 32×32 blocks, rounded 6-bit latents."""
        n = len(x)
        blocks = x.reshape(n, 3, 2, BLOCK, 2, BLOCK).permute(0, 2, 4, 1, 3, 5).reshape(-1, 3, BLOCK, BLOCK)
        with torch.no_grad():
            out = coder.decoder(dequantize(quantize(coder.encoder(blocks), LATENT_BITS), LATENT_BITS))
        return out.reshape(n, 2, 2, 3, BLOCK, BLOCK).permute(0, 3, 1, 4, 2, 5).reshape(n, 3, 2 * BLOCK, 2 * BLOCK)

    def step_fn(step: int):
        x = crops.batch(args.batch, args.seed, step).to(args.device)
        generator = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
        if coder is not None:
            decoded = coded(x)
            loss = torch.mean((model(decoded) - x) ** 2)
            before = torch.mean((decoded - x) ** 2)
            return loss, {"loss": loss.item(), "psnr": (-10 * torch.log10(loss)).item(),
                          "psnr_before": (-10 * torch.log10(before)).item()}
        if args.model == "cnn-rnn-ae":
            errors = [torch.mean((out - x) ** 2) for out in model(x, generator)]
            loss = sum(errors) / len(errors)
            metrics = {f"psnr_step{k + 1}": (-10 * torch.log10(e)).item() for k, e in enumerate(errors)}
        else:
            loss = torch.mean((model(x, generator) - x) ** 2)
            metrics = {"psnr": (-10 * torch.log10(loss)).item()}
        return loss, {"loss": loss.item(), **metrics}

    run = args.run or f"runs/{args.model}"
    config = TrainConfig(steps=args.steps, learning_rate=args.lr, seed=args.seed, threads=args.threads,
                         time_budget=args.time_budget, device=args.device)
    done = train(model, step_fn, config, run)
    if args.export:
        export_checkpoint(model, run, args.export, {"model": args.model, "steps": str(done), "lr": str(args.lr),
                                                    "data": Path(args.data).name})


if __name__ == "__main__":
    main()
