"""Lever 3's first experiment: a Cool-chic-style decoder (latent pyramid, learned
upsampling, small synthesis, causal ARM) trained once on the training photographs, then
frozen, with only a new image's latents optimised: how close a few hundred latent
iterations on this CPU come to what Cool-chic reaches with its networks fitted to the
image, and to `instant`.

The representation follows Cool-chic (Ladune, Philippe, Henry, Clare, Leguay, "COOL-CHIC:
Coordinate-based Low Complexity Hierarchical Image Codec", 2023; Leguay, Philippe, Ladune
et al., "Low-complexity Overfitted Neural Image Codec", 2023): seven one-channel latent
grids from full resolution down to 1/64, each upsampled ×2 at a time by a learned,
separable, symmetric 8-tap filter (started at bicubic), seven planes into a 1×1 synthesis
with two 3×3 residual layers, and an autoregressive model giving a Laplace distribution
per latent from its causal neighbours. The quantization proxy follows C3 (Kim, Bauer,
Theis, Schwarz, Dupont, "C3: High-performance and low-complexity neural compression from
a single image or video", 2024): soft rounding with a falling temperature and noise, then
straight-through rounding. Everything here is this project's own code.

``train``   the shared networks and one latent pyramid per training crop (an
            "auto-decoder": the latents of the training crops are free parameters, as a
            per-image encode would leave them), all crops of one size in one batch, the
            crops of ../shared/data/photos without crops.HELD_OUT. Checkpointed and
            resumable: rerunning continues from runs/amortized/<name>/state.pt.
``measure`` the networks frozen, a test image's latents from zero, N iterations; at
            each checkpoint iteration the cost MSE + λ·bpp of the rounded latents: the
            rate is the ARM's −log2 probability (what an arithmetic coder would reach,
            not a file: no header, no range-coder overhead, the networks shipped) and
            the MSE that of the decoded image rounded to 8 bits. Also the time per
            iteration.

    python benchmarks/amortized_synthesis.py train [--crops 16] [--crop 384] [--steps 1500]
    python benchmarks/amortized_synthesis.py measure [--image kodim14] [--iterations 600]
        [--adapt [--net-lr 1e-2]] [--schedule cc5] [--parent-context] [--compile]

``--scratch`` fits everything to the image from a random start, as Cool-chic does, and
takes the decoder's shape from ``--arm cc`` (Cool-chic 5.0's ARM: 14 neighbours and an
inter-feature context from the coarser grids) and ``--preconcat`` (its pre-concatenation
filters); ``--net-betas``, ``--net-wd``, ``--clip`` and ``--clamp`` set the networks'
optimizer as Cool-chic 5.0 does (0.95,0.95 / 0.01 / 0.1 / output clamped to [0, 1]).
``--adapt`` fits the networks to the image too (their bits are not counted);
``--schedule cc5`` follows Cool-chic 5.0's phases; ``--compile`` runs the step through
torch.compile (about 2× faster here, after a warm-up of half a minute).

Writes runs/amortized/<name>/ (checkpoints, log.jsonl) and, for measure,
results/overfit/amortized-synthesis.json (one row per network, image, λ and schedule).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import resource
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

try:
    from latentpress.train.crops import HELD_OUT
except ImportError:
    # A lent GPU machine lacks latentpress's entropy coder: there the script trains on
    # the crops that `crops` cut here, the held-out photographs already left out.
    HELD_OUT = None

RUNS = ROOT / "runs" / "amortized"
OUT = ROOT / "results" / "overfit" / "amortized-synthesis.json"
LEVELS = 7
GAIN = 16.0          # latent parameter × GAIN is quantized: Adam's steps become fractions of a step
RATE_FLOOR = 2.0 ** -16


# ----------------------------------------------------------------------------- model

def bicubic_taps() -> list[float]:
    """The four distinct taps of a ×2 bicubic interpolation as a transposed convolution:
    Keys' cubic (a = −½, exact on linear ramps) at distances 1/4, 3/4, 5/4 and 7/4."""
    a = -0.5

    def cubic(x: float) -> float:
        x = abs(x)
        if x <= 1:
            return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1
        return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a

    return [cubic(d) for d in (0.25, 0.75, 1.25, 1.75)]


def edge_pad(x: torch.Tensor, n: int) -> torch.Tensor:
    """Replicate padding by n on all four sides, written with cat so that torch.compile
    handles its backward pass (its replication_pad2d backward fails on CPU)."""
    x = torch.cat([x[..., :1, :]] * n + [x] + [x[..., -1:, :]] * n, dim=-2)
    return torch.cat([x[..., :1]] * n + [x] + [x[..., -1:]] * n, dim=-1)


