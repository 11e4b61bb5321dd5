"""The committed results are what the committed commands produce."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from latentpress.bench import report

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _same_numbers(new, old, where="summary.json") -> None:
    """Equal structure and values; floats to 1e-9 relative (the last bits of a BD-rate
    depend on the CPU's SIMD paths in numpy and scipy)."""
    if isinstance(old, dict):
        assert isinstance(new, dict) and new.keys() == old.keys(), where
        for key in old:
            _same_numbers(new[key], old[key], f"{where}/{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for index, (a, b) in enumerate(zip(new, old)):
            _same_numbers(a, b, f"{where}[{index}]")
    elif isinstance(old, float):
        assert new == pytest.approx(old, rel=1e-9, abs=1e-12), where
    else:
        assert new == old, where


def _without_svg(page: str) -> str:
    # Inline SVG text depends on the matplotlib version; the numbers and tables do not.
    return re.sub(r"<svg.*?</svg>", "<svg/>", page, flags=re.S)


@pytest.mark.parametrize("name, anchor", [("kodak", "jpeg2000")])
def test_report_reproduces_the_committed_report(tmp_path, name, anchor):
    folder = RESULTS / name
    if not (folder / "records.jsonl").exists():
        pytest.skip(f"results/{name} not committed yet")
    report.write(folder, anchor=anchor, out=tmp_path)
    _same_numbers(json.loads((tmp_path / "summary.json").read_text()),
                  json.loads((folder / "summary.json").read_text()))
    assert (tmp_path / "tables.md").read_text() == (folder / "tables.md").read_text()
    assert _without_svg((tmp_path / "report.html").read_text()) == _without_svg((folder / "report.html").read_text())
