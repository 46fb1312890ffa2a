"""Statistics over a PostgreSQL source, as aggregates the server computes.

The same numbers as store/stats.py (the same groups, orders and bins, percentiles by the same linear
interpolation: percentile_cont is numpy's default), but no TEMP tables: a role that may only SELECT
cannot create them. Every question is one aggregate over the source's runs (or calls) relation with
the filter applied; answers are kept, so the stats screen asking again costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from ..analysis import GroupStats
from ..model import FAILED_STATUSES
from ..store.stats import _EDGES, _ORDER, CALL_GROUPS, RUN_GROUPS, _row
from .session import Session

_FAILED = ", ".join(f"'{status}'" for status in sorted(FAILED_STATUSES))


class PgScope:
    """The runs a filter keeps, asked about with aggregates over `runs` (and `calls`): SQL relations
    with the store's column names that already apply the filter."""

    def __init__(self, session: Session, runs: str, calls: str | None, args: Sequence[Any], *, priced: bool) -> None:
        self.session = session
        self.runs = runs
        self.calls = calls
        self.args = list(args)
        self.priced = priced
        self._answers: dict[tuple, Any] = {}

    def __enter__(self) -> PgScope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._answers.clear()

    def _ask(self, what: str, sql: str, key: tuple, shape: Callable[[list[tuple]], Any] = list) -> Any:
        if key not in self._answers:
            rows = [tuple(map(_whole, row)) for row in self.session.rows(what, sql, self.args)]
            self._answers[key] = shape(rows)
        return self._answers[key]

    def run_count(self) -> int:
        rows = self._ask("counting the runs for the stats", f"SELECT count(*) FROM ({self.runs}) r", ("count",))
        return rows[0][0]

    def groups(self, by: str | None, *, percentiles: bool = True) -> list[GroupStats]:
        if by in CALL_GROUPS:
            return self._call_groups(by, percentiles)
        group = RUN_GROUPS[by] if by is not None else "'all'"
        pct = _percentiles(percentiles)
        sql = f"""
            SELECT {group} AS grp, count(*) AS n_rows, count(*) FILTER (WHERE status IN ({_FAILED})),
                sum(total_tokens_in), sum(total_tokens_out), sum(total_tokens_cache_read),
                sum(total_credits)::float8, sum(total_cost_usd)::float8 AS cost, sum(total_cost_estimated_usd)::float8,
                max(duration_ms)::float8, sum(duration_ms)::float8 AS total_ms, NULL::bigint, count(duration_ms) AS timed{pct}
            FROM ({self.runs}) r GROUP BY grp
        """
        sql = _ordered(sql, _ORDER.get(by or "", "grp IS NULL, grp"))
        rows = self._ask(f"the stats by {by or 'run'}", sql, ("runs", by, percentiles))
        return [_row(by, "runs", row[:13], _pair(row) if percentiles else None) for row in rows]

    def _call_groups(self, by: str, percentiles: bool) -> list[GroupStats]:
        if self.calls is None:
            return []
        which = "model IS NOT NULL" if by == "model" else "kind = 'tool'"
        pct = _percentiles(percentiles)
        sql = f"""
            SELECT {CALL_GROUPS[by]} AS grp, count(*) AS n_rows, count(*) FILTER (WHERE status IN ({_FAILED})),
                sum(tokens_in), sum(tokens_out), sum(tokens_cache_read),
                sum(credits)::float8, sum(cost_usd)::float8 AS cost,
                sum(CASE WHEN cost_estimated = 1 THEN cost_usd END)::float8, max(duration_ms)::float8,
                sum(duration_ms)::float8 AS total_ms,
                count(*) FILTER (WHERE cost_usd IS NULL AND (tokens_in IS NOT NULL OR tokens_out IS NOT NULL)),
                count(duration_ms) AS timed{pct}
            FROM ({self.calls}) c WHERE {which} GROUP BY grp
        """
        sql = _ordered(sql, _ORDER[by])
        rows = self._ask(f"the stats by {by}", sql, ("calls", by, percentiles))
        run_time = None
        if by == "tool":
            total = self._ask(
                "the runs' total time", f"SELECT sum(duration_ms)::float8 FROM ({self.runs}) r", ("run_time",)
            )
            run_time = total[0][0]
        out = []
        for row in rows:
            stats = _row(by, "calls", row[:13], _pair(row) if percentiles else None)
            if not self.priced:
                stats.unpriced = None
            if run_time:
                stats.share_of_run_time = (stats.total_ms or 0) / run_time
            out.append(stats)
        return out

    def latency_histogram(self) -> list[tuple[float, float | None, int]]:
        cases = " ".join(f"WHEN duration_ms < {edge} THEN {i}" for i, edge in enumerate(_EDGES))
        sql = (
            f"SELECT CASE {cases} ELSE {len(_EDGES)} END AS bin, count(*) FROM ({self.runs}) r"
            " WHERE duration_ms IS NOT NULL GROUP BY bin ORDER BY bin"
        )
        counts = dict(self._ask("the latency histogram", sql, ("histogram",)))
        if not counts:
            return []
        lows = (0.0, *map(float, _EDGES))
        highs: tuple[float | None, ...] = (*map(float, _EDGES), None)
        return [(lows[b], highs[b], counts.get(b, 0)) for b in range(min(counts), max(counts) + 1)]


def _whole(value: Any) -> Any:
    """A sum of counts (numeric: a sum of bigints may be beyond them) as store/stats.py gives it: an
    integer, a float beyond 64 bits."""
    if isinstance(value, Decimal):
        return int(value) if -(2**63) <= value < 2**63 else float(value)
    return value


def _ordered(sql: str, order: str) -> str:
    """The groups in store/stats.py's order (PostgreSQL sorts by an output name only when it stands alone)."""
    return f"SELECT * FROM ({sql}) g ORDER BY {order}"


def _percentiles(wanted: bool) -> str:
    # Ordered-set aggregates skip NULLs; linear interpolation between the nearest ranks.
    return ", percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY duration_ms)" if wanted else ""


def _pair(row: tuple) -> tuple[float, float] | None:
    values = row[13]
    return (values[0], values[1]) if values and values[0] is not None else None
