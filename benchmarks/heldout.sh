#!/usr/bin/env bash
# The second test set (benchmarks/heldout_images.py): the eight training photographs the
# pretrained models leave out, as 256x256 and 512x384 centre crops and at full size,
# each set in its own results folder (results/heldout-<set>/) with its report.
# overfit instant and fast against the classic codecs at their strongest practical settings and
# their defaults. Resumable, one worker, smallest set first. CODECS replaces the list
# (medium and slow: CODECS=overfit-medium,overfit-slow).
#     [CODECS=...] bash benchmarks/heldout.sh [SET ...]   (default: 256x256 512x384 full)
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/heldout_images.py
for set in "${@:-256x256 512x384 full}"; do
    for name in $set; do
        latentpress bench --codecs "${CODECS:-overfit-instant,overfit-fast,jpeg2000,avif-s2,avif,heic,webp,jpegxl-e9}" \
            --images "runs/heldout/$name" --out "results/heldout-$name" --workers 1
        latentpress report "results/heldout-$name" --anchor jpeg2000
    done
done
