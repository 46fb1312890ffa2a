"""The SQLite trace store: its schema, writing runs into it, and the queries CLI and viewer share.

A store is a SQLite database with `runs` and `steps` (tables in tracetui's own schema, or TEMP
views over a source read in place, such as an agent_traces table). Everything above this module
reads traces only through `Store`.
"""

from __future__ import annotations

import operator
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .errors import NotFound
from .model import TOTAL_FIELDS, Problem, Run, Step

SCHEMA_VERSION = 1

# Column order matters: SQLite reads a row up to the last column a query needs, so the large
# payload columns come last and list/tree queries never touch them.
RUN_COLUMNS: dict[str, type] = {
    "id": str,
    "agent": str,
    "session": str,
    "status": str,
    "started_at": str,
    "ended_at": str,
    "duration_ms": float,
    "tokens_in": int,
    "tokens_out": int,
    "credits": float,
    "cost_usd": float,
    "step_count": int,
    "failed_steps": int,
    "steps_tokens_in": int,
    "steps_tokens_out": int,
    "steps_credits": float,
    "steps_cost_usd": float,
    "total_tokens_in": int,
    "total_tokens_out": int,
    "total_credits": float,
    "total_cost_usd": float,
    "error": str,
    "flags": str,
    "source_file": str,
    "source_line": int,
    "metadata": str,
    "events": str,
    "extra": str,
    "input": str,
    "output": str,
}

STEP_COLUMNS: dict[str, type] = {
    "run_id": str,
    "id": str,
    "parent_id": str,
    "seq": int,
    "ord": int,
    "depth": int,
    "size": int,
    "child_count": int,
    "name": str,
    "kind": str,
    "raw_type": str,
    "status": str,
    "started_at": str,
    "ended_at": str,
    "duration_ms": float,
    "tokens_in": int,
    "tokens_out": int,
    "credits": float,
    "cost_usd": float,
    "sub_tokens_in": int,
    "sub_tokens_out": int,
    "sub_credits": float,
    "sub_cost_usd": float,
    "branch": str,
    "chosen_branch": str,
    "verdict": str,
    "confidence": float,
    "policy": str,
    "score": float,
    "definition_id": str,
    "flags": str,
    "error": str,
    "events": str,
    "extra": str,
    "input": str,
    "output": str,
}

JSON_COLUMNS = frozenset({"flags", "metadata", "events", "extra"})
PAYLOAD_COLUMNS = ("events", "extra", "input", "output")
RUN_LIST_COLUMNS = tuple(c for c in RUN_COLUMNS if c not in ("metadata", "events", "extra", "input", "output"))
STEP_TREE_COLUMNS = tuple(c for c in STEP_COLUMNS if c not in PAYLOAD_COLUMNS)

SORT_KEYS = {
    "started": "started_at",
    "duration": "duration_ms",
    "tokens": "(coalesce(total_tokens_in, 0) + coalesce(total_tokens_out, 0))",
    "credits": "total_credits",
    "cost": "total_cost_usd",
    "status": "status",
    "agent": "agent",
    "id": "id",
    "steps": "step_count",
    "failed": "failed_steps",
    "error": "error",
}


def create_schema(db, *, indexes: bool = True) -> None:
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["problems"].create({"n": int, "line": int, "run_id": str, "message": str}, pk="n", if_not_exists=True)
    db["runs"].create(RUN_COLUMNS, pk="id", if_not_exists=True)
    db["steps"].create(STEP_COLUMNS, pk=("run_id", "id"), if_not_exists=True)
    if not indexes:
        return
    for table, cols in (
        ("runs", ["started_at"]),
        ("runs", ["status"]),
        ("runs", ["agent"]),
        ("runs", ["duration_ms"]),
        ("runs", ["total_credits"]),
        ("runs", ["total_cost_usd"]),
        ("steps", ["run_id", "parent_id", "seq"]),
        ("steps", ["run_id", "ord"]),
    ):
        db[table].create_index(cols, if_not_exists=True)


