"""Worker processes that decode export request bodies and write their spans and runs into the store.

Decoding a span and making its run's rows costs several times what writing them does, and handing
the rows back to one writing process cost as much again as the writing (pickling, the pipe,
unpickling), so each worker does all of it: a body crosses to a worker as bytes, the worker decodes
it, makes the rows and commits them with its own SpanWriter, and only a few numbers come back.
SQLite lets one transaction write at a time; the workers take turns through a lock of their own
(waking the next at once, where SQLite's busy handler would poll), SQLite's lock guarding all the
same. A request is answered only once the worker's transaction has committed.

Requests that arrive while every worker is busy wait, and the next free worker takes several of
them into one transaction. Workers are spawned, not forked: the viewer's process has threads. A
worker that dies (killed, out of memory) breaks its pool (its transaction is rolled back by SQLite):
a new pool is started and the requests done again once; if that fails too they are answered 503 and
the exporter sends them again later.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import parallel, pricing
from .decode import Decoded, TooLarge, Undecodable, decode, gunzip
from .span_store import Commit, SpanWriter

T = TypeVar("T")

MAX_PROCESSES = 4  # past this the writers' turns at the store are the limit: more processes only cost memory
BATCH_BYTES = 1 << 20  # waiting requests one worker takes into one transaction, by body size (at least one)
LOCK_SECONDS = 30.0  # past this a worker stops waiting for its turn and leaves it to SQLite's own lock

# What a worker answers for each request: (STORED, spans, traces, new runs, rejected, problems),
# or (UNDECODABLE | TOO_LARGE | FAILED, message).
STORED, UNDECODABLE, TOO_LARGE, FAILED = "stored", "undecodable", "too large", "failed"
Request = tuple[bytes, str, str, int]  # body, content encoding, media type, size limit
Answer = tuple[Any, ...]


class WorkersFailed(Exception):
    """The worker processes died handling a request, twice (answered 503: the exporter retries)."""


class StoreFailed(Exception):
    """The store could not be written (disk full, locked too long): answered 503."""


@dataclass(frozen=True)
class Outcome:
    """What one request stored, and the spans it had that were rejected (and why, the first few)."""

    spans: int
    traces: int
    new_runs: int
    rejected: int
    problems: tuple[str, ...]


class Workers:
    """A pool of processes that decode requests and store them in the store at `path` (made by a
    SpanStore), started on first use and replaced when one of them dies. Used on one event loop."""

    def __init__(
        self,
        path: str,
        *,
        estimate: bool,
        processes: int | None = None,
        on_commit: Callable[[Commit], None] | None = None,
    ) -> None:
        self.path = path
        self.estimate = estimate
        self.processes = processes or min(parallel.worker_count(), MAX_PROCESSES)
        self.on_commit = on_commit
        self._pool: ProcessPoolExecutor | None = None
        self._waiting: list[tuple[Request, asyncio.Future[Answer]]] = []
        self._busy = 0  # batches handed to the pool and not answered yet
        self._tasks: set[asyncio.Task[None]] = set()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            from multiprocessing import get_context

            context = get_context("spawn")
            # A new lock with every pool: a worker killed holding its lock takes that pool down with it.
            turn = context.Lock()
            self._pool = ProcessPoolExecutor(
                self.processes, mp_context=context, initializer=_start, initargs=(self.path, self.estimate, turn)
            )
        return self._pool

    def start(self) -> None:
        """Start the processes now (each imports the decoder, loads the price table and opens the
        store) rather than on the first request."""
        pool = self._started()
        for _ in range(self.processes):
            _submit(pool, os.getpid)

    def pids(self) -> list[int]:
        """The worker processes' ids (for memory figures; a test kills one)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return list(processes)

    async def store(self, body: bytes, encoding: str, media_type: str, limit: int) -> Outcome:
        """The request decoded and committed to the store by a worker. Raises Undecodable, TooLarge
        (nothing stored), StoreFailed or WorkersFailed."""
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting.append(((body, encoding, media_type, limit), answer))
        self._dispatch()
        kind, *rest = await answer
        if kind == STORED:
            return Outcome(*rest)
        message = rest[0]
        if kind == UNDECODABLE:
            raise Undecodable(message)
        if kind == TOO_LARGE:
            raise TooLarge(message)
        if kind == FAILED:
            raise StoreFailed(message)
        raise WorkersFailed(message)

    def _dispatch(self) -> None:
        while self._waiting and self._busy < self.processes:
            size, taken = 0, 0
            while taken < len(self._waiting) and (taken == 0 or size + len(self._waiting[taken][0][0]) <= BATCH_BYTES):
                size += len(self._waiting[taken][0][0])
                taken += 1
            batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
            self._busy += 1
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[tuple[Request, asyncio.Future[Answer]]]) -> None:
        try:
            answers = await self._handled([request for request, _ in batch])
        except WorkersFailed as exc:
            answers = [("workers failed", str(exc))] * len(batch)
        finally:
            self._busy -= 1
            self._dispatch()
        for (_, future), answer in zip(batch, answers, strict=True):
            if not future.done():  # (cancelled: the client went away; its spans are stored all the same)
                future.set_result(answer)
        stored = [a for a in answers if a[0] == STORED]
        if stored and self.on_commit is not None:
            self.on_commit(
                Commit(
                    requests=len(stored),
                    spans=sum(a[1] for a in stored),
                    traces=sum(a[2] for a in stored),
                    new_runs=sum(a[3] for a in stored),
                )
            )

    async def _handled(self, requests: list[Request]) -> list[Answer]:
        for attempt in (1, 2):
            pool = self._started()
            try:
                return await asyncio.wrap_future(_submit(pool, _handle, requests))
            except BrokenProcessPool as exc:
                if self._pool is pool:  # the first batch to see it starts the next pool
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
                if attempt == 2:
                    raise WorkersFailed(f"the decoding processes died ({exc})") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        """Stop the processes (each closes its connection to the store as it exits)."""
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
_writer: SpanWriter | None = None
_turn: Any = None  # the pool's lock: one worker's transaction at a time


