"""The second test set besides Kodak: the training photographs every pretrained model
leaves out (latentpress.train.crops.HELD_OUT, eight of ../shared/data/photos), at full
size and as centre crops of 512×384 and 256×256, written as PNGs for `latentpress bench`.

    python benchmarks/heldout_images.py [--photos ../shared/data/photos] [--out runs/heldout]

writes OUT/full/, OUT/512x384/ and OUT/256x256/ (runs/ is not committed; the images are
a deterministic function of the photos).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress.train.crops import HELD_OUT  # noqa: E402

SIZES = {"512x384": (384, 512), "256x256": (256, 256)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=Path, default=ROOT.parent / "shared" / "data" / "photos")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "heldout")
    args = parser.parse_args()
    for stem in sorted(HELD_OUT):
        image = np.asarray(Image.open(args.photos / f"{stem}.png").convert("RGB"))
        sets = {"full": image}
        for name, (height, width) in SIZES.items():
            if image.shape[0] < image.shape[1]:
                h, w = height, width
            else:                                  # portrait photos get portrait crops
                h, w = width, height
            top, left = (image.shape[0] - h) // 2, (image.shape[1] - w) // 2
            sets[name] = image[top:top + h, left:left + w]
        for name, pixels in sets.items():
            folder = args.out / name
            folder.mkdir(parents=True, exist_ok=True)
            target = folder / f"photo{stem}.png"
            if not target.exists():
                Image.fromarray(np.ascontiguousarray(pixels)).save(target)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
