"""Writing finalized runs into a store file (the import cache, `tracetui import -o`, parallel blocks)."""

from __future__ import annotations

import math
import sqlite3
import time
from collections.abc import Callable
from typing import cast

from .. import jsonsafe
from ..model import FLAG_DUPLICATE_ID, Problem, Run
from .schema import (
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STEP_COLUMNS,
    STEP_INDEXES,
    create_schema,
    insert_sql,
    run_row,
    step_row,
    storable,
    to_json,
)
from .search import build_index

# What binding a Python value SQLite cannot store raises: an integer beyond 64 bits, text with a
# lone surrogate, a type it has no column type for.
_UNSTORABLE = (OverflowError, UnicodeEncodeError, sqlite3.ProgrammingError, sqlite3.InterfaceError, TypeError)
_SOURCE_LINE = list(RUN_COLUMNS).index("source_line")

# Python's sqlite3 binds int, float and str directly; any other value, None and bool among them, is
# first looked up as something to adapt, which costs None about 0.45 µs (a step row holds some 25). An
# adapter found at once is three times quicker; these give SQLite the very values it bound before
# (NULL, and 0/1), for every connection of the process. dict.get of an empty dict: None, in C.
sqlite3.register_adapter(type(None), cast("Callable[[None], None]", {}.get))
sqlite3.register_adapter(bool, int)
# Quicker still: a float is bound without any look-up, and SQLite stores a NaN it is bound as NULL
# (as it always did with a NaN in a row: normalize.number drops them anyway). The writer's rows, mostly
# NULLs, are bound with NaN in their place: ~2 µs less a dense step row, the swap included
# (tests/test_store.py checks the NULLs).
_NAN = math.nan
BOUND_NULL = _NAN
"""What rows handed to StoreWriter.add_rows hold for NULL."""
_ALL_STEP_COLUMNS = tuple(STEP_COLUMNS)


def _bound(row: list | tuple) -> list:
    """The row with NaN for None (see _NAN): the same row in the store."""
    return [_NAN if value is None else value for value in row]


# Bigger pages than SQLite's 4 KB: appending a block of dense steps to the store (merge: mostly
# writing the WAL and checkpointing it) took ~7 µs of CPU a step instead of ~11 (the folder's store
# uses the same size, folders.PAGE_SIZE). A scratch store is written once, then read once in order.
PAGE_SIZE = 16384
SCRATCH_PAGE_SIZE = 65536


_DUPLICATE = "duplicate run id"
"""How the note about a run kept apart under a new id begins."""


