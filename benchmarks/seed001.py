"""Report 001's Table 3 on Kodak: the block autoencoders at 16:1 beside JPEG and
JPEG 2000 forced to the same file size, on the 24 Kodak images (the report's "HR images"
are not available; Kodak stands in for them).

For each image: ``cnn-ae``, ``gan-ae``, ``cnn-rnn-ae`` (three stages, and the quality
after one and two), ``cnn-ae-ft``, and each of them again with ``deblock=true`` (the
post-filter, beyond the seed); then JPEG (Pillow/libjpeg, 4:2:0, optimized Huffman tables) at the
highest quality whose file is no larger than the ``cnn-ae`` file, and JPEG 2000
(OpenJPEG through Pillow, irreversible with the colour transform, its rate control aimed at that size). PSNR-RGB
and SSIM (latentpress.metrics: Gaussian window, mean over the RGB channels), encode and
decode seconds and peak RSS.

Resumable: records go into OUT/results.json as they are measured. Run it alone::

    python benchmarks/seed001.py             # ~10 min on 2 CPU cores (Table 2: ~1 min more)
    python benchmarks/seed001.py --tables    # only rewrite OUT/tables.md
"""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from latentpress import api
from latentpress.bench.measure import measure
from latentpress.bench.run import machine_description
from latentpress.codecs.base import get_codec
from latentpress.metrics import psnr, ssim

ROOT = Path(__file__).resolve().parent.parent
KODAK = ROOT.parent / "shared" / "data" / "kodak"
# Row label → (codec, parameters).
CODECS = {"cnn-ae": ("cnn-ae", {}), "gan-ae": ("gan-ae", {}), "cnn-rnn-ae": ("cnn-rnn-ae", {}),
          "cnn-ae-ft": ("cnn-ae-ft", {})}
CODECS.update({f"{label}, deblocked": (codec, {"deblock": True}) for label, (codec, _) in list(CODECS.items())})
# Table 3 of the seed (HR images, 16:1): PSNR dB, SSIM.
SEED = {"jpeg2000": (36.1, 0.993), "cnn-ae-ft": (33.9, 0.99), "gan-ae": (32.53, 0.987), "jpeg": (33.2, 0.986),
        "cnn-rnn-ae": (30.2, 0.972), "cnn-ae": (28.9, 0.968)}


def _quality(pixels: np.ndarray, decoded: np.ndarray, size: int) -> dict:
    return {"bytes": size, "ratio": pixels.size / size, "bpp": 8.0 * size / (pixels.shape[0] * pixels.shape[1]),
            "psnr": psnr(pixels, decoded), "ssim": ssim(pixels, decoded)}


def _timing(encoded, decoded) -> dict:
    return {"encode_s": encoded.seconds, "decode_s": decoded.seconds,
            "encode_peak_rss_mb": round(encoded.peak_rss_mb, 1), "decode_peak_rss_mb": round(decoded.peak_rss_mb, 1)}


def _jpeg(pixels: np.ndarray, quality: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=quality, subsampling=2, optimize=True)
    return buffer.getvalue()


def _jpeg_at_most(pixels: np.ndarray, size: int) -> bytes:
    low, high, best = 1, 100, _jpeg(pixels, 1)
    while low <= high:
        middle = (low + high) // 2
        data = _jpeg(pixels, middle)
        if len(data) <= size:
            best, low = data, middle + 1
        else:
            high = middle - 1
    if len(best) > size:
        raise RuntimeError(f"JPEG at quality 1 ({len(best)} B) is larger than {size} B")
    return best


def _jpeg2000_at_most(pixels: np.ndarray, size: int) -> bytes:
    ratio = pixels.size / size
    for _ in range(20):                      # OpenJPEG's rate control can overshoot a little
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, "JPEG2000", irreversible=True, quality_mode="rates",
                                     quality_layers=[ratio], no_jp2=True, mct=1)
        if buffer.tell() <= size:
            return buffer.getvalue()
        ratio *= 1.01
    raise RuntimeError("JPEG 2000 rate control did not reach the size")


