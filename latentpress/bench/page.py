"""report.html: one self-contained page (inline SVG plots, tables, a few lines of script)
that a person reads at 1400 px without scrolling sideways.

The page says where every number comes from (each machine and command that wrote the
folder), draws the curves in four groups (ours, learned, classic, published) that can be
shown and hidden, keeps the legends beside the plots, and fits its tables to the page:
rows without any number are left out with the reason given. tests/test_bench.py renders
it in headless Chromium.
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from latentpress.bench.groups import GROUP_DESCRIPTIONS, GROUP_TITLES, GROUPS

if TYPE_CHECKING:
    from latentpress.bench.report import Report

Table = tuple[list[str], list[list[str]]]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1320px;margin:1.5em auto;padding:0 16px;
color:#222;line-height:1.45;font-size:15px}
h1{margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
nav a{margin-right:1em}
table{border-collapse:collapse;margin:.8em 0;font-size:13px;max-width:100%}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right;vertical-align:top}
td:first-child,th:first-child{text-align:left;white-space:nowrap}
th{background:#f3f3f3;font-weight:600}
tr.group-row th{background:#e4e9f2;text-align:left}
td.text,th.text{text-align:left}
th.v{writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;text-align:left;padding:6px 2px}
table.matrix{font-size:11px}table.matrix td{padding:1px 2px}
code{background:#f3f3f3;padding:1px 4px;overflow-wrap:anywhere}
.plot{margin:.5em 0 1.5em}.plot svg{width:100%;height:auto;display:block}
#controls{position:sticky;top:0;background:#fff;padding:.5em 0;border-bottom:1px solid #eee;z-index:1}
#controls label{margin-right:1.4em;white-space:nowrap}
.note{color:#555;font-size:14px}
.published{background:#fff7e0}
figcaption{color:#555;font-size:14px}
"""

_SCRIPT = """
(function () {
  var curves = JSON.parse(document.getElementById("curve-index").textContent);
  var plots = ["psnr", "ms_ssim_db"];
  var hidden = {};
  function byId(id) { return document.getElementById(id); }
  function apply() {
    curves.forEach(function (c, i) {
      plots.forEach(function (q) {
        var line = byId(q + "-curve-" + i);
        if (line) line.style.display = hidden[i] ? "none" : "";
        ["-line", "-text"].forEach(function (s) {
          var e = byId(q + "-legend-" + i + s);
          if (e) e.style.opacity = hidden[i] ? "0.25" : "1";
        });
      });
    });
    document.querySelectorAll("input[data-group]").forEach(function (box) {
      var members = [], off = 0;
      curves.forEach(function (c, i) { if (c.group === box.dataset.group) { members.push(i); if (hidden[i]) off++; } });
      box.checked = off === 0;
      box.indeterminate = off > 0 && off < members.length;
    });
  }
  function setGroup(group, show) {
    curves.forEach(function (c, i) { if (c.group === group) hidden[i] = !show; });
    apply();
  }
  document.querySelectorAll("input[data-group]").forEach(function (box) {
    box.addEventListener("change", function () { setGroup(box.dataset.group, box.checked); });
  });
  curves.forEach(function (c, i) {
    plots.forEach(function (q) {
      ["-line", "-text"].forEach(function (s) {
        var e = byId(q + "-legend-" + i + s);
        if (!e) return;
        e.style.cursor = "pointer";
        e.addEventListener("click", function () { hidden[i] = !hidden[i]; apply(); });
      });
    });
  });
  plots.forEach(function (q) {
    Object.keys(%(groups)s).forEach(function (g) {
      var e = byId(q + "-legend-group-" + g);
      if (!e) return;
      e.style.cursor = "pointer";
      e.addEventListener("click", function () {
        var anyShown = curves.some(function (c, i) { return c.group === g && !hidden[i]; });
        setGroup(g, !anyShown);
      });
    });
  });
  var all = byId("show-all");
  if (all) all.addEventListener("click", function () { hidden = {}; apply(); });
  apply();
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text))


def _table(table: Table, table_id: str, report: Report, *, vertical_from: int | None = None,
           css: str = "", text_columns: tuple[int, ...] = ()) -> str:
    """A table whose rows carry the codec's group in their second cell: the group
    column is not shown, rows are headed by their group's title instead."""
    headers, rows = table
    shown = [h for i, h in enumerate(headers) if i != 1]
    def head_cell(i: int, h: str) -> str:
        classes = []
        if vertical_from is not None and i >= vertical_from:
            classes.append("v")
        if i in text_columns:
            classes.append("text")
        return f'<th{" class=" + chr(34) + " ".join(classes) + chr(34) if classes else ""}>{_e(h)}</th>'
    out = [f'<table id="{table_id}"{" class=" + chr(34) + css + chr(34) if css else ""}><thead><tr>'
           + "".join(head_cell(i, h) for i, h in enumerate(shown)) + "</tr></thead><tbody>"]
    group = None
    for row in rows:
        if row[1] != group:
            group = row[1]
            out.append(f'<tr class="group-row"><th colspan="{len(shown)}">{_e(GROUP_TITLES.get(group, group))}</th></tr>')
        cells = [c for i, c in enumerate(row) if i != 1]
        out.append(f'<tr data-group="{_e(group)}">' + "".join(
            f'<td{" class=" + chr(34) + "text" + chr(34) if i in text_columns else ""}>{_e(c)}</td>'
            for i, c in enumerate(cells)) + "</tr>")
    return "".join(out) + "</tbody></table>"


