"""Per-image fine-tuning of the ``cnn-ae-ft`` decoder (latentpress/codecs/cnnae/).

Report 001 Fig. 8 ("Image Compression Using Deep Learning"): the narrow decoder,
pretrained on the training crops (train/cnnae.py), is trained on the blocks of the one
image being coded, from that image's (dequantized) latents, and stored in the file.
Adam on the MSE of the reconstructed blocks, minibatches of up to BATCH blocks drawn at
random with replacement.
"""

from __future__ import annotations

import torch
from torch import nn

from latentpress import progress

BATCH = 256                       # blocks per iteration


def fine_tune(decoder: nn.Module, latents: torch.Tensor, blocks: torch.Tensor, iterations: int, lr: float,
              seed: int) -> None:
    """Train ``decoder`` in place so that decoder(latents[i]) approaches blocks[i]."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    with progress.task("cnn-ae-ft: fine-tuning the decoder", total=iterations) as bar:
        for _ in range(iterations):
            pick = torch.randint(len(blocks), (min(len(blocks), BATCH),), generator=generator)
            optimizer.zero_grad(set_to_none=True)
            torch.mean((decoder(latents[pick]) - blocks[pick]) ** 2).backward()
            optimizer.step()
            bar.advance()
