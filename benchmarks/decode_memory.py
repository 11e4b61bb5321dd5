"""Peak decode memory per pixel of every registered codec (SECURITY.md).

Each codec encodes kodim23 (768×512) and, unless it codes one fixed size, the same
image mirrored to 1536×1024 (4× the pixels), with the cheap settings of the fault
sweeps (tests/test_hardening.py SMALL: decoding costs the same whatever the training).
Each file is decoded three times, each in a fresh process after a warm-up decode of a
small file of the same codec (models loaded, caches warm). The largest peak RSS during
the decode (Linux: the high-water mark reset just before, /proc/self/clear_refs) less
the RSS before it is what ``Codec.decode_memory`` (``decode_base_bytes`` +
``decode_bytes_per_pixel`` × pixels) must bound: the decoder checks that estimate
against ``Limits.max_decode_memory`` before decoding. ::

    python benchmarks/decode_memory.py [CODEC ...]   # → results/security/decode-memory.json
                                                    # (also overfit-inverse: VARIANTS)
    python benchmarks/decode_memory.py --recheck     # the codecs' bounds against it again

Resumable: codecs already in the results file are kept unless named.
"""

from __future__ import annotations

import dataclasses
import json
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
from latentpress.codecs.overfit.architecture import Architecture  # noqa: E402
from latentpress.codecs.overfit.presets import PRESETS  # noqa: E402
from latentpress.image import load_image  # noqa: E402
from tests.test_hardening import _DECODE_PEAK_SCRIPT as _MEASURE  # noqa: E402
from tests.test_hardening import SMALL

OUT = ROOT / "results" / "security" / "decode-memory.json"
# Decoding paths of one codec with an estimate of their own: name → (codec, settings,
# the codec's attribute holding the bytes per pixel). overfit without joint training
# (fast, medium) stores no synthesis and decodes by the inverse wavelet transform.
VARIANTS = {"overfit-inverse": ("overfit", ("rgb", {"preset": "fast"}), "inverse_decode_bytes_per_pixel"),
            "overfit-widest": ("overfit", ("rgb", {"preset": "widest", "iterations": 2}), "decode_bytes_per_pixel"),
            "overfit-wide-arm": ("overfit", ("rgb", {"preset": "wide-arm", "iterations": 2}), "decode_bytes_per_pixel")}
# The largest trained synthesis an overfit file may declare: 4 layers of 64 channels
# over 8 levels' planes (7 at Kodak size, where levels_for allows no more). No preset
# writes one, so the estimate, which does not depend on the declared shape, must also
# cover this; the benchmark registers a preset that writes it.
WIDEST = Architecture(levels=8, arm_hidden=8, arm_layers=2, synthesis=(64,) * 4, transform="wavelet",
                      band_context=True)
# An ARM fitted from a random start (the shipped ARM's shape is not these): a short fit
# is enough to write the file, the decode is what is measured.
PRESETS["widest"] = dataclasses.replace(PRESETS["fast"], name="widest", architecture=WIDEST, arm_warmup=20,
                                        arm_base=False, arm_learning_rate=3e-2)
# The widest ARM beside a trained synthesis: 2 layers of 64 (3 or 4 layers of 64 with the
# restoration network ask for more work per pixel than the default limit allows).
WIDE_ARM = dataclasses.replace(WIDEST, arm_hidden=64, synthesis=(8, 8))
PRESETS["wide-arm"] = dataclasses.replace(PRESETS["widest"], name="wide-arm", architecture=WIDE_ARM)
# Decodes per file, in fresh processes; the largest peak counts (it varies by tens of MB
# from run to run: allocator arenas of the worker threads).
REPEATS = 3
KODAK = ROOT.parent / "shared" / "data" / "kodak"

def _images() -> dict[str, np.ndarray]:
    image = load_image(KODAK / "kodim23.png")
    wide = np.concatenate([image, image[:, ::-1]], axis=1)
    return {"rgb": np.ascontiguousarray(image[200:248, 300:364]), "kodak": image,
            "large": np.ascontiguousarray(image[200:330, 300:400]),
            "4x": np.ascontiguousarray(np.concatenate([wide, wide[::-1]], axis=0)),
            "digit": np.ascontiguousarray(image[200:228, 300:328, 1]),
            "digit-other": np.ascontiguousarray(image[300:328, 400:428, 1])}


def _setting(name: str) -> tuple[str, tuple[str, dict], str]:
    """(codec, (image kind, parameters), attribute of its bytes per pixel) of a row."""
    return VARIANTS.get(name, (name, SMALL.get(name), "decode_bytes_per_pixel"))


def measure(name: str, images: dict[str, np.ndarray], folder: Path) -> dict:
    codec, (kind, params), _ = _setting(name)
    digit = kind == "digit"
    small = folder / f"{codec}-small.lpx"
    small.write_bytes(latentpress.encode(images[kind], codec, **params))
    rows = {}
    for size in (("digit-other",) if digit else ("kodak", "4x")):
        image = images[size]
        path = folder / f"{codec}-{size}.lpx"
        started = time.perf_counter()
        path.write_bytes(latentpress.encode(image, codec, **params))
        encode_s = time.perf_counter() - started
        runs = [subprocess.run([sys.executable, "-c", _MEASURE, str(small), str(path)], capture_output=True,
                               text=True, timeout=1800, check=True).stdout.split() for _ in range(REPEATS)]
        grown = max(int(run[0]) for run in runs)
        pixels = image.shape[0] * image.shape[1]
        rows[f"{image.shape[1]}x{image.shape[0]}"] = {
            "pixels": pixels, "peak_rss_growth_bytes": grown, "runs_bytes": [int(run[0]) for run in runs],
            "bytes_per_pixel": round(grown / pixels, 1), "decode_s": round(min(float(run[1]) for run in runs), 3),
            "encode_s": round(encode_s, 1)}
    return {"params": params, "sizes": rows}


def with_bounds(name: str, row: dict) -> dict:
    """The codec's declared estimate (base + bytes per pixel) at every measured size,
    and whether it covers the measurement."""
    codec, _, attribute = _setting(name)
    implementation = type(get_codec(codec))
    per_pixel = getattr(implementation, attribute)
    estimates = {size: implementation.decode_base_bytes + per_pixel * m["pixels"] for size, m in row["sizes"].items()}
    return {"params": row["params"], "sizes": row["sizes"], "decode_base_bytes": implementation.decode_base_bytes,
            "decode_bytes_per_pixel": per_pixel, "estimates": estimates,
            "bound_holds": all(m["peak_rss_growth_bytes"] <= estimates[size] for size, m in row["sizes"].items())}


def write(results: dict) -> None:
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": machine_description(), "command": "python benchmarks/decode_memory.py",
                               "codecs": {c: with_bounds(c, r) for c, r in sorted(results.items())}},
                              indent=1) + "\n")


def main() -> None:
    named = [a for a in sys.argv[1:] if not a.startswith("--")]
    results = json.loads(OUT.read_text())["codecs"] if OUT.exists() else {}
    if "--recheck" in sys.argv:            # the declared bounds changed: no new measurement
        write(results)
        return
    images = _images()
    with tempfile.TemporaryDirectory() as folder:
        for codec in sorted([*SMALL, *VARIANTS]):
            if (named and codec not in named) or (not named and codec in results):
                continue
            results[codec] = measure(codec, images, Path(folder))
            print(codec, json.dumps(results[codec]), flush=True)
            write(results)


if __name__ == "__main__":
    main()
