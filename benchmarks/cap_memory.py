"""Peak decode memory on the largest file each codec accepts by default
(SECURITY.md "Peak memory on the largest allowed file").

A codec's largest file is set by its own pixel cap or, below that, by its decode-memory
estimate reaching the default ``Limits.max_decode_memory`` (4 GiB). For each codec this
makes a valid file of exactly that size (kodim23 mirrored into a 1536×1024 tile,
repeated to fill it; the cheap settings of the fault sweeps, tests/test_hardening.py
SMALL), checks that the default limits accept it and that the next size up is refused
(cap or estimate), then decodes it once in a fresh process after a warm-up decode of
a small file, as benchmarks/decode_memory.py does: the peak RSS during the decode less
the RSS before it, against the codec's estimate. The encode runs in its own process
too (its peak RSS is recorded; address space capped at ENCODE_ADDRESS_SPACE so that an
encoder that cannot make the file fails instead of swapping the machine). ::

    python benchmarks/cap_memory.py [CASE ...]     # → results/security/cap-memory.json

Resumable: cases already in the results file are kept unless named. Slow: the per-image
trained codecs (overfit, lossless, mlp-lossless, the block codecs) fit their networks
on 6 to 17 megapixels.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import latentpress  # noqa: E402
from latentpress.bench.run import machine_description  # noqa: E402
from latentpress.codecs.base import get_codec  # noqa: E402
from latentpress.codecs.overfit.codec import MAX_PIXELS as OVERFIT_CAP  # noqa: E402
from latentpress.container import Header, Limits  # noqa: E402
from latentpress.image import load_image  # noqa: E402
from tests.test_hardening import _DECODE_PEAK_SCRIPT as _MEASURE  # noqa: E402
from tests.test_hardening import SMALL

OUT = ROOT / "results" / "security" / "cap-memory.json"
KODAK = ROOT.parent / "shared" / "data" / "kodak"
ENCODE_ADDRESS_SPACE = 20 << 30
CAP_16M = 1 << 24          # the block, cae, cnn and lossless codecs' own pixel cap
# The block codecs train with the report's batch size of 1 (65,536 blocks here): batches of
# 4,096 and one epoch without restarts make the same decoder shape in seconds.
QUICK_BLOCKS = {"batch_size": 4096, "epochs": 1, "restarts": 0}
# case → (codec, extra parameters over SMALL's, (height, width), what sets the size).
CASES = {
    "block-cnn": ("block-cnn", QUICK_BLOCKS, (4096, 4096), "cap"),
    "block-convlstm": ("block-convlstm", QUICK_BLOCKS, (4096, 4096), "cap"),
    "cnn-ae": ("cnn-ae", {}, (4096, 4096), "cap"),
    "gan-ae": ("gan-ae", {}, (4096, 4096), "cap"),
    "cnn-ae-ft": ("cnn-ae-ft", {}, (4096, 4096), "cap"),
    "cnn-rnn-ae": ("cnn-rnn-ae", {}, (4096, 4096), "cap"),
    "cae": ("cae", {}, (4096, 4096), "cap"),
    # 128 MiB + 200 B/pixel stays within 4 GiB up to 20,803,747 pixels: 4096×5079.
    "factorized": ("factorized", {}, (4096, 5079), "estimate"),
    # fast and medium (no trained synthesis): 48 MiB + 280 B/pixel, under 4 GiB at the
    # codec's own 2²³ cap.
    "overfit-inverse": ("overfit", {"iterations": 0}, (2048, 4096), "cap"),
    # A trained synthesis: 48 MiB + 704 B/pixel is exactly 4 GiB at 2048×2944.
    "overfit": ("overfit", {}, (2048, 2944), "estimate"),
    "lossless": ("lossless", {}, (4096, 4096), "cap"),
    "mlp-lossless": ("mlp-lossless", {}, (4096, 4096), "cap"),
}

_ENCODE_SCRIPT = r"""
import json, sys, time
import numpy as np
import latentpress
image = np.load(sys.argv[1])
started = time.perf_counter()
data = latentpress.encode(image, sys.argv[2], **json.loads(sys.argv[3]))
seconds = time.perf_counter() - started
open(sys.argv[4], "wb").write(data)
peak = next(int(l.split()[1]) * 1024 for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(peak, seconds)
"""


def _image(height: int, width: int) -> np.ndarray:
    image = load_image(KODAK / "kodim23.png")
    wide = np.concatenate([image, image[:, ::-1]], axis=1)
    tile = np.concatenate([wide, wide[::-1]], axis=0)
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ENCODE_ADDRESS_SPACE, ENCODE_ADDRESS_SPACE))


def _estimate(codec: str, header: Header, height: int, width: int) -> int:
    return type(get_codec(codec)).decode_memory(
        Header(header.codec, header.codec_version, width, height, header.channels, params=header.params))


def measure(case: str, folder: Path) -> dict:
    codec, extra, (height, width), bound_by = CASES[case]
    kind, small_params = SMALL[codec]
    params = {**small_params, **extra}
    # The warm-up file: the fault sweeps' small image (the block codecs need a larger one
    # to be feasible at all).
    crop = (slice(200, 330), slice(300, 400)) if kind == "large" else (slice(200, 248), slice(300, 364))
    small_image = np.ascontiguousarray(_image(1024, 1536)[crop])
    small = folder / f"{case}-small.lpx"
    small.write_bytes(latentpress.encode(small_image, codec, **params))
    source = folder / f"{case}.npy"
    np.save(source, _image(height, width))
    path = folder / f"{case}.lpx"
    started = time.perf_counter()
    encoded = subprocess.run([sys.executable, "-c", _ENCODE_SCRIPT, str(source), codec, json.dumps(params), str(path)],
                             capture_output=True, text=True, timeout=3600, preexec_fn=_limit_address_space)
    row = {"params": params, "height": height, "width": width, "pixels": height * width, "bound_by": bound_by}
    if encoded.returncode != 0:
        lines = (encoded.stderr or encoded.stdout).strip().splitlines()
        return {**row, "encode_failed": lines[-1] if lines else f"exit status {encoded.returncode}",
                "encode_wall_s": round(time.perf_counter() - started, 1)}
    encode_peak, encode_s = encoded.stdout.split()
    data = path.read_bytes()
    header = latentpress.read_info(data)
    estimate = type(get_codec(codec)).decode_memory(header)
    limits = Limits()
    # The next size up must be refused: by the estimate, or by the codec's own cap.
    larger = _estimate(codec, header, height, width + 1)
    refused_above = larger > limits.max_decode_memory if bound_by == "estimate" else \
        height * (width + 1) > (OVERFIT_CAP if codec == "overfit" else CAP_16M)
    decoded = subprocess.run([sys.executable, "-c", _MEASURE, str(small), str(path)], capture_output=True,
                             text=True, timeout=3600)
    if decoded.returncode != 0:
        lines = decoded.stderr.strip().splitlines()
        return {**row, "file_bytes": len(data), "decode_estimate_bytes": estimate,
                "decode_failed": lines[-1] if lines else f"exit status {decoded.returncode}"}
    grown, seconds = decoded.stdout.split()
    return {**row, "file_bytes": len(data), "encode_s": round(float(encode_s), 1),
            "encode_peak_rss_bytes": int(encode_peak), "decode_s": round(float(seconds), 2),
            "decode_peak_rss_growth_bytes": int(grown), "decode_estimate_bytes": estimate,
            "accepted_by_default_limits": estimate <= limits.max_decode_memory, "next_size_refused": refused_above,
            "estimate_holds": int(grown) <= estimate}


def main() -> None:
    named = sys.argv[1:]
    unknown = [n for n in named if n not in CASES]
    if unknown:
        sys.exit(f"unknown cases {unknown}; choose from {', '.join(CASES)}")
    results = json.loads(OUT.read_text())["cases"] if OUT.exists() else {}
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            if (named and case not in named) or (not named and case in results):
                continue
            results[case] = {**measure(case, Path(folder)), "machine": machine_description()}
            print(case, json.dumps(results[case]), flush=True)
            OUT.parent.mkdir(parents=True, exist_ok=True)
            OUT.write_text(json.dumps({"command": "python benchmarks/cap_memory.py",
                                       "cases": {c: results[c] for c in CASES if c in results}}, indent=1) + "\n")


if __name__ == "__main__":
    main()