def _plain_table(headers: list[str], rows: list[list[str]], table_id: str, raw: bool = False) -> str:
    cell = (lambda c: c) if raw else _e
    return (f'<table id="{table_id}"><thead><tr>' + "".join(f'<th class="text">{_e(h)}</th>' for h in headers)
            + "</tr></thead><tbody>" + "".join(
                "<tr>" + "".join(f'<td class="text">{cell(c)}</td>' for c in row) + "</tr>" for row in rows)
            + "</tbody></table>")


def _provenance(report: Report) -> str:
    machines = _plain_table(
        ["", "machine (as each record names it)", "codecs measured there (records used)"],
        [[f"<b>{_e(m['label'])}</b>", _e(m["machine"]),
          _e(", ".join(f"{name} ({count})" for name, count in m["codecs"].items()))]
         for m in report.machines], "machines", raw=True)
    rows = []
    for index, run in enumerate(report.commands, 1):
        script = run.get("script")
        where = _e(run.get("recorded", ""))
        if run.get("last"):
            where += "; the last command meta.json holds"
        rows.append([str(index), f"<code>{_e(run['command'])}</code>",
                     f"<code>{_e(script)}</code>" if script else "—" + (f" ({_e(run['note'])})" if run.get("note") else ""),
                     _e(", ".join(run["codecs"]) or "—"), _e(run.get("machine") or "—"), where])
    commands = _plain_table(["", "command", "script in benchmarks/", "codecs of this report it ran",
                             "machine recorded with it", "recorded in"], rows, "commands", raw=True)
    missing = ""
    if report.uncommanded:
        missing = (f'<p class="note">No recorded command names {_e(", ".join(report.uncommanded))}: '
                   f"their records say which machine measured them (above), not which command.</p>")
    return f"""<h2 id="provenance">Where these numbers come from</h2>
<p>{len(report.machines)} machine(s) measured the codecs of this report; each record in <code>records.jsonl</code>
names its machine. Times measured on different machines (column "machine" of the speed table) do not compare
directly.</p>
{machines}
<p>The bench commands that wrote this folder{", as <code>commands.json</code> lists them" if len(report.commands) > 1 else ""}
(the bench keeps only its last command in <code>meta.json</code>):</p>
{commands}
{missing}"""


