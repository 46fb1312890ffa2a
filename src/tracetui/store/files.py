"""The files a store's runs were read from, and writing one file's runs into a store that holds others.

A store made from files (a folder's store, or one file's import cache once it is refreshed) has a
`files` table: one row per file, saying what it is to the store (`role`), its format, how it was
when read (filestate.Read), where an append to it can be read from, the companion files its runs
were read from too, and how many runs it gave. In a folder's store each run's `source_file` is the
file's key (its path within the folder), so a file's runs, steps and problems can be replaced
alone; in one file's store the file's runs are all the runs.

FileWriter writes one file: the runs are read before the write lock is taken, and what the store
held of the file is replaced in the same transaction that adds the new runs, so readers never see
half of a file, and several processes can write different files of one store in turn.
"""

from __future__ import annotations

import fcntl
import operator
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice

import orjson

from .. import jsonsafe
from ..filestate import Read, Signature
from ..model import FLAG_DUPLICATE_ID, Problem, Run
from .schema import RUN_COLUMNS, STEP_COLUMNS, insert_sql, run_row, step_row, to_json
from .writer import insert_storable

# What a file is to the store.
RUNS = "runs"  # its runs are in the store
COMPANION = "companion"  # read as part of another file's runs (a session's subagent files)
OTHER = "other"  # no format claims it; `problem` says what it is
UNREADABLE = "unreadable"  # it could not be read; `problem` says why

_COLUMNS = (
    "path TEXT PRIMARY KEY, role TEXT NOT NULL, format TEXT, problem TEXT,"
    " size INTEGER, mtime_ns INTEGER, ctime_ns INTEGER, ino INTEGER, dev INTEGER, head TEXT, tail TEXT,"
    " restart INTEGER, restart_line INTEGER, companions TEXT, runs INTEGER"
)
_FIELDS = "path, role, format, problem, size, mtime_ns, ctime_ns, ino, dev, head, tail, restart, restart_line, companions, runs"
# Run columns that change when a run grows or is rewritten: what Diff compares.
_FINGERPRINT = (
    "step_count",
    "failed_steps",
    "status",
    "ended_at",
    "total_tokens_in",
    "total_tokens_out",
    "total_cost_usd",
    "error",
)
_FINGERPRINT_AT = [list(RUN_COLUMNS).index(c) for c in _FINGERPRINT]
_ID = operator.attrgetter("id")
CHUNK_ROWS = 20000  # rows held in memory before a big file's runs are written in a transaction of their own


@dataclass
class FileRecord:
    """One row of the files table."""

    path: str
    role: str
    format: str | None = None
    problem: str | None = None
    sig: Signature | None = None  # stat when it was listed or read
    head: str | None = None  # hashes of the first and last bytes as read (files whose runs were read)
    tail: str | None = None
    restart: int | None = None  # where an append can be read from: the end of the last whole line read
    restart_line: int | None = None  # lines before `restart`
    companions: dict[str, Signature | None] = field(default_factory=dict)  # path -> signature when read
    runs: int = 0

    @property
    def read(self) -> Read | None:
        """The file as it was when its runs were read (None for a file that was only listed)."""
        if self.sig is None or self.head is None or self.tail is None:
            return None
        return Read(self.sig, self.head, self.tail)

    def was_read(self, read: Read) -> None:
        self.sig, self.head, self.tail = read.sig, read.head, read.tail

    def row(self) -> tuple:
        sig = self.sig.fields() if self.sig is not None else [None] * 5
        companions = {path: (s.fields() if s else None) for path, s in self.companions.items()}
        return (
            self.path,
            self.role,
            self.format,
            self.problem,
            *sig,
            self.head,
            self.tail,
            self.restart,
            self.restart_line,
            to_json(companions),
            self.runs,
        )

    @classmethod
    def from_row(cls, row: tuple) -> FileRecord:
        path, role, fmt, problem, size, mtime, ctime, ino, dev, head, tail, restart, line, companions, runs = row
        sig = Signature(size, mtime, ctime, ino, dev) if size is not None else None
        listed = orjson.loads(companions) if companions else {}
        return cls(
            path,
            role,
            fmt,
            problem,
            sig,
            head,
            tail,
            restart,
            line,
            {p: (Signature(*s) if s else None) for p, s in listed.items()},
            runs or 0,
        )


