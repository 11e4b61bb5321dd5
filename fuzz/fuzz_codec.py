"""Fuzz one codec's decoder on files with valid CRCs (fuzz/harness.py explains the input).

    FUZZ_CODEC=cnn-ae python fuzz/fuzz_codec.py fuzz/corpus/cnn-ae fuzz/seeds/cnn-ae \
        -max_total_time=300 -rss_limit_mb=3072 -timeout=20

The seed file fuzz/seeds/CODEC.lpx (fuzz/make_seeds.py) gives the section types and the
starting point. Any exception that is not a LatentpressError, a hang past -timeout, or a
process over -rss_limit_mb is a finding (libFuzzer writes the input to crash-*/oom-*/
timeout-*); a decoded image of another shape than the header's is one too.

Decoding runs under the limits a viewer of untrusted files would set: at most 2**22
pixels (FUZZ_MAX_PIXELS to change it), as the API would enforce with
``Limits(max_pixels=...)``. Decode time grows with the declared size, legitimately: a
few hundred bytes can hold a flat image of the default limit, 2**26 pixels, and
decoding that takes tens of seconds (SECURITY.md); within a smaller limit a timeout
means a real bug.
"""

import os
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    import numpy as np

    from latentpress.codecs.base import get_codec
    from latentpress.container import Limits, limits_in_effect
    from latentpress.errors import LatentpressError
    from harness import build, seed_parts

CODEC = os.environ.get("FUZZ_CODEC", "cnn-ae")
SEED = Path(__file__).resolve().parent / "seeds" / f"{CODEC}.lpx"
TEMPLATE, TYPES, _ = seed_parts(SEED.read_bytes())
# A variant's seed (fuzz/make_seeds.py: another payload form of a codec) is decoded by its codec.
DECODER = get_codec({"overfit-instant": "overfit"}.get(CODEC, CODEC))
LIMITS = Limits(max_pixels=int(os.environ.get("FUZZ_MAX_PIXELS", 1 << 22)))


def test_one_input(data: bytes) -> None:
    built = build(TEMPLATE, TYPES, data)
    if built is None:
        return
    header, sections = built
    try:
        LIMITS.check_pixels(header.width, header.height)
        with limits_in_effect(LIMITS):
            pixels = DECODER.decode(header, sections)
    except LatentpressError:
        return
    expected = (header.height, header.width) + (() if header.channels == 1 else (3,))
    if pixels.shape != expected or pixels.dtype != np.uint8:
        raise AssertionError(f"decoded {pixels.shape} {pixels.dtype}, the header says {expected}")


if __name__ == "__main__":
    import torch
    torch.set_num_threads(1)
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
