"""Turn a bench folder (records.jsonl + meta.json) into plots, tables and report.html.

Averaging, as the field does it:

- *Averaged curve*: for each codec setting, bpp, PSNR and MS-SSIM are averaged over the
  images (the usual "Kodak curve"); BD figures computed on these curves are labelled
  "avg curve".
- *Per image*: BD-rate is computed on each image's own curve and the results averaged;
  labelled "per image" with the number of images where the curves overlapped.

BD figures use piecewise cubic (pchip) interpolation on log-rate. Points of a curve
that are dominated (higher rate, not higher quality than a cheaper point) are dropped
before interpolation. MS-SSIM is used in dB: −10·log10(1 − MS-SSIM).

The output is deterministic (no timestamps, fixed SVG ids), so rerunning
``latentpress report`` on committed results reproduces the committed report.
"""

from __future__ import annotations

import html
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentpress.bench.run import META, RECORDS, BenchError, Job
from latentpress.errors import ParameterError
from latentpress.metrics import bd_rate

_QUALITY_KEYS = ("psnr", "ms_ssim_db")


@dataclass
class Point:
    params: dict[str, Any]
    bpp: float
    psnr: float | None
    ms_ssim_db: float | None


@dataclass
class CodecResults:
    name: str
    lossless: bool
    records: list[dict[str, Any]] = field(default_factory=list)


def ms_ssim_db(value: float | None) -> float | None:
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def load(folder: str | Path) -> tuple[dict[str, CodecResults], dict[str, Any]]:
    folder = Path(folder)
    path = folder / RECORDS
    if not path.exists():
        raise BenchError(f"{folder}: no {RECORDS} (run `latentpress bench --out {folder}` first)")
    meta = json.loads((folder / META).read_text()) if (folder / META).exists() else {}
    latest: dict[str, dict[str, Any]] = {}
    with open(path) as handle:
        for line in handle:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            latest[record["key"]] = record
    codecs: dict[str, CodecResults] = {}
    for record in latest.values():
        expected = Job(record["codec"], json.dumps(record["params"], sort_keys=True), record["image"],
                       record["image_sha256"], record["identity"]).key
        if record["key"] != expected:
            continue          # written under an older cache-key scheme
        current = meta.get("codecs", {}).get(record["codec"], {}).get("identity")
        if current is not None and record.get("identity") != current:
            continue          # made by an older library or model than the last run used
        lossless = meta.get("codecs", {}).get(record["codec"], {}).get("lossless", record["lossless"])
        codecs.setdefault(record["codec"], CodecResults(record["codec"], lossless)).records.append(record)
    if not codecs:
        raise BenchError(f"{path} holds no records")
    return dict(sorted(codecs.items())), meta


def _params_key(record: dict[str, Any]) -> str:
    return json.dumps(record["params"], sort_keys=True)


