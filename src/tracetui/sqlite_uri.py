"""Read-only SQLite: every SQLite file tracetui reads is opened through ro_uri(), and what goes wrong
with one is worded by problem().

Opened read-only, SQLite still writes beside a WAL-mode database: `mode=ro` creates the `-wal` and
`-shm` files when they are missing (and leaves them there), because a reader of a WAL database
takes its locks in the `-shm` index. `immutable=1` opens the file with no locks and no side files,
which is only safe while nothing writes it. For a WAL database we can tell:

* SQLite creates the `-wal` file when the first connection opens a WAL database and removes it
  when the last one closes cleanly. No `-wal` (and no `-shm`) beside it means no connection has it
  open now, and every committed transaction is in the main file. It is opened `immutable=1`:
  nothing is created, nothing waits for a lock.
* A `-wal` beside it means a writer has it open (or crashed, or keeps its WAL on purpose). It is
  opened `mode=ro`, which reads that writer's latest commits. SQLite needs the `-shm` then and
  creates it when it is missing: the one case where a file appears beside the database.

What immutable cannot guard against: a writer that opens the database after the check, while our
connection is reading. Each connection decides when it opens (the viewer opens one per worker,
so new reads switch to `mode=ro` once a writer has appeared); a connection opened before may read
pages mid-checkpoint and report an error. It never writes: the user's file is never changed.

A database in rollback-journal mode is always opened `mode=ro`, which creates nothing and waits
for a writer's lock like any reader.
"""

from __future__ import annotations

import os
import sqlite3
from urllib.parse import quote

SQLITE_MAGIC = b"SQLite format 3\x00"
WAL = 2  # the file format version bytes (offsets 18, 19 of the header) of a WAL-mode database


def ro_uri(path: str) -> str:
    """The read-only URI for a SQLite file; its bytes are never changed through it."""
    path = os.path.abspath(path)
    uri = f"file:{quote(path)}?mode=ro"
    if _wal_without_connections(path):
        uri += "&immutable=1"
    return uri


def _wal_without_connections(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            header = f.read(20)
    except OSError:
        return False
    if len(header) < 20 or not header.startswith(SQLITE_MAGIC) or header[18] != WAL:
        return False
    return not os.path.lexists(path + "-wal") and not os.path.lexists(path + "-shm")


def locked(exc: sqlite3.Error) -> bool:
    """Did the error come from another program's lock (not from the file's contents)?"""
    return getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED") or "database is locked" in str(exc)


def problem(exc: sqlite3.Error) -> str:
    """What is wrong with a SQLite file, in words (for "PATH: problem"): a lock is not corruption."""
    if locked(exc):
        return "locked (another program holds a write lock); try again when it is done"
    return f"corrupt or unreadable SQLite database ({exc})"
