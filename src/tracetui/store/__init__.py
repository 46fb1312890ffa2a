"""The SQLite trace store: its schema, writing runs into it, and the queries CLI and viewer share.

A store is a SQLite database with `runs` and `steps` (tables in tracetui's own schema, or TEMP
views over a source read in place, such as an agent_traces table). Everything above this package
reads traces only through `Store`.

  schema.py     the tables and columns, and how runs and steps map onto rows
  writer.py     StoreWriter: imports finalized runs (and merges parallel import blocks)
  reader.py     RunFilter and Store: the read-only queries
  sort_keys.py  the ways to order the run list
  sessions.py   runs grouped by session
"""

from typing import TYPE_CHECKING

from .reader import RunFilter, Store, connect_readonly
from .schema import (
    JSON_COLUMNS,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    STEP_COLUMNS,
    create_schema,
    view_columns,
)
from .sort_keys import SORT_KEYS, STARTED, SortKey, default_desc

if TYPE_CHECKING:
    from .sessions import SessionRow
    from .writer import StoreWriter


def __getattr__(name: str) -> object:
    # StoreWriter (and the search index it builds) is imported when first asked for: reading a store,
    # as the viewer's first screen does, needs neither (issue 15).
    if name == "StoreWriter":
        from .writer import StoreWriter

        return StoreWriter
    if name == "SessionRow":  # (runs grouped by session: not the first screen either)
        from .sessions import SessionRow

        return SessionRow
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")  # (Python's own words)


__all__ = [
    "JSON_COLUMNS",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "SessionRow",
    "SORT_KEYS",
    "STARTED",
    "STEP_COLUMNS",
    "RunFilter",
    "SortKey",
    "Store",
    "StoreWriter",
    "connect_readonly",
    "create_schema",
    "default_desc",
    "view_columns",
]
