"""Codec ``overfit``: a per-image neural codec whose decoder travels in the file.

Seed 000's idea (train a network on the one image and store its decoder) rebuilt on
the published work that made it competitive (COIN, Cool-chic, C3): hierarchical latent
grids, a synthesis of a few hundred MAC per pixel, an auto-regressive entropy model
run in integer arithmetic, rate-distortion training with noise then straight-through
rounding, and quantized, entropy-coded network weights. See model.py and arm.py.

Payload version 6 (versions 2, pyramids only, 3, an ARM over spatial neighbours
only, 4, no post-filter, and 5, no restoration network, still decode). Header parameters: ``arch`` (descriptor, architecture.py: ``dwt…``
a wavelet decomposition, ``lat…`` a Laplacian pyramid; ``arm…b`` a band-aware ARM,
version 4 only), ``quality``, ``preset``, ``arm_step`` and ``syn_step``
(weights are stored as integers times 2**−step; ``syn_step`` 0: the synthesis is
the transform's exact inverse and SYNW is empty), ``gain`` and ``ratio`` (each grid's
latents are divided by its gain before synthesis: 2**(gain/4)·(ratio/2)**k for the
pyramid's level k, 2**(gain/4)·(ratio/8)**(k−1) for wavelet bands of resolution
1/2**k, ratio 8 today; model.grid_gains). Sections, in order:

``ARMW``  the ARM's integer weights and biases (weights.py layout)
``SYNW``  the pyramid's upsampling kernel (absent for the wavelet), then the synthesis
          weights and biases, layer by layer
``LATN``  the latent grids, one per grid and channel in model order (wavelet: the HL,
          LH, HH bands of each level, finest first, Y, Cb, Cr each, then the low band;
          pyramid: level 0 luma, then Y, Cb, Cr of each coarser level), each cut into
          64×256 tiles (32×128 from version 5), range-coded under the integer ARM in
          interleaved wavefront order (arm.py: step t codes band t of every tile, in
          grid then row-major tile order). A band-aware ARM codes in phases (model.coding_plan): the low
          band, then each level from the coarsest, one wavefront each; otherwise all
          grids form one wavefront
``FILT``  (optional; absent: the decoded image as it is) version 6: one byte, the
          strength + 1 of the shipped restoration network (restoration.py) or 0 for none,
          then the linear post-filter or nothing; version 5: the linear post-filter
          alone. The linear post-filter: support, channels, precision and its integer
          weights (postfilter.py), applied after the restoration network
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from latentpress.codecs.base import Codec, Payload, register
from latentpress.codecs.overfit import arm as arm_module
from latentpress.codecs.overfit import postfilter, restoration
from latentpress.codecs.overfit.architecture import Architecture
from latentpress.codecs.overfit.model import GAIN_EXPONENTS, MAX_CONTEXT_ROWS, OverfitModel, ratios
from latentpress.codecs.overfit.presets import PRESETS, QUALITIES, Preset, lambda_for_quality
from latentpress.container import Header, Section, active_limits
from latentpress.entropy.coder import EntropyDecoder, EntropyEncoder
from latentpress.entropy.integer_tensors import decode_tensors, encode_tensors
from latentpress.errors import CorruptPayloadError, LimitError, ParameterError
from latentpress.image import to_uint8
from latentpress.nn.fixed_point import IntegerLinear, IntegerMLP
from latentpress.nn.precision import search_precision

# Full-resolution features of every grid are held at once: bound the image size and the
# widest layer's activation (float32) so a decode stays within a few GB.
MAX_PIXELS = 1 << 23
MAX_ACTIVATION = 1 << 28
# Weights are stored as integers at 2**−precision (latentpress.nn.precision).
ARM_PRECISIONS = (4, 5, 6, 7, 8)
SYNTHESIS_PRECISIONS = (5, 6, 7, 8, 9, 10, 11, 12)


@dataclass(frozen=True)
class OverfitParams:
    quality: int = 4
    """1 (smallest) … 8 (best); sets λ."""
    preset: str = "medium"
    """fast, medium or slow: network size and training schedule."""
    iterations: int = 0
    """Joint training iterations of latents, synthesis and ARM (0: the preset's, which
    is none for fast and medium: they only fit the ARM)."""
    time_budget: float = 0.0
    """Stop training after this many seconds (0: no limit)."""
    lmbda: float = 0.0
    """Rate weight λ of MSE + λ·bpp, overriding quality (0: from quality)."""
    seed: int = 0

    def validate(self) -> None:
        if self.quality not in QUALITIES:
            raise ParameterError(f"quality must be 1-8, got {self.quality}")
        if self.preset not in PRESETS:
            raise ParameterError(f"preset must be one of {', '.join(PRESETS)}, got {self.preset!r}")
        if not 0 <= self.iterations <= 1_000_000:
            raise ParameterError(f"iterations must be 0-1000000, got {self.iterations}")
        if self.time_budget < 0 or self.lmbda < 0:
            raise ParameterError("time_budget and lmbda must not be negative")


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


def train(model: OverfitModel, x: torch.Tensor, preset: Preset, lmbda: float, iterations: int,
          time_budget: float, seed: int, label: str = "overfit") -> None:
    """Fit the ARM to the warm-start latents, then latents, synthesis and ARM together on
    MSE + λ·bpp (rounding with straight-through gradients; additive noise first when the
    preset asks for it)."""
    torch.manual_seed(seed)
    pixels = x.shape[-1] * x.shape[-2]
    started = time.monotonic()
    out_of_time = lambda: time_budget and time.monotonic() - started > time_budget  # noqa: E731
    arm_optimizer = torch.optim.Adam(model.arm.parameters(), lr=preset.arm_learning_rate)
    # The ARM alone is fitted to the warm-start latents, each step on a random part of
    # them (an unbiased estimate of the rate): contexts gathered once, shuffled once,
    # and taken in consecutive slices (a random gather per step cost more than the
    # ARM's own forward and backward passes). Beyond MAX_CONTEXT_ROWS latents, on a
    # random subset of that many (bounded memory).
    total = model.latent_count()

    def shuffled_contexts() -> tuple[torch.Tensor, torch.Tensor]:
        order = torch.randperm(total)[:MAX_CONTEXT_ROWS]
        return model.contexts([g.detach() for g in model.quantized_grids("round")], rows=order)

    contexts, values = shuffled_contexts()
    sample = max(1, int(values.numel() * preset.arm_warmup_fraction))
    slices = max(1, values.numel() // sample)
    with tqdm(total=preset.arm_warmup + iterations, desc=label, unit="it", disable=None, leave=False) as bar:
        for step in range(preset.arm_warmup):
            if preset.rdoq and step == preset.arm_warmup // 2 and model.rdoq(x, lmbda):
                # Half-way, with an ARM that knows the latents: rate-distortion optimized
                # rounding, then the ARM goes on fitting the new latents.
                contexts, values = shuffled_contexts()
            for group in arm_optimizer.param_groups:          # cosine decay to 5%
                group["lr"] = preset.arm_learning_rate * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / preset.arm_warmup)))
            part = slice((step % slices) * sample, (step % slices + 1) * sample)
            bpp = model.bits(contexts[part], values[part]) * (total / sample) / pixels
            arm_optimizer.zero_grad(set_to_none=True)
            bpp.backward()
            arm_optimizer.step()
            bar.update(1)
            if out_of_time():
                return
        del contexts, values
        if iterations <= 0:
            return
        networks = [p for name, p in model.named_parameters() if not name.startswith("latents.")]
        # Latents move by about their learning rate per Adam step whatever their gradient,
        # and straight-through rounding makes those moves a random walk that adds rate:
        # the total travel is held constant (docs/design.md).
        latent_rate = preset.latent_travel / iterations
        optimizer = torch.optim.Adam([{"params": list(model.latents), "lr": latent_rate},
                                      {"params": networks, "lr": preset.learning_rate}])
        base_rates = [latent_rate, preset.learning_rate]
        noise_until = int(iterations * preset.noise_fraction)
        for step in range(iterations):
            # Linear warm-up (the warm start is a good point; a full first step would
            # leave it), then cosine decay over the schedule.
            decay = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * step / iterations))
            decay *= min(1.0, (step + 1) / preset.warmup)
            for group, base in zip(optimizer.param_groups, base_rates):
                group["lr"] = base * decay
            grids = model.quantized_grids("noise" if step < noise_until else "ste")
            x_hat = model.decode(grids)
            mse = torch.mean((x_hat - x) ** 2)
            bpp = model.rate_bits(grids) / pixels
            loss = mse + lmbda * bpp
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            bar.update(1)
            if step % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.5f}", bpp=f"{bpp.item():.3f}",
                                psnr=f"{-10 * math.log10(max(mse.item(), 1e-12)):.2f}")
            if out_of_time():
                break


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


def _encode_once(x: torch.Tensor, arch: Architecture, preset: Preset, lmbda: float, iterations: int,
                 time_budget: float, params: OverfitParams, label: str,
                 post_process: bool = True) -> tuple[float, Payload]:
    """One encode with one architecture: (MSE + λ·bpp of the file as decoded, payload);
    post_process False: without its FILT section."""
    channels, height, width = x.shape[1:]
    pixels = height * width
    torch.manual_seed(params.seed)                   # the networks' initial weights
    model = OverfitModel(arch, height, width, channels)
    inverse = model.warm_start(x, lmbda, spare_units=iterations > 0)
    train(model, x, preset, lmbda, iterations, time_budget, params.seed, label)
    model.eval()
    grids = model.integer_grids()
    model.load_integer_grids(grids)

    # ARM precision: the one that minimizes weight bits + latent bits.
    def arm_bits(precision: int, integers: list[np.ndarray]):
        try:
            arm, plan = _integer_arm(model, integers, precision)
        except CorruptPayloadError:
            return None               # beyond what the integer ARM can run exactly
        return 8 * len(encode_tensors(integers)) + arm_module.grids_ideal_bits(grids, arm, plan), (arm, plan)

    arm_float = [t.detach().numpy() for layer in _arm_layers(model) for t in (layer.weight, layer.bias)]
    arm_choice = search_precision(arm_float, ARM_PRECISIONS, arm_bits)
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
        syn_choice = search_precision(float_state, SYNTHESIS_PRECISIONS, synthesis_cost)
        if syn_choice is None:
            raise ParameterError("training diverged: the synthesis weights are too large to store")
        syn_precision, syn_integers = syn_choice.precision, syn_choice.integers
        _load_synthesis(model, syn_integers, syn_precision)
    decoded = _reconstruct(model, syn_precision, channels)
    original = np.rint(x[0].permute(1, 2, 0).numpy().astype(np.float64) * 255.0).reshape(decoded.shape)
    mse = lambda image: float(np.mean((image.astype(np.float64) - original) ** 2)) / 255.0 ** 2  # noqa: E731
    sections = [Section("ARMW", encode_tensors(arm_choice.integers)),
                Section("SYNW", b"" if syn_precision == 0 else encode_tensors(syn_integers)),
                Section("LATN", _code_latents(grids, arm, plan))]
    filt, distortion = _post_processing(decoded, original, lmbda, mse) if post_process else (None, mse(decoded))
    if filt is not None:
        sections.append(Section("FILT", filt))
    cost = distortion + lmbda * 8 * sum(postfilter.SECTION_BYTES + len(section.data) for section in sections) / pixels
    return cost, Payload(sections, {"arch": model.arch.describe(), "quality": params.quality,
                                    "preset": params.preset, "arm_step": arm_choice.precision,
                                    "syn_step": syn_precision,
                                    "gain": model.gain_exp, "ratio": model.ratio})


def _post_processing(decoded: np.ndarray, original: np.ndarray, lmbda: float, mse) -> tuple[bytes | None, float]:
    """The FILT section of least MSE + λ·bpp (None: no section) and its MSE. Colour
    images try the restoration network at the strength that restores this image best,
    and the linear post-filter after it or alone, each only where it pays for its bytes
    on the real output."""
    pixels = decoded.shape[0] * decoded.shape[1]
    candidates = [(0, decoded)]
    if decoded.ndim == 3:
        net = restoration.shipped()
        restored = [(t + 1, net(decoded, t)) for t in range(restoration.STRENGTHS)]
        candidates.append(min(restored, key=lambda candidate: mse(candidate[1])))
    best = None
    for code, image in candidates:
        options = [(b"", image)]
        linear = postfilter.design(image, original.astype(np.uint8), lmbda)
        if linear is not None:
            options.append(linear)
        for data, output in options:
            filt = None if code == 0 and not data else bytes([code]) + data
            cost = mse(output) + (0.0 if filt is None else lmbda * 8 * (postfilter.SECTION_BYTES + len(filt)) / pixels)
            if best is None or cost < best[0]:
                best = (cost, filt, mse(output))
    return best[1], best[2]


def _encode(image: np.ndarray, params: OverfitParams, post_process: bool = True) -> Payload:
    """The payload of least MSE + λ·bpp over the preset's ARM widths."""
    height, width = image.shape[:2]
    _check_size(height, width)
    preset = PRESETS[params.preset]
    channels = 1 if image.ndim == 2 else 3
    lmbda = params.lmbda or lambda_for_quality(params.quality)
    x = _image_tensor(image)
    arch = levels_for(preset.architecture, height, width)
    _check_work(arch, height, width, channels)
    iterations = params.iterations or preset.iterations
    widths = preset.arm_widths or (arch.arm_hidden,)
    started, best = time.monotonic(), None
    for arm_width in widths:
        budget = params.time_budget
        if budget:
            budget -= time.monotonic() - started
            if best is not None and budget <= 0:
                break                            # the time budget covers the search
        candidate = _encode_once(x, dataclasses.replace(arch, arm_hidden=arm_width), preset, lmbda, iterations,
                                 budget, params, label=f"overfit arm{arm_width}" if len(widths) > 1 else "overfit",
                                 post_process=post_process)
        if best is not None and candidate[0] >= best[0]:
            break                                # wider ARMs only cost more weight bits from here
        best = candidate
    return best[1]


