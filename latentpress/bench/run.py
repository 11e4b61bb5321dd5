"""Run codecs over their rate points on a folder of images, with a resumable cache.

Every (codec, params, image) is one job. A finished job is appended at once as one
JSON object per line to ``OUT/records.jsonl``; that file is both the result and the
cache: a rerun (or a run after a kill) skips every job whose key is already there.
The key hashes the codec's identity (name, payload version, library version or model
checksum), the parameters and the image's pixels, so changing any of them recomputes.

Record schema (docs/bench.md has the full description):
``codec, params, image, image_sha256, width, height, bytes, bpp, psnr, psnr_y,
ms_ssim, encode_s, decode_s, encode_peak_rss_mb, decode_peak_rss_mb, lossless,
library, identity, machine, key``. ``psnr``/``psnr_y`` are null when the decoded image
is identical to the original; ``ms_ssim`` is null for images too small for 5 scales.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from latentpress.bench.codecs import BenchCodec, bench_codec
from latentpress.bench.measure import measure
from latentpress.distributed import Executor, SerialExecutor
from latentpress.errors import ImageError, LatentpressError
from latentpress.image import load_image
from latentpress.metrics import ms_ssim, psnr, psnr_y

RECORDS = "records.jsonl"
ERRORS = "errors.jsonl"
META = "meta.json"
IMAGE_SUFFIXES = (".png", ".ppm", ".bmp", ".tif", ".tiff")


class BenchError(LatentpressError):
    """The bench cannot run as asked (no images, no codecs, unreadable output folder)."""


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python {platform.python_version()}"


@dataclass(frozen=True)
class Job:
    codec: str
    params_json: str
    image: str
    image_sha256: str
    identity: str

    @property
    def params(self) -> dict[str, Any]:
        return json.loads(self.params_json)

    @property
    def key(self) -> str:
        text = json.dumps([self.codec, self.identity, self.params_json, self.image_sha256, Path(self.image).name])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@functools.lru_cache(maxsize=4)
def _pixels(path: str) -> np.ndarray:
    return load_image(path)


def image_sha256(pixels: np.ndarray) -> str:
    digest = hashlib.sha256(repr(pixels.shape).encode())
    digest.update(np.ascontiguousarray(pixels).tobytes())
    return digest.hexdigest()


def _finite_or_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def run_job(job: Job) -> dict[str, Any]:
    """Encode, decode and measure one job (runs in a worker process)."""
    pixels = _pixels(job.image)
    codec = bench_codec(job.codec)
    params = job.params
    data, encoded = measure(lambda: codec.encode(pixels, params))
    decoded, decoded_m = measure(lambda: codec.decode(data))
    if decoded.shape != pixels.shape:
        raise BenchError(f"{job.codec} decoded shape {decoded.shape}, expected {pixels.shape}")
    height, width = pixels.shape[:2]
    small = min(height, width) <= 160
    return {
        "codec": job.codec, "params": params, "image": Path(job.image).name,
        "image_sha256": job.image_sha256, "width": width, "height": height,
        "bytes": len(data), "bpp": 8.0 * len(data) / (width * height),
        "psnr": _finite_or_none(psnr(pixels, decoded)), "psnr_y": _finite_or_none(psnr_y(pixels, decoded)),
        "ms_ssim": None if small else float(ms_ssim(pixels, decoded)),
        "encode_s": encoded.seconds, "decode_s": decoded_m.seconds,
        "encode_peak_rss_mb": round(encoded.peak_rss_mb, 1), "decode_peak_rss_mb": round(decoded_m.peak_rss_mb, 1),
        "lossless": bool(np.array_equal(pixels, decoded)),
        "library": codec.library(), "identity": job.identity, "machine": machine_description(),
        "key": job.key,
    }


class ResultStore:
    """records.jsonl: append-only, one JSON object per line, keyed by ``key``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / RECORDS
        self.records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._drop_partial_line()
            with open(self.path) as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue      # a line cut short by a kill; the job reruns
                    if isinstance(record, dict) and "key" in record:
                        self.records[record["key"]] = record

    def _drop_partial_line(self) -> None:
        """A kill mid-write leaves a last line without its newline; cut it off so the
        next append starts on a fresh line (the job it belonged to simply reruns)."""
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as handle:
                handle.truncate(data.rfind(b"\n") + 1)

    def add(self, record: dict[str, Any]) -> None:
        self.records[record["key"]] = record
        with open(self.path, "a") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def error(self, job: Job, exc: BaseException) -> None:
        with open(self.folder / ERRORS, "a") as handle:
            handle.write(json.dumps({"codec": job.codec, "params": job.params, "image": Path(job.image).name,
                                     "key": job.key, "error": f"{type(exc).__name__}: {exc}"}) + "\n")


