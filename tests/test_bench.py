from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import latentpress
from latentpress import cli
from latentpress.bench import classic, report
from latentpress.bench.run import RECORDS, BenchError, Job, run_bench
from latentpress.distributed import LocalExecutor
from latentpress.metrics import psnr

SCHEMA = {"codec", "params", "image", "width", "height", "bytes", "bpp", "psnr", "psnr_y", "ms_ssim",
          "encode_s", "decode_s", "encode_peak_rss_mb", "decode_peak_rss_mb", "lossless", "library",
          "identity", "machine", "key", "image_sha256"}
POINTS = {"jpeg-420": [{"quality": 30}, {"quality": 70}], "webp": [{"quality": 30}, {"quality": 70}]}


@pytest.fixture(scope="module")
def images(tmp_path_factory, photo):
    folder = tmp_path_factory.mktemp("images")
    Image.fromarray(photo[:176, :200]).save(folder / "a.png")
    Image.fromarray(photo[76:256, 100:320]).save(folder / "b.png")
    return folder


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / RECORDS).read_text().splitlines()]


def test_bench_runs_and_second_run_computes_nothing(images, tmp_path):
    out = tmp_path / "bench"
    first = run_bench(["jpeg-420", "webp"], images, out, points=POINTS, progress=False)
    assert (first.total, first.computed, first.cached, first.failed) == (8, 8, 0, 0)
    rows = records(out)
    assert len(rows) == 8
    for row in rows:
        assert SCHEMA <= set(row)
        assert row["bpp"] == pytest.approx(8 * row["bytes"] / (row["width"] * row["height"]))
        assert 20 < row["psnr"] < 50 and 0.8 < row["ms_ssim"] <= 1
        assert row["encode_peak_rss_mb"] > 10
    second = run_bench(["jpeg-420", "webp"], images, out, points=POINTS, progress=False)
    assert (second.computed, second.cached) == (0, 8)
    assert len(records(out)) == 8


def test_killed_run_resumes(images, tmp_path):
    out = tmp_path / "bench"
    run_bench(["jpeg-420"], images, out, points=POINTS, progress=False)
    lines = (out / RECORDS).read_text().splitlines()
    (out / RECORDS).write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])   # cut mid-line
    resumed = run_bench(["jpeg-420"], images, out, points=POINTS, progress=False)
    assert (resumed.cached, resumed.computed) == (2, 2)
    assert len(report.load(out)[0]["jpeg-420"].records) == 4


def test_parallel_workers_give_the_same_records(images, tmp_path):
    serial = run_bench(["jpeg-420"], images, tmp_path / "s", points=POINTS, progress=False)
    parallel = run_bench(["jpeg-420"], images, tmp_path / "p", executor=LocalExecutor(2), points=POINTS,
                         progress=False)
    assert serial.computed == parallel.computed == 4
    key = lambda r: r["key"]
    for a, b in zip(sorted(records(tmp_path / "s"), key=key), sorted(records(tmp_path / "p"), key=key)):
        assert (a["bytes"], a["psnr"]) == (b["bytes"], b["psnr"])


def test_missing_codec_is_skipped_with_a_message(images, tmp_path, monkeypatch):
    def missing() -> str:
        raise ImportError("no libfoo here")
    monkeypatch.setitem(classic.CLASSIC, "webp", classic.CLASSIC["webp"].__class__(
        **{**classic.CLASSIC["webp"].__dict__, "library": missing}))
    messages = []
    summary = run_bench(["jpeg-420", "webp"], images, tmp_path / "b", points=POINTS, progress=False,
                        log=messages.append)
    assert "webp" in summary.skipped_codecs and summary.computed == 4
    assert any("skipping webp" in m and "libfoo" in m for m in messages)
    with pytest.raises(BenchError, match="none of the requested codecs"):
        run_bench(["webp"], images, tmp_path / "c", points=POINTS, progress=False, log=messages.append)


def test_lossless_codecs_are_exact(images, tmp_path):
    run_bench(["png", "jpeg2000-lossless"], images, tmp_path / "l", progress=False)
    rows = records(tmp_path / "l")
    assert len(rows) == 4 and all(r["lossless"] and r["psnr"] is None for r in rows)


