"""Batch throughput: images per minute with 1 and 2 workers on this machine,
for the local process pool and for Ray (a local Ray instance), and Ray's overhead per
task against the pool.

Each configuration encodes the 24 Kodak images with a fast codec (``cnn-ae``, about
0.2 s of compute per image) into a fresh folder through ``latentpress.batch.run_batch``.
"Wall" includes starting the workers (spawning processes and importing torch; for Ray,
also starting the Ray instance). "Steady" is the rate between the first and the last
finished image, which leaves the start-up out. Ray's overhead per task is its steady
seconds per image minus the pool's at the same worker count. Peak RSS: the driver, and
the largest single worker process (sampled every 50 ms from /proc: the pool's children,
or Ray's ``ray::`` worker processes). Each configuration runs in a fresh process. Run it
alone::

    python benchmarks/batch_scaling.py      # → results/batch/{results.json,tables.md} (~4 min)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from latentpress.batch import run_batch
from latentpress.bench.run import machine_description
from latentpress.distributed import LocalExecutor, RayExecutor, close_executor

ROOT = Path(__file__).resolve().parent.parent
CODEC = "cnn-ae"
CONFIGS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))


class WorkerMemory:
    """Largest VmRSS of any worker process seen while running (Linux /proc)."""

    def __init__(self) -> None:
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = str(os.getpid())
        while not self._stop.wait(0.05):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if fields.get("PPid", "").strip() == me or cmdline.startswith(b"ray::"):
                    rss = fields.get("VmRSS", "0 kB").split()[0]
                    self.peak_kb = max(self.peak_kb, int(rss))


def run(engine: str, workers: int, images: Path) -> dict:
    with tempfile.TemporaryDirectory() as out, WorkerMemory() as memory:
        started = time.perf_counter()
        executor = LocalExecutor(workers) if engine == "local" else RayExecutor(workers=workers)
        ready = time.perf_counter() - started
        try:
            summary = run_batch(images, out, CODEC, executor=executor, progress=False)
        finally:
            close_executor(executor)
        wall = time.perf_counter() - started
    finished = sorted(e["finished_at"] for e in summary.entries if e["status"] == "done")
    steady = (finished[-1] - finished[0]) / (len(finished) - 1)
    return {"engine": engine, "workers": workers, "images": summary.done, "failed": summary.failed,
            "wall_s": round(wall, 2), "executor_start_s": round(ready, 2),
            "images_per_minute": round(60 * summary.done / wall, 1), "steady_s_per_image": round(steady, 4),
            "steady_images_per_minute": round(60 / steady, 1),
            "mean_compute_s": round(sum(e["seconds"] for e in summary.entries if e["status"] == "done")
                                    / summary.done, 4),
            "driver_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "worker_peak_rss_mb": round(memory.peak_kb / 1024, 1)}


def tables(results: dict) -> str:
    rows = results["rows"]
    lines = [f"Measured on: {results['machine']}. {rows[0]['images']} Kodak images, codec {CODEC}, "
             "one compute thread per worker. Wall includes starting the workers (and Ray); steady is "
             "between the first and the last finished image.", "",
             "| engine | workers | wall s | images/min (wall) | steady s/image | images/min (steady) "
             "| worker compute s/image | start s | driver peak RSS MB | worker peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['engine']} | {r['workers']} | {r['wall_s']:.1f} | {r['images_per_minute']:.1f} | "
                     f"{r['steady_s_per_image']:.3f} | {r['steady_images_per_minute']:.1f} | "
                     f"{r['mean_compute_s']:.3f} | {r['executor_start_s']:.1f} | {r['driver_peak_rss_mb']:.0f} | "
                     f"{r['worker_peak_rss_mb']:.0f} |")
    by = {(r["engine"], r["workers"]): r for r in rows}
    lines.append("")
    for workers in (1, 2):
        if ("local", workers) in by and ("ray", workers) in by:
            extra = by[("ray", workers)]["steady_s_per_image"] - by[("local", workers)]["steady_s_per_image"]
            lines.append(f"- Ray's overhead per task at {workers} worker(s): {1000 * extra:+.0f} ms "
                         "(steady s/image, Ray minus the pool).")
    for engine in ("local", "ray"):
        if (engine, 1) in by and (engine, 2) in by:
            lines.append(f"- {engine}: 2 workers give {by[(engine, 2)]['steady_images_per_minute'] / by[(engine, 1)]['steady_images_per_minute']:.2f}× "
                         "the steady rate of 1.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", default=str(ROOT.parent / "shared" / "data" / "kodak"))
    parser.add_argument("--out", default=str(ROOT / "results" / "batch"))
    parser.add_argument("--one", nargs=2, metavar=("ENGINE", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:                     # one configuration, in a process of its own, as JSON on stdout
        print(json.dumps(run(args.one[0], int(args.one[1]), Path(args.images))))
        return
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for engine, workers in CONFIGS:
        done = subprocess.run([sys.executable, __file__, "--images", args.images, "--one", engine, str(workers)],
                              check=True, capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    results = {"machine": machine_description(), "codec": CODEC, "rows": rows}
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "tables.md").write_text(tables(results))
    print(tables(results))


if __name__ == "__main__":
    main()
