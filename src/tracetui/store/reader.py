"""Reading a store: the run filter and the read-only queries the CLI and the viewer share."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from .. import jsonsafe
from ..errors import NotFound
from ..model import Problem, Run, Step, step_tree
from ..sqlite_uri import ro_uri
from .schema import (
    RUN_COLUMNS,
    RUN_LIST_COLUMNS,
    RUN_TOTAL_COLUMNS,
    STEP_COLUMNS,
    STEP_TREE_COLUMNS,
    typed,
)
from .sessions import FAILED_SQL as _FAILED_SQL
from .sessions import SessionKey, SessionRow, count_sessions, session_keys, session_rows
from .sort_keys import BY_NAME, SORT_KEYS, STARTED

if TYPE_CHECKING:
    # Imported where they are used: the viewer's first screen needs none of them (issue 15).
    from ..analysis import GroupStats
    from . import search
    from .stats import Scope

# An id or name compared with a parameter: the parameter may be its bytes (Store._key), which SQLite
# compares with text only once they are cast to text.
_ID = "CAST(? AS TEXT)"
# Whether a name, as it is, is one of the file's (else a name shown with \xNN stands for its bytes).
_EXISTS = {
    "id": f"SELECT 1 FROM runs WHERE id = {_ID} LIMIT 1",
    "status": f"SELECT 1 FROM runs WHERE status = {_ID} LIMIT 1",
    "agent": f"SELECT 1 FROM runs WHERE agent = {_ID} LIMIT 1",
    "model": f"SELECT 1 FROM steps WHERE model = {_ID} LIMIT 1",
    "tool": f"SELECT 1 FROM steps WHERE kind = 'tool' AND name = {_ID} LIMIT 1",
}


@dataclass
class RunFilter:
    status: str | Sequence[str] | None = None
    agent: str | Sequence[str] | None = None
    search: str | None = None
    model: str | None = None  # runs with a call of this model
    tool: str | None = None  # runs with a call of this tool
    since: str | None = None  # runs started at or after this ISO time (UTC, as stored)
    until: str | None = None  # … and before this one
    file: str | None = None  # runs read from a file whose path (in a folder: within it) contains this text
    project: str | None = (
        None  # runs whose project (metadata "project": a coding agent's cwd; else agent) contains this
    )
    ids: Sequence[str] | None = None  # only these runs (at most a few hundred: one SQL parameter each)
    session: str | None = None  # runs of this session
    # Runs with a step whose text holds `search` (search.runs_matching found them): kept as well.
    step_hits: frozenset[str] | None = None

    def where(
        self,
        key: Callable[[str, Any], Any] | None = None,
        *,
        param: str = "?",
        like: str = "LIKE",
        calls: str = "steps",
    ) -> tuple[str, list[Any]]:
        """The WHERE clause over the store's run columns (" WHERE …" or "") and its arguments.

        SQLite's by default; PostgreSQL's with param="%s", like="ILIKE" (SQLite's LIKE ignores ASCII
        case) and `calls` a relation of the model and tool calls (run_id, model, kind, name).
        key(what, value) gives the parameter for a name chosen from the file's own (an agent, a model,
        a tool: see Store._key), else the name as it is.
        """
        value_of = key or (lambda _what, value: value)
        ident = _ID if param == "?" else param  # SQLite compares a name with text only once cast to text
        clauses: list[str] = []
        args: list[Any] = []
        for col, value in (("status", self.status), ("agent", self.agent)):
            if value is None or value == () or value == []:
                continue
            values = [value] if isinstance(value, str) else list(value)
            clauses.append(f"{col} IN ({', '.join([ident] * len(values))})")
            args.extend(value_of(col, v) for v in values)
        if self.ids is not None:
            ids = [value_of("id", run_id) for run_id in self.ids]
            if key is None:  # (a server's: each id also as what it shows, as Store._key finds them)
                from . import search

                ids += [form for run_id in self.ids for form in search.text_forms(run_id)[1:]]
            clauses.append(f"id IN ({', '.join([ident] * len(ids))})")
            args.extend(ids)
        if self.file:
            from . import search

            clauses.append(f"source_file {like} {param} ESCAPE '\\'")
            args.append(search.contains(self.file))
        if self.project:
            # A run without a project in its metadata is matched by its agent, where coding agents put
            # the project's name. (PostgreSQL: by its agent only; its metadata is not parsed here.)
            project = (
                "coalesce(CASE WHEN json_valid(metadata) THEN json_extract(metadata, '$.project') END, agent)"
                if param == "?"
                else "agent"
            )
            from . import search

            clauses.append(f"{project} {like} {param} ESCAPE '\\'")
            args.append(search.contains(self.project))
        if self.search:
            from . import search

            columns = ("id", "agent", "error", "session")
            forms = search.text_forms(self.search)  # what was typed, and what it shows where it escapes
            if param == "?":  # SQLite: text past a NUL character too (search.holds)
                found = []
                for form in forms:
                    nul = "\0" in form
                    for col in columns:
                        found.append(search.holds(col, "?", "?", nul))
                        args.extend([form] if nul else [search.contains(form), form])
            else:
                found = [f"{col} {like} {param} ESCAPE '\\'" for _ in forms for col in columns]
                args.extend(search.contains(form) for form in forms for _ in columns)
            matches = " OR ".join(found)
            raw = search.bytes_form(self.search) if param == "?" else None
            if raw is not None:  # what is shown as \\xNN, as a file read in place holds it
                nul, as_text = b"\0" in raw, "CAST(? AS TEXT)"
                matches += "".join(f" OR {search.holds(col, as_text, as_text, nul)}" for col in columns)
                for _ in columns:
                    args.extend([raw] if nul else [search.contains_bytes(self.search), raw])
            if self.step_hits is not None:
                # One argument however many runs: a JSON array in SQLite, an array in PostgreSQL.
                if param == "?":
                    hits = [value_of("id", run_id) for run_id in sorted(self.step_hits)]
                    matches += " OR id IN (SELECT value FROM json_each(CAST(? AS TEXT)))"
                    args.append(_json_texts(hit for hit in hits if not _has_nul(hit)))
                    # (SQLite's JSON reads a string only up to a NUL character: such an id is bound as it is)
                    with_nul = [hit for hit in hits if _has_nul(hit)]
                    if with_nul:
                        matches += f" OR id IN ({', '.join([_ID] * len(with_nul))})"
                        args.extend(with_nul)
                else:
                    matches += f" OR id = ANY({param})"
                    args.append(sorted(self.step_hits))
            clauses.append(f"({matches})")
        if self.model is not None:
            clauses.append(f"id IN (SELECT run_id FROM {calls} WHERE model = {ident})")
            args.append(value_of("model", self.model))
        if self.tool is not None:
            clauses.append(f"id IN (SELECT run_id FROM {calls} WHERE kind = 'tool' AND name = {ident})")
            args.append(value_of("tool", self.tool))
        if self.session is not None:
            clauses.append(f"session = {ident}")
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


def _has_nul(value: str | bytes) -> bool:
    return "\0" in value if isinstance(value, str) else b"\0" in value


def _json_texts(values: Iterable[str | bytes]) -> str | bytes:
    """A JSON array of texts, for json_each(CAST(? AS TEXT)): text that is not UTF-8 (its bytes, or a str
    holding them as surrogates) kept as those bytes, which a JSON text in SQLite may hold."""
    texts = [v.decode("utf-8", "surrogateescape") if isinstance(v, bytes) else v for v in values]
    try:
        return orjson.dumps(texts).decode()
    except TypeError:  # surrogates: the bytes they stand for go in as they are
        parts = []
        for text in texts:
            quoted = json.dumps(text, ensure_ascii=False)
            try:
                parts.append(quoted.encode("utf-8", "surrogateescape"))
            except UnicodeEncodeError:  # a lone surrogate no byte stands for: no id in SQLite holds one
                parts.append(json.dumps(jsonsafe.visible_surrogates(text)).encode())
        return b"[" + b",".join(parts) + b"]"


def _decode(row: sqlite3.Row, json_defaults: dict[str, Any]) -> dict[str, Any]:
    values = dict(zip(row.keys(), row, strict=False))  # in C: this runs once per step of every run shown
    for key, default in json_defaults.items():
        if key in values:
            value = values[key]
            values[key] = orjson.loads(value) if value else default()
    return values


ODD_STEPS = "odd_steps"
"""A TEMP view (run_id, message) of a source whose step trees are built in Python (sources/sqlite_steps.py):
what a run's steps show with \\xNN, read as odd values met once the run's steps are read."""
ODD_NUMBERS = "odd_numbers"
"""A TEMP view (line, run_id, run_key, message) of the same sources: the numbers and times of their rows
the views cannot use (shown as -), run by run (run_key: RUN_KEY of the runs view). Met by a run list
(numbers_met) and with a run's tree; the full list under `w` (odd_values) says them again, once."""
RUN_KEY = "run_key"
"""The extra column of such a source's `runs` view that holds the key its rows name their run by."""
RUN_ROWS = "run_rows"
"""A TEMP view (run_key, row_key) of a source whose run's tree reads rows named by other keys than its
own (OpenCode: a subagent session's rows): the keys of ODD_NUMBERS rows met with that run."""
_BY_KEY = 200  # runs listed up to which their odd numbers are looked up run by run (by index), not in one pass


