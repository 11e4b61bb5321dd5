#!/usr/bin/env bash
# The environment benchmarks/coolchic_ceiling.py runs Cool-chic 5.0 in: a venv under
# runs/coolchic/venv with Cool-chic's requirements, the CPU torch wheel, and no
# torchvision (its PyPI wheel pulls a CUDA torch; the study script provides the one
# function Cool-chic needs from it). The Cool-chic checkout (github.com/Orange-OpenSource/Cool-Chic,
# commit a6fe38a, version 5.0.1) is given as the argument and left as it is.
#     bash benchmarks/coolchic_setup.sh COOLCHIC_CHECKOUT
set -euo pipefail
cd "$(dirname "$0")/.."
checkout="${1:?usage: bash benchmarks/coolchic_setup.sh COOLCHIC_CHECKOUT}"
test -f "$checkout/cc_encode.py" || { echo "no cc_encode.py in $checkout" >&2; exit 1; }
python3 -m venv runs/coolchic/venv
runs/coolchic/venv/bin/pip install -q torch==2.13.0 numpy pillow einops fvcore ConfigArgParse scipy \
    constriction==0.4.2
