"""Shared fixtures and the run's data summary.

Test images come from two places:

* ``tests/data/`` (shipped): crops of two training photographs and a few MNIST digits,
  enough for the fast suite (attribution in ``tests/data/README.md``);
* ``LATENTPRESS_DATA``, the project's shared data folder (``kodak/``, ``photos/``,
  ``mnist/``; default ``../shared/data`` beside the clone): the few tests that need the
  Kodak images or the whole MNIST split. Without it they are skipped and the summary at
  the end of the run lists them; with ``LATENTPRESS_REQUIRE_DATA=1`` (as in CI) they fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from latentpress.image import load_image

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "data"
DATA = Path(os.environ.get("LATENTPRESS_DATA") or TESTS.parent.parent / "shared" / "data")
REQUIRE_DATA = os.environ.get("LATENTPRESS_REQUIRE_DATA", "") not in ("", "0")
NO_DATA = "needs test data:"            # how a skip for lack of data begins


def data_path(*parts: str) -> Path:
    """``LATENTPRESS_DATA``/parts, or skip the test (fail it under LATENTPRESS_REQUIRE_DATA)."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        reason = f"{NO_DATA} {path} not found"
        if REQUIRE_DATA:
            pytest.fail(f"{reason} and LATENTPRESS_REQUIRE_DATA is set (point LATENTPRESS_DATA at "
                        "the shared data folder)", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def shared_data():
    """``data_path`` for tests and fixtures: ``shared_data("kodak", "kodim01.png")``."""
    return data_path


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """256×320 crop of training photograph 044 (shipped): hair, skin, an ear, a pink
    stethoscope strap on a camouflage pattern, a curtain. Most codec tests compress
    parts of it; their PSNR floors are measured on it."""
    return load_image(FIXTURES / "photo044-256x320.png")


@pytest.fixture(scope="session")
def second_photo() -> np.ndarray:
    """192×256 crop of training photograph 021 (shipped): sky, heat-shield tiles, white paint."""
    return load_image(FIXTURES / "photo021-192x256.png")


@pytest.fixture(scope="session")
def kodim23() -> np.ndarray:
    """Kodak's kodim23 from LATENTPRESS_DATA (skipped without it): for the tests that
    need a whole Kodak image."""
    return load_image(data_path("kodak", "kodim23.png"))


@pytest.fixture(scope="session")
def small_rgb() -> np.ndarray:
    """A 40×56 image with edges and texture (deterministic)."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:40, 0:56]
    image = np.stack([xx * 4, yy * 6, (xx + yy) * 2], axis=-1).astype(np.float64)
    image[10:25, 20:40] = (200, 30, 90)
    image += rng.normal(0, 6, image.shape)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason.removeprefix("Skipped: ")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Say how many tests ran and which were skipped for lack of data (and how to give it)."""
    if config.option.collectonly:
        return
    stats = terminalreporter.stats
    skipped = {report.nodeid: _skip_reason(report) for report in stats.get("skipped", [])}
    ran = {report.nodeid for key in ("passed", "failed", "error", "xfailed", "xpassed")
           for report in stats.get(key, []) if report.nodeid} - skipped.keys()
    for_data = {nodeid: reason for nodeid, reason in skipped.items() if reason.startswith(NO_DATA)}
    others = len(skipped) - len(for_data)
    where = f"LATENTPRESS_DATA: {DATA}" + ("" if DATA.is_dir() else ", not found")
    if REQUIRE_DATA:
        where += "; LATENTPRESS_REQUIRE_DATA is set, so a test without its data fails"
    write = terminalreporter.write_line
    terminalreporter.section("test data")
    other = f"; {others} skipped for other reasons (see the short test summary below)" if others else ""
    if not for_data:
        write(f"{len(ran)} tests ran; none skipped for lack of data{other} ({where})")
        return
    write(f"{len(ran)} tests ran; {len(for_data)} skipped for lack of data{other} ({where}):", yellow=True, bold=True)
    for nodeid, reason in sorted(for_data.items()):
        write(f"  {nodeid} ({reason.removeprefix(NO_DATA).strip()})")
    write("To run them, point LATENTPRESS_DATA at the project's shared data folder (kodak/, photos/, "
          "mnist/), e.g. LATENTPRESS_DATA=/path/to/shared/data python -m pytest", yellow=True)