class Upsampling(nn.Module):
    """Coarse to fine: the planes so far go up ×2 (one learned symmetric 8-tap filter per
    level, the same for every plane) and the next finer grid joins them."""

    def __init__(self, levels: int = LEVELS, preconcat: bool = False):
        super().__init__()
        self.taps = nn.Parameter(torch.tensor([bicubic_taps()[::-1]] * (levels - 1)))
        # Cool-chic 5.0's pre-concatenation filters: each finer grid, before it joins the
        # upsampled planes, goes through its level's separable symmetric 7-tap filter
        # plus itself. The four free taps start at a unit impulse (a product of zeros
        # would get no gradient), so the grid starts doubled.
        self.pre = nn.Parameter(torch.tensor([[0.0, 0.0, 0.0, 1.0]] * (levels - 1))) \
            if preconcat else None

    def prefilter(self, x: torch.Tensor, level: int) -> torch.Tensor:
        if self.pre is None:
            return x
        taps = torch.cat([self.pre[level], self.pre[level, :3].flip(0)])    # 7 taps
        kernel = (taps[:, None] * taps[None, :])[None, None]
        return F.conv2d(F.pad(x, (3, 3, 3, 3)), kernel) + x

    def up(self, x: torch.Tensor, level: int, size: tuple[int, int]) -> torch.Tensor:
        taps = torch.cat([self.taps[level], self.taps[level].flip(0)])        # 8 taps
        kernel = (taps[:, None] * taps[None, :])[None, None].expand(x.shape[1], 1, 8, 8)
        x = edge_pad(x, 2)
        y = F.conv_transpose2d(x, kernel.contiguous(), stride=2, padding=7, groups=x.shape[1])
        return y[..., : size[0], : size[1]]

    def forward(self, grids: list[torch.Tensor]) -> torch.Tensor:
        x = grids[-1]
        for level in range(len(grids) - 2, -1, -1):
            x = torch.cat([self.prefilter(grids[level], level),
                           self.up(x, level, grids[level].shape[-2:])], dim=1)
        return x

    def macs(self) -> float:
        """Per pixel at decoding: the 8-tap filters on every plane so far (64 per
        output sample of a 2-D transposed convolution, as counted before), and the
        pre-concatenation filters separably (14 per sample)."""
        up = 64 * sum(4.0 ** -i for i in range(1, LEVELS))
        pre = 14 * sum(4.0 ** -i for i in range(LEVELS - 1)) if self.pre is not None else 0
        return up + pre


class Synthesis(nn.Module):
    """Cool-chic's HOP synthesis shape: 1×1 layers to a few channels, then 3×3 residual
    layers on the three colours."""

    def __init__(self, width: int = 48, residual: int = 2, levels: int = LEVELS):
        super().__init__()
        self.inner = nn.Conv2d(levels, width, 1)
        self.out = nn.Conv2d(width, 3, 1)
        self.skip = nn.Conv2d(levels, 3, 1)
        self.residual = nn.ModuleList(nn.Conv2d(3, 3, 3) for _ in range(residual))
        for layer in self.residual:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, planes: torch.Tensor) -> torch.Tensor:
        x = self.out(F.relu(self.inner(planes))) + self.skip(planes)
        for i, layer in enumerate(self.residual):
            y = layer(edge_pad(x, 1))
            x = x + (F.relu(y) if i < len(self.residual) - 1 else y)
        return x + 0.5

    def macs(self) -> int:
        return sum(m.weight.numel() for m in self.modules() if isinstance(m, nn.Conv2d))


