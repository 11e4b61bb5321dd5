"""The CLI, including the bad-input matrix: every command gets a clear
one-line error and a non-zero exit, never a traceback, a partial file or a touched input."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentpress
from latentpress import cli
from latentpress.metrics import psnr


@pytest.fixture()
def png(tmp_path, small_rgb) -> Path:
    path = tmp_path / "in.png"
    Image.fromarray(small_rgb).save(path)
    return path


@pytest.fixture(scope="module")
def small_lpx(tmp_path_factory) -> Path:
    """A small valid file (a 12×10 image), for the exhaustive corruption sweeps."""
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("lpx") / "small.lpx"
    path.write_bytes(latentpress.encode(rng.integers(0, 256, (10, 12, 3), dtype=np.uint8), "factorized", quality=5))
    return path


def run(*args: str) -> int:
    return cli.main([str(a) for a in args])


def test_encode_decode_info(tmp_path, png, capsys, small_rgb):
    out = tmp_path / "out.lpx"
    assert run("encode", png, out, "-q", "60") == 0
    line = capsys.readouterr().out
    assert "bytes" in line and "bpp" in line and "PSNR" in line and " s" in line
    assert run("decode", out, tmp_path / "back.png") == 0
    back = np.asarray(Image.open(tmp_path / "back.png"))
    assert back.shape == small_rgb.shape and psnr(small_rgb, back) > 24        # 26.3 dB measured
    capsys.readouterr()
    assert run("info", out, "--json") == 0
    info = json.loads(capsys.readouterr().out)
    for key in ("format_version", "codec", "codec_version", "width", "height", "channels",
                "bit_depth", "colour_space", "params", "file_bytes", "bpp", "sections", "header_bytes",
                "header_crc32"):
        assert key in info
    assert info["params"]["quality"] == 60 and info["width"] == 56 and info["height"] == 40
    assert run("info", out) == 0
    text = capsys.readouterr().out
    for word in ("overfit", "56x40", "sRGB".lower(), "quality", "ARMW", "LATN", "END"):
        assert word in text


def test_codecs_and_param_options(tmp_path, png, capsys):
    assert run("codecs") == 0
    assert "factorized" in capsys.readouterr().out
    assert run("codecs", "--json") == 0
    assert json.loads(capsys.readouterr().out)[0]["name"]
    assert run("encode", png, tmp_path / "a.lpx", "-c", "factorized", "-p", "quality=20", "--quiet") == 0
    assert latentpress.read_info((tmp_path / "a.lpx").read_bytes()).params["quality"] == 20


def test_demo(tmp_path, capsys):
    assert run("demo", "--keep", tmp_path) == 0
    out = capsys.readouterr().out
    assert "bpp" in out and "PSNR" in out
    assert latentpress.read_info((tmp_path / "demo.lpx").read_bytes()).codec == "overfit"


def test_refuses_to_overwrite(tmp_path, png, capsys):
    out = tmp_path / "out.lpx"
    out.write_bytes(b"precious")
    assert run("encode", png, out) == 1
    assert "--force" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert run("encode", png, out, "--force", "--quiet") == 0
    assert out.read_bytes().startswith(latentpress.container.MAGIC)


def test_never_touches_the_input(tmp_path, png, capsys):
    before = png.read_bytes()
    assert run("encode", png, png, "--force") == 1
    assert "overwrite the input" in capsys.readouterr().err
    assert png.read_bytes() == before


def test_failed_encode_leaves_nothing(tmp_path, png, capsys, monkeypatch):
    out = tmp_path / "out.lpx"
    assert run("encode", png, out, "-q", "500") == 1
    assert "quality" in capsys.readouterr().err
    def broken_write(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(latentpress.api, "encode", broken_write)
    assert run("encode", png, out) == cli.EXIT_INTERRUPTED
    assert sorted(os.listdir(tmp_path)) == ["in.png"]


def test_a_codec_bug_is_an_internal_error_not_a_corrupt_file(tmp_path, small_lpx, capsys, monkeypatch):
    """An exception a codec raises that is not a LatentpressError is a bug in latentpress:
    the API lets it through as itself, the CLI says so (exit 3) and asks for a report,
    without a traceback or an output file."""
    from latentpress.codecs.factorized.codec import FactorizedCodec

    def buggy_decode(self, header, sections):
        raise ZeroDivisionError("a codec bug")
    monkeypatch.setattr(FactorizedCodec, "decode", buggy_decode)
    with pytest.raises(ZeroDivisionError):
        latentpress.decode(small_lpx.read_bytes())
    out = tmp_path / "out.png"
    assert run("decode", small_lpx, out) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error" in err and "bug in latentpress" in err and "corrupt" not in err
    assert "Traceback" not in err and not out.exists()
    monkeypatch.setenv("LATENTPRESS_DEBUG", "1")
    assert run("decode", small_lpx, out) == cli.EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err


def test_atomic_write_cleans_up_on_error(tmp_path):
    from latentpress.image import atomic_write
    target = tmp_path / "x.bin"
    with pytest.raises(RuntimeError):
        with atomic_write(target) as handle:
            handle.write(b"partial")
            raise RuntimeError("disk full")
    assert os.listdir(tmp_path) == []


def bad_inputs(tmp_path: Path, png: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.lpx"
    empty.write_bytes(b"")
    renamed = tmp_path / "renamed.lpx"
    renamed.write_bytes(png.read_bytes())
    huge = tmp_path / "huge.lpx"
    huge.write_bytes(huge_claim())
    return {"missing": tmp_path / "missing.lpx", "directory": tmp_path, "empty": empty,
            "png renamed": renamed, "100000x100000": huge}


def huge_claim() -> bytes:
    import struct
    import zlib
    body = bytes([10]) + b"factorized" + struct.pack("<HIIBBBH", 1, 100000, 100000, 3, 8, 1, 0)
    prefix = struct.pack("<8sBBH", latentpress.container.MAGIC, 1, 0, len(body)) + body
    end = b"END " + b"\0" * 4 + struct.pack("<I", zlib.crc32(b"END "))
    return prefix + struct.pack("<I", zlib.crc32(prefix)) + end


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "png renamed", "100000x100000"])
def test_bad_inputs_every_command(tmp_path, png, capsys, case):
    path = bad_inputs(tmp_path, png)[case]
    for command in (["decode", path, tmp_path / "o.png"], ["info", path], ["info", path, "--json"]):
        assert run(*command) == 1, (case, command)
        err = capsys.readouterr().err
        assert err.startswith("latentpress: error:") and "Traceback" not in err
        assert err.count("\n") == 1
    assert not (tmp_path / "o.png").exists()
    if case in ("missing", "directory", "empty", "100000x100000"):
        assert run("encode", path, tmp_path / "o.lpx") == 1
        assert not (tmp_path / "o.lpx").exists()
    with pytest.raises(latentpress.LatentpressError):
        latentpress.decode(path.read_bytes() if path.is_file() else b"")


def test_huge_claim_is_refused_quickly_and_cheaply():
    import resource
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(latentpress.LimitError, match="100000x100000"):
        latentpress.decode(huge_claim())
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 100_000


def test_truncated_at_every_length(tmp_path, small_lpx, capsys):
    data = small_lpx.read_bytes()
    target = tmp_path / "t.lpx"
    for length in range(len(data)):
        target.write_bytes(data[:length])
        assert run("decode", target, tmp_path / "o.png") == 1
        assert run("info", target) == 1
        with pytest.raises(latentpress.FormatError):
            latentpress.decode(data[:length])
    assert not (tmp_path / "o.png").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_every_bit_flip(tmp_path, small_lpx, capsys):
    data = small_lpx.read_bytes()
    target = tmp_path / "f.lpx"
    for bit in range(len(data) * 8):
        corrupt = bytearray(data)
        corrupt[bit // 8] ^= 1 << (bit % 8)
        target.write_bytes(bytes(corrupt))
        assert run("decode", target, tmp_path / "o.png") == 1
        with pytest.raises((latentpress.FormatError, latentpress.LimitError)):
            latentpress.read_info(bytes(corrupt))
    assert not (tmp_path / "o.png").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_unsupported_image_modes(tmp_path, small_rgb, capsys):
    rgba = tmp_path / "a.png"
    Image.fromarray(small_rgb).convert("RGBA").save(rgba)
    deep = tmp_path / "d.png"
    Image.fromarray(np.zeros((8, 8), np.uint16) + 4000).save(deep)
    for path in (rgba, deep):
        assert run("encode", path, tmp_path / "o.lpx") == 1
        assert "latentpress: error:" in capsys.readouterr().err
    assert not (tmp_path / "o.lpx").exists()


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "BMP", "WEBP"])
def test_input_formats(tmp_path, small_rgb, fmt):
    source = tmp_path / f"in.{fmt.lower()}"
    Image.fromarray(small_rgb).save(source, format=fmt)
    assert run("encode", source, tmp_path / "o.lpx", "--quiet") == 0


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff", ".webp", ".ppm", ".pnm", ".bmp"])
def test_decode_writes_the_lossless_format_its_suffix_names(tmp_path, png, suffix):
    run("encode", png, tmp_path / "a.lpx", "--quiet")
    expected = latentpress.decode(tmp_path / "a.lpx")
    assert run("decode", tmp_path / "a.lpx", tmp_path / f"b{suffix}", "--quiet") == 0
    with Image.open(tmp_path / f"b{suffix}") as written:
        assert written.format == {".tif": "TIFF", ".tiff": "TIFF", ".pnm": "PPM"}.get(suffix, suffix[1:].upper())
        assert np.array_equal(np.asarray(written.convert("RGB")), expected)


def test_decode_greyscale_to_pgm_and_ppm(tmp_path, small_rgb):
    grey = tmp_path / "g.png"
    Image.fromarray(small_rgb).convert("L").save(grey)
    run("encode", grey, tmp_path / "g.lpx", "--quiet")
    expected = latentpress.decode(tmp_path / "g.lpx")
    assert run("decode", tmp_path / "g.lpx", tmp_path / "g.pgm", "--quiet") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.pgm")), expected)
    assert run("decode", tmp_path / "g.lpx", tmp_path / "g.ppm", "--quiet") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.ppm"))[:, :, 1], expected)


@pytest.mark.parametrize("name, words", [("a.jpg", "lossless formats only"), ("a.avif", "lossless formats only"),
                                         ("a.xyz", "cannot tell the format"), ("a", "cannot tell the format")])
def test_decode_refuses_lossy_and_unknown_formats_before_any_work(tmp_path, png, capsys, name, words):
    run("encode", png, tmp_path / "a.lpx", "--quiet")
    assert run("decode", tmp_path / "a.lpx", tmp_path / name) == 1
    err = capsys.readouterr().err
    assert words in err and str(tmp_path / name) in err and not (tmp_path / name).exists()


def test_colour_to_pgm_is_refused_and_writes_nothing(tmp_path, png, capsys):
    run("encode", png, tmp_path / "a.lpx", "--quiet")
    assert run("decode", tmp_path / "a.lpx", tmp_path / "a.pgm") == 1
    assert "greyscale" in capsys.readouterr().err and not (tmp_path / "a.pgm").exists()


def test_metadata_a_format_cannot_hold_is_reported(tmp_path, small_rgb, capsys):
    source = tmp_path / "icc.png"
    Image.fromarray(small_rgb).save(source, icc_profile=b"an icc profile")
    run("encode", source, tmp_path / "a.lpx", "--quiet")
    assert run("decode", tmp_path / "a.lpx", tmp_path / "a.bmp", "--quiet") == 0
    assert "ICC profile" in capsys.readouterr().err
    assert run("decode", tmp_path / "a.lpx", tmp_path / "a.tif", "--quiet") == 0
    assert Image.open(tmp_path / "a.tif").info.get("icc_profile") == b"an icc profile"


@pytest.mark.parametrize("name", ["out.png", "out.JPG", "out.webp", "out.ppm"])
def test_encode_refuses_an_image_name_for_its_output(tmp_path, png, capsys, name):
    assert run("encode", png, tmp_path / name) == 1
    assert "encode writes an .lpx file" in capsys.readouterr().err and not (tmp_path / name).exists()


def test_parameters_are_checked_before_the_image_is_read(tmp_path, capsys):
    # The input does not even exist: the parameter is what the message is about.
    assert run("encode", tmp_path / "missing.png", tmp_path / "o.lpx", "-c", "factorized", "-q", "500") == 1
    assert "quality" in capsys.readouterr().err


def test_standard_input_and_output(tmp_path, png):
    """``-`` reads standard input and writes standard output, as cwebp and cjxl do; the
    summary line then goes to stderr, not into the data."""
    command = [sys.executable, "-m", "latentpress.cli"]
    encoded = subprocess.run(command + ["encode", "-", "-"], input=png.read_bytes(), capture_output=True)
    assert encoded.returncode == 0 and encoded.stdout.startswith(b"\x89LPX") and b"bpp" in encoded.stderr
    assert np.array_equal(latentpress.decode(encoded.stdout), latentpress.decode(latentpress.encode(png)))
    decoded = subprocess.run(command + ["decode", "-", "-"], input=encoded.stdout, capture_output=True)
    assert decoded.returncode == 0 and decoded.stdout.startswith(b"\x89PNG")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(decoded.stdout))), latentpress.decode(encoded.stdout))
    info = subprocess.run(command + ["info", "-", "--json"], input=encoded.stdout, capture_output=True)
    assert info.returncode == 0 and json.loads(info.stdout)["codec"] == "overfit"
    empty = subprocess.run(command + ["decode", "-", str(tmp_path / "o.png")], input="", capture_output=True, text=True)
    assert empty.returncode == 1 and "standard input: the file is empty" in empty.stderr
    assert not (tmp_path / "o.png").exists()


def test_messages_name_the_file_and_say_what_is_wrong(tmp_path, png, small_lpx, small_rgb, capsys):
    empty = tmp_path / "empty.lpx"
    empty.write_bytes(b"")
    truncated = tmp_path / "cut.lpx"
    truncated.write_bytes(small_lpx.read_bytes()[:-40])
    rgba = tmp_path / "alpha.png"
    Image.fromarray(small_rgb).convert("RGBA").save(rgba)
    cases = [(["decode", empty, tmp_path / "o.png"], [str(empty), "empty"]),
             (["decode", truncated, tmp_path / "o.png"], [str(truncated), "truncated"]),
             (["info", png], [str(png), "this is a PNG image, not an .lpx file"]),
             (["encode", rgba, tmp_path / "o.lpx"], [str(rgba), "alpha"]),
             (["encode", small_lpx, tmp_path / "o.lpx"], [str(small_lpx), "already an .lpx file"])]
    for command, words in cases:
        assert run(*command) == 1
        err = capsys.readouterr().err
        assert all(word in err for word in words), (command, err)
        assert err.count("\n") == 1


def test_the_command_line_starts_without_the_heavy_libraries():
    """`latentpress --help` and `info` need neither torch nor scipy: importing them costs
    most of a second; the commands that need them import them when they run."""
    probe = "import sys, latentpress.cli; print(sorted({'torch', 'scipy'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_entry_point_in_a_subprocess(tmp_path):
    """The installed command: no traceback, exit status 1, on a corrupt file."""
    bad = tmp_path / "bad.lpx"
    bad.write_bytes(b"\x89LPX\r\n\x1a\n garbage")
    result = subprocess.run([sys.executable, "-m", "latentpress.cli", "decode", str(bad), str(tmp_path / "o.png")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "latentpress: error:" in result.stderr
    usage = subprocess.run([sys.executable, "-m", "latentpress.cli", "encode"], capture_output=True, text=True)
    assert usage.returncode == 2 and "usage" in usage.stderr


def test_special_files_are_refused(tmp_path, capsys):
    fifo = tmp_path / "pipe.lpx"
    os.mkfifo(fifo)
    for command in (["info", fifo], ["decode", fifo, tmp_path / "o.png"], ["encode", fifo, tmp_path / "o.lpx"],
                    ["info", "/dev/zero"]):
        assert run(*command) == 1
        assert "not a regular file" in capsys.readouterr().err


def test_outputs_get_normal_permissions(tmp_path, png):
    old = os.umask(0o022)
    try:
        assert run("encode", png, tmp_path / "o.lpx", "--quiet") == 0
        assert run("decode", tmp_path / "o.lpx", tmp_path / "o.png", "--quiet") == 0
    finally:
        os.umask(old)
    assert (tmp_path / "o.lpx").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "o.png").stat().st_mode & 0o777 == 0o644


def test_dangling_symlink_output_needs_force(tmp_path, png, capsys):
    link = tmp_path / "link.lpx"
    link.symlink_to(tmp_path / "nowhere")
    assert run("encode", png, link) == 1
    assert "--force" in capsys.readouterr().err


def test_no_clobber_when_the_output_appears_during_encoding(tmp_path, png, monkeypatch):
    out = tmp_path / "o.lpx"
    real_encode = latentpress.api.encode

    def slow_encode(*args, **kwargs):
        out.write_bytes(b"written by someone else meanwhile")
        return real_encode(*args, **kwargs)
    monkeypatch.setattr(latentpress.api, "encode", slow_encode)
    assert run("encode", png, out) == 1
    assert out.read_bytes() == b"written by someone else meanwhile"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.png", "o.lpx"]


def test_lpx_input_to_encode_is_refused(tmp_path, png, capsys):
    run("encode", png, tmp_path / "a.lpx", "--quiet")
    assert run("encode", tmp_path / "a.lpx", tmp_path / "b.lpx") == 1
    assert "already an .lpx" in capsys.readouterr().err


def test_sixteen_bit_rgb_is_refused(tmp_path, capsys):
    import imagecodecs
    path = tmp_path / "rgb16.png"
    path.write_bytes(imagecodecs.png_encode(np.full((8, 8, 3), 40000, np.uint16)))
    assert run("encode", path, tmp_path / "o.lpx") == 1
    assert "16 bits" in capsys.readouterr().err


def _on_a_terminal(args: list[str], columns: int = 120, rows: int = 40) -> tuple[int, str]:
    """Run the command with stdout and stderr on a pseudo-terminal of that size (some
    report 0 rows and columns)."""
    import fcntl
    import pty
    import struct
    import termios
    main_fd, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen([sys.executable, "-m", "latentpress.cli", *args], stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=terminal, env={**os.environ, "OMP_NUM_THREADS": "1"})
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:                   # the terminal closed: the process is done
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main_fd)
    return process.wait(), b"".join(chunks).decode("utf-8", "replace")


def test_long_work_shows_its_progress_on_a_terminal_and_nowhere_else(tmp_path, small_rgb):
    """On a terminal, an encode draws each phase (a bar with its rate and the time left
    where the length is known); with --quiet, or into a pipe, nothing but the summary."""
    source = tmp_path / "in.png"
    Image.fromarray(small_rgb[:32, :48]).save(source)
    args = ["encode", str(source), str(tmp_path / "o.lpx"), "-c", "overfit", "--preset", "fast", "--force"]
    code, shown = _on_a_terminal(args)
    assert code == 0, shown
    for phase in ("encoding in.png with overfit", "overfit: fitting the ARM", "overfit: choosing the ARM's precision",
                  "overfit: coding the latents", "overfit: post-processing", "decoding again to measure the PSNR"):
        assert phase in shown, phase
    assert re.search(r"\d+/300 \[\d\d:\d\d<\d\d:\d\d", shown)          # done/total [elapsed<left
    code, unsized = _on_a_terminal(args, columns=0, rows=0)
    assert code == 0 and "overfit: fitting the ARM" in unsized
    code, quiet = _on_a_terminal(args + ["--quiet"])
    assert code == 0 and quiet.strip() == ""
    piped = subprocess.run([sys.executable, "-m", "latentpress.cli", *args], capture_output=True, text=True,
                           env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert piped.returncode == 0 and piped.stderr == "" and "bpp" in piped.stdout
    code, shown = _on_a_terminal(["decode", str(tmp_path / "o.lpx"), str(tmp_path / "o.png"), "--force"])
    assert code == 0 and "decoding o.lpx" in shown and "decoding the latents" in shown


def test_what_the_output_format_cannot_hold_is_refused_before_decoding(tmp_path, capsys, monkeypatch):
    wide = tmp_path / "wide.lpx"
    wide.write_bytes(latentpress.encode(np.zeros((2, 17000, 3), np.uint8)))
    decoded = []
    monkeypatch.setattr(latentpress.api, "decode_image", lambda *a, **k: decoded.append(1))
    assert run("decode", wide, tmp_path / "wide.webp") == 1
    err = capsys.readouterr().err
    assert "wide.webp: WebP holds images up to 16383 pixels" in err and not decoded
    assert not (tmp_path / "wide.webp").exists()


def test_greyscale_written_as_colour_is_said(tmp_path, small_rgb, capsys):
    grey = tmp_path / "g.png"
    Image.fromarray(small_rgb).convert("L").save(grey)
    run("encode", grey, tmp_path / "g.lpx", "--quiet")
    assert run("decode", tmp_path / "g.lpx", tmp_path / "g.webp", "--quiet") == 0
    assert "written as RGB" in capsys.readouterr().err


def test_options_given_twice_or_at_odds_are_refused(tmp_path, png, capsys):
    for args, words in ((["-c", "overfit", "-q", "50", "--lambda", "0.01"], "give one or the other"),
                        (["-q", "50", "-p", "quality=20"], "given twice"),
                        (["-c", "factorized", "--lambda", "0.01"], "--lambda on the command line")):
        assert run("encode", png, tmp_path / "o.lpx", *args) == 1
        assert words in capsys.readouterr().err
    assert not (tmp_path / "o.lpx").exists()


def test_the_image_name_refusal_comes_before_the_exists_check(tmp_path, png, capsys):
    taken = tmp_path / "x.jxl"
    taken.write_bytes(b"")
    assert run("encode", png, taken) == 1
    assert "encode writes an .lpx file" in capsys.readouterr().err
