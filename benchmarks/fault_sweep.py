"""Fault sweep figures for SECURITY.md: every truncation and every single-bit
flip of one small valid file per codec (fuzz/seeds/CODEC.lpx, from fuzz/make_seeds.py),
decoded through the API; what was raised, by region of the file.

Regions: the prefix (magic, format version, flags, header length), the rest of the header
(codec name, geometry, parameters), the header CRC, and per section its head (type,
length), its data and its CRC. tests/test_hardening.py asserts the same properties on
freshly made files; this writes the counts. ::

    python benchmarks/fault_sweep.py      # → results/security/fault-sweep.json (~1 min)
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import latentpress
from latentpress.errors import LatentpressError

ROOT = Path(__file__).resolve().parent.parent


def regions(data: bytes) -> list[str]:
    """The region of every byte of a valid file."""
    header = latentpress.read_info(data)
    out = ["prefix"] * 12 + ["header"] * (header.header_bytes - 12 - 4) + ["header CRC"] * 4
    for info in header.sections:
        out += ["section head"] * 8 + ["section data"] * info.length + ["section CRC"] * 4
    end = len(data) - len(out)
    out += ["END section"] * end
    assert len(out) == len(data)
    return out


def sweep(data: bytes) -> dict:
    where = regions(data)
    truncations = collections.Counter()
    for length in range(len(data)):
        try:
            latentpress.decode(data[:length])
            truncations["decoded (a bug)"] += 1
        except LatentpressError as exc:
            truncations[type(exc).__name__] += 1
    flips: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for bit in range(8 * len(data)):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        try:
            latentpress.decode(bytes(flipped))
            flips[where[bit // 8]]["decoded (a bug)"] += 1
        except LatentpressError as exc:
            flips[where[bit // 8]][type(exc).__name__] += 1
    return {"bytes": len(data), "truncations": dict(truncations),
            "bit_flips": {region: dict(counts) for region, counts in flips.items()}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default=str(ROOT / "fuzz" / "seeds"))
    parser.add_argument("--out", default=str(ROOT / "results" / "security" / "fault-sweep.json"))
    args = parser.parse_args(argv)
    results = {}
    for path in sorted(Path(args.seeds).glob("*.lpx")):
        results[path.stem] = sweep(path.read_bytes())
        flips = sum(sum(c.values()) for c in results[path.stem]["bit_flips"].values())
        print(path.stem, results[path.stem]["bytes"], "bytes,", flips, "flips", flush=True)
    totals = collections.Counter()
    for codec in results.values():
        totals["truncations"] += sum(codec["truncations"].values())
        for counts in codec["bit_flips"].values():
            totals["bit_flips"] += sum(counts.values())
            totals["decoded"] += counts.get("decoded (a bug)", 0)
        totals["decoded"] += codec["truncations"].get("decoded (a bug)", 0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"totals": dict(totals), "codecs": results}, indent=1) + "\n")
    print(dict(totals))


if __name__ == "__main__":
    main()
