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

Besides the numbers, the report says where they come from: the machine of every record
(records.jsonl) and the bench commands that wrote the folder (``commands.json`` where
kept, else meta.json's last command). Curves fall in four groups (bench.groups: ours,
learned, classic, published) with one distinct style each. Published results of other
projects (an ``anchors`` folder, bench.anchors; ``results/anchors`` beside
``results/kodak``) are drawn as reference curves and compared by BD-rate, marked as
published, not measured here, when the bench's images are the images they are over.

The output is deterministic (no timestamps, fixed SVG ids), so rerunning
``latentpress report`` on committed results reproduces the committed report; the page
itself is made by bench.page.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from latentpress.bench.anchors import MANIFEST, Published, applies, load_published
from latentpress.bench.groups import GROUP_TITLES, GROUPS, group_of, styles
from latentpress.bench.run import META, RECORDS, BenchError, Job
from latentpress.errors import ParameterError
from latentpress.metrics import bd_rate

_QUALITY_KEYS = ("psnr", "ms_ssim_db")
COMMANDS = "commands.json"       # the bench commands that wrote a folder (optional, kept by hand)
ANCHORS_FOLDER = "anchors"       # published results, looked for beside the bench folder


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
    groups: dict[str, str] = field(default_factory=dict)                # codec → group
    machines: list[dict[str, Any]] = field(default_factory=list)        # label, machine, codecs
    commands: list[dict[str, Any]] = field(default_factory=list)        # the bench runs that wrote the folder
    uncommanded: list[str] = field(default_factory=list)                # codecs no recorded command names
    fixed_rate: list[dict[str, Any]] = field(default_factory=list)      # one-point codecs
    published: list[Published] = field(default_factory=list)
    published_note: str = ""                                            # where they come from, or why absent
    bd_vs_published: list[dict[str, Any]] = field(default_factory=list)


def _machines(codecs: dict[str, CodecResults]) -> list[dict[str, Any]]:
    by_machine: dict[str, dict[str, int]] = defaultdict(dict)
    for name, codec in codecs.items():
        for record in codec.records:
            machine = str(record.get("machine", "unknown"))
            by_machine[machine][name] = by_machine[machine].get(name, 0) + 1
    return [{"label": chr(ord("A") + index), "machine": machine, "codecs": dict(sorted(counts.items()))}
            for index, (machine, counts) in enumerate(sorted(by_machine.items()))]


def _named_codecs(command: str, meta: dict[str, Any]) -> list[str]:
    """The codecs a recorded ``latentpress bench`` command names, groups expanded with
    meta.json's families (the codecs of this folder only)."""
    words = command.split()
    if "--codecs" not in words or words.index("--codecs") + 1 >= len(words):
        return []
    families = meta.get("codecs", {})
    names: list[str] = []
    for name in words[words.index("--codecs") + 1].split(","):
        if name in ("classic-lossy", "classic-lossless"):
            lossless = name == "classic-lossless"
            expanded = [n for n, c in sorted(families.items())
                        if c.get("family") == "classic" and bool(c.get("lossless")) == lossless]
        else:
            expanded = [name]
        names += [n for n in expanded if n not in names]
    return names


def _commands(folder: Path, meta: dict[str, Any], codecs: dict[str, CodecResults]) -> tuple[list[dict[str, Any]], list[str]]:
    runs = []
    if (folder / COMMANDS).exists():
        runs = [dict(run) for run in json.loads((folder / COMMANDS).read_text())["runs"]]
    last = str(meta.get("command", ""))
    for run in runs:
        run["last"] = run["command"] == last
    if last and not any(run["last"] for run in runs):
        runs.append({"command": last, "machine": meta.get("machine"), "recorded": f"{META} (the last bench run)",
                     "script": None, "last": True})
    for run in runs:
        run["codecs"] = [n for n in _named_codecs(run["command"], meta) if n in codecs]
    named = {n for run in runs for n in run["codecs"]}
    return runs, [n for n in codecs if n not in named]


