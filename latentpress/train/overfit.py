"""The ``overfit`` codec's per-image training: what its encoder runs on the one image
before it quantizes and stores the result (latentpress/codecs/overfit/codec.py).

Two stages, as in Cool-chic (Ladune et al., "COOL-CHIC: Coordinate-based Low
Complexity Hierarchical Image Codec", ICCV 2023) and C3 (Kim et al., "C3:
High-performance and low-complexity neural compression from a single image or video",
CVPR 2024), on the loss MSE + λ·bpp:

1. the ARM alone, fitted to the warm-start latents (OverfitModel.warm_start), with an
   optional rate-distortion optimized rounding pass half-way (OverfitModel.rdoq);
2. latents, synthesis and ARM together (``iterations`` > 0), rounding with
   straight-through gradients, after additive noise where the preset asks for it.

The presets run only the first stage: from the wavelet warm start, joint training
bought nothing measurable (docs/codecs/overfit.md).
"""

from __future__ import annotations

import contextlib
import math
import time

import torch

from latentpress import progress
from latentpress.codecs.overfit.model import MAX_CONTEXT_ROWS, OverfitModel
from latentpress.codecs.overfit.presets import Preset


def train(model: OverfitModel, x: torch.Tensor, preset: Preset, lmbda: float, iterations: int,
          time_budget: float, seed: int, label: str = "overfit") -> None:
    """Fit the ARM to the warm-start latents, then latents, synthesis and ARM together on
    MSE + λ·bpp (rounding with straight-through gradients; additive noise first when the
    preset asks for it)."""
    torch.manual_seed(seed)
    pixels = x.shape[-1] * x.shape[-2]
    started = time.monotonic()
    out_of_time = lambda: time_budget and time.monotonic() - started > time_budget  # noqa: E731
    # Only when the ARM is fitted: the first optimizer of a process imports much of
    # torch's compiler stack (about a second), which `instant` never needs.
    arm_optimizer = torch.optim.Adam(model.arm.parameters(), lr=preset.arm_learning_rate) \
        if preset.arm_warmup else None
    # The ARM alone is fitted to the warm-start latents, each iteration on a random part
    # of them (an unbiased estimate of the rate): contexts gathered once, shuffled once,
    # and taken in consecutive slices (a random gather per iteration would cost more
    # than the ARM's own forward and backward passes). Beyond MAX_CONTEXT_ROWS latents,
    # on a random subset of that many (bounded memory).
    total = model.latent_count()

    def shuffled_contexts() -> tuple[torch.Tensor, torch.Tensor]:
        order = torch.randperm(total)[:MAX_CONTEXT_ROWS]
        return model.contexts([g.detach() for g in model.quantized_grids("round")], rows=order)

    if preset.arm_warmup == 0 and preset.rdoq:
        _rdoq(model, x, lmbda, label)         # under the ARM as it starts (the shipped one)
    contexts, values = shuffled_contexts() if preset.arm_warmup else (torch.empty(0), torch.empty(0))
    sample = max(1, int(values.numel() * preset.arm_warmup_fraction))
    slices = max(1, values.numel() // sample)
    fitting = progress.task(f"{label}: fitting the ARM", total=preset.arm_warmup) if preset.arm_warmup \
        else contextlib.nullcontext(progress.Task())
    with fitting as bar:
        for iteration in range(preset.arm_warmup):
            if preset.rdoq and iteration == preset.arm_warmup // 2 and _rdoq(model, x, lmbda, label):
                # Half-way, with an ARM that knows the latents: rate-distortion optimized
                # rounding, then the ARM goes on fitting the new latents.
                contexts, values = shuffled_contexts()
            for group in arm_optimizer.param_groups:          # cosine decay to 5%
                group["lr"] = preset.arm_learning_rate * (
                    0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * iteration / preset.arm_warmup)))
            part = slice((iteration % slices) * sample, (iteration % slices + 1) * sample)
            bpp = model.bits(contexts[part], values[part]) * (total / sample) / pixels
            arm_optimizer.zero_grad(set_to_none=True)
            bpp.backward()
            arm_optimizer.step()
            bar.advance()
            if out_of_time():
                return
    del contexts, values
    if iterations <= 0:
        return
    with progress.task(f"{label}: training latents, synthesis and ARM", total=iterations) as bar:
        networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
        # Latents move by about their learning rate per Adam update whatever their
        # gradient, and straight-through rounding makes those moves a random walk that
        # adds rate: the total travel is held constant (docs/codecs/overfit.md).
        latent_rate = preset.latent_travel / iterations
        optimizer = torch.optim.Adam([{"params": list(model.latents), "lr": latent_rate},
                                      {"params": networks, "lr": preset.learning_rate}])
        base_rates = [latent_rate, preset.learning_rate]
        noise_until = int(iterations * preset.noise_fraction)
        for iteration in range(iterations):
            # Linear warm-up (the warm start is a good point; a full first update would
            # leave it), then cosine decay over the schedule.
            decay = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * iteration / iterations))
            decay *= min(1.0, (iteration + 1) / preset.warmup)
            for group, base in zip(optimizer.param_groups, base_rates):
                group["lr"] = base * decay
            grids = model.quantized_grids("noise" if iteration < noise_until else "ste")
            x_hat = model.decode(grids)
            mse = torch.mean((x_hat - x) ** 2)
            bpp = model.rate_bits(grids) / pixels
            loss = mse + lmbda * bpp
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.advance()
            if iteration % 10 == 0:
                bar.note(loss=loss.item(), bpp=bpp.item(), psnr=-10 * math.log10(max(mse.item(), 1e-12)))
            if out_of_time():
                break


def _rdoq(model: OverfitModel, x: torch.Tensor, lmbda: float, label: str) -> bool:
    with progress.task(f"{label}: rate-distortion optimized rounding"):
        return model.rdoq(x, lmbda)
