"""Worker processes that decode export request bodies and make the rows of the traces they carry.

Decoding a span and making its run's rows costs several times what writing them does, so it is done
here, off the event loop and the committer's thread, on the other cores; a body crosses to a worker
as bytes and comes back as Decoded (rows and stored JSON, no staged Python objects). Workers are
spawned, not forked: the viewer's process has threads. A worker that dies (killed, out of memory)
breaks its pool: a new pool is started and the body decoded again once; if that fails too the
request is answered 503 and the exporter sends it again later.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from .. import parallel, pricing
from .decode import Decoded, decode, gunzip

T = TypeVar("T")

MAX_PROCESSES = 4  # past this the committer, one thread, is the limit: more processes only cost memory


class WorkersFailed(Exception):
    """The worker processes died decoding a body, twice (answered 503: the exporter retries)."""


class Decoders:
    """A pool of decoding processes, started on first use and replaced when one of them dies."""

    def __init__(self, *, estimate: bool, processes: int | None = None) -> None:
        self.estimate = estimate
        self.processes = processes or min(parallel.worker_count(), MAX_PROCESSES)
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from multiprocessing import get_context

            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=get_context("spawn"), initializer=_start, initargs=(self.estimate,)
            )
        return self._pool

    def start(self) -> None:
        """Start the processes now (each imports the decoder and loads the price table) rather than
        on the first request."""
        pool = self._started()
        for _ in range(self.processes):
            _submit(pool, os.getpid)

    def pids(self) -> list[int]:
        """The worker processes' ids (for memory figures; a test kills one)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    async def decode(self, body: bytes, encoding: str, media_type: str, limit: int) -> Decoded:
        """The body decoded in a worker. Raises Undecodable, TooLarge or WorkersFailed."""
        for attempt in (1, 2):
            pool = self._started()
            try:
                return await asyncio.wrap_future(_submit(pool, _decode, body, encoding, media_type, limit))
            except BrokenProcessPool as exc:
                if self._pool is pool:  # the first request to see it starts the next pool
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise WorkersFailed(f"the decoding processes died ({exc})") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _submit(pool: ProcessPoolExecutor, fn: Callable[..., T], *args: object) -> Future[T]:
    # submit() starts the worker processes it needs, from this thread: with SIGINT blocked here they
    # start with it blocked, so Ctrl+C (which reaches the whole process group) leaves them to be
    # stopped by the receiver, after the requests in flight, instead of killing them mid-way.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        return pool.submit(fn, *args)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


_pricer: pricing.Pricer | None = None


def _start(estimate: bool) -> None:
    global _pricer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as _submit() says, in case the start unblocked it
    _pricer = pricing.Pricer() if estimate else None
    if _pricer is not None:
        _pricer.find("gpt-4o-mini", None)  # loads the price table now, not in the first request
    # What is loaded now lives as long as the process: out of the garbage collector's way (it would
    # walk the price table and the protobuf modules again and again, a tenth of the decoding time).
    gc.freeze()


def _decode(body: bytes, encoding: str, media_type: str, limit: int) -> Decoded:
    # Decoding makes many small objects and no reference cycles that outlive it: the collector,
    # which would run every 700 of them, waits until it is done (~8 % of the decoding time).
    gc.disable()
    try:
        if encoding == "gzip":
            body = gunzip(body, limit)
        return decode(body, media_type, _pricer)
    finally:
        gc.enable()