class StoreWriter:
    """Writes runs into a store file, committing in batches so readers see runs as they arrive.

    A value SQLite refuses never stops an import: its batch is written again row by row, the
    refused row with each value made storable (schema.storable), and what changed is reported.
    """

    def __init__(
        self,
        path: str,
        *,
        commit_every: float = 0.25,
        batch_rows: int = 20000,
        scratch: bool = False,
        report: Callable[[Problem], None] | None = None,
    ):
        """scratch: a private block store for parallel.py (no indexes, no journal, merged later).

        report: where values made storable are reported (default: the store's problems table).
        """
        self.path = path
        self.scratch = scratch
        self.report = report or self.add_problem
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # (A new file only: an existing one keeps the size it was made with.)
        self.conn.execute(f"PRAGMA page_size={SCRATCH_PAGE_SIZE if scratch else PAGE_SIZE}")
        # A scratch store's journal is kept in memory, not turned off: without one, ROLLBACK TO (a batch
        # written again row by row, a value refused) leaves the rows written before the refused one.
        self.conn.execute("PRAGMA journal_mode=MEMORY" if scratch else "PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        create_schema(self.conn, indexes=not scratch)
        self.set_meta("schema_version", str(SCHEMA_VERSION))
        self.set_meta("complete", "0")
        self._seen: set[str] = set(r[0] for r in self.conn.execute("SELECT id FROM runs"))
        self._runs: list[list] = []
        self._steps: list[list] = []
        self._problems = self.conn.execute("SELECT count(*) FROM problems").fetchone()[0]
        # The first run added is committed at once, so a viewer of the store shows it (not for scratch blocks).
        self._last_commit = time.monotonic() if scratch else float("-inf")
        self.commit_every = commit_every
        self.batch_rows = batch_rows
        self.run_count = len(self._seen)
        self._last_id: str | None = None  # see defer_step_indexes
        self._run_sql = insert_sql("runs", RUN_COLUMNS)
        # The columns of the step rows waiting in _steps (add_rows may be given fewer), and their INSERT.
        self._step_columns: tuple[str, ...] = _ALL_STEP_COLUMNS
        self._step_sql = insert_sql("steps", STEP_COLUMNS)
        self.conn.execute("BEGIN")

    def defer_step_indexes(self) -> None:
        """On an empty store: keep the steps' secondary indexes up only while runs arrive in id order,
        and else leave them out until finish().

        Both indexes begin with run_id. Runs in id order only ever add to their right edge, which costs
        less than building them once at the end (~1 µs a dense step, at the end, on one core); runs in
        any other order (random ids: uuid4, hashes) insert all over them, which costs more. So the
        first run that sorts before one stored earlier drops them, and finish() builds them. Meanwhile
        a run's steps are still found through the table's key (run_id, id)."""
        if self.run_count == 0 and not self.scratch:
            self._last_id = ""  # the greatest run id stored so far; None: not watched (indexes up, or left out)

    def _in_id_order(self, first: str, last: str) -> None:
        """Runs from `first` to `last` (in id order among themselves) come next: if they do not sort
        after every run stored so far, the deferred step indexes are dropped (see defer_step_indexes)."""
        if self._last_id is None:
            return
        if first > self._last_id:
            self._last_id = last
            return
        self._last_id = None
        for name in STEP_INDEXES:
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def add_problem(self, problem: Problem) -> None:
        self._problems += 1
        values = (self._problems, problem.line, problem.run_id, problem.message)
        try:
            self.conn.execute("INSERT INTO problems (n, line, run_id, message) VALUES (?, ?, ?, ?)", values)
        except _UNSTORABLE:
            self.conn.execute(
                "INSERT INTO problems (n, line, run_id, message) VALUES (?, ?, ?, ?)", [storable(v)[0] for v in values]
            )

    def add(self, run: Run) -> Run:
        """Add a finalized run; a repeated run id is kept apart under a new id and reported."""
        if run.id in self._seen:
            run.id = self._keep_apart(run.id, run.extra, run.flags, run.source_line)
            for step in run.steps:
                step.run_id = run.id
        self._seen.add(run.id)
        if self._last_id is not None:
            self._in_id_order(run.id, run.id)
        self._append(_bound(run_row(run)), [step_row(s, _NAN) for s in run.steps], _ALL_STEP_COLUMNS)
        return run

    def add_rows(self, run: Run, step_rows: list[list], columns: tuple[str, ...] = _ALL_STEP_COLUMNS) -> Run:
        """add() of a run whose step rows are laid out already (`columns`, run_id first; the store's other
        columns NULL; BOUND_NULL for None) and whose derived fields are set (sources/export.py's plain runs)."""
        if run.id in self._seen:
            run.id = self._keep_apart(run.id, run.extra, run.flags, run.source_line)
            for row in step_rows:
                row[0] = run.id
        self._seen.add(run.id)
        if self._last_id is not None:
            self._in_id_order(run.id, run.id)
        self._append(_bound(run_row(run)), step_rows, columns)
        return run

    def _keep_apart(
        self, original: str, extra: dict, flags: list, line: int | None, taken: frozenset[str] = frozenset()
    ) -> str:
        """A new id (`original~n`) for a run whose id was seen before, noted in its extra and flags;
        never one in `taken` (the ids of the block being merged, not seen yet)."""
        n = 2
        while f"{original}~{n}" in self._seen or f"{original}~{n}" in taken:
            n += 1
        new_id = f"{original}~{n}"
        extra["original_id"] = original
        if FLAG_DUPLICATE_ID not in flags:
            flags.append(FLAG_DUPLICATE_ID)
        self._seen.add(new_id)
        self.add_problem(
            Problem(
                f"{_DUPLICATE} {jsonsafe.quoted(original)}: kept as {jsonsafe.quoted(new_id)}",
                line=line,
                run_id=new_id,
            )
        )
        return new_id

    def _append(self, run_values: list, step_values: list, columns: tuple[str, ...]) -> None:
        if columns != self._step_columns:
            self._flush()  # rows keep their order: the waiting ones go first, with their own columns
            self._step_columns = columns
            self._step_sql = insert_sql("steps", columns)
        self._runs.append(run_values)
        self._steps.extend(step_values)
        self.run_count += 1
        if len(self._steps) + len(self._runs) >= self.batch_rows:
            self._flush()
        if time.monotonic() - self._last_commit >= self.commit_every:
            self.commit()

    def merge(self, block_path: str) -> None:
        """Append a scratch store's runs, steps and problems (parallel.py's workers write them)."""
        self.commit()
        self.conn.execute("COMMIT")  # ATTACH is not allowed inside a transaction
        self.conn.execute("ATTACH DATABASE ? AS blk", (block_path,))
        try:
            self.conn.execute("BEGIN")
            self._keep_apart_in_block()
            if self._last_id is not None:
                self._block_in_id_order()
            for line, run_id, message in self.conn.execute(
                "SELECT line, run_id, message FROM blk.problems ORDER BY n"
            ).fetchall():
                self.add_problem(Problem(message, line=line, run_id=run_id))
            self.conn.execute(
                f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) SELECT {', '.join(RUN_COLUMNS)} FROM blk.runs"
            )
            self.conn.execute(
                f"INSERT INTO steps ({', '.join(STEP_COLUMNS)}) SELECT {', '.join(STEP_COLUMNS)} FROM blk.steps"
            )
            self.run_count += self.conn.execute("SELECT count(*) FROM blk.runs").fetchone()[0]
            self.conn.execute("COMMIT")
        finally:
            if self.conn.in_transaction:  # a failed merge: without this, DETACH fails and hides why
                self.conn.execute("ROLLBACK")
            self.conn.execute("DETACH DATABASE blk")
        self.conn.execute("BEGIN")
        self._last_commit = time.monotonic()

    def _keep_apart_in_block(self) -> None:
        """Rename the block's runs whose ids earlier blocks had, as add() would have in one pass: the
        worker renamed its own repeats (`r1~2` for the block's second `r1`), so those are renamed from
        their original id too, and the ids are the ones a serial import gives. Renamed runs go to a
        temporary id first, so no new id meets an id of the block still waiting for its turn."""
        moves: list[tuple[str, str, dict, list, int | None]] = []
        renamed: set[str] = set()
        for block_id, extra_json, flags_json, line in self.conn.execute(
            "SELECT id, extra, flags, source_line FROM blk.runs ORDER BY rowid"
        ).fetchall():
            original = None
            if flags_json and FLAG_DUPLICATE_ID in flags_json:
                flags = jsonsafe.loads(flags_json)[0]
                extra = jsonsafe.loads(extra_json)[0] if extra_json else {}
                found = extra.get("original_id") if FLAG_DUPLICATE_ID in flags else None
                original = found if isinstance(found, str) else None
            if block_id in self._seen or (original is not None and original in renamed):
                base = original if original is not None else block_id
                renamed.add(base)
                if original is None:
                    extra = jsonsafe.loads(extra_json)[0] if extra_json else {}
                    flags = jsonsafe.loads(flags_json)[0] if flags_json else []
                moves.append((block_id, base, extra, flags, line))
            else:
                self._seen.add(block_id)
        if not moves:
            return
        # A scratch store's steps have no key (schema.create_schema): an index, once a block needs one.
        self.conn.execute("CREATE INDEX IF NOT EXISTS blk.idx_steps_run_id ON steps (run_id)")
        for n, (block_id, *_) in enumerate(moves):
            self._rename_in_block(block_id, f"\x00merging {n}")
        # The worker's own 'duplicate run id' notes named the ids it gave; _keep_apart notes the final ones.
        self.conn.execute(
            "DELETE FROM blk.problems WHERE run_id LIKE ? AND message LIKE ?", ("\x00merging %", f"{_DUPLICATE} %")
        )
        taken = frozenset(r[0] for r in self.conn.execute("SELECT id FROM blk.runs"))
        for n, (_, base, extra, flags, line) in enumerate(moves):
            new_id = self._keep_apart(base, extra, flags, line, taken)
            self._rename_in_block(f"\x00merging {n}", new_id)
            self.conn.execute(
                "UPDATE blk.runs SET extra = ?, flags = ? WHERE id = ?", (to_json(extra), to_json(flags), new_id)
            )

    def _block_in_id_order(self) -> None:
        """_in_id_order() for the attached block's runs, in the order they will be stored."""
        first, last, backwards = self.conn.execute(
            "SELECT min(id), max(id), count(*) FILTER (WHERE id < before) FROM"
            " (SELECT id, lag(id) OVER (ORDER BY rowid) AS before FROM blk.runs)"
        ).fetchone()
        if first is None:
            return
        if backwards:
            first = ""  # not in order among themselves: never after everything stored
        self._in_id_order(first, last)

    def _rename_in_block(self, old: str, new: str) -> None:
        for table, column in (("runs", "id"), ("steps", "run_id"), ("problems", "run_id")):
            self.conn.execute(f"UPDATE blk.{table} SET {column} = ? WHERE {column} = ?", (new, old))

    def _flush(self) -> None:
        # Runs first: a step row refused below finds its run's line in the runs table.
        if self._runs:
            self._insert(self._run_sql, self._runs, "runs", tuple(RUN_COLUMNS))
            self._runs.clear()
        if self._steps:
            self._insert(self._step_sql, self._steps, "steps", self._step_columns)
            self._steps.clear()

    def _insert(self, sql: str, rows: list, table: str, names: tuple[str, ...]) -> None:
        insert_storable(self.conn, sql, rows, table, self.report, names)

    def unpriced_calls(self) -> list[tuple[str, str | None, int]]:
        """(model, provider, calls) of the model calls written that have token counts and no cost."""
        from ..pricing import unpriced_calls

        self.commit()
        return unpriced_calls(self.conn)

    def commit(self) -> None:
        self._flush()
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")
        self._last_commit = time.monotonic()

    def finish(self, *, search_index: bool = False, **meta: str) -> None:
        """search_index: index the steps' text for search as well (search.build_index: slow, see there)."""
        for key, value in meta.items():
            self.set_meta(key, value)
        self._flush()
        if not self.scratch:
            create_schema(self.conn)  # the indexes defer_step_indexes left out, if it did
        if search_index:
            self.conn.execute("COMMIT")
            build_index(self.conn)
            self.conn.execute("BEGIN")
        self.set_meta("complete", "1")
        self.conn.execute("COMMIT")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            # A single-file store is easier to copy; readers still attached (the viewer while it
            # imports) keep it in WAL mode, which reads just as well.
            self.conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError:
            pass
        self.conn.close()

    def abort(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        self.conn.close()


def insert_storable(
    conn: sqlite3.Connection,
    sql: str,
    rows: list,
    table: str,
    report: Callable[[Problem], object],
    names: tuple[str, ...] | None = None,
) -> None:
    """executemany, in a transaction already begun; a row SQLite refuses (an integer beyond 64 bits,
    a lone surrogate) is stored as storable() makes it and reported. Runs before their steps: a refused
    step row finds its run's line in the runs table. names: the rows' columns, if not all the table's."""
    # A savepoint costs nothing beside a batch, and lets a batch SQLite refused go again row by row.
    conn.execute("SAVEPOINT batch")
    try:
        conn.executemany(sql, rows)
    except _UNSTORABLE:
        conn.execute("ROLLBACK TO batch")
        for row in rows:
            try:
                conn.execute(sql, row)
            except _UNSTORABLE:
                conn.execute(sql, _storable_row(conn, row, table, report, names))
    conn.execute("RELEASE batch")


def _storable_row(
    conn: sqlite3.Connection,
    row: tuple | list,
    table: str,
    report: Callable[[Problem], object],
    names: tuple[str, ...] | None,
) -> list:
    names = names or tuple(RUN_COLUMNS if table == "runs" else STEP_COLUMNS)
    values: list = []
    changes: dict[str, list[str]] = {}  # what was changed -> the columns (a total repeats its step's value)
    for column, value in zip(names, row, strict=True):
        stored, change = storable(value)
        values.append(stored)
        if change:
            changes.setdefault(change, []).append(column)
    run_id = values[0]
    if table == "runs":
        line, where = values[_SOURCE_LINE], f"run {jsonsafe.quoted(run_id)}"
    else:
        found = conn.execute("SELECT source_line FROM runs WHERE id = ?", (run_id,)).fetchone()
        line, where = (
            (found[0] if found else None),
            f"run {jsonsafe.quoted(run_id)}, step {jsonsafe.quoted(values[1])}",
        )
    said = "; ".join(f"{', '.join(columns)}: {change}" for change, columns in changes.items())
    report(Problem(f"{where}: {said}", line=line, run_id=run_id))
    return values
