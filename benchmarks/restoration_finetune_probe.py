"""Would fine-tuning the shipped restoration network to each image pay for its bytes?

`fast` fine-tunes the shipped ARM per image and stores the differences; this asks the
same of the restoration network (restoration.py), in its integer form: starting from
the shipped network at the strength the encoder would pick, fit integer differences of
(a) every layer's biases, (b) the last layer's weights and biases, (c) both, to one decoded
image with straight-through gradients through the floors, then round them, run the
real integer network and count the differences' bytes with the weight coder
(entropy.integer_tensors). Reports the PSNR gain and the change of MSE + λ·bpp at the
pair's quality, for the crop itself and for a Kodak-sized image of the same content
(the same bytes over 393,216 pixels).

Pairs: a restoration-pairs cache (original, decoded without post-processing, level),
e.g. runs/restoration2-pairs from `python -m latentpress.train.restoration pairs`.

    python benchmarks/restoration_finetune_probe.py CACHE → results/overfit/restoration/finetune-probe.json
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentpress.codecs.overfit import presets  # noqa: E402
from latentpress.codecs.overfit.restoration import FACTOR, STRENGTHS, IntegerConv, RestorationNet, shipped  # noqa: E402
from latentpress.entropy.integer_tensors import encode_tensors  # noqa: E402
from latentpress.train.restoration import load_pairs  # noqa: E402

STEPS = 150
# The differences are stored as integers m on a grid coarser than the network's own:
# a bias moves by m·2**shift / BIAS_STEPS (a quarter of the layer's output unit), a
# weight by m·2**shift / WEIGHT_STEPS (an input of 64 then moves the output by m units).
BIAS_STEPS = 4
WEIGHT_STEPS = 64
KODAK_PIXELS = 768 * 512
PER_LEVEL = 2


def _floor_ste(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.floor(x) - x).detach()


def _forward(net: RestorationNet, image: torch.Tensor, strength: int, deltas: dict[int, tuple]) -> torch.Tensor:
    """The integer network in float, with float differences added to some layers'
    integers (straight-through floors): restored pixels (1, 3, H, W), H and W even."""
    h = F.pixel_unshuffle(image - 128, FACTOR)
    last = len(net.layers) - 1
    for index, layer in enumerate(net.layers):
        weight = torch.from_numpy(layer.weight.astype(np.float32))
        bias = torch.from_numpy((layer.bias + (strength * net.conditioning if index == 0 else 0)).astype(np.float32))
        if index in deltas:
            dw, db = deltas[index]
            unit = 2.0 ** layer.shift
            weight = weight + dw * unit / WEIGHT_STEPS if dw is not None else weight
            bias = bias + db * unit / BIAS_STEPS
        h = F.conv2d(h, weight, bias + 2 ** (layer.shift - 1), padding=1) * 2.0 ** -layer.shift
        h = _floor_ste(h)
        if index < last:
            h = h.clamp(0, 255)
    return (image + F.pixel_shuffle(h, FACTOR)).clamp(0, 255)


def _fit(net: RestorationNet, decoded: torch.Tensor, original: torch.Tensor, strength: int,
         layers: dict[int, bool], lmbda: float, pixels: int) -> RestorationNet:
    """Differences for ``layers`` (index → whether the weights move too), fitted to
    MSE + λ·(bits of the differences)/pixels with bits ≈ Σ 2·log2(1 + |m|), rounded."""
    deltas = {i: (torch.zeros(net.layers[i].weight.shape, requires_grad=True) if weights else None,
                  torch.zeros(net.layers[i].bias.shape, requires_grad=True)) for i, weights in layers.items()}
    parameters = [t for pair in deltas.values() for t in pair if t is not None]
    optimizer = torch.optim.Adam(parameters, lr=0.1)
    for step in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = 0.1 * (1 - step / STEPS) + 0.005
        bits = sum(2 * torch.log2(1 + t.abs()).sum() for t in parameters)
        loss = torch.mean((_forward(net, decoded, strength, deltas) - original) ** 2) / 255.0 ** 2 \
            + lmbda * bits / pixels
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    new = list(net.layers)
    for i, (dw, db) in deltas.items():
        layer = net.layers[i]
        unit = 1 << layer.shift
        weight = layer.weight + (np.rint(dw.detach().numpy()).astype(np.int64) * unit // WEIGHT_STEPS
                                 if dw is not None else 0)
        bias = layer.bias + np.rint(db.detach().numpy()).astype(np.int64) * unit // BIAS_STEPS
        new[i] = IntegerConv(weight, bias, layer.shift)
    return RestorationNet(tuple(new), net.conditioning)


def _differences(net: RestorationNet, tuned: RestorationNet, layers: dict[int, bool]) -> list[np.ndarray]:
    """The stored integers m."""
    out = []
    for i, weights in layers.items():
        unit = 1 << net.layers[i].shift
        if weights:
            out.append((tuned.layers[i].weight - net.layers[i].weight) // (unit // WEIGHT_STEPS))
        out.append((tuned.layers[i].bias - net.layers[i].bias) // (unit // BIAS_STEPS))
    return out


def main() -> None:
    cache = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/restoration2-pairs")
    torch.set_num_threads(2)
    net = shipped()
    last = len(net.layers) - 1
    variants = {"biases": {i: False for i in range(len(net.layers))}, "last layer": {last: True},
                "last layer, all biases": {i: i == last for i in range(len(net.layers))}}
    pairs = load_pairs(cache, held_out=True)
    # PER_LEVEL pairs of each level, from photographs spread over the held-out ones.
    pairs = [p for level in sorted({p[2] for p in pairs})
             for p in [q for q in pairs if q[2] == level][::max(1, len(pairs) // 8 // PER_LEVEL)][:PER_LEVEL]]
    rows = []
    for original, decoded, level in pairs:
        h, w = (s - s % 2 for s in original.shape[:2])
        original, decoded = original[:h, :w], decoded[:h, :w]
        lmbda = presets.lambda_for_quality(presets.quality_of_level(level))
        mse = lambda image: float(np.mean((image.astype(np.float64) - original) ** 2)) / 255.0 ** 2  # noqa: E731
        errors = [mse(net(decoded, s)) for s in range(STRENGTHS)]
        strength = int(np.argmin(errors))
        base = errors[strength]
        x = torch.from_numpy(decoded.astype(np.float32)).permute(2, 0, 1)[None]
        y = torch.from_numpy(original.astype(np.float32)).permute(2, 0, 1)[None]
        row = {"level": level, "strength": strength, "psnr": round(-10 * np.log10(base), 3)}
        for name, layers in variants.items():
            tuned = _fit(net, x, y, strength, layers, lmbda, KODAK_PIXELS)
            after = mse(tuned(decoded, strength))
            stored = len(encode_tensors(_differences(net, tuned, layers)))
            row[name] = {
                "psnr gain dB": round(10 * np.log10(base / after), 4),
                "bytes": stored,
                "cost change, % of the MSE (this crop)": round(100 * ((after + lmbda * 8 * stored / (h * w)) / base - 1), 3),
                "cost change, % of the MSE (Kodak-sized)": round(100 * ((after + lmbda * 8 * stored / KODAK_PIXELS) / base - 1), 3),
            }
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {name: {key: round(float(np.mean([r[name][key] for r in rows])), 4)
                      for key in rows[0][name]} for name in variants}
    result = {
        "command": "python benchmarks/restoration_finetune_probe.py " + " ".join(sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads",
        "pairs": f"{len(rows)} held-out pairs of {cache.name} (384x384 crops, decoded without post-processing)",
        "steps": STEPS,
        "mean": summary,
        "rows": rows,
    }
    out = Path("results/overfit/restoration/finetune-probe.json")
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
