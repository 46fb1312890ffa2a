"""Bringing a folder's store up to date (folders.Plan): which files hold runs, reading them, in order.

Files are taken newest first, so the top of the run list (newest first) fills in first. They are
detected a few at a time; a file a format claims is read unless it is a companion of another file
(a Claude Code session's subagent files, a Codex rollout's subagent rollouts: sources.companions).
Companions are usually written before the file that owns them is last written, so the owner is
usually met first; a file read before its owner turned up is taken out again when the owner is.

The first files are read in this process, so the first rows show while worker processes start;
big folders are then read by worker processes (parallel.worker_count()), each writing a batch of
whole files into the store in a transaction of its own (store/files.py), which this process never
waits for except to count progress. Small folders are read in this process.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import orjson

from . import file_import, folders, parallel, sources, tailstate
from .errors import UnusableInput
from .file_import import FileResult
from .model import Problem
from .store import files as store_files
from .store.files import COMPANION, OTHER, RUNS, UNREADABLE, Diff, FileRecord, FileWriter

if TYPE_CHECKING:
    from concurrent.futures import Future

FIRST_BYTES = 1 << 20  # read in this process before anything is handed to workers
FIRST_CHUNK = 16  # files detected before the first are read
CHUNK = 128  # files detected at a time after that
BATCH_BYTES = 4 << 20  # about how much one worker task reads
MAX_NAMED = 3  # files named in a warning about many files


def worth_workers(size: int) -> bool:
    """Whether reading `size` bytes of files is worth starting worker processes for."""
    return size >= parallel.min_size() and parallel.worker_count() >= 2


@dataclass
class Claimed:
    """A file a format claims: its format and the companion files its runs are read from."""

    rel: str
    fmt: str
    companions: list[str]


@dataclass
class _Progress:
    report: Callable[[int, int, int], None] | None
    total: int
    done: int = 0
    runs: int = 0
    last: float = 0.0

    def add(self, size: int, runs: int) -> None:
        self.done += size
        self.runs += runs
        now = time.monotonic()
        if self.report is not None and now - self.last > 0.1:
            self.last = now
            self.report(self.done, self.total, self.runs)


class FolderImport:
    """One pass over a folder's Plan: remove what is gone, read what is new or changed, then reconcile."""

    def __init__(self, conn: sqlite3.Connection, opening, plan, *, keep_gone: bool = False) -> None:
        self.conn, self.opening, self.plan = conn, opening, plan
        self.keep_gone = keep_gone  # a deleted file's runs stay in the store (loading.Refresh.gone lists it)
        self.listing = plan.listing
        self.root = self.listing.root
        self.diff = Diff()
        self.formats: list[sources.Source] | None = None
        self.records: dict[str, FileRecord] = {}  # rows to write for files that hold no runs
        self.claimed: dict[str, Claimed] = {}
        self.read: set[str] = set()  # files read (or handed to a worker) in this pass
        self.appended: list[str] = []
        self.restarted: list[str] = []
        self.changed = False
        # Companions of files whose runs stay as they are: they are not read as files of their own.
        self.companions: set[str] = set()
        for rel, record in plan.known.items():
            if record.role == RUNS and rel not in plan.to_read and rel not in plan.to_reread and rel not in plan.gone:
                self.companions.update(self._rel(p) for p in record.companions)

    def _rel(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    # -- the pass ---------------------------------------------------------------------------------
    def run(self, progress: Callable[[int, int, int], None] | None = None):
        from .loading import Refresh

        plan = self.plan
        for rel in [] if self.keep_gone else plan.gone:
            self.diff.extend(store_files.remove(self.conn, rel))
            self.changed = True
        queue = sorted(plan.to_read, key=lambda rel: -self.listing.files[rel].st_mtime_ns)
        queue += sorted(plan.to_reread, key=lambda rel: -self.listing.files[rel].st_mtime_ns)
        ticker = _Progress(progress, max(plan.size(), 1))
        if queue:
            self.changed = True
            self._read_all(queue, ticker)
        if self.changed:
            self._reconcile(ticker)
            folders.ensure_indexes(self.conn)
            tailstate.forget_stale(self.conn)
        self._folder_problems()
        if progress is not None:
            progress(ticker.total, ticker.total, ticker.runs)
        return Refresh(
            added=self.diff.added,
            changed=self.diff.changed,
            removed=self.diff.removed,
            appended=self.appended,
            gone=list(plan.gone),
            restarted=self.restarted,
        )

    def _read_all(self, queue: list[str], ticker: _Progress) -> None:
        first: list[str] = []
        size = 0
        while queue and (size < FIRST_BYTES or len(first) < 1):
            chunk, queue = queue[:FIRST_CHUNK], queue[FIRST_CHUNK:]
            for rel in self._owners(chunk):
                first.append(rel)
                size += self.listing.files[rel].st_size
        rest_size = sum(self.listing.files[rel].st_size for rel in queue)
        pool = _Workers(self) if worth_workers(rest_size) else None
        cancelled = True
        try:
            self._read_here(first, ticker)
            while queue:
                chunk, queue = queue[:CHUNK], queue[CHUNK:]
                owners = self._owners(chunk)
                if pool is not None:
                    pool.submit(owners, ticker)
                else:
                    self._read_here(owners, ticker)
            if pool is not None:
                pool.wait(ticker)
            cancelled = False
        finally:
            if pool is not None:
                pool.close(cancelled=cancelled)

    def _read_here(self, rels: list[str], ticker: _Progress) -> None:
        from . import pricing

        pricer = pricing.Pricer() if self.opening.estimate else None
        for rel in rels:
            result = self._read_one(rel, pricer)
            ticker.add(self.listing.files[rel].st_size, result.runs)

    def _read_one(self, rel: str, pricer) -> FileResult:
        path, fmt, previous = self.listing.path(rel), self.claimed[rel].fmt, self.plan.known.get(rel)
        if self.opening.tails is not None:  # followed: the Tails live in the follower
            result = file_import.read_file(
                self.conn, path, rel, fmt, pricer, previous=previous, tails=self.opening.tails
            )
        else:
            result = tailstate.prepare(self.conn, path, rel, fmt, pricer, previous=previous, keep=self.keeps(rel))()
        self.took(result)
        return result

    def keeps(self, rel: str) -> bool:
        """Whether the file's Tail is kept in the store (tailstate.py): a store in the cache, not followed
        (a follower keeps its own), and a file likely to grow again."""
        opening = self.opening
        if not opening.cached or opening.output or opening.tails is not None:
            return False
        return tailstate.worth_keeping(self.listing.files[rel], known=rel in self.plan.known)

    def took(self, result: FileResult) -> None:
        """A file was read (here or by a worker)."""
        self.diff.extend(result.diff)
        if result.appended:
            self.appended.append(result.key)
        if result.restarted:
            self.restarted.append(result.key)

    # -- which files hold runs --------------------------------------------------------------------
    def _owners(self, chunk: list[str]) -> list[str]:
        """Detect the files of a chunk; those whose runs are to be read now, newest first."""
        for rel in chunk:
            self._classify(rel)
        owners = []
        for rel in chunk:
            claimed = self.claimed.get(rel)
            if claimed is None or rel in self.companions:
                continue
            owners.append(rel)
            self.read.add(rel)
        return owners

    def _classify(self, rel: str) -> None:
        known = self.plan.known.get(rel)
        path = self.listing.path(rel)
        sig = self.listing.sig(rel)
        try:
            head = sources.read_head(path)
        except UnusableInput as exc:
            self.records[rel] = FileRecord(rel, UNREADABLE, problem=exc.problem, sig=sig)
            return
        if known is not None and known.role == RUNS and rel in self.plan.to_reread and known.format:
            module = sources.by_name(known.format)
        else:
            found = self._detect(head, known.format if known is not None else None)
            if found is None:
                self.records[rel] = FileRecord(rel, OTHER, problem=sources.describe_unknown(head), sig=sig)
                return
            if self.opening.fmt is not None and found.NAME != self.opening.fmt:
                self.records[rel] = FileRecord(rel, OTHER, format=found.NAME, sig=sig)
                return
            module = found
        companions = [self._rel(p) for p in sources.companions(module, head)]
        self.claimed[rel] = Claimed(rel, module.NAME, companions)
        self.companions.update(c for c in companions if c != rel)

    def _detect(self, head: sources.Head, before: str | None = None) -> sources.Source | None:
        """The format that claims the file: the one it was read as before when that one still does (a
        session that grew), else sources.detect's rule, with the formats listed once."""
        if before is not None:
            try:
                module = sources.by_name(before)
            except KeyError:  # a plug-in that is gone
                module = None
            if module is not None and module.sniff(head):
                return module
        if self.formats is None:
            self.formats = sources.formats()
        return next((source for source in self.formats if source.sniff(head)), None)

    # -- after reading ----------------------------------------------------------------------------
    def _reconcile(self, ticker: _Progress) -> None:
        """Files read before their owner turned up are taken out; companions no file owns any more are
        read as files of their own; rows of files without runs are written."""
        known, listed = self.plan.known, self.listing.files
        orphans = {
            rel for rel, r in known.items() if r.role == COMPANION and rel in listed and rel not in self.companions
        }
        orphans |= {rel for rel in self.claimed if rel not in self.read and rel not in self.companions}
        for rel in sorted(orphans):
            if rel not in self.claimed and rel not in self.records:
                self._classify(rel)
        owners = sorted(rel for rel in orphans if rel in self.claimed and rel not in self.companions)
        owners = [rel for rel in owners if rel not in self.read]
        self.read.update(owners)
        self._read_here(owners, ticker)
        for rel in sorted(self.companions):
            if rel not in listed:
                continue
            record = known.get(rel)
            if rel in self.read or (record is not None and record.role != COMPANION):
                self.diff.extend(store_files.remove(self.conn, rel))
                record = None
            sig = self.listing.sig(rel)
            if record is None or record.sig != sig:
                store_files.save_now(self.conn, FileRecord(rel, COMPANION, sig=sig))
        for rel, row in self.records.items():
            if rel in self.companions:
                continue
            before = known.get(rel)
            if row.role == UNREADABLE:
                self.diff.extend(FileWriter(self.conn, rel).finish(row, [Problem(row.problem or "cannot read")]))
            elif before is not None and before.role in (RUNS, UNREADABLE):
                self.diff.extend(FileWriter(self.conn, rel).finish(row))  # its runs and problems go
            else:
                store_files.save_now(self.conn, row)

    def _folder_problems(self) -> None:
        """The warnings about the folder as a whole: folders and links that could not be read, files
        that are not traces (grouped by why), and models without a price. Rewritten only when changed."""
        if not self.changed and not self.plan.folder_problems_changed:
            return
        lines = list(self.listing.problems)
        others: dict[str, list[str]] = {}
        rows = self.conn.execute(
            "SELECT path, problem FROM files WHERE role = ? AND problem IS NOT NULL ORDER BY path", (OTHER,)
        )
        for path, why in rows:
            others.setdefault(why, []).append(path)
        for why, paths in sorted(others.items()):
            named = ", ".join(paths[:MAX_NAMED]) + (", …" if len(paths) > MAX_NAMED else "")
            many = len(paths) > 1
            lines.append(f"{len(paths)} {'files are' if many else 'file is'} not read ({why}): {named}")
        lines += self._unpriced()
        with store_files.transaction(self.conn):
            self.conn.execute("DELETE FROM problems WHERE file IS NULL")
            n = self.conn.execute("SELECT coalesce(max(n), 0) FROM problems").fetchone()[0]
            self.conn.executemany(
                "INSERT INTO problems (n, message) VALUES (?, ?)", [(n + i, m) for i, m in enumerate(lines, 1)]
            )
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('folder_problems', ?)",
                (orjson.dumps(self.listing.problems).decode(),),
            )

    def _unpriced(self) -> list[str]:
        if not self.opening.estimate:
            return []
        from . import pricing

        rows = pricing.unpriced_calls(self.conn)
        return pricing.unpriced_messages(rows, pricing.Pricer()) if rows else []


