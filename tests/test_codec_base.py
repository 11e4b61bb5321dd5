"""The Codec contract's shared checks: header parameters are validated against each
codec's HeaderParams before its decoder runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import pytest

import latentpress
from latentpress import container
from latentpress.codecs.base import Codec, all_codecs
from latentpress.errors import CorruptPayloadError


@pytest.fixture(scope="module")
def factorized_file(small_rgb) -> bytes:
    return latentpress.encode(small_rgb, "factorized", quality=40)


def _with_params(data: bytes, **changes) -> bytes:
    header, sections = container.read(data)
    params = {k: v for k, v in {**header.params, **changes}.items() if v is not None}
    payload, metadata = container.split_metadata(sections)
    return container.write(replace(header, params=params), payload)


@pytest.mark.parametrize("changes, message", [
    ({"quality": True}, "expected int"),
    ({"quality": 40.0}, "expected int"),
    ({"quality": "40"}, "expected int"),
    ({"quality": 101}, "invalid quality"),
    ({"quality": None}, "'quality' is missing"),
    ({"model": "factorized-v0"}, "was made with model"),
    ({"extra": 1}, "unexpected parameter 'extra'"),
])
def test_a_header_parameter_of_the_wrong_kind_is_a_corrupt_payload(factorized_file, changes, message):
    assert latentpress.decode(_with_params(factorized_file, quality=40)).shape      # the rewrite itself is valid
    with pytest.raises(CorruptPayloadError, match=message):
        latentpress.decode(_with_params(factorized_file, **changes))


def test_header_params_types():
    @dataclass(frozen=True)
    class Stored:
        ratio: float
        mode: Literal["a", "b"]
        step: int | None = None

    class Probe(Codec):
        name, version, description, HeaderParams = "probe", 1, "", Stored

        def encode(self, image, params):
            raise NotImplementedError

        def decode(self, header, sections):
            raise NotImplementedError

    def header(**params):
        return container.Header(codec="probe", codec_version=1, width=1, height=1, channels=1,
                                colour_space=container.ColourSpace.GREY, params=params)

    assert Probe.header_params(header(ratio=2, mode="a")) == Stored(2, "a", None)
    assert Probe.header_params(header(ratio=0.5, mode="b", step=3)).step == 3
    for bad in ({"ratio": True, "mode": "a"}, {"ratio": 1.0, "mode": "c"}, {"ratio": 1.0, "mode": "a", "step": 1.0}):
        with pytest.raises(CorruptPayloadError):
            Probe.header_params(header(**bad))



def test_every_codec_declares_its_header_parameters():
    for cls in all_codecs():
        assert cls.HeaderParams.__name__ != "NoHeaderParams", cls.name


def test_one_quality_scale_for_every_lossy_codec_that_has_a_rate_to_choose():
    """quality 0-100, higher is better, as cwebp's -q: a field of its own in factorized and
    overfit, mapped onto the rate knob elsewhere (docs/codecs/README.md has the table);
    refused, with the reason, where there is nothing to map."""
    from latentpress.codecs.base import get_codec
    from latentpress.codecs.overfit.presets import lambda_for_quality
    from latentpress.errors import ParameterError

    def parsed(name, **values):
        return type(get_codec(name)).parse_params(values)

    assert parsed("factorized", quality=60).quality == 60
    assert parsed("overfit", quality=60).quality == 60
    # overfit's levels 1-8 before the common scale are qualities 20-90, the same λ.
    assert [lambda_for_quality(10 * level + 10) for level in range(1, 9)] == [0.02 / 2 ** k for k in range(8)]
    assert [parsed("cae", quality=q).bpp for q in (0, 50, 100)] == [0.12, 0.5367, 2.4]
    assert [parsed("cnn-rnn-ae", quality=q).steps for q in (0, 33, 34, 66, 67, 100)] == [1, 1, 2, 2, 3, 3]
    assert [parsed("block-cnn", quality=q).code_length for q in (0, 50, 100)] == [8, 64, 128]
    assert [parsed("dense-mnist", quality=q).bits for q in (0, 50, 100)] == [1, 5, 8]
    for name in ("block-cnn", "cae", "cnn-rnn-ae", "dense-mnist"):      # monotone: higher is never worse
        knob = {"block-cnn": "code_length", "cae": "bpp", "cnn-rnn-ae": "steps", "dense-mnist": "bits"}[name]
        values = [getattr(parsed(name, quality=q), knob) for q in range(101)]
        assert values == sorted(values), name
    for name, words in (("cnn-ae", "fixed 16:1"), ("gan-ae", "fixed 16:1"), ("cnn-ae-ft", "fixed 16:1"),
                        ("lossless", "lossless"), ("mlp-lossless", "lossless")):
        with pytest.raises(ParameterError, match=words):
            parsed(name, quality=50)
    for name in ("factorized", "overfit", "cae"):
        for bad in (-1, 101, "high"):
            with pytest.raises(ParameterError):
                parsed(name, quality=bad)
    with pytest.raises(ParameterError, match="give one or the other"):
        parsed("cae", quality=50, bpp=1.0)
