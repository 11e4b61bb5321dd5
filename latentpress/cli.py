"""The ``latentpress`` command line, in the style of cwebp/cjxl: ``latentpress encode in out -q 60``.

Thin: it parses arguments, calls the public API and prints. Every error the library
raises on bad input becomes one line on stderr and exit status 1; usage errors exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Sequence

import numpy as np

import latentpress
from latentpress import api, progress
from latentpress.codecs.base import DEFAULT_CODEC, available, get_codec
from latentpress.container import DEFAULT_LIMITS, MAGIC, Limits
from latentpress.errors import LatentpressError, LimitError
from latentpress.image import (
    IMAGE_FILE_SUFFIXES,
    atomic_write,
    check_output_format,
    image_bytes,
    open_image,
    open_image_bytes,
    output_format,
)

EXIT_ERROR = 1
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130


class CliError(LatentpressError):
    """A problem with the command's arguments or files (not with image data)."""


def _limits(args: argparse.Namespace) -> Limits:
    chosen = {}
    in_mib = ("max_decode_memory", "max_section_bytes", "max_file_bytes")
    for option, flag in (("max_pixels", "--max-pixels"), ("max_macs_per_pixel", "--max-macs-per-pixel"),
                         ("max_decode_memory", "--max-decode-memory"), ("max_section_bytes", "--max-section-size"),
                         ("max_file_bytes", "--max-file-size")):
        value = getattr(args, option, None)
        if value is not None:
            if value < 1:
                raise CliError(f"{flag} must be positive")
            chosen[option] = value << 20 if option in in_mib else value
    return Limits(**chosen) if chosen else DEFAULT_LIMITS


STDIO = "-"
_STARTED = time.perf_counter()


def _check_input(path: str, limits: Limits) -> Path:
    file = Path(path)
    if not file.exists():
        raise CliError(f"{path}: no such file")
    if file.is_dir():
        raise CliError(f"{path}: is a directory")
    if not file.is_file():
        # FIFOs, devices and the like have no size to check and may never end.
        raise CliError(f"{path}: not a regular file (use - to read standard input)")
    size = file.stat().st_size
    if size > limits.max_file_bytes:
        raise LimitError(f"{path}: {size:,} bytes exceeds the {limits.max_file_bytes:,}-byte limit")
    return file


def _read_input(path: str, limits: Limits) -> bytes:
    """The bytes of a file, or of standard input for ``-``, within limits.max_file_bytes."""
    if path == STDIO:
        if sys.stdin.isatty():
            raise CliError("-: standard input is a terminal; pipe a file into it")
        data = sys.stdin.buffer.read(limits.max_file_bytes + 1)
    else:
        file = _check_input(path, limits)
        try:
            with open(file, "rb") as handle:
                data = handle.read(limits.max_file_bytes + 1)   # the file may have grown since stat
        except OSError as exc:
            raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.max_file_bytes:
        raise LimitError(f"{_display_name(path, full=True)}: more than {limits.max_file_bytes:,} bytes")
    return data


def _check_output(source: str, target: str, force: bool) -> None:
    if target == STDIO:
        if sys.stdout is None:
            raise CliError("-: standard output is closed")
        if sys.stdout.isatty():
            raise CliError("-: standard output is a terminal; redirect it to a file or a pipe")
        return
    out = Path(target)
    if out.is_dir():
        raise CliError(f"{target}: is a directory")
    if out.exists() and source != STDIO and Path(source).exists() and out.resolve() == Path(source).resolve():
        raise CliError(f"{target}: output would overwrite the input")
    if (out.exists() or out.is_symlink()) and not force:
        raise CliError(f"{target}: exists (use --force to overwrite)")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise CliError(f"{target}: folder {parent} does not exist")


def _write_output(target: str, data: bytes, force: bool) -> None:
    if target == STDIO:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with atomic_write(target, overwrite=force) as handle:
        handle.write(data)


def _display_name(path: str, full: bool = False) -> str:
    if path == STDIO:
        return "standard input"
    return path if full else Path(path).name


def _named(path: str, call):
    """call(), with the file's name in front of any latentpress error it raises."""
    try:
        return call()
    except LatentpressError as exc:
        name = "standard input" if path == STDIO else path
        if str(exc).startswith(name):
            raise
        raise type(exc)(f"{name}: {exc}") from None


