"""Received spans kept in a tracetui store, and the runs they make, rebuilt as more spans arrive.

The store is an ordinary tracetui SQLite store (`tracetui open` reads it in place, while it is being
written too) with one more table, `received_spans`: every span received, staged as the OTLP file
reader stages it, under its trace id. Spans of one trace arrive in any order and over many requests
(children end, and are exported, before their parents); each write stores the new spans and the run
of every trace they touch, in one transaction. Most traces arrive whole in one request: their rows
were made by the decoding worker and are written as they are. A trace with spans in the store
already, or in several requests of the transaction, is rebuilt from all of its stored spans. A trace
whose root span has not arrived (or has not ended) is `running`.

A Committer owns the store on one thread: requests submit their spans and wait for the commit, and
requests that arrive while a transaction runs are written together in the next one.
"""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
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
    """A tracetui store that received spans are written into. Used by one thread at a time."""

    def __init__(self, path: str, *, estimate: bool = True) -> None:
        """Opens (or creates) the store at `path`. Raises UnusableInput for a file that is not one."""
        self.path = path
        fresh = not os.path.exists(path)
        if fresh:
            directory = os.path.dirname(os.path.abspath(path))
            os.makedirs(directory, mode=0o700, exist_ok=True)
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # the spans are the user's: private
        elif os.path.getsize(path) > 0:
            self._check_existing(path)
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")  # readers (the viewer, `tracetui open`) never wait
        self.conn.execute("PRAGMA synchronous=NORMAL")
        # This store is tracetui's own. Every commit rewrites the B-tree pages its traces' random ids
        # land on; checkpointing a second's worth of WAL at a time copies such a page into the file
        # once rather than once per 1,000 pages written, and a bigger page cache keeps the indexes'
        # pages from being read again: together about a sixth of the writer's CPU. The checkpoints run
        # on a thread of their own (Checkpointer), so no commit, and no answer, waits for one
        # (docs/benchmarks.md, serve).
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        self.conn.execute(f"PRAGMA cache_size=-{CACHE_KB}")
        create_schema(self.conn)
        self.conn.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (n INTEGER PRIMARY KEY, trace_id TEXT NOT NULL,"
            " span_id TEXT NOT NULL, data BLOB NOT NULL, UNIQUE (trace_id, span_id))"
        )
        meta = {"schema_version": str(SCHEMA_VERSION), "complete": "1", "format": FORMAT, "source": "tracetui serve"}
        if estimate:
            meta["prices"] = pricing.describe(dated=False)
        with self.conn:
            self.conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", meta.items())
        self.pricer = pricing.Pricer() if estimate else None
        self.rejected = int(self._meta("rejected_spans") or 0)
        self._problems = self.conn.execute("SELECT count(*) FROM problems").fetchone()[0]
        self._run_sql = insert_sql("runs", RUN_COLUMNS).replace("INSERT", "INSERT OR REPLACE", 1)
        self._step_sql = insert_sql("steps", STEP_COLUMNS)
        self._step_replace_sql = self._step_sql.replace("INSERT", "INSERT OR REPLACE", 1)
        self._upsert = (
            f"INSERT INTO {TABLE} (trace_id, span_id, data) VALUES (?, ?, ?)"
            " ON CONFLICT (trace_id, span_id) DO UPDATE SET data = excluded.data"
        )
        self.checkpointer = Checkpointer(path)

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

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

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
        self.checkpointer.committed()
        return out

    def _known_runs(self, ids: list[str]) -> set[str]:
        """Which of these traces already have a run in the store."""
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            sql = f"SELECT id FROM runs WHERE id IN ({', '.join('?' * len(chunk))})"
            found.update(r[0] for r in self.conn.execute(sql, chunk))
        return found

    def _note_rejected(self, batch: Decoded) -> None:
        if not batch.rejected:
            return
        self.rejected += batch.rejected
        self.conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES ('rejected_spans', ?)", (str(self.rejected),)
        )
        for message in batch.problems:
            if self._problems >= MAX_PROBLEMS:
                break
            self._problems += 1
            self.conn.execute(
                "INSERT INTO problems (n, line, run_id, message) VALUES (?, NULL, NULL, ?)",
                (self._problems, f"received span rejected: {message}"),
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
        """Make the store one file again (no -wal beside it) and close it."""
        self.checkpointer.close()
        try:
            self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            pass  # a reader still has it open: it stays in WAL mode, which reads just as well
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
    """One transaction of the Committer: how many requests, spans and traces it wrote, how long it took."""

    requests: int
    spans: int
    traces: int
    new_runs: int
    seconds: float


class Committer:
    """Writes submitted requests into a SpanStore on its own thread, many requests to one transaction.

    submit() returns a Future that is done once the spans are committed (or failed): a request is
    answered only after that. `on_commit` is called on the committer's thread after each commit.
    """

    MAX_SPANS = 50_000  # per transaction: a burst of requests still commits (and answers) in pieces

    def __init__(self, store: SpanStore, on_commit: Callable[[Commit], None] | None = None) -> None:
        self.store = store
        self.on_commit = on_commit
        self._queue: queue.Queue[tuple[Decoded, Future[Stored]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="tracetui-committer", daemon=True)
        self._thread.start()

    def submit(self, batch: Decoded) -> Future[Stored]:
        future: Future[Stored] = Future()
        self._queue.put((batch, future))
        return future

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            items = [item]
            spans = item[0].spans
            while spans < self.MAX_SPANS:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this transaction
                    break
                items.append(more)
                spans += more[0].spans
            self._write(items)

    def _write(self, items: list[tuple[Decoded, Future[Stored]]]) -> None:
        began = time.monotonic()
        try:
            stored = self.store.write([batch for batch, _ in items])
        except Exception as exc:
            for _, future in items:
                future.set_exception(exc)
            return
        for (_, future), result in zip(items, stored, strict=True):
            future.set_result(result)
        if self.on_commit is not None:
            self.on_commit(
                Commit(
                    requests=len(items),
                    spans=sum(s.spans for s in stored),
                    traces=sum(s.traces for s in stored),
                    new_runs=sum(s.new_runs for s in stored),
                    seconds=time.monotonic() - began,
                )
            )

    def close(self) -> None:
        """Write what was submitted, stop the thread and close the store."""
        self._queue.put(None)
        self._thread.join()
        self.store.close()
