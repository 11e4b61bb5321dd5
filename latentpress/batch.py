"""Batch compression of whole folders: ``latentpress batch IN OUT`` (and ``--decode``).

Every supported image under IN (recursively; PNG, JPEG, TIFF, BMP, WebP) becomes OUT/same
relative path with the suffix ``.lpx``; with ``decode=True`` every ``.lpx`` becomes a PNG.
The jobs run on an executor (distributed.py): a local process pool by default, or Ray.

Only this process touches files. It reads each input and hands its bytes to a worker,
which returns the output's bytes (so a Ray worker on another machine needs no shared
file system), then it writes the output atomically (a temporary file beside it, fsynced,
renamed): an output is complete or absent, whatever kills the batch. Each output records
what was asked for (the ``ENCP`` section: codec, its identity, every parameter's value),
so a rerun skips outputs that are already what this run would write and redoes the rest.
A failing image (unreadable, corrupt, a mode or size the codec refuses) is reported and
the batch goes on; inputs are never modified.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentpress import api, container
from latentpress.codecs.base import DEFAULT_CODEC, get_codec
from latentpress.container import DEFAULT_LIMITS, Limits
from latentpress.errors import LatentpressError, ParameterError
from latentpress.image import IMAGE_SUFFIXES, atomic_write, open_image_bytes

LPX = ".lpx"
# atomic_write's temporary files: ".<name>.<random>.tmp" beside the output.
_TEMPORARY = re.compile(r"^\..+\.(lpx|png)\.[A-Za-z0-9_]+\.tmp$")


class BatchError(LatentpressError):
    """A problem with the batch as a whole (folders, engine), not with one image."""


def request_record(codec: str, params: dict[str, Any]) -> bytes:
    """The ``ENCP`` bytes of an encode request: codec, its identity and every parameter's
    effective value (defaults included), as sorted JSON; raises ParameterError."""
    implementation = get_codec(codec)
    values = dataclasses.asdict(implementation.parse_params(params))
    return json.dumps({"codec": implementation.name, "identity": implementation.identity(), "params": values},
                      sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Job:
    source: str                 # path relative to the input folder (for messages)
    data: bytes                 # the input file's bytes
    codec: str
    params: dict[str, Any]
    decode: bool
    verify: bool
    max_pixels: int


def run_job(job: Job) -> dict[str, Any]:
    """One image (in a worker): the output's bytes and what was measured."""
    started = time.perf_counter()
    limits = Limits(max_pixels=job.max_pixels)
    if job.decode:
        image = api.decode_image(job.data, limits=limits)
        buffer = io.BytesIO()
        extra = {k: image.info[k] for k in ("icc_profile", "exif") if image.info.get(k)}
        image.save(buffer, format="PNG", **extra)
        return {"output": buffer.getvalue(), "width": image.width, "height": image.height,
                "seconds": time.perf_counter() - started}
    loaded = open_image_bytes(job.data, job.source, job.max_pixels)
    limits.check_pixels(loaded.pixels.shape[1], loaded.pixels.shape[0])
    implementation = get_codec(job.codec)
    payload = implementation.encode(loaded.pixels, implementation.parse_params(job.params))
    data = api.pack(implementation, loaded.pixels, payload, icc_profile=loaded.icc_profile, exif=loaded.exif,
                    limits=limits, request=request_record(job.codec, job.params))
    height, width = loaded.pixels.shape[:2]
    result = {"output": data, "width": width, "height": height, "bpp": 8.0 * len(data) / (width * height),
              "seconds": time.perf_counter() - started}
    if job.verify:
        from latentpress.metrics import psnr
        value = psnr(loaded.pixels, api.decode(data, limits=limits))
        result["psnr"] = value if np.isfinite(value) else None          # None: lossless
    return result


@dataclass
class Summary:
    images: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    input_bytes: int = 0
    output_bytes: int = 0
    bpp: list[float] = field(default_factory=list)
    psnr: list[float] = field(default_factory=list)
    lossless: int = 0
    seconds: float = 0.0
    entries: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"images": self.images, "done": self.done, "skipped": self.skipped, "failed": self.failed,
                "input_bytes": self.input_bytes, "output_bytes": self.output_bytes,
                "mean_bpp": float(np.mean(self.bpp)) if self.bpp else None,
                "mean_psnr": float(np.mean(self.psnr)) if self.psnr else None, "lossless": self.lossless,
                "seconds": round(self.seconds, 3), "entries": self.entries}

    def text(self) -> str:
        parts = [f"{self.images} image(s): {self.done} done, {self.skipped} skipped (up to date), {self.failed} failed",
                 f"{self.input_bytes:,} bytes in, {self.output_bytes:,} bytes out"]
        if self.bpp:
            parts.append(f"mean {np.mean(self.bpp):.4f} bpp")
        if self.psnr:
            parts.append(f"mean PSNR {np.mean(self.psnr):.2f} dB")
        if self.lossless:
            parts.append(f"{self.lossless} lossless")
        return "; ".join(parts) + f"; {self.seconds:.1f} s"