def _monotone(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sort by rate and drop points whose quality does not improve on a cheaper one."""
    kept: list[tuple[float, float]] = []
    for rate, quality in sorted(points):
        if math.isfinite(quality) and (not kept or quality > kept[-1][1]) and rate > 0:
            kept.append((rate, quality))
    return kept


def averaged_curve(codec: CodecResults, images: set[str]) -> list[Point]:
    by_params: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in codec.records:
        if record["image"] in images:
            by_params[_params_key(record)].append(record)
    points = []
    for key, rows in by_params.items():
        if {r["image"] for r in rows} != images:
            continue                      # incomplete setting: not averaged
        ms = [ms_ssim_db(r["ms_ssim"]) for r in rows]
        psnrs = [r["psnr"] for r in rows]
        # A lossy codec may reproduce an image exactly at its top setting (psnr null):
        # that setting has no finite average quality and stays off the curve.
        points.append(Point(json.loads(key), float(np.mean([r["bpp"] for r in rows])),
                            None if any(v is None for v in psnrs) else float(np.mean(psnrs)),
                            None if any(v is None or not math.isfinite(v) for v in ms) else float(np.mean(ms))))
    return sorted(points, key=lambda p: p.bpp)


def _bd(anchor: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    anchor, test = _monotone(anchor), _monotone(test)
    if len(anchor) < 2 or len(test) < 2:
        return None
    try:
        return bd_rate([r for r, _ in anchor], [q for _, q in anchor], [r for r, _ in test], [q for _, q in test])
    except ParameterError:
        return None                       # curves do not overlap


def _curve(points: list[Point], quality: str) -> list[tuple[float, float]]:
    return [(p.bpp, getattr(p, quality)) for p in points if getattr(p, quality) is not None]


def _per_image(codec: CodecResults, anchor: CodecResults, images: set[str], quality: str) -> tuple[float | None, int]:
    def image_curve(results: CodecResults, image: str) -> list[tuple[float, float]]:
        rows = [r for r in results.records if r["image"] == image]
        if quality == "psnr":
            return [(r["bpp"], r["psnr"]) for r in rows if r["psnr"] is not None]
        return [(r["bpp"], ms_ssim_db(r["ms_ssim"])) for r in rows if r["ms_ssim"] is not None]

    values = [_bd(image_curve(anchor, image), image_curve(codec, image)) for image in sorted(images)]
    values = [v for v in values if v is not None]
    return (float(np.mean(values)) if values else None), len(values)


@dataclass
class Report:
    images: list[str]
    anchor: str
    curves: dict[str, list[Point]]
    bd_vs_anchor: list[dict[str, Any]]
    bd_matrix: dict[str, dict[str, float | None]]          # PSNR, avg curve: [anchor][codec]
    bd_matrix_ms_ssim: dict[str, dict[str, float | None]]  # MS-SSIM dB, avg curve
    speed: list[dict[str, Any]]
    lossless: list[dict[str, Any]]
    meta: dict[str, Any]


def build(folder: str | Path, anchor: str) -> Report:
    codecs, meta = load(folder)
    lossy = {n: c for n, c in codecs.items() if not c.lossless}
    if anchor not in lossy:
        raise BenchError(f"anchor {anchor!r} is not a lossy codec of this bench "
                         f"(have: {', '.join(lossy) or 'none'})")
    # The averaged curves use the images every complete codec has; a codec that lacks
    # some of the anchor's images (a sweep still under way) gets no averaged curve — it
    # would shrink everyone's comparison — only per-image BD-rates on the images it has.
    def covered(codec: CodecResults) -> set[str]:
        return {r["image"] for r in codec.records}
    full = covered(lossy[anchor])
    partial = {name for name, c in lossy.items() if not full <= covered(c)}
    images = set.intersection(*(covered(c) for name, c in lossy.items() if name not in partial))
    if not images:
        raise BenchError("the lossy codecs have no image in common")
    curves = {name: ([] if name in partial else averaged_curve(c, images)) for name, c in lossy.items()}
    bd_rows = []
    for name, codec in lossy.items():
        if name == anchor:
            continue
        row: dict[str, Any] = {"codec": name}
        for quality in _QUALITY_KEYS:
            row[f"{quality}_avg_curve"] = _bd(_curve(curves[anchor], quality), _curve(curves[name], quality))
            row[f"{quality}_per_image"], row[f"{quality}_images"] = _per_image(
                codec, lossy[anchor], covered(codec) & full if name in partial else images, quality)
        bd_rows.append(row)
    def matrix_for(quality: str) -> dict[str, dict[str, float | None]]:
        return {a: {b: (0.0 if a == b else _bd(_curve(curves[a], quality), _curve(curves[b], quality)))
                    for b in lossy} for a in lossy}
    speed = []
    for name, codec in codecs.items():
        megapixels = np.array([r["width"] * r["height"] / 1e6 for r in codec.records])
        encode = np.array([r["encode_s"] for r in codec.records])
        decode = np.array([r["decode_s"] for r in codec.records])
        speed.append({
            "codec": name, "jobs": len(codec.records),
            "encode_s_median": float(np.median(encode)), "decode_s_median": float(np.median(decode)),
            "encode_mp_per_s": float(np.median(megapixels / np.maximum(encode, 1e-9))),
            "decode_mp_per_s": float(np.median(megapixels / np.maximum(decode, 1e-9))),
            "encode_peak_rss_mb_max": max(r["encode_peak_rss_mb"] for r in codec.records),
            "decode_peak_rss_mb_max": max(r["decode_peak_rss_mb"] for r in codec.records),
        })
    lossless_rows = []
    for name, codec in codecs.items():
        if not codec.lossless:
            continue
        rows = [r for r in codec.records]
        lossless_rows.append({
            "codec": name, "images": len({r["image"] for r in rows}),
            "bpp_mean": float(np.mean([r["bpp"] for r in rows])),
            "exact": all(r["lossless"] for r in rows),
            "encode_s_median": float(np.median([r["encode_s"] for r in rows])),
            "decode_s_median": float(np.median([r["decode_s"] for r in rows])),
            "encode_peak_rss_mb_max": max(r["encode_peak_rss_mb"] for r in rows),
            "decode_peak_rss_mb_max": max(r["decode_peak_rss_mb"] for r in rows),
        })
    return Report(sorted(images), anchor, curves, bd_rows, matrix_for("psnr"), matrix_for("ms_ssim_db"),
                  speed, lossless_rows, meta)


# Output ------------------------------------------------------------------------------

def _plot(report: Report, quality: str, out: Path) -> str:
    try:
        import matplotlib
    except ImportError:
        raise BenchError("latentpress report draws its plots with matplotlib: "
                         "pip install 'latentpress[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "latentpress"
    figure, axes = plt.subplots(figsize=(7.5, 5.2), dpi=100)
    for name, points in report.curves.items():
        curve = _curve(points, quality)
        if not curve:
            continue
        style = "-o" if name in report.meta.get("codecs", {}) and report.meta["codecs"][name].get("family") == "lpx" else "-."
        axes.plot([r for r, _ in curve], [q for _, q in curve], style, markersize=3,
                  linewidth=2.2 if name == report.anchor else 1.4, label=name)
    axes.set_xlabel("bits per pixel (whole file)")
    axes.set_ylabel("PSNR-RGB (dB)" if quality == "psnr" else "MS-SSIM (dB)")
    axes.set_xlim(0, 3.2)
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    axes.set_title(f"{'PSNR' if quality == 'psnr' else 'MS-SSIM'} vs rate, mean of {len(report.images)} images")
    figure.tight_layout()
    stem = out / f"rd_{quality}"
    figure.savefig(stem.with_suffix(".png"), metadata={"Software": None})
    figure.savefig(stem.with_suffix(".svg"), metadata={"Date": None, "Creator": None})
    plt.close(figure)
    svg = stem.with_suffix(".svg").read_text()
    return svg[svg.index("<svg"):]


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "—" if value is None else f"{value:+.{digits}f}{suffix}" if suffix == "%" else f"{value:.{digits}f}{suffix}"


def _table(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def tables(report: Report) -> dict[str, tuple[list[str], list[list[str]]]]:
    bd = (["codec", "BD-rate PSNR (avg curve)", "BD-rate PSNR (per image)", "images",
           "BD-rate MS-SSIM (avg curve)", "BD-rate MS-SSIM (per image)", "images"],
          [[r["codec"], _fmt(r["psnr_avg_curve"], 1, "%"), _fmt(r["psnr_per_image"], 1, "%"), str(r["psnr_images"]),
            _fmt(r["ms_ssim_db_avg_curve"], 1, "%"), _fmt(r["ms_ssim_db_per_image"], 1, "%"), str(r["ms_ssim_db_images"])]
           for r in report.bd_vs_anchor])
    names = list(report.bd_matrix)

    def matrix(values: dict[str, dict[str, float | None]]) -> tuple[list[str], list[list[str]]]:
        return (["codec \\ anchor"] + names,
                [[b] + [_fmt(values[a][b], 1, "%") for a in names] for b in names])
    speed = (["codec", "jobs", "encode s (median)", "decode s (median)", "encode MP/s", "decode MP/s",
              "encode peak RSS MB", "decode peak RSS MB"],
             [[s["codec"], str(s["jobs"]), f"{s['encode_s_median']:.3g}", f"{s['decode_s_median']:.3g}",
               f"{s['encode_mp_per_s']:.3g}", f"{s['decode_mp_per_s']:.3g}",
               f"{s['encode_peak_rss_mb_max']:.0f}", f"{s['decode_peak_rss_mb_max']:.0f}"] for s in report.speed])
    lossless = (["codec", "images", "mean bpp", "exact", "encode s (median)",
                 "decode s (median)", "encode peak RSS MB", "decode peak RSS MB"],
                [[r["codec"], str(r["images"]), f"{r['bpp_mean']:.3f}", "yes" if r["exact"] else "NO",
                  f"{r['encode_s_median']:.3g}", f"{r['decode_s_median']:.3g}", f"{r['encode_peak_rss_mb_max']:.0f}", f"{r['decode_peak_rss_mb_max']:.0f}"]
                 for r in report.lossless])
    return {"bd": bd, "matrix": matrix(report.bd_matrix), "matrix_ms_ssim": matrix(report.bd_matrix_ms_ssim),
            "speed": speed, "lossless": lossless}


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


_CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}th{background:#f3f3f3}.plots{display:flex;flex-wrap:wrap;gap:1em}
.plots svg{max-width:540px;height:auto}code{background:#f3f3f3;padding:1px 4px}"""


def write(folder: str | Path, anchor: str = "jpeg2000", out: str | Path | None = None) -> Path:
    report = build(folder, anchor)
    out = Path(out or folder)
    out.mkdir(parents=True, exist_ok=True)
    svgs = [_plot(report, quality, out) for quality in _QUALITY_KEYS]
    made = tables(report)
    summary = {"anchor": anchor, "images": report.images,
               "curves": {n: [p.__dict__ for p in pts] for n, pts in report.curves.items()},
               "bd_vs_anchor": report.bd_vs_anchor, "bd_matrix_psnr": report.bd_matrix,
               "bd_matrix_ms_ssim_db": report.bd_matrix_ms_ssim,
               "speed": report.speed, "lossless": report.lossless}
    (out / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True))
    markdown = [f"## BD-rate against {anchor} (negative = fewer bits at equal quality)",
                markdown_table(*made["bd"]), "", "## Speed and memory per image", markdown_table(*made["speed"])]
    if report.lossless:
        markdown += ["", "## Lossless", markdown_table(*made["lossless"])]
    (out / "tables.md").write_text("\n".join(markdown) + "\n")
    meta = report.meta
    libraries = [[n, c.get("library", "")] for n, c in sorted(meta.get("codecs", {}).items())]
    page = f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>latentpress bench report</title>
