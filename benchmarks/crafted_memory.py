"""Peak decode memory of crafted files: the largest shapes a header may declare, at
the image sizes that cost most per pixel (SECURITY.md).

benchmarks/decode_memory.py measures files the encoders make. A file a stranger
makes may declare what no encoder writes: a block codec's widest decoder (64-pixel
blocks, code length 1,024: 11.8 million weights) on a 64×1 image, or the most code
values allowed (2²⁵: 16-pixel blocks, code length 1,024, a 524288×1 image); a
1-pixel-high image that the 32×32-block codecs pad to 32 rows, and ``cae`` with
patches to 128. Each case is built here
with valid CRCs and valid range-coded sections (random small values, so the decoder
takes its general path), decoded twice, each time in a fresh process after a warm-up
decode of the codec's fuzz seed, and its peak RSS growth compared with the estimate
the codec declares for it (``Codec.decode_memory``, checked against
``Limits.max_decode_memory`` before decoding). ::

    python benchmarks/crafted_memory.py [CASE ...]   # → results/security/crafted-memory.json

Resumable: cases already in the results file are kept unless named.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress import container  # noqa: E402
from latentpress.bench.run import machine_description  # noqa: E402
from latentpress.codecs.base import get_codec  # noqa: E402
from latentpress.codecs.blocks.model import BlockArchitecture  # noqa: E402
from latentpress.container import Header, Section  # noqa: E402
from latentpress.entropy.integer_tensors import (
    encode_rows,  # noqa: E402
    encode_tensors,  # noqa: E402
)
from tests.test_hardening import _DECODE_PEAK_SCRIPT as _MEASURE  # noqa: E402

OUT = ROOT / "results" / "security" / "crafted-memory.json"
SEEDS = ROOT / "fuzz" / "seeds"
REPEATS = 2


def _small(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(-1, 2, shape, dtype=np.int64)


def _block(width: int, height: int, block: int, code_length: int, storage: str) -> tuple[Header, list[Section]]:
    rng = np.random.default_rng(0)
    shapes = BlockArchitecture("cnn", block, code_length).decoder_shapes()
    blocks = -(-width // block) * -(-height // block)
    params = {"code_length": code_length, "block": block, "storage": storage}
    if storage == "float32":
        weights = b"".join((_small(rng, s) / 64).astype("<f4").tobytes() for s in shapes)
        codes = (_small(rng, blocks * code_length) / 2).astype("<f4").tobytes()
    else:
        weights = encode_tensors([_small(rng, s) for s in shapes])
        codes = encode_rows(_small(rng, (code_length, blocks)))
        params.update(weight_step=8, code_step=2)
    return Header("block-cnn", 1, width, height, 3, params=params), [Section("DECW", weights), Section("CODE", codes)]


def _block_ae(codec: str, width: int, height: int) -> tuple[Header, list[Section]]:
    """A 32×32-block codec's range-coded latents (blocks × 4 × 8 × 8)."""
    from latentpress.codecs.cnnae.codec import _load, pack_decoder
    rng = np.random.default_rng(0)
    blocks = -(-width // 32) * -(-height // 32)
    params = {"model": f"{codec}-v1", "entropy": "range"}
    if codec == "cnn-rnn-ae":
        params["steps"] = 3
        sections = [Section(f"STG{k}", encode_rows(rng.integers(0, 4, (4, blocks * 64)))) for k in (1, 2, 3)]
    else:
        sections = [Section("LATN", encode_rows(rng.integers(28, 36, (4, blocks * 64))))]
        if codec == "cnn-ae-ft":
            sections.append(Section("DECW", pack_decoder(_load("cnn-ae-ft-v1").decoder)))
    return Header(codec, 1, width, height, 3, params=params), sections


def _encoded(codec: str, width: int, height: int, **params) -> tuple[Header, list[Section]]:
    """A file the codec's own encoder makes of a thin image (kodim23's pixels in reading
    order, wrapped to width × height)."""
    import latentpress
    from latentpress.image import load_image
    pixels = load_image(ROOT.parent / "shared" / "data" / "kodak" / "kodim23.png").reshape(-1, 3)
    image = np.ascontiguousarray(np.resize(pixels, (width * height, 3)).reshape(height, width, 3))
    return container.read(latentpress.encode(image, codec, **params))


def _cae(width: int, height: int, patches: bool) -> tuple[Header, list[Section]]:
    """cae's range-coded maps (64 per 8×8 cell of the padded grid: 128×128 patches, or
    multiples of 8 without)."""
    import struct
    rng = np.random.default_rng(0)
    multiple = 128 if patches else 8
    cells = (-(-height // multiple) * multiple // 8) * (-(-width // multiple) * multiple // 8)
    params = {"model": "cae-v1", "bpp": 1.0, "entropy": "range", "pca": False, "patches": patches, "step16": 16}
    sections = [Section("RANG", struct.pack("<ff", -1.0, 1.0)),
                Section("MAPS", encode_rows(_small(rng, (64, cells))))]
    return Header("cae", 1, width, height, 3, params=params), sections


CASES = {
    "block-cnn widest decoder (quantized)": lambda: _block(64, 1, 64, 1024, "quantized"),
    "block-cnn widest decoder (float32)": lambda: _block(64, 1, 64, 1024, "float32"),
    "block-cnn most code values (quantized)": lambda: _block(524288, 1, 16, 1024, "quantized"),
    "block-cnn most code values (float32)": lambda: _block(524288, 1, 16, 1024, "float32"),
    "cnn-ae 1 row (2^24 padded pixels)": lambda: _block_ae("cnn-ae", 524288, 1),
    "gan-ae 1 row (2^24 padded pixels)": lambda: _block_ae("gan-ae", 524288, 1),
    "cnn-rnn-ae 1 row (2^24 padded pixels)": lambda: _block_ae("cnn-rnn-ae", 524288, 1),
    "cnn-ae-ft 1 row (2^24 padded pixels)": lambda: _block_ae("cnn-ae-ft", 524288, 1),
    "cae 1 row, patches (128 padded rows)": lambda: _cae(32768, 1, True),
    "cae 1 row, no patches (8 padded rows)": lambda: _cae(131072, 1, False),
    # Thin images the encoders make themselves (1-pixel-high overfit files take the pyramid).
    "overfit 1 row, trained synthesis (encoded)": lambda: _encoded("overfit", 131072, 1, preset="fast", iterations=5),
    "overfit 2 rows, trained synthesis (encoded)": lambda: _encoded("overfit", 65536, 2, preset="fast", iterations=5),
    "factorized 1 row (encoded)": lambda: _encoded("factorized", 131072, 1),
    "lossless 1 row (encoded)": lambda: _encoded("lossless", 131072, 1, iterations=5),
    "mlp-lossless 1 row (encoded)": lambda: _encoded("mlp-lossless", 131072, 1, iterations=5),
}


def estimate(case: dict) -> int:
    """Today's estimate of a recorded case's header."""
    header = Header(case["codec"], case.get("version", 1), case["width"], case["height"], 3, params=case["params"])
    return type(get_codec(case["codec"])).decode_memory(header)


def measure(name: str, folder: Path) -> dict:
    header, sections = CASES[name]()
    data = container.write(header, sections)
    path = folder / "crafted.lpx"
    path.write_bytes(data)
    runs = [subprocess.run([sys.executable, "-c", _MEASURE, str(SEEDS / f"{header.codec}.lpx"), str(path)],
                           capture_output=True, text=True, timeout=1800, check=True).stdout.split()
            for _ in range(REPEATS)]
    case = {"codec": header.codec, "version": header.codec_version, "width": header.width, "height": header.height, "params": dict(header.params),
            "file_bytes": len(data), "runs_bytes": [int(run[0]) for run in runs],
            "decode_s": round(min(float(run[1]) for run in runs), 2)}
    case["peak_rss_growth_bytes"] = max(case["runs_bytes"])
    return case


def write(cases: dict) -> None:
    for case in cases.values():
        case["estimate_bytes"] = estimate(case)
        case["bound_holds"] = case["peak_rss_growth_bytes"] <= case["estimate_bytes"]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"machine": machine_description(), "command": "python benchmarks/crafted_memory.py",
                               "date": time.strftime("%Y-%m-%d"), "cases": cases}, indent=1) + "\n")


def main() -> None:
    named = sys.argv[1:]
    unknown = [n for n in named if n not in CASES]
    if unknown:
        sys.exit(f"unknown cases {unknown}; known: {list(CASES)}")
    cases = json.loads(OUT.read_text())["cases"] if OUT.exists() else {}
    with tempfile.TemporaryDirectory() as folder:
        for name in CASES:
            if (named and name not in named) or (not named and name in cases):
                continue
            cases[name] = measure(name, Path(folder))
            print(name, json.dumps(cases[name]), flush=True)
            write(cases)
    write(cases)


if __name__ == "__main__":
    main()
