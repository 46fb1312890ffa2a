"""Received spans kept in a tracetui store, and the runs they make, rebuilt as more spans arrive.

The store is an ordinary tracetui SQLite store (`tracetui open` reads it in place, while it is being
written too) with one more table, `received_spans`: every span received, staged as the OTLP file
reader stages it, under its trace id. Spans of one trace arrive in any order and over many requests
(children end, and are exported, before their parents); each write stores the new spans and the run
of every trace they touch, in one transaction. Most traces arrive whole in one request: their rows
were made by the decoding worker and are written as they are. A trace with spans in the store
already, or in several requests of the transaction, is rebuilt from all of its stored spans. A trace
whose root span has not arrived (or has not ended) is `running`.

SpanStore makes the store (the main process: schema, meta, the Checkpointer); a SpanWriter writes
into it, one per decoding worker process (workers.py), one transaction at a time across them.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime

from .. import jsonsafe, pricing
from ..errors import UnusableInput
from ..sources.contract import StagedRecords
from ..store import SCHEMA_VERSION, create_schema
from ..store.schema import RUN_COLUMNS, STEP_COLUMNS, insert_sql
from . import runs
from .decode import Decoded, Trace
from .runs import Rows

TABLE = "received_spans"
FORMAT = "otlp"
MAX_PROBLEMS = 1000  # rejected spans noted in the problems table (all are counted in meta)
CACHE_KB = 32_768  # the writer's page cache (SQLite's default is 2 MB)
CHECKPOINT_SECONDS = 1.0  # what was committed is copied from the WAL into the file this often
# A WAL bigger than this is checkpointed to its end and emptied by the writer that finds it so, while
# the other writers wait for their turn: under constant writes the Checkpointer's passive checkpoints
# never reach the WAL's end, and a WAL that is never reset grows without bound (27 GB in 8 minutes
# at 12k spans/s).
WAL_RESTART_BYTES = 64 * 1024 * 1024
RESTART_WAIT_MS = 1000  # how long that checkpoint waits for readers (the viewer's) to leave the WAL
BUSY_SECONDS = 60.0  # a writer waits this long for another process's transaction to end


def default_path(now: datetime | None = None) -> str:
    """A new dated store file in the XDG data directory ($XDG_DATA_HOME/tracetui, else ~/.local/share/tracetui)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    stamp = (now or datetime.now()).strftime("%Y-%m-%d-%H%M%S")
    return os.path.join(base, "tracetui", f"spans-{stamp}.db")


@dataclass(frozen=True)
class Stored:
    """What one write stored: spans (new or sent again), the traces they belong to, runs new to the store."""

    spans: int
    traces: int
    new_runs: int


