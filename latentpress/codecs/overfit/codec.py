"""Codec ``overfit``: a per-image neural codec whose decoder travels in the file.

The idea of report 000 (Mario Sergio Fuentes Juarez, "Shallow Autoencoders for Lossy
Image Compression": train a network on the one image and store its decoder), rebuilt
on the published work that made it competitive: Cool-chic (Ladune et al., "COOL-CHIC:
Coordinate-based Low Complexity Hierarchical Image Codec", ICCV 2023) and C3 (Kim et
al., "C3: High-performance and low-complexity neural compression from a single image
or video", CVPR 2024). From them: hierarchical latent grids, a synthesis of a few
hundred multiply-adds per pixel, an auto-regressive model (ARM) that gives every
latent a discretized Laplace, run in integer arithmetic so that encoder and decoder
derive the same probabilities, rate-distortion training on MSE + λ·bpp, and
quantized, entropy-coded network weights. model.py holds the networks, arm.py the ARM
and its coding, latentpress/train/overfit.py the per-image training.

Where it departs from them, and why (docs/codecs/overfit.md has the measurements):

- The latents start as a CDF 9/7 wavelet decomposition of the image (JPEG 2000's) and
  the synthesis as its exact inverse, not at zero: Cool-chic and C3 need thousands of
  iterations from zero, and the encode-time targets here are seconds to minutes.
- The presets fit only the ARM (with a rate-distortion optimized rounding pass): from
  that start joint training bought nothing measurable. An untrained synthesis is not
  stored (``syn_step`` 0): the decoder rebuilds the inverse.
- The ARM also sees each latent's parent one level coarser and the identity of its
  band (``arm…b``), the contexts wavelet coders rely on; the latents are coded in
  phases so that parents come first.
- Where joint training runs, rounding is straight-through from the first iteration
  (Cool-chic's noise phase only lost from the warm start) and the latents' total
  learning rate over the schedule is fixed.
- ``slow`` searches the ARM's width per file: a wider ARM's stored weights do not
  always pay. ``medium`` and ``slow`` also encode with ``fast``'s recipe and keep the
  cheaper file: an ARM fitted from a random start beats the shipped one fine-tuned on
  some images only.
- Post-processing the file selects: a restoration network shipped with the package
  (restoration.py), then a linear filter fitted to the image (postfilter.py).
- An ARM shipped with the package (base_arm.py) that the file uses as it is (preset
  ``instant``: no per-image training at all) or stores differences from.

Payload version 7; versions 2 (Laplacian pyramids only), 3 (an ARM over spatial
neighbours only), 4 (no FILT section), 5 (FILT holds the linear filter alone) and 6
(no shipped ARM) decode too. Header parameters (OverfitHeader): ``arch`` (descriptor,
architecture.py: ``dwt…`` a wavelet decomposition, ``lat…`` a Laplacian pyramid;
``arm…b`` a band-aware ARM, versions 4 and later), ``quality``, ``preset``,
``arm_base`` (version 7, optional: the shipped ARM, base_arm.NAME, that ARMW holds
differences from), ``arm_step`` and ``syn_step`` (weight precisions: weights are stored as integers times
2**−precision; ``syn_step`` 0: the synthesis is the transform's exact inverse and SYNW
is empty), ``gain`` and ``ratio`` (each grid's latents are divided by its gain before
synthesis: 2**(gain/4)·(ratio/2)**k for the pyramid's level k, 2**(gain/4)·(ratio/8)**(k−1)
for wavelet bands of resolution 1/2**k; the wavelet's ratio is 8; model.grid_gains).
Sections, in order:

``ARMW``  the ARM's integer weights and biases (latentpress.entropy.integer_tensors);
          with ``arm_base``, their differences from the shipped ARM's (stored at
          2**−arm_step, added to the shipped integers at 2**−8), or nothing: the
          shipped ARM as it is
``SYNW``  the pyramid's upsampling kernel (absent for the wavelet), then the synthesis
          weights and biases, layer by layer
``LATN``  the latent grids, one per grid and channel in model order (wavelet: the HL,
          LH, HH bands of each level, finest first, Y, Cb, Cr each, then the low band;
          pyramid: level 0 luma, then Y, Cb, Cr of each coarser level), each cut into
          tiles of 64×256 latents (versions 2-4) or 32×128 (versions 5 and later),
          range-coded under the integer ARM in interleaved wavefront order (arm.py:
          wavefront t codes band t of every tile, in grid then row-major tile order).
          A band-aware ARM codes in phases (model.coding_plan): the low band, then each
          level from the coarsest, each phase its own sequence of wavefronts;
          otherwise all grids form one phase
``FILT``  (optional; absent: the decoded image as it is) version 6: one byte, the
          strength + 1 of the shipped restoration network (restoration.py) or 0 for none,
          then the linear post-filter or nothing; version 5: the linear post-filter
          alone. The linear post-filter: support, channels, precision and its integer
          weights (postfilter.py), applied after the restoration network
"""

