"""Decode the same overfit (or lossless) files with this build and a baseline, alternately.

Decode-speed changes that keep the bitstream are measured here, not in the Kodak sweep
(whose cache keys on the codec's identity, which such a change keeps). The host's speed
drifts by 20% or more over minutes, so the two builds run side by side: one worker
process per build (the baseline from a temporary git worktree of --baseline), every
file decoded by both in turn, the order swapped every round, and the decoded images
compared for bit identity. Files are encoded once with this build at each requested
preset and quality and kept in a cache folder (--cache; reruns reuse them). Run it alone.
Records wall-clock and CPU seconds (all threads) per decode. Writes
results/overfit/decode-compare-<name>.json.

    python benchmarks/overfit_decode_compare.py --baseline 9f2d82c --name blas-thread \\
        [--presets fast,slow] [--quality 70] [--images kodim01,kodim05,...] [--rounds 7]

--baseline numpy compares this build with itself on the numpy decode path
(LATENTPRESS_NATIVE=0: the compiled module left out). --codec lossless or mlp-lossless
encodes the images with that codec's defaults instead (no presets or quality) and writes
results/lossless/decode-compare-<name>.json. --slowest K adds, per preset,
the K files whose decode took longest in the Kodak sweep's version-6 records (any
quality; results/kodak/records.jsonl). --encode-only fills the cache and stops (a long
job for the background: it can run beside other work, the timing cannot).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# One decode per request line (a file path); answers "seconds cpu-seconds sha256-of-pixels"
# (CPU time of all the process's threads).
WORKER = r"""
import hashlib, sys, time
import numpy as np
import latentpress
print(latentpress.__file__, flush=True)
for line in sys.stdin:
    data = open(line.strip(), "rb").read()
    start, cpu = time.perf_counter(), time.process_time()
    pixels = latentpress.decode(data)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(seconds, cpu, hashlib.sha256(np.ascontiguousarray(pixels).tobytes()).hexdigest(), flush=True)
"""


class Worker:
    def __init__(self, tree: Path, native: bool = True) -> None:
        env = dict(os.environ, PYTHONPATH=str(tree), LATENTPRESS_NATIVE="1" if native else "0")
        self.process = subprocess.Popen([sys.executable, "-c", WORKER], cwd=tempfile.gettempdir(), env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.module = self.process.stdout.readline().strip()
        if not self.module.startswith(str(tree)):
            raise SystemExit(f"worker for {tree} imported {self.module}")

    def decode(self, path: Path) -> tuple[float, float, str]:
        self.process.stdin.write(f"{path}\n")
        self.process.stdin.flush()
        seconds, cpu, digest = self.process.stdout.readline().split()
        return float(seconds), float(cpu), digest

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def _quality(recorded: int) -> int:
    from latentpress.codecs.overfit.presets import quality_of_level
    return quality_of_level(recorded) if recorded <= 8 else recorded


def slowest(count: int, presets: list[str]) -> list[tuple[str, str, int]]:
    """Per preset, the ``count`` (image, preset, quality) whose version-6 decode took
    longest in the Kodak sweep's records."""
    records = [json.loads(line) for line in (ROOT / "results" / "kodak" / "records.jsonl").open()]
    chosen = []
    for preset in presets:
        mine = sorted((r for r in records if r["codec"] == f"overfit-{preset}" and "/v6/" in r["identity"]),
                      key=lambda r: -r["decode_s"])
        # The version-6 sweep recorded overfit's levels 1-8, now qualities 20-90.
        chosen += [(Path(r["image"]).stem, preset, _quality(int(r["params"]["quality"]))) for r in mine[:count]]
    return chosen


def encoded_files(cache: Path, specs: list[tuple[str, str, int | None]]) -> list[Path]:
    """(image, preset, quality) → the cached file, encoded with this build if missing;
    a lossless codec's name in place of the preset (and quality None): its defaults."""
    import numpy as np

    import latentpress
    from latentpress.image import load_image

    cache.mkdir(parents=True, exist_ok=True)
    files = []
    for image, preset, quality in specs:
        path = cache / (f"{image}-{preset}.lpx" if quality is None else f"{image}-{preset}-q{quality}.lpx")
        if not path.exists():
            pixels = load_image(ROOT.parent / "shared" / "data" / "kodak" / f"{image}.png")
            if quality is None:
                data = latentpress.encode(np.asarray(pixels), codec=preset)
            else:
                data = latentpress.encode(np.asarray(pixels), codec="overfit", preset=preset, quality=quality)
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)
            print(f"encoded {path.name}: {len(data):,} bytes", flush=True)
        files.append(path)
    return files