class SpanStore:
    """A tracetui store that received spans are written into: made (or checked) here, in the receiver's
    process, which also checkpoints it; written by SpanWriters (the decoding workers'), or by this
    store's own `write` (one process: tests, benchmarks)."""

    def __init__(self, path: str, *, estimate: bool = True) -> None:
        """Opens (or creates) the store at `path`. Raises UnusableInput for a file that is not one."""
        self.path = path
        self.estimate = estimate
        fresh = not os.path.exists(path)
        if fresh:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # the spans are the user's: private
        elif os.path.getsize(path) > 0:
            self._check_existing(path)
        conn = _connect(path)
        try:
            create_schema(conn)
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (n INTEGER PRIMARY KEY, trace_id TEXT NOT NULL,"
                " span_id TEXT NOT NULL, data BLOB NOT NULL, UNIQUE (trace_id, span_id))"
            )
            meta = {
                "schema_version": str(SCHEMA_VERSION),
                "complete": "1",
                "format": FORMAT,
                "source": "tracetui serve",
            }
            if estimate:
                meta["prices"] = pricing.describe(dated=False)
            with conn:
                conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
        finally:
            conn.close()
        self._writer: SpanWriter | None = None
        self.checkpointer = Checkpointer(path)

    @property
    def writer(self) -> SpanWriter:
        """This process's own writer (opened on first use)."""
        if self._writer is None:
            self._writer = SpanWriter(self.path, pricing.Pricer() if self.estimate else None)
        return self._writer

    @property
    def conn(self) -> sqlite3.Connection:
        """This process's writer's connection."""
        return self.writer.conn

    def write(self, batches: list[Decoded]) -> list[Stored]:
        """SpanWriter.write in this process."""
        out = self.writer.write(batches)
        self.checkpointer.committed()
        return out

    @staticmethod
    def _check_existing(path: str) -> None:
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
                version = None
                if "meta" in tables:
                    row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                    version = row[0] if row else None
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            raise UnusableInput(path, f"not a SQLite store tracetui serve can write to ({exc})") from None
        if TABLE not in tables:
            raise UnusableInput(path, "not a store made by tracetui serve; give --db a new file or one it made")
        if version != str(SCHEMA_VERSION):
            raise UnusableInput(path, f"made by another tracetui version (schema {version}); give --db a new file")

    def close(self) -> None:
        """Make the store one file again (no -wal beside it) and close it. The writers of other
        processes have closed theirs (the workers have stopped)."""
        self.checkpointer.close()
        if self._writer is not None:
            self._writer.close()
        conn = _connect(self.path)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            pass  # a reader still has it open: it stays in WAL mode, which reads just as well
        finally:
            conn.close()


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_SECONDS)
    conn.execute("PRAGMA journal_mode=WAL")  # readers (the viewer, `tracetui open`) never wait
    conn.execute("PRAGMA synchronous=NORMAL")
    # This store is tracetui's own. Every commit rewrites the B-tree pages its traces' random ids
    # land on; checkpointing a second's worth of WAL at a time copies such a page into the file
    # once rather than once per 1,000 pages written, and a bigger page cache keeps the indexes'
    # pages from being read again: together about a sixth of the writer's CPU. The checkpoints run
    # on a thread of their own (Checkpointer), so no commit, and no answer, waits for one
    # (docs/benchmarks.md, serve). The setting is each connection's own: every writer's.
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")
    return conn


