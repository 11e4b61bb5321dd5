"""A generic resumable training loop: Adam, progress bar, loss log, safetensors checkpoints.

Checkpoints hold the model and the optimizer state as plain tensors (safetensors, no
pickle) plus the step in the metadata; a run restarted with the same output folder
continues where the last checkpoint left off. Each step's batch is a pure function of
(seed, step), so an interrupted and resumed run trains on the same data.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from tqdm import tqdm

CHECKPOINT = "checkpoint.safetensors"
LOG = "log.jsonl"


@dataclass
class TrainConfig:
    steps: int
    learning_rate: float = 1e-4
    seed: int = 0
    checkpoint_every: int = 200
    log_every: int = 20
    # Learning rate is divided by 10 for the last `decay_fraction` of the steps, or from
    # step `decay_at` when that is set.
    decay_fraction: float = 0.15
    decay_at: int = 0
    threads: int = 0  # 0: torch's default
    # Stop after this step (0: run to `steps`), leaving a checkpoint to resume from; the
    # schedule still counts `steps`, so a run may change its learning rate part-way.
    stop_after: int = 0
    # Wall-clock limit in seconds (0: none). The step count is fixed once, from the speed
    # of the first CALIBRATION steps (their first quarter left out as warm-up), so that
    # the schedule still ends with its decay; config.json records the count chosen
    # (rerun with --steps N to reproduce it).
    time_budget: float = 0.0
    device: str = "cpu"


CALIBRATION = 200


StepFn = Callable[[int], tuple[torch.Tensor, dict[str, float]]]


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    tensors = {}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().clone()
    return tensors


def _restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    state_dict = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("optimizer."):
            _, index, key = name.split(".", 2)
            state.setdefault(int(index), {})[key] = value
    state_dict["state"] = state
    optimizer.load_state_dict(state_dict)


def write_checkpoint(path: Path, parts: dict[str, torch.nn.Module | torch.optim.Optimizer],
                     metadata: dict[str, str]) -> None:
    """Save modules and optimizers under their prefixes (``model.``, ``optimizer.``; a run
    with several of each names them), atomically."""
    tensors = {}
    for prefix, part in parts.items():
        if isinstance(part, torch.optim.Optimizer):
            items = {k.removeprefix("optimizer."): v for k, v in _optimizer_tensors(part).items()}
        else:
            items = part.state_dict()
        tensors.update({f"{prefix}{k}": v.detach().cpu().contiguous() for k, v in items.items()})
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    os.replace(tmp, path)


def read_checkpoint(path: Path, parts: dict[str, torch.nn.Module | torch.optim.Optimizer]) -> dict[str, str]:
    """Load what write_checkpoint saved into the same parts; returns the metadata."""
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata()
    tensors = load_file(str(path))
    for prefix, part in parts.items():
        own = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        if isinstance(part, torch.optim.Optimizer):
            # (an older layout nests an "optimizer." inside the prefix: both are read)
            _restore_optimizer(part, {f"optimizer.{k.removeprefix('optimizer.')}": v for k, v in own.items()})
        else:
            part.load_state_dict(own)
    return metadata


def save_checkpoint(path: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer, step: int,
                    total: int | None = None) -> None:
    metadata = {"step": str(step)} if total is None else {"step": str(step), "steps": str(total)}
    write_checkpoint(path, {"model.": model, "optimizer.": optimizer}, metadata)


def _log_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None                       # a line cut short by a kill


def truncate_log(path: Path, start: int) -> None:
    """A run killed between checkpoints logged steps it will now redo (and perhaps half a
    line): keep only the lines up to the checkpoint's step."""
    if path.exists():
        lines = path.read_text().splitlines(keepends=True)
        kept = [line for line in lines if (_log_step(line) or start + 1) <= start]
        if len(kept) != len(lines):
            path.write_text("".join(kept))


def export_checkpoint(model: torch.nn.Module, run: str | Path, path: str, metadata: dict[str, str]) -> str:
    """The run's checkpointed model as shipped weights (float16 safetensors); returns the SHA-256."""
    from latentpress.weights import export_weights

    model.cpu()
    read_checkpoint(Path(run) / CHECKPOINT, {"model.": model})
    return export_weights(model, path, metadata)


def _schedule(config: TrainConfig) -> tuple[int, int]:
    """(the first step at a tenth of the learning rate, the step to stop at)"""
    decay_at = config.decay_at or math.floor(config.steps * (1 - config.decay_fraction))
    return decay_at, (min(config.steps, config.stop_after) if config.stop_after else config.steps)


def train(model: torch.nn.Module, step_fn: StepFn, config: TrainConfig, out_dir: str | Path) -> int:
    """Run (or resume) training; returns the number of steps completed."""
    if not 0 <= config.decay_at <= config.steps:
        raise ValueError(f"decay_at must be between 0 (unset) and steps ({config.steps}), got {config.decay_at}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config.threads:
        torch.set_num_threads(config.threads)
    # GDN drives some activations towards zero; denormal floats would slow CPU training
    # several-fold without changing the result measurably.
    torch.set_flush_denormal(True)
    model.to(config.device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    start = 0
    calibrate = bool(config.time_budget)
    checkpoint = out / CHECKPOINT
    if checkpoint.exists():
        metadata = read_checkpoint(checkpoint, {"model.": model, "optimizer.": optimizer})
        start = int(metadata["step"])
        if config.time_budget and "steps" in metadata:
            # The budget fixed the step count in an earlier part of this run: keep it.
            config, calibrate = replace(config, steps=int(metadata["steps"])), False
    log_path = out / LOG
    truncate_log(log_path, start)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
    decay_at, end = _schedule(config)
    model.train()
    with open(log_path, "a") as log, tqdm(total=config.steps, initial=start, unit="step") as bar:
        running: dict[str, float] = {}
        counted = 0
        started = warmed = time.monotonic()

        def write_log(step: int, lr: float) -> None:
            nonlocal running, counted
            means = {k: v / counted for k, v in running.items()}
            running, counted = {}, 0
            bar.set_postfix({k: f"{v:.4g}" for k, v in means.items()})
            log.write(json.dumps({"step": step, "lr": lr, "seconds": round(time.monotonic() - started, 1), **means}) + "\n")
            log.flush()

        for step in itertools.count(start):
            if step >= end:
                break
            lr = config.learning_rate * (0.1 if step >= decay_at else 1.0)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss, metrics = step_fn(step)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            for key, value in metrics.items():
                running[key] = running.get(key, 0.0) + value
            counted += 1
            bar.update(1)
            if step + 1 == start + CALIBRATION // 4:
                warmed = time.monotonic()           # the first steps (allocations, kernels) are slow
            if calibrate and step + 1 == start + CALIBRATION:
                elapsed = time.monotonic() - started
                rate = (CALIBRATION - CALIBRATION // 4) / max(time.monotonic() - warmed, 1e-9)
                fits = step + 1 + int(rate * (config.time_budget - elapsed) * 0.97)
                if fits < config.steps:
                    config = replace(config, steps=max(step + 1, fits))
                    if config.decay_at > config.steps:
                        config = replace(config, decay_at=0)
                    decay_at, end = _schedule(config)
                    bar.total = config.steps
                    (out / "config.json").write_text(json.dumps(asdict(config), indent=2))
            if (step + 1) % config.log_every == 0 or (step + 1 == end and counted):
                write_log(step + 1, lr)
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == end:
                save_checkpoint(checkpoint, model, optimizer, step + 1,
                                config.steps if config.time_budget else None)
    return max(start, end)
