"""Statistics over a store, computed in SQL: groups of runs or of calls, percentiles, histograms.

A `Scope` copies the runs a filter keeps (and, when asked about calls, their model and tool calls)
into TEMP tables once, so an in-place source's views are computed once however many questions the
stats screen asks; every number is then an aggregate SQLite computes over those rows, percentiles
included (a window numbers each group's durations in order), never a Python loop over runs.
`Store.stats` and `Store.stats_scope` hand them out; the CLI's `stats` and the viewer's stats
screen show them.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import jsonsafe
from ..analysis import GroupStats
from ..model import FAILED_STATUSES

_FAILED_SQL = ", ".join(f"'{status}'" for status in sorted(FAILED_STATUSES))

# What each grouping groups by, over the scope's runs (r) or calls (s).
RUN_GROUPS = {
    "agent": "agent",
    "status": "status",
    "session": "session",
    "day": "substr(started_at, 1, 10)",
    "hour": "substr(started_at, 1, 10) || ' ' || substr(started_at, 12, 2) || ':00'",
}
CALL_GROUPS = {"model": "model", "tool": "name"}
GROUPINGS = (*RUN_GROUPS, *CALL_GROUPS)
# How groups are listed: by name (or time); models by what they cost, tools by the time they took.
_ORDER = {
    "model": "cost IS NULL, cost DESC, n_rows DESC, grp",
    "tool": "total_ms IS NULL, total_ms DESC, n_rows DESC, grp",
}

_RUN_TEXT = ("id", "agent", "status", "session", "started_at")
_RUN_NUMBERS = (
    "duration_ms",
    "total_tokens_in",
    "total_tokens_out",
    "total_tokens_cache_read",
    "total_credits",
    "total_cost_usd",
    "total_cost_estimated_usd",
)
_CALL_TEXT = ("run_id", "name", "kind", "model", "status")
_CALL_NUMBERS = ("duration_ms", "tokens_in", "tokens_out", "tokens_cache_read", "credits", "cost_usd", "cost_estimated")
CALL_COLUMNS = (*_CALL_TEXT, *_CALL_NUMBERS)  # a model or tool call as stats reads it


def _sql_number(column: str) -> str:
    """column where it holds a usable number, else NULL: what schema.typed makes of it, in SQL."""
    return (
        f"(CASE WHEN typeof({column}) IN ('integer', 'real') AND {column} BETWEEN -1e300 AND 1e300 THEN {column} END)"
    )


def _sql_text(column: str) -> str:
    return f"(CASE WHEN {column} IS NULL OR typeof({column}) = 'text' THEN {column} ELSE CAST({column} AS TEXT) END)"


def _copy(text: tuple[str, ...], numbers: tuple[str, ...], source: str, typed: bool) -> str:
    """SELECT of the columns from `source` (a FROM … WHERE …), typed in SQL for a file tracetui did not write.

    Typed over a materialized copy: a view's column would be computed again for every mention of it.
    """
    plain = ", ".join((*text, *numbers))
    if not typed:
        return f"SELECT {plain} {source}"
    columns = ", ".join([*(f"{_sql_text(c)} AS {c}" for c in text), *(f"{_sql_number(c)} AS {c}" for c in numbers)])
    return f"WITH raw AS MATERIALIZED (SELECT {plain} {source}) SELECT {columns} FROM raw"


def calls_relation(conn: sqlite3.Connection) -> str:
    """Where the model and tool calls are (for stats, and the run list's filters by model or tool): a
    source's TEMP view `calls` (sqlite_steps.install_calls: SQL over a file read in place whose steps view
    builds each run's tree in Python), else the steps."""
    found = conn.execute("SELECT 1 FROM temp.sqlite_master WHERE type = 'view' AND name = 'calls'").fetchone()
    return "temp.calls" if found else "steps"


_names = itertools.count()

# A 1-2-5 ladder of bin edges (ms), from 1 ms to about 11 days: latencies spread over decades.
_EDGES = tuple(m * 10**e for e in range(0, 9) for m in (1, 2, 5))


def _interpolate(values: list[float], k: float) -> float:
    """Linear interpolation at fractional rank k between the two values read at floor(k)."""
    low = values[0]
    high = values[1] if len(values) > 1 else low
    return low + (high - low) * (k - int(k))


class Scope:
    """The runs a RunFilter keeps, held in TEMP tables of this connection while questions are asked."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        where: str,
        args: Sequence[Any],
        *,
        priced: bool = True,
        typed: bool = False,
        read: Callable[[str, Sequence[Any]], list[tuple]] | None = None,
    ) -> None:
        """`where`/`args`: a RunFilter's clause over runs (" WHERE …" or ""). `priced`: model calls
        without a cost were priced where the table could (else none counts as unpriced). `typed`: the
        runs and calls are a file's that tracetui did not write, each value made its column's type as
        it is copied. `read(sql, args)`: the rows of a query (by default conn.execute's)."""
        self.conn = conn
        self.priced = priced
        self._typed = typed
        self._read = read or (lambda sql, params: conn.execute(sql, params).fetchall())
        n = next(_names)
        self._runs, self._calls = f"tracetui_stat_runs_{n}", f"tracetui_stat_calls_{n}"
        self._have_calls = self._have_runs = False
        self._where, self._args = where, list(args)

    def __enter__(self) -> Scope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for table in (self._runs, self._calls):
            self.conn.execute(f"DROP TABLE IF EXISTS temp.{table}")

    def _run_table(self) -> str:
        """The scope's runs (copied on the first question about runs: a question about calls alone need
        not compute every column of an in-place source's runs view)."""
        if not self._have_runs:
            copy = _copy(_RUN_TEXT, _RUN_NUMBERS, f"FROM runs{self._where}", self._typed)
            self.conn.execute(f"CREATE TEMP TABLE {self._runs} AS {copy}", self._args)
            self._have_runs = True
        return self._runs

    def _of_runs(self, column: str) -> tuple[str, list[Any]]:
        """SQL of a FROM clause giving `column` of the scope's runs, and its arguments: the copy once made."""
        if self._have_runs:
            return f"FROM {self._runs}", []
        text, numbers = ((column,), ()) if column in _RUN_TEXT else ((), (column,))
        return f"FROM ({_copy(text, numbers, f'FROM runs{self._where}', self._typed)})", self._args

    def _call_table(self) -> str:
        """The model and tool calls of the scope's runs (copied on the first question about calls)."""
        if not self._have_calls:
            args: list[Any] = []
            scope = ""
            if self._where:
                runs, args = self._of_runs("id")
                scope = f" AND run_id IN (SELECT id {runs})"
            source = f"FROM {calls_relation(self.conn)} WHERE (model IS NOT NULL OR kind = 'tool'){scope}"
            copy = _copy(_CALL_TEXT, _CALL_NUMBERS, source, self._typed)
            self.conn.execute(f"CREATE TEMP TABLE {self._calls} AS {copy}", args)
            self._have_calls = True
        return self._calls

    def _summed(self, sql: str, args: Sequence[Any] = ()) -> list[tuple]:
        """The rows of a query of sums. SQLite's sum() stops with "integer overflow" past 64 bits (counts
        near 2**63 in any file): such a query is asked again with sums that cannot overflow."""
        try:
            return self._read(sql, args)
        except sqlite3.OperationalError as exc:
            if "integer overflow" not in str(exc):
                raise
        self.conn.create_aggregate("tracetui_sum", 1, _ExactSum)  # type: ignore[arg-type]  # (typeshed: int results only)
        return self._read(re.sub(r"\bsum\(", "tracetui_sum(", sql), args)

    def run_count(self) -> int:
        return self.conn.execute(f"SELECT count(*) FROM {self._run_table()}").fetchone()[0]

    def groups(self, by: str | None, *, percentiles: bool = True) -> list[GroupStats]:
        """Stats per group: `by` one of GROUPINGS (None: one group of every run). Without `percentiles`
        p50/p95 are left out (the costlier part: a sort of every duration)."""
        if by in CALL_GROUPS:
            return self._call_groups(by, percentiles)
        group = RUN_GROUPS[by] if by is not None else "'all'"
        runs = self._run_table()
        sql = f"""
            SELECT {group} AS grp, count(*) AS n_rows, sum(status IN ({_FAILED_SQL})), sum(total_tokens_in),
                sum(total_tokens_out), sum(total_tokens_cache_read), sum(total_credits), sum(total_cost_usd) AS cost,
                sum(total_cost_estimated_usd), max(duration_ms), sum(duration_ms) AS total_ms, NULL,
                count(duration_ms)
            FROM {runs} GROUP BY grp ORDER BY {_ORDER.get(by or "", "grp IS NULL, grp")}
        """
        rows = self._summed(sql)
        pct = self._percentiles(RUN_GROUPS.get(by or ""), runs, None, rows) if percentiles else {}
        return [_row(by, "runs", row, pct.get(row[0])) for row in rows]

    def _call_groups(self, by: str, percentiles: bool) -> list[GroupStats]:
        """Model calls by model, or tool calls by tool name."""
        which = "model IS NOT NULL" if by == "model" else "kind = 'tool'"
        group = CALL_GROUPS[by]
        table = self._call_table()
        sql = f"""
            SELECT {group} AS grp, count(*) AS n_rows, sum(status IN ({_FAILED_SQL})), sum(tokens_in),
                sum(tokens_out), sum(tokens_cache_read), sum(credits), sum(cost_usd) AS cost,
                sum(CASE WHEN cost_estimated THEN cost_usd END), max(duration_ms), sum(duration_ms) AS total_ms,
                sum(cost_usd IS NULL AND (tokens_in IS NOT NULL OR tokens_out IS NOT NULL)), count(duration_ms)
            FROM {table} WHERE {which} GROUP BY grp ORDER BY {_ORDER[by]}
        """
        rows = self._summed(sql)
        pct = self._percentiles(group, table, which, rows) if percentiles else {}
        run_time = None
        if by == "tool":
            runs, args = self._of_runs("duration_ms")
            run_time = self._summed(f"SELECT sum(duration_ms) {runs}", args)[0][0]
        out = []
        for row in rows:
            stats = _row(by, "calls", row, pct.get(row[0]))
            if not self.priced:
                stats.unpriced = None  # nothing was priced (--no-estimate): no call is "unpriced"
            if run_time:
                stats.share_of_run_time = (stats.total_ms or 0) / run_time
            out.append(stats)
        return out

    def _percentiles(
        self, group: str | None, table: str, which: str | None, rows: list[tuple]
    ) -> dict[Any, tuple[float, float]]:
        """{group: (p50, p95)} of the durations in `table` (the rows `which` keeps), for the groups of
        `rows` (group first, how many durations last). An index on (group, duration) lets each percentile
        be read by an ordered subquery (LIMIT 2 OFFSET rank): linear interpolation between the nearest
        ranks, as numpy's default and Python's statistics.quantiles(method="inclusive")."""
        index = f"tracetui_stat_index_{next(_names)}"
        keys = f"{group}, duration_ms" if group else "duration_ms"
        partial = f" WHERE {which}" if which else ""
        self.conn.execute(f"CREATE INDEX temp.{index} ON {table} ({keys}){partial}")
        match = f"{group} IS CAST(? AS TEXT) AND " if group else ""
        also = f" AND {which}" if which else ""
        sql = (
            f"SELECT duration_ms FROM {table} INDEXED BY {index} WHERE {match}duration_ms IS NOT NULL{also}"
            " ORDER BY duration_ms LIMIT 2 OFFSET ?"
        )
        out: dict[Any, tuple[float, float]] = {}
        for row in rows:
            grp, timed = row[0], row[-1]
            if not timed:
                continue
            found = []
            # A group name whose bytes are not UTF-8 was read with them made visible (\xNN): found by its bytes.
            params: list[Any] = [grp] if group else []
            raw = jsonsafe.hidden_bytes(grp) if type(grp) is str else None
            for p in (50, 95):
                k = (timed - 1) * p / 100.0
                values = [r[0] for r in self.conn.execute(sql, (*params, int(k)))]
                if not values and raw is not None:
                    params = [raw]
                    values = [r[0] for r in self.conn.execute(sql, (*params, int(k)))]
                if not values:
                    break
                found.append(_interpolate(values, k))
            else:
                out[grp] = (found[0], found[1])
        return out

    def latency_histogram(self) -> list[tuple[float, float | None, int]]:
        """Run durations in bins of a 1-2-5 ladder: (from ms, to ms or None for the last, runs), from the
        bin of the shortest run to the bin of the longest."""
        cases = " ".join(f"WHEN duration_ms < {edge} THEN {i}" for i, edge in enumerate(_EDGES))
        sql = (
            f"SELECT CASE {cases} ELSE {len(_EDGES)} END AS bin, count(*) FROM {self._run_table()}"
            " WHERE duration_ms IS NOT NULL GROUP BY bin ORDER BY bin"
        )
        counts = dict(self.conn.execute(sql).fetchall())
        if not counts:
            return []
        lows = (0.0, *map(float, _EDGES))
        highs: tuple[float | None, ...] = (*map(float, _EDGES), None)
        return [(lows[b], highs[b], counts.get(b, 0)) for b in range(min(counts), max(counts) + 1)]


class _ExactSum:
    """sum() without overflow: integers summed exactly, given back as a float beyond 64 bits."""

    def __init__(self) -> None:
        self.total: int | float | None = None

    def step(self, value: Any) -> None:
        if type(value) in (int, float):
            self.total = value if self.total is None else self.total + value

    def finalize(self) -> int | float | None:
        if type(self.total) is int and not -(2**63) <= self.total < 2**63:
            return float(self.total)
        return self.total


def _row(by: str | None, unit: str, row: sqlite3.Row | tuple, pct: tuple[float, float] | None) -> GroupStats:
    grp, n, failed, tin, tout, cached, credits, cost, estimated, max_ms, total_ms, unpriced, _timed = row
    p50, p95 = pct or (None, None)
    return GroupStats(
        group=grp,
        unit=unit,
        runs=n,
        failed=failed or 0,
        tokens_in=tin,
        tokens_out=tout,
        tokens_cache_read=cached,
        credits=credits,
        cost_usd=cost,
        cost_estimated_usd=estimated,
        p50_ms=p50,
        p95_ms=p95,
        max_ms=max_ms,
        total_ms=total_ms,
        unpriced=unpriced if by == "model" else None,
    )


# -- time buckets ---------------------------------------------------------------------------------

_BUCKET_FORMAT = {"day": "%Y-%m-%d", "hour": "%Y-%m-%d %H:00"}
_BUCKET_STEP = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
MAX_BUCKETS = 5000  # a timeline longer than this is shown with its gaps left out


def bucket_range(label: str, by: str) -> tuple[str, str] | None:
    """The stored-time bounds (since, until) of a day or hour bucket ("2026-11-01", "2026-11-01 09:00")."""
    from ..normalize import iso

    try:
        start = datetime.strptime(label, _BUCKET_FORMAT[by]).replace(tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    return iso(start), iso(start + _BUCKET_STEP[by])


def timeline(groups: list[GroupStats], by: str) -> list[GroupStats]:
    """Day or hour groups in time order with the buckets between them that had no runs added (empty),
    so a chart's x axis is time; runs without a start time are left out."""
    by_label = {g.group: g for g in groups if g.group is not None and bucket_range(g.group, by) is not None}
    if not by_label:
        return []
    dated = list(by_label.values())
    first = datetime.strptime(min(by_label), _BUCKET_FORMAT[by])
    last = datetime.strptime(max(by_label), _BUCKET_FORMAT[by])
    if (last - first) / _BUCKET_STEP[by] >= MAX_BUCKETS:
        return sorted(dated, key=lambda g: str(g.group))
    out = []
    at = first
    while at <= last:
        label = at.strftime(_BUCKET_FORMAT[by])
        out.append(by_label.get(label) or GroupStats(label))
        at += _BUCKET_STEP[by]
    return out
