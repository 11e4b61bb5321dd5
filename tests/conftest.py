from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from latentpress.image import load_image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
KODAK = SHARED / "data" / "kodak"


@pytest.fixture(scope="session")
def kodim23() -> np.ndarray:
    path = KODAK / "kodim23.png"
    if not path.exists():
        pytest.skip(f"{path} not available")
    return load_image(path)


@pytest.fixture(scope="session")
def small_rgb() -> np.ndarray:
    """A 40×56 image with edges and texture (deterministic)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:40, 0:56]
    image = np.stack([xx * 4, yy * 6, (xx + yy) * 2], axis=-1).astype(np.float64)
    image[10:25, 20:40] = (200, 30, 90)
    image += rng.normal(0, 6, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)
