#!/usr/bin/env bash
# The lossless comparison on the 24 Kodak images: latentpress's lossless and
# mlp-lossless beside PNG, WebP, JPEG-LS, JPEG 2000 and JPEG XL (efforts 7 and 9)
# lossless, into results/kodak/, then the report. Resumable; one worker, run alone.
set -euo pipefail
cd "$(dirname "$0")/.."
latentpress bench --codecs lossless,mlp-lossless,classic-lossless \
    --images ../shared/data/kodak --out results/kodak --workers 1
latentpress report results/kodak --anchor jpeg2000
