"""The ways to order the run list: one row per sort key, read by the store, the CLI and the viewer."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SortKey:
    name: str  # what `list --sort`, Store.list_runs(sort=) and the viewer call it
    sql: str  # the ORDER BY expression over the runs table (an in-place source may override it)
    default_desc: bool = True  # the viewer's first direction: largest / latest first, names A→Z
    cli: bool = False  # offered by `tracetui list --sort`
    cycle: bool = True  # in the viewer's sort cycle (`s`) and its command palette
    # How sessions (runs grouped by session) are ordered by this key: an aggregate of their runs' values
    # (`{value}`: the expression above, for each run of the session; runs' columns by name) or the
    # session id itself (`{key}`).
    group: str = "sum({value})"


STARTED = SortKey("started", "started_at", cli=True, group="min({value})")
# A session's status is its worst run's: failed, then timeout, running, pending, completed.
STATUS_RANK = ("completed", "pending", "running", "timeout", "failed")
# A session's duration is the time from its first run's start to its last run's end.
SPAN_MS = "round((julianday(max(coalesce(ended_at, started_at))) - julianday(min(started_at))) * 86400000.0)"
WORST_STATUS = (
    "max(CASE {value} " + " ".join(f"WHEN '{s}' THEN {i + 1}" for i, s in enumerate(STATUS_RANK)) + " ELSE 0 END)"
)

# In the order of the viewer's sort cycle.
SORT_KEYS = (
    STARTED,
    SortKey("duration", "duration_ms", cli=True, group=SPAN_MS),
    SortKey("tokens", "(coalesce(total_tokens_in, 0) + coalesce(total_tokens_out, 0))", cli=True),
    SortKey("credits", "total_credits", cli=True),
    SortKey("cost", "total_cost_usd", cli=True),
    SortKey("status", "status", default_desc=False, group=WORST_STATUS),
    SortKey("agent", "agent", default_desc=False, group="min({value})"),
    SortKey("id", "id", default_desc=False, group="{key}"),
    SortKey("steps", "step_count"),
    SortKey("failed", "failed_steps", cycle=False),
    SortKey("error", "error", cycle=False, group="max({value})"),
)
BY_NAME = {key.name: key for key in SORT_KEYS}


def default_desc(name: str) -> bool:
    """The direction the viewer starts a sort key in."""
    return BY_NAME[name].default_desc
