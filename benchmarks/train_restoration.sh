#!/usr/bin/env bash
# The overfit codec's restoration network (payload version 6):
# latentpress/weights/overfit-restore-v1.safetensors.
#
# How it was made (2026-12-02, on this project's 2-core CPU, beside other jobs):
#   pairs  392 (original, decoded) pairs: one 384×384 crop of each of the 49 training
#          photos (the held-out ones included, for the report) at each of overfit's eight levels (qualities 20..90), from
#          the real fast encoder without post-processing; about 2 minutes a pair.
#   train  30,000 float steps then 4,000 quantization-aware steps, one thread, about
#          55 minutes and 7 minutes (loss curves: results/overfit/restoration/).
#   report the held-out photos' gains: results/overfit/restoration/heldout.json.
# Every stage resumes from its cache / checkpoints when rerun. A rerun on another
# machine may give other checksums (float training is not bit-reproducible across CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
PHOTOS=${PHOTOS:-../shared/data/photos}
RUN=${RUN:-runs/restoration}
python -m latentpress.train.restoration pairs --photos "$PHOTOS" --cache "$RUN-pairs" --crop 384
python -m latentpress.train.restoration train --cache "$RUN-pairs" --run "$RUN" \
    --steps 30000 --qat-steps 4000 --threads 1 \
    --export latentpress/weights/overfit-restore-v1.safetensors --report "$RUN-heldout.json"
mkdir -p results/overfit/restoration
cp "$RUN/float/log.jsonl" results/overfit/restoration/float-log.jsonl
cp "$RUN/qat/log.jsonl" results/overfit/restoration/qat-log.jsonl
sha256sum latentpress/weights/overfit-restore-v1.safetensors    # → CHECKSUMS in latentpress/weights/__init__.py
