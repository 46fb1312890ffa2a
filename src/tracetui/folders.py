"""Opening a folder (`tracetui open DIR`): every trace file under it, as one run list.

A folder's runs live in one store in the cache (`folder-<key>.db`, keyed on the folder's path, the
--format asked for, the schema version and the price data), with a `files` table that says what
each file under the folder is to it (store/files.py): a file whose runs are in the store, a
companion read as part of another file's runs (a session's subagent files), a file no format
claims, or one that cannot be read. Opening the folder again lists it (stat only: no file is read)
and compares with that table; only new and changed files are read, and a file that only grew is
read from where the last read ended where its format allows (loading.Refresh). An unchanged
folder opens without reading or writing anything.

Each run of a folder's store has the file it was read from, relative to the folder, as its
`source_file`. Run ids stay those of the files: an id two files share is kept apart as `id~2` in
the file read second, as within one file, and keeps that id while its file is unchanged.

Hidden files and folders (names starting with a dot) are not read, nor SQLite's side files
(`-wal`, `-shm`, `-journal`); symlinks are followed, each file and folder read once.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import sqlite3
import stat
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import quote

from . import jsonsafe, sources
from .errors import UnusableInput
from .filestate import Signature
from .loading import FOLDER
from .model import Problem
from .store import SCHEMA_VERSION, Store, create_schema
from .store import files as store_files
from .store.files import COMPANION, RUNS, FileRecord

if TYPE_CHECKING:
    from .tailing import Tails

FORMAT = FOLDER  # (named in loading.py: the viewer starts without importing this module)
SIDE_FILES = ("-wal", "-shm", "-journal", ".lock")
FOLDER_VERSION = 1  # raise when the folder store's own tables change


@dataclass
class Listing:
    """The files under a folder, by path relative to it, with what stat said; and what could not be listed."""

    root: str
    files: dict[str, os.stat_result] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # "path: problem", for folders and links that failed

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def sig(self, rel: str) -> Signature:
        return Signature.of(self.files[rel])


def _is_side_file(name: str) -> bool:
    return name.endswith(SIDE_FILES)


def walk(root: str, skip: tuple[str, ...] = ()) -> Listing:
    """Every regular, non-empty file under root (symlinks followed, each file and folder once).

    skip: the folder's own store and the folder it is in (the cache, or `import -o` under root).
    """
    listing = Listing(root)
    try:
        top = os.stat(root)
    except OSError as exc:
        raise UnusableInput(root, f"cannot read the folder: {exc.strerror or exc}") from None
    seen_dirs = {(top.st_dev, top.st_ino)}
    seen_files: set[tuple[int, int]] = set()
    skipped = {os.path.abspath(path) for path in skip}
    for path in skip:
        try:
            there = os.stat(path)
        except OSError:
            continue
        (seen_dirs if stat.S_ISDIR(there.st_mode) else seen_files).add((there.st_dev, there.st_ino))
    stack: list[tuple[str, str, tuple[tuple[int, int], ...]]] = [(root, "", ((top.st_dev, top.st_ino),))]
    while stack:
        folder, rel, ancestors = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            listing.problems.append(f"{rel or '.'}: cannot list this folder ({exc.strerror or exc}); skipped")
            continue
        for entry in entries:
            name = entry.name
            if name.startswith(".") or _is_side_file(name):
                continue
            child = f"{rel}/{name}" if rel else name
            if entry.path in skipped:
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                listing.problems.append(f"{child}: {_link_problem(entry.path, exc)}; skipped")
                continue
            ident = (st.st_dev, st.st_ino)
            if stat.S_ISDIR(st.st_mode):
                if ident in ancestors:
                    listing.problems.append(f"{child}: a symlink loop (it leads back to a folder above it); skipped")
                elif ident not in seen_dirs:
                    seen_dirs.add(ident)
                    stack.append((entry.path, child, (*ancestors, ident)))
            elif stat.S_ISREG(st.st_mode) and st.st_size > 0 and ident not in seen_files:
                seen_files.add(ident)
                listing.files[child] = st
    return listing


def relisted(listing: Listing, changed: Collection[str], skip: tuple[str, ...] = ()) -> Listing | None:
    """The listing brought up to date by a stat of only the paths a file watcher said changed (absolute
    paths under the root); None when one of them is a folder, or was one (a folder made, moved or
    removed, or a path outside the root): then the whole folder must be walked again."""
    files = dict(listing.files)
    skipped = [os.path.abspath(path) for path in skip]
    now: dict[str, os.stat_result | None] = {}
    for path in changed:
        path = os.path.abspath(path)
        if any(path == s or path.startswith(s + os.sep) for s in skipped):
            continue
        rel = os.path.relpath(path, listing.root)
        if rel == os.curdir:
            continue  # the folder itself (its mtime): what changed in it comes as events of its own
        if rel.startswith(os.pardir):
            return None  # reached through a symlink
        parts = rel.split(os.sep)
        if any(part.startswith(".") for part in parts) or _is_side_file(parts[-1]):
            continue
        try:
            st: os.stat_result | None = os.stat(path)
        except OSError:
            st = None
            if rel not in files and any(f.startswith(rel + os.sep) for f in files):
                return None  # a folder that went
        if st is not None and stat.S_ISDIR(st.st_mode):
            return None
        now[rel] = st if st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0 else None
        files.pop(rel, None)
    # A name of a file listed under another name already is left out, as walk() leaves it out.
    seen = {(st.st_dev, st.st_ino) for st in files.values()}
    for rel, st in sorted(now.items()):
        if st is not None and (st.st_dev, st.st_ino) not in seen:
            files[rel] = st
            seen.add((st.st_dev, st.st_ino))
    return Listing(listing.root, files, list(listing.problems))


def _link_problem(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop (the links point at each other and never reach a file)"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"a broken symlink (it points to {jsonsafe.quoted(os.readlink(path))}, which does not exist)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return f"cannot read: {exc.strerror or exc}"


# -- what to do -----------------------------------------------------------------------------------


@dataclass
class Plan:
    """What bringing a folder's store up to date takes, found by comparing a listing with the files table."""

    listing: Listing
    known: dict[str, FileRecord]
    to_read: list[str] = field(default_factory=list)  # new or changed files: detect them, read those with runs
    to_reread: list[str] = field(default_factory=list)  # files with runs whose companions changed
    gone: list[str] = field(default_factory=list)  # files in the store that are no longer there
    folder_problems_changed: bool = False

    @property
    def empty(self) -> bool:
        return not (self.to_read or self.to_reread or self.gone or self.folder_problems_changed)

    def size(self) -> int:
        """Bytes of the files to read."""
        return sum(self.listing.files[rel].st_size for rel in (*self.to_read, *self.to_reread))