def _at_rate(curve: list[tuple[float, float]], rate: float) -> float | None:
    """The quality of ``curve`` at ``rate`` (pchip on log-rate), None outside its range."""
    from scipy.interpolate import PchipInterpolator

    kept = _monotone(curve)
    if len(kept) < 2 or not kept[0][0] <= rate <= kept[-1][0]:
        return None
    return float(PchipInterpolator(np.log([r for r, _ in kept]), [q for _, q in kept])(math.log(rate)))


def _published(anchors: str | Path | None, folder: Path, codecs: dict[str, CodecResults],
               images: set[str]) -> tuple[list[Published], str]:
    if anchors is None:
        anchors = folder.parent / ANCHORS_FOLDER
        if not (anchors / MANIFEST).exists():
            return [], ""
    anchors = Path(anchors)
    shown = os.path.relpath(anchors, folder) if anchors.is_absolute() == folder.is_absolute() else str(anchors)
    published, anchor_images = load_published(anchors)
    seen: dict[str, set[str]] = defaultdict(set)
    for codec in codecs.values():
        for record in codec.records:
            if record["image"] in images:
                seen[record["image"]].add(record["image_sha256"])
    why = applies(anchor_images, seen)
    if why:
        return [], f"The published curves of {shown} are not shown: {why}."
    return published, f"From {shown} (its README.md names each source)."


