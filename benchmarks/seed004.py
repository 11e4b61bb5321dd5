"""Report 004 reproduced: Table 2 (held-out RMSE of the dense autoencoder per
middle-layer width after 1, 50, 100 and 200 epochs) on MNIST and Fashion-MNIST, and the
size accounting of the ``dense-mnist`` codec: model bytes, bytes per coded digit in each
code representation, the break-even count, quality, time and peak memory, with PNG and
JPEG XL lossless of the same digits for scale.

Table 2 reads the training logs that benchmarks/train_dense.sh copies into
results/seed004/logs/ (their held-out errors are over the last 2,000 digits of the MNIST
test split and all 10,000 Fashion-MNIST test images); the rest codes 2,000 held-out
images with the shipped models (MNIST: those 2,000; Fashion-MNIST: the first 2,000 test
images). ::

    python benchmarks/seed004.py      # → results/seed004/{results.json,tables.md} (~3 min)
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
from PIL import Image

from latentpress import api, container
from latentpress.bench.measure import measure
from latentpress.bench.run import machine_description
from latentpress.codecs.dense.model import CODE, PIXELS, WIDTHS, DenseAutoencoder, weight_count
from latentpress.metrics import psnr
from latentpress.train.dense import SPLIT
from latentpress.train.idx import read_idx

ROOT = Path(__file__).resolve().parent.parent
DATA = {"mnist": ROOT.parent / "shared" / "data" / "mnist", "fashion": Path("/usr/share/datasets/fashion-mnist")}
EPOCHS = (1, 50, 100, 200)
# The report's Table 2 (MNIST; "root mean square error values of the test set"): the
# columns 1, 50, 100, 200 iterations and "Test".
SEED_TABLE2 = {64: (0.20, 0.04, 0.028, 0.019, 0.011), 50: (0.16, 0.037, 0.023, 0.017, 0.012),
               36: (0.18, 0.029, 0.023, 0.016, 0.013), 22: (0.12, 0.042, 0.034, 0.023, 0.014)}
SEED_MODEL_KB = 2623                  # its TensorFlow checkpoint (Table 1)
CODEC_IMAGES = 2000                   # Fashion-MNIST test images the codec rows code (MNIST: its 2,000 held out)
REPRESENTATIONS = (("float32", {"code": "float32"}), ("float16", {"code": "float16"}),
                   ("fixed, 8 bits", {"code": "fixed", "bits": 8}), ("range, 8 bits", {"code": "range", "bits": 8}),
                   ("range, 6 bits", {"code": "range", "bits": 6}), ("range, 4 bits", {"code": "range", "bits": 4}))


def held_out(dataset: str) -> np.ndarray:
    folder = DATA[dataset]
    test = next(p for p in (folder / "t10k-images-idx3-ubyte.gz", folder / "t10k-images-idx3-ubyte") if p.exists())
    images = read_idx(test)
    return images[:CODEC_IMAGES] if dataset == "fashion" else images[SPLIT:]


def table2_rows(logs: Path) -> dict:
    rows = {}
    for dataset in DATA:
        for width in WIDTHS:
            path = logs / f"{dataset}-{width}-log.jsonl"
            if not path.exists():
                continue
            records = {r["step"]: r for r in map(json.loads, path.read_text().splitlines())}
            rows[f"{dataset}-{width}"] = {"rmse": [records[e]["test_rmse"] if e in records else None for e in EPOCHS],
                                          "mse": [records[e]["test_mse"] if e in records else None for e in EPOCHS],
                                          "seconds": records[max(records)]["seconds"], "epochs": max(records)}
    return rows


def _text_bytes(values: np.ndarray) -> int:
    """The report's §1.2 storage: numpy text with 19 significant digits (numpy.savetxt)."""
    buffer = io.BytesIO()
    np.savetxt(buffer, values.reshape(1, -1), fmt="%.18e")
    return buffer.tell()


def representation_rows(dataset: str, digits: np.ndarray) -> list[dict]:
    rows = []
    for label, options in REPRESENTATIONS:
        options = {**options, "model": dataset}
        files, encoded = measure(lambda: [api.encode(d, "dense-mnist", **options) for d in digits])
        decoded, decoded_m = measure(lambda: [api.decode(f) for f in files])
        errors = np.stack([(d.astype(np.float64) - e) / 255.0 for d, e in zip(digits, decoded)])
        payload = [len(container.read(f)[1][0].data) for f in files]
        rows.append({"representation": label, "payload_bytes": float(np.mean(payload)),
                     "file_bytes": float(np.mean([len(f) for f in files])),
                     "rmse": float(np.sqrt(np.mean(errors ** 2))),
                     "psnr": float(np.mean([psnr(d, e) for d, e in zip(digits, decoded)])),
                     "encode_ms": 1000 * encoded.seconds / len(digits), "decode_ms": 1000 * decoded_m.seconds / len(digits),
                     "encode_peak_rss_mb": round(encoded.peak_rss_mb, 1), "decode_peak_rss_mb": round(decoded_m.peak_rss_mb, 1)})
        print(dataset, rows[-1], flush=True)
    return rows


