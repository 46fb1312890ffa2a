"""Reading a store: the run filter and the read-only queries the CLI and the viewer share."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from ..analysis import GroupStats
from ..errors import NotFound
from ..model import FAILED_STATUSES, Problem, Run, Step, step_tree
from ..sqlite_uri import ro_uri
from .schema import RUN_COLUMNS, RUN_LIST_COLUMNS, RUN_TOTAL_COLUMNS, STEP_TREE_COLUMNS
from .sessions import SessionKey, SessionRow, count_sessions, session_keys, session_rows
from .sort_keys import BY_NAME, SORT_KEYS, STARTED
from .stats import Scope

_FAILED_SQL = ", ".join(f"'{status}'" for status in sorted(FAILED_STATUSES))


@dataclass
class RunFilter:
    status: str | Sequence[str] | None = None
    agent: str | Sequence[str] | None = None
    search: str | None = None
    model: str | None = None  # runs with a call of this model
    tool: str | None = None  # runs with a call of this tool
    since: str | None = None  # runs started at or after this ISO time (UTC, as stored)
    until: str | None = None  # … and before this one
    session: str | None = None  # runs of this session

    def where(self, *, param: str = "?", like: str = "LIKE", calls: str = "steps") -> tuple[str, list[Any]]:
        """The WHERE clause over the store's run columns (" WHERE …" or "") and its arguments.

        SQLite's by default; PostgreSQL's with param="%s", like="ILIKE" (SQLite's LIKE ignores ASCII
        case) and `calls` a relation of the model and tool calls (run_id, model, kind, name).
        """
        clauses, args = [], []
        for col, value in (("status", self.status), ("agent", self.agent)):
            if value is None or value == () or value == []:
                continue
            values = [value] if isinstance(value, str) else list(value)
            clauses.append(f"{col} IN ({', '.join([param] * len(values))})")
            args.extend(values)
        if self.search:
            like_text = "%" + self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            matches = " OR ".join(f"{col} {like} {param} ESCAPE '\\'" for col in ("id", "agent", "error", "session"))
            clauses.append(f"({matches})")
            args.extend([like_text] * 4)
        if self.model is not None:
            clauses.append(f"id IN (SELECT run_id FROM {calls} WHERE model = {param})")
            args.append(self.model)
        if self.tool is not None:
            clauses.append(f"id IN (SELECT run_id FROM {calls} WHERE kind = 'tool' AND name = {param})")
            args.append(self.tool)
        if self.session is not None:
            clauses.append("session = ?")
            args.append(self.session)
        if self.since is not None:
            clauses.append(f"started_at >= {param}")
            args.append(self.since)
        if self.until is not None:
            clauses.append(f"started_at < {param}")
            args.append(self.until)
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args

    @property
    def active(self) -> bool:
        """Whether it leaves any run out."""
        return self.where()[0] != ""


def _decode(row: sqlite3.Row, json_defaults: dict[str, Any]) -> dict[str, Any]:
    values = dict(zip(row.keys(), row, strict=False))  # in C: this runs once per step of every run shown
    for key, default in json_defaults.items():
        if key in values:
            value = values[key]
            values[key] = orjson.loads(value) if value else default()
    return values


class Store:
    """Read-only queries over a store. Safe to use from one thread at a time (give each worker its own)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        label: str,
        source_format: str,
        path: str,
        sort_keys: dict[str, str] | None = None,
        estimated: bool = True,
    ):
        """sort_keys: ORDER BY expressions an in-place source uses instead of the table's (by name).
        estimated: whether model calls without a cost were priced (False with --no-estimate)."""
        unknown = set(sort_keys or ()) - set(BY_NAME)
        if unknown:
            raise ValueError(f"unknown sort keys: {', '.join(sorted(unknown))}")
        self.conn = conn
        self._order_by = {key.name: key.sql for key in SORT_KEYS} | (sort_keys or {})
        self.conn.row_factory = sqlite3.Row
        self.label = label  # the file the user named
        self.source_format = source_format
        self.path = path  # the SQLite file queried (the source itself, or its cache)
        self.estimated = estimated

    # -- runs -----------------------------------------------------------------------------------
    def count_runs(self, flt: RunFilter | None = None) -> int:
        where, args = (flt or RunFilter()).where()
        return self.conn.execute(f"SELECT count(*) FROM runs{where}", args).fetchone()[0]

    def list_runs(
        self,
        flt: RunFilter | None = None,
        *,
        sort: str = STARTED.name,
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
        self, flt: RunFilter | None = None, *, sort: str = STARTED.name, desc: bool = True, limit: int | None = None
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
        key = self._order_by[sort]
        direction = "DESC" if desc else "ASC"
        return f"ORDER BY {key} {direction} NULLS LAST, id {direction}"

    # -- sessions -------------------------------------------------------------------------------
    def sessions(
        self, flt: RunFilter | None = None, *, sort: str = STARTED.name, desc: bool = True, limit: int | None = None
    ) -> list[SessionRow]:
        """The runs `flt` keeps grouped by session (a run without one alone), in sort key `sort`'s order."""
        keys = self.session_keys(flt, sort=sort, desc=desc, limit=limit)
        by_key = {row.key: row for row in self.session_rows(keys, flt)}
        return [by_key[k] for k in keys if k in by_key]

    def session_keys(
        self, flt: RunFilter | None = None, *, sort: str = STARTED.name, desc: bool = True, limit: int | None = None
    ) -> list[SessionKey]:
        """The groups of session_rows in order, without their summaries (cheap enough for every group)."""
        where, args = (flt or RunFilter()).where()
        return session_keys(self.conn, where, args, self._order_by, sort=sort, desc=desc, limit=limit)

    def session_rows(self, keys: Sequence[SessionKey], flt: RunFilter | None = None) -> list[SessionRow]:
        """Summaries of these groups over the runs `flt` keeps, in no set order (by key, like runs_by_ids)."""
        where, args = (flt or RunFilter()).where()
        return session_rows(self.conn, where, args, keys)

    def count_sessions(self, flt: RunFilter | None = None) -> int:
        where, args = (flt or RunFilter()).where()
        return count_sessions(self.conn, where, args)

    def session_run_ids(self, run_id: str) -> list[str]:
        """The runs of `run_id`'s session in the order they started ([run_id] alone without a session)."""
        row = self.conn.execute("SELECT session FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id!r} in {self.label}")
        if row[0] is None:
            return [run_id]
        return self.run_ids(RunFilter(session=row[0]), sort=STARTED.name, desc=False)

    def get_run(self, run_id: str) -> Run:
        row = self.conn.execute(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run {run_id!r} in {self.label}")
        return self._run(row)

    def has_run(self, run_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None

    def latest_failed_run(self) -> Run | None:
        row = self.conn.execute(
            f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE status IN ({_FAILED_SQL}) "
            "ORDER BY started_at IS NULL, started_at DESC, id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            row = self.conn.execute(
                f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE failed_steps > 0 "
                "ORDER BY started_at IS NULL, started_at DESC, id DESC LIMIT 1"
            ).fetchone()
        return None if row is None else self._run(row)

    def models(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """The models each run's model calls used (by how many calls, then name); runs with none left out."""
        counts: dict[str, list[tuple[int, str]]] = {}
        for start in range(0, len(run_ids), 500):
            chunk = list(run_ids[start : start + 500])
            sql = (
                f"SELECT run_id, model, count(*) FROM steps WHERE run_id IN ({', '.join('?' * len(chunk))})"
                " AND model IS NOT NULL GROUP BY run_id, model"
            )
            for run_id, model, n in self.conn.execute(sql, chunk):
                counts.setdefault(run_id, []).append((-n, model))
        return {run_id: [model for _, model in sorted(pairs)] for run_id, pairs in counts.items()}

    def agents(self) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT DISTINCT agent FROM runs WHERE agent IS NOT NULL ORDER BY agent")
        ]

    def _run(self, row: sqlite3.Row) -> Run:
        values = _decode(row, {"flags": list, "metadata": dict, "events": list, "extra": dict})
        for col in RUN_TOTAL_COLUMNS:
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

    def steps_from(self, run_id: str, first_ord: int, *, limit: int) -> list[Step]:
        """Up to `limit` steps in execution order from position `first_ord` on (no payload columns)."""
        cols = ", ".join(STEP_TREE_COLUMNS)
        rows = self.conn.execute(
            f"SELECT {cols} FROM steps WHERE run_id = ? AND ord >= ? ORDER BY ord LIMIT ?", (run_id, first_ord, limit)
        )
        return [self._step(r) for r in rows]

    def count_children(self, run_id: str, parent_id: str | None) -> int:
        if parent_id is None:
            return self.conn.execute(
                "SELECT count(*) FROM steps WHERE run_id = ? AND parent_id IS NULL", (run_id,)
            ).fetchone()[0]
        return self.conn.execute(
            "SELECT count(*) FROM steps WHERE run_id = ? AND parent_id = ?", (run_id, parent_id)
        ).fetchone()[0]

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
                f"SELECT id, ord, size FROM steps WHERE run_id = ? AND status IN ({_FAILED_SQL}) ORDER BY ord",
                (run_id,),
            )
        ]

    def first_failed_step(self, run_id: str) -> Step | None:
        from ..analysis import root_cause

        chosen = root_cause(self.failed_step_positions(run_id))
        return None if chosen is None else self.get_step(run_id, chosen)

    def run_tree(self, run_id: str, *, payloads: bool = True) -> Run:
        """The run with all steps linked into run.steps' children (payload columns unless told not)."""
        run = self.get_run(run_id)
        run.steps = self.steps(run_id, payloads=payloads)
        step_tree(run.steps)
        return run

    def subtree(self, run_id: str, step_id: str, *, payloads: bool = True) -> Step:
        """A step with every step below it linked into its children (payload columns unless told not)."""
        top = self.get_step(run_id, step_id)
        cols = "*" if payloads else ", ".join(STEP_TREE_COLUMNS)
        rows = self.conn.execute(
            f"SELECT {cols} FROM steps WHERE run_id = ? AND ord > ? AND ord < ? ORDER BY ord",
            (run_id, top.ord, top.ord + top.size),
        )
        step_tree([top, *(self._step(r) for r in rows)])
        return top

    def _step(self, row: sqlite3.Row) -> Step:
        values = _decode(row, {"flags": list, "events": list, "extra": dict})
        values["cost_estimated"] = bool(values.get("cost_estimated"))  # stored 0/1, NULL in older stores
        return Step(**values)

    # -- store-wide -----------------------------------------------------------------------------
    def stats(self, by: str | None = None, flt: RunFilter | None = None) -> list[GroupStats]:
        """Per-group stats of the runs `flt` keeps: by one of stats.GROUPINGS (agent, status, session,
        day, hour: groups of runs; model, tool: groups of calls), or one 'all' group."""
        with self.stats_scope(flt) as scope:
            return scope.groups(by)

    def stats_scope(self, flt: RunFilter | None = None) -> Scope:
        """The runs `flt` keeps, held for several stats questions (close it, or use it in a with)."""
        where, args = (flt or RunFilter()).where()
        return Scope(self.conn, where, args, priced=self.estimated)

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
        ids = list(run_ids) if run_ids is not None else self.run_ids(desc=False)
        for run_id in ids:
            run = self.get_run(run_id)
            run.steps = self.steps(run_id, payloads=True)
            yield run

    def close(self) -> None:
        self.conn.close()


def connect_readonly(path: str) -> sqlite3.Connection:
    return sqlite3.connect(ro_uri(path), uri=True, check_same_thread=False)
