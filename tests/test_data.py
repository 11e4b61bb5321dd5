"""The test data: the fixtures shipped in tests/data/ are described, small, and what their
README says they are; a run says what it skipped for lack of LATENTPRESS_DATA, and fails
instead under LATENTPRESS_REQUIRE_DATA (as CI runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from latentpress.image import load_image
from latentpress.train.idx import read_idx

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "data"
# Shipped crop → (training photo in LATENTPRESS_DATA/photos, top row, left column).
CROPS = {"photo044-256x320.png": ("044.png", 80, 560), "photo021-192x256.png": ("021.png", 400, 160)}


def test_every_shipped_file_is_described_and_they_stay_small():
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    files = [path for path in FIXTURES.iterdir() if path.name != "README.md"]
    assert [path.name for path in files if path.name not in readme] == []
    assert sum(path.stat().st_size for path in files) < 300_000


def test_the_crops_are_those_of_the_training_photos(shared_data):
    for name, (source, top, left) in CROPS.items():
        crop = load_image(FIXTURES / name)
        height, width = crop.shape[:2]
        assert f"{height}x{width}" in name
        photo = load_image(shared_data("photos", source))
        assert np.array_equal(photo[top:top + height, left:left + width], crop), name


def test_the_digits_are_those_of_the_split(shared_data):
    split = read_idx(shared_data("mnist", "t10k-images-idx3-ubyte.gz"))
    assert np.array_equal(split[8000:8020], read_idx(FIXTURES / "mnist-t10k-8000-8019-idx3-ubyte.gz"))


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """This file's digit check alone, in a fresh pytest, without the data."""
    environment = {key: value for key, value in os.environ.items() if key != "LATENTPRESS_REQUIRE_DATA"}
    environment.update(LATENTPRESS_DATA=str(tmp_path / "nowhere"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           f"{Path(__file__).name}::test_the_digits_are_those_of_the_split"],
                          check=False, cwd=TESTS, env=environment, capture_output=True, text=True, timeout=300)


def test_a_run_without_the_data_says_what_it_skipped(tmp_path):
    run = _run(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 tests ran; 1 skipped for lack of data" in run.stdout
    assert "test_data.py::test_the_digits_are_those_of_the_split" in run.stdout
    assert "LATENTPRESS_DATA=/path/to/shared/data" in run.stdout


def test_ci_fails_a_test_without_its_data(tmp_path):
    run = _run(tmp_path, LATENTPRESS_REQUIRE_DATA="1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout and "LATENTPRESS_REQUIRE_DATA is set" in run.stdout
