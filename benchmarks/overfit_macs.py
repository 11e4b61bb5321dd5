"""Decoder complexity of the overfit presets: multiply-accumulates per pixel of each
decoding stage (RGB), from the architectures and schedules alone. Writes results/overfit/macs.json.

    python benchmarks/overfit_macs.py
"""

from __future__ import annotations

import json
from pathlib import Path

from latentpress.codecs.overfit.presets import PRESETS


def main() -> None:
    # Presets without joint training leave the synthesis the wavelet's exact inverse,
    # which the decoder computes directly (syn_step 0).
    table = {name: {"architecture": p.architecture.describe(), "synthesis_trained": p.iterations > 0,
                    **p.architecture.decoder_macs_per_pixel(3, trained_synthesis=p.iterations > 0)}
             for name, p in PRESETS.items()}
    out = Path(__file__).resolve().parent.parent / "results" / "overfit" / "macs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2) + "\n")
    print("| preset | architecture | ARM | upsampling | synthesis | total MAC/pixel |")
    print("|---|---|---|---|---|---|")
    for name, row in table.items():
        print(f"| {name} | `{row['architecture']}` | {row['arm']:.0f} | {row['upsampling']:.0f} | "
              f"{row['synthesis']:.0f} | {row['total']:.0f} |")


if __name__ == "__main__":
    main()
