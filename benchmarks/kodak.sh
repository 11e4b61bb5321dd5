#!/usr/bin/env bash
# The committed Kodak comparison (results/kodak/): every lossy and lossless classic codec
# and the project's pretrained codec on the 24 Kodak images, then the report.
# Resumable: rerunning computes only what results/kodak/records.jsonl lacks.
# One worker, so that the timings are not shared with a second job.
set -euo pipefail
cd "$(dirname "$0")/.."
latentpress bench --codecs factorized,classic-lossy,classic-lossless \
    --images ../shared/data/kodak --out results/kodak --workers 1
latentpress report results/kodak --anchor jpeg2000
