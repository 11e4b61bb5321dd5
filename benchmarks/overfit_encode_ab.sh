#!/usr/bin/env bash
# `fast` encode times of two checkouts of this repository, interleaved (A, B, A, B), each
# in its own process, with user and system CPU seconds: to tell an encoder's cost from
# the host's noise (on a shared 2-core host, system time alone moved a 20 s encode by
# 6-8 s between runs of the same code). Three Kodak images at one quality each.
#     bash benchmarks/overfit_encode_ab.sh OLD_CHECKOUT NEW_CHECKOUT [KODAK] > out.txt
set -euo pipefail
KODAK=$(realpath "${3:-../shared/data/kodak}")
for round in 1 2; do
  for tree in "$1" "$2"; do
    (cd "$tree" && KODAK="$KODAK" PYTHONPATH="$tree" python - <<'PY'
import os, resource, time
import numpy as np
from PIL import Image
import latentpress
from latentpress.codecs.base import get_codec
codec = get_codec("overfit")
for name, quality in (("kodim03", 50), ("kodim01", 70), ("kodim20", 30)):
    image = np.asarray(Image.open(os.path.join(os.environ["KODAK"], f"{name}.png")).convert("RGB"))
    before, started = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    payload = codec.encode(image, codec.parse_params({"quality": quality, "preset": "fast"}))
    after = resource.getrusage(resource.RUSAGE_SELF)
    print(os.path.dirname(os.path.dirname(latentpress.__file__)), name, quality, "gain", payload.params["gain"],
          "wall", round(time.monotonic() - started, 2), "user", round(after.ru_utime - before.ru_utime, 1),
          "sys", round(after.ru_stime - before.ru_stime, 1), flush=True)
PY
)
  done
done