def _codec_params(args: argparse.Namespace) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in args.param or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"-p expects KEY=VALUE, got {item!r}")
        params[key.strip()] = value.strip()
    for option, key in (("quality", "quality"), ("preset", "preset"), ("iterations", "iterations"),
                        ("time_budget", "time_budget"), ("lmbda", "lmbda")):
        if getattr(args, option, None) is not None:
            if key in params:
                raise CliError(f"{key} given twice (as an option and as -p {key}=...): give it once")
            params[key] = getattr(args, option)
    if "lmbda" in params and "quality" in params:
        raise CliError("--lambda sets overfit's rate weight directly, instead of -q: give one or the other")
    return params


def _summary(nbytes: int, width: int, height: int, quality: float | None, seconds: float) -> str:
    bpp = 8.0 * nbytes / (width * height)
    text = f"{nbytes:,} bytes, {width}x{height}, {bpp:.4f} bpp"
    if quality is not None:
        text += f", PSNR {quality:.2f} dB" if np.isfinite(quality) else ", lossless"
    return text + f", encoded in {seconds:.2f} s ({time.perf_counter() - _STARTED:.2f} s since the command started)"


def cmd_encode(args: argparse.Namespace) -> None:
    limits = _limits(args)
    codec = args.codec
    if getattr(args, "lossless", False):
        if codec is None:
            codec = "lossless"
        elif not get_codec(codec).lossless:
            raise CliError(f"--lossless: codec {codec!r} is lossy (lossless codecs: "
                           f"{', '.join(c.name for c in api.codecs() if c.lossless)})")
    implementation = get_codec(codec or DEFAULT_CODEC)
    params = _codec_params(args)
    implementation.parse_params(params)               # bad parameters fail before any work
    data_in = _read_input(args.input, limits) if args.input == STDIO else None
    if data_in is None:
        with open(_check_input(args.input, limits), "rb") as handle:
            head = handle.read(len(MAGIC))
    else:
        head = data_in[:len(MAGIC)]
    if head == MAGIC:
        raise CliError(f"{_display_name(args.input, full=True)}: is already an .lpx file; decode it first if you "
                       "really mean to re-encode it (that loses quality twice)")
    if args.output != STDIO:
        out = Path(args.output)
        if out.exists() and args.input != STDIO and out.resolve() == Path(args.input).resolve():
            raise CliError(f"{args.output}: output would overwrite the input")
        if out.suffix.lower() in IMAGE_FILE_SUFFIXES:
            raise CliError(f"{args.output}: encode writes an .lpx file, not a {out.suffix} image: "
                           f"name the output .lpx (latentpress decode writes images)")
    _check_output(args.input, args.output, args.force)
    source = open_image_bytes(data_in, "standard input", max_pixels=limits.max_pixels) if data_in is not None \
        else open_image(args.input, max_pixels=limits.max_pixels)
    started = time.perf_counter()
    with progress.task(f"encoding {_display_name(args.input)} with {implementation.name}"):
        data = api.encode(source.pixels, implementation.name, icc_profile=source.icc_profile, exif=source.exif,
                          limits=limits, **params)
    seconds = time.perf_counter() - started
    _write_output(args.output, data, args.force)
    quality = None
    if not args.no_psnr:
        from latentpress.metrics import psnr

        with progress.task("decoding again to measure the PSNR"):
            quality = psnr(source.pixels, api.decode(data, limits=limits))
    height, width = source.pixels.shape[:2]
    if not args.quiet:
        name = "standard output" if args.output == STDIO else args.output
        print(f"{name}: {_summary(len(data), width, height, quality, seconds)}",
              file=sys.stderr if args.output == STDIO else sys.stdout)


def cmd_decode(args: argparse.Namespace) -> None:
    limits = _limits(args)
    format = "PNG" if args.output == STDIO else output_format(args.output)
    data = _read_input(args.input, limits)
    _check_output(args.input, args.output, args.force)
    suffix = ".png" if args.output == STDIO else Path(args.output).suffix.lower()
    header = _named(args.input, lambda: api.read_info(data, limits=limits))
    # What the chosen format cannot hold is refused before the decode, which can be long.
    _named(args.output, lambda: check_output_format(format, suffix, header.width, header.height, header.channels))
    started = time.perf_counter()
    with progress.task(f"decoding {_display_name(args.input)}"):
        image = _named(args.input, lambda: api.decode_image(data, limits=limits, steps=args.steps))
    seconds = time.perf_counter() - started
    icc, exif = image.info.get("icc_profile"), image.info.get("exif")
    encoded, dropped = _named(args.output, lambda: image_bytes(np.asarray(image), format, icc, exif, suffix))
    _write_output(args.output, encoded, args.force)
    for what in dropped:
        print(f"latentpress: warning: {args.output}: {format} has no place for the file's {what}; "
              f"it was left out (PNG and TIFF keep both; WebP too)", file=sys.stderr)
    if header.channels == 1 and suffix in (".webp", ".ppm"):
        print(f"latentpress: warning: {args.output}: {suffix} holds colour, so the greyscale image was written "
              f"as RGB (the same values; .png, .tif, .pgm or .bmp keep one channel)", file=sys.stderr)
    if not args.quiet:
        name = "standard output" if args.output == STDIO else args.output
        print(f"{name}: {image.width}x{image.height} {image.mode}, decoded in {seconds:.2f} s "
              f"({time.perf_counter() - _STARTED:.2f} s since the command started)",
              file=sys.stderr if args.output == STDIO else sys.stdout)