def encode_without_post_processing(image: np.ndarray, params: OverfitParams) -> Payload:
    """The payload without its FILT section, chosen as if there were none: the decoded
    image the restoration network is trained to restore (train/restoration.py). Needs
    no shipped restoration weights."""
    return _encode(image, params, post_process=False)


def _reconstruct(model: OverfitModel, syn_step: int, channels: int) -> np.ndarray:
    """The decoded image of the model's (integer) latents, as the decoder returns it."""
    with torch.inference_mode():
        latents = list(model.latents)
        if syn_step == 0:
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
    # without one (syn_step 0, what fast and medium write) the decoder runs the inverse
    # wavelet transform directly and needs much less (decode_memory). Both include the
    # restoration network and post-filter of payload version 6 (measured 569 and 322 B/pixel
    # at most, in decode-memory.json).
    decode_base_bytes = 48 << 20
    decode_bytes_per_pixel = 704
    inverse_decode_bytes_per_pixel = 280
    version = 6
    description = "per-image neural codec: latent grids + integer ARM + tiny decoder stored in the file (Cool-chic-like)"
    Params = OverfitParams

    @classmethod
    def decode_memory(cls, header: Header) -> int:
        syn_step = header.params.get("syn_step")
        per_pixel = cls.inverse_decode_bytes_per_pixel if type(syn_step) is int and syn_step == 0 \
            else cls.decode_bytes_per_pixel
        return cls.decode_base_bytes + per_pixel * header.width * header.height

    def encode(self, image: np.ndarray, params: OverfitParams) -> Payload:
        return _encode(image, params)

    def decode(self, header: Header, sections) -> np.ndarray:
        if header.codec_version not in (2, 3, 4, 5, 6):
            self.check_version(header)
        _check_size(header.height, header.width)
        arch = Architecture.parse(header.params.get("arch"))
        if header.codec_version == 2 and arch.transform != "pyramid":
            raise CorruptPayloadError("overfit payload version 2 holds pyramids only")
        if header.codec_version < 4 and arch.band_context:
            raise CorruptPayloadError(f"overfit payload version {header.codec_version} has no band-aware ARM")
        _check_work(arch, header.height, header.width, header.channels)
        arm_step, syn_step = header.params.get("arm_step"), header.params.get("syn_step")
        gain, ratio = header.params.get("gain"), header.params.get("ratio")
        if not all(type(v) is int for v in (arm_step, syn_step, gain, ratio)) or arm_step not in ARM_PRECISIONS \
                or syn_step not in (0, *SYNTHESIS_PRECISIONS) or gain not in GAIN_EXPONENTS or ratio not in ratios(arch):
            raise CorruptPayloadError(f"invalid steps or gains {arm_step!r}, {syn_step!r}, {gain!r}, {ratio!r}")
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
        model = OverfitModel(arch, header.height, header.width, header.channels, gain, ratio)
        arm_layers = _arm_layers(model)
        arm_integers = decode_tensors(arm_data, [tuple(t.shape) for l in arm_layers for t in (l.weight, l.bias)], "ARMW")
        arm, plan = _integer_arm(model, arm_integers, arm_step, header.codec_version)
        if syn_step == 0:                   # the transform's exact inverse (version 3)
            if header.codec_version < 3 or syn_data or not model.invert_transform(header.channels, False):
                raise CorruptPayloadError("overfit: synthesis step 0 needs an empty SYNW and a synthesis wide "
                                          "enough for the transform's inverse")
        else:
            syn_integers = decode_tensors(syn_data, [tuple(t.shape) for t in _synthesis_tensors(model)], "SYNW")
            _load_synthesis(model, syn_integers, syn_step)
        decoder = EntropyDecoder(latent_data)
        grids = arm_module.decode_grids(decoder, model.grid_shapes(), arm, plan)
        decoder.finish()
        model.load_integer_grids(grids)
        decoded = _reconstruct(model, syn_step, header.channels)
        if strength is not None:
            decoded = restoration.shipped()(decoded, strength)
        return decoded if linear is None else postfilter.apply(decoded, *linear)
