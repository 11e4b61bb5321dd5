#!/usr/bin/env bash
# The shipped CAE weights (issue 7), trained on this project's 2-core CPU from
# ../shared/data/photos (never Kodak). Resumable: rerun to continue from the checkpoints
# in runs/. The luma model warms up for 700 steps at 2e-4, then trains at 1e-3 (the last
# 15% of the steps at a tenth of it); the chroma model trains at 1e-3 throughout.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/photos}
LUMA_STEPS=${LUMA_STEPS:-5000}
CHROMA_STEPS=${CHROMA_STEPS:-2500}
train() { python -m latentpress.train.cae --data "$DATA" --threads 2 "$@"; }
train --component luma --run runs/cae-luma --steps "$LUMA_STEPS" --lr 2e-4 --stop-after 700
train --component luma --run runs/cae-luma --steps "$LUMA_STEPS" --lr 1e-3 \
    --export latentpress/weights/cae-luma-v1.safetensors
train --component chroma --run runs/cae-chroma --steps "$CHROMA_STEPS" --lr 1e-3 \
    --export latentpress/weights/cae-chroma-v1.safetensors
mkdir -p results/cae
cp runs/cae-luma/log.jsonl results/cae/luma-log.jsonl
cp runs/cae-chroma/log.jsonl results/cae/chroma-log.jsonl
sha256sum latentpress/weights/cae-*-v1.safetensors
