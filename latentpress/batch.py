"""Batch compression of whole folders: ``latentpress batch IN OUT`` (and ``--decode``).

Every supported image under IN (recursively; PNG, JPEG, TIFF, BMP, WebP) becomes OUT/same
relative path with the suffix ``.lpx``; with ``decode=True`` every ``.lpx`` becomes a PNG.
The jobs run on an executor (distributed.py): a local process pool by default, or Ray.

Only this process touches files. It reads each input and hands its bytes to a worker,
which returns the output's bytes (so a Ray worker on another machine needs no shared
file system), then it writes the output atomically (a temporary file beside it, fsynced,
renamed): an output is complete or absent, whatever kills the batch. Each output records
what was asked for and from what: an ``.lpx`` in its ``ENCP`` section (codec, its
identity, every parameter's value, the input's SHA-256), a decoded PNG in a text chunk
(the ``.lpx``'s SHA-256). A rerun skips outputs that are already what it would write and
redoes the rest (missing, damaged, made from another input or with other parameters).
A failing image (unreadable, corrupt, a mode or size the codec refuses, a worker that
died, an output that cannot be written) is reported and the batch goes on; inputs are
never modified. Hidden files and folders (names starting with ".") are not inputs.

The workers run code the driver sends them (pickled jobs): a Ray cluster must be as
trusted as the machine running the batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
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
from latentpress.bench.identity import identity
from latentpress.codecs.base import DEFAULT_CODEC, get_codec
from latentpress.container import DEFAULT_LIMITS, Limits
from latentpress.errors import LatentpressError, ParameterError
from latentpress.image import IMAGE_SUFFIXES, atomic_write, open_image_bytes

LPX = ".lpx"
# atomic_write's temporary files: ".<name>.<random>.tmp" beside the output.
_TEMPORARY = re.compile(r"^\..+\.(lpx|png)\.[A-Za-z0-9_]+\.tmp$")


class BatchError(LatentpressError):
    """A problem with the batch as a whole (folders, engine), not with one image."""


PNG_SOURCE_KEY = "latentpress-source-sha256"   # the text chunk of a decoded PNG
STALE_TEMPORARY_S = 600                        # older temporaries are an earlier batch's leftovers


def request_record(codec: str, params: dict[str, Any], source: bytes | None = None) -> bytes:
    """The ``ENCP`` bytes of an encode request: codec, its identity, every parameter's
    effective value (defaults included) and the SHA-256 of ``source`` (the input file),
    as sorted JSON; raises ParameterError."""
    implementation = get_codec(codec)
    values = dataclasses.asdict(implementation.parse_params(params))
    record = {"codec": implementation.name, "identity": identity(implementation.name), "params": values}
    if source is not None:
        record["input_sha256"] = hashlib.sha256(source).hexdigest()
    return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Job:
    source: str                 # path relative to the input folder (for messages)
    data: bytes                 # the input file's bytes
    codec: str
    params: dict[str, Any]
    decode: bool
    verify: bool
    limits: Limits


def run_job(job: Job) -> dict[str, Any]:
    """One image (in a worker): the output's bytes and what was measured."""
    from PIL import PngImagePlugin

    started = time.perf_counter()
    limits = job.limits
    if job.decode:
        image = api.decode_image(job.data, limits=limits)
        buffer = io.BytesIO()
        extra = {k: image.info[k] for k in ("icc_profile", "exif") if image.info.get(k)}
        text = PngImagePlugin.PngInfo()
        text.add_text(PNG_SOURCE_KEY, hashlib.sha256(job.data).hexdigest())
        image.save(buffer, format="PNG", pnginfo=text, **extra)
        return {"output": buffer.getvalue(), "width": image.width, "height": image.height,
                "seconds": time.perf_counter() - started}
    loaded = open_image_bytes(job.data, job.source, limits.max_pixels)
    limits.check_pixels(loaded.pixels.shape[1], loaded.pixels.shape[0])
    implementation = get_codec(job.codec)
    payload = implementation.encode(loaded.pixels, implementation.parse_params(job.params))
    data = api.pack(implementation, loaded.pixels, payload, icc_profile=loaded.icc_profile, exif=loaded.exif,
                    limits=limits, request=request_record(job.codec, job.params, job.data))
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
    report_error: str | None = None
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
    inside = outputs != source.resolve() and outputs.is_relative_to(source.resolve())
    found = []
    for path in sorted(source.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(source).parts) or not path.is_file():
            continue
        if inside and path.resolve().is_relative_to(outputs):
            continue
        if (path.suffix.lower() == LPX) if decode else (path.suffix.lower() in IMAGE_SUFFIXES):
            found.append(path)
    return found