<style>{_CSS}</style></head><body>
<h1>latentpress bench report</h1>
<p>{len(report.images)} images; anchor <code>{html.escape(anchor)}</code>; machine: {html.escape(str(meta.get('machine', 'unknown')))};
{meta.get('workers', '?')} worker process(es). Command: <code>{html.escape(str(meta.get('command', '')))}</code></p>
<h2>Rate-distortion</h2><div class="plots">{''.join(svgs)}</div>
<h2>BD-rate against {html.escape(anchor)}</h2>
<p>Negative: the codec needs that many percent fewer bits than the anchor at equal quality. "avg curve": on the
curve averaged over images; "per image": mean of per-image BD-rates over the images where the curves overlap.</p>
{_table(*made['bd'], 'bd-table')}
<h2>BD-rate of every codec (rows) against every other (columns), avg curve</h2>
<h3>PSNR</h3>{_table(*made['matrix'], 'bd-matrix')}
<h3>MS-SSIM (dB)</h3>{_table(*made['matrix_ms_ssim'], 'bd-matrix-ms-ssim')}
<h2>Speed and memory</h2><p>Per image, over all rate points; peak RSS is that of the worker process during the call.</p>
{_table(*made['speed'], 'speed-table')}
{('<h2>Lossless</h2>' + _table(*made['lossless'], 'lossless-table')) if report.lossless else ''}
<h2>Libraries</h2>{_table(['codec', 'library'], libraries, 'libraries')}
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
