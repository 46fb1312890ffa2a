"""Opening any trace file as a Store: detect its format, read it in place or import it into a cache.

JSON/JSONL sources are streamed into a store file in the cache, keyed on path + size + mtime, so
an unchanged file opens instantly the second time. SQLite sources are opened read-only in place.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import normalize, parallel, sources
from .errors import UnusableInput
from .model import Problem, finalized, run_problems
from .store import SCHEMA_VERSION, Store, StoreWriter, connect_readonly

Progress = Callable[[int, int, int], None]  # (bytes read, total bytes, runs stored)


class ImportCancelled(Exception):
    """Raised by a progress callback to stop an import; the half-written store is removed."""


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tracetui")


def cache_path(path: str, fmt: str) -> str:
    st = os.stat(path)
    key = f"{os.path.abspath(path)}\0{st.st_size}\0{st.st_mtime_ns}\0{fmt}\0{SCHEMA_VERSION}"
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]
    return os.path.join(cache_dir(), f"{digest}.db")


def store_complete(db_path: str) -> bool:
    if not os.path.exists(db_path):
        return False
    try:
        conn = connect_readonly(db_path)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key = 'complete'").fetchone()
            return row is not None and row[0] == "1"
        finally:
            conn.close()
    except sqlite3.Error:
        return False


@dataclass
class Opening:
    """A source on its way to becoming a Store.

    `ready` is true when the store can be queried in full now (in-place sources, cache hits).
    Otherwise call run_import() (in a worker thread, for the viewer) and query `db_path` meanwhile:
    runs appear there as they are read.
    """

    path: str
    module: sources.Source
    db_path: str
    ready: bool
    in_place: bool
    cached: bool = False  # db_path is in the shared cache (other processes may want it too)
    problems: list[Problem] = field(default_factory=list)
    head: sources.Head | None = None
    _sort_keys: dict[str, str] | None = None  # what views() found on the first connection, reused by the next

    @property
    def format(self) -> str:
        return self.module.NAME

    @property
    def uses_workers(self) -> bool:
        """True when run_import() will parse with worker processes (see parallel.start_helpers)."""
        return (
            not self.ready
            and self.head is not None
            and parallel.usable(self.module, self.head, os.path.getsize(self.path))
        )

    def connect(self) -> Store:
        sort_keys = self._sort_keys
        if self.in_place:
            assert isinstance(self.module, sources.InPlace)
            conn = connect_readonly(self.path)
            try:
                sort_keys = self.module.views(conn, known_sort_keys=self._sort_keys)
                self._sort_keys = sort_keys
            except sqlite3.DatabaseError as exc:
                conn.close()
                raise UnusableInput(self.path, f"cannot read the {self.module.NAME} tables ({exc})") from None
        else:
            conn = connect_readonly(self.db_path)
        return Store(
            conn,
            label=self.path,
            source_format=self.module.NAME,
            path=self.db_path,
            sort_keys=sort_keys,
            trusted=not self.in_place,  # a file read in place may hold anything in any column
        )

    def run_import(self, progress: Progress | None = None) -> int:
        """Stream the source into db_path; returns the number of runs stored."""
        if self.ready:
            return 0
        os.makedirs(os.path.dirname(self.db_path) or ".", exist_ok=True)
        if not self.cached:
            return self._import(progress)
        # Two tracetui processes opening the same new file: one imports, the other waits for it.
        with open(self.db_path + ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if store_complete(self.db_path):
                    self.ready = True
                    return 0
                _remove_store(self.db_path)
                return self._import(progress)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _import(self, progress: Progress | None) -> int:
        total = os.path.getsize(self.path)
        reader = sources.SourceFile(self.path)

        def report(problem: Problem) -> None:
            problem.source_file = problem.source_file or self.path
            self.problems.append(problem)
            writer.add_problem(problem)

        writer = StoreWriter(self.db_path, report=report)

        last = 0.0

        def tick(position: int) -> None:
            nonlocal last
            now = time.monotonic()
            if progress is not None and now - last > 0.1:
                progress(position, total, writer.run_count)
                last = now

        head = self.head or sources.read_head(self.path)
        try:
            serial = True
            if parallel.usable(self.module, head, total):
                try:
                    parallel.import_file(self.path, self.module, head, writer, report, tick)
                    serial = False
                except parallel.WorkersUnavailable:
                    pass  # read it in this process instead
            if serial:
                normalize.take_notes()  # left over from anything read before, in this thread
                for run in self.module.read(head, report, reader):
                    run.source_file = run.source_file or self.path
                    if finalized(run, report):
                        writer.add(run)
                        for problem in run_problems(run):
                            report(problem)
                    tick(reader.position)
            if writer.run_count == 0 and not self.problems:
                # An empty result is always explained: a file of this format with nothing in it reads
                # the same as one whose records are where the format does not look (a damaged key).
                report(Problem(f"no runs found in the file (read as {self.module.NAME})"))
            writer.finish(source=os.path.abspath(self.path), format=self.module.NAME)
        except BaseException:
            writer.abort()
            _remove_store(self.db_path)
            raise
        if progress is not None:
            progress(total, total, writer.run_count)
        self.ready = True
        return writer.run_count


def _remove_store(db_path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(db_path + suffix)
        except FileNotFoundError:
            pass


def prepare(path: str, *, fmt: str | None = None, use_cache: bool = True, output: str | None = None) -> Opening:
    """Detect the format and decide where the store lives. Raises UnusableInput."""
    module, head = sources.detect(path, fmt)
    if output is None and sources.in_place(module, head):
        return Opening(path, module, db_path=path, ready=True, in_place=True, head=head)
    if output is not None:
        return Opening(path, module, db_path=output, ready=False, in_place=False, head=head)
    if use_cache:
        db_path = cache_path(path, module.NAME)
        return Opening(
            path, module, db_path=db_path, ready=store_complete(db_path), in_place=False, cached=True, head=head
        )
    import atexit
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="tracetui-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return Opening(path, module, db_path=os.path.join(tmp, "store.db"), ready=False, in_place=False, head=head)


def open_store(path: str, *, fmt: str | None = None, use_cache: bool = True, progress: Progress | None = None) -> Store:
    """Open any supported trace file as a fully loaded Store (importing it first if needed)."""
    opening = prepare(path, fmt=fmt, use_cache=use_cache)
    opening.run_import(progress)
    return opening.connect()