def plan(listing: Listing, known: dict[str, FileRecord], folder_problems: list[str]) -> Plan:
    out = Plan(listing, known, folder_problems_changed=folder_problems != listing.problems)
    for rel, st in listing.files.items():
        record = known.get(rel)
        if record is None:
            out.to_read.append(rel)
        elif record.sig != Signature.of(st) and record.role != COMPANION:
            out.to_read.append(rel)  # a changed companion is read again with the file that owns it
    out.gone = [rel for rel in known if rel not in listing.files]
    for rel, record in known.items():
        if record.role != RUNS or rel in out.to_read or rel not in listing.files:
            continue
        if any(current_sig(listing, path) != sig for path, sig in record.companions.items()):
            out.to_reread.append(rel)
    return out


def current_sig(listing: Listing, path: str) -> Signature | None:
    """A companion's signature now: from the listing when it is under the folder, else from stat."""
    rel = os.path.relpath(path, listing.root)
    st = listing.files.get(rel)
    return Signature.of(st) if st is not None else Signature.stat(path)


# -- the folder's store ---------------------------------------------------------------------------


def store_path(root: str, fmt: str | None, estimate: bool, directory: str) -> str:
    from . import pricing

    key = hashlib.sha256(
        f"{root}\0{fmt or ''}\0{SCHEMA_VERSION}\0{FOLDER_VERSION}\0{pricing.cache_tag(estimate)}".encode(
            "utf-8", "surrogateescape"
        )
    )
    return os.path.join(directory, f"folder-{key.hexdigest()[:32]}.db")


