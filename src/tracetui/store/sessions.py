"""Runs grouped by session, in SQL: one row per session (and one per run that has no session).

The store groups the runs a RunFilter keeps by their `session` and orders the groups by a sort key's
`group` aggregate (sort_keys.py), so the run list and `tracetui list --by session` never load every
run to group them. A run without a session stands alone: a group of one, keyed by its run id.

The same queries serve SQLite's store and a PostgreSQL database (postgres/store.py): a `Dialect`
says what differs (the parameter marker, the time arithmetic of a session's span, the types of sums).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .schema import FAILED_SQL
from .sort_keys import BY_NAME, SPAN_MS, STATUS_RANK, WORST_STATUS


@dataclass(frozen=True)
class SessionRow:
    """One session: how many runs, when, what they used, and its worst status."""

    session: str | None  # None: a run without a session, alone in its group (`run_id` says which)
    run_id: str | None  # the run of a group without a session (None for a session)
    runs: int
    failed: int  # runs that failed or timed out
    status: str | None  # the worst status of its runs (failed, timeout, running, pending, completed)
    started_at: str | None  # the first run's start
    ended_at: str | None  # the last end (or start) of any of its runs
    duration_ms: float | None  # from the first run's start to the last run's end
    steps: int | None
    tokens_in: int | None
    tokens_out: int | None
    credits: float | None
    cost_usd: float | None
    cost_estimated_usd: float | None  # the part of cost_usd estimated from the price table

    @property
    def key(self) -> SessionKey:
        return SessionKey(self.session, None if self.session is not None else self.run_id)

    @property
    def cost_estimated(self) -> bool:
        return self.cost_estimated_usd is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "run_id": self.run_id,
            "runs": self.runs,
            "failed_runs": self.failed,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "duration_ms": self.duration_ms,
            "steps": self.steps,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "credits": self.credits,
            "cost_usd": self.cost_usd,
            "cost_estimated": self.cost_estimated,
        }


def _status(rank: int | None) -> str | None:
    return STATUS_RANK[rank - 1] if rank else None


@dataclass(frozen=True)
class SessionKey:
    """A group of the run list grouped by session: a session, or a run without one."""

    session: str | None
    run_id: str | None = None  # the run, when `session` is None


_GROUP = "GROUP BY session, CASE WHEN session IS NULL THEN id END"  # a run without a session: alone

Rows = Callable[[str, list[Any]], Iterable[Sequence[Any]]]  # run a query, give its rows


@dataclass(frozen=True)
class Dialect:
    """What the session queries say differently in a database: SQLite's by default."""

    param: str = "?"
    span_ms: str = SPAN_MS  # a session's span in ms, an aggregate over its runs' ISO times
    failed: str = f"sum(status IN ({FAILED_SQL}))"
    whole_sum: str = "sum({})"  # a sum of integers, as an integer
    real_sum: str = "sum({})"


SQLITE = Dialect()


def _group_order(sort: str, dialect: Dialect) -> str:
    group = BY_NAME[sort].group
    group = dialect.span_ms if group == SPAN_MS else group
    return group.format(value="v", key="coalesce(session, min(id))")


def session_keys(
    rows: Rows,
    where: str,
    args: Sequence[Any],
    order_by: dict[str, str],
    *,
    sort: str,
    desc: bool,
    limit: int | None = None,
    runs: str = "runs",
    dialect: Dialect = SQLITE,
) -> list[SessionKey]:
    """The groups of the runs `where` keeps (" WHERE …" or ""), ordered by sort key `sort`'s `group`
    aggregate. `order_by` maps sort key names to their ORDER BY expression over runs (an in-place
    source's own). Only the sort value is computed for each run: an in-place view's other columns
    are costly, and are computed for the groups on screen only (session_rows)."""
    order = _group_order(sort, dialect)
    direction = "DESC" if desc else "ASC"
    sql = f"""
        SELECT session, CASE WHEN session IS NULL THEN min(id) END
        FROM (SELECT id, session, started_at, ended_at, {order_by[sort]} AS v FROM {runs}{where}) g
        {_GROUP}
        ORDER BY {order} {direction} NULLS LAST, session IS NULL, coalesce(session, min(id)) {direction}
    """
    if limit is not None:
        sql += f" LIMIT {int(limit)}"
    return [SessionKey(session, run_id) for session, run_id in rows(sql, list(args))]


def session_rows(
    rows: Rows,
    where: str,
    args: Sequence[Any],
    keys: Sequence[SessionKey],
    *,
    runs: str = "runs",
    dialect: Dialect = SQLITE,
) -> list[SessionRow]:
    """The summaries of these groups (of the runs `where` keeps), in no set order."""
    worst = WORST_STATUS.format(value="status")
    whole, real = dialect.whole_sum.format, dialect.real_sum.format
    select = f"""
        SELECT session, CASE WHEN session IS NULL THEN min(id) END, count(*), {dialect.failed},
            {worst}, min(started_at), max(coalesce(ended_at, started_at)), {dialect.span_ms}, {whole("step_count")},
            {whole("total_tokens_in")}, {whole("total_tokens_out")}, {real("total_credits")},
            {real("total_cost_usd")}, {real("total_cost_estimated_usd")}
        FROM {runs}"""
    glue = " AND " if where else " WHERE "
    out = []
    for column, values in (
        ("session", [k.session for k in keys if k.session is not None]),
        ("id", [k.run_id for k in keys if k.session is None and k.run_id is not None]),
    ):
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            also = f"{column} IN ({', '.join([dialect.param] * len(chunk))})"
            also += " AND session IS NULL" if column == "id" else ""
            sql = f"{select}{where}{glue}{also} {_GROUP}"
            for row in rows(sql, [*args, *chunk]):
                session, run_id, count, failed, rank, *rest = tuple(row)
                out.append(SessionRow(session, run_id, count, failed or 0, _status(rank), *rest))
    return out


def count_sessions(rows: Rows, where: str, args: Sequence[Any], *, runs: str = "runs") -> int:
    """How many groups session_keys gives for these runs."""
    sql = f"SELECT count(*) FROM (SELECT 1 FROM {runs}{where} {_GROUP}) g"
    return next(iter(rows(sql, list(args))))[0]
