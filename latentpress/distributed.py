"""Executors: where independent jobs (one image, one codec setting) run.

``SerialExecutor`` runs in this process; ``LocalExecutor`` in a pool of worker
processes (default one per core). Both yield results as jobs finish, in any order, so
callers write each result as soon as it exists and an interrupted run loses at most
the jobs in flight. A Ray executor plugs in behind the same interface (issue 10).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import Any, Protocol


class Executor(Protocol):
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], jobs: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """Yield (job, result) pairs as jobs complete; a job's exception is its result."""
        ...


class SerialExecutor:
    workers = 1

    def map_unordered(self, fn, jobs):
        for job in jobs:
            try:
                yield job, fn(job)
            except Exception as exc:  # reported per job by the caller
                yield job, exc


def _init_worker() -> None:
    # One compute thread per worker: workers × threads must not oversubscribe the cores.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import torch
        torch.set_num_threads(1)
    except ImportError:
        pass


class LocalExecutor:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def map_unordered(self, fn, jobs):
        jobs = list(jobs)
        if not jobs:
            return
        # spawn, not fork: torch and the codec libraries hold threads and locks that a
        # forked child must not inherit.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker) as pool:
            pending = {}
            queue = iter(jobs)
            for job in queue:
                pending[pool.submit(fn, job)] = job
                if len(pending) >= 2 * self.workers:
                    break
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    job = pending.pop(future)
                    exc = future.exception()
                    yield job, (exc if exc is not None else future.result())
                    for next_job in queue:
                        pending[pool.submit(fn, next_job)] = next_job
                        break


def make_executor(name: str = "local", workers: int | None = None) -> Executor:
    if name == "serial" or workers == 1 and name == "local":
        return SerialExecutor()
    if name == "local":
        return LocalExecutor(workers)
    raise ValueError(f"unknown executor {name!r} (available: local, serial)")