def _groups_list(report: Report, counts: dict[str, int]) -> str:
    items = "".join(f"<li><b>{_e(GROUP_TITLES[g])}</b> ({counts[g]} curves): {_e(GROUP_DESCRIPTIONS[g])}.</li>"
                    for g in GROUPS if counts.get(g))
    return f'<ul class="groups">{items}</ul>'


def _published_section(report: Report, made: dict[str, Table]) -> str:
    if not report.published:
        note = f'<p class="note">{_e(report.published_note)}</p>' if report.published_note else ""
        return note
    sources = "".join(
        f'<li id="source-{_e(a.key)}"><b>{_e(a.label)}</b>: {_e(a.what)}. Source: '
        f'<a href="{_e(a.url)}">{_e(a.source)}</a>; file <code>{_e(a.file)}</code>. '
        f"<i>Published, not measured here.</i></li>" for a in report.published)
    ms = ""
    if "published_ms_ssim" in made:
        ms = ("<h3>MS-SSIM (dB), avg curve</h3>"
              + _table(made["published_ms_ssim"], "bd-published-ms-ssim", report, css="published"))
    return f"""<h2 id="published">BD-rate against published results <small>(published, not measured here)</small></h2>
<p>Each column is a curve another project published for the same 24 images; our measured codecs (rows) against it,
negative = fewer bits than the published codec at equal quality. {_e(report.published_note)}
"avg curve": against the published average curve; "per image": against each image's published curve, averaged
(Cool-chic publishes per-image results). "—": the curves do not overlap in quality.</p>
<h3>PSNR</h3>
{_table(made["published_psnr"], "bd-published", report, css="published")}
{ms}
<ol class="note" id="sources">{sources}</ol>"""


