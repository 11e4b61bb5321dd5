#!/usr/bin/env bash
# Report 001's block autoencoders on the 24 Kodak images through the bench:
# cnn-ae (16:1), cnn-rnn-ae (1-3 stages: 48:1, 24:1, 16:1), cnn-ae-ft, and the range-coded
# variants, into results/kodak/ beside the classic codecs, then the report.
# Resumable; one worker, run alone (it times encodes).
set -euo pipefail
cd "$(dirname "$0")/.."
latentpress bench --codecs cnn-ae,cnn-ae-range,cnn-rnn-ae,cnn-rnn-ae-range,cnn-ae-ft \
    --images ../shared/data/kodak --out results/kodak --workers 1
latentpress report results/kodak --anchor jpeg2000
