"""Executors: where independent jobs (one image, one codec setting) run.

``SerialExecutor`` runs in this process; ``LocalExecutor`` in a pool of worker
processes (default one per core). Both yield results as jobs finish, in any order, so
callers write each result as soon as it exists and an interrupted run loses at most
the jobs in flight. ``RayExecutor`` runs each job as a Ray task, on a local Ray instance
or an existing cluster (Ray is an optional dependency).
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

from latentpress.errors import LatentpressError


class ExecutorError(LatentpressError):
    """An engine cannot be used (Ray missing, a cluster that cannot be reached)."""


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


def _bounded(jobs: Iterable[Any], limit: int, submit: Callable[[Any], Any],
             finished: Callable[[list[Any]], Iterable[tuple[Any, Any]]],
             cancel: Callable[[list[Any]], None]) -> Iterator[tuple[Any, Any]]:
    """Run jobs with at most ``limit`` in flight, drawing them lazily (a million-image
    batch never holds more than that in memory); yield (job, result) as they finish.
    ``submit(job)`` returns a handle, ``finished(handles)`` waits for at least one and
    yields (handle, result) pairs, ``cancel(handles)`` stops what is still running when
    the caller stops early (an exception, ^C, closing the generator)."""
    queue = iter(jobs)
    pending: dict[Any, Any] = {}

    def fill() -> None:
        for job in queue:
            pending[submit(job)] = job
            if len(pending) >= limit:
                return

    try:
        fill()
        while pending:
            for handle, result in finished(list(pending)):
                yield pending.pop(handle), result
                fill()
    except BaseException:
        cancel(list(pending))
        raise


def _init_pool_worker() -> None:
    _init_worker()
    # ^C in a terminal reaches the whole process group; the driver stops the workers
    # itself, so a worker must not die mid-job with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class LocalExecutor:
    def __init__(self, workers: int | None = None) -> None:
        self.workers = max(1, workers or os.cpu_count() or 1)

    def _pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: torch and the codec libraries hold threads and locks that a
        # forked child must not inherit.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_pool_worker)

    def map_unordered(self, fn, jobs):
        """A worker that dies (killed, out of memory, a crash in a native library) fails
        the jobs it and its pool had in flight, with an ExecutorError each; a new pool
        takes the rest."""
        state = {"pool": self._pool()}

        def submit(job):
            try:
                return state["pool"].submit(fn, job)
            except BrokenProcessPool:
                _terminate(state["pool"])
                state["pool"] = self._pool()
                return state["pool"].submit(fn, job)

        def finished(futures):
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for future in done:
                exc = future.exception()
                if isinstance(exc, BrokenProcessPool):
                    exc = ExecutorError("a worker process died while this job was in flight (killed, out of "
                                        "memory, or a crash in a native library)")
                yield future, (exc if exc is not None else future.result())

        yield from _bounded(jobs, 2 * self.workers, submit, finished, lambda _: _terminate(state["pool"]))
        state["pool"].shutdown()


def _terminate(pool: ProcessPoolExecutor) -> None:
    processes = list((getattr(pool, "_processes", None) or {}).values())     # CPython keeps them here
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
    # Wait for the pool's manager thread too: on Python 3.11, interpreter exit wakes every
    # manager thread still running through a pipe the thread may be closing at that very
    # moment, which prints "Exception ignored ... Bad file descriptor" after an interrupt.
    manager = getattr(pool, "_executor_manager_thread", None)             # CPython's name
    if manager is not None and manager is not threading.current_thread():
        manager.join(timeout=10)


def _ray_call(fn, job):
    """A Ray task: one job, one compute thread (Ray gives each task the CPUs it declared)."""
    _init_worker()
    return fn(job)


class RayExecutor:
    """Each job is a Ray task declaring ``cpus_per_task`` CPUs (and ``gpus_per_task``
    GPUs). ``address`` joins a running cluster (``ray start --head`` on one machine,
    ``ray start --address=HEAD:6379`` on the others); without one a local Ray instance
    with ``workers`` CPUs starts and stops with the executor."""

    def __init__(self, address: str | None = None, workers: int | None = None,
                 cpus_per_task: float = 1.0, gpus_per_task: float = 0.0) -> None:
        try:
            import ray
        except ImportError:
            raise ExecutorError("--engine ray needs Ray, which is optional: pip install 'latentpress[ray]' "
                                "(with -c constraints.txt, as in the README)") from None
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            options = {"include_dashboard": False, "log_to_driver": False, "logging_level": "ERROR"}
            try:
                if address:
                    ray.init(address=address, **options)
                else:
                    ray.init(num_cpus=max(1, workers or os.cpu_count() or 1), **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ExecutorError(f"cannot start or join Ray{f' at {address}' if address else ''}: {exc}") from None
            self._started = True
        cluster = int(ray.cluster_resources().get("CPU", 1) // max(cpus_per_task, 1e-9))
        self.workers = max(1, min(workers, cluster) if workers else cluster)
        self._task = ray.remote(num_cpus=cpus_per_task, num_gpus=gpus_per_task, max_retries=0)(_ray_call)

    def map_unordered(self, fn, jobs):
        ray = self._ray

        def finished(refs):
            ready, _ = ray.wait(refs, num_returns=1)
            for ref in ready:
                try:
                    yield ref, ray.get(ref)
                except ray.exceptions.RayTaskError as exc:
                    yield ref, getattr(exc, "cause", None) or exc
                except ray.exceptions.RayError as exc:       # a worker died, a node left
                    yield ref, exc

        def cancel(refs):
            for ref in refs:
                ray.cancel(ref, force=True)

        yield from _bounded(jobs, 2 * self.workers, lambda job: self._task.remote(fn, job), finished, cancel)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()
            self._started = False


def close_executor(executor: Executor) -> None:
    """Release what an executor holds (a local Ray instance it started); others hold nothing."""
    close = getattr(executor, "close", None)
    if close is not None:
        close()


def make_executor(name: str = "local", workers: int | None = None, address: str | None = None) -> Executor:
    if name == "ray":
        return RayExecutor(address, workers)
    if address:
        raise ExecutorError("--address is for --engine ray")
    if name == "serial" or workers == 1 and name == "local":
        return SerialExecutor()
    if name == "local":
        return LocalExecutor(workers)
    raise ExecutorError(f"unknown engine {name!r} (available: local, ray, serial)")
