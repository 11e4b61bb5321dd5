"""What decides an encoder's output besides its parameters: the key under which the
bench caches results (records.jsonl) and batch recognises an output it already wrote
(the ``ENCP`` section).

An identity names the codec and its payload version, plus what else changes the bytes
for the same image and parameters: the parameters' defaults (a point that leaves a
parameter at its default must not reuse results computed under another default), the
shipped weights' checksums, and for ``overfit`` its presets and quality→λ map. The
strings are stored in committed results and in files: they only change when what they
describe changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from latentpress.codecs.base import Codec, get_codec
from latentpress.weights import CHECKSUMS


def _default(cls: type[Codec]) -> str:
    defaults = hashlib.sha256(repr(cls.Params()).encode()).hexdigest()[:8]
    return f"{cls.name}/v{cls.version}/{defaults}"


def _factorized(cls: type[Codec]) -> str:
    from latentpress.codecs.factorized.codec import MODEL_ID
    return f"{cls.name}/v{cls.version}/{MODEL_ID}/{CHECKSUMS[MODEL_ID + '.safetensors'][:16]}"


def _pretrained_blocks(cls: type[Codec]) -> str:
    model = cls.model_id()  # type: ignore[attr-defined]
    return f"{cls.name}/v{cls.version}/{model}/{CHECKSUMS.get(model + '.safetensors', 'missing')[:16]}"


def _cae(cls: type[Codec]) -> str:
    from latentpress.codecs.cae.codec import MODEL_ID, WEIGHTS
    sums = "".join(CHECKSUMS.get(name, "missing")[:8] for name in WEIGHTS.values())
    return f"{cls.name}/v{cls.version}/{MODEL_ID}/{sums}"


def _dense(cls: type[Codec]) -> str:
    from latentpress.codecs.dense.codec import MODELS
    return f"{cls.name}/v{cls.version}/" + "/".join(
        CHECKSUMS.get(f"{model}.safetensors", "missing")[:16] for model in MODELS.values())


def _restoration_id() -> str:
    from latentpress.codecs.overfit import base_arm, restoration
    # The shipped ARM decides what presets that start from it write.
    return f"/{CHECKSUMS[restoration.WEIGHTS][:12]}/{CHECKSUMS[base_arm.WEIGHTS][:12]}"


def _overfit_training(preset: str | None) -> str:
    from latentpress.codecs.overfit import codec
    from latentpress.codecs.overfit.codec import OverfitParams
    from latentpress.codecs.overfit.presets import PRESETS, QUALITIES, lambda_for_quality
    qualities = repr([lambda_for_quality(q) for q in QUALITIES])
    # The small-image floors change what the encoder does with the same parameters.
    qualities += repr((codec.SMALL_IMAGES, codec.THIN_SIDE, codec.TINY_IMAGE, codec.TINY_LAMBDA))
    if preset is None:
        return repr(sorted(PRESETS.items())) + qualities
    # A preset's files depend on the recipes of the presets it competes with too.
    rivals = "".join(repr(PRESETS[name]) for name in PRESETS[preset].compete_with)
    return repr(PRESETS[preset]) + rivals + qualities + repr(OverfitParams())


def _overfit(cls: type[Codec]) -> str:
    # Presets, the quality→λ map and the shipped restoration network decide the output
    # as much as the payload layout does.
    digest = hashlib.sha256(_overfit_training(None).encode()).hexdigest()[:12]
    return f"{cls.name}/v{cls.version}/{digest}{_restoration_id()}"


_IDENTITY: dict[str, Callable[[type[Codec]], str]] = {
    "factorized": _factorized,
    "cnn-ae": _pretrained_blocks,
    "gan-ae": _pretrained_blocks,
    "cnn-rnn-ae": _pretrained_blocks,
    "cnn-ae-ft": _pretrained_blocks,
    "cae": _cae,
    "dense-mnist": _dense,
    "overfit": _overfit,
}


def identity(codec: str) -> str:
    cls = type(get_codec(codec))
    return _IDENTITY.get(cls.name, _default)(cls)


def variant_identity(codec: str, fixed: dict[str, Any]) -> str:
    """identity() of a bench variant that fixes some parameters: for ``overfit``, one
    preset's schedule, so that a change to ``slow`` keeps the ``fast`` results."""
    if codec == "overfit":
        from latentpress.codecs.overfit.codec import OverfitParams
        from latentpress.codecs.overfit.presets import PRESETS
        preset = fixed.get("preset", OverfitParams.preset)
        if preset in PRESETS:
            cls = type(get_codec(codec))
            digest = hashlib.sha256(_overfit_training(preset).encode()).hexdigest()[:12]
            return f"{cls.name}/v{cls.version}/{preset}-{digest}{_restoration_id()}"
    return identity(codec)
