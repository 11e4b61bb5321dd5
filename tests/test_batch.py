"""`latentpress batch`: folders in, folders out, on a process pool or Ray; safe to
interrupt and rerun; a bad image is reported, never fatal."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentpress
from latentpress import cli, container
from latentpress.batch import request_record, run_batch
from latentpress.distributed import (
    ExecutorError,
    LocalExecutor,
    RayExecutor,
    SerialExecutor,
)
from latentpress.errors import ParameterError
from latentpress.image import open_image_bytes


def make_folder(root: Path, count: int = 3, side: int = 40) -> Path:
    rng = np.random.default_rng(0)
    folder = root / "in"
    (folder / "sub" / "deeper").mkdir(parents=True)
    names = ["a.png", "sub/b.png", "sub/deeper/c.jpg", "sub/d.webp", "e.bmp", "f.png", "g.png", "h.png"]
    for i, name in enumerate(names[:count]):
        pixels = rng.integers(0, 256, (side + 8 * i, side, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, quality=95) if name.endswith(".jpg") else \
            Image.fromarray(pixels).save(folder / name)
    return folder


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_folder_is_encoded_verified_and_rerun_skips_it(tmp_path):
    source = make_folder(tmp_path)
    (source / "sub" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (source / "notes.txt").write_text("not an image")
    before = digest(source)
    out = tmp_path / "out"
    report = tmp_path / "report.json"
    summary = run_batch(source, out, "cnn-ae", {}, executor=SerialExecutor(), verify=True, progress=False,
                        report=report)
    assert (summary.images, summary.done, summary.failed, summary.skipped) == (4, 3, 1, 0)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == \
        ["a.lpx", "sub/b.lpx", "sub/deeper/c.lpx"]
    for path in out.rglob("*.lpx"):
        header, sections = container.read(path.read_bytes())
        assert header.codec == "cnn-ae"
        source_file = next(source.glob(str(path.relative_to(out).with_suffix("")) + ".*"))
        assert container.split_metadata(sections)[1]["ENCP"] == request_record("cnn-ae", {}, source_file.read_bytes())
        # The same pixels as the API gives for the same input: nothing lost on the way.
        expected = latentpress.decode(latentpress.encode(open_image_bytes(source_file.read_bytes(), source_file.name).pixels, "cnn-ae"))
        assert np.array_equal(latentpress.decode(path.read_bytes()), expected)
    recorded = json.loads(report.read_text())
    failed = [e for e in recorded["entries"] if e["status"] == "failed"]
    assert [e["input"] for e in failed] == ["sub/corrupt.png"] and "Pillow" in failed[0]["error"]
    assert recorded["mean_psnr"] == pytest.approx(np.mean(summary.psnr)) and len(summary.psnr) == 3
    assert digest(source) == before                                   # inputs untouched
    written = {p: p.stat().st_mtime_ns for p in out.rglob("*.lpx")}
    again = run_batch(source, out, "cnn-ae", {"entropy": "none"}, executor=SerialExecutor(), progress=False)
    assert (again.done, again.skipped) == (0, 3)                      # the default spelled out: same request
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.lpx")} == written
    changed = run_batch(source, out, "cnn-ae", {"entropy": "range"}, executor=SerialExecutor(), progress=False)
    assert (changed.done, changed.skipped) == (3, 0)                  # another request: redone


def test_decode_mode_and_a_damaged_output_is_redone(tmp_path):
    source = make_folder(tmp_path, count=2)
    out, back = tmp_path / "out", tmp_path / "back"
    run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False)
    damaged = out / "a.lpx"
    damaged.write_bytes(damaged.read_bytes()[:-3])
    assert run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False).done == 1
    summary = run_batch(out, back, decode=True, executor=SerialExecutor(), progress=False)
    assert summary.done == 2
    for name in ("a", "sub/b"):
        assert np.array_equal(np.asarray(Image.open(back / f"{name}.png")),
                              latentpress.decode((out / f"{name}.lpx").read_bytes()))


def test_colliding_outputs_and_bad_requests(tmp_path):
    source = make_folder(tmp_path, count=1)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(source / "a.tif")       # a.png and a.tif → a.lpx
    summary = run_batch(source, tmp_path / "out", "cnn-ae", executor=SerialExecutor(), progress=False)
    assert (summary.done, summary.failed) == (1, 1)
    assert "also the output of" in summary.entries[0]["error"] + summary.entries[-1].get("error", "")
    with pytest.raises(ParameterError):
        run_batch(source, tmp_path / "out2", "cnn-ae", {"entropy": "zip"}, executor=SerialExecutor(), progress=False)
    assert not (tmp_path / "out2").exists()


def test_the_local_pool_gives_the_same_bytes_as_serial(tmp_path):
    source = make_folder(tmp_path, count=4)
    run_batch(source, tmp_path / "serial", "cnn-ae", executor=SerialExecutor(), progress=False)
    run_batch(source, tmp_path / "pool", "cnn-ae", executor=LocalExecutor(2), progress=False)
    assert digest(tmp_path / "serial") == digest(tmp_path / "pool")


@pytest.mark.slow
def test_ray_gives_the_same_bytes_as_the_local_pool(tmp_path):
    pytest.importorskip("ray")
    source = make_folder(tmp_path, count=4)
    (source / "broken.png").write_bytes(b"nope")
    run_batch(source, tmp_path / "local", "cnn-ae", executor=LocalExecutor(2), progress=False)
    executor = RayExecutor(workers=2)
    try:
        summary = run_batch(source, tmp_path / "ray", "cnn-ae", executor=executor, progress=False)
    finally:
        executor.close()
    assert (summary.done, summary.failed) == (4, 1)
    assert digest(tmp_path / "ray") == digest(tmp_path / "local")


def test_engine_errors_are_clear(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)                     # as if Ray were not installed
    with pytest.raises(ExecutorError, match=r"pip install 'latentpress\[ray\]'"):
        RayExecutor()
    source = make_folder(tmp_path, count=1)
    assert cli.main(["batch", str(source), str(tmp_path / "o"), "--engine", "ray", "--quiet"]) != 0
    assert cli.main(["batch", str(source), str(tmp_path / "o"), "--address", "x:1", "--quiet"]) != 0
    assert cli.main(["batch", str(source), str(tmp_path / "o"), "--decode", "-q", "5", "--quiet"]) != 0
    assert cli.main(["batch", str(tmp_path / "missing"), str(tmp_path / "o"), "--quiet"]) != 0
    errors = capsys.readouterr().err
    assert "latentpress[ray]" in errors and "--address is for" in errors and "Traceback" not in errors


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_an_interrupted_batch_leaves_no_partial_file_and_a_rerun_completes(tmp_path, sig):
    source = make_folder(tmp_path, count=8, side=64)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "latentpress.cli", "batch", str(source), str(out), "--codec", "cnn-ae-ft",
               "-p", "iterations=300", "--workers", "2", "--quiet"]
    # Its own session, so that SIGINT can go to the whole group, as ^C in a terminal does;
    # SIGINT back to its default, as a shell's background job (CI) would leave it ignored.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list(out.rglob("*.lpx"))) < 2 and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the batch ended before it could be interrupted"
    if sig == signal.SIGINT:
        os.killpg(process.pid, sig)                          # the driver and its workers
    else:
        process.send_signal(sig)                             # what `kill PID` does
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and b"Traceback" not in stderr
    first = sorted(out.rglob("*.lpx"))
    assert 2 <= len(first) < 8
    assert [p for p in out.rglob("*") if p.is_file() and p.suffix != ".lpx"] == []      # no temporaries
    for path in first:
        latentpress.decode(path.read_bytes())                                             # complete files
    rerun = subprocess.run(command[:-1] + ["--report", str(tmp_path / "r.json")], capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["skipped"] == len(first) and summary["done"] == 8 - len(first)
    assert len(list(out.rglob("*.lpx"))) == 8 and [p for p in out.rglob("*") if p.suffix not in (".lpx", "")] == []
    assert not [p for p in out.rglob(".*")]


def test_the_bench_accepts_the_ray_engine_option(tmp_path, capsys):
    assert cli.main(["bench", "--codecs", "cnn-ae", "--images", str(tmp_path), "--out", str(tmp_path / "o"),
                     "--address", "x:1"]) != 0
    assert "--address is for --engine ray" in capsys.readouterr().err


def test_stale_temporaries_are_swept(tmp_path):
    source = make_folder(tmp_path, count=1)
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = out / "sub" / ".b.lpx.abc123_x.tmp"
    stale.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))                              # left by a batch killed an hour ago
    fresh = out / ".c.lpx.def456_y.tmp"                      # another writer may be at work on it
    fresh.write_bytes(b"being written")
    keep = out / ".hidden-user-file"
    keep.write_bytes(b"mine")
    run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False)
    assert not stale.exists() and fresh.exists() and keep.exists()
    assert os.path.exists(out / "a.lpx")


def test_an_output_folder_inside_the_input_folder_is_not_read_back(tmp_path):
    source = make_folder(tmp_path, count=2)
    out = source / "decoded"
    first = run_batch(source, source / "lpx", "cnn-ae", executor=SerialExecutor(), progress=False)
    run_batch(source / "lpx", out, decode=True, executor=SerialExecutor(), progress=False)   # PNGs inside IN
    again = run_batch(source, source / "lpx", "cnn-ae", executor=SerialExecutor(), progress=False)
    assert again.images == first.images + 2 and again.skipped == 2 and again.done == 2    # decoded/*.png are new
    assert run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False).images == 2  # not its own PNGs


def test_a_changed_input_is_redone_and_a_decoded_png_records_its_source(tmp_path):
    source = make_folder(tmp_path, count=3)
    out, back = tmp_path / "out", tmp_path / "back"
    run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False)
    Image.fromarray(np.zeros((40, 40, 3), np.uint8)).save(source / "a.png")           # edited since
    again = run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False)
    assert (again.done, again.skipped) == (1, 2)
    assert latentpress.decode((out / "a.lpx").read_bytes()).shape == (40, 40, 3)
    back.mkdir()
    Image.fromarray(np.zeros((5, 5, 3), np.uint8)).save(back / "a.png")                # not ours
    assert run_batch(out, back, decode=True, executor=SerialExecutor(), progress=False).done == 3
    assert run_batch(out, back, decode=True, executor=SerialExecutor(), progress=False).skipped == 3
    run_batch(source, out, "cnn-ae", {"entropy": "range"}, executor=SerialExecutor(), progress=False)
    assert run_batch(out, back, decode=True, executor=SerialExecutor(), progress=False).done == 3   # new .lpx


def test_an_output_that_cannot_be_written_fails_alone(tmp_path):
    source = make_folder(tmp_path, count=3)
    out = tmp_path / "out"
    (out / "a.lpx").mkdir(parents=True)                      # a folder where the output should go
    summary = run_batch(source, out, "cnn-ae", executor=SerialExecutor(), progress=False)
    assert (summary.done, summary.failed) == (2, 1)
    assert "cannot write" in next(e["error"] for e in summary.entries if e["status"] == "failed")


def _dies_on_three(job: int) -> int:
    if job == 3:
        os._exit(9)                                          # as the OOM killer would end it
    return job * 10


def test_a_worker_that_dies_fails_its_jobs_and_the_pool_goes_on():
    results = dict(LocalExecutor(1).map_unordered(_dies_on_three, [1, 2, 3, 4, 5, 6]))
    assert isinstance(results[3], ExecutorError) and "died" in str(results[3])
    assert [results[k] for k in (1, 2, 5, 6)] == [10, 20, 50, 60]                   # before and after it
