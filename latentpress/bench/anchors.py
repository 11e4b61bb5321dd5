"""Published results (other projects' Kodak curves) read from an anchors folder.

The folder (``results/anchors/`` in the repository) holds the files as published and an
``anchors.json`` of ours: for each file its label, description and source, and the
images the published curves are over (file name → SHA-256 of the decoded pixels, as the
bench's ``image_sha256``). Two forms are read:

- ``compressai-json``: CompressAI's result files, one point per rate already averaged
  over the images: ``results.bpp``, ``results["psnr-rgb"]`` and, where present,
  ``results["ms-ssim-rgb"]``;
- ``coolchic-tsv``: Cool-chic's per-image tables (``seq_name``, ``lmbda``, ``rate_bpp``,
  ``psnr_db``; columns found by name): the curve is the mean bpp and PSNR over the images
  at each λ, and each image's own curve is kept for per-image BD-rates.

None of this is measured here; the report says so beside every number it derives.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from latentpress.bench.run import BenchError

MANIFEST = "anchors.json"


@dataclass
class Published:
    key: str
    label: str
    what: str
    source: str
    url: str
    file: str
    # quality ("psnr" or "ms_ssim_db") → [(bpp, quality)], sorted by rate
    curves: dict[str, list[tuple[float, float]]]
    # image file name → [(bpp, psnr)]: per-image curves, where published
    per_image: dict[str, list[tuple[float, float]]] = field(default_factory=dict)


def _ms_ssim_db(value: float) -> float:
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def _compressai(path: Path) -> tuple[dict[str, list[tuple[float, float]]], dict]:
    results = json.loads(path.read_text())["results"]
    rates = [float(v) for v in results["bpp"]]
    curves = {"psnr": sorted(zip(rates, (float(v) for v in results["psnr-rgb"])))}
    if "ms-ssim-rgb" in results:
        curves["ms_ssim_db"] = sorted(zip(rates, (_ms_ssim_db(float(v)) for v in results["ms-ssim-rgb"])))
    return curves, {}


def _coolchic(path: Path) -> tuple[dict[str, list[tuple[float, float]]], dict[str, list[tuple[float, float]]]]:
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    by_lambda: dict[str, list[tuple[float, float]]] = {}
    per_image: dict[str, list[tuple[float, float]]] = {}
    for row in rows:
        point = (float(row["rate_bpp"]), float(row["psnr_db"]))
        by_lambda.setdefault(row["lmbda"], []).append(point)
        per_image.setdefault(f"{row['seq_name']}.png", []).append(point)
    counts = {len(points) for points in by_lambda.values()}
    if len(counts) != 1:
        raise BenchError(f"{path}: not every λ has the same images; no average curve")
    curve = sorted((sum(r for r, _ in pts) / len(pts), sum(q for _, q in pts) / len(pts))
                   for pts in by_lambda.values())
    return {"psnr": curve}, {image: sorted(points) for image, points in sorted(per_image.items())}


_READERS = {"compressai-json": _compressai, "coolchic-tsv": _coolchic}


def load_published(folder: str | Path) -> tuple[list[Published], dict[str, str]]:
    """The anchors of ``folder`` in the manifest's order, and the images they are over."""
    folder = Path(folder)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        raise BenchError(f"{folder}: no {MANIFEST} (the list of published results and their sources)")
    manifest = json.loads(manifest_path.read_text())
    anchors = []
    for entry in manifest["anchors"]:
        if entry["kind"] not in _READERS:
            raise BenchError(f"{manifest_path}: unknown kind {entry['kind']!r} for {entry['file']}")
        curves, per_image = _READERS[entry["kind"]](folder / entry["file"])
        anchors.append(Published(entry["key"], entry["label"], entry["what"], entry["source"], entry["url"],
                                 entry["file"], curves, per_image))
    return anchors, dict(manifest["images"])


def applies(images: dict[str, str], measured: dict[str, set[str]]) -> str | None:
    """None when the measured images (name → the SHA-256s seen in the records) are
    exactly the anchors' images; else the reason they are not."""
    if set(measured) != set(images):
        return (f"the report's {len(measured)} images are not the {len(images)} images the published "
                f"curves are over")
    differing = sorted(name for name, hashes in measured.items() if hashes != {images[name]})
    if differing:
        return f"{differing[0]} differs from the image the published curves used (pixel SHA-256)"
    return None