def _json(value: Any) -> str | None:
    if value is None or value == [] or value == {}:
        return None
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


_STEP_JSON_POSITIONS = [i for i, c in enumerate(STEP_COLUMNS) if c in JSON_COLUMNS]
_step_values = operator.attrgetter(*STEP_COLUMNS)


def run_row(run: Run) -> tuple:
    values = []
    for col in RUN_COLUMNS:
        if col.startswith("total_"):
            values.append(run.total(col[len("total_") :]))
        elif col in JSON_COLUMNS:
            values.append(_json(getattr(run, col)))
        else:
            values.append(getattr(run, col))
    return tuple(values)


def step_row(step: Step) -> list:
    # attrgetter + patching the few JSON columns: this runs once per step of every import.
    values = list(_step_values(step))
    for i in _STEP_JSON_POSITIONS:
        values[i] = _json(values[i])
    return values


def _insert_sql(table: str, columns: Iterable[str]) -> str:
    cols = list(columns)
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"


class StoreWriter:
    """Writes runs into a store file, committing in batches so readers see runs as they arrive."""

    def __init__(self, path: str, *, commit_every: float = 0.25, batch_rows: int = 20000, scratch: bool = False):
        """scratch: a private block store for parallel.py (no indexes, no journal, merged later)."""
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=OFF" if scratch else "PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=OFF")
        import sqlite_utils  # only writers need it; keeps read-only start-up fast

        self.db = sqlite_utils.Database(self.conn)
        create_schema(self.db, indexes=not scratch)
        self.set_meta("schema_version", str(SCHEMA_VERSION))
        self.set_meta("complete", "0")
        self._seen: set[str] = set(r[0] for r in self.conn.execute("SELECT id FROM runs"))
        self._runs: list[tuple] = []
        self._steps: list[tuple] = []
        self._problems = self.conn.execute("SELECT count(*) FROM problems").fetchone()[0]
        self._last_commit = time.monotonic()
        self.commit_every = commit_every
        self.batch_rows = batch_rows
        self.run_count = len(self._seen)
        self._run_sql = _insert_sql("runs", RUN_COLUMNS)
        self._step_sql = _insert_sql("steps", STEP_COLUMNS)
        self.conn.execute("BEGIN")

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def add_problem(self, problem: Problem) -> None:
        self._problems += 1
        self.conn.execute(
            "INSERT INTO problems (n, line, run_id, message) VALUES (?, ?, ?, ?)",
            (self._problems, problem.line, problem.run_id, problem.message),
        )

    def add(self, run: Run) -> Run:
        """Add a finalized run; a repeated run id is kept apart under a new id and reported."""
        if run.id in self._seen:
            original, n = run.id, 2
            while f"{original}~{n}" in self._seen:
                n += 1
            run.id = f"{original}~{n}"
            run.extra["original_id"] = original
            if "duplicate_id" not in run.flags:
                run.flags.append("duplicate_id")
            for step in run.steps:
                step.run_id = run.id
            self.add_problem(
                Problem(f"duplicate run id {original!r}: kept as {run.id!r}", line=run.source_line, run_id=run.id)
            )
        self._seen.add(run.id)
        self._append(run_row(run), [step_row(s) for s in run.steps])
        return run

    def _append(self, run_values: tuple, step_values: list) -> None:
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
            for run_id in [r[0] for r in self.conn.execute("SELECT id FROM blk.runs")]:
                if run_id in self._seen:
                    self._keep_apart_in_block(run_id)
                else:
                    self._seen.add(run_id)
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
            self.conn.execute("DETACH DATABASE blk")
        self.conn.execute("BEGIN")
        self._last_commit = time.monotonic()

    def _keep_apart_in_block(self, original: str) -> None:
        """A run id seen in an earlier block: rename it in the block, as add() would."""
        row = self.conn.execute("SELECT extra, flags, source_line FROM blk.runs WHERE id = ?", (original,)).fetchone()
        n = 2
        while f"{original}~{n}" in self._seen:
            n += 1
        new_id = f"{original}~{n}"
        extra = orjson.loads(row[0]) if row[0] else {}
        flags = orjson.loads(row[1]) if row[1] else []
        extra["original_id"] = original
        if "duplicate_id" not in flags:
            flags.append("duplicate_id")
        self.conn.execute(
            "UPDATE blk.runs SET id = ?, extra = ?, flags = ? WHERE id = ?",
            (new_id, _json(extra), _json(flags), original),
        )
        self.conn.execute("UPDATE blk.steps SET run_id = ? WHERE run_id = ?", (new_id, original))
        self._seen.add(new_id)
        self.add_problem(Problem(f"duplicate run id {original!r}: kept as {new_id!r}", line=row[2], run_id=new_id))

    def _flush(self) -> None:
        if self._runs:
            self.conn.executemany(self._run_sql, self._runs)
            self._runs.clear()
        if self._steps:
            self.conn.executemany(self._step_sql, self._steps)
            self._steps.clear()

    def commit(self) -> None:
        self._flush()
        self.conn.execute("COMMIT")
        self.conn.execute("BEGIN")
        self._last_commit = time.monotonic()

    def finish(self, **meta: str) -> None:
        for key, value in meta.items():
            self.set_meta(key, value)
        self.set_meta("complete", "1")
        self._flush()
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


