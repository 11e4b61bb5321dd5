"""Shipped weights: every listed file is present and checked; damage is a WeightsError."""

from __future__ import annotations

import pytest

from latentpress import weights
from latentpress.errors import WeightsError


@pytest.mark.parametrize("name", sorted(weights.CHECKSUMS))
def test_every_listed_file_ships_and_loads(name):
    tensors = weights.load_weights(name)
    assert tensors and all(t.dtype.is_floating_point for t in tensors.values())


def test_unknown_name_is_refused():
    with pytest.raises(WeightsError, match="no shipped weights"):
        weights.weights_bytes("nothing-v9.safetensors")


def test_damaged_file_fails_its_checksum(monkeypatch):
    name = sorted(weights.CHECKSUMS)[0]
    good = weights.resources.files(weights.__name__).joinpath(name).read_bytes()
    damaged = bytearray(good)
    damaged[len(damaged) // 2] ^= 0x01

    class Damaged:
        def joinpath(self, _):
            return self

        def read_bytes(self):
            return bytes(damaged)

    monkeypatch.setattr(weights.resources, "files", lambda _: Damaged())
    with pytest.raises(WeightsError, match="checksum"):
        weights.load_weights(name)


def test_missing_file_is_a_weights_error(monkeypatch):
    class Missing:
        def joinpath(self, _):
            return self

        def read_bytes(self):
            raise FileNotFoundError("gone")

    monkeypatch.setattr(weights.resources, "files", lambda _: Missing())
    with pytest.raises(WeightsError, match="missing"):
        weights.weights_bytes(sorted(weights.CHECKSUMS)[0])
