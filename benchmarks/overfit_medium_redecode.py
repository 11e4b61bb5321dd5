"""Decode times of the two medium files whose sweep decodes were slowest (kodim09 at
quality 50, 0.58 s, beside the test suite; kodim13 at 70, 0.535 s), re-encoded and
decoded three times each on a quiet host, one process.

    python benchmarks/overfit_medium_redecode.py > results/overfit/medium-redecode.txt
"""
import time, numpy as np, latentpress
from PIL import Image
for name, q in (("kodim13", 70), ("kodim09", 50)):
    img = np.asarray(Image.open(f"../shared/data/kodak/{name}.png").convert("RGB"))
    data = latentpress.encode(img, "overfit", preset="medium", quality=q)
    info = latentpress.read_info(data).params
    times = []
    for _ in range(3):
        t = time.perf_counter(); latentpress.decode(data); times.append(time.perf_counter() - t)
    print(name, q, info["arch"], len(data), [round(t, 3) for t in times], flush=True)