def _inputs(source: Path, out: Path, decode: bool) -> list[Path]:
    """The files to code, in a stable order: hidden files (ours are temporaries) and,
    when the output folder lies inside the input folder, everything in it are left out."""
    outputs = out.resolve()
    inside = outputs.is_relative_to(source.resolve())
    found = []
    for path in sorted(source.rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        if inside and path.resolve().is_relative_to(outputs):
            continue
        if (path.suffix.lower() == LPX) if decode else (path.suffix.lower() in IMAGE_SUFFIXES):
            found.append(path)
    return found


def _sweep_temporaries(out: Path) -> int:
    """Remove what an earlier batch killed mid-write may have left (atomic_write's temporaries)."""
    removed = 0
    if out.is_dir():
        for path in out.rglob(".*.tmp"):
            if _TEMPORARY.match(path.name) and path.is_file():
                path.unlink()
                removed += 1
    return removed


def _up_to_date(target: Path, request: bytes | None, limits: Limits) -> bool:
    """An existing output this run would write again: an .lpx that parses (every CRC) and
    records the same request; for decoding, a PNG Pillow reads."""
    if not target.is_file():
        return False
    try:
        if request is None:
            from PIL import Image
            with Image.open(target) as image:
                image.verify()
            return True
        if target.stat().st_size > limits.max_file_bytes:
            return False
        _, sections = container.read(target.read_bytes(), limits)
        return container.split_metadata(sections)[1].get("ENCP") == request
    except (LatentpressError, OSError, ValueError, SyntaxError):
        return False


def run_batch(source: str | os.PathLike, out: str | os.PathLike, codec: str | None = None,
              params: dict[str, Any] | None = None, *, decode: bool = False, executor=None,
              verify: bool = False, limits: Limits = DEFAULT_LIMITS, progress: bool = True,
              report: str | os.PathLike | None = None) -> Summary:
    """Encode (or decode) every image under ``source`` into ``out``; see the module doc."""
    from latentpress.distributed import LocalExecutor

    source, out = Path(source), Path(out)
    if not source.is_dir():
        raise BatchError(f"{source}: not a folder")
    if out.exists() and not out.is_dir():
        raise BatchError(f"{out}: exists and is not a folder")
    params = dict(params or {})
    codec = codec or DEFAULT_CODEC
    if decode and (params or verify):
        raise ParameterError("--decode takes no codec parameters and no --verify")
    request = None if decode else request_record(codec, params)      # checks the codec and parameters early
    executor = executor or LocalExecutor()
    started = time.perf_counter()
    paths = _inputs(source, out, decode)
    if not paths:
        kinds = "no .lpx files" if decode else f"no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        raise BatchError(f"{source}: {kinds} in it or below it")
    out.mkdir(parents=True, exist_ok=True)
    _sweep_temporaries(out)
    summary = Summary()
    summary.images = len(paths)
    targets: dict[Path, Path] = {}
    pending: list[tuple[Path, Path]] = []
    for path in paths:
        relative = path.relative_to(source)
        target = out / relative.with_suffix(".png" if decode else LPX)
        if target in targets:
            _fail(summary, relative, f"its output {target} is also the output of {targets[target].relative_to(source)}")
            continue
        targets[target] = path
        if _up_to_date(target, request, limits):
            summary.skipped += 1
            summary.entries.append({"input": str(relative), "output": str(target), "status": "skipped"})
            continue
        pending.append((path, target))

    def jobs() -> Iterator[Job]:
        for path, target in pending:
            try:
                size = path.stat().st_size
                if size > limits.max_file_bytes:
                    raise OSError(f"{size:,} bytes exceeds the {limits.max_file_bytes:,}-byte limit")
                data = path.read_bytes()
            except OSError as exc:
                _fail(summary, path.relative_to(source), f"cannot read: {exc.strerror or exc}")
                if bar is not None:
                    bar.update(1)
                continue
            summary.input_bytes += len(data)
            yield Job(str(path.relative_to(source)), data, codec, params, decode, verify, limits.max_pixels)

    by_source = {str(path.relative_to(source)): target for path, target in pending}
    bar = _progress(len(paths), summary, progress)
    installed = False
    try:
        if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _interrupt)      # a TERM ends the batch like ^C: no partial output
            installed = True
    except ValueError:                                     # not the main thread: leave signals alone
        pass
    try:
        for job, result in executor.map_unordered(run_job, jobs()):
            target = by_source[job.source]
            if isinstance(result, BaseException):
                _fail(summary, job.source, _message(result))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                with atomic_write(target) as handle:
                    handle.write(result["output"])
                _done(summary, job.source, target, result, time.perf_counter() - started)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(done=summary.done, failed=summary.failed, refresh=False)
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - started
        if report is not None:
            with atomic_write(report) as handle:
                handle.write(json.dumps(summary.as_dict(), indent=1).encode() + b"\n")
    return summary


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _message(exc: BaseException) -> str:
    if isinstance(exc, LatentpressError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"          # a bug or an environment problem; still one image


def _fail(summary: Summary, relative, message: str) -> None:
    summary.failed += 1
    summary.entries.append({"input": str(relative), "status": "failed", "error": message})


def _done(summary: Summary, relative: str, target: Path, result: dict[str, Any], finished: float) -> None:
    summary.done += 1
    summary.output_bytes += len(result["output"])
    entry = {"input": relative, "output": str(target), "status": "done", "bytes": len(result["output"]),
             "width": result["width"], "height": result["height"], "seconds": round(result["seconds"], 4),
             "finished_at": round(finished, 4)}
    if "bpp" in result:
        summary.bpp.append(result["bpp"])
        entry["bpp"] = result["bpp"]
    if "psnr" in result:
        entry["psnr"] = result["psnr"]
        if result["psnr"] is None:
            summary.lossless += 1
        else:
            summary.psnr.append(result["psnr"])
    summary.entries.append(entry)


def _progress(total: int, summary: Summary, enabled: bool):
    if not enabled:
        return None
    from tqdm import tqdm
    bar = tqdm(total=total, unit="image", dynamic_ncols=True)
    bar.update(summary.skipped + summary.failed)
    return bar