def _vs_published(name: str, codec: CodecResults, curve: list[Point], anchor: Published,
                  images: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for quality in _QUALITY_KEYS:
        if quality in anchor.curves:
            out[f"{quality}_avg_curve"] = _bd(anchor.curves[quality], _curve(curve, quality))
    if anchor.per_image:
        values = []
        for image in sorted(images & set(anchor.per_image)):
            ours = [(r["bpp"], r["psnr"]) for r in codec.records if r["image"] == image and r["psnr"] is not None]
            value = _bd(anchor.per_image[image], ours)
            if value is not None:
                values.append(value)
        out["psnr_per_image"] = float(np.mean(values)) if values else None
        out["psnr_images"] = len(values)
    return out


def build(folder: str | Path, anchor: str, anchors: str | Path | None = None) -> Report:
    """The report's numbers. ``anchors``: a folder of published results (anchors.json);
    None: ``../anchors`` beside ``folder`` when there is one."""
    folder = Path(folder)
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
    families = meta.get("codecs", {})
    groups = {name: group_of(name, families.get(name, {}).get(
        "family", "lpx" if str(codec.records[0].get("library", "")).startswith("latentpress") else "classic"))
        for name, codec in codecs.items()}
    fixed_rate = []
    for name, points in curves.items():
        if len(points) == 1:
            point = points[0]
            at_rate = _at_rate(_curve(curves[anchor], "psnr"), point.bpp)
            fixed_rate.append({"codec": name, "params": point.params, "bpp": point.bpp, "psnr": point.psnr,
                               "ms_ssim_db": point.ms_ssim_db, "anchor_psnr_at_rate": at_rate,
                               "delta_psnr": None if at_rate is None or point.psnr is None else point.psnr - at_rate})
    published, published_note = _published(anchors, folder, codecs, images)
    bd_published = []
    if published:
        for name, codec in lossy.items():
            if len(curves[name]) >= 2:
                bd_published.append({"codec": name, "vs": {a.key: _vs_published(name, codec, curves[name], a, images)
                                                           for a in published}})
    commands, uncommanded = _commands(folder, meta, codecs)
    return Report(sorted(images), anchor, curves, bd_rows, matrix_for("psnr"), matrix_for("ms_ssim_db"),
                  speed, lossless_rows, meta, groups, _machines(codecs), commands, uncommanded, fixed_rate,
                  published, published_note, bd_published)


# Output ------------------------------------------------------------------------------

def curve_index(report: Report) -> list[dict[str, str]]:
    """Every curve the plots draw, in drawing order: name, label, group, style."""
    drawn = {name: points for name, points in report.curves.items()
             if _curve(points, "psnr") or _curve(points, "ms_ssim_db")}
    members: dict[str, list[str]] = {g: [n for n in drawn if report.groups.get(n) == g] for g in GROUPS}
    members["published"] = [f"published:{a.key}" for a in report.published]
    single = {name for name, points in drawn.items() if len(points) == 1}
    made = styles(members, single, emphasised=report.anchor)
    labels = {f"published:{a.key}": a.label for a in report.published}
    return [{"name": name, "label": labels.get(name, name), "group": group, "style": made[name]}
            for group in GROUPS for name in members[group]]


def _quality_label(quality: str) -> str:
    return "PSNR-RGB (dB)" if quality == "psnr" else "MS-SSIM (dB)"


def _plot(report: Report, quality: str, out: Path) -> str:
    try:
        import matplotlib
    except ImportError:
        raise BenchError("latentpress report draws its plots with matplotlib: "
                         "pip install 'latentpress[bench]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    matplotlib.rcParams["svg.hashsalt"] = "latentpress"
    matplotlib.rcParams["svg.fonttype"] = "none"          # text as text: smaller, selectable
    published = {f"published:{a.key}": a for a in report.published}
    figure = plt.figure(figsize=(12.6, 6.2), dpi=100)
    axes = figure.add_axes((0.06, 0.09, 0.66, 0.84))
    handles, labels, ids = [], [], []
    for index, entry in enumerate(curve_index(report)):
        name, style = entry["name"], entry["style"]
        if name in published:
            curve = published[name].curves.get(quality, [])
        else:
            curve = _curve(report.curves[name], quality)
        if not curve:
            continue
        if entry["group"] not in [g for g, *_ in ids]:
            handles.append(Line2D([], [], linestyle="none"))
            labels.append(GROUP_TITLES[entry["group"]])
            ids.append((entry["group"], f"{quality}-legend-group-{entry['group']}"))
        line, = axes.plot([r for r, _ in curve], [q for _, q in curve], label=entry["label"], **style.plot_kwargs())
        line.set_gid(f"{quality}-curve-{index}")
        handles.append(line)
        labels.append(entry["label"] + (" (BD anchor)" if name == report.anchor else ""))
        ids.append((entry["group"], f"{quality}-legend-{index}"))
    axes.set_xlabel("bits per pixel (whole file)")
    axes.set_ylabel(_quality_label(quality))
    axes.set_xlim(0, 3.2)
    axes.grid(True, alpha=0.3)
    axes.set_title(f"{'PSNR' if quality == 'psnr' else 'MS-SSIM'} vs rate, mean of {len(report.images)} images")
    legend = axes.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8.5,
                         frameon=False, handlelength=3.2, borderaxespad=0.0)
    for handle, text, (_, gid) in zip(legend.legend_handles, legend.get_texts(), ids):
        if "-legend-group-" in gid:
            text.set_fontweight("bold")
            text.set_gid(gid)
        else:
            handle.set_gid(gid + "-line")
            text.set_gid(gid + "-text")
    stem = out / f"rd_{quality}"
    figure.savefig(stem.with_suffix(".png"), metadata={"Software": None})
    figure.savefig(stem.with_suffix(".svg"), metadata={"Date": None, "Creator": None})
    plt.close(figure)
    svg = stem.with_suffix(".svg").read_text()
    return svg[svg.index("<svg"):]


def _fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "—" if value is None else f"{value:+.{digits}f}{suffix}" if suffix == "%" else f"{value:.{digits}f}{suffix}"


def _sorted_by_group(report: Report, names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (GROUPS.index(report.groups.get(n, "ours")), n))


def _bd_cells(row: dict[str, Any]) -> list[str]:
    return [_fmt(row["psnr_avg_curve"], 1, "%"), _fmt(row["psnr_per_image"], 1, "%"), str(row["psnr_images"]),
            _fmt(row["ms_ssim_db_avg_curve"], 1, "%"), _fmt(row["ms_ssim_db_per_image"], 1, "%"),
            str(row["ms_ssim_db_images"])]


def dropped_bd_rows(report: Report) -> dict[str, str]:
    """Rows of the BD table with no number at all, and why (they are left out of the
    tables a person reads; summary.json keeps them)."""
    single = {r["codec"] for r in report.fixed_rate}
    out = {}
    for row in report.bd_vs_anchor:
        if all(row[f"{q}_{how}"] is None for q in _QUALITY_KEYS for how in ("avg_curve", "per_image")):
            out[row["codec"]] = ("one rate point per image (fixed rate), and a BD-rate needs a curve of two or more"
                                 if row["codec"] in single else "its curves do not overlap the anchor's")
    return out


def machine_labels(report: Report) -> dict[str, str]:
    """codec → the labels of the machines that measured it ("A", "A, B")."""
    out: dict[str, list[str]] = defaultdict(list)
    for machine in report.machines:
        for name in machine["codecs"]:
            out[name].append(machine["label"])
    return {name: ", ".join(labels) for name, labels in out.items()}


def tables(report: Report) -> dict[str, tuple[list[str], list[list[str]]]]:
    """The report's tables, rows ordered by group then name, each row's first cell the
    codec and second its group."""
    dropped = dropped_bd_rows(report)
    bd_by_codec = {r["codec"]: r for r in report.bd_vs_anchor}
    bd = (["codec", "group", "BD-rate PSNR (avg curve)", "BD-rate PSNR (per image)", "images",
           "BD-rate MS-SSIM (avg curve)", "BD-rate MS-SSIM (per image)", "images"],
          [[n, report.groups[n]] + _bd_cells(bd_by_codec[n])
           for n in _sorted_by_group(report, list(bd_by_codec)) if n not in dropped])
    names = _sorted_by_group(report, [n for n, pts in report.curves.items() if len(pts) >= 2])

    def matrix(values: dict[str, dict[str, float | None]]) -> tuple[list[str], list[list[str]]]:
        return (["codec \\ anchor", "group"] + names,
                [[b, report.groups[b]] + [_fmt(values[a][b], 1, "%") for a in names] for b in names])
    machines = machine_labels(report)
    by_speed = {s["codec"]: s for s in report.speed}
    speed = (["codec", "group", "jobs", "encode s (median)", "decode s (median)", "encode MP/s", "decode MP/s",
              "encode peak RSS MB", "decode peak RSS MB", "machine"],
             [[n, report.groups[n], str(s["jobs"]), f"{s['encode_s_median']:.3g}", f"{s['decode_s_median']:.3g}",
               f"{s['encode_mp_per_s']:.3g}", f"{s['decode_mp_per_s']:.3g}",
               f"{s['encode_peak_rss_mb_max']:.0f}", f"{s['decode_peak_rss_mb_max']:.0f}", machines.get(n, "?")]
              for n in _sorted_by_group(report, list(by_speed)) for s in [by_speed[n]]])
    by_lossless = {r["codec"]: r for r in report.lossless}
    lossless = (["codec", "group", "images", "mean bpp", "exact", "encode s (median)",
                 "decode s (median)", "encode peak RSS MB", "decode peak RSS MB"],
                [[n, report.groups[n], str(r["images"]), f"{r['bpp_mean']:.3f}", "yes" if r["exact"] else "NO",
                  f"{r['encode_s_median']:.3g}", f"{r['decode_s_median']:.3g}", f"{r['encode_peak_rss_mb_max']:.0f}",
                  f"{r['decode_peak_rss_mb_max']:.0f}"]
                 for n in _sorted_by_group(report, list(by_lossless)) for r in [by_lossless[n]]])
    fixed = (["codec", "group", "setting", "mean bpp", "PSNR dB", "MS-SSIM dB", f"{report.anchor} PSNR at that bpp",
              "difference dB"],
             [[f["codec"], report.groups[f["codec"]], json.dumps(f["params"], sort_keys=True) if f["params"] else "default",
               f"{f['bpp']:.3f}", _fmt(f["psnr"]), _fmt(f["ms_ssim_db"]), _fmt(f["anchor_psnr_at_rate"]),
               "—" if f["delta_psnr"] is None else f"{f['delta_psnr']:+.2f}"]
              for f in sorted(report.fixed_rate, key=lambda f: f["codec"])])
    out = {"bd": bd, "matrix": matrix(report.bd_matrix), "matrix_ms_ssim": matrix(report.bd_matrix_ms_ssim),
           "speed": speed, "lossless": lossless, "fixed_rate": fixed}
    if report.published:
        by_codec = {r["codec"]: r["vs"] for r in report.bd_vs_published}
        order = _sorted_by_group(report, list(by_codec))
        psnr_heads, psnr_keys = [], []
        for a in report.published:
            psnr_heads.append(f"{a.label}" + (" (avg curve)" if a.per_image else ""))
            psnr_keys.append((a.key, "psnr_avg_curve"))
            if a.per_image:
                psnr_heads.append(f"{a.label} (per image)")
                psnr_keys.append((a.key, "psnr_per_image"))
        out["published_psnr"] = (["codec", "group"] + psnr_heads,
                                 [[n, report.groups[n]] + [_fmt(by_codec[n][k].get(field_), 1, "%")
                                                           for k, field_ in psnr_keys] for n in order])
        with_ms = [a for a in report.published if "ms_ssim_db" in a.curves]
        if with_ms:
            out["published_ms_ssim"] = (["codec", "group"] + [a.label for a in with_ms],
                                        [[n, report.groups[n]] + [_fmt(by_codec[n][a.key].get("ms_ssim_db_avg_curve"),
                                                                       1, "%") for a in with_ms] for n in order])
    return out


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def _markdown(report: Report, made: dict[str, tuple[list[str], list[list[str]]]]) -> str:
    anchor = report.anchor
    lines = [f"## BD-rate against {anchor} (negative = fewer bits at equal quality)", markdown_table(*made["bd"])]
    dropped = dropped_bd_rows(report)
    if dropped:
        reasons: dict[str, list[str]] = defaultdict(list)
        for name, why in dropped.items():
            reasons[why].append(name)
        lines += ["", "Not in this table (no BD-rate): " + "; ".join(f"{', '.join(n)}: {why}" for why, n in reasons.items())
                  + (" (their single points are below)." if report.fixed_rate else ".")]
    if report.fixed_rate:
        lines += ["", "## Fixed-rate codecs (one rate point per image)", markdown_table(*made["fixed_rate"])]
    if report.published:
        lines += ["", "## BD-rate against published results (published, not measured here)",
                  f"PSNR; our codec (rows) against each published curve (columns). {report.published_note}",
                  "", markdown_table(*made["published_psnr"])]
        if "published_ms_ssim" in made:
            lines += ["", "MS-SSIM (dB), avg curve:", "", markdown_table(*made["published_ms_ssim"])]
        lines += ["", "Sources: " + "; ".join(f"{a.label}: {a.source}" for a in report.published) + "."]
    lines += ["", "## Speed and memory per image", markdown_table(*made["speed"]), "",
              "Machines: " + "; ".join(f"{m['label']}: {m['machine']}" for m in report.machines) + "."]
    if report.lossless:
        lines += ["", "## Lossless", markdown_table(*made["lossless"])]
    return "\n".join(lines) + "\n"


def _summary(report: Report) -> dict[str, Any]:
    return {"anchor": report.anchor, "images": report.images,
            "curves": {n: [p.__dict__ for p in pts] for n, pts in report.curves.items()},
            "bd_vs_anchor": report.bd_vs_anchor, "bd_matrix_psnr": report.bd_matrix,
            "bd_matrix_ms_ssim_db": report.bd_matrix_ms_ssim,
            "speed": report.speed, "lossless": report.lossless,
            "groups": report.groups, "machines": report.machines,
            "commands": report.commands, "fixed_rate": report.fixed_rate,
            "published": [{"key": a.key, "label": a.label, "source": a.source, "url": a.url, "file": a.file,
                           "curves": {q: [list(p) for p in c] for q, c in a.curves.items()}}
                          for a in report.published],
            "bd_vs_published": report.bd_vs_published}


def write(folder: str | Path, anchor: str = "jpeg2000", out: str | Path | None = None,
          anchors: str | Path | None = None) -> Path:
    """Plots, summary.json, tables.md and report.html for the bench ``folder`` (into
    ``out``, default the folder itself). ``anchors``: published results to draw and
    compare against (default: the ``anchors`` folder beside ``folder``, if any)."""
    from latentpress.bench.page import render

    report = build(folder, anchor, anchors)
    out = Path(out or folder)
    out.mkdir(parents=True, exist_ok=True)
    svgs = {quality: _plot(report, quality, out) for quality in _QUALITY_KEYS}
    made = tables(report)
    (out / "summary.json").write_text(json.dumps(_summary(report), indent=1, sort_keys=True))
    (out / "tables.md").write_text(_markdown(report, made))
    path = out / "report.html"
    path.write_text(render(report, made, svgs, Path(folder).name))
    return path
