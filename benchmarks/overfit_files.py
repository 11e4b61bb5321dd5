"""Helpers of the overfit probes (overfit_gain_choice.py, overfit_rdoq_probe.py,
overfit_presets_probe.py): the cost of a real file, and a warm start moved off its
gain choice."""

from __future__ import annotations

import time

import numpy as np
import torch

from latentpress import api, container
from latentpress.codecs.base import get_codec
from latentpress.codecs.overfit import presets


def file_cost(image: np.ndarray, quality: int, params) -> tuple[float, float, dict]:
    """(MSE + λ·bpp of the packed file as decoded, encode seconds, the payload's header
    parameters) for overfit ``params`` (OverfitParams)."""
    codec = get_codec("overfit")
    started = time.monotonic()
    payload = codec.encode(image, params)
    seconds = time.monotonic() - started
    data = api.pack(codec, image, payload)
    decoded = codec.decode(*container.read(data))
    mse = float(np.mean((decoded / 255.0 - image / 255.0) ** 2))
    bpp = 8 * len(data) / (image.shape[0] * image.shape[1])
    return mse + presets.lambda_for_quality(quality) * bpp, seconds, payload.params


def with_gain_offset(warm_start, offset: int):
    """``warm_start`` (OverfitModel.warm_start), then the gain moved by ``offset`` from
    its choice."""

    def moved(self, x, lmbda, spare_units=True, rate=None):
        inverse = warm_start(self, x, lmbda, spare_units, rate)
        if offset:
            with torch.no_grad():
                gain = self.gain_exp + offset
                grids = self.wavelet_grids(self.wavelet_bands(x), gain, self.ratio)[0]
                self.set_gain(gain, self.ratio)
                for latent, grid in zip(self.latents, grids):
                    latent.copy_(grid)
        return inverse
    return moved