def connect_writer(db_path: str) -> sqlite3.Connection:
    """A connection that writes the folder's store (autocommit: FileWriter makes its own transactions),
    taking turns with the worker processes writing it too (store_files.transaction); close it with
    store_files.close()."""
    conn = store_files.connect(db_path, turns=db_path + ".write")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")  # a cache: made again if a crash of the machine breaks it
    return conn


PAGE_SIZE = 16384  # steps carry payloads of kilobytes: bigger pages write them with fewer overflow pages


def create_store(db_path: str) -> None:
    """A new, empty folder store. Its steps get their secondary indexes when the first pass has read
    the files (ensure_indexes): building them once is cheaper than keeping them up while most of the
    rows arrive; meanwhile a run's steps are found through the table's primary key (run_id, id)."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA page_size={PAGE_SIZE}")
        conn.execute("PRAGMA journal_mode=WAL")
        create_schema(conn)
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        store_files.create(conn, folder=True)
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'steps' AND sql IS NOT NULL"
            " AND name != 'idx_steps_unpriced'"
        ).fetchall():
            conn.execute(f'DROP INDEX "{name}"')
    finally:
        conn.close()


def ensure_indexes(conn: sqlite3.Connection) -> None:
    """Every index of the store (those create_store left for later are built now, once)."""
    with store_files.transaction(conn):
        create_schema(conn)


def connect_reader(db_path: str) -> sqlite3.Connection:
    """Read-only, never `immutable`: the store may be written while it is read (the import, a refresh)."""
    return sqlite3.connect(f"file:{quote(os.path.abspath(db_path))}?mode=ro", uri=True, check_same_thread=False)


def folder_problems(conn: sqlite3.Connection) -> list[str]:
    row = conn.execute("SELECT value FROM meta WHERE key = 'folder_problems'").fetchone()
    if row is None:
        return []
    import orjson

    return list(orjson.loads(row[0]))


@contextmanager
def locked(db_path: str) -> Iterator[None]:
    """One process at a time brings a folder's store up to date (another waits, then finds little to do)."""
    fd = os.open(db_path + ".lock", os.O_CREAT | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def is_folder(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except OSError:
        return False


@dataclass
class FolderOpening:
    """A folder on its way to being one Store: loading.Opening's interface, for every file under it."""

    path: str  # as the user named it
    root: str  # its absolute path
    db_path: str
    ready: bool
    cached: bool
    fmt: str | None = None  # only files of this format
    estimate: bool = True
    notice: str | None = None
    problems: list[Problem] = field(default_factory=list)
    files: int = 0  # files listed under the folder
    output: bool = False  # db_path is an `import -o` store
    source: str | None = None
    in_place: bool = False
    head: sources.Head | None = None
    tails: Tails | None = None  # set while followed: grown files are read on from where they were (tailing.py)
    _listing: Listing | None = field(default=None, repr=False)  # the last refresh's, updated by watcher events

    format = FORMAT
    paged = False  # a folder's store is SQLite: the run list reads every id, as for a file

    @property
    def label(self) -> str:
        return self.path

    @property
    def uses_workers(self) -> bool:
        from . import folder_import

        return not self.ready and folder_import.worth_workers(self._pending_bytes)

    _pending_bytes: int = 0

    def connect(self) -> Store:
        return Store(
            connect_reader(self.db_path),
            label=self.label,
            source_format=FORMAT,
            path=self.db_path,
            estimated=self.estimate,
        )

    def index_for_search(self, progress=None, cancelled=None) -> bool:
        """A folder's store is not indexed for search (store/search.py): it is WAL, and readers that
        opened it could miss the index's pages; a search of it scans the steps instead."""
        return False

    def run_import(self, progress=None) -> int:
        """Read what is new or changed under the folder into its store; returns the runs added."""
        from .loading import Refresh

        if self.ready:
            return 0
        refresh: Refresh = self.refresh(progress)
        conn = connect_reader(self.db_path)
        try:
            _must_hold_traces(conn, self.label, self.files)
        finally:
            conn.close()
        return len(refresh.added)

    def refresh(self, progress=None, *, keep_gone: bool = False, changed: Collection[str] | None = None):
        """Bring the store up to date with the folder now; what changed (loading.Refresh).

        keep_gone: a deleted file's runs stay (following the folder: what was read stays on screen);
        without it they leave, as when the folder is opened again. changed: the paths a file watcher
        said changed since the last refresh (follow.py): only those are stat'ed, and the folder is
        walked again only when one of them is a folder; None walks it (stat only, no file is read)."""
        from . import folder_import
        from .loading import Refresh

        if changed is not None and not changed and self._listing is not None:
            return Refresh()  # the watcher heard nothing
        with locked(self.db_path):
            conn = connect_writer(self.db_path)
            try:
                skip = _own(self.db_path, self.output)
                listing = None
                if changed is not None and self._listing is not None:
                    listing = relisted(self._listing, changed, skip)
                if listing is None:
                    listing = walk(self.root, skip=skip)
                self._listing = listing
                self.files = len(listing.files)
                todo = plan(listing, store_files.load(conn), folder_problems(conn))
                if self.tails is not None:
                    for rel in todo.gone:
                        self.tails.drop(listing.path(rel))  # what was kept to read it on with
                refresh = folder_import.FolderImport(conn, self, todo, keep_gone=keep_gone).run(progress)
            finally:
                store_files.close(conn)
        self.ready = True
        return refresh


def prepare_folder(
    path: str, *, fmt: str | None = None, use_cache: bool = True, output: str | None = None, estimate: bool = True
) -> FolderOpening:
    """List the folder and compare it with its store: `ready` when nothing under it changed."""
    from .loading import cache_dir, temporary_store, usable_cache_dir

    root = os.path.abspath(path)
    notice = None
    cached = False
    if output is not None:
        db_path = output
    elif use_cache:
        try:
            db_path, cached = store_path(root, fmt, estimate, usable_cache_dir()), True
        except OSError as exc:
            notice = f"the cache {cache_dir()} cannot be used ({exc.strerror or exc}); the folder is read into a temporary store"
            db_path = temporary_store()
    else:
        db_path = temporary_store()
    listing = walk(root, skip=_own(db_path, output is not None))
    if not listing.files:
        more = f" ({listing.problems[0]})" if listing.problems else ""
        raise UnusableInput(path, f"an empty folder: no files to read{more}")
    if cached:
        os.makedirs(os.path.dirname(db_path), mode=0o700, exist_ok=True)
    todo = _current_plan(db_path, listing)
    opening = FolderOpening(
        path, root, db_path, ready=todo is not None and todo.empty, cached=cached, fmt=fmt, estimate=estimate
    )
    opening.notice = notice
    opening.output = output is not None
    opening.files = len(listing.files)
    opening._pending_bytes = todo.size() if todo is not None else sum(st.st_size for st in listing.files.values())
    if todo is None:
        create_store(db_path)
    elif opening.ready:
        conn = connect_reader(db_path)
        try:
            _must_hold_traces(conn, path, len(listing.files))
        finally:
            conn.close()
    return opening


def _own(db_path: str, output: bool = False) -> tuple[str, ...]:
    """What a walk must not read: the folder's own store, the cache, and the temporary folder a store
    may be kept in (`import -o` writes where the user said: there, only the store itself)."""
    from .loading import cache_dir

    db_path = os.path.abspath(db_path)
    return (db_path, cache_dir()) if output else (db_path, os.path.dirname(db_path), cache_dir())


def _must_hold_traces(conn: sqlite3.Connection, label: str, files: int) -> None:
    """Raise UnusableInput when no file under the folder is in a format tracetui reads."""
    if conn.execute("SELECT 1 FROM files WHERE role = ? LIMIT 1", (RUNS,)).fetchone() is None:
        noun = "file" if files == 1 else "files"
        raise UnusableInput(
            label, f"no trace files in this folder ({files:,} {noun}, none in a format `tracetui formats` lists)"
        )


def _current_plan(db_path: str, listing: Listing) -> Plan | None:
    """What the store lacks, or None when there is no usable store yet (a broken one is removed)."""
    if not os.path.exists(db_path):
        return None
    try:
        conn = connect_reader(db_path)
        try:
            return plan(listing, store_files.load(conn), folder_problems(conn))
        finally:
            conn.close()
    except sqlite3.Error:
        from .loading import _remove_store

        _remove_store(db_path)  # a cache that cannot be read is made again
        return None