# -- worker processes -----------------------------------------------------------------------------


@dataclass
class _Task:
    rels: list[str]
    size: int
    future: Future[list[FileResult]]


class _Workers:
    """Worker processes reading batches of files into the store; results counted as they come.

    A batch whose worker failed (a crash, a store it could not write) is read in this process instead.
    """

    def __init__(self, job: FolderImport) -> None:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        self.job = job
        self.tasks: list[_Task] = []
        self.pool: ProcessPoolExecutor | None
        # spawn, not fork: the viewer reads from a thread, and forking a threaded process can deadlock.
        try:
            self.pool = ProcessPoolExecutor(parallel.worker_count(), mp_context=get_context("spawn"))
        except (OSError, ValueError):
            self.pool = None  # no processes to be had: everything is read in this process

    def submit(self, rels: list[str], ticker: _Progress) -> None:
        batch: list[str] = []
        size = 0
        for rel in rels:
            batch.append(rel)
            size += self.job.listing.files[rel].st_size
            if size >= BATCH_BYTES:
                self._submit(batch, size, ticker)
                batch, size = [], 0
        if batch:
            self._submit(batch, size, ticker)
        self._collect(ticker)

    def _submit(self, rels: list[str], size: int, ticker: _Progress) -> None:
        job = self.job
        if self.pool is not None:
            items = [(rel, job.claimed[rel].fmt, job.keeps(rel)) for rel in rels]
            known = {rel: job.plan.known[rel].row() for rel in rels if rel in job.plan.known}
            args = (job.opening.db_path, job.root, items, known, job.opening.estimate)
            try:
                self.tasks.append(_Task(rels, size, self.pool.submit(read_files, *args)))
                return
            except (OSError, RuntimeError):  # the pool broke (BrokenProcessPool is a RuntimeError)
                self.pool = None
        job._read_here(rels, ticker)

    def _collect(self, ticker: _Progress) -> None:
        pending = []
        for task in self.tasks:
            if not task.future.done():
                pending.append(task)
                continue
            try:
                results = task.future.result()
            except Exception:  # the worker died or failed: read its files here
                self.job._read_here(task.rels, ticker)
                continue
            for result in results:
                self.job.took(result)
                ticker.add(0, result.runs)
            ticker.add(task.size, 0)
        self.tasks = pending

    def wait(self, ticker: _Progress) -> None:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_for

        while self.tasks:
            wait_for([t.future for t in self.tasks], timeout=0.1, return_when=FIRST_COMPLETED)
            self._collect(ticker)
            ticker.add(0, 0)  # lets the progress callback see a cancel while batches are read

    def close(self, *, cancelled: bool) -> None:
        if self.pool is None:
            return
        if not cancelled:
            self.pool.shutdown(wait=True)
            return
        # Stopped (the viewer closing): what the workers are reading is not waited for. A file being
        # written when its worker is stopped is left as it was; its transaction never commits.
        from multiprocessing import active_children

        self.pool.shutdown(wait=False, cancel_futures=True)
        for child in active_children():
            child.terminate()


def read_files(
    db_path: str, root: str, items: list[tuple[str, str, bool]], known: dict[str, tuple], estimate: bool
) -> list[FileResult]:
    """In a worker process: read these files of a folder, then write them into its store in one transaction."""
    from . import pricing

    conn = folders.connect_writer(db_path)
    pricer = pricing.Pricer() if estimate else None
    try:
        # All the files are read before the write lock is taken (the other workers write meanwhile),
        # then written in one transaction: a commit per file cost more than reading a small one.
        writes = []
        for rel, fmt, keep in items:
            previous = FileRecord.from_row(known[rel]) if rel in known else None
            path = os.path.join(root, rel)
            writes.append(tailstate.prepare(conn, path, rel, fmt, pricer, previous=previous, keep=keep))
        with store_files.transaction(conn):
            return [write() for write in writes]
    finally:
        store_files.close(conn)


__all__ = ["FolderImport", "read_files", "worth_workers"]
