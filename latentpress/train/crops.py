"""Random crops of a folder of photographs, the training data of every pretrained model.

All images are decoded once into memory as uint8 (the 49 development photos take
about 200 MB). Batches are drawn from a generator seeded by (seed, step), so a resumed
run sees exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from latentpress.errors import ImageError
from latentpress.image import IMAGE_SUFFIXES, load_image

# Photos of ../shared/data/photos never trained on (every sixth: 006, 012, …, 048), kept
# for held-out measurements; the GPU runs' copies leave them out too.
HELD_OUT = frozenset(f"{i:03d}" for i in range(6, 50, 6))


class RandomCrops:
    def __init__(self, folder: str | Path, crop: int, min_side: int | None = None,
                 exclude: frozenset[str] = frozenset()) -> None:
        folder = Path(folder)
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in exclude)
        if not paths:
            raise ImageError(f"no training images (png/jpg/tif/bmp/webp) in {folder}")
        self.crop = crop
        self.images: list[np.ndarray] = []
        for path in paths:
            image = load_image(path)
            if image.ndim == 2:
                image = np.repeat(image[:, :, None], 3, axis=2)
            if min(image.shape[:2]) >= (min_side or crop):
                self.images.append(image)
        if not self.images:
            raise ImageError(f"no image in {folder} is at least {crop} pixels on each side")

    def batch(self, batch_size: int, seed: int, step: int) -> torch.Tensor:
        """N×3×crop×crop float tensor in [0, 1]; deterministic in (seed, step)."""
        rng = np.random.default_rng([seed, step])
        out = np.empty((batch_size, self.crop, self.crop, 3), dtype=np.uint8)
        for i in range(batch_size):
            image = self.images[rng.integers(len(self.images))]
            top = rng.integers(image.shape[0] - self.crop + 1)
            left = rng.integers(image.shape[1] - self.crop + 1)
            patch = image[top:top + self.crop, left:left + self.crop]
            if rng.integers(2):
                patch = patch[:, ::-1]
            out[i] = patch
        return torch.from_numpy(out).permute(0, 3, 1, 2).float().div_(255.0)
