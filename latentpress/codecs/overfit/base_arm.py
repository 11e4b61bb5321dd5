"""The overfit codec's shipped ARM (payload version 7): an ARM trained once on
photographs, shipped with the package, that a file either uses as it is or stores
small integer corrections to (``arm_base`` in the header; the ARMW section then holds
the differences, or nothing where the shipped ARM is used unchanged).

Why: a per-image ARM fitted from a random start costs most of an encode's time
(thousands of iterations) and a few hundred bytes of weights, which weigh most on
small images. Trained on the wavelet latents of many photographs at every quality,
the shipped ARM alone codes a Kodak image within a fraction of a percent of the
per-image fit (docs/codecs/overfit.md), and fitting from it converges in a few hundred
iterations to differences that cost far fewer bits than whole weights. This is the
"amortized" start of Blard et al., "Overfitted image coding at reduced complexity"
(2024), applied to the entropy model only.

The shipped network is the band-aware ARM (model.coding_plan) of a six-level
decomposition of a colour image, its weights integers at FRAC_BITS. An image with
fewer levels, or a grey one, uses it through ``for_layout``: the first layer's
one-hot band columns are picked for the image's bands (level k → level k, its low band
→ the low band, grey → the luma columns).
"""

from __future__ import annotations

import functools

import numpy as np

from latentpress.codecs.overfit.arm import CONTEXT, FRAC_BITS, PARENT_INPUTS
from latentpress.errors import CorruptPayloadError

NAME = "v1"                       # the ``arm_base`` header value that selects it
WEIGHTS = "overfit-arm-v1.safetensors"
LEVELS = 6
COLOURS = 3
HIDDEN = 24
LAYERS = 2
SPATIAL = len(CONTEXT) + PARENT_INPUTS


def band_columns(levels: int, colours: int) -> list[int]:
    """For each one-hot band input of an ARM over ``levels`` levels and ``colours``
    colours (architecture.arm_inputs's order: level 0 … levels−1, the low band, each
    colour, each orientation), the shipped layout's input it takes its weights from."""
    if not 1 <= levels <= LEVELS or colours not in (1, 3):
        raise CorruptPayloadError(f"the shipped ARM covers 1-{LEVELS} levels of grey or colour images")
    columns = list(range(levels)) + [LEVELS] + [LEVELS + 1 + c for c in range(colours)]
    columns += [LEVELS + 1 + COLOURS + o for o in range(3)]
    return [SPATIAL + c for c in columns]


def shapes(levels: int, colours: int) -> list[tuple[int, ...]]:
    """Shapes of the ARM's weights and biases, layer by layer, for that layout."""
    inputs = SPATIAL + levels + 1 + colours + 3
    sizes = [inputs] + [HIDDEN] * LAYERS + [2]
    return [shape for a, b in zip(sizes, sizes[1:]) for shape in ((b, a), (b,))]


def to_tensors(integers: list[np.ndarray]) -> dict[str, np.ndarray]:
    """The safetensors layout of an ARM's integers at FRAC_BITS: ``layer<i>.weight`` and
    ``layer<i>.bias`` (int32) and ``frac_bits``."""
    tensors = {f"layer{i // 2}.{'weight' if i % 2 == 0 else 'bias'}": t.astype(np.int32)
               for i, t in enumerate(integers)}
    return tensors | {"frac_bits": np.array([FRAC_BITS], np.int32)}


def from_tensors(tensors: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The integers of to_tensors' layout, layer by layer."""
    if int(tensors["frac_bits"][0]) != FRAC_BITS:
        raise CorruptPayloadError("an ARM's weights at another precision")
    count = sum(1 for name in tensors if name.startswith("layer"))
    return [tensors[f"layer{i // 2}.{'weight' if i % 2 == 0 else 'bias'}"].astype(np.int64) for i in range(count)]


@functools.cache
def shipped() -> tuple[np.ndarray, ...]:
    """The shipped integers (at FRAC_BITS), in the six-level colour layout (SHA-256
    checked on loading)."""
    from safetensors.numpy import load

    from latentpress.weights import weights_bytes

    integers = tuple(from_tensors(load(weights_bytes(WEIGHTS))))
    if [t.shape for t in integers] != shapes(LEVELS, COLOURS):
        raise CorruptPayloadError("the shipped ARM's weights have the wrong shapes")
    return integers


def for_layout(levels: int, colours: int) -> list[np.ndarray]:
    """The shipped integers for an image of ``levels`` levels and ``colours`` colours."""
    integers = [t.copy() for t in shipped()]
    first = integers[0]
    integers[0] = np.ascontiguousarray(np.concatenate([first[:, :SPATIAL], first[:, band_columns(levels, colours)]],
                                                      axis=1))
    return integers
