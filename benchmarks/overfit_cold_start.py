"""The first `instant` encode of a fresh process against the second: what a one-image
`latentpress encode` pays beyond the encoder itself (lazy imports, shipped weights
loaded and checksummed, first-call overheads), torch already imported as the CLI has it.
Three fresh processes, one after another; writes results/overfit/cold-start.json.

    python benchmarks/overfit_cold_start.py [KODAK]
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = """
import json, sys, time
import numpy as np, torch
from PIL import Image
from latentpress.codecs.base import get_codec
codec = get_codec("overfit")
image = np.asarray(Image.open(sys.argv[1]).convert("RGB"))
times = []
for _ in range(2):
    started = time.monotonic()
    codec.encode(image, codec.parse_params({"quality": 20, "preset": "instant"}))
    times.append(time.monotonic() - started)
print(json.dumps({"first s": round(times[0], 2), "second s": round(times[1], 2), "sympy imported": "sympy" in sys.modules}))
"""


def main() -> None:
    kodak = Path(sys.argv[1] if len(sys.argv) > 1 else ROOT.parent / "shared" / "data" / "kodak")
    runs = []
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", CHILD, str(kodak / "kodim01.png")], capture_output=True,
                             text=True, check=True, cwd=ROOT)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(runs[-1], flush=True)
    result = {"command": "python benchmarks/overfit_cold_start.py " + " ".join(sys.argv[1:]),
              "machine": f"{platform.processor() or platform.machine()}, {platform.system()} {platform.release()}",
              "what": "kodim01, quality 20, preset instant: first and second encode of each fresh process",
              "runs": runs}
    (ROOT / "results" / "overfit" / "cold-start.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
