"""The ceiling study: what Cool-chic 5.0 reaches on this CPU, and in how long, next to
what overfit reaches at the same rate weight.

Cool-chic (Ladune, Philippe, Henry, Clare, Leguay, "COOL-CHIC: Coordinate-based Low
Complexity Hierarchical Image Codec", 2023; Leguay, Philippe, Ladune et al.,
"Low-complexity Overfitted Neural Image Codec", 2023) is the reference overfitted codec:
its published Kodak results (../shared/anchors/kodak-coolchic-v5.0.tsv) are within a few
percent of VTM, encoded on a GPU with 10,000 iterations per image. Run here on the CPU as
a measuring instrument, its own recipe (the HOP decoder, about 2,000 MAC/pixel, and its
intra training preset, 2,000 iterations at least) says how much of that result a CPU
encode reaches and at what cost in time, and its progress log how the cost falls with
iterations: whether matching its architecture or beating it on CPU time is the way.
Cool-chic is run as a separate program from its own checkout and environment; none of
its code is part of latentpress.

Both codecs minimise the same cost, MSE (pixels in [0, 1]) + λ·bpp, so each row gives
the cost of the real file at the rate weights λ Cool-chic publishes (0.004 and 0.001 are
overfit's qualities 43.2 and 63.2).

    bash benchmarks/coolchic_setup.sh COOLCHIC_CHECKOUT     (once: its venv under runs/)
    python benchmarks/coolchic_ceiling.py --coolchic COOLCHIC_CHECKOUT \\
        [--images kodim14] [--lambdas 0.004,0.001] [--iterations 2000] [--decoders hop,lop]

Each Cool-chic encode runs alone with two torch threads; its bitstream is decoded by
Cool-chic's decoder and compared with the original here. Writes
results/overfit/coolchic-ceiling.json (resumable: finished rows are kept; work files
under runs/coolchic/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from latentpress.image import load_image

RUNS = ROOT / "runs" / "coolchic"
OUT = ROOT / "results" / "overfit" / "coolchic-ceiling.json"
COMMAND = "python benchmarks/coolchic_ceiling.py --coolchic COOLCHIC_CHECKOUT"

# Cool-chic imports torchvision for two things this study does not use (optical flow
# for video, a VGG loss) and for one it does (PNG to tensor). The torchvision wheel on
# PyPI replaces the CPU torch wheel with a CUDA build, so its venv gets this stand-in:
# to_tensor as torchvision defines it (HWC uint8 → CHW float in [0, 1]), and names that
# fail if they are ever used.
SHIM = {
    "torchvision/__init__.py": "from torchvision import models, transforms  # noqa: F401\n",
    "torchvision/transforms/__init__.py": "",
    "torchvision/transforms/functional.py": (
        "import numpy as np\nimport torch\n\n\n"
        "def to_tensor(picture):\n"
        "    array = np.asarray(picture)\n"
        "    if array.ndim == 2:\n"
        "        array = array[:, :, None]\n"
        "    scale = 65535.0 if array.dtype == np.uint16 else 255.0\n"
        "    return torch.from_numpy(array.astype(np.float32) / scale).permute(2, 0, 1).contiguous()\n"),
    "torchvision/models/__init__.py": (
        "from torchvision.models import optical_flow, vgg  # noqa: F401\n\n\n"
        "def vgg16(*args, **kwargs):\n    raise NotImplementedError('not available in the ceiling study')\n"),
    "torchvision/models/vgg.py": "class VGG16_Weights:\n    IMAGENET1K_V1 = None\n",
    "torchvision/models/optical_flow.py": (
        "class Raft_Large_Weights:\n    DEFAULT = None\n\n\n"
        "def raft_large(*args, **kwargs):\n    raise NotImplementedError('not available in the ceiling study')\n"),
}


def write_shim() -> Path:
    folder = RUNS / "shim"
    for name, text in SHIM.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def run_measured(command: list[str], cwd: Path, env: dict, log: Path) -> dict:
    """Run a child process; its wall time, CPU time and peak RSS (wait4 on that child)."""
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({child.returncode}); see {log}")
    return {"wall_s": round(time.perf_counter() - started, 1),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mb": round(usage.ru_maxrss / 1024)}


def workdir(image: str, lmbda: float, iterations: int, decoder: str) -> Path:
    return RUNS / (f"{image}-l{lmbda}-n{iterations}" + ("" if decoder == "hop" else f"-{decoder}"))


def coolchic_row(checkout: Path, python: str, image_path: Path, lmbda: float, iterations: int,
                 decoder: str = "hop") -> dict:
    work = workdir(image_path.stem, lmbda, iterations, decoder)
    shutil.rmtree(work, ignore_errors=True)       # Cool-chic resumes from a saved encoder: start clean
    work.mkdir(parents=True)
    env = dict(os.environ, OMP_NUM_THREADS="2", PYTHONPATH=f"{write_shim()}:{checkout}")
    bitstream, decoded = work / "bitstream.cool", work / "decoded.png"
    encode = run_measured([python, str(checkout / "cc_encode.py"), "-i", str(image_path), "-o", str(bitstream),
                           "--workdir", str(work), "--lmbda", str(lmbda), "--n_itr", str(iterations),
                           "--dec_cfg_residue", str(checkout / "cfg" / "dec" / "intra" / f"{decoder}.cfg")],
                          work, env, work / "encode.log")
    decode = run_measured([python, str(checkout / "cc_decode.py"), "-i", str(bitstream), "-o", str(decoded)],
                          work, env, work / "decode.log")
    return {"encode": encode, "decode": decode, "bytes": bitstream.stat().st_size,
            **quality(load_image(image_path), load_image(decoded), bitstream.stat().st_size, lmbda),
            **trajectory(work / "encode.log")}


def trajectory(log: Path) -> dict:
    """Cool-chic's own progress lines: the cost (its loss / 1000: MSE + λ·bpp with the
    rate estimated by its ARM) by section, iteration and seconds since its training
    began, and the seconds of its final network quantization and rate-distortion search."""
    rows, steps, section, columns = [], {}, "", None
    for line in log.read_text().splitlines():
        words = line.split()
        if "phase:" in line and line.lstrip().startswith("-"):
            section = " ".join(w for w in words if w.strip("-"))
        elif line.startswith("Candidate n°"):
            section = section.split(", candidate")[0] + f", candidate {words[2]}"
        elif line.startswith("Time ") and line.rstrip().endswith("seconds"):
            steps[words[1].rstrip(":")] = float(words[-2])
            section = f"after {words[1].rstrip(':')}"
        elif words[:1] == ["loss"] and "itr" in words:
            columns = words
        elif columns and len(words) >= len(columns) - 1 and words[0].replace(".", "", 1).isdigit():
            values = dict(zip(columns, words))
            row = {"section": section, "itr": int(values["itr"]), "time_s": float(values["time_sec"]),
                   "psnr": float(values["psnr_db"]), "bpp": float(values["rate_bpp"]),
                   "cost": float(values["loss"]) / 1000}
            if not rows or row != rows[-1]:
                rows.append(row)
        else:
            columns = None if not words or words[0] == "loss" else columns
    return {"log": rows, "final_steps_s": steps}


def quality(original: np.ndarray, decoded: np.ndarray, size: int, lmbda: float) -> dict:
    mse = float(np.mean((original.astype(np.float64) - decoded.astype(np.float64)) ** 2)) / 255.0 ** 2
    bpp = 8 * size / (original.shape[0] * original.shape[1])
    return {"bpp": round(bpp, 5), "psnr": round(10 * np.log10(1 / mse), 3), "cost": mse + lmbda * bpp}


def overfit_row(image_path: Path, lmbda: float, preset: str) -> dict:
    import latentpress
    image = load_image(image_path)
    started = time.perf_counter()
    data = latentpress.encode(image, "overfit", preset=preset, lmbda=lmbda)
    encode_s = time.perf_counter() - started
    return {"encode": {"wall_s": round(encode_s, 1)}, "bytes": len(data),
            **quality(image, latentpress.decode(data), len(data), lmbda)}


def published(anchors: Path, image: str, lmbda: float) -> dict | None:
    """Cool-chic 5.0's own result for this image and λ (encoded on a GPU)."""
    for line in (anchors / "kodak-coolchic-v5.0.tsv").read_text().splitlines()[1:]:
        fields = line.split("\t")
        if fields[1] == image and float(fields[0]) == lmbda:
            return {"bpp": float(fields[5]), "psnr": float(fields[4]), "cost": float(fields[3]) / 1000}
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--coolchic", type=Path, required=True, help="a Cool-chic 5.0 checkout")
    parser.add_argument("--python", default=str(RUNS / "venv" / "bin" / "python"),
                        help="the Python of Cool-chic's environment (benchmarks/coolchic_setup.sh)")
    parser.add_argument("--kodak", type=Path, default=ROOT.parent / "shared" / "data" / "kodak")
    parser.add_argument("--anchors", type=Path, default=ROOT.parent / "shared" / "anchors")
    parser.add_argument("--images", default="kodim14")
    parser.add_argument("--lambdas", default="0.004,0.001")
    parser.add_argument("--iterations", default="2000",
                        help="Cool-chic's --n_itr per encode (2000, its intra preset's least, upward)")
    parser.add_argument("--presets", default="instant,fast", help="overfit presets to run at the same λ")
    parser.add_argument("--decoders", default="hop",
                        help="Cool-chic decoder configurations (cfg/dec/intra: lop, mop, hop, vhop)")
    args = parser.parse_args()
    done = json.loads(OUT.read_text()) if OUT.exists() else {
        "command": COMMAND, "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                                       f"{platform.system()} {platform.release()}", "rows": []}
    have = {(r["image"], r["lmbda"], r["system"], r.get("iterations")) for r in done["rows"]}
    for row in done["rows"]:            # rows written before their log was parsed
        decoder = row["system"].removeprefix("coolchic-5.0-")
        log = workdir(row["image"], row["lmbda"], row.get("iterations"), decoder) / "encode.log"
        if row["system"].startswith("coolchic-5.0-") and row.get("iterations") and "log" not in row and log.exists():
            row.update(trajectory(log))
            OUT.write_text(json.dumps(done, indent=1) + "\n")

    def keep(row: dict) -> None:
        done["rows"].append(row)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(done, indent=1) + "\n")
        print(json.dumps(row), flush=True)

    for image in (v.strip() for v in args.images.split(",")):
        image_path = args.kodak / f"{image}.png"
        for lmbda in (float(v) for v in args.lambdas.split(",")):
            if (image, lmbda, "coolchic-5.0-published", None) not in have and (row := published(args.anchors, image,
                                                                                                 lmbda)):
                keep({"image": image, "lmbda": lmbda, "system": "coolchic-5.0-published", **row,
                      "note": "Cool-chic's own result (results/v5.0/image-kodak.tsv), encoded on a GPU"})
            for preset in args.presets.split(","):
                if (image, lmbda, f"overfit-{preset}", None) not in have:
                    keep({"image": image, "lmbda": lmbda, "system": f"overfit-{preset}",
                          **overfit_row(image_path, lmbda, preset)})
            for decoder in dict.fromkeys(v.strip() for v in args.decoders.split(",")):
                for iterations in (int(v) for v in args.iterations.split(",")):
                    if (image, lmbda, f"coolchic-5.0-{decoder}", iterations) not in have:
                        keep({"image": image, "lmbda": lmbda, "system": f"coolchic-5.0-{decoder}",
                              "iterations": iterations,
                              **coolchic_row(args.coolchic, args.python, image_path, lmbda, iterations, decoder)})


if __name__ == "__main__":
    main()
