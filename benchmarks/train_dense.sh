#!/usr/bin/env bash
# Report 004's dense autoencoders: Table 2's runs (middle widths 64, 50, 36, 22;
# 200 epochs each) on MNIST and Fashion-MNIST, and the two shipped models
# (latentpress/weights/dense-{mnist,fashion}-v1.safetensors: the width-64 runs).
#
# MNIST is ../shared/data/mnist (the 10,000-digit test split: 8,000 train, 2,000 held out);
# Fashion-MNIST is Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist).
# Each run is resumable (rerun the same line). On this 2-core CPU, one thread each: 3-4
# minutes per MNIST run and 9-24 per Fashion-MNIST run (the logs' "seconds"; other jobs
# shared the CPU, and one run was paused part of the time).
set -euo pipefail
cd "$(dirname "$0")/.."
MNIST=${MNIST:-../shared/data/mnist}
FASHION=${FASHION:-/usr/share/datasets/fashion-mnist}
mkdir -p results/seed004/logs
for data in mnist fashion; do
    folder=$MNIST; [ "$data" = fashion ] && folder=$FASHION
    for width in 64 50 36 22; do
        python -m latentpress.train.dense --data "$folder" --code "$width" --run "runs/dense-$data-$width" --threads 1
        cp "runs/dense-$data-$width/log.jsonl" "results/seed004/logs/$data-$width-log.jsonl"
    done
    # The finished run again, only to export (float16 weights + the code's frequency tables).
    python -m latentpress.train.dense --data "$folder" --code 64 --run "runs/dense-$data-64" \
        --export "latentpress/weights/dense-$data-v1.safetensors"
done
sha256sum latentpress/weights/dense-*-v1.safetensors    # → CHECKSUMS in latentpress/weights/__init__.py
