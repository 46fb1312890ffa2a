"""Statistics over a store, computed in SQL: groups of runs or of calls, percentiles, histograms.

Every number is an aggregate SQLite computes (percentiles with window functions), so a 200k-run
store is summed without a Python loop over its runs. `Store.stats`, `Store.latency_histogram`
and `Store.time_range` call these; the CLI's `stats` and the viewer's stats screen show them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from ..analysis import GroupStats
from ..model import FAILED_STATUSES

_FAILED_SQL = ", ".join(f"'{status}'" for status in sorted(FAILED_STATUSES))

# What each grouping groups by: (SQL over runs, or over steps with alias s; over steps?).
RUN_GROUPS = {
    "agent": "agent",
    "status": "status",
    "session": "session",
    "day": "substr(started_at, 1, 10)",
    "hour": "substr(started_at, 1, 10) || ' ' || substr(started_at, 12, 2) || ':00'",
}
CALL_GROUPS = {"model": "s.model", "tool": "s.name"}
GROUPINGS = (*RUN_GROUPS, *CALL_GROUPS)
# How the groups are listed: names or time in order; models by cost, tools by the time they took.
_ORDER = {
    "model": "totals.cost IS NULL, totals.cost DESC, totals.n DESC, totals.grp",
    "tool": "totals.total_ms IS NULL, totals.total_ms DESC, totals.n DESC, totals.grp",
}


def _percentiles(source: str, group: str, value: str, where: str) -> str:
    """p50 and p95 (linear interpolation between the nearest ranks, as numpy's default) of `value` per
    group, from `source` rows that have one: a window numbers each group's values in order."""

    def at(p: int) -> str:
        k = f"((n - 1) * {p} / 100.0)"
        lo = f"CAST({k} AS INTEGER)"
        low = f"max(CASE WHEN rn = {lo} + 1 THEN v END)"
        high = f"max(CASE WHEN rn = min({lo} + 2, n) THEN v END)"
        return f"{low} + ({high} - {low}) * max({k} - {lo})"

    ranked = (
        f"SELECT {group} AS grp, {value} AS v, row_number() OVER (PARTITION BY {group} ORDER BY {value}) AS rn,"
        f" count(*) OVER (PARTITION BY {group}) AS n FROM {source} WHERE {value} IS NOT NULL{where}"
    )
    return f"SELECT grp, {at(50)} AS p50, {at(95)} AS p95 FROM ({ranked}) GROUP BY grp"


def group_stats(conn: sqlite3.Connection, by: str | None, where: str, args: Sequence[Any]) -> list[GroupStats]:
    """Stats per group: `by` one of GROUPINGS (None: one group of every run). `where`/`args` is a
    RunFilter's clause over runs (" WHERE …" or "")."""
    if by in CALL_GROUPS:
        return _call_stats(conn, by, where, args)
    group = RUN_GROUPS[by] if by is not None else "'all'"
    also = where.replace(" WHERE ", " AND ", 1)
    sql = f"""
        WITH totals AS (
            SELECT {group} AS grp, count(*) AS n, sum(status IN ({_FAILED_SQL})) AS failed,
                sum(total_tokens_in) AS tin, sum(total_tokens_out) AS tout, sum(total_tokens_cache_read) AS cached,
                sum(total_credits) AS credits, sum(total_cost_usd) AS cost, sum(total_cost_estimated_usd) AS estimated,
                max(duration_ms) AS max_ms, sum(duration_ms) AS total_ms
            FROM runs{where} GROUP BY grp
        ),
        pct AS ({_percentiles("runs", group, "duration_ms", also)})
        SELECT totals.*, NULL AS unpriced, pct.p50, pct.p95
        FROM totals LEFT JOIN pct ON pct.grp IS totals.grp
        ORDER BY {_ORDER.get(by or "", "totals.grp IS NULL, totals.grp")}
    """
    return [_row(by, "runs", row) for row in conn.execute(sql, [*args, *args])]


def _call_stats(conn: sqlite3.Connection, by: str, where: str, args: Sequence[Any]) -> list[GroupStats]:
    """Model calls by model, or tool calls by tool name, of the runs the filter keeps."""
    group = CALL_GROUPS[by]
    which = "s.model IS NOT NULL" if by == "model" else "s.kind = 'tool'"
    scope = f" AND s.run_id IN (SELECT id FROM runs{where})" if where else ""
    source = "steps s"
    priced = "s.cost_usd IS NULL AND (s.tokens_in IS NOT NULL OR s.tokens_out IS NOT NULL)"
    sql = f"""
        WITH totals AS (
            SELECT {group} AS grp, count(*) AS n, sum(s.status IN ({_FAILED_SQL})) AS failed,
                sum(s.tokens_in) AS tin, sum(s.tokens_out) AS tout, sum(s.tokens_cache_read) AS cached,
                sum(s.credits) AS credits, sum(s.cost_usd) AS cost,
                sum(CASE WHEN s.cost_estimated THEN s.cost_usd END) AS estimated,
                max(s.duration_ms) AS max_ms, sum(s.duration_ms) AS total_ms, sum({priced}) AS unpriced
            FROM {source} WHERE {which}{scope} GROUP BY grp
        ),
        pct AS ({_percentiles(source, group, "s.duration_ms", f" AND {which}{scope}")})
        SELECT totals.*, pct.p50, pct.p95
        FROM totals LEFT JOIN pct ON pct.grp IS totals.grp
        ORDER BY {_ORDER[by]}
    """
    rows = conn.execute(sql, [*args, *args]).fetchall()
    run_time = None
    if by == "tool":
        run_time = conn.execute(f"SELECT sum(duration_ms) FROM runs{where}", list(args)).fetchone()[0]
    out = []
    for row in rows:
        stats = _row(by, "calls", row)
        if run_time:
            stats.share_of_run_time = (stats.total_ms or 0) / run_time
        out.append(stats)
    return out


def _row(by: str | None, unit: str, row: sqlite3.Row | tuple) -> GroupStats:
    grp, n, failed, tin, tout, cached, credits, cost, estimated, max_ms, total_ms, unpriced, p50, p95 = row
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


# A 1-2-5 ladder of bin edges (ms), from 1 ms to about 11 days: latencies spread over decades.
_EDGES = tuple(m * 10**e for e in range(0, 9) for m in (1, 2, 5))


def latency_histogram(
    conn: sqlite3.Connection, where: str, args: Sequence[Any]
) -> list[tuple[float, float | None, int]]:
    """Run durations in bins of a 1-2-5 ladder: (from ms, to ms or None for the last, runs), from the
    bin of the shortest run to the bin of the longest."""
    also = where.replace(" WHERE ", " AND ", 1)
    cases = " ".join(f"WHEN duration_ms < {edge} THEN {i}" for i, edge in enumerate(_EDGES))
    sql = (
        f"SELECT CASE {cases} ELSE {len(_EDGES)} END AS bin, count(*) FROM runs"
        f" WHERE duration_ms IS NOT NULL{also} GROUP BY bin ORDER BY bin"
    )
    counts = dict(conn.execute(sql, list(args)).fetchall())
    if not counts:
        return []
    lows = (0.0, *map(float, _EDGES))
    highs: tuple[float | None, ...] = (*map(float, _EDGES), None)
    return [(lows[b], highs[b], counts.get(b, 0)) for b in range(min(counts), max(counts) + 1)]