class ARM(nn.Module):
    """Laplace parameters of each latent from its causal neighbours in a 7-wide window
    (24: three rows above, three to the left), one MLP for every grid, written as a
    masked 4×7 convolution over the rows above and 1×1 layers, so that a whole grid is
    one batched pass."""

    def __init__(self, width: int = 24, window: int = 7, parent: bool = False):
        super().__init__()
        self.half = window // 2
        mask = torch.ones(self.half + 1, window)
        mask[self.half, self.half:] = 0
        self.register_buffer("mask", mask)
        self.context = nn.Conv2d(1, width, (self.half + 1, window))
        self.hidden = nn.Conv2d(width, width, 1)
        self.head = nn.Conv2d(width, 2, 1)
        # The 3×3 neighbourhood of the co-located latent one level coarser (decoded
        # before: the grids go coarsest first), in the spirit of Cool-chic 5.0's
        # inter-feature context; started at zero so that it changes nothing until fitted.
        self.parent = nn.Conv2d(1, width, 3, padding=1) if parent else None
        if self.parent is not None:
            nn.init.zeros_(self.parent.weight)
            nn.init.zeros_(self.parent.bias)

    def forward(self, q: torch.Tensor, coarser: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        padded = F.pad(q, (self.half, self.half, self.half, 0))
        h = F.conv2d(padded, self.context.weight * self.mask, self.context.bias)
        if self.parent is not None and coarser is not None:
            up = coarser.repeat_interleave(2, dim=-2).repeat_interleave(2, dim=-1)
            h = h + self.parent(up[..., : q.shape[-2], : q.shape[-1]])
        h = F.relu(h)
        h = F.relu(self.hidden(h)) + h
        mu, log_scale = self.head(h).unbind(1)
        return mu[:, None], torch.exp(log_scale[:, None].clamp(-6.0, 6.0) - 1.0)

    def macs(self) -> int:
        return int(self.mask.sum()) * self.context.out_channels + \
            self.hidden.weight.numel() + self.head.weight.numel() + \
            (self.parent.weight.numel() if self.parent is not None else 0)


# Cool-chic 5.0's 14 causal neighbours (row offset, column offset): three to the left, six
# in the row above, four two rows above, one three rows above.
NEIGHBOURS = [(0, -1), (0, -2), (0, -3), (-1, -3), (-1, -2), (-1, -1), (-1, 0), (-1, 1), (-1, 2),
              (-2, -2), (-2, -1), (-2, 0), (-2, 1), (-3, 0)]
IFCE_LEVELS = 3          # the finest grids, nearly all the latents, get the coarser summary
IFCE_FEATURES = 6


class ContextARM(nn.Module):
    """An ARM in the shape of Cool-chic 5.0's: the 14 neighbours themselves (not a
    learned projection of them) as the MLP's input, with — for the three finest grids —
    six features a linear map draws from every coarser grid at the parent position (an
    inter-feature context: the coarser grids are decoded first); two residual layers
    that start as the identity; the Laplace parameters from a linear path plus the
    MLP's head, so that the model is a linear predictor before it is anything else."""

    def __init__(self, layers: int = 2, ifce: bool = True):
        super().__init__()
        pick = torch.zeros(len(NEIGHBOURS), 1, 4, 7)
        for c, (dy, dx) in enumerate(NEIGHBOURS):
            pick[c, 0, 3 + dy, 3 + dx] = 1.0
        self.register_buffer("pick", pick)
        width = len(NEIGHBOURS) + (IFCE_FEATURES if ifce else 0)
        self.hidden = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(layers))
        for layer in self.hidden:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.head = nn.Conv2d(width, 2, 1)
        nn.init.normal_(self.head.weight, std=1 / 16)
        nn.init.zeros_(self.head.bias)
        self.linear = nn.Conv2d(width, 2, 1)
        # one map per fine level: level l sees the LEVELS − 1 − l coarser grids
        self.ifce = nn.ModuleList(nn.Conv2d(LEVELS - 1 - level, IFCE_FEATURES, 1, bias=False)
                                  for level in range(IFCE_LEVELS)) if ifce else None
        if self.ifce is not None:
            for layer in self.ifce:
                nn.init.normal_(layer.weight, std=1 / IFCE_FEATURES ** 2)

    def features(self, grids: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """Each grid's inter-feature context (None where there is none)."""
        out: list[torch.Tensor | None] = [None] * len(grids)
        if self.ifce is None:
            return out
        for level in range(IFCE_LEVELS):
            parent = grids[level + 1]
            size = parent.shape[-2:]
            coarser = [parent] + [near_up(g, size, 2 ** (k + 1)) for k, g in enumerate(grids[level + 2:])]
            f = self.ifce[level](torch.cat(coarser, dim=1))
            out[level] = near_up(f, grids[level].shape[-2:], 2)
        return out

    def forward(self, q: torch.Tensor, feature: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.conv2d(F.pad(q, (3, 3, 3, 0)), self.pick)
        if self.ifce is not None:
            if feature is None:
                feature = torch.zeros_like(x[:, :IFCE_FEATURES])
            x = torch.cat([x, feature], dim=1)
        h = x
        for layer in self.hidden:
            h = h + F.relu(layer(h))
        mu, log_scale = (self.head(h) + self.linear(x)).unbind(1)
        return mu[:, None], torch.exp((log_scale[:, None] - 4.0).clamp(-5.0, 5.0))

    def macs(self) -> int:
        """Per latent (the inter-feature maps are counted per pixel by the decoder)."""
        width = self.head.in_channels
        return len(self.hidden) * width * width + 4 * width

    def ifce_macs_per_pixel(self) -> float:
        if self.ifce is None:
            return 0.0
        return sum(layer.weight.numel() * 4.0 ** -(level + 1) for level, layer in enumerate(self.ifce))


def near_up(x: torch.Tensor, size, factor: int) -> torch.Tensor:
    """Nearest-neighbour upsampling by `factor`, cropped to `size`."""
    y = x.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)
    return y[..., : size[0], : size[1]]


def laplace_bits(q: torch.Tensor, mu: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """−log2 of the Laplace(μ, b) mass on [q − ½, q + ½], floored at 2⁻¹⁶."""
    def cdf(x):
        z = (x - mu) / scale
        return 0.5 + 0.5 * torch.sign(z) * (1.0 - torch.exp(-z.abs()))
    mass = (cdf(q + 0.5) - cdf(q - 0.5)).clamp_min(RATE_FLOOR)
    return -torch.log2(mass)


class Decoder(nn.Module):
    def __init__(self, width: int = 48, residual: int = 2, arm_width: int = 24,
                 parent: bool = False, arm: str = "wide", preconcat: bool = False):
        super().__init__()
        self.upsampling = Upsampling(preconcat=preconcat)
        self.synthesis = Synthesis(width, residual)
        # "wide": a learned 24-wide projection of a 7-wide causal window; "cc": Cool-chic
        # 5.0's shape (ContextARM)
        self.arm = ContextARM() if arm == "cc" else ARM(arm_width, parent=parent)

    def forward(self, grids: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(image, bits per batch item) from quantized (or proxy-quantized) grids."""
        context = self.arm.features(grids) if isinstance(self.arm, ContextARM) else grids[1:] + [None]
        bits = sum(laplace_bits(g, *self.arm(g, c)).sum(dim=(1, 2, 3)) for g, c in zip(grids, context))
        return self.synthesis(self.upsampling(grids)), bits

    def macs_per_pixel(self) -> float:
        latents_per_pixel = sum(4.0 ** -i for i in range(LEVELS))
        ifce = self.arm.ifce_macs_per_pixel() if isinstance(self.arm, ContextARM) else 0.0
        return (self.synthesis.macs() + self.arm.macs() * latents_per_pixel + ifce
                + self.upsampling.macs())


# ------------------------------------------------------------------------ optimizer

class EigenAdam(torch.optim.Optimizer):
    """Adam run in the eigenbasis of a Shampoo preconditioner, after Vyas, Morwani, Zhao,
    Shapira, Brandfonbrener, Janson, Kakade, "SOAP: Improving and Stabilizing Shampoo
    using Adam" (2024), which Cool-chic 5.0 fits its networks with. For a convolution's
    weight seen as a matrix G (outputs × inputs): running averages L of G·Gᵀ and R of
    Gᵀ·G; every `refresh` steps their eigenvectors Q_L, Q_R (a full eigendecomposition:
    these matrices are at most a few dozen wide); Adam's second moment kept for the
    rotated gradient Q_Lᵀ·G·Q_R, its first moment in the weight's own coordinates and
    rotated likewise. Other parameters (biases, filter taps) get plain Adam. Decoupled
    weight decay as AdamW."""

    def __init__(self, params, lr: float = 1e-2, betas=(0.95, 0.95), eps: float = 1e-8,
                 weight_decay: float = 0.0, refresh: int = 10):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      refresh=refresh))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad.reshape(p.shape[0], -1) if p.dim() == 4 else p.grad
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(g)
                    state["v"] = torch.zeros_like(g)
                    if p.dim() == 4:
                        state["L"] = g @ g.T
                        state["R"] = g.T @ g
                        state["QL"] = torch.linalg.eigh(state["L"])[1]
                        state["QR"] = torch.linalg.eigh(state["R"])[1]
                state["t"] += 1
                t = state["t"]
                rotated = "QL" in state
                ql, qr = (state["QL"], state["QR"]) if rotated else (None, None)
                g_rot = ql.T @ g @ qr if rotated else g
                state["m"].mul_(b1).add_(g, alpha=1 - b1)
                state["v"].mul_(b2).addcmul_(g_rot, g_rot, value=1 - b2)
                m_rot = ql.T @ state["m"] @ qr if rotated else state["m"]
                m_hat = m_rot / (1 - b1 ** t)
                v_hat = state["v"] / (1 - b2 ** t)
                update = m_hat / (v_hat.sqrt() + group["eps"])
                if rotated:
                    update = ql @ update @ qr.T
                if group["weight_decay"]:
                    p.mul_(1 - group["lr"] * group["weight_decay"])
                p.add_(update.reshape(p.shape), alpha=-group["lr"])
                if rotated:
                    state["L"].mul_(b2).add_(g @ g.T, alpha=1 - b2)
                    state["R"].mul_(b2).add_(g.T @ g, alpha=1 - b2)
                    if t % group["refresh"] == 0:
                        state["QL"] = torch.linalg.eigh(state["L"])[1]
                        state["QR"] = torch.linalg.eigh(state["R"])[1]


# ------------------------------------------------------------------ quantization proxy

def soft_round(x: torch.Tensor, t) -> torch.Tensor:
    """A differentiable rounding that tends to round() as t → 0 (Agustsson and Theis,
    "Universally Quantized Neural Compression", 2020). t is a float or a 0-d tensor (a
    tensor keeps a compiled step from recompiling as the temperature falls)."""
    m = torch.floor(x) + 0.5
    t = torch.as_tensor(t, dtype=x.dtype)
    return m + torch.tanh((x - m) / t) / (2.0 * torch.tanh(0.5 / t))


def quantize(p: torch.Tensor, phase: str, t: float = 0.3, sigma: float = 0.2) -> torch.Tensor:
    x = p * GAIN
    if phase == "soft":
        return soft_round(soft_round(x, t) + sigma * torch.randn_like(x), t)
    if phase == "ste":
        return x + (torch.round(x) - x).detach()
    return torch.round(x)


def schedule(i: int, n: int, lr: float, recipe: str = "c3") -> tuple[str, float, float, float]:
    """(phase, lr, temperature, noise σ) of iteration i of n.

    ``c3``: 90% soft rounding with the temperature 0.3 → 0.1 and Gaussian noise
    0.25 → 0.1 under a cosine lr, then straight-through rounding at a hundredth of lr.
    ``cc5``: Cool-chic 5.0's intra main and final phases as its documentation and
    presets describe them: 95% soft rounding, temperature 0.35 → 0.08, noise
    0.22 → 0.15, lr cosine down to a thousandth; then 5% with the latents rounded and
    left alone ("hard": only the networks, if fitted, adapt to them)."""
    if recipe == "cc5":
        soft = int(0.95 * n)
        if i < soft:
            f = i / max(soft - 1, 1)
            return ("soft", lr * (1e-3 + (1 - 1e-3) * 0.5 * (1 + math.cos(math.pi * f))),
                    0.35 - 0.27 * f, 0.22 - 0.07 * f)
        return "hard", lr * 0.01, 0.08, 0.0
    soft = int(0.9 * n)
    if i < soft:
        f = i / max(soft - 1, 1)
        return ("soft", lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * f))),
                0.3 - 0.2 * f, 0.25 - 0.15 * f)
    return "ste", lr * 0.01, 0.1, 0.0


def pyramid(batch: int, height: int, width: int, device: str = "cpu") -> list[torch.Tensor]:
    return [torch.zeros(batch, 1, -(-height // 2 ** i), -(-width // 2 ** i), device=device)
            for i in range(LEVELS)]


# ------------------------------------------------------------------------------ train

def load_rgb(path: Path) -> torch.Tensor:
    """A PNG's bytes as a 1×3×H×W uint8 batch (alpha dropped, grey made RGB). Read with
    Pillow rather than latentpress.image, which a lent GPU machine cannot import."""
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)[None]


def cut_crops(args) -> None:
    """`count` crops of the training photographs as PNGs in one folder (small enough
    to travel to a lent GPU machine, where ../shared does not)."""
    images = training_crops(Path(args.photos), args.count, args.size, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, crop in enumerate(images):
        Image.fromarray(crop.permute(1, 2, 0).numpy(), "RGB").save(out / f"crop{i:04d}.png")
    print(f"{len(images)} crops of {args.size}×{args.size} in {out}")


def training_crops(photos: Path, count: int, size: int, seed: int) -> torch.Tensor:
    """`count` crops of size × size from the training photographs (HELD_OUT left out),
    at random places, as a uint8 batch."""
    rng = random.Random(seed)
    names = sorted(photos.glob("*.png"))
    if HELD_OUT is not None:
        names = [p for p in names if p.stem not in HELD_OUT]
    elif any(p.stem.isdigit() for p in names):
        raise SystemExit(f"{photos}: without latentpress the held-out photographs are not "
                         "known; train on the folder that `crops` cuts")
    if not names or count < 1:
        raise SystemExit(f"{photos}: {len(names)} training photographs, {count} crops asked for")
    # Beyond one crop per photograph, each photograph gives several (at other places).
    chosen = rng.sample(names, count) if count <= len(names) else \
        [names[i % len(names)] for i in range(count)]
    crops, loaded = [], {}
    for path in chosen:
        if path not in loaded:
            loaded[path] = load_rgb(path)
        image = loaded[path]
        h, w = image.shape[2:]
        if h < size or w < size:
            raise SystemExit(f"{path}: {w}×{h}, smaller than a crop of {size}×{size}")
        y, x = rng.randrange(h - size + 1), rng.randrange(w - size + 1)
        crops.append(image[..., y: y + size, x: x + size])
    return torch.cat(crops)


def train(args) -> None:
    torch.manual_seed(args.seed)
    run = RUNS / args.name
    run.mkdir(parents=True, exist_ok=True)
    images = training_crops(Path(args.photos), args.crops, args.crop, args.seed).to(args.device) / 255.0
    decoder = Decoder(args.width, args.residual, args.arm_width, parent=args.parent_context,
                      arm=args.arm, preconcat=args.preconcat).to(args.device)
    latents = [nn.Parameter(g) for g in pyramid(*images.shape[:1], *images.shape[2:], args.device)]
    nets = torch.optim.Adam(decoder.parameters(), lr=args.net_lr)
    lats = torch.optim.Adam(latents, lr=args.lr)
    start = 0
    state_path = run / "state.pt"
    if state_path.exists():
        state = torch.load(state_path, weights_only=False, map_location=args.device)
        if state["args"]["crops"] != args.crops or state["args"]["crop"] != args.crop:
            raise SystemExit(f"{state_path}: another crop set; use another --name")
        decoder.load_state_dict(state["decoder"])
        for p, v in zip(latents, state["latents"]):
            p.data.copy_(v)
        nets.load_state_dict(state["nets"])
        lats.load_state_dict(state["lats"])
        start = state["step"]
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    pixels = images.shape[2] * images.shape[3]
    log = (run / "log.jsonl").open("a")

    def save(step: int) -> None:
        torch.save({"args": vars(args), "step": step, "decoder": decoder.state_dict(),
                    "latents": [p.data for p in latents], "nets": nets.state_dict(),
                    "lats": lats.state_dict()}, run / "state.tmp")
        os.replace(run / "state.tmp", state_path)
        cpu = {k: v.cpu() for k, v in decoder.state_dict().items()}
        torch.save({"args": vars(args), "step": step, "decoder": cpu}, run / "decoder.pt")

    began = time.perf_counter()
    # A wall-clock budget (a lent GPU's minutes are few): save and stop after the step
    # that passes it; rerunning resumes, the schedule still counted on --steps.
    deadline = began + 60 * args.minutes if args.minutes else None
    for step in range(start, args.steps):
        if deadline is not None and time.perf_counter() > deadline:
            stop["now"] = True
        phase, lr, t, sigma = schedule(step, args.steps, args.lr)
        for group in lats.param_groups:
            group["lr"] = lr
        for group in nets.param_groups:
            group["lr"] = args.net_lr * lr / args.lr
        image, bits = decoder([quantize(p, phase, t, sigma) for p in latents])
        mse = F.mse_loss(image, images, reduction="none").mean(dim=(1, 2, 3))
        loss = (mse + args.lmbda * bits / pixels).mean()
        nets.zero_grad()
        lats.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
        nets.step()
        if phase == "soft":
            lats.step()
        if step % 25 == 0 or step == args.steps - 1:
            row = {"step": step, "phase": phase, "loss": loss.item(),
                   "psnr": float((-10 * torch.log10(mse.detach())).mean()),
                   "bpp": float((bits.detach() / pixels).mean()),
                   "s": round(time.perf_counter() - began, 1)}
            log.write(json.dumps(row) + "\n")
            log.flush()
            print(row, flush=True)
        if (step + 1) % args.checkpoint == 0 or stop["now"]:
            save(step + 1)
            if stop["now"]:
                return
    save(args.steps)


# ---------------------------------------------------------------------------- measure

def evaluate(decoder: Decoder, latents, image: torch.Tensor, lmbda: float) -> dict:
    with torch.no_grad():
        out, bits = decoder([quantize(p, "hard") for p in latents])
        out = torch.round(out.clamp(0, 1) * 255) / 255
        mse = float(F.mse_loss(out, image))
        bpp = float(bits.sum()) / (image.shape[2] * image.shape[3])
    return {"bpp": bpp, "psnr": -10 * math.log10(mse), "cost": mse + lmbda * bpp}


def exp_golomb_bits(q: torch.Tensor) -> int:
    """Bits of signed integers in the cheapest exp-Golomb order (0–10), zigzag-mapped:
    what a file would spend on them without an adaptive model."""
    u = torch.where(q > 0, 2 * q - 1, -2 * q).double()
    return int(min(float((2 * torch.floor(torch.log2(u + 2 ** k)) - k + 1).sum())
                   for k in range(11)))


def network_bits(decoder: Decoder, trained: dict[str, torch.Tensor], latents, image,
                 lmbda: float) -> dict:
    """The fitted networks as a file would carry them: per module (upsampling,
    synthesis, ARM), its differences from the trained networks rounded to a multiple
    of one power-of-two step, the step chosen by the cost MSE + λ·(latent bits +
    weight bits)/pixels, modules in turn; the differences coded with exp-Golomb. Also
    the same with no trained networks to start from (the weights themselves coded),
    as Cool-chic stores them. Leaves the decoder with the chosen quantized weights."""
    pixels = image.shape[2] * image.shape[3]
    fitted = {k: v.detach().clone() for k, v in decoder.state_dict().items()}
    out = {}
    bases = (("plain", None),) if trained is None else (("plain", None), ("differences", trained))
    for base_name, base in bases:
        decoder.load_state_dict(fitted)
        total_bits, steps = 0, {}
        for module in ("upsampling", "synthesis", "arm"):
            names = [k for k, _ in decoder.named_parameters() if k.startswith(module + ".")]
            best = None
            for k in range(2, 15):
                step = 2.0 ** -k
                state = decoder.state_dict()
                q_all = []
                for name in names:
                    ref = base[name] if base is not None and name in base else torch.zeros_like(fitted[name])
                    q = torch.round((fitted[name] - ref) / step)
                    state[name] = ref + q * step
                    q_all.append(q.flatten())
                decoder.load_state_dict(state)
                bits = exp_golomb_bits(torch.cat(q_all)) + 8        # + the step's exponent
                cost = evaluate(decoder, latents, image, lmbda)["cost"] + lmbda * bits / pixels
                if best is None or cost < best[0]:
                    best = (cost, k, bits, {n: state[n].clone() for n in names})
            state = decoder.state_dict()
            state.update(best[3])
            decoder.load_state_dict(state)
            total_bits += best[2]
            steps[module] = best[1]
        result = evaluate(decoder, latents, image, lmbda)
        out[base_name] = {"network_bits": total_bits, "network_bpp": total_bits / pixels,
                          "step_exponents": steps, "psnr": result["psnr"],
                          "cost": result["cost"] + lmbda * total_bits / pixels}
    return out


def measure(args) -> None:
    def random_decoder() -> Decoder:
        return Decoder(args.width, args.residual, args.arm_width, parent=args.parent_context,
                       arm=args.arm, preconcat=args.preconcat)

    torch.manual_seed(args.seed)
    if args.scratch:
        # Cool-chic's own situation: no trained networks, all fitted to the image
        args.adapt = True
        trained = {"width": args.width, "residual": args.residual, "arm_width": args.arm_width,
                   "arm": args.arm, "preconcat": args.preconcat, "parent_context": args.parent_context}
        state = {"step": 0}
        decoder = random_decoder()
    elif args.warmup:
        raise SystemExit("--warmup draws random networks: it goes with --scratch")
    else:
        state = torch.load(RUNS / args.name / "decoder.pt", weights_only=False, map_location="cpu")
        trained = state["args"]
        decoder = Decoder(trained["width"], trained["residual"], trained["arm_width"],
                          parent=args.parent_context or trained.get("parent_context", False),
                          arm=trained.get("arm", "wide"), preconcat=trained.get("preconcat", False))
        missing, unexpected = decoder.load_state_dict(state["decoder"], strict=False)
        if unexpected or any(not k.startswith("arm.parent.") for k in missing):
            raise SystemExit(f"{args.name}: its decoder does not match ({missing}, {unexpected})")
    decoder.to(args.device).requires_grad_(args.adapt)
    trained_weights = None if args.scratch else \
        {k: v.detach().clone() for k, v in decoder.state_dict().items()}
    path = Path(args.images) / f"{args.image}.png"
    image = load_rgb(path).to(args.device) / 255.0
    latents = [nn.Parameter(g) for g in pyramid(1, *image.shape[2:], args.device)]

    def optimizers(latent_betas: str = "0.9,0.999"):
        """Adam for the latents; for the networks (when fitted) Cool-chic 5.0's choices
        as the options give them: decoupled weight decay, β = (0.95, 0.95), SOAP."""
        lat = torch.optim.Adam(latents, lr=args.lr, betas=tuple(float(v) for v in latent_betas.split(",")))
        net = (EigenAdam if args.soap else torch.optim.AdamW)(
            decoder.parameters(), lr=args.net_lr, betas=tuple(float(v) for v in args.net_betas.split(",")),
            weight_decay=args.net_wd) if args.adapt else None
        return lat, net

    opt, nets = optimizers()
    pixels = image.shape[2] * image.shape[3]
    checkpoints = sorted({int(c) for c in args.every.split(",")} | {args.iterations})

    def cost(phase: str, t: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        out, bits = decoder([quantize(p, phase, t, sigma) for p in latents])
        if args.clamp:
            out = out.clamp(0.0, 1.0)
        return F.mse_loss(out, image) + args.lmbda * bits.sum() / pixels

    step_cost = torch.compile(cost) if args.compile else cost

    def one_step(phase: str, lr: float, t: float, sigma: float) -> None:
        for group in opt.param_groups:
            group["lr"] = lr
        if phase == "hard" and not nets:
            return                   # nothing left to fit: the latents are final
        loss = step_cost(phase, torch.tensor(t), torch.tensor(sigma))
        opt.zero_grad()
        loss.backward()
        if phase != "hard":
            opt.step()
        if nets:
            for group in nets.param_groups:
                group["lr"] = args.net_lr * lr / args.lr
            if args.clip:
                nn.utils.clip_grad_norm_(decoder.parameters(), args.clip)
            nets.step()
            nets.zero_grad()

    curve, began = [], time.perf_counter()
    warm, candidates = 0, None
    if args.warmup:
        # Cool-chic 5.0's warm-up: several random networks (latents from zero) fitted
        # briefly at the first phase's constant settings, the best two fitted as long
        # again, the best one kept; its iterations count against the total. Candidates
        # are loaded into the same modules so that the compiled step is reused.
        count, length = (int(v) for v in args.warmup.split(","))
        _, lr0, t0, sigma0 = schedule(0, args.iterations, args.lr, args.schedule)

        def load(state) -> None:
            decoder.load_state_dict(state[0])
            for p, v in zip(latents, state[1]):
                p.data.copy_(v)

        def fit(state, saved=None):
            nonlocal opt, nets
            load(state)
            opt, nets = optimizers(args.warmup_betas)
            if saved:
                opt.load_state_dict(saved[0])
                nets.load_state_dict(saved[1])
            for _ in range(length):
                one_step("soft", lr0, t0, sigma0)
            fitted = ({k: v.detach().clone() for k, v in decoder.state_dict().items()},
                      [p.detach().clone() for p in latents])
            return (evaluate(decoder, latents, image, args.lmbda)["cost"], fitted,
                    (opt.state_dict(), nets.state_dict()))

        zero = [torch.zeros_like(p) for p in latents]
        first = []
        for c in range(count):
            torch.manual_seed(args.seed + 1 + c)
            first.append(fit((random_decoder().to(args.device).state_dict(), zero)))
        second = [fit(c[1], c[2]) for c in sorted(first, key=lambda c: c[0])[:2]]
        best = min(second, key=lambda c: c[0])
        load(best[1])
        opt, nets = optimizers()
        warm = (count + 2) * length
        candidates = {"first": [round(c[0], 6) for c in first], "then": [round(c[0], 6) for c in second],
                      "s": round(time.perf_counter() - began, 1)}
        print({"warm-up": candidates}, flush=True)
    main_iterations = args.iterations - warm
    for j in range(main_iterations):
        i = warm + j
        one_step(*schedule(j, main_iterations, args.lr, args.schedule))
        if i + 1 in checkpoints:
            spent = time.perf_counter() - began
            row = {"iterations": i + 1, "s": round(spent, 1), **evaluate(decoder, latents, image, args.lmbda)}
            curve.append(row)
            print(row, flush=True)
            began += time.perf_counter() - began - spent        # evaluation not timed
    with_networks = network_bits(decoder, trained_weights, latents, image, args.lmbda) if args.adapt else None
    if with_networks:
        print("with the networks' bits:", with_networks, flush=True)
    result = {
        "command": "python benchmarks/amortized_synthesis.py " + " ".join(sys.argv[1:]),
        "network": "scratch" if args.scratch else args.name,
        "trained": {k: trained[k] for k in ("crops", "crop", "steps", "lmbda", "width", "residual", "arm_width",
                                            "arm", "preconcat") if k in trained},
        "variant": variant(args),
        "warmup_costs": candidates,
        "trained_steps": state["step"], "image": args.image, "lambda": args.lmbda,
        "iterations": args.iterations, "lr": args.lr, "adapt": args.adapt,
        "net_lr": args.net_lr if args.adapt else None,
        "compiled": args.compile, "schedule": args.schedule,
        "parent_context": getattr(decoder.arm, "parent", None) is not None,
        # an encoder keeps its best checkpoint, as Cool-chic does
        "best": min(curve, key=lambda row: row["cost"]),
        # the final state's cost with its networks quantized and their bits counted
        "with_networks": with_networks,
        "decoder_macs_per_pixel": round(decoder.macs_per_pixel()),
        "seconds_per_iteration": round(curve[-1]["s"] / args.iterations, 3),
        # after the first checkpoint: without torch.compile's warm-up
        "seconds_per_iteration_after_first": round(
            (curve[-1]["s"] - curve[0]["s"]) / max(curve[-1]["iterations"] - curve[0]["iterations"], 1), 3),
        "torch_threads": torch.get_num_threads(), "device": args.device,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "host": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.release()}",
        "curve": curve,
    }
    out = Path(args.out)
    rows = json.loads(out.read_text())["rows"] if out.exists() else []
    key = {"network": None, "image": None, "lambda": None, "iterations": None, "lr": None,
           "adapt": None, "schedule": "c3", "parent_context": False,
           "net_lr": None, "variant": ""}
    rows = [r for r in rows if any(r.get(k, d) != result[k] for k, d in key.items())] + [result]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"about": __doc__.split("\n\n")[0], "rows": rows}, indent=1) + "\n")


def variant(args) -> str:
    """What a measure row changes from the first experiment's settings ("" for none)."""
    parts = []
    if args.scratch:
        parts.append("scratch")
        if args.arm != "wide":
            parts.append(f"arm={args.arm}")
        if args.preconcat:
            parts.append("preconcat")
    if args.soap:
        parts.append("soap")
    if args.warmup:
        parts.append(f"warmup={args.warmup}")
        if args.warmup_betas != "0.9,0.999":
            parts.append(f"warmup-betas={args.warmup_betas}")
    if args.net_betas != "0.9,0.999":
        parts.append(f"betas={args.net_betas}")
    if args.net_wd:
        parts.append(f"wd={args.net_wd:g}")
    if args.clip:
        parts.append(f"clip={args.clip:g}")
    if args.clamp:
        parts.append("clamp")
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--name", default="hop-l0.004")
    t.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"))
    t.add_argument("--crops", type=int, default=16)
    t.add_argument("--crop", type=int, default=384)
    t.add_argument("--steps", type=int, default=1500)
    t.add_argument("--lmbda", type=float, default=0.004)
    t.add_argument("--lr", type=float, default=1e-2)
    t.add_argument("--net-lr", type=float, default=1e-3)
    t.add_argument("--width", type=int, default=48)
    t.add_argument("--residual", type=int, default=2)
    t.add_argument("--arm-width", type=int, default=24)
    t.add_argument("--parent-context", action="store_true",
                   help="the ARM also sees the coarser grid's 3×3 neighbourhood")
    t.add_argument("--arm", choices=("wide", "cc"), default="wide",
                   help="cc: Cool-chic 5.0's ARM shape (14 neighbours, inter-feature context)")
    t.add_argument("--preconcat", action="store_true", help="Cool-chic 5.0's pre-concatenation filters")
    t.add_argument("--checkpoint", type=int, default=50)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu, or cuda where a GPU is lent")
    t.add_argument("--minutes", type=float, default=0.0,
                   help="stop (checkpointed, resumable) after this much wall-clock time")
    c = sub.add_parser("crops")
    c.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"))
    c.add_argument("--out", default=str(RUNS / "crops"))
    c.add_argument("--count", type=int, default=336)
    c.add_argument("--size", type=int, default=256)
    c.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("measure")
    m.add_argument("--name", default="hop-l0.004")
    m.add_argument("--images", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    m.add_argument("--image", default="kodim14")
    m.add_argument("--lmbda", type=float, default=0.004)
    m.add_argument("--iterations", type=int, default=600)
    m.add_argument("--every", default="100,200,300,400,500")
    m.add_argument("--lr", type=float, default=1e-2)
    m.add_argument("--adapt", action="store_true",
                   help="fit the networks to the image too (their bits not counted): "
                        "what fitting them per image would add")
    m.add_argument("--net-lr", type=float, default=1e-3)
    m.add_argument("--compile", action="store_true", help="the step through torch.compile")
    m.add_argument("--schedule", choices=("c3", "cc5"), default="c3")
    m.add_argument("--out", default=str(OUT))
    m.add_argument("--parent-context", action="store_true",
                   help="add the coarser-grid context to the ARM, at zero (with --adapt it is fitted)")
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--device", default="cpu", help="cpu, or cuda (its timings are not this CPU's)")
    m.add_argument("--scratch", action="store_true",
                   help="no trained networks: all fitted to the image from a random start (implies --adapt)")
    m.add_argument("--width", type=int, default=48, help="with --scratch")
    m.add_argument("--residual", type=int, default=2, help="with --scratch")
    m.add_argument("--arm-width", type=int, default=24, help="with --scratch")
    m.add_argument("--arm", choices=("wide", "cc"), default="wide", help="with --scratch")
    m.add_argument("--preconcat", action="store_true", help="with --scratch")
    m.add_argument("--net-betas", default="0.9,0.999", help="Adam's β for the networks")
    m.add_argument("--net-wd", type=float, default=0.0, help="decoupled weight decay of the networks")
    m.add_argument("--warmup", default="",
                   help="N,K: Cool-chic 5.0's warm-up, N random starts K iterations each, the best "
                        "two K more (with --scratch; counted in --iterations)")
    m.add_argument("--warmup-betas", default="0.9,0.999",
                   help="Adam's β for the latents during the warm-up (Cool-chic 5.0: 0.725,0.97)")
    m.add_argument("--soap", action="store_true",
                   help="fit the networks with Adam in a Shampoo eigenbasis (SOAP), as Cool-chic 5.0 does")
    m.add_argument("--clip", type=float, default=0.0, help="clip the networks' gradient norm (0: no)")
    m.add_argument("--clamp", action="store_true", help="clamp the output to [0, 1] while fitting")
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("LATENTPRESS_THREADS", "2")))
    {"train": train, "measure": measure, "crops": cut_crops}[args.command](args)


if __name__ == "__main__":
    main()
