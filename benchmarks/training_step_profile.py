"""What one per-image training step costs on this CPU, against what its multiply-
accumulates would allow: the question behind how many iterations an encode of seconds
or minutes can afford.

For one Kodak image, the time of (a) a dense float32 matrix product (the CPU's practical
peak through torch), (b) overfit's joint training step (latents, synthesis and ARM
through the decoder, rounding with straight-through gradients, MSE + λ·bpp, backward,
Adam), plainly and through torch.compile, and (c) the ARM fine-tuning step of `fast`
(a quarter of the latents' contexts). Each is timed over a number of steps after
warm-up, at one and two threads. The rate in GMAC/s counts the forward pass's
multiply-accumulates three times (forward, and backward to inputs and to weights).

    python benchmarks/training_step_profile.py [--image kodim14] [--steps 8]

writes results/overfit/training-step-profile.json. Run it alone: it measures the CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress.codecs.overfit import base_arm
from latentpress.codecs.overfit.codec import _image_tensor, levels_for
from latentpress.codecs.overfit.model import OverfitModel
from latentpress.codecs.overfit.presets import PRESETS, lambda_for_quality
from latentpress.image import load_image


def timed(step, steps: int) -> float:
    """Median seconds of one call of step(), after two warm-up calls."""
    for _ in range(2):
        step()
    times = []
    for _ in range(steps):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def matmul_rate(n: int = 2048) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return n ** 3 / timed(lambda: a @ b, 5) / 1e9           # GMAC/s


def joint_step(model: OverfitModel, x: torch.Tensor, lmbda: float):
    pixels = x.shape[-1] * x.shape[-2]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def loss():
        grids = model.quantized_grids("ste")
        return torch.mean((model.decode(grids) - x) ** 2) + lmbda * model.rate_bits(grids) / pixels

    def step(compute=loss):
        value = compute()
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
    return step, loss


def profile(threads: int, arch, x: torch.Tensor, lmbda: float, forward_macs: float, arm_macs: float,
            steps: int) -> list[dict]:
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    height, width = x.shape[-2:]
    model = OverfitModel(arch, height, width, 3)
    model.arm.load_integers(base_arm.for_layout(arch.levels, 3))
    model.warm_start(x, lmbda, spare_units=True)
    step, loss = joint_step(model, x, lmbda)
    peak = matmul_rate()

    def rate(macs: float, seconds: float) -> float:
        return 3 * macs * height * width / seconds / 1e9
    rows = [{"threads": threads, "what": "matmul 2048x2048 float32", "gmac_per_s": round(peak, 1)}]
    seconds = timed(step, steps)
    rows.append({"threads": threads, "what": "joint step (eager)", "seconds": round(seconds, 3),
                 "forward_macs_per_pixel": round(forward_macs), "gmac_per_s": round(rate(forward_macs, seconds), 2),
                 "fraction_of_matmul": round(rate(forward_macs, seconds) / peak, 4),
                 "steps_in_10_minutes": int(600 / seconds)})
    try:
        compiled = torch.compile(loss)
        seconds = timed(lambda: step(compiled), steps)
        rows.append({"threads": threads, "what": "joint step (torch.compile of the loss)",
                     "seconds": round(seconds, 3), "gmac_per_s": round(rate(forward_macs, seconds), 2),
                     "steps_in_10_minutes": int(600 / seconds)})
    except Exception as error:      # noqa: BLE001 — why compiling failed is the result
        rows.append({"threads": threads, "what": "joint step (torch.compile of the loss)",
                     "error": f"{type(error).__name__}: {str(error)[:300]}"})
    contexts, values = model.contexts([g.detach() for g in model.quantized_grids("round")])
    sample = values.numel() // 4        # fast's arm_warmup_fraction
    arm_optimizer = torch.optim.Adam(model.arm.parameters(), lr=3e-3)

    def arm_step():
        bits = model.bits(contexts[:sample], values[:sample])
        arm_optimizer.zero_grad(set_to_none=True)
        bits.backward()
        arm_optimizer.step()
    seconds = timed(arm_step, steps)
    rows.append({"threads": threads, "what": "ARM fine-tuning step (fast: a quarter of the latents)",
                 "seconds": round(seconds, 3), "gmac_per_s": round(rate(arm_macs / 4, seconds), 2),
                 "steps_in_10_minutes": int(600 / seconds)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--image", default="kodim14")
    parser.add_argument("--steps", type=int, default=8)
    args = parser.parse_args()
    image = load_image(args.kodak / f"{args.image}.png")
    x = _image_tensor(image)
    height, width = image.shape[:2]
    lmbda = lambda_for_quality(40)
    # The instant architecture with a trained synthesis: what a joint training step runs.
    arch = levels_for(PRESETS["instant"].architecture, height, width)
    trained = arch.decoder_macs_per_pixel(3, trained_synthesis=True)
    forward_macs = trained["arm"] + trained["upsampling"] + trained["synthesis"]
    rows = []
    for threads in (1, 2):
        rows += profile(threads, arch, x, lmbda, forward_macs, trained["arm"], args.steps)
        print(json.dumps(rows[-4:]), flush=True)
    out = ROOT / "results" / "overfit" / "training-step-profile.json"
    out.write_text(json.dumps({
        "command": "python benchmarks/training_step_profile.py", "image": args.image, "size": [height, width],
        "architecture": arch.describe(), "torch": torch.__version__,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                   f"{platform.system()} {platform.release()}", "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