def reference_rows(digits: np.ndarray) -> list[dict]:
    import imagecodecs

    def png(d):
        buffer = io.BytesIO()
        Image.fromarray(d).save(buffer, "PNG", optimize=True)
        return buffer.getvalue()

    rows = [{"representation": "raw (784 bytes)", "file_bytes": float(PIXELS)},
            {"representation": "the seed's text of the 784 inputs (%.18e)",
             "file_bytes": float(np.mean([_text_bytes(d / 255.0) for d in digits[:200]]))},
            {"representation": f"the seed's text of the {CODE}-value code (%.18e)",
             "file_bytes": float(_text_bytes(np.full(CODE, 0.123456789)))}]
    for label, encode in (("PNG (Pillow, optimize)", png),
                          ("JPEG XL lossless (libjxl, effort 7)",
                           lambda d: imagecodecs.jpegxl_encode(d, lossless=True, effort=7))):
        start = time.perf_counter()
        sizes = [len(encode(d)) for d in digits]
        rows.append({"representation": label, "file_bytes": float(np.mean(sizes)),
                     "encode_ms": 1000 * (time.perf_counter() - start) / len(digits)})
    return rows


def tables(results: dict) -> str:
    lines = [f"Measured on: {results['machine']}.", "",
             "Table 2: RMSE of the held-out images (pixels in [0, 1]) after 1, 50, 100 and 200 epochs "
             "(an epoch is one pass over the training images; the seed's 'iterations'), and the MSE at the "
             "same points. MNIST: trained on the first 8,000 digits of the MNIST test split, held out the last 2,000; "
             "Fashion-MNIST: its 60,000 training and 10,000 test images. The seed's last column ('Test') "
             "is beside our MSE.", "",
             "| data | model | seed 1 | seed 50 | seed 100 | seed 200 | seed 'Test' | RMSE 1 | RMSE 50 "
             "| RMSE 100 | RMSE 200 | MSE 1 | MSE 50 | MSE 100 | MSE 200 | training s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key, row in results["table2"].items():
        dataset, width = key.rsplit("-", 1)
        seed = SEED_TABLE2[int(width)] if dataset == "mnist" else ("–",) * 5
        fmt = [("–" if v is None else f"{v:.4f}") for v in row["rmse"] + row["mse"]]
        lines.append(f"| {dataset} | 128-{width}-128 | " + " | ".join(map(str, seed)) + " | " + " | ".join(fmt)
                     + f" | {row['seconds']:.0f} |")
    for dataset, block in results["codec"].items():
        lines += ["", f"dense-mnist, model={dataset}, on {block['digits']} held-out images: the model file is "
                  f"{block['model_bytes']:,} bytes ({block['parameters']:,} float16 parameters and the code's "
                  f"frequency tables; the seed's TensorFlow checkpoint: {SEED_MODEL_KB:,} KB). Break-even = "
                  "model bytes / (784 − bytes per digit): how many digits must be sent before sharing the "
                  "model pays off against raw pixels, per .lpx file and per bare code (the seed: 131, "
                  "against its 22 KB text). Times are per digit, through the API (one file each).", "",
                  "| representation | code bytes | .lpx file bytes | ratio vs raw (file) | break-even (file) "
                  "| break-even (code) | RMSE | PSNR dB | encode ms | decode ms | encode peak RSS MB "
                  "| decode peak RSS MB |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in block["rows"]:
            lines.append(f"| {row['representation']} | {row['payload_bytes']:.1f} | {row['file_bytes']:.1f} | "
                         f"{PIXELS / row['file_bytes']:.2f} | {block['model_bytes'] / (PIXELS - row['file_bytes']):.0f} | "
                         f"{block['model_bytes'] / (PIXELS - row['payload_bytes']):.0f} | "
                         f"{row['rmse']:.4f} | {row['psnr']:.2f} | {row['encode_ms']:.2f} | {row['decode_ms']:.2f} | "
                         f"{row['encode_peak_rss_mb']:.0f} | {row['decode_peak_rss_mb']:.0f} |")
        lines += ["", "For scale, lossless and as text (bytes per image, mean):", "",
                  "| representation | bytes | encode ms |", "|---|---|---|"]
        for row in block["references"]:
            ms = f"{row['encode_ms']:.2f}" if "encode_ms" in row else "–"
            lines.append(f"| {row['representation']} | {row['file_bytes']:.1f} | {ms} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "seed004"))
    parser.add_argument("--datasets", default=",".join(DATA), help="which models' codec rows to (re)measure")
    parser.add_argument("--tables", action="store_true", help="only rewrite tables.md")
    args = parser.parse_args(argv)
    out = Path(args.out)
    store = out / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {"codec": {}}
    results["table2"] = table2_rows(out / "logs")
    if not args.tables:
        from latentpress.codecs.dense.codec import MODELS
        from latentpress.weights import weights_bytes
        results["machine"] = machine_description()
        for dataset in args.datasets.split(","):
            digits = held_out(dataset)
            results["codec"][dataset] = {
                "digits": len(digits), "model_bytes": len(weights_bytes(f"{MODELS[dataset]}.safetensors")),
                "parameters": weight_count(DenseAutoencoder()),
                "rows": representation_rows(dataset, digits), "references": reference_rows(digits)}
            store.write_text(json.dumps(results, indent=1) + "\n")
    store.write_text(json.dumps(results, indent=1) + "\n")
    (out / "tables.md").write_text(tables(results))
    print(tables(results))


if __name__ == "__main__":
    main()
