"""How many wavefront steps an overfit decode takes, and how many a pipelined schedule
would take (a design estimate: nothing here changes the codec).

Payload version 6 decodes one level after another (arm.Plan.phases), each over a
wavefront of 32×128 tiles: the steps of the phases add up (907 for a 768×512 image).
A latent's inputs are its 12 causal neighbours in its tile and its parent's 3×3
neighbourhood one level coarser, so it could be decoded at the first step after all of
those: t = max(1 + t(neighbour), 1 + t(parent neighbourhood)). This computes that
earliest schedule for the real grid shapes and plan of a preset at an image size, with
the version-6 tiles and with tiles halved at each coarser level (which would change the
rate a little; the first keeps every context and so the rate). Writes
results/overfit/schedule-steps.json; takes seconds.

    python benchmarks/overfit_schedule_steps.py [--preset fast] [--sizes 768x512,512x768,2048x1536]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress.codecs.overfit import arm as arm_module  # noqa: E402
from latentpress.codecs.overfit.codec import levels_for  # noqa: E402
from latentpress.codecs.overfit.model import OverfitModel  # noqa: E402
from latentpress.codecs.overfit.presets import PRESETS  # noqa: E402


def tile_times(release: np.ndarray) -> np.ndarray:
    """Earliest steps in one tile, given each latent's release step (parents known):
    row by row, a latent follows the five above it in each of the two rows above (+1),
    then the row's own left neighbours, t(r, c) = c + running max of (a(c') − c')."""
    h, w = release.shape
    times = np.empty_like(release)
    cols = np.arange(w)
    for r in range(h):
        ready = release[r].copy()
        for dr in (1, 2):
            if r >= dr:
                above = np.pad(times[r - dr], 2, constant_values=-1)
                for dc in range(-2, 3):
                    np.maximum(ready, above[2 + dc:2 + dc + w] + 1, out=ready)
        times[r] = cols + np.maximum.accumulate(ready - cols)
    return times


def grid_times(release: np.ndarray, tile: tuple[int, int]) -> np.ndarray:
    times = np.empty_like(release)
    for r in range(0, release.shape[0], tile[0]):
        for c in range(0, release.shape[1], tile[1]):
            times[r:r + tile[0], c:c + tile[1]] = tile_times(release[r:r + tile[0], c:c + tile[1]])
    return times


def parent_release(parent_times: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """1 + the last step of a parent latent's 3×3 neighbourhood, under each position."""
    ph, pw = parent_times.shape
    padded = np.pad(parent_times, 1, constant_values=-1)
    box = np.max([padded[dr:dr + ph, dc:dc + pw] for dr in range(3) for dc in range(3)], axis=0)
    rows = np.minimum(np.arange(shape[0]) // stride, ph - 1)[:, None]
    cols = np.minimum(np.arange(shape[1]) // stride, pw - 1)[None, :]
    return box[rows, cols] + 1


def steps(preset: str, width: int, height: int) -> dict:
    arch = levels_for(PRESETS[preset].architecture, height, width)
    model = OverfitModel(arch, height, width, 3)
    tile = arm_module.SMALL_TILE                       # payload version 5 on (codec._integer_arm)
    shapes, plan = model.grid_shapes(), dataclasses.replace(model.plan, tile=tile)
    phased = sum(int(phase.bounds.size - 1) for phase in (
        arm_module._Phase(plan, p, shapes, [None] * len(shapes)) for p in plan.phases))
    # The phases' order is coarse to fine; a tile shape per phase for the second variant.
    halved = [tile] * len(plan.phases)
    for index in range(len(plan.phases) - 2, 0, -1):
        halved[index] = (max(8, halved[index + 1][0] // 2), max(32, halved[index + 1][1] // 2))
    def pipelined(tiles: list[tuple[int, int]]) -> int:
        times: dict[int, np.ndarray] = {}
        for phase, phase_tile in zip(plan.phases, tiles):
            for g in phase:
                link = plan.parents[g] if plan.parents is not None else None
                release = (np.zeros(shapes[g], np.int64) if link is None
                           else parent_release(times[link[0]], link[1], shapes[g]))
                times[g] = grid_times(release, phase_tile)
        return int(max(t.max(initial=-1) for t in times.values()) + 1)

    return {"grids": len(shapes), "phased steps (version 6)": phased,
            "pipelined, version-6 tiles": pipelined([tile] * len(plan.phases)),
            "pipelined, tiles halved per coarser level": pipelined(halved),
            "halved tiles, coarse to fine": [list(t) for t in halved]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--sizes", default="768x512,512x768,2048x1536")
    args = parser.parse_args()
    results = {}
    for size in args.sizes.split(","):
        width, height = map(int, size.split("x"))
        results[size] = steps(args.preset, width, height)
        print(size, results[size], flush=True)
    out = ROOT / "results" / "overfit" / "schedule-steps.json"
    out.write_text(json.dumps({"command": "python benchmarks/overfit_schedule_steps.py " + " ".join(sys.argv[1:]),
                               "preset": args.preset, "sizes": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
