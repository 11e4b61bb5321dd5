"""report.html as a person reads it: rendered in headless Chromium at 1400 px (no
sideways scrolling, every curve drawn in a style of its own, groups shown and hidden,
legends beside the plots), and the parts of the report that say where the numbers come
from (machines, commands, published anchors)."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from latentpress.bench import anchors as published
from latentpress.bench import groups, report
from latentpress.bench.run import BenchError

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT / "results" / "kodak"
ANCHORS = ROOT / "results" / "anchors"
WIDTH = 1400
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars"]

# Runs in the page after its own script; writes what it measured into <pre id="lp-test">.
PROBE = r"""
<pre id="lp-test"></pre><script>
(function () {
  function box(e) { var r = e.getBoundingClientRect(); return {left: r.left, right: r.right, top: r.top, bottom: r.bottom}; }
  function shown(e) { return getComputedStyle(e).display !== "none"; }
  var out = {innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
             bodyScrollWidth: document.body.scrollWidth, tables: [], plots: {}, toggles: {}, legendClick: null};
  document.querySelectorAll("table").forEach(function (t) { out.tables.push({id: t.id, right: box(t).right}); });
  var curves = JSON.parse(document.getElementById("curve-index").textContent);
  out.curves = curves;
  ["psnr", "ms_ssim_db"].forEach(function (q) {
    var figure = document.getElementById("plot-" + q), styles = [];
    figure.querySelectorAll('g[id^="' + q + '-curve-"]').forEach(function (g) {
      var line = g.querySelector(":scope > path"), use = g.querySelector("use");
      var marker = use ? document.querySelector(use.getAttribute("xlink:href") || use.getAttribute("href")) : null;
      var styled = line || use;
      styles.push({id: g.id, color: getComputedStyle(styled).stroke,
                   dash: line ? getComputedStyle(line).strokeDasharray : "no line",
                   width: line ? getComputedStyle(line).strokeWidth : "",
                   marker: marker ? marker.getAttribute("d").replace(/\s+/g, " ") : "none",
                   fill: use ? getComputedStyle(use).fill : "none"});
    });
    var axes = figure.querySelector("#patch_2"), legend = figure.querySelector("#legend_1");
    out.plots[q] = {styles: styles, axes: box(axes), legend: box(legend), width: box(figure.querySelector("svg")).right};
  });
  function visible() {
    var v = {};
    curves.forEach(function (c, i) { var e = document.getElementById("psnr-curve-" + i); if (e) v[i] = shown(e); });
    return v;
  }
  document.querySelectorAll("input[data-group]").forEach(function (boxEl) {
    boxEl.click();
    var after = visible();
    boxEl.click();
    out.toggles[boxEl.dataset.group] = {hidden: after, restored: visible(), checked: boxEl.checked};
  });
  var first = Object.keys(visible())[0], text = document.getElementById("psnr-legend-" + first + "-text");
  if (text) {
    text.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    var hiddenOne = visible();
    text.dispatchEvent(new MouseEvent("click", {bubbles: true}));
    out.legendClick = {index: first, hidden: hiddenOne, restored: visible()};
  }
  document.getElementById("lp-test").textContent = JSON.stringify(out);
})();
</script>
"""


def _chromium() -> str:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium for the report tests")
        pytest.skip("chromium is not installed")
    return browser


def render(page: Path, tmp_path: Path, screenshot: Path | None = None) -> dict:
    """Open ``page`` at 1400 px in headless Chromium; what the probe measured."""
    browser = _chromium()
    probe = tmp_path / "probe.html"            # the page is self-contained
    probe.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    profile = tmp_path / "chromium-profile"
    dom = subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--window-size={WIDTH},1000",
                          "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         check=True, capture_output=True, text=True, timeout=180).stdout
    found = re.search(r'<pre id="lp-test">(.*?)</pre>', dom, re.DOTALL)
    assert found and found.group(1), "the probe script did not run"
    measured = json.loads(html.unescape(found.group(1)))
    if screenshot is not None:
        subprocess.run([browser, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
                        f"--window-size={WIDTH},2400", page.as_uri()], check=True, capture_output=True, timeout=180)
    return measured


def check_page(measured: dict) -> None:
    """What every report must satisfy at 1400 px."""
    assert measured["innerWidth"] == WIDTH
    assert measured["scrollWidth"] <= WIDTH, "the page scrolls sideways"
    for table in measured["tables"]:
        assert table["right"] <= WIDTH, f"table {table['id']} is wider than the window"
    curves = measured["curves"]
    for quality, plot in measured["plots"].items():
        assert plot["width"] <= WIDTH
        # the legend is beside the plotting area, not on the curves
        assert plot["legend"]["left"] >= plot["axes"]["right"], quality
        styles = [(s["color"], s["dash"], s["marker"], s["fill"]) for s in plot["styles"]]
        assert len(set(styles)) == len(styles), f"two curves of the {quality} plot share a style"
        by_group: dict[str, list[tuple[str, str]]] = {}
        for s in plot["styles"]:
            group = curves[int(s["id"].rsplit("-", 1)[1])]["group"]
            by_group.setdefault(group, []).append((s["color"], s["marker"]))
        for group, pairs in by_group.items():
            assert len({c for c, _ in pairs}) == len(pairs), f"two {group} curves share a colour ({quality})"
            assert len({m for _, m in pairs}) == len(pairs), f"two {group} curves share a marker ({quality})"
    for group, toggle in measured["toggles"].items():
        for index, visible in toggle["hidden"].items():
            assert visible == (curves[int(index)]["group"] != group), (group, curves[int(index)]["name"])
        assert all(toggle["restored"].values()) and toggle["checked"]
    click = measured["legendClick"]
    assert click is not None
    assert [i for i, v in click["hidden"].items() if not v] == [click["index"]]
    assert all(click["restored"].values())


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"<svg.*?</svg>|<script.*?</script>", "", page, flags=re.DOTALL)))


@pytest.mark.slow
def test_the_committed_kodak_report_reads_at_1400_px(tmp_path):
    page = KODAK / "report.html"
    if not page.exists():
        pytest.skip("results/kodak not committed")
    shot = Path(os.environ.get("LATENTPRESS_SCREENSHOTS", tmp_path)) / "kodak-report-1400.png"
    measured = render(page, tmp_path, screenshot=shot)
    check_page(measured)
    assert {c["group"] for c in measured["curves"]} == set(groups.GROUPS)
    assert len(measured["plots"]["psnr"]["styles"]) == len(measured["curves"])
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    assert pixels.shape[1] == WIDTH and pixels.std() > 10

    text = _text(page.read_text())
    codecs, _ = report.load(KODAK)                      # the records the report uses
    for machine in {r["machine"] for c in codecs.values() for r in c.records}:
        assert machine in text, f"machine {machine!r} not named"
    for run in json.loads((KODAK / "commands.json").read_text())["runs"]:
        assert run["command"] in text
        if run["script"]:
            assert run["script"] in text
    assert "published, not measured here" in text.lower()
    for line in json.loads((ANCHORS / "anchors.json").read_text())["anchors"]:
        assert line["label"] in text and line["source"] in text
    for table in re.findall(r"<table.*?</table>", page.read_text(), re.DOTALL):
        for row in re.findall(r'<tr data-group="[^"]*">(.*?)</tr>', table, re.DOTALL):
            cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
            assert any(c not in ("—", "0") for c in cells[1:]), f"a row of dashes: {cells}"


@pytest.fixture(scope="module")
def small_folder(tmp_path_factory):
    """A bench folder of three classic codecs and one of ours, from committed Kodak
    records of three images (no anchors beside it, no commands.json)."""
    folder = tmp_path_factory.mktemp("small") / "bench"
    folder.mkdir()
    keep = {"kodim01.png", "kodim02.png", "kodim03.png"}
    codecs = {"jpeg2000", "webp", "jpeg-420", "overfit-fast", "cnn-ae", "png"}
    lines = [line for line in (KODAK / "records.jsonl").read_text().splitlines()
             if json.loads(line)["image"] in keep and json.loads(line)["codec"] in codecs]
    (folder / "records.jsonl").write_text("\n".join(lines) + "\n")
    meta = json.loads((KODAK / "meta.json").read_text())
    meta["codecs"] = {n: c for n, c in meta["codecs"].items() if n in codecs}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def test_a_small_report_reads_at_1400_px(small_folder, tmp_path):
    page = report.write(small_folder, anchor="jpeg2000", out=tmp_path / "r")
    measured = render(page, tmp_path)
    check_page(measured)
    assert {c["group"] for c in measured["curves"]} == {"ours", "learned", "classic"}
    text = _text(page.read_text())
    codecs, _ = report.load(small_folder)
    machines = {str(r.get("machine", "unknown")) for c in codecs.values() for r in c.records}
    assert len(machines) >= 2                                      # overfit-fast measured on another host
    assert all(m in text for m in machines)
    assert json.loads((KODAK / "meta.json").read_text())["command"] in text
    assert "No recorded command names" in text                    # only the last command is known
    assert 'id="bd-published"' not in page.read_text()


def test_fixed_rate_codecs_leave_the_bd_tables_with_the_reason(small_folder, tmp_path):
    report.write(small_folder, anchor="jpeg2000", out=tmp_path)
    markdown = (tmp_path / "tables.md").read_text()
    bd = markdown.split("## Fixed-rate")[0]
    assert "| cnn-ae |" not in bd and "cnn-ae: one rate point per image" in bd
    fixed = markdown.split("## Fixed-rate")[1].split("##")[0]
    assert "| cnn-ae | learned | default |" in fixed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert any(r["codec"] == "cnn-ae" for r in summary["bd_vs_anchor"])   # the numbers keep every row
    assert [f["codec"] for f in summary["fixed_rate"]] == ["cnn-ae"]
    page = (tmp_path / "report.html").read_text()
    matrix = page[page.index('id="bd-matrix"'):]
    assert "cnn-ae" not in matrix[:matrix.index("</table>")]


def test_published_anchors_need_the_same_images(small_folder, tmp_path):
    built = report.build(small_folder, "jpeg2000", anchors=ANCHORS)
    assert built.published == [] and "not the 24 images" in built.published_note
    with pytest.raises(BenchError, match="anchors.json"):
        report.build(small_folder, "jpeg2000", anchors=tmp_path)


def test_published_anchors_of_the_committed_kodak_results():
    built = report.build(KODAK, "jpeg2000")
    keys = [a.key for a in built.published]
    assert keys == ["vtm", "hm", "av1", "bpg", "jpeg2000-compressai", "elic", "coolchic-5.0", "coolchic-4.2"]
    ours_vs = {r["codec"]: r["vs"] for r in built.bd_vs_published}
    # our JPEG 2000 (OpenJPEG) and CompressAI's (ffmpeg) agree to about a percent
    assert abs(ours_vs["jpeg2000"]["jpeg2000-compressai"]["psnr_avg_curve"]) < 3
    assert ours_vs["overfit-slow"]["coolchic-5.0"]["psnr_images"] == 24
    assert "cnn-ae" not in ours_vs                        # one point: no curve to compare


def test_cool_chic_curve_is_the_mean_over_images_per_lambda():
    anchors, images = published.load_published(ANCHORS)
    cool = next(a for a in anchors if a.key == "coolchic-5.0")
    assert len(cool.curves["psnr"]) == 5 and len(cool.per_image) == 24 == len(images)
    rows = [line.split("\t") for line in (ANCHORS / "kodak-coolchic-v5.0.tsv").read_text().splitlines()[1:]]
    at = [r for r in rows if r[0] == "0.001"]
    assert cool.curves["psnr"][2] == pytest.approx((sum(float(r[5]) for r in at) / 24,
                                                    sum(float(r[4]) for r in at) / 24))
    assert "ms_ssim_db" not in cool.curves
    vtm = next(a for a in anchors if a.key == "vtm")
    assert len(vtm.curves["psnr"]) == len(vtm.curves["ms_ssim_db"]) == 8


def test_every_curve_gets_its_own_style():
    members = {"ours": [f"o{i}" for i in range(6)], "learned": [f"l{i}" for i in range(11)],
               "classic": [f"c{i}" for i in range(11)], "published": [f"p{i}" for i in range(11)]}
    made = groups.styles(members, single_point={"l3"}, emphasised="c2")
    keys = [(s.color, s.marker, s.linestyle, s.hollow) for s in made.values()]
    assert len(set(keys)) == len(keys) == 39
    for names in members.values():
        assert len({made[n].color for n in names}) == len({made[n].marker for n in names}) == len(names)
    assert made["l3"].linestyle == "none" and made["c2"].linewidth > made["c1"].linewidth
    with pytest.raises(ValueError):
        groups.styles({"ours": [str(i) for i in range(12)]})


def test_codec_groups():
    assert [groups.group_of(n, "lpx") for n in ("overfit-slow", "factorized", "lossless", "mlp-lossless")] \
        == ["ours"] * 4
    assert {groups.group_of(n, "lpx") for n in ("cae-range", "cnn-rnn-ae", "gan-ae", "block-cnn", "dense-mnist")} \
        == {"learned"}
    assert groups.group_of("jpegxl", "classic") == "classic"


def test_commands_name_their_codecs_with_groups_expanded():
    built = report.build(KODAK, "jpeg2000")
    first = built.commands[1]                         # factorized,classic-lossy,classic-lossless
    assert first["script"] == "benchmarks/kodak.sh"
    assert {"factorized", "jpeg2000", "avif", "png", "jpegxl-lossless-e9"} <= set(first["codecs"])
    assert built.uncommanded == []
    assert next(r for r in built.commands if r["last"])["command"] == json.loads(
        (KODAK / "meta.json").read_text())["command"]
    codecs, _ = report.load(KODAK)
    assert {m["machine"] for m in built.machines} == {str(r.get("machine", "unknown")) for c in codecs.values()
                                                      for r in c.records}