from __future__ import annotations

import dataclasses
import functools
import time
from dataclasses import dataclass

import numpy as np
import torch

from latentpress import progress
from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import base_arm, postfilter, restoration
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.model import GAIN_EXPONENTS, OverfitModel, ratios
from latentpress.codecs.overfit.presets import (FALLBACK_ARM_LEARNING_RATE, FALLBACK_ARM_WARMUP, PRESETS, QUALITIES,
                                                Preset, lambda_for_quality)
from latentpress.container import Header, Section, active_limits
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.integer_tensors import decode_tensors, encode_tensors
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.image import to_uint8
from latentpress.nn.fixed_point import IntegerLinear, IntegerMLP
from latentpress.nn.precision import Choice, search_precision
from latentpress.train import overfit as training

# Full-resolution features of every grid are held at once: bound the image size and the
# widest layer's activation (float32) so a decode stays within a few GB.
MAX_PIXELS = 1 << 23
MAX_ACTIVATION = 1 << 28
# Weights are stored as integers at 2**−precision (latentpress.nn.precision).
ARM_PRECISIONS = (4, 5, 6, 7, 8)
# A small image's file is mostly its fixed part (header and networks, about 300 bytes),
# so a low quality saves a few bytes for a visibly worse image, below what JPEG 2000's
# smallest file of it gives (tests/test_overfit_small.py). Below each pixel count here
# the encoder uses at least that quality (images thinner than THIN_SIDE count as
# small whatever their length), and the header records the quality used; below
# TINY_IMAGE pixels it codes nearly exactly (λ at most TINY_LAMBDA, quality 100), as
# JPEG 2000's smallest file of so few pixels does.
SMALL_IMAGES = ((1024, 90), (4096, 50))
THIN_SIDE = 8
TINY_IMAGE = 64
TINY_LAMBDA = 1e-6
SYNTHESIS_PRECISIONS = (5, 6, 7, 8, 9, 10, 11, 12)


@dataclass(frozen=True)
class OverfitParams:
    quality: int = 50
    """0 (smallest) … 100 (best); sets λ (every 10 halves it: presets.lambda_for_quality)."""
    preset: str = "instant"
    """instant (the shipped ARM, no per-image training), fast (the shipped ARM fitted
    to the image), medium or slow (an ARM fitted from a random start, or fast's file
    where that costs less): network size and training schedule."""
    iterations: int = 0
    """Joint training iterations of latents, synthesis and ARM (0: the preset's, which
    is none for every preset: they only fit the ARM)."""
    time_budget: float = 0.0
    """Stop training after this many seconds (0: no limit)."""
    lmbda: float = 0.0
    """Rate weight λ of MSE + λ·bpp, overriding quality (0: from quality)."""
    seed: int = 0

    def validate(self) -> None:
        if self.quality not in QUALITIES:
            raise ParameterError(f"quality must be 0-100, got {self.quality}")
        if self.preset not in PRESETS:
            raise ParameterError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if not 0 <= self.iterations <= 1_000_000:
            raise ParameterError(f"iterations must be 0-1000000, got {self.iterations}")
        if self.time_budget < 0 or self.lmbda < 0:
            raise ParameterError("time_budget and lmbda must not be negative")