def render(report: Report, made: dict[str, Table], svgs: dict[str, str], title: str) -> str:
    from latentpress.bench.report import curve_index, dropped_bd_rows

    index = curve_index(report)
    counts = {g: sum(1 for c in index if c["group"] == g) for g in GROUPS}
    curve_json = json.dumps([{"name": c["name"], "label": c["label"], "group": c["group"]} for c in index])
    controls = "".join(
        f'<label><input type="checkbox" data-group="{g}" checked> {_e(GROUP_TITLES[g])} ({counts[g]})</label>'
        for g in GROUPS if counts[g])
    anchor = _e(report.anchor)
    images = report.images
    without = [a.label for a in report.published if "ms_ssim_db" not in a.curves]
    no_ms_ssim = (f"<figcaption>{_e(', '.join(without))}: no MS-SSIM published, so not in this plot.</figcaption>"
                  if without else "")
    dropped = dropped_bd_rows(report)
    dropped_note = ""
    if dropped:
        reasons: dict[str, list[str]] = {}
        for name, why in dropped.items():
            reasons.setdefault(why, []).append(name)
        dropped_note = ('<p class="note">Not in this table, having no BD-rate: '
                        + "; ".join(f"<b>{_e(', '.join(names))}</b>: {_e(why)}" for why, names in reasons.items())
                        + (' (their single points are in <a href="#fixed-rate">the table below</a>).'
                           if report.fixed_rate else ".") + "</p>")
    partial = [r["codec"] for r in report.bd_vs_anchor if not report.curves.get(r["codec"])
               and r["codec"] not in dropped]
    partial_note = (f'<p class="note">{_e(", ".join(partial))}: not run on every image yet, so no averaged curve ("—" '
                    f'in the avg-curve columns); their per-image BD-rates cover the images they have.</p>'
                    if partial else "")
    fixed = ""
    if report.fixed_rate:
        fixed = f"""<h3 id="fixed-rate">Fixed-rate codecs</h3>
<p>One rate point per image, so no curve and no BD-rate: their point averaged over the images, and the PSNR of
{anchor}'s averaged curve at the same rate (interpolated, pchip on log-rate).</p>
{_table(made['fixed_rate'], 'fixed-rate-table', report, text_columns=(1,))}"""
    matrix_names = [h for h in made["matrix"][0][2:]]
    left_out = [n for n in report.curves if n not in matrix_names]
    matrix_note = (f'<p class="note">Codecs without a curve of two or more points are left out: '
                   f'{_e(", ".join(left_out))}.</p>' if left_out else "")
    libraries = [[n, report.groups.get(n, "?"), c.get("library", "")]
                 for n, c in sorted(report.meta.get("codecs", {}).items(), key=lambda item: (
                     GROUPS.index(report.groups.get(item[0], "ours")), item[0])) if n in report.groups]
    lossless = (f"<h2 id=\"lossless\">Lossless</h2>{_table(made['lossless'], 'lossless-table', report)}"
                if report.lossless else "")
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>latentpress bench report: {_e(title)}</title>
<style>{_CSS}</style></head><body>
<h1>latentpress bench report: {_e(title)}</h1>
<p>{len(images)} images ({_e(images[0])} … {_e(images[-1])}); {len(report.speed)} codecs measured on
{len(report.machines)} machine(s) ({_e("; ".join(m["label"] + ": " + m["machine"] for m in report.machines))});
BD-rates against <code>{anchor}</code>{" and against published results of other projects (not measured here)"
if report.published else ""}. Negative BD-rate: fewer bits at equal quality.</p>
<nav><a href="#provenance">Where from</a><a href="#rd">Curves</a><a href="#bd">BD-rate vs {anchor}</a>{
'<a href="#published">vs published</a>' if report.published else ''}<a href="#matrix">All pairs</a><a
href="#speed">Speed</a>{'<a href="#lossless">Lossless</a>' if report.lossless else ''}<a href="#libraries">Libraries</a></nav>
{_provenance(report)}
<h2 id="rd">Rate-distortion</h2>
<p>Curves averaged over the images (bpp, PSNR and MS-SSIM of each setting averaged over the {len(images)} images), in
groups:</p>
{_groups_list(report, counts)}
<div id="controls"><b>Show:</b> {controls} <button type="button" id="show-all">show every curve</button>
<span class="note">Click a name in a legend to hide or show that curve, a group's title for the whole group.</span></div>
<script type="application/json" id="curve-index">{curve_json}</script>
<figure class="plot" id="plot-psnr">{svgs['psnr']}</figure>
<figure class="plot" id="plot-ms_ssim_db">{svgs['ms_ssim_db']}{no_ms_ssim}</figure>
<h2 id="bd">BD-rate against {anchor}</h2>
<p>Negative: the codec needs that many percent fewer bits than {anchor} at equal quality. "avg curve": on the
curve averaged over images; "per image": mean of per-image BD-rates over the images where the curves overlap
("images" says how many).</p>
{_table(made['bd'], 'bd-table', report)}
{dropped_note}{partial_note}{fixed}
{_published_section(report, made)}
<h2 id="matrix">BD-rate of every codec (rows) against every other (columns), avg curve</h2>
{matrix_note}
<h3>PSNR</h3>{_table(made['matrix'], 'bd-matrix', report, vertical_from=1, css='matrix')}
<h3>MS-SSIM (dB)</h3>{_table(made['matrix_ms_ssim'], 'bd-matrix-ms-ssim', report, vertical_from=1, css='matrix')}
<h2 id="speed">Speed and memory</h2><p>Per image, over all rate points; peak RSS is that of the worker process
during the call; "machine": which machine of <a href="#provenance">the list above</a> measured it.</p>
{_table(made['speed'], 'speed-table', report)}
{lossless}
<h2 id="libraries">Libraries</h2>{_table((['codec', 'group', 'library'], libraries), 'libraries', report, text_columns=(1,))}
<script>{_SCRIPT % {"groups": json.dumps({g: True for g in GROUPS})}}</script>
</body></html>
"""