def undecoded_text(data: bytes) -> str:
    """A connection's text_factory once a file has shown text that is not UTF-8 (see Store._rows)."""
    return data.decode("utf-8", "surrogateescape")


# SQLite's own storage class for what each column should hold; anything else in a row is odd.
_STORAGE = {str: "'text'", int: "'integer'", float: "'real', 'integer'"}
_MAX_VALUE_PROBLEMS = 2000


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
        trusted: bool = True,
        estimated: bool = True,
    ):
        """sort_keys: ORDER BY expressions an in-place source uses instead of the table's (by name).

        trusted: False for a file tracetui did not write (a source read in place): any column of any
        row may hold any type, so every value is made its column's type as it is read (schema.typed),
        and what had to be changed is listed with the problems.
        estimated: whether model calls without a cost were priced (False with --no-estimate).
        """
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
        self.trusted = trusted
        self._undecoded = False  # text that is not UTF-8 was met: read with undecoded_text from then on
        self._value_problems: dict[tuple[str, str | None, str | None], Problem] = {}
        self._scanned = False
        self._keys: dict[tuple[Any, ...], Any] = {}
        self._steps_met: set[Any] = set()  # runs whose odd step values (ODD_STEPS) were taken in

    def _rows(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        return list(self._iter_rows(sql, args))

    def _iter_rows(self, sql: str, args: Sequence[Any] = ()) -> Iterator[sqlite3.Row]:
        """The rows of a query; text that is not UTF-8 switches the connection to a tolerant decoding.

        The default decoding is C and fast; the tolerant one costs a Python call per text value, so
        only files that need it pay for it. The query is run again from where it failed.
        """
        done = 0
        try:
            for row in self.conn.execute(sql, args):
                yield row
                done += 1
            return
        except sqlite3.OperationalError as exc:
            if self._undecoded or "UTF-8" not in str(exc):
                raise
        self.conn.text_factory = undecoded_text
        self._undecoded, self.trusted = True, False
        for n, row in enumerate(self.conn.execute(sql, args)):
            if n >= done:
                yield row

    def _typed(self, values: dict[str, Any], table: str) -> dict[str, Any]:
        """values with each the type of its column, for an untrusted file; what changed is kept as problems."""
        changes = typed(values, undecoded=self._undecoded)
        if table == "steps" and "id" in values and values["id"] in (None, ""):
            values["id"] = f"no-id-{values.get('ord')}"  # visible, unique in the run (ord is its position)
            changes.append(f"the step has no id: shown as {values['id']}")
        if changes:
            run_id = values.get("run_id" if table == "steps" else "id")
            step_id = values.get("id") if table == "steps" else None
            where = f"run {jsonsafe.quoted(run_id)}" + (
                f", step {jsonsafe.quoted(step_id)}" if table == "steps" else ""
            )
            key = (table, str(run_id), str(step_id))
            if key not in self._value_problems and len(self._value_problems) < _MAX_VALUE_PROBLEMS:
                line = values.get("source_line") if table == "runs" else None
                self._value_problems[key] = Problem(
                    f"{where}: {'; '.join(changes)}", line=line, run_id=str(run_id), source_file=self.label
                )
        return values

    def _key(self, value: Any, exists: str, *context: Any) -> Any:
        """The parameter that finds an id or name this store handed out, compared with _ID in SQL.

        A user types what was shown: control, bidi and zero-width characters as `\\x1b` or `\\u202e`
        (display.safe), and in a file read in place text that is not UTF-8 with \\xNN (schema.typed).
        Such text is found by what it stands for (jsonsafe.unshown), unless a name is that text as it
        is (`exists`, a query of context + a candidate, says which one is there).
        """
        if type(value) is not str or "\\" not in value:
            return value
        cache = (exists, *context, value)
        if cache not in self._keys:
            self._keys[cache] = value
            for candidate in (value, *jsonsafe.unshown(value)):
                if self.conn.execute(exists, (*context, candidate)).fetchone() is not None:
                    self._keys[cache] = candidate
                    break
        return self._keys[cache]

    def _where(self, flt: RunFilter | None) -> tuple[str, list[Any]]:
        flt = flt or RunFilter()
        calls = "steps"
        if flt.model is not None or flt.tool is not None:
            from .stats import calls_relation

            calls = calls_relation(self.conn)

        def key(what: str, value: Any) -> Any:
            # A model or tool is looked for where the filter looks: a file read in place whose steps view
            # builds every run's tree in Python has its calls in SQL (calls_relation).
            return self._key(value, _EXISTS[what].replace(" FROM steps ", f" FROM {calls} "))

        return flt.where(key, calls=calls)

    def _run_key(self, run_id: str) -> Any:
        return self._key(run_id, f"SELECT 1 FROM runs WHERE id = {_ID} LIMIT 1")

    def _steps_key(self, run_id: str) -> Any:
        """_run_key, for reading the run's steps: what they show with \\xNN is then met (ODD_STEPS)."""
        key = self._run_key(run_id)
        if not self.trusted and not self._scanned and key not in self._steps_met:  # (a scan said them all)
            self._steps_met.add(key)
            try:
                rows = self._rows(f"SELECT run_id, message FROM {ODD_STEPS} WHERE run_id = {_ID}", (key,))
            except sqlite3.OperationalError:
                rows = []  # not a source whose trees are built in Python
            for row_id, message in rows:
                shown = self._id(row_id)
                if len(self._value_problems) < _MAX_VALUE_PROBLEMS:
                    problem = Problem(f"run {jsonsafe.quoted(shown)}: {message}", run_id=shown, source_file=self.label)
                    self._value_problems.setdefault((ODD_STEPS, str(shown), message), problem)
        return key

    def numbers_met(self, run_ids: Sequence[str]) -> None:
        """The odd numbers and times of these runs' rows in a file read in place (ODD_NUMBERS), as met:
        a run list shows what its rows sum to. Said as a run's tree says them (one problem per row), so
        neither reading the tree nor the list under `w` says one again."""
        if self.trusted or self._scanned or not run_ids:
            return
        from ..sources.sqlsql import text_param

        wanted = set(run_ids)
        try:
            keys = [key for run_id, key in self._rows(f"SELECT id, {RUN_KEY} FROM runs") if self._id(run_id) in wanted]
            rows: list[tuple] = []
            if len(keys) <= _BY_KEY:
                keys = rows_keys(self.conn, keys)
                for key in keys:
                    param = _ID if isinstance(key, str) else "?"
                    sql = f"SELECT line, run_id, message FROM {ODD_NUMBERS} WHERE {RUN_KEY} = {param}"
                    rows += [tuple(row) for row in self._rows(sql, (text_param(key),))]
            else:  # (a row names the run whose tree holds it)
                sql = f"SELECT line, run_id, message FROM {ODD_NUMBERS}"
                rows = [
                    (line, row_id, message) for line, row_id, message in self._rows(sql) if self._id(row_id) in wanted
                ]
        except sqlite3.OperationalError:
            return  # not a source with the view
        for line, row_id, message in rows:
            shown = self._id(row_id)
            if len(self._value_problems) < _MAX_VALUE_PROBLEMS:
                problem = Problem(
                    f"run {jsonsafe.quoted(shown)}: {message}", line=line, run_id=shown, source_file=self.label
                )
                self._value_problems.setdefault((ODD_STEPS, str(shown), message), problem)

    def _step_key(self, run_key: Any, step_id: str) -> Any:
        return self._key(step_id, f"SELECT 1 FROM steps WHERE run_id = {_ID} AND id = {_ID} LIMIT 1", run_key)

    # -- runs -----------------------------------------------------------------------------------
    def count_runs(self, flt: RunFilter | None = None) -> int:
        where, args = self._where(flt)
        return self._rows(f"SELECT count(*) FROM runs{where}", args)[0][0]

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
        where, args = self._where(flt)
        sql = f"SELECT id FROM runs{where} {self._order(sort, desc)}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args = [*args, limit, offset]
        ids = [self._id(r[0]) for r in self._rows(sql, args)]
        by_id = {run.id: run for run in self.runs_by_ids(ids)}
        return [by_id[i] for i in ids if i in by_id]

    def run_ids(
        self, flt: RunFilter | None = None, *, sort: str = STARTED.name, desc: bool = True, limit: int | None = None
    ) -> list[str]:
        where, args = self._where(flt)
        sql = f"SELECT id FROM runs{where} {self._order(sort, desc)}"
        if limit is not None:
            # Ordering ids alone is far cheaper than ordering whole rows of an in-place view.
            sql += " LIMIT ?"
            args = [*args, limit]
        return [self._id(r[0]) for r in self._rows(sql, args)]

    def _id(self, value: Any) -> str:
        """A run id as the Run made from its row will hold it (an untrusted file may hold numbers)."""
        if self.trusted or (type(value) is str and not self._undecoded):
            return value
        values = {"id": value}
        typed(values, undecoded=self._undecoded)  # what changed is said when the run's row is read
        return values["id"]

    def runs_by_ids(self, run_ids: Sequence[str]) -> list[Run]:
        """List rows (no payload columns) of these runs, in no set order; unknown ids are left out.

        Lets a list that already knows its ordered ids fetch just the rows on screen, by primary key.
        """
        out: list[Run] = []
        cols = ", ".join(RUN_LIST_COLUMNS)
        for start in range(0, len(run_ids), 500):
            chunk = [self._run_key(run_id) for run_id in run_ids[start : start + 500]]
            sql = f"SELECT {cols} FROM runs WHERE id IN ({', '.join([_ID] * len(chunk))})"
            out.extend(self._run(row) for row in self._rows(sql, chunk))
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
        where, args = self._where(flt)
        return session_keys(self.conn.execute, where, args, self._order_by, sort=sort, desc=desc, limit=limit)

    def session_rows(self, keys: Sequence[SessionKey], flt: RunFilter | None = None) -> list[SessionRow]:
        """Summaries of these groups over the runs `flt` keeps, in no set order (by key, like runs_by_ids)."""
        where, args = self._where(flt)
        return session_rows(self.conn.execute, where, args, keys)

    def count_sessions(self, flt: RunFilter | None = None) -> int:
        where, args = self._where(flt)
        return count_sessions(self.conn.execute, where, args)

    def session_run_ids(self, run_id: str) -> list[str]:
        """The runs of `run_id`'s session in the order they started ([run_id] alone without a session)."""
        rows = self._rows(f"SELECT session FROM runs WHERE id = {_ID}", (self._run_key(run_id),))
        row = rows[0] if rows else None
        if row is None:
            raise NotFound(f"no run {jsonsafe.quoted(run_id)} in {self.label}")
        if row[0] is None:
            return [run_id]
        return self.run_ids(RunFilter(session=row[0]), sort=STARTED.name, desc=False)

    def get_run(self, run_id: str) -> Run:
        rows = self._rows(f"SELECT {', '.join(RUN_COLUMNS)} FROM runs WHERE id = {_ID}", (self._run_key(run_id),))
        if not rows:
            raise NotFound(f"no run {jsonsafe.quoted(run_id)} in {self.label}")
        return self._run(rows[0])

    def has_run(self, run_id: str) -> bool:
        return bool(self._rows(f"SELECT 1 FROM runs WHERE id = {_ID}", (self._run_key(run_id),)))

    def latest_failed_run(self) -> Run | None:
        rows = self._rows(
            f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE status IN ({_FAILED_SQL}) "
            "ORDER BY started_at IS NULL, started_at DESC, id DESC LIMIT 1"
        )
        if not rows:
            rows = self._rows(
                f"SELECT {', '.join(RUN_LIST_COLUMNS)} FROM runs WHERE failed_steps > 0 "
                "ORDER BY started_at IS NULL, started_at DESC, id DESC LIMIT 1"
            )
        return self._run(rows[0]) if rows else None

    def models(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        """The models each run's model calls used (by how many calls, then name); runs with none left out."""
        counts: dict[str, list[tuple[int, str]]] = {}
        for start in range(0, len(run_ids), 500):
            chunk = [self._run_key(run_id) for run_id in run_ids[start : start + 500]]
            sql = (
                f"SELECT run_id, model, count(*) FROM steps WHERE run_id IN ({', '.join([_ID] * len(chunk))})"
                " AND model IS NOT NULL GROUP BY run_id, model"
            )
            for run_id, model, n in self._iter_rows(sql, chunk):
                if not self.trusted:  # a file read in place: a model may be a number, a BLOB, anything
                    run_id, model = self._id(run_id), self._typed({"model": model}, "models")["model"]
                counts.setdefault(run_id, []).append((-n, model))
        return {run_id: [model for _, model in sorted(pairs)] for run_id, pairs in counts.items()}

    def agents(self) -> list[str]:
        agents = [r[0] for r in self._rows("SELECT DISTINCT agent FROM runs WHERE agent IS NOT NULL ORDER BY agent")]
        if self.trusted:
            return agents
        return sorted({self._typed({"agent": agent}, "agents")["agent"] for agent in agents})

    def _run(self, row: sqlite3.Row) -> Run:
        if self.trusted:
            try:
                values = _decode(row, {"flags": list, "metadata": dict, "events": list, "extra": dict})
            except orjson.JSONDecodeError:
                self.trusted = False  # a store that is not as tracetui writes them: read it carefully
        if not self.trusted:
            values = self._typed(dict(zip(row.keys(), row, strict=False)), "runs")
        for col in RUN_TOTAL_COLUMNS:
            values.pop(col, None)
        return Run(**values)

    # -- steps ----------------------------------------------------------------------------------
    def steps(self, run_id: str, *, payloads: bool = False) -> list[Step]:
        """Every step of a run in execution (pre-)order; without payload columns unless asked."""
        cols = ", ".join(STEP_COLUMNS if payloads else STEP_TREE_COLUMNS)
        key = self._steps_key(run_id)
        rows = self._iter_rows(f"SELECT {cols} FROM steps WHERE run_id = {_ID} ORDER BY ord", (key,))
        return [self._step(r) for r in rows]

    def children(self, run_id: str, parent_id: str | None, *, limit: int | None = None, offset: int = 0) -> list[Step]:
        """Child steps in order; limit/offset page through a parent with very many children."""
        cols = ", ".join(STEP_TREE_COLUMNS)
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        key = self._steps_key(run_id)
        if parent_id is None:
            rows = self._rows(
                f"SELECT {cols} FROM steps WHERE run_id = {_ID} AND parent_id IS NULL ORDER BY seq{page}", (key,)
            )
        else:
            rows = self._rows(
                f"SELECT {cols} FROM steps WHERE run_id = {_ID} AND parent_id = {_ID} ORDER BY seq{page}",
                (key, self._step_key(key, parent_id)),
            )
        return [self._step(r) for r in rows]

    def steps_from(self, run_id: str, first_ord: int, *, limit: int) -> list[Step]:
        """Up to `limit` steps in execution order from position `first_ord` on (no payload columns)."""
        cols = ", ".join(STEP_TREE_COLUMNS)
        rows = self._iter_rows(
            f"SELECT {cols} FROM steps WHERE run_id = {_ID} AND ord >= ? ORDER BY ord LIMIT ?",
            (self._steps_key(run_id), first_ord, limit),
        )
        return [self._step(r) for r in rows]

    def count_children(self, run_id: str, parent_id: str | None) -> int:
        key = self._run_key(run_id)
        if parent_id is None:
            return self._rows(f"SELECT count(*) FROM steps WHERE run_id = {_ID} AND parent_id IS NULL", (key,))[0][0]
        sql = f"SELECT count(*) FROM steps WHERE run_id = {_ID} AND parent_id = {_ID}"
        return self._rows(sql, (key, self._step_key(key, parent_id)))[0][0]

    def get_step(self, run_id: str, step_id: str) -> Step:
        key = self._steps_key(run_id)
        rows = self._rows(
            f"SELECT {', '.join(STEP_COLUMNS)} FROM steps WHERE run_id = {_ID} AND id = {_ID}",
            (key, self._step_key(key, step_id)),
        )
        if not rows:
            raise NotFound(f"no step {jsonsafe.quoted(step_id)} in run {jsonsafe.quoted(run_id)}")
        return self._step(rows[0])

    def ancestors(self, run_id: str, step_id: str) -> list[str]:
        """Ids from the root down to the step's parent."""
        chain: list[str] = []
        seen = {step_id}
        current = step_id
        key = self._run_key(run_id)
        while True:
            sql = f"SELECT parent_id FROM steps WHERE run_id = {_ID} AND id = {_ID}"
            rows = self._rows(sql, (key, self._step_key(key, current)))
            parent = rows[0][0] if rows else None
            if parent is not None and not self.trusted:  # as the step's own row shows it (said with that row)
                values = {"parent_id": parent}
                typed(values, undecoded=self._undecoded)
                parent = values["parent_id"]
            if parent is None or parent in seen:
                break
            current = parent
            seen.add(current)
            chain.append(current)
        return chain[::-1]

    def failed_step_positions(self, run_id: str) -> list[tuple[str, int, int]]:
        """(id, ord, size) of every failed or timed-out step, in execution order."""
        rows = self._rows(
            f"SELECT id, ord, size FROM steps WHERE run_id = {_ID} AND status IN ({_FAILED_SQL}) ORDER BY ord",
            (self._run_key(run_id),),
        )
        if self.trusted:
            return [(r[0], r[1], r[2]) for r in rows]
        out = []
        for r in rows:
            values = self._typed({"run_id": run_id, "id": r[0], "ord": r[1], "size": r[2]}, "steps")
            if values["ord"] is not None and values["size"] is not None:
                out.append((values["id"], values["ord"], values["size"]))
        return out

    # -- search (store/search.py) ----------------------------------------------------------------
    def find_in_run(self, run_id: str, query: str) -> list[tuple[str, int, int]]:
        """(id, ord, size) of the run's steps whose text holds `query`, in execution order."""
        from . import search

        found = search.find_in_run(self.conn, self._steps_key(run_id), query, execute=self._iter_rows)
        return [(self._shown(step_id), ord_, size) for step_id, ord_, size in found]

    def runs_matching(
        self,
        query: str,
        flt: RunFilter | None = None,
        *,
        progress: search.Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, search.RunHits]:
        """Runs with a step whose text holds `query`, by id; a scan (without the index) reads only the
        runs `flt` keeps. Raises search.Cancelled when `cancelled()` says so."""
        from . import search

        indexed = search.has_index(self.conn) and len(query) >= search.TRIGRAM
        ids = None if indexed else [self._run_key(run_id) for run_id in self.run_ids(flt, desc=False)]
        hits = search.runs_matching(
            self.conn, query, run_ids=ids, progress=progress, cancelled=cancelled, execute=self._iter_rows
        )
        shown = (
            replace(
                hit, run_id=self._id(hit.run_id), step_id=self._shown(hit.step_id), step_name=self._shown(hit.step_name)
            )
            for hit in hits
        )
        return {hit.run_id: hit for hit in shown}

    def _shown(self, value: Any) -> Any:
        """Text as this store shows it: bytes that are not UTF-8 as \\xNN (once the file has shown some)."""
        return jsonsafe.visible_surrogates(value) if self._undecoded and type(value) is str else value

    def steps_matching(
        self,
        query: str,
        flt: RunFilter | None = None,
        *,
        sort: str = STARTED.name,
        desc: bool = True,
        progress: search.Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[list[search.StepHit]]:
        """Every step whose text holds `query` in the runs `flt` keeps, run by run in the order `sort`
        gives them (search.steps_matching). Raises search.Cancelled when `cancelled()` says so."""
        from . import search

        ids = self.run_ids(flt, sort=sort, desc=desc)
        if self.trusted:
            return search.steps_matching(self.conn, query, ids, progress=progress, cancelled=cancelled)
        # A file read in place: its runs asked for by key, the hits read as shown (as runs_matching does).
        keys = [self._run_key(run_id) for run_id in ids]
        by_key = dict(zip(keys, ids, strict=True))
        found = search.steps_matching(
            self.conn, query, keys, progress=progress, cancelled=cancelled, execute=self._iter_rows
        )
        return (
            [
                replace(h, run_id=by_key[h.run_id], step_id=self._shown(h.step_id), name=self._shown(h.name))
                for h in hits
            ]
            for hits in found
        )

    def step_snippet(self, run_id: str, step_id: str, query: str) -> search.Snippet | None:
        from . import search

        key = self._run_key(run_id)
        rows = self._rows(
            f"SELECT {', '.join(search.SEARCHED)} FROM steps WHERE run_id = {_ID} AND id = {_ID}",
            (key, self._step_key(key, step_id)),
        )
        if not rows:
            return None
        return search.snippet(dict(zip(search.SEARCHED, self._readable(rows[0]), strict=True)), query)

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
        rows = self._iter_rows(
            f"SELECT {cols} FROM steps WHERE run_id = {_ID} AND ord > ? AND ord < ? ORDER BY ord",
            (self._run_key(run_id), top.ord, top.ord + top.size),
        )
        step_tree([top, *(self._step(r) for r in rows)])
        return top

    def _step(self, row: sqlite3.Row) -> Step:
        values: dict[str, Any] | None = None
        if self.trusted:
            try:
                values = _decode(row, {"flags": list, "events": list, "extra": dict})
            except orjson.JSONDecodeError:
                self.trusted = False
        if values is None:
            values = self._typed(dict(zip(row.keys(), row, strict=False)), "steps")
        values["cost_estimated"] = bool(values.get("cost_estimated"))  # stored 0/1, NULL in older stores
        return Step(**values)

    # -- store-wide -----------------------------------------------------------------------------
    def stats(self, by: str | None = None, flt: RunFilter | None = None) -> list[GroupStats]:
        """Per-group stats of the runs `flt` keeps: by one of stats.GROUPINGS (agent, status, session,
        day, hour: groups of runs; model, tool: groups of calls), or one 'all' group."""
        with self.stats_scope(flt) as scope:
            return scope.groups(by)

    def stats_scope(self, flt: RunFilter | None = None) -> Scope:
        """The runs `flt` keeps, held for several stats questions (close it, or use it in a with).

        For a file read in place the values are typed in SQL as they are copied (stats reads every
        run: not per row in Python), and its answers are read as every other query's (_readable).
        """
        from .stats import Scope

        where, args = self._where(flt)
        return Scope(self.conn, where, args, priced=self.estimated, typed=not self.trusted, read=self._readable_rows)

    def _readable_rows(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        return [self._readable(row) for row in self._iter_rows(sql, args)]

    def _readable(self, row: sqlite3.Row) -> tuple:
        """A row's values, with text that is not UTF-8 (once the file has shown some) as \\xNN."""
        if not self._undecoded:
            return tuple(row)
        return tuple(jsonsafe.visible_surrogates(v) if type(v) is str else v for v in row)

    def problems(self, limit: int | None = None) -> list[Problem]:
        """What was skipped or repaired reading the source: at import, and for a file read in place, odd
        values. In a folder's store each names its file (None: the folder as a whole), elsewhere the
        source's label."""
        try:
            sql = "SELECT * FROM problems ORDER BY n"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            stored = [
                Problem(
                    r["message"],
                    line=r["line"],
                    run_id=r["run_id"],
                    source_file=r["file"] if "file" in r.keys() else self.label,
                )
                for r in self._rows(sql)
            ]
        except sqlite3.OperationalError:
            stored = []
        if not self.trusted:
            self._scan_values(limit)
        found = list(self._value_problems.values())
        return (stored + found)[:limit] if limit is not None else stored + found

    def problem_count(self, complete: bool = False) -> int:
        """How many problems() lists; for a file read in place, the odd values met so far (problems() looks
        for all), or with `complete` all of them (a pass over a big file the first time: ask in a worker)."""
        if complete and not self.trusted:
            self._scan_values(None)
        try:
            stored = self._rows("SELECT count(*) FROM problems")[0][0]
        except sqlite3.OperationalError:
            stored = 0
        return stored + len(self._value_problems)

    def value_problems(self) -> list[Problem]:
        """The odd values met so far in a file read in place (each shown as '-' or as text)."""
        return list(self._value_problems.values())

    def _scan_values(self, limit: int | None) -> None:
        """Find every row holding a value of the wrong type, so that problems() lists them all (once).

        A source read through views says what it cannot use in a TEMP view odd_values (line, run_id,
        message), scanning its own table; checking the views' columns would compute every one of
        them for every row. Otherwise the tables are the store's own, and their columns are checked.
        """
        if self._scanned:
            return
        self._scanned = True
        cap = _MAX_VALUE_PROBLEMS if limit is None else max(1, int(limit))
        try:
            rows = _odd_values(self, cap)
        except sqlite3.OperationalError as exc:
            rows = None
            if "no such table" not in str(exc):  # the source's list failed: say so, never read every run instead
                problem = Problem(f"odd values could not be looked for: {exc}", source_file=self.label)
                self._value_problems.setdefault(("odd", None, problem.message), problem)
                return
        if rows is not None:
            # The source's own list covers the runs' and trees' values met so far (it names the raw columns).
            covered = ("runs", ODD_STEPS)
            self._value_problems = {key: p for key, p in self._value_problems.items() if key[0] not in covered}
            for line, run_id, message in rows:
                key = ("odd", str(run_id), message)
                if len(self._value_problems) < _MAX_VALUE_PROBLEMS:
                    where = f"run {jsonsafe.quoted(self._id(run_id))}: " if run_id is not None else ""
                    problem = Problem(where + message, line=line, run_id=run_id, source_file=self.label)
                    self._value_problems.setdefault(key, problem)
            return
        for table, columns in (("runs", RUN_COLUMNS), ("steps", STEP_COLUMNS)):
            odd = " OR ".join(
                f"typeof({name}) NOT IN ('null', {_STORAGE[kind]})"
                for name, kind in columns.items()
                if kind in _STORAGE
            )
            try:
                found = self._rows(f"SELECT {', '.join(columns)} FROM {table} WHERE {odd} LIMIT {cap}")
            except sqlite3.OperationalError:
                continue
            for row in found:
                self._typed(dict(zip(row.keys(), row, strict=False)), table)

    def iter_runs(self, run_ids: Iterable[str] | None = None) -> Iterator[Run]:
        """Full runs (with steps) one at a time, for export."""
        ids = list(run_ids) if run_ids is not None else self.run_ids(desc=False)
        for run_id in ids:
            run = self.get_run(run_id)
            run.steps = self.steps(run_id, payloads=True)
            yield run

    def close(self) -> None:
        self.conn.close()


def run_rows(conn: sqlite3.Connection) -> dict[Any, list[Any]]:
    """RUN_ROWS as {run key: the other keys its tree reads}; {} for a source without the view."""
    try:
        pairs = conn.execute(f"SELECT run_key, row_key FROM {RUN_ROWS}").fetchall()
    except sqlite3.OperationalError:
        return {}
    out: dict[Any, list[Any]] = {}
    for run, row in pairs:
        if row != run:
            out.setdefault(run, []).append(row)
    return out


def rows_keys(conn: sqlite3.Connection, keys: list[Any], rows: dict[Any, list[Any]] | None = None) -> list[Any]:
    """The keys of the ODD_NUMBERS rows of the runs whose keys (RUN_KEY) are `keys`: those, and the other
    keys their trees read (`rows`: run_rows(conn), if the caller keeps it)."""
    rows = run_rows(conn) if rows is None else rows
    return list(dict.fromkeys([*keys, *(row for key in keys for row in rows.get(key, ()))]))


# The odd values of the files read in place looked for last, by file and content (a pass over a big file
# takes a second or more; the viewer's count and `w` each ask on a connection of their own).
_ODD_VALUES: dict[tuple[str, str, int], list[tuple]] = {}
_ODD_VALUES_KEPT = 4


def _odd_values(store: Store, cap: int) -> list[tuple]:
    """SELECT line, run_id, message FROM odd_values (at most `cap`), kept while the file's content is the same."""
    from ..memo import content_fingerprint

    sql = f"SELECT line, run_id, message FROM odd_values LIMIT {cap}"
    try:
        key = (store.path, content_fingerprint(store.path, "odd_values"), cap)
    except OSError:
        return [tuple(row) for row in store._rows(sql)]
    found = _ODD_VALUES.get(key)
    if found is None:
        found = _ODD_VALUES[key] = [tuple(row) for row in store._rows(sql)]
        while len(_ODD_VALUES) > _ODD_VALUES_KEPT:
            _ODD_VALUES.pop(next(iter(_ODD_VALUES)))
    elif not store._undecoded and any(type(v) is str and jsonsafe.has_surrogates(v) for row in found for v in row):
        store.conn.text_factory = undecoded_text  # as the query would have made it (Store._iter_rows)
        store._undecoded = True
    return found


def connect_readonly(path: str) -> sqlite3.Connection:
    return sqlite3.connect(ro_uri(path), uri=True, check_same_thread=False)
