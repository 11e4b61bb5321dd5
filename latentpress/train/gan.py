"""Train report 001's GAN-AE (§4.2, §6.3): the block autoencoder as the generator, a critic,
and a Wasserstein loss.

    python -m latentpress.train.gan --data ../shared/data/photos --run runs/gan-ae \
        --init-from latentpress/weights/cnn-ae-v1.safetensors --steps 5000 --threads 2

Report 001: "Image Compression Using Deep Learning" (the report names no authors).

As §6.3: RMSProp at 2e-5 for both networks, critic weights clipped to ±0.01, a critic
without a sigmoid (WGAN), 5 critic steps per generator step (the WGAN paper's default;
the report does not say). Generator loss = l2_weight·MSE + adv_weight·(−critic(x̂)).

The report's two statements about its weights disagree: §4.2 writes λ1·L_error +
λ2·L_adversarial, and §6.3 says λ1 = 1, λ2 = 10 were best and that "when we increase λ2,
MSE error decreased … since that term directly minimizes MSE", which makes λ2 the weight
of the MSE. The defaults follow §6.3, the experiment: l2_weight = 10, adv_weight = 1.
With the MSE on the [0, 1] scale the adversarial term then dominates and the PSNR falls;
the shipped ``gan-ae`` uses ``--l2-weight 1000``, chosen by a sweep on the held-out
photos (benchmarks/train_cnnae.sh has the command, docs/codecs/gan-ae.md the sweep).

The report trains the encoder, decoder and critic together from scratch; on this CPU we
start the autoencoder from the trained cnn-ae (``--init-from``) and train on from there.
Same data as train/cnnae.py (32×32 crops, the held-out photos left out). Resumable from
the run's checkpoint; the curve is the run's log.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from safetensors.torch import load_file
from tqdm import tqdm

from latentpress.codecs.cnnae.model import BlockAutoencoder, critic
from latentpress.train.crops import HELD_OUT, RandomCrops
from latentpress.train.loop import CHECKPOINT, LOG, read_checkpoint, truncate_log, write_checkpoint
from latentpress.weights import export_weights

CRITIC_STEPS = 5
CLIP = 0.01


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--run", default="runs/gan-ae")
    parser.add_argument("--init-from", help="start the autoencoder from these weights (a trained cnn-ae)")
    parser.add_argument("--steps", type=int, default=6000, help="generator steps")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-5)
    parser.add_argument("--l2-weight", type=float, default=10.0)
    parser.add_argument("--adv-weight", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--export", help="write the autoencoder's weights (float16 safetensors) here")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator, judge = BlockAutoencoder(), critic()
    if args.init_from:
        generator.load_state_dict({k: v.float() for k, v in load_file(args.init_from).items()})
    generator.to(args.device)
    judge.to(args.device)
    g_opt = torch.optim.RMSprop(generator.parameters(), lr=args.lr)
    c_opt = torch.optim.RMSprop(judge.parameters(), lr=args.lr)
    out = Path(args.run)
    out.mkdir(parents=True, exist_ok=True)
    parts = {"generator.": generator, "critic.": judge, "g_opt.": g_opt, "c_opt.": c_opt}
    checkpoint, start = out / CHECKPOINT, 0
    if checkpoint.exists():
        start = int(read_checkpoint(checkpoint, parts)["step"])
    log_path = out / LOG
    truncate_log(log_path, start)
    (out / "config.json").write_text(json.dumps(vars(args), indent=2))
    crops = RandomCrops(args.data, 32, exclude=HELD_OUT)

    def batch(step: int, k: int) -> torch.Tensor:
        return crops.batch(args.batch, args.seed, step * (CRITIC_STEPS + 1) + k).to(args.device)

    started = time.monotonic()
    running = {"mse": 0.0, "critic_gap": 0.0}
    counted = 0
    with open(log_path, "a") as log, tqdm(total=args.steps, initial=start, unit="step") as bar:
        for step in range(start, args.steps):
            noise = torch.Generator().manual_seed(args.seed * 1_000_003 + step)
            for k in range(CRITIC_STEPS):          # critic: maximise D(x) − D(x̂)
                x = batch(step, k)
                with torch.no_grad():
                    fake = generator(x, noise)
                c_opt.zero_grad(set_to_none=True)
                gap = judge(x).mean() - judge(fake).mean()
                (-gap).backward()
                c_opt.step()
                with torch.no_grad():
                    for parameter in judge.parameters():
                        parameter.clamp_(-CLIP, CLIP)
            x = batch(step, CRITIC_STEPS)
            g_opt.zero_grad(set_to_none=True)
            fake = generator(x, noise)
            mse = torch.mean((fake - x) ** 2)
            loss = args.l2_weight * mse - args.adv_weight * judge(fake).mean()
            loss.backward()
            g_opt.step()
            running["mse"] += mse.item()
            running["critic_gap"] += gap.item()
            counted += 1
            bar.update(1)
            if (step + 1) % 50 == 0 or step + 1 == args.steps:
                means = {k: v / counted for k, v in running.items()}
                means["psnr"] = -10 * float(torch.log10(torch.tensor(means["mse"])))
                log.write(json.dumps({"step": step + 1, "seconds": round(time.monotonic() - started, 1), **means}) + "\n")
                log.flush()
                bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
                running, counted = {"mse": 0.0, "critic_gap": 0.0}, 0
            if (step + 1) % 200 == 0 or step + 1 == args.steps:
                write_checkpoint(checkpoint, parts, {"step": str(step + 1)})
    if args.export:
        generator.cpu()
        export_weights(generator, args.export, {"model": "gan-ae", "steps": str(args.steps), "lr": str(args.lr),
                                                "l2_weight": str(args.l2_weight), "adv_weight": str(args.adv_weight),
                                                "init": Path(args.init_from).name if args.init_from else "none",
                                                "data": Path(args.data).name})


if __name__ == "__main__":
    main()