@dataclass(frozen=True)
class OverfitHeader:
    """The header parameters of every payload version (2-6). ``arm_step`` and
    ``syn_step`` are stored as ``*_step``: a weight precision (integers at
    2**−precision; ``syn_step`` 0: no stored synthesis). ``quality`` and ``preset``
    record how the file was made; the decoder does not need them. What depends on the
    payload version (version 2 holds pyramids only, ``syn_step`` 0 needs version 3
    or later, a band-aware ARM version 4 or later) the decoder checks."""

    arch: str
    arm_step: int
    syn_step: int
    gain: int
    ratio: int
    quality: int | None = None        # how the file was made: not needed to decode it
    preset: str | None = None
    # Version 7: the ARM is the shipped one (base_arm.NAME) plus the integer differences
    # ARMW holds (at precision arm_step; an empty ARMW: none).
    arm_base: str | None = None

    def architecture(self) -> Architecture:
        return Architecture.parse(self.arch)

    @property
    def arm_precision(self) -> int:
        return self.arm_step

    @property
    def synthesis_precision(self) -> int:
        return self.syn_step

    def check(self) -> None:
        arch = self.architecture()
        if self.arm_step not in ARM_PRECISIONS or self.syn_step not in (0, *SYNTHESIS_PRECISIONS) \
                or self.gain not in GAIN_EXPONENTS or self.ratio not in ratios(arch):
            raise CorruptPayloadError(f"invalid precisions or gains {self.arm_step!r}, {self.syn_step!r}, "
                                      f"{self.gain!r}, {self.ratio!r}")
        if self.arm_base is not None and (self.arm_base != base_arm.NAME or not _takes_base(arch)):
            raise CorruptPayloadError(f"overfit: no shipped ARM {self.arm_base!r} for architecture {self.arch!r}")


def _base_layout(arch: Architecture) -> bool:
    """Whether the shipped ARM (base_arm.py) can code this architecture's latents: the
    same inputs and depth, whatever the width of the ARM the file stores."""
    return arch.band_context and arch.levels <= base_arm.LEVELS and arch.arm_layers == base_arm.LAYERS


def _takes_base(arch: Architecture) -> bool:
    """Whether the shipped ARM fits this architecture's ARM (a file may store its
    differences)."""
    return _base_layout(arch) and arch.arm_hidden == base_arm.HIDDEN


def _check_size(height: int, width: int) -> None:
    if height * width > MAX_PIXELS:
        raise LimitError(f"overfit codes images up to {MAX_PIXELS:,} pixels; this one has {height * width:,}")


