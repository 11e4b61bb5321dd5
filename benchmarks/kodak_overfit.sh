#!/usr/bin/env bash
# The overfit codec's presets on the 24 Kodak images, into the same results
# folder as the classic codecs (results/kodak/), then the report against JPEG 2000.
# Resumable: rerunning computes only what results/kodak/records.jsonl lacks, image by
# image. One worker (two torch threads), so that the timings are not shared with a
# second job. Payload version 6, five qualities (README), on the slower AMD host: about
# 20 s per encode for fast (about 45 minutes for the 120 files), 42 s for medium (about
# 85 minutes), 78 s for slow (about 2.7 hours).
#     bash benchmarks/kodak_overfit.sh [PRESET ...]      (default: fast medium slow)
set -euo pipefail
cd "$(dirname "$0")/.."
for preset in "${@:-fast medium slow}"; do
    for name in $preset; do
        latentpress bench --codecs "overfit-$name" --images ../shared/data/kodak --out results/kodak --workers 1
    done
done
latentpress report results/kodak --anchor jpeg2000
