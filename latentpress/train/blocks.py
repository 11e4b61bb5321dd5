"""Per-image training of report 000's block autoencoders (latentpress/codecs/blocks/).

Report 000 (Mario Sergio Fuentes Juarez, "Shallow Autoencoders for Lossy Image
Compression", The University of Texas at Austin), §4.1: the image's blocks, presented
one at a time in shuffled order for 300 epochs, RMSprop with Keras' defaults (learning
rate 0.001, ρ 0.9, ε 1e−7), loss = sum of squared errors. The report's code uses
TensorFlow's l2_loss, half that sum; RMSprop's updates do not depend on the loss's
scale, up to ε.

Beyond the report: a training whose first COLLAPSE_EPOCHS epochs lower the error by less
than 5% has collapsed to the mean colour, and :func:`fit` restarts it from the next
random seed (``restarts`` times at most; 0 is the report's procedure).
"""

from __future__ import annotations

import math
import time

import torch

from latentpress import progress
from latentpress.codecs.blocks.model import BlockArchitecture, BlockAutoencoder

# One block at a time, RMSprop's first updates can push the tanh code layer into
# saturation for some random initialisations: the error then stays at the mean colour's.
# Seen in benchmarks/seed000.py (image 2, random seed 0, both networks); detected after 3 epochs.
COLLAPSE_EPOCHS = 3


class Collapsed(Exception):
    """Training stalled at the start (see fit)."""


def train(model: BlockAutoencoder, blocks: torch.Tensor, epochs: int, batch_size: int = 1,
          time_budget: float = 0.0, seed: int = 0, check_collapse: bool = False) -> list[float]:
    """§4.1: RMSprop (Keras defaults), sum of squared errors, shuffled blocks; returns the
    mean squared error (per value, [0, 1] scale) of every epoch. With ``check_collapse``,
    raises Collapsed when the first COLLAPSE_EPOCHS epochs lower the error by less than
    5%. ``time_budget``: stop after the epoch that passes this many seconds (0: none)."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    model.train()
    started = time.monotonic()
    history = []
    count = blocks.shape[0]
    with progress.task(f"block-{model.arch.kind}: training", total=epochs, unit="epoch") as bar:
        for _ in range(epochs):
            total = 0.0
            order = torch.randperm(count, generator=generator)
            for start in range(0, count, batch_size):
                batch = blocks[order[start:start + batch_size]]
                loss = torch.sum((model(batch) - batch) ** 2)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += loss.item()
            mse = total / blocks.numel()
            history.append(mse)
            bar.advance()
            bar.note(psnr=-10 * math.log10(max(mse, 1e-12)))
            if check_collapse and len(history) == COLLAPSE_EPOCHS and history[-1] > 0.95 * history[0]:
                raise Collapsed
            if time_budget and time.monotonic() - started > time_budget:
                break
    return history


def fit(arch: BlockArchitecture, blocks: torch.Tensor, epochs: int, batch_size: int, time_budget: float,
        seed: int, restarts: int) -> tuple[BlockAutoencoder, list[float]]:
    """A block autoencoder trained on ``blocks`` (N×3×block×block in [0, 1]) from random
    seed ``seed``, or from the next seeds after a collapse; returns it (in inference mode)
    and its error per epoch. The last attempt, and a training too short to tell, are
    never declared collapsed."""
    for attempt in range(restarts + 1):
        attempt_seed = seed + attempt
        torch.manual_seed(attempt_seed)
        model = BlockAutoencoder(arch)
        try:
            last = attempt == restarts or epochs <= COLLAPSE_EPOCHS
            history = train(model, blocks, epochs, batch_size, time_budget, attempt_seed, check_collapse=not last)
            break
        except Collapsed:
            continue
    model.eval()
    return model, history
