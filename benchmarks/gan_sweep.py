"""Choose gan-ae's L2 weight: SSIM and PSNR of GAN runs' autoencoders on the
held-out photos, beside the cnn-ae they started from.

Report 001 (§6.3) picked its loss weights by "the best SSIM results"; this does the same
on photos no model trained on (train/crops.py HELD_OUT), each coded whole through the
6-bit latents (quantized as the codec does, 32×32 blocks). A run is a directory of
latentpress.train.gan; its checkpoint's autoencoder is what is measured. ::

    python benchmarks/gan_sweep.py runs/gan-sweep-l2w10 runs/gan-sweep-l2w30 ... \
        --out results/cnnae/gan-sweep.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from latentpress.codecs.cnnae.codec import _batched, _blocks, _image
from latentpress.codecs.cnnae.model import LATENT_BITS, BlockAutoencoder, dequantize, quantize
from latentpress.image import load_image
from latentpress.metrics import psnr, ssim
from latentpress.train.crops import HELD_OUT
from latentpress.train.loop import CHECKPOINT, read_checkpoint

ROOT = Path(__file__).resolve().parent.parent


def measure(model: BlockAutoencoder, images: list[np.ndarray]) -> dict:
    model.eval()
    scores = {"psnr": [], "ssim": []}
    for image in images:
        blocks, rows, columns = _blocks(image)
        latents = quantize(_batched(model.encoder, blocks), LATENT_BITS)
        decoded = _image(_batched(model.decoder, dequantize(latents, LATENT_BITS)), rows, columns,
                         image.shape[0], image.shape[1], 3)
        scores["psnr"].append(psnr(image, decoded))
        scores["ssim"].append(ssim(image, decoded))
    return {k: float(np.mean(v)) for k, v in scores.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+")
    parser.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"))
    parser.add_argument("--baseline", default=str(ROOT / "latentpress" / "weights" / "cnn-ae-v1.safetensors"))
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    paths = sorted(p for p in Path(args.photos).glob("*.png") if p.stem in HELD_OUT)
    images = [load_image(p) for p in paths]
    images = [np.repeat(i[:, :, None], 3, axis=2) if i.ndim == 2 else i for i in images]
    baseline = BlockAutoencoder()
    baseline.load_state_dict({k: v.float() for k, v in load_file(args.baseline).items()})
    rows = [{"run": "cnn-ae (the start)", "l2_weight": None, "steps": 0, **measure(baseline, images)}]
    for run in args.runs:
        model = BlockAutoencoder()
        checkpoint = Path(run) / CHECKPOINT
        read_checkpoint(checkpoint, {"generator.": model})
        with safe_open(str(checkpoint), "pt") as handle:
            steps = int(handle.metadata()["step"])
        config = json.loads((Path(run) / "config.json").read_text())
        rows.append({"run": Path(run).name, "l2_weight": config["l2_weight"], "adv_weight": config["adv_weight"],
                     "steps": steps, **measure(model, images)})
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).write_text(json.dumps({"photos": [p.name for p in paths], "rows": rows}, indent=1) + "\n")
    for row in rows:
        print(f"{row['run']:28s} l2={row['l2_weight']} steps={row['steps']:5d} "
              f"PSNR {row['psnr']:.2f} dB  SSIM {row['ssim']:.4f}")


if __name__ == "__main__":
    main()
