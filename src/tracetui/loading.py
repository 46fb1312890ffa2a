"""Opening any trace file or folder as a Store: detect its format, read it in place or import it into a cache.

JSON/JSONL sources are streamed into a store file in the cache, so an unchanged file opens
instantly the second time. SQLite sources are opened read-only in place. A folder is every trace
file under it in one store (folders.py).

A store made by importing can be brought up to date with its file later, without reading it all
again where the format allows: `refresh()` (see Refresh) reads only what was appended to a file
with one run per line, or, while the file is followed, to a session or event log (tailing.py), and
says which runs changed.

The cache holds copies of the user's traces: its directory is 0700 and its files 0600. A store is
keyed on the file's path, size, mtime, ctime, inode and a hash of its first and last 64 KB, so a
rewrite of the same size with the mtime put back is still seen. A cache that cannot be used
(not writable, not a directory, full) is not an error: the file is read into a private temporary
store instead, and Opening.notice says so.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Protocol

from . import normalize, postgres, sources, sqlite_uri
from .errors import UnusableInput
from .memo import Memo
from .memo import detected as memo_detected
from .memo import for_file as memo_for
from .model import Problem, finalized, run_problems
from .store import SCHEMA_VERSION, Store, connect_readonly
from .store.protocol import TraceStore

if TYPE_CHECKING:
    # Imported where they are used: opening a file that is in the cache needs neither (issue 15).
    from . import filestate
    from .store import StoreWriter
    from .store import files as store_files
    from .tailing import Tails

Progress = Callable[[int, int, int], None]  # (bytes read, total bytes, runs stored)


@dataclass(frozen=True)
class DatabaseOptions:
    """How to read a PostgreSQL target: the schema and table to choose (when detection finds more
    than one), and the statement timeout in milliseconds (None: postgres.target.DEFAULT_TIMEOUT_MS)."""

    schema: str | None = None
    table: str | None = None
    timeout_ms: int | None = None


class SourceOpening(Protocol):
    """What the CLI and the viewer need of an opened source: a file (Opening) or a database
    (postgres.opening.DatabaseOpening)."""

    problems: list[Problem]
    notice: str | None
    ready: bool

    @property
    def label(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def uses_workers(self) -> bool: ...

    @property
    def paged(self) -> bool:
        """The run list must page by key (a database): it never reads every run id."""
        ...

    def connect(self) -> TraceStore: ...

    def run_import(self, progress: Progress | None = None) -> int: ...

    def index_for_search(
        self, progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None
    ) -> bool:
        """Index the steps' text for search where tracetui may write (its own cache); False: not indexed."""
        ...


class ImportCancelled(Exception):
    """Raised by a progress callback to stop an import; the half-written store is removed."""


FOLDER = "folder"  # the format of a folder's runs (folders.py), named here for those that only compare it
PRIVATE = 0o600
KEY_SAMPLE = 1 << 16  # bytes hashed at each end of a file for its cache key


def cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tracetui")


def usable_cache_dir() -> str:
    """The cache directory, when stores can be kept there (it is made when the first one is).
    An existing one an older tracetui left 0755 is made private (0700). Raises OSError."""
    directory = cache_dir()
    there = directory
    while not os.path.lexists(there) and os.path.dirname(there) != there:
        there = os.path.dirname(there)
    if not os.path.isdir(there):
        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", there)
    if there == directory:
        _made_private(directory, 0o700)
    if not os.access(there, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, "Permission denied", there)
    return directory


def cache_path(
    path: str, fmt: str, directory: str | None = None, companions: Sequence[str] = (), estimate: bool = True
) -> str:
    """Where the import of `path` is cached: keyed on the file and the companion files its runs read too,
    and on the prices its model calls were estimated with."""
    from . import pricing  # here, not at the top: `tracetui --help` never needs it

    key = hashlib.sha256()
    key_file(key, path)
    key.update(f"{fmt}\0{SCHEMA_VERSION}\0{pricing.cache_tag(estimate)}\0".encode())
    for companion in companions:
        try:
            key_file(key, companion)
        except OSError:
            key.update(f"{os.path.abspath(companion)}\0gone\0".encode("utf-8", "surrogateescape"))
    return os.path.join(directory or cache_dir(), f"{key.hexdigest()[:32]}.db")