def cmd_info(args: argparse.Namespace) -> None:
    limits = _limits(args)
    data = _read_input(args.input, limits)
    header = _named(args.input, lambda: api.read_info(data, limits=limits))
    info = header.to_dict()
    info["decodable"] = header.codec in available()
    if args.json:
        print(json.dumps(info, indent=2, allow_nan=False))
        return
    print(f"{_display_name(args.input, full=True)}: .lpx format version {info['format_version']}")
    rows = [
        ("codec", f"{info['codec']} (payload version {info['codec_version']})"
                  + ("" if info["decodable"] else "  [not available in this build]")),
        ("size", f"{info['width']}x{info['height']}"),
        ("channels", f"{info['channels']} ({info['colour_space']}), {info['bit_depth']} bits"),
        ("params", json.dumps(info["params"], sort_keys=True)),
        ("file", f"{info['file_bytes']:,} bytes, {info['bpp']:.4f} bpp"),
        ("header", f"{info['header_bytes']} bytes, CRC32 {info['header_crc32']} (verified)"),
    ]
    for key, value in rows:
        print(f"  {key:<9} {value}")
    print("  sections:")
    print(f"    {'type':<6}{'offset':>10}{'length':>12}  crc32")
    for section in info["sections"]:
        print(f"    {section['type']!r:<6}{section['offset']:>10}{section['length']:>12}  {section['crc32']}")


def cmd_codecs(args: argparse.Namespace) -> None:
    listing = api.codecs()
    if args.json:
        print(json.dumps([{"name": c.name, "version": c.version, "description": c.description,
                           "lossless": c.lossless, "params": c.params, "quality": c.quality} for c in listing],
                         indent=2))
        return
    for codec in listing:
        default = " (default)" if codec.name == DEFAULT_CODEC else ""
        params = ", ".join(f"{k}={v}" for k, v in codec.params.items())
        print(f"{codec.name:<14} {codec.description}{default}")
        if params:
            print(f"{'':<14} parameters: {params}")
        print(f"{'':<14} {codec.quality}")


def cmd_demo(args: argparse.Namespace) -> None:
    from latentpress.demo import run_demo

    run_demo(image_path=args.image, codec=args.codec, params=_codec_params(args), keep=args.keep)


def _parse_points(items: list[str] | None) -> dict[str, list[dict]]:
    """--points CODEC:KEY=V1,V2,... → {codec: [{key: v1}, {key: v2}, ...]} (numbers parsed)."""
    points: dict[str, list[dict]] = {}
    for item in items or []:
        codec, sep, rest = item.partition(":")
        key, sep2, values = rest.partition("=")
        if not (sep and sep2 and codec and key and values):
            raise CliError(f"--points expects CODEC:KEY=V1,V2,..., got {item!r}")
        parsed = []
        for value in values.split(","):
            try:
                parsed.append(json.loads(value))
            except json.JSONDecodeError:
                parsed.append(value)
        points[codec] = [{key: v} for v in parsed]
    return points


def _codec_list(text: str) -> list[str]:
    from latentpress.bench.codecs import expand

    names = expand(text)
    if not names:
        raise CliError("--codecs is empty")
    return names


def cmd_bench(args: argparse.Namespace) -> None:
    from latentpress.bench.run import run_bench
    from latentpress.distributed import close_executor, make_executor

    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    if args.address and args.engine != "ray":
        raise CliError("--address is for --engine ray")
    codecs, points = _codec_list(args.codecs), _parse_points(args.points)
    executor = make_executor(args.engine, args.workers, args.address)
    try:
        summary = run_bench(codecs, args.images, args.out, executor=executor, points=points,
                            progress=sys.stderr.isatty() and not args.quiet)
    finally:
        close_executor(executor)
    if summary.failed:
        raise CliError(f"{summary.failed} job(s) failed; see {Path(args.out) / 'errors.jsonl'}")


