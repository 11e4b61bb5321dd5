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
import os
import sys
import threading
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
    def __init__(self, bar, lock: threading.Lock) -> None:
        self._bar, self._lock = bar, lock

    def advance(self, count: float = 1) -> None:
        with self._lock:
            self._bar.update(count)

    def note(self, **values: Any) -> None:
        with self._lock:
            self._bar.set_postfix({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in values.items()},
                                  refresh=False)


class _Display:
    # Bars are redrawn this often even when nothing advances them, so that a phase of
    # unknown length shows its time going by.
    REFRESH_S = 0.5

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.bars: list = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.refresher: threading.Thread | None = None

    def _size(self) -> dict[str, Any]:
        """tqdm follows the terminal's size, and draws nothing on one that reports 0 rows
        (some pseudo-terminals do): give it a fixed size then."""
        try:
            columns, rows = os.get_terminal_size(self.stream.fileno())
        except (AttributeError, OSError, ValueError):
            return {"dynamic_ncols": True}
        if rows > 0 and columns > 0:
            return {"dynamic_ncols": True}
        return {"ncols": columns if columns > 0 else 100, "nrows": rows if rows > 0 else 24}

    def _refresh(self) -> None:
        while not self.stop.wait(self.REFRESH_S):
            with self.lock:
                for bar in self.bars:
                    bar.refresh()

    @contextlib.contextmanager
    def task(self, description: str, total: float | None, unit: str) -> Iterator[Task]:
        from tqdm import tqdm

        with self.lock:
            bar = tqdm(total=total, desc=description, unit=unit, file=self.stream, leave=False,
                       position=len(self.bars), mininterval=0.2,
                       bar_format=None if total else "{desc}: {elapsed} {postfix}", **self._size())
            self.bars.append(bar)
            if self.refresher is None:
                self.refresher = threading.Thread(target=self._refresh, name="latentpress-progress", daemon=True)
                self.refresher.start()
        try:
            yield _Bar(bar, self.lock)
        finally:
            with self.lock:
                self.bars.remove(bar)
                bar.close()

    def close(self) -> None:
        self.stop.set()
        if self.refresher is not None:
            self.refresher.join()


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
    display = _Display(stream or sys.stderr)
    token = _DISPLAY.set(display)
    try:
        yield
    finally:
        _DISPLAY.reset(token)
        display.close()
