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
