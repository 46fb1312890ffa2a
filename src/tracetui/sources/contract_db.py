"""The database half of the source contract (contract.py): where a format's traces sit in a database
and how they are read there, for formats that satisfy `InDatabase`.

Apart from contract.py so that opening a file, which never reads a database, does not build these
classes (issue 15: each dataclass compiles its methods on import). `tracetui.sources` and
`tracetui.sources.contract` still offer every name here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..model import Run
from .contract import ProblemSink

if TYPE_CHECKING:
    import psycopg

    from ..model import Step

HELPER = True


@dataclass(frozen=True)
class Place:
    """Where one format's traces sit in a database: a schema and the table that names them."""

    schema: str
    table: str
    format: str  # the NAME of the format that reads them

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Catalog:
    """What database detection may look at: the tables (and views) this session may read, their
    columns and types (as PostgreSQL's format_type() names them), and the server's version."""

    label: str  # the database as tracetui names it (never with a password)
    server_version: int  # e.g. 180001 for 18.1
    tables: dict[tuple[str, str], dict[str, str]]  # (schema, table) -> {column: type}
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # there, but this role may not SELECT them

    def columns(self, place: Place | tuple[str, str]) -> dict[str, str]:
        key = (place.schema, place.table) if isinstance(place, Place) else place
        return self.tables.get(key, {})


@dataclass
class Relation:
    """Rows as SQL: `columns` maps the store's column names to SQL expressions over `source` (a FROM
    clause, tables aliased); columns it leaves out are NULL; `where` keeps only some rows."""

    columns: dict[str, str]
    source: str
    where: str = ""

    def select(
        self, names: Iterable[str], also: dict[str, str] | None = None, null: Callable[[str], str] = lambda _: "NULL"
    ) -> str:
        """SELECT of these columns (in this order; null(name) where unmapped), plus `also` (name -> SQL)."""
        items = [(name, self.columns.get(name) or null(name)) for name in names] + list((also or {}).items())
        where = f" WHERE {self.where}" if self.where else ""
        return "SELECT " + ", ".join(f"{expr} AS {name}" for name, expr in items) + f" FROM {self.source}{where}"


@dataclass
class RunStart:
    """The start of a run, for opening a big run before all of it is read: the run as read_run gives it
    with only its first steps in execution order (`ord` 0, 1, 2, …: every step's parent comes before
    it), how many steps it has, its failed steps as (id, position, size), and how many of its steps
    are roots (None: all of them, a flat run). The run's totals must not need the steps left out:
    stored finalized (DatabaseSource.finalized), or steps that carry no tokens or costs."""

    run: Run
    total: int
    failed: list[tuple[str, int, int]]
    roots: int | None = None
    later_roots: list[Step] = field(default_factory=list)
    """Roots past the first steps (the first `limit` roots in all, in order), without their steps."""
    totals: dict[str, Any] | None = None
    """The run's steps_* sums over all its steps (model.Run), when the first steps alone would not
    give them (steps with tokens or costs): set on the run once its first steps are finalized."""
    layout: dict[str, tuple[int, int]] | None = None
    """(size, child_count) of each of the first steps in the whole run, when its steps are not stored
    finalized (the first steps alone would make a subtree end where they end)."""


@dataclass
class PricedCalls:
    """The model calls a database source reported no cost for, for tracetui to estimate (the stats):
    `calls` has columns key (the row's identity), run_id, model, name, kind and `values`, which are
    handed to `read` (the format's own reader of a call, as sqlite_steps.ModelCalls takes it)."""

    calls: Relation
    values: tuple[str, ...]
    read: Callable[..., Any]


RunReader = Callable[["psycopg.Connection", str, ProblemSink, bool], "Run | None"]
StartReader = Callable[["psycopg.Connection", str, ProblemSink, int], "RunStart | None"]
RunsReader = Callable[["psycopg.Connection", ProblemSink], Iterator[Run]]
StepReader = Callable[["psycopg.Connection", str, str], "Step | None"]


@dataclass
class DatabaseSource:
    """How a format's traces are read from one Place of a database, where they lie and read-only.

    The run list, its sorts, filters and counts, and the stats are SQL the server answers (`runs`,
    `order`, `calls`); a run's steps are read when the run is opened (`read_run`), usually by the
    same Python the format's file reader uses, so one mapping serves files and databases.
    """

    place: Place
    runs: Relation
    """One row per run: the store's run-list columns (store.schema.RUN_LIST_COLUMNS) as SQL."""
    by_id: str
    """A condition over `runs.source` with one %s: the row of the run with this id (use an index)."""
    tie: str
    """SQL of a unique, indexable key (the raw id column): what orders runs with equal sort keys."""
    read_run: RunReader
    """One run (every field) with its steps, by id (conn, run_id, report, payloads); None when there is
    no such run. Problems go to `report`. The steps are not finalized or priced unless `finalized`;
    `payloads` asks for the steps' payload columns too (only a reader with read_step leaves them out)."""
    read_runs: RunsReader
    """Every run with its steps, one at a time (a server-side cursor), for `export`."""
    order: dict[str, str] = field(default_factory=dict)
    """Sort-key name -> SQL over `runs.source` that orders as that column does but can use an index
    (the raw column); a key without one orders by the runs column itself."""
    calls: Relation | None = None
    """The model and tool calls, for stats (store.stats CALL_COLUMNS: run_id, name, kind, model, …)."""
    problems: str | None = None
    """SQL of (line, run_id, message) rows: runs that cannot be read whole. Asked with a LIMIT."""
    finalized: bool = False
    """read_run's steps are stored finalized and priced (a tracetui store): used as they are."""
    read_step: StepReader | None = None
    """One step with its payload columns, when read_run leaves them out (big stored runs)."""
    steps: Relation | None = None
    """Every step as SQL (the store's step columns: run_id, id, name, kind, ord and those a search looks
    in, store.search.SEARCHED; unmapped ones NULL), so that a search of the steps' text runs on the
    server; None: each run's steps are read and looked through in Python."""
    read_start: StartReader | None = None
    """The first `limit` steps of a run and what the run view needs besides (RunStart), in a query or
    a few (conn, run_id, report, limit); None when it cannot say (read_run then)."""
    priced_calls: PricedCalls | None = None
    """The calls the source reported no cost for, which tracetui estimates in the stats; None: none."""
