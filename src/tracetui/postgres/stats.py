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
from .estimated import Estimated
from .session import Session

_FAILED = ", ".join(f"'{status}'" for status in sorted(FAILED_STATUSES))


class PgScope:
    """The runs a filter keeps, asked about with aggregates over `runs` (and `calls`): SQL relations
    with the store's column names that already apply the filter."""

    def __init__(
        self,
        session: Session,
        runs: str,
        calls: str | None,
        args: Sequence[Any],
        *,
        priced: bool,
        estimated: list[Estimated] | None = None,
    ) -> None:
        self.session = session
        self.runs = runs
        self.calls = calls
        self.args = list(args)
        self.priced = priced
        self.estimated = estimated or []  # calls the source did not price, priced by tracetui
        self._answers: dict[tuple, Any] = {}

    def __enter__(self) -> PgScope:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._answers.clear()

    def _ask(self, what: str, sql: str, key: tuple, shape: Callable[[list[tuple]], Any] = list) -> Any:
        if key not in self._answers:
            rows = [tuple(map(whole_number, row)) for row in self.session.rows(what, sql, self.args)]
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
        out = [_row(by, "runs", row[:13], _pair(row) if percentiles else None) for row in rows]
        if self.estimated:
            _add_estimates(out, self._run_groups(by), None)
        return out

    def _run_groups(self, by: str | None) -> list[tuple[Estimated, Any]]:
        """(estimated call, the group of its run), for the calls tracetui priced."""
        if by is None:
            return [(e, "all") for e in self.estimated]
        ids = sorted({e.run_id for e in self.estimated})
        sql = f"SELECT r.id, {RUN_GROUPS[by]} FROM ({self.runs}) r WHERE r.id = ANY(%s)"
        group = dict(self.session.rows(f"the groups of the runs priced by {by}", sql, [*self.args, ids]))
        return [(e, group.get(e.run_id)) for e in self.estimated]

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
        if self.estimated:
            groups: list[tuple[Estimated, Any]]
            if by == "model":
                groups = [(e, e.model) for e in self.estimated if e.model is not None]
            else:
                groups = [(e, e.name) for e in self.estimated if e.kind == "tool"]
            _add_estimates(out, groups, by)
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


def _add_estimates(groups: list[GroupStats], group_of: list[tuple[Estimated, Any]], by: str | None) -> None:
    """The costs tracetui estimated added to the groups of their calls (or runs), marked estimated: what
    the SQLite reader's sums give, whose calls are priced in its SQL (sqlite_steps.ModelCalls)."""
    by_group = {stats.group: stats for stats in groups}
    for call, group in group_of:
        stats = by_group.get(group)
        if stats is None:
            continue
        stats.cost_usd = (stats.cost_usd or 0.0) + call.cost
        stats.cost_estimated_usd = (stats.cost_estimated_usd or 0.0) + call.cost
        if stats.unpriced:
            stats.unpriced -= 1
    if by == "model":  # listed by what they cost (store/stats.py's _ORDER)
        groups.sort(key=lambda g: (g.cost_usd is None, -(g.cost_usd or 0.0), -g.runs, g.group or ""))


def whole_number(value: Any) -> Any:
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
