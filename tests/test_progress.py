"""latentpress.progress: silent unless shown; a phase of unknown length still shows its
time going by; nested phases each draw their own line."""

from __future__ import annotations

import io
import time

from latentpress import progress


def test_nothing_is_drawn_unless_someone_asked():
    with progress.task("work", total=3) as bar:
        bar.advance()
        bar.note(loss=1.0)
    assert not progress.is_shown()


def test_a_phase_of_unknown_length_shows_its_time_going_by():
    stream = io.StringIO()
    with progress.shown(stream):
        with progress.task("outer"):
            with progress.task("a phase of unknown length"):
                time.sleep(1.3)
            with progress.task("counted", total=4, unit="step") as bar:
                for _ in range(4):
                    bar.advance()
    drawn = stream.getvalue()
    assert "a phase of unknown length: 00:01" in drawn          # redrawn while nothing advanced it
    assert "outer: 00:01" in drawn
    assert "counted" in drawn and "/4" in drawn and "step" in drawn


def test_an_exception_inside_a_task_leaves_the_display_usable():
    stream = io.StringIO()
    with progress.shown(stream):
        try:
            with progress.task("failing", total=2):
                raise RuntimeError("inside")
        except RuntimeError:
            pass
        with progress.task("next", total=1) as bar:
            bar.advance()
    assert "next" in stream.getvalue()