def _start(path: str, estimate: bool, turn: Any) -> None:
    global _pricer, _writer, _turn
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as _submit() says, in case the start unblocked it
    _pricer = pricing.Pricer() if estimate else None
    if _pricer is not None:
        _pricer.find("gpt-4o-mini", None)  # loads the price table now, not in the first request
    _writer = SpanWriter(path, _pricer)
    _turn = turn
    # What is loaded now lives as long as the process: out of the garbage collector's way (it would
    # walk the price table and the protobuf modules again and again, a tenth of the decoding time).
    gc.freeze()


def _handle(requests: list[Request]) -> list[Answer]:
    # Decoding makes many small objects and no reference cycles that outlive it: the collector,
    # which would run every 700 of them, waits until the batch is done (~8 % of the decoding time).
    gc.disable()
    try:
        answers: list[Answer | None] = [None] * len(requests)
        decoded: list[tuple[int, Decoded]] = []
        for i, (body, encoding, media_type, limit) in enumerate(requests):
            try:
                if encoding == "gzip":
                    body = gunzip(body, limit)
                decoded.append((i, decode(body, media_type, _pricer)))
            except TooLarge as exc:
                answers[i] = (TOO_LARGE, str(exc))
            except Undecodable as exc:
                answers[i] = (UNDECODABLE, str(exc))
        if decoded:
            for (i, batch), stored in zip(decoded, _write([batch for _, batch in decoded]), strict=True):
                if isinstance(stored, str):
                    answers[i] = (FAILED, stored)
                else:
                    answers[i] = (
                        STORED,
                        stored.spans,
                        stored.traces,
                        stored.new_runs,
                        batch.rejected,
                        tuple(batch.problems),
                    )
        assert all(a is not None for a in answers)  # every request decoded and written, or not decodable
        return answers  # type: ignore[return-value]
    finally:
        gc.enable()


def _write(batches: list[Decoded]) -> list[Any]:
    """What each request stored, or (all of them) why nothing was."""
    assert _writer is not None
    mine = _turn.acquire(timeout=LOCK_SECONDS)
    try:
        return _writer.write(batches)
    except sqlite3.Error as exc:
        return [f"the spans could not be stored ({exc})"] * len(batches)
    finally:
        if mine:
            _turn.release()
