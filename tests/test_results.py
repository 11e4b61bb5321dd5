"""The committed results are what the committed commands produce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from latentpress.bench import report

RESULTS = Path(__file__).resolve().parents[1] / "results"


def _without_svg(page: str) -> str:
    # Inline SVG text depends on the matplotlib version; the numbers and tables do not.
    return re.sub(r"<svg.*?</svg>", "<svg/>", page, flags=re.S)


@pytest.mark.parametrize("name, anchor", [("kodak", "jpeg2000")])
def test_report_reproduces_the_committed_report(tmp_path, name, anchor):
    folder = RESULTS / name
    if not (folder / "records.jsonl").exists():
        pytest.skip(f"results/{name} not committed yet")
    report.write(folder, anchor=anchor, out=tmp_path)
    for file in ("summary.json", "tables.md"):
        assert (tmp_path / file).read_text() == (folder / file).read_text(), file
    assert _without_svg((tmp_path / "report.html").read_text()) == _without_svg((folder / "report.html").read_text())
