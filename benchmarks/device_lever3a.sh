#!/usr/bin/env bash
# Lever 3(a) of docs/codecs/overfit-research.md on a lent GPU: the Cool-chic-style
# decoder of benchmarks/amortized_synthesis.py trained on many crops of the training
# photographs (the same λ as the CPU experiment), then a Kodak image's latents fitted with
# the networks frozen and with them adapted, as results/overfit/amortized-synthesis.json
# has them for the 26-minute CPU training. Two steps:
#
#   bash benchmarks/device_lever3a.sh prepare     # here: crops and two Kodak images into
#                                                 # runs/device/ (about 30 MB, ignored)
#   device run, carry ["runs/device"], timeout_s 560:
#       bash benchmarks/device_lever3a.sh train
#
# `train` calibrates the step time on 30 steps, sizes the schedule to TRAIN_SECONDS
# (default 330), trains, measures, and leaves in $OUT the decoder (decoder.pt: measure it
# again on this CPU with `amortized_synthesis.py measure --name <name>` after copying it
# to runs/amortized/<name>/), the training log and the GPU measurements (their
# seconds are the GPU's, not this CPU's). About 8 minutes on an H100.
set -euo pipefail
cd "$(dirname "$0")/.."
S=benchmarks/amortized_synthesis.py
DATA=runs/device
NAME=${NAME:-gpu-l0.004}
CROPS=${CROPS:-240}
DEVICE=${DEVICE:-cuda}
ITERATIONS=${ITERATIONS:-1500}

case "${1:-}" in
prepare)
    python "$S" crops --count "$CROPS" --size 256 --out "$DATA/crops"
    mkdir -p "$DATA/kodak"
    cp ../shared/data/kodak/kodim14.png ../shared/data/kodak/kodim23.png "$DATA/kodak/"
    du -sh "$DATA"
    ;;
train)
    : "${OUT:?run this on the device machine, where OUT is set}"
    export PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$OUT/gpu.txt" || true
    common=(--device "$DEVICE" --photos "$DATA/crops" --crops "$CROPS" --crop 256)
    rm -rf runs/amortized/calibrate
    python3 "$S" train --name calibrate "${common[@]}" --steps 30 --checkpoint 1000 > /dev/null
    steps=$(python3 - "${TRAIN_SECONDS:-330}" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open("runs/amortized/calibrate/log.jsonl")]
print(max(100, int(float(sys.argv[1]) * (rows[-1]["step"] + 1) / rows[-1]["s"])))
EOF
)
    echo "training $NAME for $steps steps" | tee "$OUT/steps.txt"
    python3 "$S" train --name "$NAME" "${common[@]}" --steps "$steps" --checkpoint 250 \
        --minutes "$(python3 -c "print(${TRAIN_SECONDS:-330} / 60 + 1)")" | tail -n 3
    cp "runs/amortized/$NAME/decoder.pt" "runs/amortized/$NAME/log.jsonl" "$OUT/"
    for image in kodim14 kodim23; do
        python3 "$S" measure --name "$NAME" --device "$DEVICE" --images "$DATA/kodak" --image "$image" \
            --iterations "$ITERATIONS" --every 100,500,1000 --schedule cc5 --out "$OUT/amortized-gpu.json" | tail -n 1
    done
    python3 "$S" measure --name "$NAME" --device "$DEVICE" --images "$DATA/kodak" --image kodim14 \
        --iterations "$ITERATIONS" --every 100,500,1000 --schedule cc5 --adapt --net-lr 1e-2 \
        --out "$OUT/amortized-gpu.json" | tail -n 2
    ;;
*)
    echo "usage: $0 prepare|train" >&2
    exit 2
    ;;
esac