def cmd_batch(args: argparse.Namespace) -> None:
    from latentpress.batch import run_batch
    from latentpress.distributed import close_executor, make_executor

    if args.workers is not None and args.workers < 1:
        raise CliError("--workers must be at least 1")
    if args.address and args.engine != "ray":
        raise CliError("--address is for --engine ray")
    params = _codec_params(args)
    if args.decode and (params or args.codec or args.verify):
        raise CliError("--decode takes no codec options and no --verify (the files say how they were coded)")
    if args.report and Path(args.report).is_dir():
        raise CliError(f"{args.report}: is a directory")
    executor = make_executor(args.engine, args.workers, args.address)
    try:
        summary = run_batch(args.input, args.output, args.codec, params, decode=args.decode, executor=executor,
                            verify=args.verify, limits=_limits(args), progress=sys.stderr.isatty() and not args.quiet,
                            report=args.report)
    finally:
        close_executor(executor)
    print(summary.text())
    for entry in summary.entries:
        if entry["status"] == "failed":
            message = entry["error"] if entry["error"].startswith(entry["input"]) else f"{entry['input']}: {entry['error']}"
            print(f"latentpress: failed: {message}", file=sys.stderr)
    if summary.report_error:
        raise CliError(summary.report_error)
    if summary.failed:
        raise CliError(f"{summary.failed} of {summary.images} image(s) failed"
                       + (f"; see {args.report}" if args.report else ""))


