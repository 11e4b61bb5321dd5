"""Per-image training of the lossless codecs' predictors (latentpress/codecs/lossless/).

Both codecs train small networks on the one image they code, on a random sample of its
pixels, with Adam under a cosine learning rate, from minibatches of BATCH pixels:

- ``lossless``: one network per plane predicts a discretized Laplace (a mean relative to
  the median edge prediction, and a log scale); the objective is the code length
  itself, the mean −log2 of each pixel's probability (:func:`train_planes`).
- ``mlp-lossless``: one network predicts every channel's pixel from its causal context,
  trained with MSE, as report 001 §3 ("Image Compression Using Deep Learning") trains its
  MLP (:func:`train_predictor`).

Training runs on floats; the codec then rounds the weights to integers and runs the
networks in integer arithmetic, so nothing here has to be reproducible across machines
for a file to decode. The same seed and data give the same weights on one machine, so
that an encode is reproducible there.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import nn

from latentpress import progress
from latentpress.nn.likelihood import laplace_interval_probability

BATCH = 8192                       # pixels per minibatch and network
LEARNING_RATE = 1e-2
LOG_SCALE_RANGE = (-3.0, 4.5)      # the predicted log scale is clamped to this while training

Batch = tuple[torch.Tensor, torch.Tensor]


def train_planes(nets: Sequence[nn.Module], features: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                 iterations: int, time_budget: float, seed: int) -> None:
    """``lossless``: plane p's network maps ``features[p]`` (one row per sampled pixel) to
    the mean and log scale of a Laplace over ``targets[p]`` (the pixel's value minus its
    median edge prediction); all planes train together on the sum of their bits."""
    count = targets[0].size

    def batches(generator: np.random.Generator) -> list[Batch]:
        pick = generator.integers(0, count, min(BATCH, count))
        return [(torch.from_numpy(f[pick].astype(np.float32)), torch.from_numpy(t[pick].astype(np.float32)))
                for f, t in zip(features, targets)]

    def bits(net: nn.Module, batch: Batch) -> torch.Tensor:
        inputs, target = batch
        mean, log_scale = net(inputs).unbind(-1)
        scale = torch.exp(log_scale.clamp(*LOG_SCALE_RANGE))
        return -torch.log2(laplace_interval_probability(target - mean, scale)).mean()

    _fit(nets, batches, bits, iterations, time_budget, seed, "lossless")


def train_predictor(net: nn.Module, features: np.ndarray, corrections: np.ndarray,
                    iterations: int, time_budget: float, seed: int) -> None:
    """``mlp-lossless``: the network maps ``features`` (contexts of every channel, stacked)
    to ``corrections`` (each pixel minus its median edge prediction), by MSE."""
    count = corrections.size

    def batches(generator: np.random.Generator) -> list[Batch]:
        pick = generator.integers(0, count, min(BATCH, count))
        return [(torch.from_numpy(features[pick].astype(np.float32)),
                 torch.from_numpy(corrections[pick].astype(np.float32)))]

    def squared_error(model: nn.Module, batch: Batch) -> torch.Tensor:
        inputs, target = batch
        return torch.mean((model(inputs)[:, 0] - target) ** 2)

    _fit([net], batches, squared_error, iterations, time_budget, seed, "mlp-lossless")


def _fit(nets: Sequence[nn.Module], batches: Callable[[np.random.Generator], list[Batch]],
         loss_fn: Callable[[nn.Module, Batch], torch.Tensor], iterations: int, time_budget: float,
         seed: int, desc: str) -> None:
    """Adam with a cosine learning rate (from LEARNING_RATE down to 2% of it);
    ``batches(generator)`` yields one minibatch per net, ``loss_fn(net, batch)`` its
    loss, and every iteration steps on the sum over the nets."""
    torch.manual_seed(seed)
    generator = np.random.default_rng(seed)
    params = [p for net in nets for p in net.parameters()]
    optimizer = torch.optim.Adam(params, lr=LEARNING_RATE)
    started = time.monotonic()
    with progress.task(f"{desc}: training", total=iterations) as bar:
        for iteration in range(iterations):
            for group in optimizer.param_groups:
                group["lr"] = LEARNING_RATE * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * iteration / iterations)))
            loss = sum(loss_fn(net, batch) for net, batch in zip(nets, batches(generator)))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.advance()
            if iteration % 20 == 0:
                bar.note(bits=loss.item())
            if time_budget and time.monotonic() - started > time_budget:
                break
