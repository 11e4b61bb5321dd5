#!/usr/bin/env bash
# Report 003 on the 24 Kodak images: cae (JPEG 2000 entropy coder, full image),
# cae-range (our range coder), cae-patches (the report's 128×128 patches) and cae-nopca
# (no rotation) at the report's 0.12-2.4 bpp, into results/kodak/ beside the classic codecs
# (cached there by benchmarks/kodak.sh), then the report and results/cae/tables.md.
# Resumable; one worker, run alone (it times encodes).
set -euo pipefail
cd "$(dirname "$0")/.."
latentpress bench --codecs cae,cae-range,cae-patches,cae-nopca \
    --images ../shared/data/kodak --out results/kodak --workers 1
latentpress report results/kodak --anchor jpeg2000
python benchmarks/cae_tables.py
