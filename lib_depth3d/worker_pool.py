"""A bounded pool of worker threads with a bounded queue in front, for the API's heavy routes.

A request is *admitted* before its body is read: while the pool holds fewer than
``workers + queue_size`` requests (running or waiting), it gets an :class:`Admission`; beyond that,
:meth:`WorkerPool.admit` raises :class:`~lib_depth3d.errors.ServerBusyError` with a retry hint
and the request costs the server nothing more. An admitted request's work runs on one of the
pool's own ``workers`` threads, in order of arrival, and the event loop that awaits it stays free.
An admission ends when both its request and its work are done, so a request whose client went
away still counts until its work has finished: the pool never holds more than its bound.

Plain Python, no web framework: the awaiting side is any asyncio event loop, and several loops
in several threads (A1111's server thread, a test client's) may share one pool.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, TypeVar

from lib_depth3d.errors import ServerBusyError

Result = TypeVar("Result")

QUEUED_PER_WORKER = 2
"""Requests waiting per worker: enough that a worker finds the next request already read when it
finishes one, few enough that waiting bodies (each at most its route's limit) stay a small part
of the memory the running requests take."""

DURATION_SMOOTHING = 0.2
"""Weight of the latest request in the running mean of work durations behind the retry hint."""


@dataclass(frozen=True)
class PoolSize:
    """How many requests run at once (``workers``) and how many more may wait (``queue_size``)."""

    workers: int
    queue_size: int

    def __post_init__(self):
        if self.workers < 1 or self.queue_size < 0:
            raise ValueError(f"A pool needs at least one worker and a queue of zero or more; got {self}.")

    @property
    def capacity(self) -> int:
        """The most requests the pool holds at once, running and waiting."""
        return self.workers + self.queue_size


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def size_from_cores(cores: int) -> PoolSize:
    """One worker per core and :data:`QUEUED_PER_WORKER` waiting requests per worker: the heavy
    steps keep a core busy each (a depth network uses them all), so more workers than cores add
    memory without throughput."""
    workers = max(1, cores)
    return PoolSize(workers=workers, queue_size=QUEUED_PER_WORKER * workers)


class WorkerPool:
    """``size.workers`` threads named ``depth3d-api-N`` and room for ``size.queue_size`` waiting
    requests. Thread-safe; the threads start on first use."""

    def __init__(self, size: PoolSize):
        self.size = size
        self._executor = ThreadPoolExecutor(max_workers=size.workers, thread_name_prefix="depth3d-api")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._mean_seconds: float | None = None

    @property
    def admitted(self) -> int:
        """Requests admitted and not yet done (running or waiting)."""
        with self._lock:
            return self._admitted

    @property
    def running(self) -> int:
        """Requests whose work is running on a worker now."""
        with self._lock:
            return self._running

    def retry_after_s(self) -> int:
        """Whole seconds after which a refused request may find room: the time the pool takes
        to finish what it holds at the recent mean duration of a request's work (1 s before
        any has finished)."""
        with self._lock:
            return self._retry_after_s_locked()

    def _retry_after_s_locked(self) -> int:
        mean = self._mean_seconds if self._mean_seconds is not None else 1.0
        return max(1, math.ceil(mean * self._admitted / self.size.workers))

    def admit(self) -> Admission:
        """An admission for one request; :class:`ServerBusyError` when the pool is full."""
        with self._lock:
            if self._admitted >= self.size.capacity:
                retry_after_s = self._retry_after_s_locked()
                raise ServerBusyError(
                    f"The server is busy with {self._admitted} requests, its limit; "
                    f"send this request again in {retry_after_s} s.",
                    retry_after_s=retry_after_s,
                )
            self._admitted += 1
        return Admission(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _timed(self, work: Callable[..., Result], args: tuple, kwargs: dict) -> Result:
        with self._lock:
            self._running += 1
        start = time.perf_counter()
        try:
            return work(*args, **kwargs)
        finally:
            seconds = time.perf_counter() - start
            with self._lock:
                self._running -= 1
                self._mean_seconds = seconds if self._mean_seconds is None else (
                    DURATION_SMOOTHING * seconds + (1 - DURATION_SMOOTHING) * self._mean_seconds)

    def _submit(self, work: Callable[..., Result], args: tuple, kwargs: dict) -> Future:
        return self._executor.submit(self._timed, work, args, kwargs)


class Admission:
    """One admitted request's place in its pool, held by the request (``with``) and by its work
    (:meth:`run`) and given back when both are done."""

    def __init__(self, pool: WorkerPool):
        self._pool = pool
        self._holders = 1
        self._lock = threading.Lock()

    def __enter__(self) -> Admission:
        return self

    def __exit__(self, *exc_info) -> None:
        self._drop()

    def _drop(self) -> None:
        with self._lock:
            self._holders -= 1
            done = self._holders == 0
        if done:
            self._pool._release()

    async def run(self, work: Callable[..., Result], *args, **kwargs) -> Result:
        """``work(*args, **kwargs)`` on one of the pool's workers, awaited without blocking the loop."""
        with self._lock:
            self._holders += 1  # before the work exists, so its end cannot give the place back early
        try:
            future = self._pool._submit(work, args, kwargs)
        except BaseException:
            self._drop()
            raise
        future.add_done_callback(lambda _: self._drop())
        return await asyncio.wrap_future(future)


_default_pool: WorkerPool | None = None
_default_pool_lock = threading.Lock()


def default_pool() -> WorkerPool:
    """The process's pool, sized from its cores (:func:`size_from_cores`), made on first use."""
    global _default_pool
    with _default_pool_lock:
        if _default_pool is None:
            _default_pool = WorkerPool(size_from_cores(usable_cores()))
        return _default_pool