def image_records(path: Path, names: list[str], target: int | None) -> list[dict]:
    """Records of the given codecs on one image, then JPEG and JPEG 2000 at the size of its
    cnn-ae file unless ``target`` is None (already measured)."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    records = []
    for name in names:
        codec = get_codec(CODECS[name][0])
        params = codec.parse_params(CODECS[name][1])
        data, encoded = measure(lambda: api.pack(codec, pixels, codec.encode(pixels, params)))
        decoded, decoded_m = measure(lambda: api.decode(data))
        record = {"image": path.name, "codec": name, **_quality(pixels, decoded, len(data)), **_timing(encoded, decoded_m)}
        if name == "cnn-rnn-ae":
            record["psnr_per_step"] = [psnr(pixels, api.decode(data, steps=k)) for k in (1, 2, 3)]
        records.append(record)
    if target is None:
        return records
    target = next(r["bytes"] for r in records if r["codec"] == "cnn-ae")
    for label, encode in (("jpeg", _jpeg_at_most), ("jpeg2000", _jpeg2000_at_most)):
        data, encoded = measure(lambda: encode(pixels, target))
        decoded, decoded_m = measure(lambda: np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
        records.append({"image": path.name, "codec": label, **_quality(pixels, decoded, len(data)),
                        **_timing(encoded, decoded_m)})
    return records


def untuned_record(path: Path) -> dict:
    """cnn-ae-ft with iterations=0: its pretrained narrow decoder, what fine-tuning starts from."""
    pixels = np.asarray(Image.open(path).convert("RGB"))
    codec = get_codec("cnn-ae-ft")
    params = codec.parse_params({"iterations": 0})
    data, encoded = measure(lambda: api.pack(codec, pixels, codec.encode(pixels, params)))
    decoded, decoded_m = measure(lambda: api.decode(data))
    return {"image": path.name, "codec": "cnn-ae-ft, not fine-tuned", **_quality(pixels, decoded, len(data)),
            **_timing(encoded, decoded_m)}


# Table 2 of the seed (CIFAR-10 test images, 32×32): PSNR dB.
SEED_TABLE2 = {"cnn-ae": 30.6, "gan-ae": 36.98, "cnn-rnn-ae": 31.4, "jpeg2000": 43.6, "jpeg": 28.24}
TABLE2_CROPS = 256


def table2(photos: Path, have: dict | None = None) -> dict:
    """Table 2's protocol: 32×32 images the networks never saw, TABLE2_CROPS random crops
    of the held-out photos (train/crops.py HELD_OUT), each coded as a file of its own.
    Rows already in ``have`` (an earlier run's table2) are kept, the missing measured."""
    from latentpress.train.crops import HELD_OUT
    paths = sorted(p for p in photos.glob("*.png") if p.stem in HELD_OUT)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(TABLE2_CROPS):
        image = images[rng.integers(len(images))]
        top, left = rng.integers(image.shape[0] - 31), rng.integers(image.shape[1] - 31)
        crops.append(np.ascontiguousarray(image[top:top + 32, left:left + 32]))
    means = dict((have or {}).get("mean_psnr", {}))
    for name in ("cnn-ae", "gan-ae"):
        if name not in means:
            means[name] = float(np.mean([psnr(crop, api.decode(api.encode(crop, name))) for crop in crops]))
    stages = ("cnn-rnn-ae, 1 stage", "cnn-rnn-ae, 2 stages", "cnn-rnn-ae")
    if any(label not in means for label in stages):
        psnrs: dict[str, list[float]] = {label: [] for label in stages}
        for crop in crops:
            data = api.encode(crop, "cnn-rnn-ae")
            for k, label in enumerate(stages, start=1):
                psnrs[label].append(psnr(crop, api.decode(data, steps=k)))
        means.update({k: float(np.mean(v)) for k, v in psnrs.items()})
    order = ("cnn-ae", "gan-ae") + stages
    return {"photos": [p.name for p in paths], "crops": TABLE2_CROPS, "mean_psnr": {k: means[k] for k in order}}


def tables(results: dict) -> str:
    records = results["records"]
    images = sorted({r["image"] for r in records})
    lines = [f"Measured on: {results['machine']}. {len(images)} Kodak images; means over images. "
             "Ratio = raw RGB bytes / whole file bytes (the .lpx header included); JPEG and JPEG 2000 "
             "at most the size of the cnn-ae file (the highest JPEG quality that fits; JPEG 2000's rate "
             "control aimed at that size, stepped down 1% at a time until it fits); their encode times "
             "include that search.", "",
             "| method | seed PSNR dB | seed SSIM | ratio | bpp | PSNR dB | SSIM | encode s | decode s "
             "| encode peak RSS MB | decode peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    order = ("jpeg2000", "cnn-ae-ft", "cnn-ae-ft, deblocked", "cnn-ae-ft, not fine-tuned", "gan-ae",
             "gan-ae, deblocked", "jpeg", "cnn-rnn-ae", "cnn-rnn-ae, deblocked", "cnn-ae", "cnn-ae, deblocked")
    for name in order:
        rows = [r for r in records if r["codec"] == name]
        seed_psnr, seed_ssim = SEED.get(name, ("–", "–"))
        if not rows and name.endswith("deblocked"):
            continue
        if not rows:
            lines.append(f"| {name} | {seed_psnr} | {seed_ssim} | not measured yet | | | | | | | |")
            continue
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("ratio", "bpp", "psnr", "ssim", "encode_s", "decode_s")}
        lines.append(f"| {name} | {seed_psnr} | {seed_ssim} | {mean['ratio']:.2f} | {mean['bpp']:.3f} | "
                     f"{mean['psnr']:.2f} | {mean['ssim']:.4f} | {mean['encode_s']:.2f} | {mean['decode_s']:.3f} | "
                     f"{max(r['encode_peak_rss_mb'] for r in rows):.0f} | {max(r['decode_peak_rss_mb'] for r in rows):.0f} |")
    if "table2" in results:
        t2 = results["table2"]
        lines += ["", f"Table 2's protocol: {t2['crops']} random 32×32 crops of the held-out photos "
                  f"({', '.join(t2['photos'])}), each coded as its own file; mean PSNR dB (the seed: CIFAR-10 "
                  "test images). JPEG and JPEG 2000 are left out: a 32×32 file at 16:1 has 192 bytes, and "
                  "their headers take most or all of that.", "", "| method | seed PSNR dB | PSNR dB |", "|---|---|---|"]
        for name, value in t2["mean_psnr"].items():
            lines.append(f"| {name} | {SEED_TABLE2.get(name, '–')} | {value:.2f} |")
    steps = [r["psnr_per_step"] for r in records if r["codec"] == "cnn-rnn-ae"]
    if steps:
        means = np.mean(steps, axis=0)
        lines += ["", "cnn-rnn-ae, progressive: mean PSNR after 1, 2, 3 stages (48:1, 24:1, 16:1): "
                  + ", ".join(f"{m:.2f} dB" for m in means)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "results" / "seed001"))
    parser.add_argument("--images", default=str(KODAK))
    parser.add_argument("--photos", default=str(ROOT.parent / "shared" / "data" / "photos"),
                        help="Table 2: the held-out photos are taken from here")
    parser.add_argument("--tables", action="store_true", help="only rewrite tables.md")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "results.json"
    results = json.loads(store.read_text()) if store.exists() else {"machine": machine_description(), "records": []}
    if not args.tables:
        for path in sorted(Path(args.images).glob("kodim*.png")):
            have = {r["codec"]: r for r in results["records"] if r["image"] == path.name}
            missing = [name for name in CODECS if name not in have]
            if "cnn-ae" in have and "jpeg" in have:
                if not missing:
                    continue
                records = image_records(path, missing, None)
            else:
                names = ["cnn-ae"] + [name for name in missing if name != "cnn-ae"]
                records = image_records(path, names, 0)
            print(path.name, ", ".join(r["codec"] for r in records), flush=True)
            results["records"] += records
            store.write_text(json.dumps(results, indent=1))
        results["table2"] = table2(Path(args.photos), results.get("table2"))
        store.write_text(json.dumps(results, indent=1))
        untuned = {r["image"] for r in results["records"] if r["codec"] == "cnn-ae-ft, not fine-tuned"}
        for path in sorted(Path(args.images).glob("kodim*.png")):
            if path.name not in untuned:
                results["records"].append(untuned_record(path))
                store.write_text(json.dumps(results, indent=1))
    (out / "tables.md").write_text(tables(results))
    print(tables(results))


if __name__ == "__main__":
    main()