def levels_for(arch: Architecture, height: int, width: int) -> Architecture:
    """The preset's number of grids, fewer where the image is small: the coarsest grid
    keeps at least 4 latents along the longer side, and every wavelet level splits a
    plane at least 2 samples on each side. An image 1 pixel thin takes the pyramid."""
    if arch.transform == "wavelet":
        if min(height, width) >= 2:
            levels = min(arch.levels, min(height, width).bit_length() - 1,
                         max(1, (max(height, width) // 4).bit_length() - 1))
            return dataclasses.replace(arch, levels=levels)
        arch = dataclasses.replace(arch, transform="pyramid", levels=arch.levels + 1, band_context=False)
    levels = max(1, min(arch.levels, (max(height, width) // 4).bit_length()))
    return dataclasses.replace(arch, levels=levels)


def _image_tensor(image: np.ndarray) -> torch.Tensor:
    pixels = image[:, :, None] if image.ndim == 2 else image
    return torch.from_numpy(np.array(pixels)).permute(2, 0, 1)[None].float() / 255.0


def _finite(x_hat: torch.Tensor) -> torch.Tensor:
    """Clamp to [0, 1]; crafted weights can overflow float32 to ±inf and NaN: NaN → ½."""
    return torch.nan_to_num(x_hat, nan=0.5).clamp(0, 1)


def _check_work(arch: Architecture, height: int, width: int, channels: int) -> None:
    """The decoder holds a few full-resolution activations at once: bound their size;
    and the work per pixel its networks ask for (Limits.max_macs_per_pixel)."""
    active_limits().check_macs("overfit", arch.decoder_macs_per_pixel(channels)["total"])
    widest = max(sum(arch.feature_channels(channels)), *arch.synthesis)
    if widest * height * width > MAX_ACTIVATION:
        raise LimitError(f"overfit: {widest} full-resolution channels of {width}x{height} exceed "
                         f"{MAX_ACTIVATION:,} values")


def _arm_layers(model: OverfitModel) -> list[torch.nn.Linear]:
    return list(model.arm.hidden) + [model.arm.out]


def _integer_arm(model: OverfitModel, weights: list[np.ndarray], precision: int,
                 version: int = 5) -> tuple[IntegerMLP, arm_module.Plan]:
    """The integer ARM and the plan it codes under (payload ``version``: from 5, the
    smaller tiles). A band-aware ARM's one-hot band inputs become one first-layer
    offset per plane (arm.Plan)."""
    shift = arm_module.FRAC_BITS - precision
    layers = len(_arm_layers(model))
    linear = []
    for index in range(layers):
        weight, bias = weights[2 * index], weights[2 * index + 1]
        linear.append(IntegerLinear(weight << shift, bias << shift, relu=index < layers - 1))
    plan = model.plan if version < 5 else dataclasses.replace(model.plan, tile=arm_module.SMALL_TILE)
    if plan.parents is not None:
        first, inputs = linear[0], plan.inputs
        band = first.weight[:, inputs:]
        plan = dataclasses.replace(plan, offsets=np.stack([band[:, list(active)].sum(axis=1)
                                                            for active in model.band_inputs]))
        linear[0] = IntegerLinear(np.ascontiguousarray(first.weight[:, :inputs]), first.bias, first.relu)
    return IntegerMLP(tuple(linear), arm_module.FRAC_BITS), plan


def _rebase(base: list[np.ndarray], differences: list[np.ndarray] | None, precision: int) -> list[np.ndarray]:
    """The ARM's integers at FRAC_BITS: the shipped ones plus differences stored at
    ``precision`` (None: none)."""
    if differences is None:
        return base
    return [stored + (difference << (arm_module.FRAC_BITS - precision))
            for stored, difference in zip(base, differences)]


def _synthesis_tensors(model: OverfitModel) -> list[torch.Tensor]:
    tensors = [] if model.upsampler is None else [model.upsampler.kernel]
    for layer in list(model.synthesis.pointwise) + [model.synthesis.out]:
        tensors += [layer.weight, layer.bias]
    return tensors


def _load_synthesis(model: OverfitModel, integers: list[np.ndarray], precision: int) -> None:
    with torch.no_grad():
        for tensor, values in zip(_synthesis_tensors(model), integers):
            tensor.copy_(torch.from_numpy(values.astype(np.float32) / (1 << precision)))


def _code_latents(grids: list[np.ndarray], arm: IntegerMLP, plan: arm_module.Plan) -> bytes:
    encoder = EntropyEncoder()
    arm_module.encode_grids(encoder, grids, arm, plan)
    return encoder.finish()


# The gain search's rate model codes one band of rows in every SAMPLE_EVERY (bands
# 2**levels image rows high, so that every level's rows stay aligned with their
# parents'): a quarter of the work of coding everything, for a cost 0.1% above what
# coding every row finds on the images measured (results/overfit/gain-choice.json).
SAMPLE_EVERY = 4


def _sampled_bits(grids: list[torch.Tensor], arm, plan, levels: int) -> float:
    """The bits of the wavelet grids under the integer ARM, estimated from a sample of
    bands of rows (all of them on images under 2·SAMPLE_EVERY bands high)."""
    planes = [np.rint(plane.numpy()).astype(np.int64) for grid in grids for plane in grid[0]]
    per_grid = len(planes) // len(grids)
    block_rows = 1 << levels                   # image rows per band of rows
    bands = -(-2 * planes[0].shape[0] // block_rows)
    if bands < 2 * SAMPLE_EVERY:
        return arm_module.grids_ideal_bits(planes, arm, plan)
    chosen = [b for b in range(bands) if b % SAMPLE_EVERY == SAMPLE_EVERY // 2]
    sampled = []
    for index, plane in enumerate(planes):
        level = min(index // per_grid // 3, levels - 1)       # the low band is at the last level
        step = block_rows >> (level + 1)
        sampled.append(np.concatenate([plane[b * step:(b + 1) * step] for b in chosen]))
    total = sum(plane.size for plane in planes)
    kept = sum(plane.size for plane in sampled)
    return arm_module.grids_ideal_bits(sampled, arm, plan) * total / max(kept, 1)


def _encode_once(x: torch.Tensor, arch: Architecture, preset: Preset, lmbda: float, iterations: int,
                 time_budget: float, params: OverfitParams, label: str,
                 post_process: bool = True) -> tuple[float, Payload]:
    """One encode with one architecture: (MSE + λ·bpp of the file as decoded, payload);
    post_process False: without its FILT section."""
    channels, height, width = x.shape[1:]
    pixels = height * width
    torch.manual_seed(params.seed)                   # the networks' initial weights
    model = OverfitModel(arch, height, width, channels)
    base = base_arm.for_layout(arch.levels, channels) if preset.arm_base and _takes_base(arch) else None
    if base is not None:
        model.arm.load_integers(base)
    elif preset.arm_base:                            # no shipped ARM for this shape: fit one
        preset = dataclasses.replace(preset, arm_warmup=max(preset.arm_warmup, FALLBACK_ARM_WARMUP),
                                     arm_learning_rate=FALLBACK_ARM_LEARNING_RATE)
    rate = None
    if preset.gain_by_arm and _base_layout(arch) and arch.transform == "wavelet":
        # The shipped ARM's rate, also where the file fits an ARM of its own.
        shipped = base if base is not None else base_arm.for_layout(arch.levels, channels)
        shipped_arm, shipped_plan = _integer_arm(model, shipped, arm_module.FRAC_BITS)
        rate = functools.partial(_sampled_bits, arm=shipped_arm, plan=shipped_plan, levels=arch.levels)
    with progress.task(f"{label}: wavelet warm start"):
        inverse = model.warm_start(x, lmbda, spare_units=iterations > 0, rate=rate)
    training.train(model, x, preset, lmbda, iterations, time_budget, params.seed, label)
    model.eval()
    grids = model.integer_grids()
    model.load_integer_grids(grids)

    # ARM precision: the one that minimizes weight bits + latent bits. From the shipped
    # ARM, what is stored is the difference, and storing none is a candidate too.
    def arm_bits(precision: int, integers: list[np.ndarray]):
        try:
            if base is None:
                arm, plan = _integer_arm(model, integers, precision)
            else:
                arm, plan = _integer_arm(model, _rebase(base, integers, precision), arm_module.FRAC_BITS)
        except CorruptPayloadError:
            return None               # beyond what the integer ARM can run exactly
        stored = 0 if integers is None else 8 * len(encode_tensors(integers))
        return stored + arm_module.grids_ideal_bits(grids, arm, plan), (arm, plan)

    arm_float = [t.detach().numpy() for layer in _arm_layers(model) for t in (layer.weight, layer.bias)]
    if base is not None:
        arm_float = [value - stored / 2.0 ** arm_module.FRAC_BITS for value, stored in zip(arm_float, base)]
    arm_choice = None
    fitted = base is None or preset.arm_warmup > 0 or iterations > 0
    if fitted:
        with progress.task(f"{label}: choosing the ARM's precision", total=len(ARM_PRECISIONS)) as bar:
            arm_choice = search_precision(arm_float, ARM_PRECISIONS, progress.advancing(bar, arm_bits))
    if base is not None:
        unchanged = arm_bits(arm_module.FRAC_BITS, None)
        if unchanged is not None and (arm_choice is None or unchanged[0] <= arm_choice.cost):
            arm_choice = Choice(max(ARM_PRECISIONS), None, unchanged[0], unchanged[1])
    if arm_choice is None:
        raise ParameterError("training diverged: the ARM weights are too large to store")
    arm, plan = arm_choice.extra

    # Synthesis precision: the one that minimizes MSE + λ·bpp on the real decode.
    # Untrained, the synthesis is the transform's exact inverse, which the decoder
    # can rebuild: precision 0 and no weights in the file.
    rounded = [y.detach() for y in model.latents]
    float_state = [t.detach().numpy().copy() for t in _synthesis_tensors(model)]

    def synthesis_cost(precision: int, integers: list[np.ndarray]):
        _load_synthesis(model, integers, precision)
        with torch.no_grad():
            mse = torch.mean((_finite(model.decode(rounded)) - x) ** 2).item()
        return mse + lmbda * 8 * len(encode_tensors(integers)) / pixels, None

    if iterations == 0 and inverse:
        syn_precision, syn_integers = 0, []
    else:
        with progress.task(f"{label}: choosing the synthesis' precision", total=len(SYNTHESIS_PRECISIONS)) as bar:
            syn_choice = search_precision(float_state, SYNTHESIS_PRECISIONS, progress.advancing(bar, synthesis_cost))
        if syn_choice is None:
            raise ParameterError("training diverged: the synthesis weights are too large to store")
        syn_precision, syn_integers = syn_choice.precision, syn_choice.integers
        _load_synthesis(model, syn_integers, syn_precision)
    decoded = _reconstruct(model, syn_precision, channels)
    original = np.rint(x[0].permute(1, 2, 0).numpy().astype(np.float64) * 255.0).reshape(decoded.shape)
    mse = lambda image: float(np.mean((image.astype(np.float64) - original) ** 2)) / 255.0 ** 2  # noqa: E731
    with progress.task(f"{label}: coding the latents"):
        latents = _code_latents(grids, arm, plan)
    sections = [Section("ARMW", b"" if arm_choice.integers is None else encode_tensors(arm_choice.integers)),
                Section("SYNW", b"" if syn_precision == 0 else encode_tensors(syn_integers)),
                Section("LATN", latents)]
    filt, distortion = _post_processing(decoded, original, lmbda, mse, label) if post_process \
        else (None, mse(decoded))
    if filt is not None:
        sections.append(Section("FILT", filt))
    cost = distortion + lmbda * 8 * sum(postfilter.SECTION_BYTES + len(section.data) for section in sections) / pixels
    # quality records how the file was made, so not where λ was given instead.
    made = {"preset": params.preset} | ({} if params.lmbda else {"quality": params.quality})
    if base is not None:
        made["arm_base"] = base_arm.NAME
    return cost, Payload(sections, {"arch": model.arch.describe(), **made, "arm_step": arm_choice.precision,
                                    "syn_step": syn_precision, "gain": model.gain_exp, "ratio": model.ratio})


def _post_processing(decoded: np.ndarray, original: np.ndarray, lmbda: float, mse,
                     label: str = "overfit") -> tuple[bytes | None, float]:
    """The FILT section of least MSE + λ·bpp (None: no section) and its MSE. Colour
    images try the restoration network at the strength that restores this image best,
    and the linear post-filter after it or alone, each only where it pays for its bytes
    on the real output."""
    pixels = decoded.shape[0] * decoded.shape[1]
    candidates = [(0, decoded)]
    with progress.task(f"{label}: post-processing", total=(restoration.STRENGTHS if decoded.ndim == 3 else 0)
                       + len(candidates) + (decoded.ndim == 3)) as bar:
        if decoded.ndim == 3:
            net = restoration.shipped()
            restored = []
            for strength in range(restoration.STRENGTHS):
                restored.append((strength + 1, net(decoded, strength)))
                bar.advance()
            candidates.append(min(restored, key=lambda candidate: mse(candidate[1])))
        designs = []
        for _, image in candidates:
            designs.append(postfilter.design(image, original.astype(np.uint8), lmbda))
            bar.advance()
    best = None
    for (code, image), linear in zip(candidates, designs):
        options = [(b"", image)]
        if linear is not None:
            options.append(linear)
        for data, output in options:
            filt = None if code == 0 and not data else bytes([code]) + data
            cost = mse(output) + (0.0 if filt is None else lmbda * 8 * (postfilter.SECTION_BYTES + len(filt)) / pixels)
            if best is None or cost < best[0]:
                best = (cost, filt, mse(output))
    return best[1], best[2]


def _small_image_floor(params: OverfitParams, height: int, width: int) -> tuple[OverfitParams, float]:
    """The parameters as used (quality raised on small images, SMALL_IMAGES) and λ."""
    if params.lmbda:
        return params, params.lmbda
    pixels = height * width
    if pixels < TINY_IMAGE:
        return dataclasses.replace(params, quality=100), min(TINY_LAMBDA, lambda_for_quality(params.quality))
    floor = next((quality for limit, quality in SMALL_IMAGES if pixels < limit), 0)
    if min(height, width) < THIN_SIDE:
        floor = max(floor, SMALL_IMAGES[-1][1])
    quality = max(params.quality, floor)
    return dataclasses.replace(params, quality=quality), lambda_for_quality(quality)


def _encode(image: np.ndarray, params: OverfitParams, post_process: bool = True) -> Payload:
    """The payload of least MSE + λ·bpp over the preset's ARM widths and the presets
    it competes with."""
    height, width = image.shape[:2]
    _check_size(height, width)
    params, lmbda = _small_image_floor(params, height, width)
    preset = PRESETS[params.preset]
    x = _image_tensor(image)
    started, best = time.monotonic(), None
    for recipe in [PRESETS[name] for name in preset.compete_with] + [preset]:
        if best is not None and params.time_budget and time.monotonic() - started >= params.time_budget:
            break                                # the time budget covers the search
        candidate = _search_widths(x, recipe, params, lmbda, started, post_process,
                                   label=f"overfit {recipe.name}" if preset.compete_with else "overfit")
        if best is None or candidate[0] < best[0]:
            best = candidate
    return best[1]


def _search_widths(x: torch.Tensor, preset: Preset, params: OverfitParams, lmbda: float, started: float,
                   post_process: bool, label: str) -> tuple[float, Payload]:
    """(MSE + λ·bpp, payload) of the least-cost file over one recipe's ARM widths."""
    channels, height, width = x.shape[1:]
    arch = levels_for(preset.architecture, height, width)
    _check_work(arch, height, width, channels)
    iterations = params.iterations or preset.iterations
    widths = preset.arm_widths or (arch.arm_hidden,)
    best = None
    for arm_width in widths:
        budget = params.time_budget
        if budget:
            budget -= time.monotonic() - started
            if best is not None and budget <= 0:
                break                            # the time budget covers the search
        candidate = _encode_once(x, dataclasses.replace(arch, arm_hidden=arm_width), preset, lmbda, iterations,
                                 budget, params, label=f"{label} arm{arm_width}" if len(widths) > 1 else label,
                                 post_process=post_process)
        if best is not None and candidate[0] >= best[0]:
            break                                # wider ARMs only cost more weight bits from here
        best = candidate
    return best


def _reconstruct(model: OverfitModel, syn_precision: int, channels: int) -> np.ndarray:
    """The decoded image of the model's (integer) latents, as the decoder returns it
    (syn_precision 0: the transform's exact inverse, computed directly)."""
    with torch.inference_mode():
        latents = list(model.latents)
        if syn_precision == 0:
            return _to_pixels(model.decode_inverse(latents), channels)
        # A trained synthesis runs tile by tile over every level's planes: its
        # activations are up to 64 channels wide (Synthesis.tiles).
        features = model.features(latents)
        decoded = np.empty(features.shape[-2:] + ((channels,) if channels > 1 else ()), np.uint8)
        for top, left, tile in model.synthesis.tiles(features):
            decoded[top:top + tile.shape[-2], left:left + tile.shape[-1]] = _to_pixels(tile, channels)
        return decoded


def _to_pixels(x_hat: torch.Tensor, channels: int) -> np.ndarray:
    """(1, C, h, w) floats in about [0, 1] → uint8 pixels (h×w, or h×w×C)."""
    pixels = _finite(x_hat)[0].permute(1, 2, 0).numpy() * 255.0
    return to_uint8(pixels[:, :, 0] if channels == 1 else pixels)


@register
class OverfitCodec(Codec):
    name = "overfit"
    # Measured peak decode memory (results/security/decode-memory.json), with a margin:
    # a trained synthesis runs its network over every level's full-resolution planes;
    # without one (syn_step 0, what every preset writes) the decoder runs the inverse
    # wavelet transform directly and needs much less (decode_memory). Both cover the
    # restoration network and post-filter of payload version 6.
    decode_base_bytes = 48 << 20
    decode_bytes_per_pixel = 704
    inverse_decode_bytes_per_pixel = 280
    version = 7
    description = ("per-image neural codec, its decoder in the file "
                   "(Cool-chic, Ladune et al. ICCV 2023; C3, Kim et al. CVPR 2024)")
    Params = OverfitParams
    HeaderParams = OverfitHeader
    quality_meaning = "sets λ, 0.02 at 20 and halved every 10; at least 50-100 on small and thin images"

    @classmethod
    def decode_memory(cls, header: Header) -> int:
        # Before any validation (the header is untrusted): never raises.
        syn_step = header.params.get("syn_step")
        per_pixel = cls.inverse_decode_bytes_per_pixel if type(syn_step) is int and syn_step == 0 \
            else cls.decode_bytes_per_pixel
        return cls.decode_base_bytes + per_pixel * header.width * header.height

    def encode(self, image: np.ndarray, params: OverfitParams) -> Payload:
        return _encode(image, params)

    def encode_without_post_processing(self, image: np.ndarray, params: OverfitParams) -> Payload:
        """The payload without its FILT section, chosen as if there were none: the decoded
        image the restoration network is trained to restore (latentpress/train/restoration.py).
        Needs no shipped restoration weights."""
        return _encode(image, params, post_process=False)

    def decode(self, header: Header, sections) -> np.ndarray:
        _, decoded, strength, linear = self.decode_stages(header, sections)
        if strength is not None:
            decoded = restoration.shipped()(decoded, strength)
        return decoded if linear is None else postfilter.apply(decoded, *linear)

    def decode_stages(self, header: Header, sections) -> tuple[list[np.ndarray], np.ndarray, int | None, tuple | None]:
        """(the integer latent grids, the image before post-processing, the restoration
        strength or None, the linear post-filter or None): what ``decode`` composes, for
        training post-processing networks on what the decoder sees."""
        if header.codec_version not in (2, 3, 4, 5, 6, 7):
            self.check_version(header)
        _check_size(header.height, header.width)
        stored = self.header_params(header)
        arch = stored.architecture()
        if header.codec_version == 2 and arch.transform != "pyramid":
            raise CorruptPayloadError("overfit payload version 2 holds pyramids only")
        if header.codec_version < 4 and arch.band_context:
            raise CorruptPayloadError(f"overfit payload version {header.codec_version} has no band-aware ARM")
        _check_work(arch, header.height, header.width, header.channels)
        linear, strength = None, None
        if header.codec_version >= 5 and len(sections) == 4:
            arm_data, syn_data, latent_data, filter_data = self.expect_sections(sections, ["ARMW", "SYNW", "LATN", "FILT"])
            macs = arch.decoder_macs_per_pixel(header.channels)["total"]
            if header.codec_version >= 6:
                if not filter_data:
                    raise CorruptPayloadError("FILT: empty section")
                code, filter_data = filter_data[0], filter_data[1:]
                if code > restoration.STRENGTHS or (code and header.channels != 3):
                    raise CorruptPayloadError(f"FILT: invalid restoration strength {code - 1} "
                                              f"for a {header.channels}-channel image")
                if not code and not filter_data:
                    raise CorruptPayloadError("FILT: a section that selects nothing")
                if code:
                    strength = code - 1
                    macs += restoration.shipped().macs_per_pixel()
            if filter_data or header.codec_version == 5:
                linear = postfilter.decode_filter(filter_data, header.channels)
                macs += postfilter.macs_per_pixel(linear[0].shape[-1], bool(filter_data[1]), header.channels)
            active_limits().check_macs("overfit", macs)
        else:
            arm_data, syn_data, latent_data = self.expect_sections(sections, ["ARMW", "SYNW", "LATN"])
        model = OverfitModel(arch, header.height, header.width, header.channels, stored.gain, stored.ratio)
        arm_shapes = [tuple(t.shape) for layer in _arm_layers(model) for t in (layer.weight, layer.bias)]
        if stored.arm_base is None:
            arm_integers = decode_tensors(arm_data, arm_shapes, "ARMW")
            arm, plan = _integer_arm(model, arm_integers, stored.arm_precision, header.codec_version)
        else:
            if header.codec_version < 7:
                raise CorruptPayloadError(f"overfit payload version {header.codec_version} has no shipped ARM")
            differences = decode_tensors(arm_data, arm_shapes, "ARMW") if arm_data else None
            arm_integers = _rebase(base_arm.for_layout(arch.levels, header.channels), differences,
                                   stored.arm_precision)
            arm, plan = _integer_arm(model, arm_integers, arm_module.FRAC_BITS, header.codec_version)
        syn_precision = stored.synthesis_precision
        if syn_precision == 0:              # the transform's exact inverse (versions 3 and later)
            if header.codec_version < 3 or syn_data or not model.invert_transform(header.channels, False):
                raise CorruptPayloadError("overfit: syn_step 0 needs an empty SYNW and a synthesis wide "
                                          "enough for the transform's inverse")
        else:
            syn_integers = decode_tensors(syn_data, [tuple(t.shape) for t in _synthesis_tensors(model)], "SYNW")
            _load_synthesis(model, syn_integers, syn_precision)
        decoder = EntropyDecoder(latent_data)
        grids = arm_module.decode_grids(decoder, model.grid_shapes(), arm, plan)
        decoder.finish()
        model.load_integer_grids(grids)
        return grids, _reconstruct(model, syn_precision, header.channels), strength, linear
