"""A grown file's Tail kept in a folder's store, so that another process reads only what was appended.

Follow (tailing.py) reads a growing JSON Lines file on from where its last read ended, with the
format's reader as it was there: a Tail (the offset of the last whole line, the line count, a
session's conversation with its open tool calls and streamed message ids, a log's staged records,
the subagent files read with it and where each ended). A folder's store keeps the Tail of each file
likely to grow (`worth_keeping`) in its `tail_state` table, so that the folder opened again by
another process reads a session that only grew from where the last read ended, and writes its run
as a whole read would (tests/test_folder_tails.py compares the two).

A kept Tail is used only when all of these hold; otherwise the file is read whole, as before:

* it was made by the same code (`tag`: the Python version and tracetui's sources): a reader's
  objects pickled by another build are never loaded;
* the store holds the very read of the file the Tail made (the files row has the same signature
  and sampled hashes): what the Tail read is what the store's runs were built from;
* the bytes the Tail read are still there: the file (and each subagent file read with it) is the
  same inode, at least as long, and the SHA-256 of its first `offset` bytes is the one
  recorded. A rewrite, even one that keeps the size, the inode and the first and last KB, is seen.

Hashing the bytes already read costs about 1 ms a MB (they are not parsed: that is ~40 ms a MB).
What reading on saves: the parse of what was read before, and, for a session, the writes of its
steps that did not change; it still unpickles the reader and builds the session's run again
(docs/benchmarks.md, "A grown file read on, between processes").
Nothing is written beside the user's files: the state lives in the folder's store in tracetui's
cache; an `import -o` store keeps none (it is the user's file).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sqlite3
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from . import file_import, sources
from .file_import import FileResult
from .filestate import Read
from .model import Problem
from .sources.records import parse_line
from .sources.resume import Companions, LineFile
from .store import files as store_files
from .store.files import FileRecord
from .store.schema import STEP_COLUMNS
from .tailing import Tail, Tails

TABLE = "tail_state"
# A file written this lately is being written: its Tail is kept from its first read. Others get one
# when they are seen to grow: keeping one costs about what reading the file again does (~30 ms a MB:
# the Tail's reader keeps every step), which a folder's first import would pay for every session.
ACTIVE_SECONDS = 15 * 60
MAX_BYTES = 64 << 20  # a bigger file is read whole each time it grows (a Tail's first read holds the file in memory)
_STEP_FIELDS = ", ".join(STEP_COLUMNS)  # a step row as store/schema.step_row makes it
_STEP_ID = list(STEP_COLUMNS).index("id")
_COLUMNS = (
    "path TEXT PRIMARY KEY, tag TEXT NOT NULL, size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER,"
    " ino INTEGER, dev INTEGER, prefixes TEXT NOT NULL, fed INTEGER NOT NULL, state BLOB NOT NULL"
)


@dataclass(frozen=True)
class Prefix:
    """The first `size` bytes of a file, as a Tail read them: which file, and their hash."""

    path: str
    ino: int
    dev: int
    size: int
    digest: str

    def still_there(self, hashers: Hashers) -> bool:
        """Whether the file still begins with these bytes (grown or not); a file that is gone is not
        asked (the reader finds it gone, as a whole read would). The hash goes on in `hashers`."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if (st.st_ino, st.st_dev) != (self.ino, self.dev) or st.st_size < self.size:
                    return False
                h = hashlib.sha256()
                if _feed(h, f, self.size) != self.size or h.hexdigest() != self.digest:
                    return False
        except FileNotFoundError:
            return True
        except OSError:
            return False
        hashers[self.path] = (self.ino, self.dev, self.size, h)
        return True


Hashers = dict[str, tuple[int, int, int, "hashlib._Hash"]]
"""path -> (inode, device, bytes hashed, the hash of them so far): checked at load, gone on with at save."""


def _feed(h, f, size: int) -> int:
    """Hash the next `size` bytes of f into h; the bytes there were."""
    left = size
    while left > 0:
        block = f.read(min(1 << 20, left))
        if not block:
            break
        h.update(block)
        left -= len(block)
    return size - left


def _prefix(path: str, size: int, ident: tuple[int, int] | None, hashers: Hashers) -> Prefix:
    """The Prefix of the first `size` bytes of the file, hashing only those after what `hashers` holds
    of it. Raises OSError. ident: the (inode, device) read (None: the file's now)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        ino, dev = ident if ident is not None else (st.st_ino, st.st_dev)
        kept = hashers.get(path)
        if kept is not None and kept[:2] == (ino, dev) and kept[2] <= size:
            h = kept[3].copy()
            f.seek(kept[2])
            _feed(h, f, size - kept[2])
        else:
            h = hashlib.sha256()
            _feed(h, f, size)
        return Prefix(path, ino, dev, size, h.hexdigest())


@functools.cache
def tag() -> str:
    """The code a kept Tail may be loaded by: the Python version and every source of tracetui's core
    (the classes pickled are the formats' readers, the model, tailing)."""
    h = hashlib.blake2b(sys.version.encode(), digest_size=16)
    package = os.path.dirname(os.path.abspath(__file__))
    for folder, dirs, names in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d not in ("tui", "__pycache__"))
        for name in sorted(n for n in names if n.endswith(".py")):
            path = os.path.join(folder, name)
            h.update(os.path.relpath(path, package).encode())
            with open(path, "rb") as f:
                h.update(f.read())
    return h.hexdigest()


