"""Memory a decoder spends on a file that claims a large image (SECURITY.md):
each codec's seed file (fuzz/seeds/) with its header rewritten (valid CRCs) to claim
SIDE×SIDE pixels, decoded in a fresh process after a warm-up decode of the real file.
Reports the outcome and how much the peak RSS grew.

8192² is 2²⁶ pixels, the container's default limit; 4096² is 2²⁴, the limit of most
codecs; 2896² is just under 2²³, the limit of ``overfit``. A claim over a limit must be
refused before a large allocation (tests/test_hardening.py asserts < 200 MB at 8192²);
under the limits the payload no longer fits the geometry, and what a decoder allocates
before it notices is the memory a crafted small file can make it use. Besides the
seeds: ``overfit-inverse``, an overfit file without a trained synthesis. ::

    python benchmarks/claim_memory.py     # → results/security/claim-memory.json (~1 min)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_hardening import _CLAIM_SCRIPT  # noqa: E402

SIDES = (8192, 4096, 2896)


def _overfit_inverse(folder: Path) -> Path:
    """An overfit file without a trained synthesis (what fast and medium write; the
    fuzz seed has one), from the fault sweeps' 64×48 crop of kodim23."""
    import latentpress
    from latentpress.image import load_image
    image = load_image(ROOT.parent / "shared" / "data" / "kodak" / "kodim23.png")[200:248, 300:364]
    path = folder / "overfit-inverse.lpx"
    path.write_bytes(latentpress.encode(np.ascontiguousarray(image), "overfit", preset="fast"))
    return path


def main() -> None:
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        files = sorted((ROOT / "fuzz" / "seeds").glob("*.lpx")) + [_overfit_inverse(Path(folder))]
        for seed in files:
            results[seed.stem] = {}
            for side in SIDES:
                done = subprocess.run([sys.executable, "-c", _CLAIM_SCRIPT, str(seed), str(side)], capture_output=True,
                                      text=True, timeout=600)
                outcome, grown = done.stdout.split() if done.returncode == 0 else ("crashed", "-1")
                results[seed.stem][str(side)] = {"outcome": outcome, "peak_rss_growth_mb": int(grown)}
            print(seed.stem, results[seed.stem], flush=True)
    out = ROOT / "results" / "security" / "claim-memory.json"
    out.write_text(json.dumps({"sides": SIDES, "codecs": results}, indent=1) + "\n")


if __name__ == "__main__":
    main()