@dataclass
class BenchSummary:
    total: int = 0
    cached: int = 0
    computed: int = 0
    failed: int = 0
    skipped_codecs: dict[str, str] = field(default_factory=dict)


def find_images(folder: str | Path) -> list[Path]:
    root = Path(folder)
    if not root.is_dir():
        raise BenchError(f"{folder}: not a folder of images")
    images = sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not images:
        raise BenchError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)})")
    return images


def plan(codecs: list[BenchCodec], images: list[Path],
         points: dict[str, list[dict[str, Any]]] | None = None) -> list[Job]:
    hashes = {}
    for path in images:
        try:
            hashes[path] = image_sha256(load_image(path))
        except ImageError as exc:
            raise BenchError(str(exc)) from None
    # Image-major within a codec: a run stopped halfway leaves complete curves of some
    # images rather than one rate point of every image.
    jobs = []
    for codec in codecs:
        identity = codec.identity()
        settings = [json.dumps(params, sort_keys=True) for params in (points or {}).get(codec.name) or codec.points]
        jobs += [Job(codec.name, params_json, str(path), hashes[path], identity)
                 for path in images for params_json in settings]
    return jobs


def run_bench(codec_names: list[str], images_folder: str | Path, out: str | Path,
              executor: Executor | None = None, points: dict[str, list[dict[str, Any]]] | None = None,
              progress: bool = True, log=lambda message: print(message, file=sys.stderr)) -> BenchSummary:
    executor = executor or SerialExecutor()
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    summary = BenchSummary()
    codecs = []
    for name in codec_names:
        codec = bench_codec(name)
        ok, why = codec.available()
        if ok:
            codecs.append(codec)
        else:
            summary.skipped_codecs[name] = why
            log(f"skipping {name}: not available on this machine ({why})")
    if not codecs:
        raise BenchError("none of the requested codecs is available")
    images = find_images(images_folder)
    jobs = plan(codecs, images, points)
    store = ResultStore(folder)
    todo = [job for job in jobs if job.key not in store.records]
    summary.total, summary.cached = len(jobs), len(jobs) - len(todo)
    _write_meta(folder, codecs, images, executor)
    started = time.monotonic()
    with tqdm(total=len(todo), unit="job", disable=not progress or not todo, desc="bench") as bar:
        for job, result in executor.map_unordered(run_job, todo):
            if isinstance(result, BaseException):
                summary.failed += 1
                store.error(job, result)
                log(f"failed: {job.codec} {job.params} on {Path(job.image).name}: {result}")
            else:
                summary.computed += 1
                store.add(result)
            bar.update(1)
            bar.set_postfix(done=summary.computed, failed=summary.failed)
    log(f"bench: {summary.total} jobs, {summary.cached} cached, {summary.computed} computed, "
        f"{summary.failed} failed in {time.monotonic() - started:.1f} s -> {folder / RECORDS}")
    return summary


def _write_meta(folder: Path, codecs: list[BenchCodec], images: list[Path], executor: Executor) -> None:
    path = folder / META
    meta = json.loads(path.read_text()) if path.exists() else {}
    meta.setdefault("codecs", {})
    for codec in codecs:
        meta["codecs"][codec.name] = {"library": codec.library(), "identity": codec.identity(),
                                      "lossless": codec.lossless, "family": codec.family}
    meta.update({"machine": machine_description(), "workers": executor.workers,
                 "images": sorted({*meta.get("images", []), *(p.name for p in images)}),
                 "command": " ".join(["latentpress"] + sys.argv[1:]) if sys.argv and "latentpress" in sys.argv[0] else meta.get("command", "")})
    path.write_text(json.dumps(meta, indent=2, sort_keys=True))