def _module_tag(module: sources.Source) -> str:
    """tag(), and the format's own source when it is a plug-in outside tracetui."""
    where = getattr(module, "__file__", None)
    if where is None or os.path.abspath(where).startswith(os.path.dirname(os.path.abspath(__file__)) + os.sep):
        return tag()
    with open(where, "rb") as f:
        return hashlib.blake2b(tag().encode() + f.read(), digest_size=16).hexdigest()


def worth_keeping(st: os.stat_result, known: bool) -> bool:
    """Whether to keep a file's Tail when it is read: it grew or changed since a read before (known), or
    it is being written; and it is not too big to hold."""
    if st.st_size > MAX_BYTES:
        return False
    return known or st.st_mtime >= time.time() - ACTIVE_SECONDS


# -- the table ------------------------------------------------------------------------------------


def create(conn: sqlite3.Connection) -> None:
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} ({_COLUMNS})")


def _companion_files(tail: Tail) -> list[LineFile]:
    return [f for value in vars(tail.resumed).values() if isinstance(value, Companions) for f in value.line_files()]


def load(
    conn: sqlite3.Connection, key: str, path: str, module: sources.Source, previous: FileRecord | None, hashers: Hashers
) -> Tail | None:
    """The Tail kept for the file `key` when it may be read on (see the module's rules); else None.
    The hashes of the bytes it read go on in `hashers` (save() then hashes only what was appended)."""
    if previous is None or previous.read is None or previous.format != module.NAME:
        return None
    try:
        row = conn.execute(f"SELECT tag, prefixes, state FROM {TABLE} WHERE path = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None  # a store made before tails were kept
    if row is None or row[0] != _module_tag(module):
        return None
    prefixes = [Prefix(*p) for p in orjson.loads(row[1])]
    if not prefixes or prefixes[0].path != os.path.abspath(path):
        return None
    if not all(p.still_there(hashers) for p in prefixes):
        return None
    try:
        tail = pickle.loads(row[2])
    except Exception:  # a state that cannot be loaded is only a lost shortcut
        return None
    if not isinstance(tail, Tail) or tail.read != previous.read or tail.format != module.NAME:
        if isinstance(tail, Tail):
            tail.close()
        return None
    tail.step_rows = _StoredRows(conn, key)
    return tail


class _StoredRows(dict):
    """Tail.step_rows of a Tail from another process: the hash of each step row of a run of the file,
    made from the store's rows the first time the run is asked for (FileWriter then writes only the
    rows that differ, as for a followed file). A row read back unlike the one written only costs its
    write again."""

    def __init__(self, conn: sqlite3.Connection, key: str) -> None:
        super().__init__()
        self.conn = conn
        self.unread = {r[0] for r in conn.execute("SELECT id FROM runs WHERE source_file = ?", (key,))}

    def _read(self, run_id: str) -> None:
        if run_id in self.unread:
            self.unread.discard(run_id)
            rows = self.conn.execute(f"SELECT {_STEP_FIELDS} FROM steps WHERE run_id = ?", (run_id,))
            dict.__setitem__(self, run_id, {row[_STEP_ID]: store_files.row_hash(row) for row in rows})

    def __contains__(self, run_id: object) -> bool:
        if isinstance(run_id, str):
            self._read(run_id)
        return dict.__contains__(self, run_id)

    def get(self, run_id, default=None):
        self._read(run_id)
        return dict.get(self, run_id, default)

    def __getitem__(self, run_id):
        self._read(run_id)
        return dict.__getitem__(self, run_id)

    def __setitem__(self, run_id, value) -> None:
        self.unread.discard(run_id)
        dict.__setitem__(self, run_id, value)

    def __delitem__(self, run_id) -> None:
        self._read(run_id)
        dict.__delitem__(self, run_id)


def _prefixes(tail: Tail, hashers: Hashers) -> list[Prefix]:
    """Raises OSError."""
    assert tail.read is not None
    out = [_prefix(tail.path, tail.offset, (tail.read.sig.ino, tail.read.sig.dev), hashers)]
    for line_file in _companion_files(tail):
        try:
            out.append(_prefix(line_file.path, line_file.offset, getattr(line_file, "_ident", None), hashers))
        except FileNotFoundError:
            continue
    return out


def _fed(tail: Tail | None) -> int:
    """Bytes of whole lines a Tail has handed its reader, its own and its companions'."""
    if tail is None:
        return 0
    return tail.offset + sum(f.offset for f in _companion_files(tail))


def save(conn: sqlite3.Connection, key: str, tail: Tail, fed: int, hashers: Hashers | None = None) -> None:
    """Keep the Tail (in a transaction of its own, or the one open). Raises OSError, pickle errors.
    Not compressed: zlib would take about as long as reading the file whole again."""
    read: Read | None = tail.read
    assert read is not None
    prefixes = orjson.dumps([list(vars(p).values()) for p in _prefixes(tail, hashers or {})]).decode()
    state = pickle.dumps(tail, protocol=pickle.HIGHEST_PROTOCOL)
    module = sources.by_name(tail.format)
    with store_files.transaction(conn):
        create(conn)
        conn.execute(
            f"INSERT OR REPLACE INTO {TABLE} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, _module_tag(module), *read.sig.fields()[:5], prefixes, fed, state),
        )


def forget_stale(conn: sqlite3.Connection) -> None:
    """Remove the Tails whose file the store no longer holds as they read it (read again whole, gone,
    followed on in memory)."""
    try:
        with store_files.transaction(conn):
            conn.execute(
                f"DELETE FROM {TABLE} WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.path = {TABLE}.path"
                f" AND f.role = 'runs' AND f.size = {TABLE}.size AND f.mtime_ns = {TABLE}.mtime_ns"
                f" AND f.ctime_ns = {TABLE}.ctime_ns AND f.ino = {TABLE}.ino AND f.dev = {TABLE}.dev)"
            )
    except sqlite3.OperationalError:
        pass  # no table yet


# -- reading a folder's file with its kept Tail ---------------------------------------------------


def prepare(
    conn: sqlite3.Connection,
    path: str,
    key: str,
    fmt: str,
    pricer,
    *,
    previous: FileRecord | None,
    keep: bool,
) -> Callable[[], FileResult]:
    """file_import.prepare_file for a file of a folder, read on from its kept Tail when it only grew;
    keep: keep its Tail (worth_keeping), else the file is read as file_import reads it.

    A last line without its newline waits in the Tail (it is read once whole), and the problem a whole
    read reports for it is reported all the same. When it is a whole JSON object only lacking its
    newline, a whole read takes it: so is the file then read (whole, its Tail not kept)."""
    whole = functools.partial(file_import.prepare_file, conn, path, key, fmt, pricer, previous=previous)
    if not keep:
        return whole()
    module = sources.by_name(fmt)
    hashers: Hashers = {}
    kept = load(conn, key, path, module, previous, hashers)
    if kept is not None and not kept.only_grew(module):
        kept.close()
        kept = None  # touched, or its unfinished last line rewritten: read from the start
    waiting: list[Problem] = []
    try:
        pending = _last_line(path, kept.offset if kept is not None else 0)
    except OSError:
        pending = None
    if pending is not None:
        if kept is None or parse_line(kept.lines + 1, pending, waiting.append, complete=False) is not None:
            if kept is not None:
                kept.close()
            return whole()  # read as a whole read reads it; its Tail is forgotten (forget_stale)
        kept.line_problems.extend(waiting)
    tails = Tails()
    if kept is not None:
        tails.keep(kept)
    before = _fed(kept)
    try:
        write = whole(tails=tails)
    except BaseException:
        tails.close()  # a kept log's staging file goes
        raise
    tail = tails.get(path)
    for problem in waiting:  # the line after the whole lines read (more of them were read just now)
        problem.line = tail.lines + 1 if tail is not None else problem.line

    def write_and_keep() -> FileResult:
        try:
            result = write()
            tail = tails.get(path)
            if tail is not None and tail.written and result.problem is None:
                if waiting:  # said for this read only: the line is read once it is whole
                    tail.line_problems[:] = [p for p in tail.line_problems if all(p is not w for w in waiting)]
                fed = _fed(tail) - (before if tail is kept else 0)
                try:
                    save(conn, key, tail, fed, hashers if tail is kept else None)
                except (OSError, pickle.PicklingError, TypeError, AttributeError):
                    pass  # not kept: the next read of the file is whole
            return result
        finally:
            tails.close()

    return write_and_keep


def _last_line(path: str, offset: int) -> bytes | None:
    """The bytes after the file's last newline (from `offset` on), None when it ends with one. Raises OSError."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= offset:
            return None
        f.seek(max(offset, size - 1))
        if f.read(1) == b"\n":
            return None
        start = offset
        back = size
        while back > offset:  # the last newline, looked for from the end a block at a time
            step = min(1 << 16, back - offset)
            f.seek(back - step)
            block = f.read(step)
            at = block.rfind(b"\n")
            if at >= 0:
                start = back - step + at + 1
                break
            back -= step
        f.seek(start)
        return f.read()


def last_read(conn: sqlite3.Connection, key: str) -> tuple[int, int] | None:
    """(bytes the last read of the file handed its reader, where it ended) when its Tail is kept."""
    try:
        row = conn.execute(f"SELECT fed, prefixes FROM {TABLE} WHERE path = ?", (key,)).fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None:
        return None
    return row[0], orjson.loads(row[1])[0][3]
