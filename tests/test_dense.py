"""Report 004 ("Image Compression with Autoencoders"): the IDX reader, the dense
autoencoder's trainer and the dense-mnist codec."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import latentpress
from latentpress import container
from latentpress.codecs.dense.model import DenseAutoencoder, weight_count
from latentpress.container import Section
from latentpress.errors import CorruptPayloadError, ImageError, ParameterError
from latentpress.metrics import psnr
from latentpress.train.idx import read_idx

# Digits 8000-8019 of MNIST's test split, shipped (tests/data/README.md; tests/test_data.py
# checks them against LATENTPRESS_DATA/mnist).
DIGITS = Path(__file__).resolve().parent / "data" / "mnist-t10k-8000-8019-idx3-ubyte.gz"

# Measured with the shipped weights on the first 20 held-out digits (8000-8019):
# mean PSNR float32 18.9 dB, 8-bit range 18.9 dB.
PSNR_FLOOR = 16.0


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    dtype = {0x08: ">u1", 0x0D: ">f4"}[code]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + np.asarray(array, dtype).tobytes()


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    return read_idx(DIGITS)                     # held out from the shipped model's training


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trips(tmp_path, compress):
    images = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    floats = np.random.default_rng(1).random((3, 4)).astype(np.float32)
    for name, array, code in (("u8", images, 0x08), ("f4", floats, 0x0D)):
        data = idx_bytes(array, code)
        path = tmp_path / name
        path.write_bytes(gzip.compress(data) if compress else data)
        got = read_idx(path)
        assert got.dtype == array.dtype.newbyteorder("=") and np.array_equal(got, array)


def test_bad_idx_files_are_refused(tmp_path):
    good = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    cases = {"truncated": good[:-1], "trailing": good + b"\0", "magic": b"\1" + good[1:],
             "type": good[:2] + b"\x07" + good[3:], "header": good[:9],
             "huge": bytes([0, 0, 8, 3]) + np.asarray([60000, 1 << 20, 1 << 20], ">u4").tobytes(),
             "gzip": b"\x1f\x8b" + b"garbage"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageError):
            read_idx(tmp_path / name)


def test_the_network_is_the_reports():
    model = DenseAutoencoder()
    assert [m.out_features for m in model.modules() if hasattr(m, "out_features")] == [128, 64, 128, 784]
    assert weight_count(model) == 784 * 128 + 128 + 128 * 64 + 64 + 64 * 128 + 128 + 128 * 784 + 784


@pytest.mark.parametrize("code, section_bytes", [("float32", 256), ("float16", 128), ("fixed", 64), ("range", None)])
def test_every_code_representation_round_trips(digits, code, section_bytes):
    qualities = []
    for digit in digits:
        data = latentpress.encode(digit, "dense-mnist", code=code)
        header, sections = container.read(data)
        assert header.params["model"] == "dense-mnist-v1" and len(header.params["weights"]) == 16
        if section_bytes is None:       # the code is spread almost uniformly: range coding saves ~nothing
            assert len(sections[0].data) <= 64 + 4
        else:
            assert len(sections[0].data) == section_bytes
        decoded = latentpress.decode(data)
        assert decoded.shape == (28, 28) and decoded.dtype == np.uint8
        qualities.append(psnr(digit, decoded))
    assert np.mean(qualities) > PSNR_FLOOR


def test_fixed_and_range_decode_the_same_and_bits_trade_quality(digits):
    digit = digits[0]
    fixed = latentpress.decode(latentpress.encode(digit, "dense-mnist", bits=5))
    assert np.array_equal(fixed, latentpress.decode(latentpress.encode(digit, "dense-mnist", code="range", bits=5)))
    sizes = [len(latentpress.encode(digit, "dense-mnist", bits=b)) for b in (2, 5, 8)]
    assert sizes[0] < sizes[1] < sizes[2]
    errors = [np.mean([psnr(d, latentpress.decode(latentpress.encode(d, "dense-mnist", bits=b))) for d in digits])
              for b in (1, 8)]
    assert errors[0] < errors[1]


def test_fashion_model_decodes(digits):
    data = latentpress.encode(digits[0], "dense-mnist", model="fashion")
    assert container.read(data)[0].params["model"] == "dense-fashion-v1"
    assert latentpress.decode(data).shape == (28, 28)
    # Clothing weights on digits: 15.6 dB on average over the 20 held-out digits.
    qualities = [psnr(d, latentpress.decode(latentpress.encode(d, "dense-mnist", model="fashion"))) for d in digits]
    assert np.mean(qualities) > 13.0


def test_other_images_are_refused_clearly(small_rgb):
    for image in (small_rgb, np.zeros((28, 28, 3), np.uint8), np.zeros((27, 28), np.uint8)):
        with pytest.raises(ImageError, match="28x28 greyscale"):
            latentpress.encode(image, "dense-mnist")
    for bad in ({"model": "cifar"}, {"code": "text"}, {"bits": 9}, {"bits": 0}):
        with pytest.raises(ParameterError):
            latentpress.encode(np.zeros((28, 28), np.uint8), "dense-mnist", **bad)


def test_crafted_files_are_refused():
    digit = np.zeros((28, 28), np.uint8)                   # no dataset needed
    digit[6:22, 12:16] = 255
    data = latentpress.encode(digit, "dense-mnist", code="float16")
    ranged = latentpress.encode(digit, "dense-mnist", code="range")
    header, sections = container.read(data)

    def rewrite(params=None, found=None, **geometry):
        changed = dataclasses.replace(header, params={**header.params, **(params or {})}, **geometry)
        return container.write(changed, sections if found is None else found)

    bad = [rewrite({"weights": "0" * 16}), rewrite({"model": "dense-mnist-v0"}), rewrite({"code": "text"}),
           rewrite({"code": "fixed", "bits": 9}), rewrite({"bits": 8}), rewrite({"code": "fixed"}),
           rewrite(found=[Section("CODE", b"\0" * 127)]),
           rewrite(found=[Section("CODE", b"\xff\x7f" * 64)]), rewrite(width=27),
           rewrite(found=[Section("CODE", b"\0" * 128), Section("CODE", b"")]),
           rewrite({"code": "range", "bits": 8}, found=[Section("CODE", container.read(ranged)[1][0].data[:-4])])]
    for crafted in bad:
        with pytest.raises(CorruptPayloadError):
            latentpress.decode(crafted)


def test_cli_refuses_a_photo_without_a_traceback(tmp_path, capsys):
    from PIL import Image

    from latentpress import cli
    Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(tmp_path / "photo.png")
    assert cli.main(["encode", str(tmp_path / "photo.png"), str(tmp_path / "out.lpx"), "--codec", "dense-mnist"]) != 0
    error = capsys.readouterr().err
    assert "28x28 greyscale" in error and "Traceback" not in error
    assert not (tmp_path / "out.lpx").exists()


def test_training_runs_resumes_and_exports(tmp_path):
    from latentpress.train import dense
    images = np.random.default_rng(0).integers(0, 256, (SPLIT_TEST := 100, 28, 28), dtype=np.uint8)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train-images-idx3-ubyte").write_bytes(idx_bytes(images[:80]))
    (data / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images[80:SPLIT_TEST])))
    run = tmp_path / "run"
    args = ["--data", str(data), "--run", str(run), "--code", "8", "--batch", "16"]
    dense.main(args + ["--epochs", "2"])
    dense.main(args + ["--epochs", "3", "--export", str(tmp_path / "w.safetensors")])
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3]
    assert all(r["test_rmse"] == pytest.approx(r["test_mse"] ** 0.5) for r in log)
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / "w.safetensors"))
    assert tensors["encoder.2.weight"].shape == (8, 128) and "prior.bits8" in tensors