def create(conn: sqlite3.Connection, *, folder: bool = False, unpriced_index: bool = True) -> None:
    """The files table (and, in a folder's store, a file column on problems and an index to find a
    file's runs), and an index of the model calls left unpriced, which the warnings are made from
    after a file is read again (skipped at the end of a first import: building it scans every step)."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS files ({_COLUMNS})")
    if folder:
        if "file" not in {r[1] for r in conn.execute("PRAGMA table_info(problems)")}:
            conn.execute("ALTER TABLE problems ADD COLUMN file TEXT")
        conn.execute("CREATE INDEX IF NOT EXISTS idx_runs_source_file ON runs (source_file)")
        conn.execute("CREATE INDEX IF NOT EXISTS idx_problems_file ON problems (file)")
    if not unpriced_index:
        return
    conn.execute(
        "CREATE INDEX IF NOT EXISTS idx_steps_unpriced ON steps (model, provider)"
        " WHERE model IS NOT NULL AND cost_usd IS NULL"
    )


class TurnTaking(sqlite3.Connection):
    """A connection whose write transactions wait their turn on a lock file (`turns`), not in SQLite's
    busy handler: that one sleeps up to 100 ms between tries, which worker processes writing one
    store in turn would spend idle. Readers take no turn."""

    turns: int | None = None  # the lock file's descriptor


def connect(path: str, *, turns: str | None = None) -> sqlite3.Connection:
    """A connection for writing (autocommit: the transactions are FileWriter's), taking turns on the
    lock file `turns` with the other processes writing the store."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=120, check_same_thread=False, factory=TurnTaking)
    if turns is not None:
        conn.turns = os.open(turns, os.O_CREAT | os.O_WRONLY, 0o600)
    return conn


def close(conn: sqlite3.Connection) -> None:
    fd = getattr(conn, "turns", None)
    if fd is not None:
        os.close(fd)
    conn.close()


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction, taken in turn with the store's other writers; within one already open
    (a worker writing a batch of files), part of that one."""
    if conn.in_transaction:
        yield
        return
    fd = getattr(conn, "turns", None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)


def save_now(conn: sqlite3.Connection, record: FileRecord) -> None:
    """save() in a transaction of its own (the connection is in autocommit mode)."""
    with transaction(conn):
        save(conn, record)


def has_files(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'files'").fetchone() is not None


def load(conn: sqlite3.Connection) -> dict[str, FileRecord]:
    return {row[0]: FileRecord.from_row(row) for row in conn.execute(f"SELECT {_FIELDS} FROM files")}


def save(conn: sqlite3.Connection, record: FileRecord) -> None:
    conn.execute(f"INSERT OR REPLACE INTO files ({_FIELDS}) VALUES ({', '.join('?' * 15)})", record.row())


@dataclass
class Diff:
    """What writing a file changed in the store: run ids added, rewritten with a difference, removed."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def extend(self, other: Diff) -> None:
        self.added += other.added
        self.changed += other.changed
        self.removed += other.removed

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def diff(before: dict[str, tuple], after: dict[str, tuple]) -> Diff:
    return Diff(
        added=[i for i in after if i not in before],
        changed=[i for i in after if i in before and before[i] != after[i]],
        removed=[i for i in before if i not in after],
    )


def row_hash(row) -> int:
    """What FileWriter(steps=…) remembers of a step row written (this process's hash(): not kept)."""
    return hash(tuple(row))


class FileWriter:
    """Writes the runs read from one file into a store, in place of what the store held of that file.

    `key` is the file's path in the files table of a folder's store (its runs carry it as source_file,
    its problems as file); None for a store of that one file, whose runs are all the runs.
    `since_line`: only the runs read from that line on are replaced (an append to JSON Lines with
    one run per line); None: all of the file's runs. `only`: only the runs with these ids are replaced
    (those lines appended to a followed file changed, tailing.py); the file's problems are all written.
    `steps`: for a followed file, a hash of each step row as last written (id in the store -> step
    id -> hash), kept up to date here: a run found there has only its steps whose rows differ written;
    add(run, kept=n) says its first n steps are as written (no row is made for them).
    """

    def __init__(
        self,
        conn: sqlite3.Connection,
        key: str | None,
        *,
        since_line: int | None = None,
        only: list[str] | None = None,
        steps: dict[str, dict[str, int]] | None = None,
    ) -> None:
        self.conn, self.key, self.since_line = conn, key, since_line
        self.only, self.steps = only, steps
        self.problems: list[Problem] = []
        self._runs: list[tuple[Run, int]] = []
        self._held = 0  # rows held in _runs
        self._before: dict[str, tuple] | None = None
        self._after: dict[str, tuple] = {}
        self._taken: set[str] = set()  # ids this file has used (a repeated one is kept apart too)
        self._run_sql = insert_sql("runs", RUN_COLUMNS)
        self._step_sql = insert_sql("steps", STEP_COLUMNS)
        self._upsert_sql = self._step_sql.replace("INSERT", "INSERT OR REPLACE", 1)
        self._n = 0

    # -- what the store holds of the file ---------------------------------------------------------
    def _scope(self, *, whole_file: bool = False) -> tuple[str, list]:
        clauses: list[str] = []
        args: list[str | int] = []
        if self.key is not None:
            clauses.append("source_file = ?")
            args.append(self.key)
        if self.since_line is not None and not whole_file:
            clauses.append("source_line >= ?")
            args.append(self.since_line)
        if self.only is not None and not whole_file:
            clauses.append("id IN (SELECT value FROM json_each(?))")  # any number of ids, one parameter
            args.append(orjson.dumps(self.only).decode())
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    def _remove_old(self) -> None:
        where, args = self._scope()
        cols = ", ".join(_FINGERPRINT)
        self._before = {r[0]: tuple(r[1:]) for r in self.conn.execute(f"SELECT id, {cols} FROM runs{where}", args)}
        ids = list(self._before)
        known = self.steps if self.steps is not None else {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            renewed = [i for i in chunk if i not in known]  # a known run's steps are written by difference
            if renewed:
                self.conn.execute(f"DELETE FROM steps WHERE run_id IN ({', '.join('?' * len(renewed))})", renewed)
            self.conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", chunk)
            if self.since_line is not None:
                self.conn.execute(f"DELETE FROM problems WHERE run_id IN ({marks})", chunk)
        if self.key is not None:
            if self.since_line is None:
                self.conn.execute("DELETE FROM problems WHERE file = ?", (self.key,))
            else:
                self.conn.execute("DELETE FROM problems WHERE file = ? AND line >= ?", (self.key, self.since_line))
        elif self.since_line is None:
            self.conn.execute("DELETE FROM problems")
        else:
            self.conn.execute(
                "DELETE FROM problems WHERE line >= ? OR (line IS NULL AND run_id IS NULL)", (self.since_line,)
            )

    # -- writing ----------------------------------------------------------------------------------
    def add(self, run: Run, *, kept: int = 0) -> None:
        """A finalized run of the file; written in a transaction of its own once enough rows are held.
        kept: its first steps whose rows are as last written (with `steps`), not made again."""
        if self.key is not None and run.source_file != self.key:
            if run.source_file and not run.extra.get("source_file"):
                run.extra["source_file"] = run.source_file  # the file it names (tracetui's own exports keep one)
            run.source_file = self.key
        self._runs.append((run, kept))  # its id is settled when it is written
        self._held += len(run.steps) - kept + 1
        if self._held >= CHUNK_ROWS:
            self._flush(final=False)

    def finish(self, record: FileRecord | None = None, problems: Iterable[Problem] = ()) -> Diff:
        """Write what is held, the file's problems and its files row; returns what changed."""
        self.problems.extend(problems)
        self._flush(final=True, record=record)
        assert self._before is not None
        return diff(self._before, self._after)

    def finish_removed(self) -> Diff:
        assert self._before is not None
        return diff(self._before, {})

    def _begun(self) -> None:
        """In the write transaction: the first takes out what the store held of the file."""
        if self._before is None:
            self._remove_old()

    def _flush(self, *, final: bool, record: FileRecord | None = None) -> None:
        runs, self._runs, self._held = self._runs, [], 0
        # Rows are made before the write lock is taken; a run whose id is then kept apart is made again.
        rows = [(run.id, run_row(run), [step_row(s) for s in run.steps[kept:]]) for run, kept in runs]
        with transaction(self.conn):
            self._begun()
            run_rows: list[tuple] = []
            step_rows: list[list] = []
            for (run, kept), (made_as, row, steps) in zip(runs, rows, strict=True):
                self._settle_id(run)
                if kept and (self.steps is None or run.id not in self.steps):
                    kept = 0  # the store has none of its steps now: all are written
                if run.id != made_as or not kept and len(steps) != len(run.steps):
                    kept = 0
                    row, steps = run_row(run), [step_row(s) for s in run.steps]
                self._after[run.id] = tuple(row[i] for i in _FINGERPRINT_AT)
                run_rows.append(row)
                step_rows.extend(self._steps_to_write(run, steps, kept))
            insert_storable(self.conn, self._run_sql, run_rows, "runs", self.problems.append)
            step_sql = self._step_sql if self.steps is None else self._upsert_sql
            insert_storable(self.conn, step_sql, step_rows, "steps", self.problems.append)
            if final:
                self._forget_unwritten()
                self._write_problems()
                if record is not None:
                    where, args = self._scope(whole_file=True)
                    record.runs = self.conn.execute(f"SELECT count(*) FROM runs{where}", args).fetchone()[0]
                    save(self.conn, record)

    def _steps_to_write(self, run: Run, rows: list[list], kept: int = 0) -> list[list]:
        """The step rows of a run to write: all of them, or for a run whose rows were written before
        (self.steps), those that differ; the steps it no longer has are deleted. kept: the run's first
        steps, as written before (rows are those of the others)."""
        if self.steps is None:
            return rows
        made = run.steps[kept:]
        before = self.steps.get(run.id)
        hashes = {step.id: row_hash(row) for step, row in zip(made, rows, strict=True)}
        if before is None:
            self.steps[run.id] = hashes
            return rows
        changed = [row for step, row in zip(made, rows, strict=True) if before.get(step.id) != hashes[step.id]]
        if kept and list(islice(before, kept)) == list(map(_ID, run.steps[:kept])):
            # The kept steps are the first ones written last time (in this order): the others are looked at.
            gone = [step_id for step_id in islice(before, kept, None) if step_id not in hashes]
            now = before
            for step_id in gone:
                del now[step_id]
            now.update(hashes)
        else:
            now = {step.id: before[step.id] for step in run.steps[:kept]} | hashes
            gone = list(before.keys() - now.keys())
        self.steps[run.id] = now
        for start in range(0, len(gone), 500):
            chunk = gone[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            self.conn.execute(f"DELETE FROM steps WHERE run_id = ? AND id IN ({marks})", [run.id, *chunk])
        return changed

    def _forget_unwritten(self) -> None:
        """Runs whose steps were left for writing by difference, not written again: their steps go too."""
        if self.steps is None or self._before is None:
            return
        for run_id in [i for i in self._before if i not in self._after and i in self.steps]:
            self.conn.execute("DELETE FROM steps WHERE run_id = ?", (run_id,))
            del self.steps[run_id]

    def _settle_id(self, run: Run) -> None:
        """A run id the store already has (from another file, or earlier in this one) is kept apart as
        `id~n`, the rule a single file's import follows."""
        original = run.id
        if original not in self._taken and not self._in_store(original):
            self._taken.add(original)
            return
        n = 2
        while f"{original}~{n}" in self._taken or self._in_store(f"{original}~{n}"):
            n += 1
        run.id = f"{original}~{n}"
        self._taken.add(run.id)
        for step in run.steps:
            step.run_id = run.id
        run.extra["original_id"] = original
        if FLAG_DUPLICATE_ID not in run.flags:
            run.flags.append(FLAG_DUPLICATE_ID)
        self.problems.append(
            Problem(
                f"duplicate run id {jsonsafe.quoted(original)}: kept as {jsonsafe.quoted(run.id)}",
                line=run.source_line,
                run_id=run.id,
            )
        )

    def _in_store(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def _write_problems(self) -> None:
        if not self.problems:
            return
        n = self.conn.execute("SELECT coalesce(max(n), 0) FROM problems").fetchone()[0]
        if self.key is None:
            rows = [(n + i, p.line, p.run_id, p.message) for i, p in enumerate(self.problems, 1)]
            self.conn.executemany("INSERT INTO problems (n, line, run_id, message) VALUES (?, ?, ?, ?)", rows)
        else:
            rows2 = [(n + i, p.line, p.run_id, p.message, self.key) for i, p in enumerate(self.problems, 1)]
            self.conn.executemany("INSERT INTO problems (n, line, run_id, message, file) VALUES (?, ?, ?, ?, ?)", rows2)
        self.problems = []


def remove(conn: sqlite3.Connection, key: str) -> Diff:
    """Take a file out of a folder's store: its runs, steps, problems and row."""
    writer = FileWriter(conn, key)
    with transaction(conn):
        writer._begun()
        conn.execute("DELETE FROM files WHERE path = ?", (key,))
    return writer.finish_removed()
