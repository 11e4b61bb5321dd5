"""Progress of long work, drawn where someone is watching.

Library code says what it is doing and how far it has got::

    with progress.task("overfit: fitting the ARM", total=iterations, unit="it") as bar:
        for ...:
            bar.advance()

and nothing is drawn unless the caller asked for it: the command line does on a
terminal (not in a pipe, not with ``--quiet``), and a Python caller can::

    with latentpress.progress.shown():
        latentpress.encode("photo.png", "overfit", preset="slow")

A task with a total draws a bar with its rate and the time left; one without says what
is being done and for how long. Tasks may nest (an encode's phases inside the encode):
each draws its own line. The display is per thread and per context, so batch and bench
workers, which have none, stay silent.
"""

from __future__ import annotations

import contextlib
import contextvars
import sys
from collections.abc import Callable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")

_DISPLAY: contextvars.ContextVar["_Display | None"] = contextvars.ContextVar("latentpress_progress", default=None)


class Task:
    """What library code advances; does nothing where no display is shown."""

    def advance(self, count: float = 1) -> None:
        pass

    def note(self, **values: Any) -> None:
        """Figures worth showing beside the bar (a loss, a PSNR)."""


_SILENT = Task()


class _Bar(Task):
    def __init__(self, bar) -> None:
        self._bar = bar

    def advance(self, count: float = 1) -> None:
        self._bar.update(count)

    def note(self, **values: Any) -> None:
        self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in values.items()},
                              refresh=False)


class _Display:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.depth = 0

    @contextlib.contextmanager
    def task(self, description: str, total: float | None, unit: str) -> Iterator[Task]:
        from tqdm import tqdm

        bar = tqdm(total=total, desc=description, unit=unit, file=self.stream, leave=False, dynamic_ncols=True,
                   position=self.depth, mininterval=0.2,
                   bar_format=None if total else "{desc}: {elapsed} {postfix}")
        self.depth += 1
        try:
            yield _Bar(bar)
        finally:
            self.depth -= 1
            bar.close()


@contextlib.contextmanager
def task(description: str, total: float | None = None, unit: str = "it") -> Iterator[Task]:
    """A piece of long work: drawn with its rate and time left where progress is shown."""
    display = _DISPLAY.get()
    if display is None:
        yield _SILENT
        return
    with display.task(description, total, unit) as bar:
        yield bar


def advancing(bar: Task, function: Callable[..., T]) -> Callable[..., T]:
    """``function``, advancing ``bar`` after each call (a search over a few candidates)."""
    def call(*args: Any, **kwargs: Any) -> T:
        result = function(*args, **kwargs)
        bar.advance()
        return result
    return call


def is_shown() -> bool:
    return _DISPLAY.get() is not None


@contextlib.contextmanager
def shown(stream: IO[str] | None = None, enabled: bool = True) -> Iterator[None]:
    """Draw the progress of the work done inside on ``stream`` (default: stderr)."""
    if not enabled:
        yield
        return
    token = _DISPLAY.set(_Display(stream or sys.stderr))
    try:
        yield
    finally:
        _DISPLAY.reset(token)