def cmd_report(args: argparse.Namespace) -> None:
    from latentpress.bench.report import write

    path = write(args.folder, anchor=args.anchor, out=args.out)
    print(f"{path}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="latentpress", description="Learned image compression and the .lpx format.")
    parser.add_argument("--version", action="version", version=f"latentpress {latentpress.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def codec_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("-c", "--codec", default=None, help=f"codec name (default {DEFAULT_CODEC}; see `latentpress codecs`)")
        p.add_argument("-q", "--quality", default=None,
                       help="0-100, higher is better, on every lossy codec with a rate to choose; what it sets "
                            "per codec: `latentpress codecs`")
        p.add_argument("-p", "--param", action="append", metavar="KEY=VALUE", help="any other codec parameter (repeatable)")
        p.add_argument("--preset", default=None,
                       help="codec preset (overfit: instant, the default, no per-image training; fast, medium, slow)")
        p.add_argument("--iterations", default=None, help="training iterations (per-image codecs)")
        p.add_argument("--time-budget", default=None, metavar="SECONDS", help="stop training after this long (per-image codecs)")
        p.add_argument("--lambda", dest="lmbda", default=None,
                       help="overfit's rate weight λ (parameter lmbda), overriding --quality")

    def limit_option(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-pixels", type=int, default=None, help=f"refuse images larger than this (default {DEFAULT_LIMITS.max_pixels:,})")
        p.add_argument("--max-macs-per-pixel", type=int, default=None,
                       help="refuse files whose networks ask for more multiply-adds per pixel "
                            f"(default {DEFAULT_LIMITS.max_macs_per_pixel:,})")
        p.add_argument("--max-decode-memory", type=int, default=None, metavar="MIB",
                       help="refuse files whose decoding would need more memory, in MiB, as the codec "
                            f"estimates it (default {DEFAULT_LIMITS.max_decode_memory >> 20:,})")
        p.add_argument("--max-section-size", dest="max_section_bytes", type=int, default=None, metavar="MIB",
                       help=f"refuse files with a larger section (default {DEFAULT_LIMITS.max_section_bytes >> 20:,})")
        p.add_argument("--max-file-size", dest="max_file_bytes", type=int, default=None, metavar="MIB",
                       help=f"refuse larger input files (default {DEFAULT_LIMITS.max_file_bytes >> 20:,})")

    p = sub.add_parser("encode", help="compress an image (PNG/JPEG/TIFF/BMP/WebP) to .lpx")
    p.add_argument("input", help="image file, or - for standard input")
    p.add_argument("output", help=".lpx file, or - for standard output")
    codec_options(p)
    p.add_argument("--lossless", action="store_true",
                   help="exact coding: the codec `lossless` unless --codec names another lossless one")
    p.add_argument("-f", "--force", action="store_true", help="overwrite the output if it exists")
    p.add_argument("--no-psnr", action="store_true", help="do not decode again to report PSNR")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary line")
    limit_option(p)
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="decompress an .lpx file to PNG, TIFF, WebP (lossless), PPM/PGM or BMP "
                       "(by the output's suffix; - for standard output: PNG)")
    p.add_argument("input", help=".lpx file, or - for standard input")
    p.add_argument("output", help="image file (.png .tif .webp .ppm .pgm .pnm .bmp), or - for standard output")
    p.add_argument("--steps", type=int, help="progressive files (cnn-rnn-ae): decode only the first STEPS stages")
    p.add_argument("-f", "--force", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress and no summary line")
    limit_option(p)
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="show the header and section table of an .lpx file")
    p.add_argument("input", help=".lpx file, or - for standard input")
    p.add_argument("--json", action="store_true")
    limit_option(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("codecs", help="list the available codecs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_codecs)

    p = sub.add_parser("bench", help="run codecs over their rate points on a folder of images (resumable)")
    p.add_argument("--codecs", required=True,
                   help="comma-separated codec names, or the groups classic-lossy / classic-lossless")
    p.add_argument("--images", required=True, help="folder of PNG images")
    p.add_argument("--out", required=True, help="results folder (records.jsonl is the cache: reruns resume)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="where the jobs run: local process pool (default) or Ray tasks, as for `batch`")
    p.add_argument("--address", help="--engine ray: join this running cluster")
    p.add_argument("--points", action="append", metavar="CODEC:KEY=V1,V2",
                   help="replace a codec's default rate points (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("batch", help="encode every image under a folder into .lpx files (or --decode them), "
                       "on a local process pool or a Ray cluster; safe to interrupt and rerun")
    p.add_argument("input", help="folder of images (PNG, JPEG, TIFF, BMP, WebP), searched recursively")
    p.add_argument("output", help="folder for the outputs: the same relative paths, suffix .lpx (.png with --decode)")
    codec_options(p)
    limit_option(p)
    p.add_argument("--decode", action="store_true", help="decode every .lpx under INPUT to PNG instead")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray tasks (pip install 'latentpress[ray]')")
    p.add_argument("--address", help="--engine ray: join this running cluster (default: start a local Ray instance)")
    p.add_argument("--workers", type=int, default=None, help="parallel jobs (default: one per core / cluster CPU)")
    p.add_argument("--verify", action="store_true", help="decode each output again and report its PSNR")
    p.add_argument("--report", metavar="FILE.json", help="write every image's outcome and the summary here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_batch)

    p = sub.add_parser("report", help="plots, BD-rate and speed tables and report.html from a bench folder")
    p.add_argument("folder")
    p.add_argument("--anchor", default="jpeg2000", help="codec the BD-rates are measured against")
    p.add_argument("--out", default=None, help="where to write (default: the bench folder)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("demo", help="compress and decompress an image and report size, bpp and PSNR")
    p.add_argument("--image", help="image to use (default: a generated test image)")
    p.add_argument("--keep", help="folder to keep the .lpx and decoded PNG in")
    codec_options(p)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Progress is drawn on a terminal only: never into a pipe or a log, nor with --quiet.
    watched = sys.stderr.isatty() and not getattr(args, "quiet", False)
    try:
        with progress.shown(enabled=watched and args.command in ("encode", "decode", "demo")):
            args.func(args)
    except LatentpressError as exc:
        print(f"latentpress: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("latentpress: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR
    except OSError as exc:
        # Writing the output can fail for reasons outside latentpress (disk full,
        # permissions); atomic writes guarantee no partial file was left.
        target = f"{exc.filename}: " if exc.filename else ""
        print(f"latentpress: error: {target}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except MemoryError:
        print("latentpress: error: out of memory (when decoding untrusted files, a lower "
              "--max-decode-memory refuses large ones before any work)", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 — not the input's fault: a bug in latentpress
        if os.environ.get("LATENTPRESS_DEBUG"):
            traceback.print_exc()
        print(f"latentpress: internal error: {type(exc).__name__}: {exc}\n"
              f"latentpress: this is a bug in latentpress {latentpress.__version__}, not in your input; "
              f"please open an issue in the latentpress repository with the command you ran and, "
              f"if you can, the input (LATENTPRESS_DEBUG=1 prints the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    return 0


def entry_point() -> None:
    code = main()
    if code == EXIT_INTERRUPTED and "ray" not in sys.modules:
        # After an interrupt a worker pool's manager thread may still be closing its pipe
        # when the interpreter's exit handlers wake it through that pipe, which prints
        # "Exception ignored ... Bad file descriptor". By now every output was written
        # whole or removed (the finally blocks ran), so end without those handlers. (Ray
        # keeps them: its shutdown stops the processes it started.)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry_point()