@dataclass
class RunFilter:
    status: str | Sequence[str] | None = None
    agent: str | Sequence[str] | None = None
    search: str | None = None

    def where(self) -> tuple[str, list[Any]]:
        clauses, args = [], []
        for col, value in (("status", self.status), ("agent", self.agent)):
            if value is None or value == () or value == []:
                continue
            values = [value] if isinstance(value, str) else list(value)
            clauses.append(f"{col} IN ({', '.join('?' * len(values))})")
            args.extend(values)
        if self.search:
            like = "%" + self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            clauses.append(
                "(id LIKE ? ESCAPE '\\' OR agent LIKE ? ESCAPE '\\' OR error LIKE ? ESCAPE '\\'"
                " OR session LIKE ? ESCAPE '\\')"
            )
            args.extend([like] * 4)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _decode(row: sqlite3.Row, cls: type, json_defaults: dict[str, Any]) -> Any:
    values = dict(zip(row.keys(), row, strict=False))  # in C: this runs once per step of every run shown
    for key, default in json_defaults.items():
        if key in values:
            value = values[key]
            values[key] = orjson.loads(value) if value else default()
    return values


class Store:
    """Read-only queries over a store. Safe to use from one thread at a time (give each worker its own)."""

    def __init__(
        self, conn: sqlite3.Connection, *, label: str, source_format: str, path: str, sort_keys: dict | None = None
    ):
        self.conn = conn
        self.sort_keys = {**SORT_KEYS, **(sort_keys or {})}
        self.conn.row_factory = sqlite3.Row
        self.label = label  # the file the user named
        self.source_format = source_format
        self.path = path  # the SQLite file queried (the source itself, or its cache)

    # -- runs -----------------------------------------------------------------------------------
    def count_runs(self, flt: RunFilter | None = None) -> int:
        where, args = (flt or RunFilter()).where()
        return self.conn.execute(f"SELECT count(*) FROM runs{where}", args).fetchone()[0]

    def list_runs(
        self,
        flt: RunFilter | None = None,
        *,
        sort: str = "started",
        desc: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Run]:
        # Order ids first, then fetch just those rows: an in-place view computes every column of
        # every row it sorts (tool-call counts, normalised times), which is slow at 200k rows.
        where, args = (flt or RunFilter()).where()
        sql = f"SELECT id FROM runs{where} {self._order(sort, desc)}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args = [*args, limit, offset]
        ids = [r[0] for r in self.conn.execute(sql, args)]
        by_id = {run.id: run for run in self.runs_by_ids(ids)}
        return [by_id[i] for i in ids if i in by_id]

    def run_ids(
        self, flt: RunFilter | None = None, *, sort: str = "started", desc: bool = True, limit: int | None = None
    ) -> list[str]:
        where, args = (flt or RunFilter()).where()
        sql = f"SELECT id FROM runs{where} {self._order(sort, desc)}"
        if limit is not None:
            # Ordering ids alone is far cheaper than ordering whole rows of an in-place view.
            sql += " LIMIT ?"
            args = [*args, limit]
        return [r[0] for r in self.conn.execute(sql, args)]

    def runs_by_ids(self, run_ids: Sequence[str]) -> list[Run]:
        """List rows (no payload columns) of these runs, in no set order; unknown ids are left out.

        Lets a list that already knows its ordered ids fetch just the rows on screen, by primary key.
        """
        out: list[Run] = []
        cols = ", ".join(RUN_LIST_COLUMNS)
        for start in range(0, len(run_ids), 500):
            chunk = list(run_ids[start : start + 500])
            sql = f"SELECT {cols} FROM runs WHERE id IN ({', '.join('?' * len(chunk))})"
            out.extend(self._run(row) for row in self.conn.execute(sql, chunk))
        return out

    def _order(self, sort: str, desc: bool) -> str:
        # NULLs last either way; id breaks ties so paging is stable. Written so that SQLite can
        # walk an index on the sort column (runs(started_at) …) and stop after LIMIT rows.
        key = self.sort_keys[sort]
        direction = "DESC" if desc else "ASC"
        return f"ORDER BY {key} {direction} NULLS LAST, id {direction}"

    def get_run(self, run_id: str) -> Run:
        row = self.conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id!r} in {self.label}")
        return self._run(row)

    def has_run(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def latest_failed_run(self) -> Run | None:
        row = self.conn.execute(
            f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE status IN ('failed', 'timeout') "
            "ORDER BY started_at IS NULL, started_at DESC, id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE failed_steps > 0 "
                "ORDER BY started_at IS NULL, started_at DESC, id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else self._run(row)

    def agents(self) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT DISTINCT agent FROM runs WHERE agent IS NOT NULL ORDER BY agent")
        ]

    def statuses(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT DISTINCT status FROM runs ORDER BY status")]

    def _run(self, row: sqlite3.Row) -> Run:
        values = _decode(row, Run, {"flags": list, "metadata": dict, "events": list, "extra": dict})
        for col in ("total_tokens_in", "total_tokens_out", "total_credits", "total_cost_usd"):
            values.pop(col, None)
        return Run(**values)

    # -- steps ----------------------------------------------------------------------------------
    def steps(self, run_id: str, *, payloads: bool = False) -> list[Step]:
        """Every step of a run in execution (pre-)order; without payload columns unless asked."""
        cols = "*" if payloads else ", ".join(STEP_TREE_COLUMNS)
        rows = self.conn.execute(f"SELECT {cols} FROM steps WHERE run_id = ? ORDER BY ord", (run_id,))
        return [self._step(r) for r in rows]

    def children(self, run_id: str, parent_id: str | None, *, limit: int | None = None, offset: int = 0) -> list[Step]:
        """Child steps in order; limit/offset page through a parent with very many children."""
        cols = ", ".join(STEP_TREE_COLUMNS)
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        if parent_id is None:
            rows = self.conn.execute(
                f"SELECT {cols} FROM steps WHERE run_id = ? AND parent_id IS NULL ORDER BY seq{page}", (run_id,)
            )
        else:
            rows = self.conn.execute(
                f"SELECT {cols} FROM steps WHERE run_id = ? AND parent_id = ? ORDER BY seq{page}", (run_id, parent_id)
            )
        return [self._step(r) for r in rows]

    def count_children(self, run_id: str, parent_id: str | None) -> int:
        if parent_id is None:
            sql, args = "SELECT count(*) FROM steps WHERE run_id = ? AND parent_id IS NULL", (run_id,)
        else:
            sql, args = "SELECT count(*) FROM steps WHERE run_id = ? AND parent_id = ?", (run_id, parent_id)
        return self.conn.execute(sql, args).fetchone()[0]

    def get_step(self, run_id: str, step_id: str) -> Step:
        row = self.conn.execute("SELECT * FROM steps WHERE run_id = ? AND id = ?", (run_id, step_id)).fetchone()
        if row is None:
            raise NotFound(f"no step {step_id!r} in run {run_id!r}")
        return self._step(row)

    def ancestors(self, run_id: str, step_id: str) -> list[str]:
        """Ids from the root down to the step's parent."""
        chain: list[str] = []
        seen = {step_id}
        current = step_id
        while True:
            row = self.conn.execute(
                "SELECT parent_id FROM steps WHERE run_id = ? AND id = ?", (run_id, current)
            ).fetchone()
            if row is None or row[0] is None or row[0] in seen:
                break
            current = row[0]
            seen.add(current)
            chain.append(current)
        return chain[::-1]

    def failed_step_positions(self, run_id: str) -> list[tuple[str, int, int]]:
        """(id, ord, size) of every failed or timed-out step, in execution order."""
        return [
            (r[0], r[1], r[2])
            for r in self.conn.execute(
                "SELECT id, ord, size FROM steps WHERE run_id = ? AND status IN ('failed', 'timeout') ORDER BY ord",
                (run_id,),
            )
        ]

    def first_failed_step(self, run_id: str) -> Step | None:
        from .analysis import root_cause

        chosen = root_cause(self.failed_step_positions(run_id))
        return None if chosen is None else self.get_step(run_id, chosen)

    def run_tree(self, run_id: str, *, payloads: bool = True) -> Run:
        """The run with all steps linked into run.steps' children (payload columns unless told not)."""
        from .model import step_tree

        run = self.get_run(run_id)
        run.steps = self.steps(run_id, payloads=payloads)
        step_tree(run.steps)
        return run

    def _step(self, row: sqlite3.Row) -> Step:
        return Step(**_decode(row, Step, {"flags": list, "events": list, "extra": dict}))

    # -- store-wide -----------------------------------------------------------------------------
    def stats(self, by: str | None = None) -> list:
        """Per-group GroupStats (by 'agent' or 'status'; one 'all' group otherwise)."""
        from .analysis import group_stats

        group = {"agent": "agent", "status": "status", None: "'all'"}[by]
        rows = self.conn.execute(
            f"SELECT {group}, status, duration_ms, total_tokens_in, total_tokens_out, total_credits,"
            " total_cost_usd FROM runs"
        )
        return group_stats(tuple(r) for r in rows)

    def problems(self, limit: int | None = None) -> list[Problem]:
        try:
            sql = "SELECT line, run_id, message FROM problems ORDER BY n"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            return [Problem(r[2], line=r[0], run_id=r[1], source_file=self.label) for r in self.conn.execute(sql)]
        except sqlite3.OperationalError:
            return []

    def problem_count(self) -> int:
        try:
            return self.conn.execute("SELECT count(*) FROM problems").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    def iter_runs(self, run_ids: Iterable[str] | None = None) -> Iterator[Run]:
        """Full runs (with steps) one at a time, for export."""
        ids = list(run_ids) if run_ids is not None else self.run_ids(sort="started", desc=False)
        for run_id in ids:
            run = self.get_run(run_id)
            run.steps = self.steps(run_id, payloads=True)
            yield run

    def close(self) -> None:
        self.conn.close()


def connect_readonly(path: str) -> sqlite3.Connection:
    from .sources import ro_uri

    conn = sqlite3.connect(ro_uri(path), uri=True, check_same_thread=False)
    return conn


__all__ = ["Store", "StoreWriter", "RunFilter", "SORT_KEYS", "TOTAL_FIELDS", "create_schema", "connect_readonly"]
