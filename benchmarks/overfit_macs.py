"""Decoder complexity of the overfit presets: multiply-accumulates per pixel of each
decoding stage (RGB), from the architectures and schedules alone. A preset that searches
the ARM width (slow) writes a file with one of them: its row is the widest, and
``by_arm_width`` gives each. The restoration network (payload version 6) and the linear
post-filter (version 5 on) are chosen per file, or not: ``restoration`` is the shipped
network's, ``post_filter`` the filter's largest (7×7, every channel); ``total``
includes both.
Writes results/overfit/macs.json.

    python benchmarks/overfit_macs.py
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from latentpress.codecs.overfit import postfilter, restoration
from latentpress.codecs.overfit.presets import PRESETS


def main() -> None:
    # Presets without joint training leave the synthesis the wavelet's exact inverse,
    # which the decoder computes directly (syn_step 0).
    def row(architecture, trained: bool) -> dict:
        stages = architecture.decoder_macs_per_pixel(3, trained_synthesis=trained)
        stages["restoration"] = float(restoration.shipped().macs_per_pixel())
        stages["post_filter"] = float(postfilter.macs_per_pixel(max(postfilter.SIZES), True, 3))
        stages["total"] += stages["restoration"] + stages["post_filter"]
        return {"architecture": architecture.describe(), "synthesis_trained": trained, **stages}

    table = {}
    for name, p in PRESETS.items():
        table[name] = row(p.architecture, p.iterations > 0)
        if p.arm_widths:
            table[name]["by_arm_width"] = {
                w: row(dataclasses.replace(p.architecture, arm_hidden=w), p.iterations > 0) for w in p.arm_widths}
    out = Path(__file__).resolve().parent.parent / "results" / "overfit" / "macs.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(table, indent=2) + "\n")
    print("| preset | architecture | ARM | upsampling | synthesis | restoration | post-filter (at most) | total MAC/pixel |")
    print("|---|---|---|---|---|---|---|---|")
    for name, entry in table.items():
        for widest in entry.get("by_arm_width", {None: entry}).values():
            print(f"| {name} | `{widest['architecture']}` | {widest['arm']:.0f} | {widest['upsampling']:.0f} | "
                  f"{widest['synthesis']:.0f} | {widest['restoration']:.0f} | {widest['post_filter']:.0f} | "
                  f"{widest['total']:.0f} |")


if __name__ == "__main__":
    main()
