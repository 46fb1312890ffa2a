"""What the CLI and the viewer ask of a store, whatever holds the traces.

`Store` (reader.py) answers from SQLite: tracetui's own store, the import cache, or a SQLite file
read in place through views. `postgres.PgStore` answers from a PostgreSQL server. Both keep this
protocol, so `list`, `show`, `stats`, `compare`, `export` and the viewer's screens work on either
without knowing which. A PostgreSQL store also keeps `PagedStore`: the viewer's run list pages it
by key from the server instead of listing every run id (see tui/widgets/key_pager.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..model import Problem, Run, Step
from .reader import RunFilter

if TYPE_CHECKING:  # (types only: the viewer's first screen imports none of these modules)
    from ..analysis import GroupStats
    from .search import RunHits, Snippet, StepHit
    from .sessions import SessionKey, SessionRow

# A run's place in an order: (its sort key, None for runs without one; its tie-breaking id value).
Key = tuple[Any, Any]


class StatsScope(Protocol):
    """The runs a filter keeps, held while the stats screen asks its questions (store/stats.py)."""

    def __enter__(self) -> StatsScope: ...

    def __exit__(self, *exc: object) -> None: ...

    def close(self) -> None: ...

    def run_count(self) -> int: ...

    def groups(self, by: str | None, *, percentiles: bool = True) -> list[GroupStats]: ...

    def latency_histogram(self) -> list[tuple[float, float | None, int]]: ...


class TraceStore(Protocol):
    """Read-only queries over traces; one thread at a time (each worker opens its own)."""

    label: str  # what the user named (never with a password)
    source_format: str
    estimated: bool  # model calls without a reported cost were priced (False with --no-estimate)

    def count_runs(self, flt: RunFilter | None = None) -> int: ...

    def list_runs(
        self,
        flt: RunFilter | None = None,
        *,
        sort: str = "started",
        desc: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Run]: ...

    def run_ids(
        self, flt: RunFilter | None = None, *, sort: str = "started", desc: bool = True, limit: int | None = None
    ) -> list[str]: ...

    def runs_by_ids(self, run_ids: Sequence[str]) -> list[Run]: ...

    def get_run(self, run_id: str) -> Run: ...

    def has_run(self, run_id: str) -> bool: ...

    def latest_failed_run(self) -> Run | None: ...

    def models(self, run_ids: Sequence[str]) -> dict[str, list[str]]: ...

    def agents(self) -> list[str]: ...

    def steps(self, run_id: str, *, payloads: bool = False) -> list[Step]: ...

    def children(
        self, run_id: str, parent_id: str | None, *, limit: int | None = None, offset: int = 0
    ) -> list[Step]: ...

    def steps_from(self, run_id: str, first_ord: int, *, limit: int) -> list[Step]: ...

    def count_children(self, run_id: str, parent_id: str | None) -> int: ...

    def get_step(self, run_id: str, step_id: str) -> Step: ...

    def ancestors(self, run_id: str, step_id: str) -> list[str]: ...

    def failed_step_positions(self, run_id: str) -> list[tuple[str, int, int]]: ...

    def first_failed_step(self, run_id: str) -> Step | None: ...

    def run_tree(self, run_id: str, *, payloads: bool = True) -> Run: ...

    def subtree(self, run_id: str, step_id: str, *, payloads: bool = True) -> Step: ...

    def stats(self, by: str | None = None, flt: RunFilter | None = None) -> list[GroupStats]: ...

    def stats_scope(self, flt: RunFilter | None = None) -> StatsScope: ...

    def problems(self, limit: int | None = None) -> list[Problem]: ...

    def problem_count(self, complete: bool = False) -> int: ...

    def iter_runs(self, run_ids: Iterable[str] | None = None) -> Iterator[Run]: ...

    # Search (store/search.py): a step's id, name, kind, model, input, output or error holding a text.
    def find_in_run(self, run_id: str, query: str) -> list[tuple[str, int, int]]: ...

    def runs_matching(
        self,
        query: str,
        flt: RunFilter | None = None,
        *,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> dict[str, RunHits]: ...

    def steps_matching(
        self,
        query: str,
        flt: RunFilter | None = None,
        *,
        sort: str = "started",
        desc: bool = True,
        progress: Callable[[int, int], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Iterator[list[StepHit]]: ...

    def step_snippet(self, run_id: str, step_id: str, query: str) -> Snippet | None: ...

    def close(self) -> None: ...


@runtime_checkable
class PagedStore(Protocol):
    """A store too big (or too far away) to list every run id: the run list reads it a page at a time,
    by key (keyset pagination on (sort key, id)), and its counts come in the background."""

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
    ) -> list[tuple[Run, Key]]: ...

    def page_at(self, flt: RunFilter, sort: str, desc: bool, offset: int, limit: int) -> list[tuple[Run, Key]]: ...

    def estimate_runs(self, flt: RunFilter) -> int: ...

    def totals(self, flt: RunFilter) -> tuple[int, int]: ...

    def position(self, flt: RunFilter, sort: str, desc: bool, key: Key) -> tuple[int, bool]: ...

    def key_of(self, run_id: str, sort: str, flt: RunFilter | None = None) -> Key | None: ...

    def runs_by_ids(self, run_ids: Sequence[str]) -> list[Run]: ...


@runtime_checkable
class SessionStore(Protocol):
    """A store that groups its runs by session in its own queries (store/sessions.py: SQLite's `Store`).
    PostgreSQL's PgStore answers the same queries in its dialect."""

    def sessions(
        self, flt: RunFilter | None = None, *, sort: str = "started", desc: bool = True, limit: int | None = None
    ) -> list[SessionRow]: ...

    def session_keys(
        self, flt: RunFilter | None = None, *, sort: str = "started", desc: bool = True, limit: int | None = None
    ) -> list[SessionKey]: ...

    def session_rows(self, keys: Sequence[SessionKey], flt: RunFilter | None = None) -> list[SessionRow]: ...

    def count_sessions(self, flt: RunFilter | None = None) -> int: ...

    def session_run_ids(self, run_id: str) -> list[str]: ...

    def run_ids(
        self, flt: RunFilter | None = None, *, sort: str = "started", desc: bool = True, limit: int | None = None
    ) -> list[str]: ...
