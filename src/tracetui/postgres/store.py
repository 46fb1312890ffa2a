"""PgStore: the store protocol (store/protocol.py) answered by a PostgreSQL server, read-only.

The run list is SQL over the format's runs relation (sources' DatabaseSource.runs): filters, sorts,
counts and stats run on the server, and pages are read by key — (sort key, id) after the last row
seen — so no query ever reads the whole table into tracetui, and an index on the sort column lets
the server stop after one page. Runs without a sort key come after the others in either direction,
as in the SQLite store; each page query stays inside one of the two parts (keys, then no keys), so
a plain btree index on (column, id) serves both directions.

A run's steps are read when the run is opened (DatabaseSource.read_run), priced and finalized in
Python like an import would, and kept in a small cache shared by the stores of one opening, so the
viewer expanding a big tree node by node reads the run once.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import jsonsafe, pricing
from ..analysis import GroupStats, root_cause
from ..errors import NotFound
from ..model import FAILED_STATUSES, Problem, Run, Step, finalize_run, step_tree, tree_problems
from ..sources import DatabaseSource, RunStart
from ..sources.contract_db import PricedCalls
from ..sources.pgsql import ESCAPED, nul_escaped, parameter, unescaped
from ..sources.tracetui_postgres import decoded
from ..store import search
from ..store.reader import RunFilter
from ..store.schema import RUN_COLUMNS, RUN_LIST_COLUMNS, RUN_TOTAL_COLUMNS, STEP_COLUMNS
from ..store.sessions import (
    FAILED_SQL,
    Dialect,
    SessionKey,
    SessionRow,
    count_sessions,
    session_keys,
    session_rows,
)
from ..store.sort_keys import BY_NAME, STARTED
from ..store.stats import CALL_COLUMNS
from .estimated import Estimated, Estimator
from .session import Session
from .stats import PgScope, whole_number

Key = tuple[Any, Any]
T = TypeVar("T", str, str | None)
_FAILED = sorted(FAILED_STATUSES)
_SQL_TYPES = {str: "text", int: "bigint", float: "float8"}
_CALL_TYPES = {"duration_ms": float, "credits": float, "cost_usd": float, "cost_estimated": int}
_CALL_TYPES |= {c: int for c in ("tokens_in", "tokens_out", "tokens_cache_read")}
START_STEPS = 500  # steps of a big flat run read first: the run view shows a few screens of them
TREE_CACHE_STEPS = 200_000  # steps kept across the runs opened last (one huge run still fits alone)
COUNTED_POSITIONS = 10_000  # a run's place further down than this is the planner's estimate
SESSION_NEAR = 2_000  # runs started before and after a run among which its session's runs are looked for
KEPT_SUMS = 8  # filters whose runs' estimated costs are kept for the order by cost (Shared.estimate_sums)
LISTED_KEPT = 10_000  # ids of runs listed that problems_met() asks about (a CLI command lists fewer)
# What a run-list row holds: the run list's columns, and which of them hold NUL stored as \x00 (pgsql).
LISTED = (*RUN_LIST_COLUMNS, ESCAPED)
_SUMMED_COUNTS = tuple(name for name in RUN_LIST_COLUMNS if "tokens" in name)


# Sessions grouped by the server: the store's session queries in PostgreSQL's words (ISO times are
# cast to compute a span; sums of integers are numeric unless cast back).
SESSIONS = Dialect(
    param="%s",
    span_ms="round((extract(epoch FROM max(coalesce(ended_at, started_at))::timestamptz)"
    " - extract(epoch FROM min(started_at)::timestamptz)) * 1000)::float8",
    failed=f"count(*) FILTER (WHERE status IN ({FAILED_SQL}))",
    whole_sum="sum({})::bigint",
    real_sum="sum({})::float8",
)


def _stored(text: T) -> T:
    return nul_escaped(text) if isinstance(text, str) and "\x00" in text else text


def _add_estimate(run: Run, estimated: float | None) -> None:
    """A run's totals with the estimated cost of its calls the source did not price (model.Run.total:
    a cost the run reported itself still wins)."""
    if estimated is not None:
        run.steps_cost_usd = (run.steps_cost_usd or 0.0) + estimated
        run.steps_cost_estimated_usd = (run.steps_cost_estimated_usd or 0.0) + estimated


# The cost columns of a run with the estimated cost `e.cost` of its calls the source did not price added,
# as _add_estimate adds it (model.Run.total: a cost the run reported itself still wins and has no
# estimated part); a run without estimates keeps its own. Over the runs relation as `r0` (_with_estimates).
_STEPS_COST = "CASE WHEN e.cost IS NULL THEN r0.steps_cost_usd ELSE coalesce(r0.steps_cost_usd, 0) + e.cost END"
_STEPS_ESTIMATED = (
    "CASE WHEN e.cost IS NULL THEN r0.steps_cost_estimated_usd"
    " ELSE coalesce(r0.steps_cost_estimated_usd, 0) + e.cost END"
)
_COSTED = {
    "steps_cost_usd": _STEPS_COST,
    "steps_cost_estimated_usd": _STEPS_ESTIMATED,
    "total_cost_usd": f"CASE WHEN e.cost IS NULL THEN r0.total_cost_usd ELSE coalesce(r0.cost_usd, {_STEPS_COST}) END",
    "total_cost_estimated_usd": (
        f"CASE WHEN e.cost IS NULL THEN r0.total_cost_estimated_usd WHEN r0.cost_usd IS NULL THEN {_STEPS_ESTIMATED} END"
    ),
}


def _unpriced(step: Step) -> bool:
    """A model call with token counts that pricing.apply left without a cost."""
    return bool(step.model) and step.cost_usd is None and (step.tokens_in is not None or step.tokens_out is not None)


def _null(types: dict[str, type]) -> Any:
    return lambda name: f"NULL::{_SQL_TYPES[types.get(name, str)]}"


@dataclass
class Tree:
    """One run opened: the run, its steps in execution order, and ways into them."""

    run: Run
    steps: list[Step]
    by_id: dict[str, Step] = field(default_factory=dict)
    children: dict[str | None, list[Step]] = field(default_factory=dict)
    # A run's start (DatabaseSource.read_start): its first steps in execution order, how many it has,
    # the failed ones, how many are roots.
    complete: bool = True
    total: int = 0
    failed: list[tuple[str, int, int]] = field(default_factory=list)
    roots: int = 0
    later_roots: list[Step] = field(default_factory=list)  # roots past the first steps (not in `steps`)

    def __post_init__(self) -> None:
        for step in [*self.steps, *self.later_roots]:
            self.by_id[step.id] = step
            self.children.setdefault(step.parent_id, []).append(step)
        for kids in self.children.values():
            kids.sort(key=lambda s: s.seq)

    def knows(self, parent_id: str | None, end: int | None = None) -> bool:
        """Whether the children of `parent_id` up to `end` (all: None) are read. A step's subtree is
        steps ord .. ord + size - 1, so it is read whole when it ends inside the start."""
        if self.complete:
            return True
        if parent_id is None:
            read = len(self.children.get(None, []))
            return read == self.roots or (end is not None and end <= read)
        parent = self.by_id.get(parent_id)
        return parent is not None and parent.ord + parent.size <= len(self.steps)


class Shared:
    """What the stores of one opening share: the runs opened last, problems found in them, counts."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.trees: OrderedDict[tuple[str, bool], Tree] = OrderedDict()
        self.problems: dict[str, Problem] = {}
        self.problem_count: int | None = None  # rows the source's problems query finds (counted once)
        self.pricer = pricing.Pricer()
        self.estimator: Estimator | None = None  # made when the stats first need it
        # Each run's estimated cost, of the runs of the filters ordered by cost last (PgStore._costed_runs).
        self.estimate_sums: OrderedDict[tuple[str, tuple], dict[str, float]] = OrderedDict()

    def sums(self, key: tuple[str, tuple]) -> dict[str, float] | None:
        with self.lock:
            return self.estimate_sums.get(key)

    def keep_sums(self, key: tuple[str, tuple], sums: dict[str, float]) -> None:
        with self.lock:
            self.estimate_sums[key] = sums
            self.estimate_sums.move_to_end(key)
            while len(self.estimate_sums) > KEPT_SUMS:
                self.estimate_sums.popitem(last=False)

    def estimator_for(self, label: str, fmt: str) -> Estimator:
        with self.lock:
            if self.estimator is None:
                self.estimator = Estimator(label, fmt, self.pricer)
            return self.estimator

    def tree(self, key: tuple[str, bool]) -> Tree | None:
        with self.lock:
            found = self.trees.get(key)
            if found is not None:
                self.trees.move_to_end(key)
            return found

    def keep(self, key: tuple[str, bool], tree: Tree) -> None:
        with self.lock:
            self.trees[key] = tree
            while len(self.trees) > 1 and sum(len(t.steps) for t in self.trees.values()) > TREE_CACHE_STEPS:
                self.trees.popitem(last=False)

    def report(self, problem: Problem) -> None:
        with self.lock:
            self.problems.setdefault(problem.message, problem)