def summary(times: list[float]) -> dict:
    return {"median": round(statistics.median(times), 4), "min": round(min(times), 4), "runs": len(times)}


def ratio(times: dict, name: str) -> float:
    """This build's median over the baseline's, for one file."""
    return round(statistics.median(times["this build"][name]) / statistics.median(times["baseline"][name]), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="git revision to compare against")
    parser.add_argument("--name", required=True, help="names the result file")
    parser.add_argument("--codec", default="overfit", choices=["overfit", "lossless", "mlp-lossless"])
    parser.add_argument("--presets", default="fast,slow")
    parser.add_argument("--quality", type=int, default=70)
    parser.add_argument("--images", default="kodim01,kodim05,kodim08,kodim13,kodim15,kodim23")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--slowest", type=int, default=0, help="add the sweep's K slowest decodes per preset")
    parser.add_argument("--encode-only", action="store_true")
    parser.add_argument("--cache", type=Path, default=ROOT / "results" / "overfit" / "cache")
    args = parser.parse_args()

    from latentpress.bench.run import machine_description

    images = [image for image in args.images.split(",") if image]
    if args.codec == "overfit":
        presets = args.presets.split(",")
        specs = [(image, preset, args.quality) for preset in presets for image in images]
        specs += [spec for spec in slowest(args.slowest, presets) if spec not in specs]
    else:
        specs = [(image, args.codec, None) for image in images]
    files = encoded_files(args.cache, specs)
    if args.encode_only:
        return
    numpy_baseline = args.baseline == "numpy"
    revision = "numpy" if numpy_baseline else subprocess.run(
        ["git", "rev-parse", "--short", args.baseline], cwd=ROOT, check=True, capture_output=True,
        text=True).stdout.strip()
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout.strip())
    with tempfile.TemporaryDirectory() as scratch:
        tree = ROOT if numpy_baseline else Path(scratch) / "baseline"
        if not numpy_baseline:
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), revision], cwd=ROOT, check=True,
                           capture_output=True)
        try:
            workers = {"baseline": Worker(tree, native=not numpy_baseline), "this build": Worker(ROOT)}
            times = {name: {f.name: [] for f in files} for name in workers}
            cpu = {name: {f.name: [] for f in files} for name in workers}
            identical = True
            for f in files:                               # warm both (first decode loads tables)
                digests = {w.decode(f)[2] for w in workers.values()}
                identical &= len(digests) == 1
            for round_ in range(args.rounds):
                order = list(workers) if round_ % 2 == 0 else list(reversed(workers))
                for f in files:
                    for name in order:
                        seconds, cpu_seconds, _ = workers[name].decode(f)
                        times[name][f.name].append(seconds)
                        cpu[name][f.name].append(cpu_seconds)
                print(f"round {round_ + 1}/{args.rounds}", flush=True)
            for w in workers.values():
                w.close()
        finally:
            if not numpy_baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, check=True)

    per_file = {f.name: {"bytes": f.stat().st_size,
                         "baseline": summary(times["baseline"][f.name]),
                         "this build": summary(times["this build"][f.name]),
                         "ratio of medians": ratio(times, f.name),
                         "CPU seconds": {name: summary(cpu[name][f.name]) for name in cpu},
                         "CPU ratio of medians": ratio(cpu, f.name)}
                for f in files}
    result = {
        "command": "python benchmarks/overfit_decode_compare.py " + " ".join(sys.argv[1:]),
        "machine": machine_description(),
        "baseline": revision, "this build": head + (" + uncommitted changes" if dirty else ""),
        "decoded images identical": identical,
        "files": per_file,
        "geometric mean ratio": round(statistics.geometric_mean([v["ratio of medians"] for v in per_file.values()]), 3),
        "CPU geometric mean ratio": round(statistics.geometric_mean([v["CPU ratio of medians"]
                                                                     for v in per_file.values()]), 3),
        "max median seconds": {name: round(max(statistics.median(t) for t in times[name].values()), 4)
                               for name in times},
    }
    out = ROOT / "results" / ("overfit" if args.codec == "overfit" else "lossless") / f"decode-compare-{args.name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("decoded images identical", "geometric mean ratio",
                                             "CPU geometric mean ratio", "max median seconds")}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
