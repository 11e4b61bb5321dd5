"""Report 003's measurements from the Kodak bench records: BD-rates of ``cae`` and
its variants against JPEG 2000, JPEG, WebP and AVIF, the effect of the PCA rotation, and
the report's Table I (encode + decode seconds per image) on this machine.

Reads results/kodak/records.jsonl (benchmarks/kodak_cae.sh fills it) and writes
results/cae/tables.md. Cheap: no codec runs here::

    python benchmarks/cae_tables.py
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from latentpress.bench.report import build, load, markdown_table

CAE = ("cae", "cae-range", "cae-patches", "cae-nopca")
ANCHORS = ("jpeg2000", "jpeg-444", "jpeg-420", "webp", "avif", "factorized")
TABLE_I = ("jpeg-444", "jpeg-420", "jpeg2000", "factorized", "cae", "cae-range", "cae-patches")
SEED_TABLE_I = {"jpeg-444": "0.39 (JPEG)", "jpeg-420": "0.39 (JPEG)", "jpeg2000": "0.59",
                "factorized": "7.39 (Ballé, CPU, grey)", "cae": "2.29 (CPU), 0.67 (GPU)"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1f}%"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", default="results/kodak")
    parser.add_argument("--out", default="results/cae")
    args = parser.parse_args(argv)
    report = build(args.bench, "jpeg2000")
    present = [c for c in CAE if report.curves.get(c)]
    anchors = [a for a in ANCHORS if report.curves.get(a)]
    out = [f"Machine: {report.meta.get('machine', 'unknown')}. {len(report.images)} Kodak images; "
           "BD-rate on the Kodak-average curves (pchip), over the quality range both curves cover "
           "(negative: fewer bits than the column's codec at equal quality).", ""]
    for key, label in (("psnr", "PSNR-RGB"), ("ms_ssim_db", "MS-SSIM (dB)")):
        matrix = report.bd_matrix if key == "psnr" else report.bd_matrix_ms_ssim
        rows = [[c] + [_pct(matrix[a][c]) for a in anchors] for c in present]
        out += [f"#### BD-rate, {label}", markdown_table(["codec"] + [f"vs {a}" for a in anchors], rows), ""]
    if "cae" in present and "cae-nopca" in present:
        rows = [[label, _pct(report.bd_matrix["cae-nopca"]["cae"]), _pct(report.bd_matrix_ms_ssim["cae-nopca"]["cae"])]
                for label in ("cae (PCA) against cae-nopca, same model",)]
        out += ["#### The PCA rotation alone", markdown_table(["comparison", "BD-rate PSNR", "BD-rate MS-SSIM"], rows), ""]
    rows = []
    for name in present:
        points = report.curves[name]
        rows.append([name] + [f"{p.params['bpp']}: {p.bpp:.3f} / {p.psnr:.2f} / {p.ms_ssim_db:.2f}" for p in points])
    width = max((len(r) for r in rows), default=1)
    out += ["#### Kodak-average points (target bpp: measured bpp / PSNR dB / MS-SSIM dB)",
            markdown_table(["codec"] + [f"point {i + 1}" for i in range(width - 1)],
                           [r + [""] * (width - len(r)) for r in rows]), ""]
    # The bench's own reading of the records: the latest per job, stale models left out.
    records = {name: codec.records for name, codec in load(args.bench)[0].items()}
    rows = []
    for name in TABLE_I:
        if not records.get(name):
            continue
        total = [r["encode_s"] + r["decode_s"] for r in records[name]]
        rows.append([name, SEED_TABLE_I.get(name, "–"), f"{np.median(total):.3f}",
                     f"{np.median([r['encode_s'] for r in records[name]]):.3f}",
                     f"{np.median([r['decode_s'] for r in records[name]]):.3f}",
                     f"{max(r['encode_peak_rss_mb'] for r in records[name]):.0f}",
                     f"{max(r['decode_peak_rss_mb'] for r in records[name]):.0f}"])
    out += ["#### Table I: seconds per Kodak image (median over images and rate points)",
            markdown_table(["codec", "seed (i7-7700K)", "encode + decode s", "encode s", "decode s",
                            "encode peak RSS MB", "decode peak RSS MB"], rows), ""]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    Path(args.out, "tables.md").write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
