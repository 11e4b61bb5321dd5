"""Training of the overfit codec's shipped restoration network
(latentpress/codecs/overfit/restoration.py): a small CNN that learns, from photographs
the codec has compressed, to undo what the wavelet leaves.

Three stages, each resumable:

``pairs``     crops of the training photos (../shared/data/photos) compressed with the
              real ``overfit`` encoder (``fast`` preset) at each of its eight levels
              (qualities 20, 30 … 90: presets.quality_of_level), without its
              post-processing (no FILT section), and decoded: (original, decoded)
              pairs, one ``.npz`` per photo and level in a cache folder.
``train``     the float network (train/loop.py), on random patches of the pairs, each
              conditioned on its level (strength t = level − 1), MSE on 8-bit pixels;
              then quantization-aware fine-tuning of the integer network (weights,
              biases and activations on their integer grids, straight-through
              gradients), with the activations' precisions calibrated on the float one.
``train --export`` also writes the integer weights as safetensors (int16 weights,
              int32 biases), for latentpress/weights/; ``--report`` the held-out gains.

Photos in crops.HELD_OUT are never trained on; ``evaluate`` measures on them what the
network adds, alone and under the per-image linear post-filter.

    python -m latentpress.train.restoration pairs --photos ../shared/data/photos --cache runs/restoration-pairs
    python -m latentpress.train.restoration train --cache runs/restoration-pairs --run runs/restoration \
        --export latentpress/weights/overfit-restore-v1.safetensors --report restoration-heldout.json

benchmarks/train_restoration.sh gives the commands that made the shipped weights.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from latentpress.codecs.overfit.restoration import FACTOR, STRENGTHS, IntegerConv, RestorationNet
from latentpress.train.crops import HELD_OUT
from latentpress.train.loop import CHECKPOINT, TrainConfig, read_checkpoint, train

LEVELS = tuple(range(1, STRENGTHS + 1))
INPUT_BITS = 7                    # the float network sees (pixel − 128) / 2**7
ACTIVATION_CEILING = 255
LATENT_PLANES = 9                 # the finest level's bands × colours, stored with each pair
LATENT_CLIP = 64
PLANE_CLIP = 8                    # the network sees latents clipped to ±8, divided by 8: in
PLANE_SCALE = 1 / PLANE_CLIP      # the pixels' range, so both fit one integer input precision


# ---- pairs -----------------------------------------------------------------------

def pair_path(cache: Path, stem: str, level: int) -> Path:
    return cache / f"{stem}-q{level}.npz"


def make_pairs(photos: Path, cache: Path, crop: int = 384, levels=LEVELS, preset: str = "fast",
               crops: int = 1) -> None:
    """``crops`` crops per photo and level (their places seeded by photo, level and crop
    number), compressed and decoded without the FILT section; skips pairs already in the
    cache. Each pair also keeps the integer latents of the two finest wavelet levels
    (finest_latents: ``latents`` and ``latents2``)."""
    from PIL import Image

    from latentpress import api, container
    from latentpress.codecs.base import get_codec
    from latentpress.codecs.overfit.presets import quality_of_level

    cache.mkdir(parents=True, exist_ok=True)
    codec = get_codec("overfit")
    paths = sorted(photos.glob("*.png"))
    for number, level, (index, path) in itertools.product(range(crops), levels, enumerate(paths)):
        target = pair_path(cache, path.stem if number == 0 else f"{path.stem}~{number}", level)
        if target.exists():
            continue
        image = np.asarray(Image.open(path).convert("RGB"))
        # The first crop keeps the seed pairs were made with before there were several.
        rng = np.random.default_rng(1000 * index + level if number == 0 else [1000 * index + level, number])
        top = rng.integers(0, image.shape[0] - crop + 1)
        left = rng.integers(0, image.shape[1] - crop + 1)
        original = np.ascontiguousarray(image[top:top + crop, left:left + crop])
        params = codec.parse_params({"quality": quality_of_level(level), "preset": preset})
        payload = codec.encode_without_post_processing(original, params)
        data = api.pack(codec, original, payload)
        header, sections = container.read(data)
        grids, decoded, _, _ = codec.decode_stages(header, sections)
        tmp = target.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, original=original, decoded=decoded, bpp=8 * len(data) / crop ** 2,
                            latents=finest_latents(grids, crop, crop),
                            latents2=finest_latents(grids[LATENT_PLANES:], (crop + 1) // 2, (crop + 1) // 2))
        tmp.replace(target)
        mse = np.mean((decoded.astype(np.float64) - original) ** 2)
        print(f"{target.name}: {8 * len(data) / crop ** 2:.3f} bpp, {10 * math.log10(255 ** 2 / mse):.2f} dB",
              flush=True)


def finest_latents(grids: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """The finest wavelet level's integer latents (HL, LH, HH × Y, Cb, Cr: the first nine
    grids) on the ⌈h/2⌉ × ⌈w/2⌉ grid of 2×2 pixel blocks (zeros where a band is a row
    or column short), clipped to ±LATENT_CLIP, int8."""
    planes = np.zeros((LATENT_PLANES, (height + 1) // 2, (width + 1) // 2), np.int8)
    for index, grid in enumerate(grids[:LATENT_PLANES]):
        planes[index, :grid.shape[0], :grid.shape[1]] = np.clip(grid, -LATENT_CLIP, LATENT_CLIP)
    return planes


def latent_inputs(pair: tuple, planes: int, rows: slice, columns: slice) -> np.ndarray:
    """A pair's extra network inputs on the 2×2-block grid, over ``rows`` × ``columns``
    of it (even bounds): the finest level's latents (planes 9), then the next level's,
    each repeated over its 2×2 block (planes 18)."""
    z = pair[3][:, rows, columns]
    if planes > LATENT_PLANES:
        coarser = pair[4][:, rows.start // 2:-(-rows.stop // 2), columns.start // 2:-(-columns.stop // 2)]
        z = np.concatenate([z, coarser.repeat(2, axis=1).repeat(2, axis=2)[:, :z.shape[1], :z.shape[2]]])
    return z


def load_pairs(cache: Path, held_out: bool, latents: bool = False) -> list[tuple]:
    """(original, decoded, level[, the finest level's latents, the next level's]) of
    every pair in the cache, the held-out photos' or the others'."""
    pairs = []
    for path in sorted(cache.glob("*-q*.npz")):
        stem, level = path.stem.rsplit("-q", 1)
        if (stem.split("~")[0] in HELD_OUT) == held_out and int(level) in LEVELS:
            with np.load(path) as data:
                pairs.append((data["original"], data["decoded"], int(level))
                             + ((data["latents"], data["latents2"]) if latents else ()))
    return pairs


# ---- the network -------------------------------------------------------------------

def _round_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.round(x) - x).detach()


def _floor_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.floor(x) - x).detach()


class RestorationModel(nn.Module):
    """The float (and, once ``quantize`` has set its precisions, quantization-aware)
    network of restoration.RestorationNet, on (pixel − 128) inputs."""

    def __init__(self, channels: int = 32, depth: int = 2, planes: int = 0) -> None:
        super().__init__()
        # planes: extra inputs on the half-resolution grid (the finest levels' latents).
        self.planes = planes
        widths = [3 * FACTOR ** 2 + planes] + [channels] * (depth + 1) + [3 * FACTOR ** 2]
        self.convs = nn.ModuleList(nn.Conv2d(a, b, 3, padding=1) for a, b in zip(widths, widths[1:]))
        self.conditioning = nn.Parameter(torch.zeros(channels))
        nn.init.zeros_(self.convs[-1].weight)
        nn.init.zeros_(self.convs[-1].bias)
        # Quantization: per layer, the weights' precision k (integers = w·2**k) and the
        # output's precision f (integers = activation·2**f); empty: float.
        self.register_buffer("weight_bits", torch.zeros(0, dtype=torch.int64))
        self.register_buffer("activation_bits", torch.zeros(0, dtype=torch.int64))

    @property
    def quantized(self) -> bool:
        return self.weight_bits.numel() > 0

    def forward(self, x: torch.Tensor, strength: torch.Tensor, record: list | None = None,
                planes: torch.Tensor | None = None) -> torch.Tensor:
        """x: (N, 3, H, W) pixels − 128, H and W even; strength (N,); planes (N, P, H/2,
        W/2) integer latents, P = self.planes → restored pixels − 128."""
        h = F.pixel_unshuffle(x, FACTOR) * 2.0 ** -INPUT_BITS
        if self.planes:
            if self.quantized:
                raise NotImplementedError("latent input planes: float networks only")
            h = torch.cat([h, planes.clamp(-PLANE_CLIP, PLANE_CLIP) * PLANE_SCALE], dim=1)
        previous = INPUT_BITS
        last = len(self.convs) - 1
        for index, conv in enumerate(self.convs):
            weight, bias, conditioning = conv.weight, conv.bias, self.conditioning
            if self.quantized:
                # The integers the decoder holds: weights at 2**−k, the bias (and the
                # first layer's conditioning) at the accumulator's 2**−(k + previous).
                k, f = int(self.weight_bits[index]), int(self.activation_bits[index])
                weight = _round_ste(weight * 2.0 ** k) * 2.0 ** -k
                bias = _round_ste(bias * 2.0 ** (k + previous)) * 2.0 ** -(k + previous)
                conditioning = _round_ste(conditioning * 2.0 ** (k + previous)) * 2.0 ** -(k + previous)
                previous = f
            bias = bias[None].expand(h.shape[0], -1)
            if index == 0:
                bias = bias + strength[:, None].float() * conditioning[None]
            h = F.conv2d(h, weight, padding=1) + bias[:, :, None, None]
            if index < last:
                h = torch.relu(h)
                if record is not None:
                    record.append(h.detach())
                if self.quantized:
                    h = torch.clamp(_floor_ste(h * 2.0 ** f + 0.5), 0, ACTIVATION_CEILING) * 2.0 ** -f
        if self.quantized:             # the correction in whole pixels
            h = _floor_ste(h * 2.0 ** INPUT_BITS + 0.5) * 2.0 ** -INPUT_BITS
        return x + F.pixel_shuffle(h, FACTOR) * 2.0 ** INPUT_BITS

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor, strength: torch.Tensor, quantile: float = 0.9999) -> None:
        """Choose every layer's precisions: activations so that ``quantile`` of them
        fit below the ceiling; weights as fine as the exactness bound allows."""
        record: list[torch.Tensor] = []
        self.weight_bits = torch.zeros(0, dtype=torch.int64)
        self(x, strength, record)
        activation_bits = []
        for h in record:
            sample = h.flatten()[torch.randperm(h.numel())[:1 << 22]]
            top = max(torch.quantile(sample, quantile).item(), 1e-6)
            activation_bits.append(math.floor(math.log2(ACTIVATION_CEILING / top)))
        activation_bits.append(INPUT_BITS)
        weight_bits, previous = [], INPUT_BITS
        for index, conv in enumerate(self.convs):
            bound = 1 << INPUT_BITS if index == 0 else ACTIVATION_CEILING
            k = next((k for k in range(24, -1, -1)
                      if _exact(conv.weight, conv.bias, self.conditioning if index == 0 else None,
                                k, previous, activation_bits[index], bound)), None)
            if k is None:
                raise ValueError(f"layer {index}: no weight precision is exact; the activations are too coarse")
            weight_bits.append(k)
            previous = activation_bits[index]
        self.weight_bits = torch.tensor(weight_bits)
        self.activation_bits = torch.tensor(activation_bits)

    def integer_net(self) -> RestorationNet:
        """The integer network this quantization-aware model computes."""
        layers, previous = [], INPUT_BITS
        conditioning = None
        for index, conv in enumerate(self.convs):
            k, f = int(self.weight_bits[index]), int(self.activation_bits[index])
            scale = 2.0 ** (k + previous)
            weight = np.rint(conv.weight.detach().double().numpy() * 2.0 ** k).astype(np.int64)
            bias = np.rint(conv.bias.detach().double().numpy() * scale).astype(np.int64)
            if index == 0:
                conditioning = np.rint(self.conditioning.detach().double().numpy() * scale).astype(np.int64)
            layers.append(IntegerConv(weight, bias, k + previous - f))
            previous = f
        return RestorationNet(tuple(layers), conditioning)


def _exact(weight: torch.Tensor, bias: torch.Tensor, conditioning: torch.Tensor | None, k: int, previous: int,
           output_bits: int, bound: int) -> bool:
    """Whether weights at precision k keep a layer within the exactness bound (and its
    output shift at least 1)."""
    shift = k + previous - output_bits
    if shift < 1:
        return False
    w = torch.round(weight.double() * 2.0 ** k).abs().sum(dim=(1, 2, 3))
    b = torch.round(bias.double() * 2.0 ** (k + previous)).abs()
    if conditioning is not None:
        b = b + (STRENGTHS - 1) * torch.round(conditioning.double() * 2.0 ** (k + previous)).abs()
    return bool(torch.all(bound * w + b + 2 ** (shift - 1) < 1 << 24))


# ---- training ------------------------------------------------------------------------

class Patches:
    """Random patches of the pairs, flipped and transposed (only transposed with latents);
    deterministic in (seed, iteration). ``planes``: 0, 9 or 18 extra inputs
    (latent_inputs), from pairs loaded with their latents."""

    def __init__(self, pairs: list[tuple], patch: int, planes: int = 0) -> None:
        if not pairs:
            raise ValueError("no training pairs: run the 'pairs' stage first")
        if patch % 4:
            raise ValueError("patches must be a multiple of 4 pixels")
        self.pairs, self.patch, self.planes = pairs, patch, planes

    def batch(self, size: int, seed: int, iteration: int) -> tuple[torch.Tensor, ...]:
        rng = np.random.default_rng([seed, iteration])
        decoded, original, strength, planes = [], [], [], []
        p = self.patch
        for _ in range(size):
            pair = self.pairs[rng.integers(len(self.pairs))]
            o, d, level = pair[:3]
            top, left = (rng.integers(0, (o.shape[0] - p) // 4 + 1) * 4,
                         rng.integers(0, (o.shape[1] - p) // 4 + 1) * 4)
            o, d = o[top:top + p, left:left + p], d[top:top + p, left:left + p]
            if self.planes:
                z = latent_inputs(pair, self.planes, slice(top // 2, (top + p) // 2), slice(left // 2, (left + p) // 2))
            # With latents, only transpositions: a flip moves the wavelet's even samples
            # to odd places, so the flipped image's latents are not the flipped latents.
            k = rng.integers(8) if not self.planes else 4 * rng.integers(2)
            if k & 1:
                o, d = o[::-1], d[::-1]
            if k & 2:
                o, d = o[:, ::-1], d[:, ::-1]
            if k & 4:
                o, d = o.transpose(1, 0, 2), d.transpose(1, 0, 2)
            if self.planes:
                if k & 4:                # transposed: horizontal and vertical detail swap
                    z = z.reshape(-1, 3, 3, *z.shape[1:])[:, [1, 0, 2]].reshape(z.shape).transpose(0, 2, 1)
                planes.append(z)
            decoded.append(d)
            original.append(o)
            strength.append(level - 1)
        tensor = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float() - 128.0  # noqa: E731
        out = (tensor(decoded), tensor(original), torch.tensor(strength))
        return out + ((torch.from_numpy(np.ascontiguousarray(np.stack(planes))).float(),) if self.planes else ())


def run_training(cache: Path, run: Path, channels: int, depth: int, steps: int, qat_steps: int,
                 batch: int = 16, patch: int = 96, learning_rate: float = 1e-3, seed: int = 0,
                 threads: int = 0) -> RestorationModel:
    patches = Patches(load_pairs(cache, held_out=False), patch)
    torch.manual_seed(seed)
    model = RestorationModel(channels, depth)

    def step_fn(iteration: int):
        x, y, t = patches.batch(batch, seed, iteration)
        mse = F.mse_loss(model(x, t), y)
        return mse, {"mse": mse.item()}

    config = TrainConfig(steps=steps, learning_rate=learning_rate, seed=seed, threads=threads,
                         checkpoint_every=500, log_every=100)
    float_run = run / "float"
    train(model, step_fn, config, float_run)
    read_checkpoint(float_run / CHECKPOINT, {"model.": model})
    if qat_steps:
        x, _, t = patches.batch(64, seed + 1, 0)
        model.calibrate(x, t)
        qat_run = run / "qat"
        config = TrainConfig(steps=qat_steps, learning_rate=learning_rate / 10, seed=seed + 2, threads=threads,
                             checkpoint_every=500, log_every=100)
        # A resumed run's checkpoint holds the precisions already (buffers).
        train(model, step_fn, config, qat_run)
        read_checkpoint(qat_run / CHECKPOINT, {"model.": model})
    return model


def export(model: RestorationModel, path: Path) -> str:
    """Write the integer network as safetensors (weights int16, the rest int32); returns
    its SHA-256."""
    import hashlib

    from safetensors.numpy import save_file

    net = model.integer_net()
    tensors = {"conditioning": net.conditioning.astype(np.int32)}
    for index, layer in enumerate(net.layers):
        if np.abs(layer.weight).max() >= 1 << 15:
            raise ValueError(f"layer {index}: weights beyond int16")
        tensors[f"layer{index}.weight"] = layer.weight.astype(np.int16)
        tensors[f"layer{index}.bias"] = layer.bias.astype(np.int32)
        tensors[f"layer{index}.shift"] = np.array([layer.shift], np.int32)
    save_file(tensors, str(path), metadata={"format": "latentpress overfit restoration network",
                                            "factor": str(FACTOR), "strengths": str(STRENGTHS)})
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---- evaluation ----------------------------------------------------------------------

def evaluate(net: RestorationNet, pairs: list[tuple[np.ndarray, np.ndarray, int]]) -> dict:
    """Mean PSNR gains (dB) per level on the pairs: the network at its level's
    strength, the best strength per image, the linear post-filter alone (what version 5
    does), and the post-filter after the network."""
    from latentpress.codecs.overfit import postfilter
    from latentpress.codecs.overfit.presets import lambda_for_quality, quality_of_level

    def mse(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.mean((a.astype(np.float64) - b) ** 2))

    def filtered(image: np.ndarray, original: np.ndarray, level: int) -> np.ndarray:
        candidate = postfilter.design(image, original, lambda_for_quality(quality_of_level(level)))
        return image if candidate is None else candidate[1]

    gains: dict[int, dict[str, list[float]]] = {}
    for original, decoded, level in pairs:
        base = mse(decoded, original)
        at_level = net(decoded, level - 1)
        best = min((net(decoded, t) for t in range(STRENGTHS)), key=lambda image: mse(image, original))
        entry = gains.setdefault(level, {})
        for name, image in (("network", at_level), ("network, best strength", best),
                            ("post-filter", filtered(decoded, original, level)),
                            ("network + post-filter", filtered(at_level, original, level))):
            entry.setdefault(name, []).append(10 * math.log10(base / max(mse(image, original), 1e-12)))
    return {level: {"images": len(entry["network"])} | {name: round(float(np.mean(v)), 4) for name, v in entry.items()}
            for level, entry in sorted(gains.items())}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="stage", required=True)
    p = sub.add_parser("pairs")
    p.add_argument("--photos", type=Path, required=True)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--crop", type=int, default=384)
    p.add_argument("--levels", default=",".join(map(str, LEVELS)))
    p.add_argument("--preset", default="fast")
    p.add_argument("--crops", type=int, default=1, help="crops per photo and level")
    p = sub.add_parser("train")
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--run", type=Path, required=True)
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--qat-steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--export", type=Path)
    p.add_argument("--report", type=Path, help="write held-out gains (JSON) here")
    args = parser.parse_args(argv)
    if args.stage == "pairs":
        make_pairs(args.photos, args.cache, args.crop, [int(q) for q in args.levels.split(",")], args.preset,
                   args.crops)
        return
    model = run_training(args.cache, args.run, args.channels, args.depth, args.steps, args.qat_steps,
                         learning_rate=args.lr, threads=args.threads)
    if args.export:
        print("sha256", export(model, args.export))
    if args.report:
        report = {"held-out gains (dB)": evaluate(model.integer_net(), load_pairs(args.cache, held_out=True))}
        args.report.write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