class SpanWriter:
    """Writes decoded requests into a store SpanStore made. Several processes may each have one:
    SQLite lets one transaction write at a time (the others wait for it, up to BUSY_SECONDS)."""

    def __init__(self, path: str, pricer: pricing.Pricer | None) -> None:
        self.path = path
        self.conn = _connect(path)
        self.pricer = pricer
        self._run_sql = insert_sql("runs", RUN_COLUMNS).replace("INSERT", "INSERT OR REPLACE", 1)
        self._step_sql = insert_sql("steps", STEP_COLUMNS)
        self._step_replace_sql = self._step_sql.replace("INSERT", "INSERT OR REPLACE", 1)
        self._upsert = (
            f"INSERT INTO {TABLE} (trace_id, span_id, data) VALUES (?, ?, ?)"
            " ON CONFLICT (trace_id, span_id) DO UPDATE SET data = excluded.data"
        )

    def write(self, batches: list[Decoded]) -> list[Stored]:
        """Store the spans of these requests and the runs of the traces they touch, in one transaction;
        what each request stored, in order. Raises sqlite3.Error (nothing is stored then).

        A trace new to the store whose spans all came in one of these requests gets the rows its
        decoding made; any other is rebuilt here from all of its stored spans."""
        out = []
        touched: dict[str, list[Trace]] = {}
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            known = self._known_runs(list(dict.fromkeys(t.id for batch in batches for t in batch.traces)))
            for batch in batches:
                new = 0
                for trace in batch.traces:
                    if trace.id not in known and trace.id not in touched:
                        new += 1
                    touched.setdefault(trace.id, []).append(trace)
                conn.executemany(
                    self._upsert, [(t.id, span, data) for t in batch.traces for span, data in t.spans.items()]
                )
                out.append(Stored(batch.spans, len(batch.traces), new))
                self._note_rejected(batch)
            for trace_id, parts in touched.items():
                if trace_id in known or len(parts) > 1:
                    self._write_run(
                        trace_id, runs.rows(trace_id, self._stored(trace_id), self.pricer), trace_id in known
                    )
                else:
                    self._write_run(trace_id, parts[0].rows, False)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._keep_wal_small()
        return out

    def _keep_wal_small(self) -> None:
        """Empty a WAL grown past WAL_RESTART_BYTES (see there); called between transactions, on the
        writer's turn. A reader that stays in the WAL longer than RESTART_WAIT_MS puts it off."""
        try:
            if os.path.getsize(self.path + "-wal") <= WAL_RESTART_BYTES:
                return
        except OSError:
            return
        conn = self.conn
        conn.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error:
            pass  # the next commit tries again
        finally:
            conn.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")

    def _known_runs(self, ids: list[str]) -> set[str]:
        """Which of these traces already have a run in the store."""
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = f"SELECT id FROM runs WHERE id IN ({', '.join('?' * len(chunk))})"
            found.update(r[0] for r in self.conn.execute(sql, chunk))
        return found

    def _note_rejected(self, batch: Decoded) -> None:
        # Counted in the store, read in the transaction: other processes' writers count too.
        if not batch.rejected:
            return
        row = self.conn.execute("SELECT value FROM meta WHERE key = 'rejected_spans'").fetchone()
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rejected_spans', ?)",
            (str(int(row[0] if row else 0) + batch.rejected),),
        )
        problems = self.conn.execute("SELECT count(*) FROM problems").fetchone()[0]
        for message in batch.problems[: max(0, MAX_PROBLEMS - problems)]:
            problems += 1
            self.conn.execute(
                "INSERT INTO problems (n, line, run_id, message) VALUES (?, NULL, NULL, ?)",
                (problems, f"received span rejected: {message}"),
            )

    def _stored(self, trace_id: str) -> StagedRecords:
        rows = self.conn.execute(f"SELECT data FROM {TABLE} WHERE trace_id = ? ORDER BY n", (trace_id,))
        return [(None, jsonsafe.loads(data)[0]) for (data,) in rows]  # (stored by jsonsafe: any depth)

    def _write_run(self, trace_id: str, rows: Rows, replace: bool) -> None:
        """The trace's run and steps; `replace`: the store holds an older version of them, and only the
        rows that changed are written (a span arriving in a long trace changes a few of its steps:
        itself, its ancestors' sums, the order after it)."""
        run, steps = rows
        if not replace:
            self.conn.execute(self._run_sql, run)
            self.conn.executemany(self._step_sql, steps)
            return
        if self.conn.execute("SELECT * FROM runs WHERE id = ?", (trace_id,)).fetchone() != tuple(run):
            self.conn.execute(self._run_sql, run)
        old = {row[1]: row for row in self.conn.execute("SELECT * FROM steps WHERE run_id = ?", (trace_id,))}
        changed = [step for step in steps if old.pop(step[1], None) != tuple(step)]
        if old:  # steps the new rows no longer have (a repeated span id renumbered)
            self.conn.executemany("DELETE FROM steps WHERE run_id = ? AND id = ?", [(trace_id, i) for i in old])
        self.conn.executemany(self._step_replace_sql, changed)

    def close(self) -> None:
        self.conn.close()


class Checkpointer:
    """Copies what was committed from the store's WAL into its file, on a thread and a connection of
    its own, at most every CHECKPOINT_SECONDS (SQLite's automatic checkpoints are off: they ran in the
    commit that filled the WAL, and an answer waited for them). A passive checkpoint never blocks the
    writer; one that cannot finish (a reader in the way) is taken up again next time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.checkpoints = 0  # checkpoints run so far
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="tracetui-checkpoint", daemon=True)
        self._thread.start()

    def committed(self) -> None:
        """The writer committed: the WAL has something to copy."""
        self._wake.set()

    def _loop(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while True:
                self._wake.wait()
                if self._stopping.is_set():
                    return
                self._wake.clear()
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # a busy or locked store: the next commit asks again; close() checkpoints anyway
                self.checkpoints += 1
                if self._stopping.wait(CHECKPOINT_SECONDS):  # commits meanwhile are copied together
                    return
        finally:
            conn.close()

    def close(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join()


@dataclass(frozen=True)
class Commit:
    """One transaction: how many requests, spans and traces it wrote."""

    requests: int
    spans: int
    traces: int
    new_runs: int