def test_every_classic_codec_round_trips(photo):
    crop = np.ascontiguousarray(photo[:64, :80])
    for codec in classic.CLASSIC.values():
        ok, why = codec.available()
        if not ok:
            continue
        decoded = codec.decode(codec.encode(crop, codec.points[len(codec.points) // 2]))
        assert decoded.shape == crop.shape, codec.name
        if codec.lossless:
            assert np.array_equal(decoded, crop), codec.name
        else:                                             # 31.9 (JPEG 2000) to 43.3 dB measured
            assert psnr(crop, decoded) > 30, codec.name


@pytest.fixture(scope="module")
def bench_folder(images, tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    run_bench(["jpeg-420", "webp", "jpeg2000", "png"], images, out, progress=False,
              points={**POINTS, "jpeg2000": [{"level": 28}, {"level": 34}, {"level": 40}]})
    return out


def test_report_tables_and_determinism(bench_folder, tmp_path):
    first = report.write(bench_folder, anchor="jpeg2000", out=tmp_path / "r1")
    second = report.write(bench_folder, anchor="jpeg2000", out=tmp_path / "r2")
    assert first.read_bytes() == second.read_bytes()
    for name in ("rd_psnr.png", "rd_psnr.svg", "rd_ms_ssim_db.png", "rd_ms_ssim_db.svg", "summary.json", "tables.md"):
        assert (tmp_path / "r1" / name).read_bytes() == (tmp_path / "r2" / name).read_bytes(), name
    summary = json.loads((tmp_path / "r1" / "summary.json").read_text())
    assert {r["codec"] for r in summary["bd_vs_anchor"]} == {"jpeg-420", "webp"}
    assert summary["bd_matrix_psnr"]["webp"]["webp"] == 0.0
    assert [r["codec"] for r in summary["lossless"]] == ["png"]


def test_bd_rate_of_a_curve_against_itself_and_a_shifted_copy(bench_folder, tmp_path):
    rows = records(bench_folder)
    shifted = tmp_path / "shifted"
    shifted.mkdir()
    with open(shifted / RECORDS, "w") as handle:
        for row in rows:
            handle.write(json.dumps(row) + "\n")
            if row["codec"] == "jpeg2000":
                copy = {**row, "codec": "cheaper", "bpp": row["bpp"] * 0.8}
                copy["key"] = Job("cheaper", json.dumps(copy["params"], sort_keys=True), copy["image"],
                                  copy["image_sha256"], copy["identity"]).key
                handle.write(json.dumps(copy) + "\n")
    built = report.build(shifted, anchor="jpeg2000")
    cheaper = next(r for r in built.bd_vs_anchor if r["codec"] == "cheaper")
    assert cheaper["psnr_avg_curve"] == pytest.approx(-20.0, abs=1e-6)
    assert cheaper["psnr_per_image"] == pytest.approx(-20.0, abs=1e-6)
    assert built.bd_matrix["jpeg2000"]["jpeg2000"] == 0.0
    assert built.bd_matrix["cheaper"]["jpeg2000"] == pytest.approx(25.0, abs=1e-6)


def test_report_errors(bench_folder, tmp_path):
    with pytest.raises(BenchError, match="anchor"):
        report.write(bench_folder, anchor="png", out=tmp_path)
    with pytest.raises(BenchError, match="records.jsonl"):
        report.write(tmp_path, anchor="jpeg2000")


def test_cli_bench_and_report(images, tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli.main(["bench", "--codecs", "jpeg-420", "--images", str(images), "--out", str(out),
                     "--points", "jpeg-420:quality=20,60", "--workers", "1", "--quiet"]) == 0
    assert len(records(out)) == 4
    assert cli.main(["report", str(out), "--anchor", "jpeg-420"]) == 0
    assert (out / "report.html").exists()
    assert cli.main(["bench", "--codecs", "nope", "--images", str(images), "--out", str(out)]) == 1
    assert "unknown codec" in capsys.readouterr().err
    assert cli.main(["bench", "--codecs", "png", "--images", str(tmp_path / "none"), "--out", str(out)]) == 1
    assert cli.main(["bench", "--codecs", "png", "--images", str(images), "--out", str(out),
                     "--points", "bad"]) == 1


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--disable-quic"]


def test_report_renders_in_headless_chromium(bench_folder, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the report test")
        pytest.skip("chromium is not installed")
    page = report.write(bench_folder, anchor="jpeg2000", out=tmp_path / "r")
    profile = tmp_path / "profile"
    url = page.resolve().as_uri()
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={shot}",
                    "--window-size=1200,1800", url], check=True, capture_output=True, timeout=120)
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.std() > 10                       # not blank
    assert (pixels < 128).mean() > 0.01            # plot lines and text drawn
    dom = subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert dom.count("<svg") >= 2
    bd_table = dom[dom.index('id="bd-table"'):]
    bd_table = bd_table[:bd_table.index("</table>")]
    assert bd_table.count('<tr data-group="classic">') == 2          # jpeg-420, webp
    assert "jpeg-420" in bd_table and "webp" in bd_table
    speed = dom[dom.index('id="speed-table"'):]
    assert speed[:speed.index("</table>")].count("<tr data-group=") == 4


def test_report_ignores_records_of_an_older_key_scheme(bench_folder, tmp_path):
    folder = tmp_path / "oldkeys"
    shutil.copytree(bench_folder, folder)
    with open(folder / RECORDS, "a") as handle:
        for row in records(folder):
            handle.write(json.dumps({**row, "key": "0" * 32, "psnr": 99.0}) + "\n")
    codecs, _ = report.load(folder)
    assert sum(len(c.records) for c in codecs.values()) == len(records(bench_folder))
    assert all(r["psnr"] != 99.0 for c in codecs.values() for r in c.records)


def test_report_ignores_records_of_an_older_identity(bench_folder, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(bench_folder, folder)
    stale = [{**r, "identity": "webp/libwebp 0.1", "psnr": 99.0} for r in records(folder) if r["codec"] == "webp"]
    for row in stale:
        row["key"] = Job("webp", json.dumps(row["params"], sort_keys=True), row["image"], row["image_sha256"],
                         row["identity"]).key
    with open(folder / RECORDS, "a") as handle:
        for row in stale:
            handle.write(json.dumps(row) + "\n")
    codecs, _ = report.load(folder)
    assert all(r["psnr"] != 99.0 for r in codecs["webp"].records)
    assert len(codecs["webp"].records) == 4


def test_exact_reproduction_by_a_lossy_codec_stays_off_the_curve():
    rows = [{"image": "a", "params": {"q": 1}, "bpp": 1.0, "psnr": 30.0, "ms_ssim": 0.9},
            {"image": "a", "params": {"q": 2}, "bpp": 9.0, "psnr": None, "ms_ssim": 1.0}]
    points = report.averaged_curve(report.CodecResults("x", False, rows), {"a"})
    assert [p.psnr for p in points] == [30.0, None]
    assert report._curve(points, "psnr") == [(1.0, 30.0)]


def test_identical_images_under_two_names_are_both_measured(tmp_path, photo):
    folder = tmp_path / "twins"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        Image.fromarray(photo[:176, :200]).save(folder / name)
    summary = run_bench(["jpeg-420"], folder, tmp_path / "out", points=POINTS, progress=False)
    assert summary.computed == 4
    assert {r["image"] for r in records(tmp_path / "out")} == {"a.png", "b.png"}


def test_report_without_matplotlib_says_how_to_install_it(bench_folder, tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(BenchError, match=r"latentpress\[bench\]"):
        report.write(bench_folder, anchor="jpeg2000", out=tmp_path)


def test_codec_variants_run_as_codecs_of_their_own(photo):
    from latentpress.bench.codecs import all_bench_codecs, bench_codec
    assert {"overfit-fast", "overfit-medium", "overfit-slow"} <= set(all_bench_codecs())
    fast, medium = bench_codec("overfit-fast"), bench_codec("overfit-medium")
    assert fast.identity() != medium.identity() and fast.points == medium.points
    data = fast.encode(np.ascontiguousarray(photo[:24, :40]), {"quality": 40, "iterations": 2})
    header = latentpress.read_info(data)
    assert header.codec == "overfit" and header.params["preset"] == "fast"
    assert fast.decode(data).shape == (24, 40, 3)


def test_a_codec_missing_images_does_not_shrink_the_comparison(bench_folder, tmp_path):
    """A sweep under way (one codec on fewer images) gets per-image BD-rates only; the
    averaged curves of the others keep every image."""
    folder = tmp_path / "partial"
    shutil.copytree(bench_folder, folder)
    before = report.build(folder, "jpeg2000")
    records = [json.loads(line) for line in (folder / "records.jsonl").read_text().splitlines()]
    first_image = sorted(before.images)[0]
    extra = []
    for record in records:
        if record["codec"] == "webp" and record["image"] == first_image:
            clone = {**record, "codec": "webp-partial"}
            clone["key"] = Job(clone["codec"], json.dumps(clone["params"], sort_keys=True), clone["image"],
                               clone["image_sha256"], clone["identity"]).key
            extra.append(json.dumps(clone))
    with open(folder / "records.jsonl", "a") as handle:
        handle.write("\n".join(extra) + "\n")
    after = report.build(folder, "jpeg2000")
    assert after.images == before.images and after.curves["webp"] == before.curves["webp"]
    assert after.curves["webp-partial"] == []
    row = next(r for r in after.bd_vs_anchor if r["codec"] == "webp-partial")
    assert row["psnr_avg_curve"] is None and row["psnr_images"] == 1