class PgStore:
    """Read-only queries over one DatabaseSource (see the module docstring). One thread at a time."""

    paged = True

    def __init__(
        self,
        session: Session,
        db: DatabaseSource,
        *,
        label: str,
        source_format: str,
        estimated: bool,
        shared: Shared,
        on_close: Any = None,
    ) -> None:
        self.session = session
        self.db = db
        self.label = label
        self.source_format = source_format
        self.estimated = estimated
        self.shared = shared
        self._on_close = on_close
        self.listed: dict[str, None] = {}  # runs handed out by the run-list queries, in order
        order = {name: f"r.sort_{name}" for name in db.order}
        self._order = {key.name: order.get(key.name, key.sql) for key in BY_NAME.values()}
        also = {f"sort_{name}": expr for name, expr in db.order.items()} | {"sort_tie": db.tie}
        self._runs = db.runs.select(LISTED, also=also, null=_null(RUN_COLUMNS))
        self._columns = (*LISTED, *also)
        # Calls the source did not price are estimated by tracetui (postgres/estimated.py).
        self._estimating = estimated and db.priced_calls is not None
        self._calls = None
        if db.calls is not None:
            self._calls = db.calls.select(CALL_COLUMNS, null=_null(_CALL_TYPES))

    # -- the run list -------------------------------------------------------------------------------
    def _where(self, flt: RunFilter | None) -> tuple[str, list[Any]]:
        calls = f"({self._calls}) c" if self._calls is not None else "(SELECT NULL::text AS run_id WHERE false) c"
        flt = flt or RunFilter()
        # Text that holds NUL is matched in its stored form (pgsql.parameter), before LIKE's escapes.
        flt = dataclasses.replace(flt, search=_stored(flt.search), file=_stored(flt.file), project=_stored(flt.project))
        return flt.where(param="%s", like="ILIKE", calls=calls)

    def _select(
        self, columns: str, flt: RunFilter | None, extra: str = "", args: Sequence[Any] = (), *, costed: bool = False
    ) -> tuple[str, list]:
        """SELECT `columns` of the runs `flt` keeps (and `extra`, with `args`); `costed`: with the estimates
        of the calls the source did not price in their costs (_costed_runs)."""
        runs, before = self._costed_runs(flt) if costed else (self._runs, [])
        where, params = self._where(flt)
        if extra:
            where = f"{where} AND {extra}" if where else f" WHERE {extra}"
        return f"SELECT {columns} FROM ({runs}) r{where}", [*before, *params, *args]

    def _costs_sorted(self, sort: str) -> bool:
        """Whether the order `sort` is by a cost that estimates change (then it reads _costed_runs)."""
        return self._estimating and self._order[sort] in _COSTED

    def _costed_runs(self, flt: RunFilter | None, *, fresh: bool = False) -> tuple[str, list[Any]]:
        """The runs relation with the estimates of the runs `flt` keeps in their costs, so that the order
        by cost and the sessions' sums are those of the costs shown. Estimated when a list in that order
        is read from its top (`fresh`: each command, each load of the viewer's list) and kept, shared by
        the stores of the opening, for its further pages, places and windows."""
        where, params = self._where(flt)
        key = (where, tuple(tuple(p) if isinstance(p, list) else p for p in params))
        sums = None if fresh else self.shared.sums(key)
        if sums is None:
            sums = self._sums(*self._select("*", flt))
            self.shared.keep_sums(key, sums)
        return self._with_estimates(sums)

    def _with_estimates(self, sums: dict[str, float]) -> tuple[str, list[Any]]:
        """The runs relation with `sums` (run id -> estimated cost) added to their costs (_COSTED), and its
        parameters: the estimates travel as two arrays, so a role that may only SELECT reads it too."""
        if not sums:
            return self._runs, []
        columns = ", ".join(f"{_COSTED.get(name, f'r0.{name}')} AS {name}" for name in self._columns)
        sql = (
            f"SELECT {columns} FROM ({self._runs}) r0"
            " LEFT JOIN unnest(%s::text[], %s::float8[]) AS e(run_id, cost) ON e.run_id = r0.id"
        )
        return sql, [list(sums), list(sums.values())]

    def _sums(self, chosen: str, args: list[Any]) -> dict[str, float]:
        """The estimated cost of each run `chosen` (SQL over the runs) keeps, of the calls the source did
        not price (runs without any left out): priced from tracetui's cache or the price table."""
        sums: dict[str, float] = {}
        if self._estimating:
            assert self.db.priced_calls is not None
            for call in self._estimates(self.db.priced_calls, chosen, args):
                sums[call.run_id] = sums.get(call.run_id, 0.0) + call.cost
        return sums

    def count_runs(self, flt: RunFilter | None = None) -> int:
        sql, args = self._select("count(*)", flt)
        row = self.session.one("counting the runs", sql, args)
        return row[0] if row else 0

    def totals(self, flt: RunFilter) -> tuple[int, int]:
        """How many runs the filter keeps, and how many of them failed or timed out (one scan)."""
        where, params = self._where(flt)
        sql = f"SELECT count(*), count(*) FILTER (WHERE status = ANY(%s)) FROM ({self._runs}) r{where}"
        row = self.session.one("counting the runs", sql, [_FAILED, *params])
        return (row[0], row[1]) if row else (0, 0)

    def estimate_runs(self, flt: RunFilter) -> int:
        """The planner's estimate of how many runs the filter keeps (its statistics; no scan)."""
        sql, args = self._select("1", flt)
        return self._estimate(sql, args)

    def _estimate(self, sql: str, args: Sequence[Any]) -> int:
        row = self.session.one("estimating the number of runs", f"EXPLAIN (FORMAT JSON) {sql}", args)
        try:
            return max(0, int(row[0][0]["Plan"]["Plan Rows"])) if row else 0
        except (KeyError, IndexError, TypeError, ValueError):
            return 0

    def list_runs(
        self,
        flt: RunFilter | None = None,
        *,
        sort: str = STARTED.name,
        desc: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Run]:
        flt = flt or RunFilter()
        if limit is not None and offset == 0:
            return [run for run, _ in self.page(flt, sort, desc, None, limit)]
        if limit is None and offset == 0:
            return list(self._all_runs(flt, sort, desc))
        return [run for run, _ in self.page_at(flt, sort, desc, offset, limit if limit is not None else 2**62)]

    def _all_runs(self, flt: RunFilter, sort: str, desc: bool) -> Iterator[Run]:
        after: Key | None = None
        while True:
            rows = self.page(flt, sort, desc, after, 1000)
            yield from (run for run, _ in rows)
            if len(rows) < 1000:
                return
            after = rows[-1][1]

    def run_ids(
        self, flt: RunFilter | None = None, *, sort: str = STARTED.name, desc: bool = True, limit: int | None = None
    ) -> list[str]:
        return [run.id for run in self.list_runs(flt, sort=sort, desc=desc, limit=limit)]

    def page(
        self,
        flt: RunFilter,
        sort: str,
        desc: bool,
        after: Key | None,
        limit: int,
        *,
        backwards: bool = False,
        failed_only: bool = False,
    ) -> list[tuple[Run, Key]]:
        """Up to `limit` runs that come after `after` in the order (before it, nearest first, when
        `backwards`); from the start (or, backwards, the end) when `after` is None."""
        key = self._order[sort]
        forward_desc = desc != backwards
        op = "<" if forward_desc else ">"
        direction = "DESC" if forward_desc else "ASC"
        parts: tuple[str, ...] = ("keyed", "unkeyed") if not backwards else ("unkeyed", "keyed")
        if after is not None:
            parts = parts[parts.index("keyed" if after[0] is not None else "unkeyed") :]
        extra_failed = "status = ANY(%s)" if failed_only else ""
        costed = self._costs_sorted(sort)  # (the runs then read have their estimates)
        if costed and after is None and not backwards:
            self._costed_runs(flt, fresh=True)  # the list read from its top: the estimates as they are now
        out: list[tuple[Run, Key]] = []
        for i, part in enumerate(parts):
            bound = after if i == 0 else None
            conditions, args = [], []
            if part == "keyed":
                conditions.append(f"{key} IS NOT NULL")
                if bound is not None:
                    conditions.append(f"({key}, r.sort_tie) {op} (%s, %s)")
                    args += [bound[0], bound[1]]
                order = f"{key} {direction}, r.sort_tie {direction}"
            else:
                conditions.append(f"{key} IS NULL")
                if bound is not None:
                    conditions.append(f"r.sort_tie {op} %s")
                    args.append(bound[1])
                order = f"r.sort_tie {direction}"
            if failed_only:
                conditions.append(extra_failed)
                args.append(_FAILED)
            sql, params = self._select(
                f"{', '.join(LISTED)}, {key} AS page_key, r.sort_tie",
                flt,
                " AND ".join(conditions),
                args,
                costed=costed,
            )
            rows = self.session.rows(
                "reading a page of runs", f"{sql} ORDER BY {order} LIMIT %s", [*params, limit - len(out)]
            )
            out.extend((self._run(row[:-2]), (row[-2], row[-1])) for row in rows)
            if len(out) >= limit:
                break
        if not costed:
            self._priced([run for run, _ in out])
        return out

    def page_at(self, flt: RunFilter, sort: str, desc: bool, offset: int, limit: int) -> list[tuple[Run, Key]]:
        """Runs from position `offset` (OFFSET: the server walks the rows before it; for jumps only)."""
        key = self._order[sort]
        direction = "DESC" if desc else "ASC"
        costed = self._costs_sorted(sort)
        sql, params = self._select(f"{', '.join(LISTED)}, {key} AS page_key, r.sort_tie", flt, costed=costed)
        order = f"{key} {direction} NULLS LAST, r.sort_tie {direction}"
        rows = self.session.rows(
            "reading runs further down the list", f"{sql} ORDER BY {order} LIMIT %s OFFSET %s", [*params, limit, offset]
        )
        out = [(self._run(row[:-2]), (row[-2], row[-1])) for row in rows]
        if not costed:
            self._priced([run for run, _ in out])
        return out

    def position(self, flt: RunFilter, sort: str, desc: bool, key: Key) -> tuple[int, bool]:
        """How many runs come before the run with this key in the order (its row in the list), and
        whether that is exact: counted up to COUNTED_POSITIONS (the rows just before it, by key),
        beyond that the planner's estimate, so a run a million rows down is placed without a scan."""
        order = self._order[sort]
        op = "<" if not desc else ">"
        if key[0] is not None:
            extra, args = f"{order} IS NOT NULL AND ({order}, r.sort_tie) {op} (%s, %s)", [key[0], key[1]]
            rough, rough_args = f"{order} {op} %s", [key[0]]  # what the planner's statistics can estimate
        else:
            extra, args = f"({order} IS NOT NULL OR r.sort_tie {op} %s)", [key[1]]
            rough, rough_args = extra, args
        costed = self._costs_sorted(sort)
        sql, params = self._select("1", flt, extra, args, costed=costed)
        bounded = f"SELECT count(*) FROM ({sql} LIMIT %s) b"
        row = self.session.one("finding a run's place in the list", bounded, [*params, COUNTED_POSITIONS + 1])
        counted = row[0] if row else 0
        if counted <= COUNTED_POSITIONS:
            return counted, True
        sql, params = self._select("1", flt, rough, rough_args, costed=costed)
        return max(COUNTED_POSITIONS + 1, self._estimate(sql, params)), False

    def key_of(self, run_id: str, sort: str, flt: RunFilter | None = None) -> Key | None:
        """A run's key in an order (what page() and position() take); None when the filter leaves it
        out or there is no such run."""
        forms = search.text_forms(run_id)  # (an id typed as shown: `run\x1b1`)
        costed = self._costs_sorted(sort)
        sql, args = self._select(f"{self._order[sort]}, r.sort_tie", flt, "r.id = ANY(%s)", [forms], costed=costed)
        row = self.session.one("finding a run", sql, args)
        return None if row is None else (row[0], row[1])

    def runs_by_ids(self, run_ids: Sequence[str]) -> list[Run]:
        if not run_ids:
            return []
        sql, args = self._select(", ".join(LISTED), None, "r.id = ANY(%s)", [list(run_ids)])
        return self._priced([self._run(row) for row in self.session.rows("reading runs", sql, args)])

    def has_run(self, run_id: str) -> bool:
        return self.key_of(run_id, "id") is not None

    def ping(self) -> None:
        """One round trip: raises Unavailable when the connection is gone."""
        self.session.one("checking the connection", "SELECT 1")

    def latest_failed_run(self) -> Run | None:
        rows = self.page(RunFilter(status=_FAILED), STARTED.name, True, None, 1)
        if not rows:
            sql, args = self._select(", ".join(LISTED), None, "failed_steps > 0")
            order = f"{self._order[STARTED.name]} DESC NULLS LAST, r.sort_tie DESC"
            found = self.session.rows("looking for failed runs", f"{sql} ORDER BY {order} LIMIT 1", args)
            return self._priced([self._run(found[0])])[0] if found else None
        return rows[0][0]

    def models(self, run_ids: Sequence[str]) -> dict[str, list[str]]:
        if self._calls is None or not run_ids:
            return {}
        sql = (
            f"SELECT run_id, model, count(*) FROM ({self._calls}) c WHERE run_id = ANY(%s) AND model IS NOT NULL"
            " GROUP BY run_id, model"
        )
        counts: dict[str, list[tuple[int, str]]] = {}
        for run_id, model, n in self.session.rows("reading the runs' models", sql, [list(run_ids)]):
            counts.setdefault(run_id, []).append((-n, model))
        return {run_id: [model for _, model in sorted(pairs)] for run_id, pairs in counts.items()}

    def agents(self) -> list[str]:
        sql = f"SELECT DISTINCT agent FROM ({self._runs}) r WHERE agent IS NOT NULL ORDER BY agent LIMIT 10000"
        return [row[0] for row in self.session.rows("listing the agents", sql)]

    def _run(self, row: Sequence[Any]) -> Run:
        values = dict(zip(RUN_LIST_COLUMNS, row[:-1], strict=True))
        for name in _SUMMED_COUNTS:  # numeric on the server (a sum of bigints): an integer, as SQLite gives it
            values[name] = whole_number(values[name])
        values = decoded(unescaped(values, row[-1]))
        for col in RUN_TOTAL_COLUMNS:
            values.pop(col, None)
        if len(self.listed) < LISTED_KEPT:
            self.listed[values["id"]] = None
        return Run(**values)

    def _priced(self, runs: list[Run]) -> list[Run]:
        """The runs listed, with the estimates of their calls the source did not price added to their
        totals (as an opened run and the stats have them): asked for by the ids of these runs only,
        priced from tracetui's cache or the price table. The order of the list stays the server's."""
        if not runs or not self._estimating:
            return runs
        by_run = self._sums(*self._select("*", None, "r.id = ANY(%s)", [[run.id for run in runs]]))
        for run in runs:
            _add_estimate(run, by_run.get(run.id))
        return runs

    # -- sessions: runs grouped by the server (store/sessions.py's queries) ---------------------------
    def _grouping(self, sql: str, args: list[Any]) -> list[tuple]:
        return self.session.rows("grouping the runs by session", sql, args)

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
        where, args = self._where(flt)
        # (fresh: the sessions are grouped once a load, as a list read from its top)
        runs, before = self._costed_runs(flt, fresh=True) if self._costs_sorted(sort) else (self._runs, [])
        return session_keys(
            self._grouping,
            where,
            [*before, *args],
            self._order,
            sort=sort,
            desc=desc,
            limit=limit,
            runs=f"({runs}) r",
            dialect=SESSIONS,
        )

    def session_rows(self, keys: Sequence[SessionKey], flt: RunFilter | None = None) -> list[SessionRow]:
        """The summaries of these groups, their costs with the estimates of their runs' calls the source
        did not price (as the runs' rows have them; only these runs' calls are read)."""
        where, args = self._where(flt)
        runs, before = self._runs, list[Any]()
        if self._estimating and keys:
            sessions = [k.session for k in keys if k.session is not None]
            alone = [k.run_id for k in keys if k.session is None and k.run_id is not None]
            held = "(r.session = ANY(%s) OR (r.session IS NULL AND r.id = ANY(%s)))"
            runs, before = self._with_estimates(self._sums(*self._select("*", flt, held, [sessions, alone])))
        return session_rows(self._grouping, where, [*before, *args], keys, runs=f"({runs}) r", dialect=SESSIONS)

    def count_sessions(self, flt: RunFilter | None = None) -> int:
        where, args = self._where(flt)
        return count_sessions(self._grouping, where, args, runs=f"({self._runs}) r")

    def session_run_ids(self, run_id: str) -> list[str]:
        """The runs of `run_id`'s session in the order they started ([run_id] alone without a session),
        looked for among the SESSION_NEAR runs started just before it and just after it: read by key in
        the start order, as the list's pages are (the index on it serves), never a scan of the table for
        the session, whose column a team's table need not index (tracetui creates no index there)."""
        order = self._order[STARTED.name]
        sql, args = self._select(f"r.session, {order}, r.sort_tie", None, "r.id = %s", [run_id])
        row = self.session.one("finding a run's session", sql, args)
        if row is None:
            raise NotFound(f"no run {jsonsafe.quoted(run_id)} in {self.label}")
        session, key = row[0], (row[1], row[2])
        if session is None:
            return [run_id]
        flt = RunFilter()
        before = self.page(flt, STARTED.name, False, key, SESSION_NEAR, backwards=True)
        after = self.page(flt, STARTED.name, False, key, SESSION_NEAR)
        near = [run for run, _ in reversed(before)]
        return [
            *(r.id for r in near if r.session == session),
            run_id,
            *(r.id for r, _ in after if r.session == session),
        ]

    # -- one run and its steps ----------------------------------------------------------------------
    def _tree(self, run_id: str, *, payloads: bool = False, whole: bool = True) -> Tree:
        """The run opened: all of it, or (`whole=False`) perhaps only the start of a big flat run."""
        wanted = payloads and self.db.read_step is not None  # only stored runs leave payloads out
        cached = self.shared.tree((run_id, wanted)) or (None if wanted else self.shared.tree((run_id, True)))
        if cached is not None and (cached.complete or not whole):
            return cached
        if not whole and not wanted and self.db.read_start is not None:
            with self.session.asking(f"reading run {jsonsafe.quoted(run_id)}"):
                start = self.db.read_start(self.session.conn, run_id, self.shared.report, START_STEPS)
            if start is not None:
                return self._keep(run_id, False, start.run, start)
        with self.session.asking(f"reading run {jsonsafe.quoted(run_id)}"):
            run = self.db.read_run(self.session.conn, run_id, self.shared.report, wanted)
            # An id typed as shown (`run\x1b1`): the run whose id holds what it shows (search.text_forms).
            for form in search.text_forms(run_id)[1:] if run is None else ():
                run = self.db.read_run(self.session.conn, form, self.shared.report, wanted)
                if run is not None:
                    break
        if run is None:
            raise NotFound(f"no run {jsonsafe.quoted(run_id)} in {self.label}")
        return self._keep(run_id, wanted, run)

    def _keep(self, run_id: str, wanted: bool, run: Run, start: RunStart | None = None) -> Tree:
        if not self.db.finalized:
            finalize_run(pricing.apply(run, self.shared.pricer if self.estimated else None))
            for problem in tree_problems(run):
                self.shared.report(problem)
            if self._estimating and any(_unpriced(step) for step in run.steps):
                self._sums(*self._select("*", None, "r.id = %s", [run.id]))  # its unpriced models, for `w`
        if start is not None and start.total > len(run.steps):
            if start.totals is not None:
                self._whole_totals(run, start.totals)
            layout = start.layout or {}
            for step in run.steps if layout else ():
                step.size, step.child_count = layout.get(step.id, (step.size, step.child_count))
        tree = Tree(run, list(run.steps), later_roots=start.later_roots if start is not None else [])
        if start is not None and start.total > len(run.steps):  # else the start is the whole run
            run.step_count, run.failed_steps = start.total, len(start.failed)
            tree.complete, tree.total, tree.failed = False, start.total, start.failed
            tree.roots = start.total if start.roots is None else start.roots
        self.shared.keep((run_id, wanted), tree)
        return tree

    def _whole_totals(self, run: Run, totals: dict[str, Any]) -> None:
        """The totals of a run of which only the start was read: the source's sums over all its steps,
        with the estimates of all its calls the source did not price (as its stats have them)."""
        for name, value in totals.items():
            setattr(run, name, value)
        if self.estimated and self.db.priced_calls is not None:
            runs, args = self._select("*", None, "r.id = %s", [run.id])
            costs = [call.cost for call in self._estimates(self.db.priced_calls, runs, args)]
            _add_estimate(run, sum(costs) if costs else None)  # (as finalize_run sums a run's estimates)

    def _tree_holding(self, run_id: str, step_id: str) -> Tree:
        """The run's start when the step is in it, else the whole run."""
        tree = self._tree(run_id, whole=False)
        return tree if step_id in tree.by_id else self._tree(run_id)

    def get_run(self, run_id: str) -> Run:
        run = copy.copy(self._tree(run_id, whole=False).run)
        run.steps = []
        return run

    def steps(self, run_id: str, *, payloads: bool = False) -> list[Step]:
        return [copy.copy(step) for step in self._tree(run_id, payloads=payloads).steps]

    def children(self, run_id: str, parent_id: str | None, *, limit: int | None = None, offset: int = 0) -> list[Step]:
        tree = self._tree(run_id, whole=False)
        if not tree.knows(parent_id, None if limit is None else offset + limit):
            tree = self._tree(run_id)
        kids = tree.children.get(parent_id, [])
        end = None if limit is None else offset + limit
        return [copy.copy(step) for step in kids[offset:end]]

    def steps_from(self, run_id: str, first_ord: int, *, limit: int) -> list[Step]:
        first = max(first_ord, 0)
        tree = self._tree(run_id, whole=False)
        if not tree.complete and first + limit > len(tree.steps):
            tree = self._tree(run_id)
        return [copy.copy(step) for step in tree.steps[first : first + limit]]

    def count_children(self, run_id: str, parent_id: str | None) -> int:
        tree = self._tree(run_id, whole=False)
        if not tree.complete and parent_id is None:
            return tree.roots
        if not tree.knows(parent_id):
            tree = self._tree(run_id)
        return len(tree.children.get(parent_id, []))

    def get_step(self, run_id: str, step_id: str) -> Step:
        step = self._tree_holding(run_id, step_id).by_id.get(step_id)
        if step is None:
            raise NotFound(f"no step {jsonsafe.quoted(step_id)} in run {jsonsafe.quoted(run_id)}")
        if self.db.read_step is not None:
            with self.session.asking(f"reading step {jsonsafe.quoted(step_id)}"):
                full = self.db.read_step(self.session.conn, run_id, step_id)
            if full is not None:
                return full
        return copy.copy(step)

    def ancestors(self, run_id: str, step_id: str) -> list[str]:
        by_id = self._tree_holding(run_id, step_id).by_id
        chain: list[str] = []
        seen = {step_id}
        current = by_id.get(step_id)
        while current is not None and current.parent_id is not None and current.parent_id not in seen:
            seen.add(current.parent_id)
            chain.append(current.parent_id)
            current = by_id.get(current.parent_id)
        return chain[::-1]

    def failed_step_positions(self, run_id: str) -> list[tuple[str, int, int]]:
        tree = self._tree(run_id, whole=False)
        if not tree.complete:
            return list(tree.failed)
        return [(s.id, s.ord, s.size) for s in tree.steps if s.status in FAILED_STATUSES]

    def first_failed_step(self, run_id: str) -> Step | None:
        chosen = root_cause(self.failed_step_positions(run_id))
        return None if chosen is None else self.get_step(run_id, chosen)

    def run_tree(self, run_id: str, *, payloads: bool = True) -> Run:
        tree = self._tree(run_id, payloads=payloads)
        run = copy.copy(tree.run)
        run.steps = [copy.copy(step) for step in tree.steps]
        step_tree(run.steps)
        return run

    def subtree(self, run_id: str, step_id: str, *, payloads: bool = True) -> Step:
        """A step with every step below it linked into its children."""
        tree = self._tree(run_id, payloads=payloads)
        top = tree.by_id.get(step_id)
        if top is None:
            raise NotFound(f"no step {jsonsafe.quoted(step_id)} in run {jsonsafe.quoted(run_id)}")
        below = [copy.copy(step) for step in tree.steps if top.ord < step.ord < top.ord + top.size]
        top = copy.copy(top)
        step_tree([top, *below])
        return top

    # -- the whole source ---------------------------------------------------------------------------
    def stats(self, by: str | None = None, flt: RunFilter | None = None) -> list[GroupStats]:
        with self.stats_scope(flt) as scope:
            return scope.groups(by)

    def stats_scope(self, flt: RunFilter | None = None) -> PgScope:
        runs, args = self._select("*", flt)
        calls = None
        if self._calls is not None:
            calls = f"SELECT * FROM ({self._calls}) c WHERE c.run_id IN (SELECT r.id FROM ({runs}) r)"
        # Costs in place are what the source reported; a source with calls it did not price has them
        # estimated here (postgres/estimated.py), as the SQLite reader of the format does.
        estimated: list[Estimated] | None = None
        if self.estimated and self.db.priced_calls is not None:
            estimated = self._estimates(self.db.priced_calls, runs, args)
        priced = self.estimated and (self.db.finalized or estimated is not None)
        return PgScope(self.session, runs, calls, args, priced=priced, estimated=estimated)

    def _estimates(self, priced: PricedCalls, runs: str, args: list[Any]) -> list[Estimated]:
        """The costs tracetui estimates for the calls of the runs `runs` keeps that the source did not price."""
        columns = ("key", "run_id", "model", "name", "kind", *priced.values)
        sql = f"SELECT * FROM ({priced.calls.select(columns)}) p WHERE p.run_id IN (SELECT r.id FROM ({runs}) r)"
        estimator = self.shared.estimator_for(self.label, self.source_format)
        with self.session.asking("reading the calls to price"), self.session.conn.transaction():
            with self.session.conn.cursor(name="tracetui_priced_calls") as cursor:
                cursor.itersize = 5000
                cursor.execute(sql, parameter(args))
                return estimator.priced(priced, cursor)

    def problems(self, limit: int | None = None) -> list[Problem]:
        found: list[Problem] = []
        if self.db.problems is not None:
            sql = f"SELECT line, run_id, message FROM ({self.db.problems}) p"
            if limit is not None:
                sql += f" LIMIT {int(limit)}"
            found = [
                Problem(message, line=line, run_id=run_id, source_file=self.label)
                for line, run_id, message in self.session.rows("listing the problems", sql)
            ]
        seen = {problem.message for problem in found}
        with self.shared.lock:
            found += [p for p in self.shared.problems.values() if p.message not in seen]
        found += self._unpriced()
        return found if limit is None else found[:limit]

    def _unpriced(self) -> list[Problem]:
        """The models whose calls met so far (listed, opened, in the stats) could not be priced."""
        estimator = self.shared.estimator
        if estimator is None:
            return []
        return [Problem(message, source_file=self.label) for message in estimator.unpriced_messages()]

    def problems_met(self, limit: int) -> list[Problem]:
        """The problems of the runs this store listed or read, at most `limit` (and one more, to say
        there are more). Never a scan of the source: only the rows of the runs listed are asked
        about (by their ids, which the source's index finds), and the runs read reported their own."""
        found: list[Problem] = []
        if self.db.problems is not None and self.listed:
            sql = f"SELECT line, run_id, message FROM ({self.db.problems}) p WHERE p.run_id = ANY(%s) LIMIT %s"
            rows = self.session.rows("listing the problems", sql, [list(self.listed), limit + 1])
            found = [
                Problem(message, line=line, run_id=run_id, source_file=self.label) for line, run_id, message in rows
            ]
        seen = {problem.message for problem in found}
        with self.shared.lock:
            found += [p for p in self.shared.problems.values() if p.message not in seen]
        found += self._unpriced()
        return found[: limit + 1]

    def count_problems(self) -> int:
        """Count the source's problem rows (a scan: run it in a worker); problem_count() then knows."""
        count = 0
        if self.db.problems is not None:
            row = self.session.one("counting the problems", f"SELECT count(*) FROM ({self.db.problems}) p")
            count = row[0] if row else 0
        self._sums(*self._select("*", None))  # every call to price met once: the unpriced models (_unpriced)
        self.shared.problem_count = count
        return count

    def problem_count(self, complete: bool = False) -> int:
        """Rows that cannot be read whole (counted by the server once: a scan, so only the viewer asks,
        in a worker), or the problems met in the runs opened, whichever is more (`complete` or not)."""
        if self.shared.problem_count is None:
            self.count_problems()
        with self.shared.lock:
            reported = len(self.shared.problems)
        return max(self.shared.problem_count or 0, reported) + len(self._unpriced())

    def iter_runs(self, run_ids: Iterable[str] | None = None) -> Iterator[Run]:
        """Full runs with their steps, one at a time: by id, or every run streamed from the server."""
        if run_ids is not None:
            for run_id in run_ids:
                run = self.run_tree(run_id, payloads=True)
                yield run
            return
        with self.session.asking("reading every run"):
            for run in self.db.read_runs(self.session.conn, self.shared.report):
                if not self.db.finalized:
                    finalize_run(pricing.apply(run, self.shared.pricer if self.estimated else None))
                yield run

    # -- search: ILIKE on the server where the source maps its steps to SQL (DatabaseSource.steps; no index
    #    is ever made in a database read in place), else each run read and looked through in Python ----
    def find_in_run(self, run_id: str, query: str) -> list[tuple[str, int, int]]:
        steps = sorted(self.steps(run_id, payloads=True), key=lambda step: step.ord)
        return [(step.id, step.ord, step.size) for step in steps if search.step_matches(step, query)]

    def _hits(self, query: str, flt: RunFilter | None, *, costed: bool = False) -> tuple[str, list[Any]]:
        """FROM … WHERE of the steps of the runs `flt` keeps whose text holds `query` (ILIKE on the
        server, as a store file's LIKE; runs as `r`, steps as `s`), and its parameters; `costed`: the
        runs with their estimates (an order by cost)."""
        assert self.db.steps is not None
        names = dict.fromkeys(("run_id", "id", "name", "kind", "ord", *search.SEARCHED, ESCAPED))
        steps = self.db.steps.select(names, null=_null(STEP_COLUMNS))
        matches = " OR ".join(f"s.{c} ILIKE %s ESCAPE '\\'" for c in search.SEARCHED)
        like = [search.contains(_stored(query))] * len(search.SEARCHED)
        chosen, args = self._select("*", flt, costed=costed)
        runs = f"({chosen}) r"
        return f" FROM {runs} JOIN ({steps}) s ON s.run_id = r.id WHERE {matches}", [*args, *like]

    def runs_matching(
        self,
        query: str,
        flt: RunFilter | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, search.RunHits]:
        if self.db.steps is None:
            ids = self.run_ids(flt, desc=False)
            read = functools.partial(self.steps, payloads=True)
            hits = search.scan_steps(ids, read, query, progress=progress, cancelled=cancelled)
            return {hit.run_id: hit for hit in hits}
        if cancelled is not None and cancelled():
            raise search.Cancelled
        body, args = self._hits(query, flt)
        sql = (
            "SELECT DISTINCT ON (s.run_id) s.run_id, count(*) OVER (PARTITION BY s.run_id), s.id, s.name, s.ord,"
            f" s.{ESCAPED}{body} ORDER BY s.run_id, s.ord"
        )
        found = {}
        for run_id, count, step_id, name, ord_, escaped in self.session.rows("searching the steps", sql, args):
            hit = unescaped({"run_id": run_id, "id": step_id, "name": name}, escaped)  # (NUL: pgsql)
            found[hit["run_id"]] = search.RunHits(hit["run_id"], count, hit["id"], hit["name"], ord_)
        if progress is not None:
            progress(1, 1)
        return found

    def steps_matching(
        self,
        query: str,
        flt: RunFilter | None = None,
        *,
        sort: str = "started",
        desc: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[list[search.StepHit]]:
        if self.db.steps is None:
            ids = self.run_ids(flt, sort=sort, desc=desc)
            read = functools.partial(self.steps, payloads=True)
            return search.scan_step_hits(ids, read, query, progress=progress, cancelled=cancelled)
        return self._step_hits(query, flt, sort, desc, progress, cancelled)

    def _step_hits(
        self,
        query: str,
        flt: RunFilter | None,
        sort: str,
        desc: bool,
        progress: Callable[[int, int], None] | None,
        cancelled: Callable[[], bool] | None,
    ) -> Iterator[list[search.StepHit]]:
        """The matching steps, run by run in the list's order, streamed from a server-side cursor."""
        body, args = self._hits(query, flt, costed=self._costs_sorted(sort))
        direction = "DESC" if desc else "ASC"
        key = self._order[sort]
        sql = (
            f"SELECT s.run_id, s.id, s.name, s.kind, s.ord, s.{ESCAPED}{body}"
            f" ORDER BY {key} {direction} NULLS LAST, r.sort_tie {direction}, s.ord"
        )
        conn = self.session.conn
        run: list[search.StepHit] = []
        with self.session.asking("searching the steps"), conn.transaction():
            with conn.cursor(name="tracetui_step_hits") as cursor:
                cursor.itersize = 2000
                cursor.execute(sql, parameter(args))
                for row in cursor:
                    hit = unescaped(dict(zip(("run_id", "id", "name", "kind", "ord"), row[:-1], strict=True)), row[-1])
                    run_id, step_id, name, kind, ord_ = hit.values()
                    if run and run[0].run_id != run_id:
                        yield run
                        run = []
                        if cancelled is not None and cancelled():
                            raise search.Cancelled
                    run.append(search.StepHit(run_id, step_id, name, kind, ord_))
        if run:
            yield run
        if progress is not None:
            progress(1, 1)

    def step_snippet(self, run_id: str, step_id: str, query: str) -> search.Snippet | None:
        step = self.get_step(run_id, step_id)
        return search.snippet({col: getattr(step, col) for col in search.SEARCHED}, query)

    def close(self) -> None:
        if self._on_close is not None:
            self._on_close(self.session)
        else:
            self.session.close()
