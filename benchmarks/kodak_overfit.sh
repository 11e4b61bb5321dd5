#!/usr/bin/env bash
# The overfit codec's presets on the 24 Kodak images, into the same results
# folder as the classic codecs (results/kodak/), then the report against JPEG 2000.
# Resumable: rerunning computes only what results/kodak/records.jsonl lacks, image by
# image. One worker (two torch threads), so that the timings are not shared with a
# second job. Five qualities (README): payload version 7 on the Intel host, instant
# 2.1 s per encode (316 s for the 120 files) and fast about 21 s (42 minutes on a quiet
# host; 67 on a noisy one), medium about 51 s (6,521 s) and slow about 70 s (about
# 2.3 hours).
#     bash benchmarks/kodak_overfit.sh [PRESET ...]      (default: fast medium slow)
set -euo pipefail
cd "$(dirname "$0")/.."
for preset in "${@:-fast medium slow}"; do
    for name in $preset; do
        latentpress bench --codecs "overfit-$name" --images ../shared/data/kodak --out results/kodak --workers 1
    done
done
latentpress report results/kodak --anchor jpeg2000
