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


STARTED = SortKey("started", "started_at", cli=True)

# In the order of the viewer's sort cycle.
SORT_KEYS = (
    STARTED,
    SortKey("duration", "duration_ms", cli=True),
    SortKey("tokens", "(coalesce(total_tokens_in, 0) + coalesce(total_tokens_out, 0))", cli=True),
    SortKey("credits", "total_credits", cli=True),
    SortKey("cost", "total_cost_usd", cli=True),
    SortKey("status", "status", default_desc=False),
    SortKey("agent", "agent", default_desc=False),
    SortKey("id", "id", default_desc=False),
    SortKey("steps", "step_count"),
    SortKey("failed", "failed_steps", cycle=False),
    SortKey("error", "error", cycle=False),
)
BY_NAME = {key.name: key for key in SORT_KEYS}


def default_desc(name: str) -> bool:
    """The direction the viewer starts a sort key in."""
    return BY_NAME[name].default_desc
