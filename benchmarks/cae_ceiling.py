"""The quality ceiling of the shipped CAE models: what the autoencoders give
back with no quantization at all, which no rate can exceed.

- on the 24 Kodak images, the whole pipeline without quantization (YCbCr, both models,
  whole-image inference): PSNR-RGB per image and the mean;
- on 64 random 128×128 crops of the 8 training photos the GPU run left out (every
  sixth of ../shared/data/photos, benchmarks/train_cae.sh): luma and chroma PSNR;
- the side information: the stored PCA rotation (section PCAU) of each Kodak image at
  0.12 bpp, the report's lowest rate.

Writes results/cae/ceiling.json; about a minute on 2 CPU cores::

    python benchmarks/cae_ceiling.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import latentpress
from latentpress import container
from latentpress.bench.run import machine_description
from latentpress.codecs.cae.codec import _analysis, _models, _planes, _synthesis
from latentpress.codecs.cae.model import DOWNSAMPLING, rgb_to_ycbcr
from latentpress.image import load_image, pad_to_multiple, to_uint8, ycbcr_to_rgb
from latentpress.metrics import psnr


def _unquantized(image: np.ndarray) -> np.ndarray:
    models = _models()
    planes = _planes(image)
    decoded = []
    for plane, model in zip(planes, [models["luma"], models["chroma"], models["chroma"]]):
        padded = pad_to_multiple(plane, DOWNSAMPLING)
        decoded.append(_synthesis(model, _analysis(model, padded, False), False)[:plane.shape[0], :plane.shape[1]])
    return to_uint8(ycbcr_to_rgb(np.stack(decoded, axis=-1).astype(np.float64) * 255.0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", default="../shared/data/kodak")
    parser.add_argument("--photos", default="../shared/data/photos")
    parser.add_argument("--out", default="results/cae/ceiling.json")
    args = parser.parse_args(argv)
    kodak, rotation = {}, {}
    for path in sorted(Path(args.kodak).glob("kodim*.png")):
        image = load_image(path)
        kodak[path.name] = round(psnr(image, _unquantized(image)), 3)
        sections = container.read(latentpress.encode(image, "cae", bpp=0.12))[1]
        rotation[path.name] = next(len(s.data) for s in sections if s.type == "PCAU")
        print(path.name, kodak[path.name], rotation[path.name])
    held_out = [p for i, p in enumerate(sorted(Path(args.photos).glob("*.png")), start=1) if i % 6 == 0]
    rng = np.random.default_rng(0)
    crops = []
    for _ in range(64):
        photo = load_image(held_out[rng.integers(len(held_out))])
        top, left = rng.integers(photo.shape[0] - 127), rng.integers(photo.shape[1] - 127)
        crops.append(photo[top:top + 128, left:left + 128])
    ycbcr = rgb_to_ycbcr(torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float() / 255.0)
    models = _models()
    components = {}
    with torch.inference_mode():
        for name, model, x in (("luma", models["luma"], ycbcr[:, :1]),
                               ("chroma", models["chroma"], ycbcr[:, 1:].reshape(-1, 1, 128, 128))):
            code = model.encode(x)
            results = {}
            for label, y in (("unquantized", code), ("rounded", torch.round(code))):
                mse = torch.mean((model.decode(y).clamp(0, 1) - x) ** 2).item() * 255.0 ** 2
                results[label] = round(10 * np.log10(255.0 ** 2 / mse), 3)
            results["mean_abs_code"] = round(code.abs().mean().item(), 3)
            components[name] = results
    summary = {"machine": machine_description(),
               "kodak_psnr_rgb_unquantized": kodak,
               "kodak_mean_psnr_rgb_unquantized": round(float(np.mean(list(kodak.values()))), 3),
               "kodak_rotation_bytes_at_0.12_bpp": rotation,
               "kodak_mean_rotation_bytes_at_0.12_bpp": round(float(np.mean(list(rotation.values()))), 1),
               "held_out_photos": [p.name for p in held_out],
               "held_out_crops_psnr": components}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if not k.startswith("kodak_") or "mean" in k}, indent=1))


if __name__ == "__main__":
    main()