def key_file(key: hashlib._Hash, path: str) -> None:
    """What identifies a file's content cheaply: its identity and times, and a hash of its head and tail
    (a same-size rewrite with the mtime restored still changes the key)."""
    st = os.stat(path)
    for part in (os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev):
        key.update(str(part).encode("utf-8", "surrogateescape") + b"\0")
    with open(path, "rb") as f:
        key.update(f.read(KEY_SAMPLE))
        if st.st_size > KEY_SAMPLE:
            f.seek(max(KEY_SAMPLE, st.st_size - KEY_SAMPLE))
            key.update(f.read(KEY_SAMPLE))


def _create_private(path: str) -> None:
    """An empty file only its owner can read, for SQLite to make a store in (its -wal and -shm
    files take the store's mode)."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE))
    os.chmod(path, PRIVATE)  # a file that was there already


def _made_private(path: str, mode: int = PRIVATE) -> None:
    """A cache file or directory an older tracetui made with the default mode: its owner's only."""
    try:
        st = os.stat(path)
        if st.st_uid == os.getuid() and st.st_mode & 0o077:
            os.chmod(path, mode)
    except OSError:
        pass


@dataclass
class Refresh:
    """What bringing a store up to date with its files changed (Opening.refresh, FolderOpening.refresh).

    added / changed / removed: run ids new in the store, rewritten with a difference (a session that
    grew: more steps, a later end, another status), and no longer in it. appended: the files of which
    only what was appended since the last read was read (the rest of them was not read again). gone:
    files that no longer exist (an imported file's runs stay in the store; a folder's file takes its
    runs with it, in `removed`, unless kept). restarted: files truncated or replaced since the last
    read (filestate.replaced), read again from the start.
    """

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    appended: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether any run changed."""
        return bool(self.added or self.changed or self.removed)


class Openable(SourceOpening, Protocol):
    """A source read from files: one file (Opening) or a folder (folders.FolderOpening). What following
    it needs besides what every source has: where its store is, and refresh()."""

    path: str
    db_path: str
    in_place: bool  # a database queried where it lies: nothing to refresh, its views read it as it is
    estimate: bool
    tails: Tails | None  # the followed files' readers (tailing.py), set by follow.Follower

    def refresh(self, *, keep_gone: bool = False, changed: Collection[str] | None = None) -> Refresh:
        """changed: the paths a file watcher said changed since the last refresh, when it is known
        (a folder then stats only those); None: look at everything."""
        ...


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
    estimate: bool = True  # price model calls without a reported cost (pricing.py); False: --no-estimate
    _sort_keys: dict[str, str] | None = None  # what views() found on the first connection, reused by the next
    memo: Memo | None = None  # what an earlier open of this in-place file learned (memo.py)
    source: str | None = None  # what the user named, when `path` is a private copy of it (a pipe)
    notice: str | None = None  # something the user should know about where the store lives
    background: bool = False  # imported while the viewer shows it: worker processes yield the CPU to it
    search_index: bool = False  # index the steps' text when the import ends (`tracetui import -o`)
    tails: Tails | None = None  # set while followed: the file is read on from where it was (tailing.py)
    # What run_import() writes into: a StoreWriter on db_path unless this says otherwise (a PgWriter,
    # which copies the rows on into PostgreSQL: postgres/writer.py). Called (db_path, report).
    writer: Callable[[str, Callable[[Problem], None]], StoreWriter] | None = None

    @property
    def format(self) -> str:
        return self.module.NAME

    @property
    def label(self) -> str:
        """The file as the user named it."""
        return self.source or self.path

    @property
    def paged(self) -> bool:
        return False  # a store file lists its run ids quickly enough

    @property
    def uses_workers(self) -> bool:
        """True when run_import() will parse with worker processes (see parallel.start_helpers)."""
        if self.ready or self.head is None:
            return False
        from . import parallel  # only for a file that is imported

        return parallel.usable(self.module, self.head, os.path.getsize(self.path))

    def connect(self) -> Store:
        sort_keys = self._sort_keys
        if self.in_place:
            assert isinstance(self.module, sources.InPlace)
            from . import pricing

            conn = connect_readonly(self.path)
            pricing.register(conn, self.estimate)  # before the views, which may call it
            known = self._sort_keys
            if known is None and self.memo is not None:
                known = self.memo.sort_keys()
            try:
                sort_keys = self.module.views(conn, known_sort_keys=known)
                if known is None and self.memo is not None and sort_keys:
                    self.memo.put(sort_keys=sort_keys)
                self._sort_keys = sort_keys
            except sqlite3.DatabaseError as exc:
                conn.close()
                if sqlite_uri.locked(exc):
                    raise UnusableInput(self.path, sqlite_uri.problem(exc)) from None
                raise UnusableInput(self.path, f"cannot read the {self.module.NAME} tables ({exc})") from None
        else:
            conn = connect_readonly(self.db_path)
        return Store(
            conn,
            label=self.label,
            source_format=self.module.NAME,
            path=self.db_path,
            sort_keys=sort_keys,
            trusted=not self.in_place,  # a file read in place may hold anything in any column
            estimated=self.estimate,
        )

    def run_import(self, progress: Progress | None = None) -> int:
        """Stream the source into db_path; returns the number of runs stored.

        A cache that cannot be written (full, read-only) is given up for a temporary store, once.
        """
        if self.ready:
            return 0
        if not self.cached:
            os.makedirs(os.path.dirname(self.db_path) or ".", exist_ok=True)
            return self._import(progress)
        try:
            return self._import_cached(progress)
        except (OSError, sqlite3.OperationalError) as exc:
            if not _store_trouble(exc):
                raise
            cache = os.path.dirname(self.db_path)
            self.db_path, self.cached = temporary_store(), False
            self.notice = f"the cache {cache} cannot be written ({exc}); the file was read into a temporary store"
        try:
            return self._import(progress)
        except (OSError, sqlite3.OperationalError) as exc:
            if not _store_trouble(exc):
                raise
            problem = f"cannot write a store of it, in the cache or a temporary one ({exc})"
            raise UnusableInput(self.label, problem) from None

    def refresh(self, *, keep_gone: bool = False, changed: Collection[str] | None = None) -> Refresh:
        """Bring the store up to date with the file as it is now; returns what changed.

        Nothing is read when the file (and the companion files its runs were read from) did not change.
        A file that only grew (same file, the bytes read before unchanged) and has one run per line is
        read from the last whole line read before, and only the runs from there on are replaced. While
        followed (`tails`), a session, event log or OTLP JSON Lines file that grew is read on from where
        the last read ended, and only the runs and steps that changed are written (tailing.py). Any
        other change reads the file again and replaces its runs. A file that is gone leaves the store as it was. A source read in place needs nothing:
        its views read the file as it is now. The store keeps its place in the cache: the next
        `prepare()` of the changed file imports it afresh under the file's new key. (keep_gone: the
        runs of a deleted file are always kept here, and the file and its companions are always stat'ed:
        the parameters are FolderOpening's.)
        """
        if self.in_place or self.source is not None:
            return Refresh()  # in place: read live; a pipe's copy never changes
        if not self.ready:
            raise RuntimeError("refresh() is for an imported store: run_import() first")
        from . import file_import, filestate, pricing
        from .store import files as store_files

        conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=60, check_same_thread=False)
        try:
            store_files.create(conn)
            known = store_files.load(conn)
            record = next(iter(known.values()), None)
            change = _file_change(self.path, record)
            if change is filestate.Change.GONE:
                return Refresh(gone=[self.label])
            if change is filestate.Change.SAME and not self._untailed():
                return Refresh()
            if change is filestate.Change.CHANGED:
                try:
                    self.module, self.head = sources.detect(self.path)
                except UnusableInput:
                    pass  # emptied, or not whole yet: read_file records why, and the next change tries again
            from .store import search

            search.drop_index(conn)  # an external-content index would no longer match the steps
            pricer = pricing.Pricer() if self.estimate else None
            result = file_import.read_file(
                conn, self.path, None, self.module.NAME, pricer, previous=record, tails=self.tails
            )
            if pricer is not None:
                _rewrite_unpriced(conn, pricer)
        finally:
            conn.close()
        return Refresh(
            added=result.diff.added,
            changed=result.diff.changed,
            removed=result.diff.removed,
            appended=[self.label] if result.appended else [],
            restarted=[self.label] if result.restarted else [],
        )

    def _untailed(self) -> bool:
        """Followed, and of a format read on as it grows, but not yet read into its Tail: the first look
        reads it (the file unchanged) so that the next append is read from where that read ended."""
        if self.tails is None or self.tails.has(self.path):
            return False
        head = self.head or sources.read_head(self.path)
        return sources.resumable(self.module, head)

    def index_for_search(
        self, progress: Callable[[int, int], None] | None = None, cancelled: Callable[[], bool] | None = None
    ) -> bool:
        """Index the steps' text of a cached import for search (store/search.py), going on from where an
        earlier build stopped; True when the index is complete. Only the cache is written: a source read
        in place or a store the user named is never changed (a search of those scans). One process at a
        time builds it (another holding the cache's lock: False at once). Steps (done, total) to `progress`."""
        if not self.cached or not self.ready:
            return False
        from .store import search

        fd = os.open(self.db_path + ".lock", os.O_CREAT | os.O_WRONLY, PRIVATE)
        with os.fdopen(fd, "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                conn = sqlite3.connect(self.db_path, isolation_level=None, timeout=30)
                try:
                    if search.has_index(conn):
                        return True
                    # A store left in WAL mode may have readers that opened it immutable (sqlite_uri.ro_uri),
                    # which would not see its pages change: it is searched by a scan instead.
                    if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal":
                        return False
                    conn.execute("PRAGMA synchronous=NORMAL")
                    return search.build_index(conn, progress=progress, cancelled=cancelled)
                finally:
                    conn.close()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _import_cached(self, progress: Progress | None) -> int:
        directory = os.path.dirname(self.db_path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        _made_private(directory, 0o700)
        # Two tracetui processes opening the same new file: one imports, the other waits for it.
        fd = os.open(self.db_path + ".lock", os.O_CREAT | os.O_WRONLY, PRIVATE)
        with os.fdopen(fd, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if store_complete(self.db_path):
                    self.ready = True
                    return 0
                _remove_store(self.db_path)
                _create_private(self.db_path)
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

        from .store import StoreWriter

        def new_writer() -> StoreWriter:
            if self.writer is not None:
                return self.writer(self.db_path, report)
            return StoreWriter(self.db_path, report=report)

        writer = new_writer()

        last = 0.0

        def tick(position: int) -> None:
            nonlocal last
            now = time.monotonic()
            if progress is not None and now - last > 0.1:
                progress(position, total, writer.run_count)
                last = now

        from . import filestate, parallel, pricing

        head = self.head or sources.read_head(self.path)
        try:
            before = filestate.measure(self.path)  # what refresh() later compares with
        except OSError:
            before = None
        pricer = pricing.Pricer() if self.estimate else None
        try:
            serial = True
            unpriced = None  # the store's unpriced calls, when the parallel import counted them
            if parallel.usable(self.module, head, total):
                try:
                    unpriced = parallel.import_file(
                        self.path,
                        self.module,
                        head,
                        writer,
                        report,
                        tick,
                        estimate=self.estimate,
                        yielding=self.background,
                    )
                    serial = False
                except parallel.WorkersUnavailable as exc:
                    # Read it in this process instead, from the start on an empty store.
                    if exc.written:
                        writer.abort()
                        _remove_store(self.db_path)
                        if self.cached:
                            _create_private(self.db_path)
                        self.problems.clear()
                        writer = new_writer()
            if serial:
                normalize.take_notes()  # left over from anything read before, in this thread
                price = partial(pricing.apply, pricer=pricer)
                for run in self.module.read(head, report, reader):
                    run.source_file = run.source_file or self.path
                    # The first run goes to a viewer at once, priced after it has been shown (PricedLater).
                    later = None
                    if pricer is not None and writer.run_count == 0 and pricing.needs_table(run):
                        later = pricing.PricedLater(run, report)
                    if finalized(run, later.report if later else report, None if later else price):
                        writer.add(run)
                        for problem in run_problems(run):
                            report(problem)
                    tick(reader.position)
                    if later is not None and pricer is not None and writer.run_count:
                        later.store(writer.conn, run, pricer)
                        writer.commit()
            if writer.run_count == 0 and not self.problems:
                # An empty result is always explained: a file of this format with nothing in it reads
                # the same as one whose records are where the format does not look (a damaged key).
                report(Problem(f"no runs found in the file (read as {self.module.NAME})"))
            if before is not None:
                _record_file(writer.conn, self.path, self.module, head, before, writer.run_count)
            meta = {"source": os.path.abspath(self.path), "format": self.module.NAME}
            if pricer is not None:
                calls = unpriced if unpriced is not None else writer.unpriced_calls()
                for message in pricing.unpriced_messages(calls, pricer):
                    report(Problem(message))
                meta["prices"] = pricing.describe(dated=False)
            writer.finish(search_index=self.search_index, **meta)
        except BaseException:
            writer.abort()
            _remove_store(self.db_path)
            raise
        if progress is not None:
            progress(total, total, writer.run_count)
        self.ready = True
        return writer.run_count


def _record_file(conn: sqlite3.Connection, path: str, module: sources.Source, head, before, runs: int) -> None:
    """The file's row in the store's files table: how it was when read, for refresh()."""
    from . import filestate
    from .store import files as store_files

    record = store_files.FileRecord(os.path.abspath(path), store_files.RUNS, module.NAME, runs=runs)
    record.was_read(before)
    from .file_import import companions

    record.companions = {c: filestate.Signature.stat(c) for c in companions(path, module, head)}
    store_files.create(conn, unpriced_index=False)
    store_files.save(conn, record)


def _file_change(path: str, record: store_files.FileRecord | None) -> filestate.Change:
    """How the file changed since the store's row for it was written (CHANGED without a row)."""
    from . import filestate

    if record is None or record.read is None:
        return filestate.Change.GONE if not os.path.exists(path) else filestate.Change.CHANGED
    change, _ = filestate.compare(record.read, path)
    if change is filestate.Change.SAME and any(
        filestate.Signature.stat(c) != sig for c, sig in record.companions.items()
    ):
        return filestate.Change.CHANGED  # a subagent's file changed: the session is read again
    return change


def _rewrite_unpriced(conn: sqlite3.Connection, pricer) -> None:
    """The store-wide warnings about unpriced models, made again after a file was read again (the
    FileWriter took the old ones out with the rest of the file's warnings that name no line or run)."""
    from . import pricing
    from .store import files as store_files

    messages = pricing.unpriced_messages(pricing.unpriced_calls(conn), pricer)
    with store_files.transaction(conn):
        n = conn.execute("SELECT coalesce(max(n), 0) FROM problems").fetchone()[0]
        rows = [(n + i, m) for i, m in enumerate(messages, 1)]
        conn.executemany("INSERT INTO problems (n, message) VALUES (?, ?)", rows)


def _remove_store(db_path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.remove(db_path + suffix)
        except FileNotFoundError:
            pass


def _holds_estimates(path: str) -> bool:
    """A tracetui store imported with estimation on (its meta says which prices it used)."""
    try:
        conn = connect_readonly(path)
        try:
            return conn.execute("SELECT 1 FROM meta WHERE key = 'prices'").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False


def prepare(
    path: str,
    *,
    fmt: str | None = None,
    use_cache: bool = True,
    output: str | None = None,
    estimate: bool = True,
    database: DatabaseOptions | None = None,
) -> SourceOpening:
    """Detect the format and decide where the store lives. Raises UnusableInput.

    A PostgreSQL target (postgresql://…, postgres://…, a libpq key=value string) is read where it
    lies: postgres.prepare finds its traces (`database` says which schema and table, and the
    statement timeout). It cannot be the source of an import (export it instead).

    A pipe (`tracetui list <(zcat x.jsonl.gz)`) is read once into a private copy, which is what
    is then detected and imported (never cached: the copy is gone when tracetui exits).
    estimate=False (--no-estimate) leaves model calls without a reported cost unpriced; a tracetui
    store that holds estimates is then imported (without them) rather than read in place.
    """
    if postgres.is_target(path):
        if output is not None:
            problem = "a database is read where it lies, not imported; `tracetui export` writes its runs to a file"
            raise UnusableInput(postgres.redact(path), problem)
        from .postgres.opening import prepare as prepare_database

        options = database or DatabaseOptions()
        return prepare_database(
            path,
            fmt=fmt,
            schema=options.schema,
            table=options.table,
            timeout_ms=options.timeout_ms,
            estimate=estimate,
        )
    if database is not None and (database.schema or database.table):
        raise UnusableInput(path, "--schema and --table choose a table in a PostgreSQL database, not in a file")
    if os.path.isdir(path):  # as folders.is_folder asks, without importing folders.py for a file
        from . import folders

        return folders.prepare_folder(path, fmt=fmt, use_cache=use_cache, output=output, estimate=estimate)
    return prepare_file(path, fmt=fmt, use_cache=use_cache, output=output, estimate=estimate)


def prepare_file(
    path: str,
    *,
    fmt: str | None = None,
    use_cache: bool = True,
    output: str | None = None,
    estimate: bool = True,
    search_index: bool = True,
) -> Opening:
    """prepare() for a file (or a pipe). `output`: import into this store, its steps' text indexed for
    search unless `search_index` is False (a store only staged on its way elsewhere)."""
    if is_pipe(path):
        copy = _copy_pipe(path)
        try:
            opening = prepare_file(
                copy, fmt=fmt, use_cache=False, output=output, estimate=estimate, search_index=search_index
            )
        except UnusableInput as exc:
            raise UnusableInput(path, exc.problem) from None
        assert isinstance(opening, Opening)
        opening.source = path
        return opening
    module, head = detect(path, fmt, remember=use_cache)
    if output is None and sources.in_place(module, head):
        if estimate or module.NAME != "tracetui-sqlite" or not _holds_estimates(path):
            memo = memo_for(path, module.NAME) if use_cache else None
            return Opening(
                path, module, db_path=path, ready=True, in_place=True, head=head, estimate=estimate, memo=memo
            )
    if output is not None:
        return Opening(
            path,
            module,
            db_path=output,
            ready=False,
            in_place=False,
            head=head,
            estimate=estimate,
            search_index=search_index,
        )
    notice = None
    if use_cache:
        try:
            db_path = cache_path(
                path, module.NAME, usable_cache_dir(), sources.companions(module, head), estimate=estimate
            )
        except OSError as exc:
            notice = f"the cache {cache_dir()} cannot be used ({exc.strerror or exc}); the file is read into a temporary store"
        else:
            ready = store_complete(db_path)
            if ready:
                _made_private(db_path)
            return Opening(
                path, module, db_path=db_path, ready=ready, in_place=False, cached=True, head=head, estimate=estimate
            )
    opening = Opening(
        path, module, db_path=temporary_store(), ready=False, in_place=False, head=head, estimate=estimate
    )
    opening.notice = notice
    return opening


def detect(path: str, fmt: str | None = None, *, remember: bool = True) -> tuple[sources.Source, sources.Head]:
    """sources.detect, asking only the format this content was detected as before when that is known
    (memo.Detected: one format module imported instead of every one); `remember` False: no memo."""
    memo = memo_detected(path) if fmt is None and remember else None
    known = memo.format() if memo is not None else None
    if known is not None:
        head = sources.read_head(path)
        try:
            module = sources.by_name(known)
            if module.sniff(head):  # it still claims the file (the memo only spares asking the others)
                return module, head
        except Exception:  # a format no longer there, or a sniff that raises now: detect afresh
            pass
    module, head = sources.detect(path, fmt)
    if memo is not None:
        memo.put(module.NAME)
    return module, head


def _store_trouble(exc: OSError | sqlite3.OperationalError) -> bool:
    """Is this about the place the store is written (full, read-only, not ours), not the input?"""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)


def temporary_store() -> str:
    """A store file in a private (0700) temporary directory, removed when tracetui exits."""
    import atexit
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="tracetui-")
    atexit.register(shutil.rmtree, tmp, ignore_errors=True)
    return os.path.join(tmp, "store.db")


def open_store(
    path: str,
    *,
    fmt: str | None = None,
    use_cache: bool = True,
    progress: Progress | None = None,
    estimate: bool = True,
) -> Store:
    """Open any supported trace file as a fully loaded Store (importing it first if needed)."""
    opening = prepare_file(path, fmt=fmt, use_cache=use_cache, estimate=estimate)
    opening.run_import(progress)
    return opening.connect()


def is_pipe(path: str) -> bool:
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except OSError:
        return False


def _copy_pipe(path: str) -> str:
    """Everything a pipe gives, in a file in a private temporary directory (removed at exit)."""
    import atexit
    import shutil
    import tempfile

    directory = tempfile.mkdtemp(prefix="tracetui-pipe-")  # 0700: the data stays the user's
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    copy = os.path.join(directory, "input")
    try:
        with open(path, "rb") as pipe, open(copy, "wb") as out:
            shutil.copyfileobj(pipe, out, 1 << 20)
    except OSError as exc:
        raise UnusableInput(path, f"cannot read: {exc.strerror or exc}") from None
    if os.path.getsize(copy) == 0:
        raise UnusableInput(path, "a pipe that gave no data")
    return copy