def _sweep_temporaries(out: Path, source: Path) -> int:
    """Remove what an earlier batch killed mid-write left: atomic_write's temporaries
    under ``out`` older than STALE_TEMPORARY_S (younger ones may belong to a writer still
    at work), never inside the input folder."""
    removed = 0
    if out.is_dir():
        now = time.time()
        for path in out.rglob(".*.tmp"):
            try:
                if (_TEMPORARY.match(path.name) and path.is_file() and not path.resolve().is_relative_to(source.resolve())
                        and now - path.stat().st_mtime > STALE_TEMPORARY_S):
                    path.unlink()
                    removed += 1
            except OSError:
                continue
    return removed


def _read_bounded(path: Path, limit: int) -> bytes:
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"more than {limit:,} bytes (the file size limit)")
    return data


def _up_to_date(target: Path, source: Path, request: bytes | None, codec: str, params: dict[str, Any],
                limits: Limits) -> bool:
    """An existing output this run would write again: an .lpx that parses (every CRC) and
    records this request and this input; for decoding, a PNG that records this .lpx."""
    if not target.is_file():
        return False
    try:
        data = _read_bounded(source, limits.max_file_bytes)
        if request is None:
            from PIL import Image
            with Image.open(target) as image:
                recorded = image.text.get(PNG_SOURCE_KEY) if hasattr(image, "text") else None
            return recorded == hashlib.sha256(data).hexdigest()
        if target.stat().st_size > limits.max_file_bytes:
            return False
        _, sections = container.read(_read_bounded(target, limits.max_file_bytes), limits)
        return container.split_metadata(sections)[1].get("ENCP") == request_record(codec, params, data)
    except Exception:        # noqa: BLE001 — anything wrong with the old output: write it again
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
    if report is not None and not Path(report).resolve().parent.is_dir():
        raise BatchError(f"{report}: its folder does not exist")
    executor = executor or LocalExecutor()
    started = time.perf_counter()
    paths = _inputs(source, out, decode)
    if not paths:
        kinds = "no .lpx files" if decode else f"no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
        raise BatchError(f"{source}: {kinds} in it or below it")
    out.mkdir(parents=True, exist_ok=True)
    _sweep_temporaries(out, source)
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
        if _up_to_date(target, path, request, codec, params, limits):
            summary.skipped += 1
            summary.entries.append({"input": str(relative), "output": str(target), "status": "skipped"})
            continue
        pending.append((path, target))

    def jobs() -> Iterator[Job]:
        for path, target in pending:
            try:
                data = _read_bounded(path, limits.max_file_bytes)
            except OSError as exc:
                _fail(summary, path.relative_to(source), f"cannot read: {exc.strerror or exc}")
                if bar is not None:
                    bar.update(1)
                continue
            summary.input_bytes += len(data)
            yield Job(str(path.relative_to(source)), data, codec, params, decode, verify, limits)

    by_source = {str(path.relative_to(source)): target for path, target in pending}
    bar = _progress(len(paths), summary, progress)
    previous = None
    try:                                                   # a TERM ends the batch like ^C: no partial output
        previous = signal.signal(signal.SIGTERM, _interrupt)   # (also over Ray's own handler)
    except ValueError:                                     # not the main thread: leave signals alone
        pass
    try:
        with contextlib.closing(executor.map_unordered(run_job, jobs())) as results:
            for job, result in results:
                target = by_source[job.source]
                if isinstance(result, BaseException):
                    _fail(summary, job.source, _message(result))
                else:
                    try:
                        target.parent.mkdir(parents=True, exist_ok=True)
                        with atomic_write(target) as handle:
                            handle.write(result["output"])
                    except OSError as exc:
                        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EDQUOT):
                            raise                          # every later image would fail the same way
                        _fail(summary, job.source, f"cannot write {target}: {exc.strerror or exc}")
                    else:
                        _done(summary, job.source, target, result, time.perf_counter() - started)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(done=summary.done, failed=summary.failed, refresh=False)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - started
        if report is not None:
            try:
                with atomic_write(report) as handle:
                    handle.write(json.dumps(summary.as_dict(), indent=1).encode() + b"\n")
            except OSError as exc:                        # never hide why the batch ended
                summary.report_error = f"cannot write the report {report}: {exc.strerror or exc}"
    return summary


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _message(exc: BaseException) -> str:
    if isinstance(exc, LatentpressError):
        return str(exc)
    if isinstance(exc, (OSError, MemoryError)):     # the environment; still one image
        return f"{type(exc).__name__}: {exc}"
    return f"internal error (a bug in latentpress, not in this input): {type(exc).__name__}: {exc}"


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
