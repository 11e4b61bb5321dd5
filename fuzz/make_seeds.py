"""Write the fuzzers' seed inputs: fuzz/seeds/CODEC.lpx (one small valid file per
registered codec, made as tests/test_hardening.py makes them), fuzz/seeds/container/
(the same files, for the container harness) and fuzz/seeds/CODEC/seed (the framed parts
of CODEC.lpx, for the codec harness). The overfit seed carries a FILT section (payload
version 6) that runs the restoration network and then a linear post-filter (designed
with a negligible rate weight, as the encoder would not spend its bytes on so small an
image), so the harness reaches both parsers. The overfit-instant seed (the shipped ARM,
payload version 7's ``arm_base``) is fuzzed by the overfit decoder.

    python fuzz/make_seeds.py [--only overfit] --kodak ../shared/data/kodak
"""

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

import latentpress  # noqa: E402
from harness import frame, seed_parts  # noqa: E402
from latentpress import container  # noqa: E402
from latentpress.codecs.overfit import postfilter, restoration  # noqa: E402
from latentpress.image import load_image  # noqa: E402
from tests.test_hardening import SMALL, VARIANTS  # noqa: E402


def with_post_filter(data: bytes, original: np.ndarray) -> bytes:
    header, sections = container.read(data)
    plain = [s for s in sections if s.type != "FILT"]
    restored = restoration.shipped()(latentpress.decode(container.write(header, plain)), 1)
    filt, _ = postfilter.design(restored, original, 1e-9)
    return container.write(header, plain + [container.Section("FILT", bytes([2]) + filt)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", default=str(HERE.parent.parent / "shared" / "data" / "kodak"))
    parser.add_argument("--only", help="one codec's seed (the others stay as they are)")
    args = parser.parse_args()
    image = load_image(Path(args.kodak) / "kodim23.png")
    images = {"rgb": np.ascontiguousarray(image[200:248, 300:364]),
              "large": np.ascontiguousarray(image[200:330, 300:400]),
              "digit": np.ascontiguousarray(image[200:228, 300:328, 1])}
    seeds = HERE / "seeds"
    (seeds / "container").mkdir(parents=True, exist_ok=True)
    # A codec's variants (VARIANTS: another payload form, e.g. overfit-instant's shipped
    # ARM) get seeds of their own, fuzzed as their codec.
    files = {name: (name, kind, params) for name, (kind, params) in SMALL.items()} | VARIANTS
    for name, (codec, kind, params) in sorted(files.items()):
        if args.only and name != args.only:
            continue
        data = latentpress.encode(images[kind], codec, **params)
        if name == "overfit":
            data = with_post_filter(data, images[kind])
        (seeds / f"{name}.lpx").write_bytes(data)
        (seeds / "container" / f"{name}.lpx").write_bytes(data)
        (seeds / name).mkdir(exist_ok=True)
        (seeds / name / "seed").write_bytes(frame(seed_parts(data)[2]))
        print(name, len(data), "bytes")


if __name__ == "__main__":
    main()
