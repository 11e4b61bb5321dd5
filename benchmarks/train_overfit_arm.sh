#!/usr/bin/env bash
# The overfit codec's shipped ARM (latentpress/weights/overfit-arm-v1.safetensors):
# rows of wavelet latents from the training photos at nine qualities, and the ARM
# trained on them (latentpress/train/overfit_arm.py). Writes runs/overfit-arm/ and
# results/overfit/shipped-arm.json. About 10 minutes on an idle 2-core CPU.
#     bash benchmarks/train_overfit_arm.sh [PHOTOS]
set -euo pipefail
cd "$(dirname "$0")/.."
photos="${1:-../shared/data/photos}"
run=runs/overfit-arm
[ -f "$run/rows0.safetensors" ] || python -m latentpress.train.overfit_arm rows --photos "$photos" --out "$run/rows0.safetensors"
python -m latentpress.train.overfit_arm train --rows "$run/rows0.safetensors" \
    --export latentpress/weights/overfit-arm-v1.safetensors --report results/overfit/shipped-arm.json
