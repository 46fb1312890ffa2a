"""What a format module is: the contract every module of `tracetui.sources` (and every plug-in) keeps.

A format is one module (or any object with these attributes) that satisfies `Source`. It may also
satisfy `InPlace` (a SQLite file queried where it lies), one of the parallel-import protocols,
`LinesInParallel` or `GroupsInParallel`, `Companions` (runs read from more than one file) and
`InDatabase` (read where it lies in a PostgreSQL database); the importer asks `in_place()`,
`lines_in_parallel()`, `groups_in_parallel()`, `companions()` and `in_database()` below, never the
module's attributes directly.

Files and databases are detected apart: a file by `sniff(head)`, a database by `database_places(catalog)`
(the tables the format could read there), so no file format ever sees a database. A format read only
from databases (tracetui-postgres) still keeps `Source`: its sniff never claims a file.

A module that offers any hook of an optional protocol must offer all of it
(tests/sources/test_contract.py checks every format).

Modules of this package that are shared code rather than formats say so with `HELPER = True`.
Formats are found by listing the package and through the `tracetui.sources` entry-point group
(see sources/__init__.py and docs/formats.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from ..model import Problem, Run

if TYPE_CHECKING:
    import sqlite3

    import psycopg

    from ..model import Step
    from .staging import Staging

HELPER = True

ProblemSink = Callable[[Problem], None]
"""Where a reader reports input it skipped or repaired; each Problem is stored beside the runs."""

StagedRecords = list[tuple[int | None, Any]]
"""One staged group: (line or item number, record) in the order the records were staged."""


@dataclass
class Head:
    """What detection may look at: the start of the file, parsed as far as it can cheaply be.

    Built once by `sources.read_head()` and handed to `sniff()`, `in_place()`, `one_run_per_line()`,
    `read()` and `stage()`, so no module needs to open the file to learn its layout again.
    """

    path: str
    data: bytes
    sqlite_tables: dict[str, list[str]] | None = None  # table -> columns, for SQLite files
    first_record: Any = None  # first JSON value of a JSON Lines file
    json_document: bool = False  # starts like JSON but its first line is not a whole value
    top_keys: list[str] = field(default_factory=list)  # keys of a JSON document's top-level object
    array_key: str | None = None  # the first array-valued top-level key of a JSON document
    first_item: Any = None  # first element of the top-level array, or of array_key's array

    @property
    def is_sqlite(self) -> bool:
        return self.sqlite_tables is not None

    @property
    def tables(self) -> dict[str, list[str]]:
        """The SQLite tables and views with their columns; empty for other files."""
        return self.sqlite_tables or {}


READ_BUFFER = 1 << 20


class SourceFile:
    """The file a reader streams; tracks how far it has got, for progress bars."""

    first_line = 1  # the number of the first line open() gives (a window of appended lines starts later)

    def __init__(self, path: str):
        self.path = path
        self._file: IO[bytes] | None = None

    def open(self) -> IO[bytes]:
        # A big buffer: lines of kilobytes (session files' tool results) split across the default
        # 8 KB one cost a read and a join each; iterating lines is 3x faster this way.
        self._file = open(self.path, "rb", buffering=READ_BUFFER)
        return self._file

    @property
    def position(self) -> int:
        try:
            return self._file.tell() if self._file and not self._file.closed else 0
        except (OSError, ValueError):
            return 0


@runtime_checkable
class Source(Protocol):
    """Every format: how it is named and listed, how it is recognised, how its runs are read."""

    NAME: str
    """Short name, unique among formats: `--format NAME`, and what `tracetui formats` lists."""
    DESCRIPTION: str
    """One line for `tracetui formats`: what the format is."""
    DETECTION: str
    """One line for `tracetui formats`: what in the content gives the format away."""
    PRIORITY: int
    """Detection order: formats are asked highest PRIORITY first (ties by NAME) and the first whose
    sniff() accepts the input wins. A sniff that accepts a lot (the export and events catch-alls)
    takes a low PRIORITY so that stricter formats are asked before it."""

    def sniff(self, head: Head) -> bool:
        """Whether the input is in this format, judged from the head alone (never the file name).

        Args:
            head: the start of the file, parsed by `sources.read_head()`.

        Returns:
            True to claim the file. Cheap and side-effect free: every format's sniff may be asked.
        """
        ...

    def read(self, head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
        """Stream the runs of the file, one in memory at a time.

        Args:
            head: the head detection built (also when `--format` skipped detection).
            report: called with a Problem for every record skipped or repaired.
            source: `source.open()` gives the binary file to stream, so progress can be shown.

        Returns:
            The runs, not yet finalized (the importer applies `model.finalize_run`). A run without
            `source_file` is given the input's path.

        Raises:
            UnusableInput: nothing in the file could be read as this format.
        """
        ...


@runtime_checkable
class InPlace(Protocol):
    """Optional, for SQLite sources: query the file where it lies, read-only, instead of importing it."""

    def in_place(self, head: Head) -> bool:
        """Whether this file can be queried in place (else it is imported through read()).

        Args:
            head: the head; `head.sqlite_tables` lists the tables and their columns.

        Returns:
            True to open the file read-only and query it through views().
        """
        ...

    def views(self, conn: sqlite3.Connection, known_sort_keys: dict[str, str] | None = None) -> dict[str, str]:
        """Create TEMP views `runs` and `steps` with the store's columns (store.RUN_COLUMNS / STEP_COLUMNS).

        Model calls without a reported cost can be priced in the view: the connection has the SQL
        function tracetui_price(...), and pricing.view_costs() writes the steps' cost columns with it;
        Python that builds part of a view prices with the connection's own Pricer (pricing.pricer_of:
        None with --no-estimate). Views whose step trees are built in Python (sqlite_steps) are priced
        there, and sqlite_steps.ModelCalls prices the run list's cost sums and lists unpriced models.

        Args:
            conn: a read-only connection to the file.
            known_sort_keys: what this call returned on an earlier connection to the same file, so
                work done to find the sort keys (a scan) is not repeated; None the first time.

        Returns:
            Sort-key overrides for the Store ({"started": column of the runs view}), or {}.
        """
        ...


@runtime_checkable
class LinesInParallel(Protocol):
    """Optional, for JSON Lines with one whole run per line: big files are read by worker processes.

    The file is cut into blocks of whole lines; each worker parses its lines and calls
    run_from_line() for each, so runs need nothing from other lines (see parallel.py).
    """

    def one_run_per_line(self, head: Head) -> bool:
        """Whether this file holds one whole run per JSON line (some layouts of a format may not).

        Args:
            head: the head of the file.

        Returns:
            True when blocks of lines may be read independently.
        """
        ...

    def run_from_line(self, number: int, record: dict[str, Any], report: ProblemSink) -> Run | None:
        """The run on one line, as read() would give it.

        Args:
            number: the line number (1-based), for Problems and `Run.source_line`.
            record: the line, parsed (always a JSON object).
            report: called with a Problem for whatever is skipped or repaired.

        Returns:
            The run, not yet finalized, or None when the line is skipped (and reported).
        """
        ...


@runtime_checkable
class RowsFromLines(Protocol):
    """Optional, beside LinesInParallel: a run's step rows laid out by the format itself when its steps
    allow, which costs a fraction of Step objects, finalize_run and their rows (see parallel.py)."""

    def rows_from_line(
        self, number: int, record: dict[str, Any], report: ProblemSink, null: Any
    ) -> tuple[Run, list[list[Any]] | None] | None:
        """The run on one line and, where the format lays them out, its step rows.

        Args:
            number: the line number (1-based), for Problems and `Run.source_line`.
            record: the line, parsed (always a JSON object).
            report: called with a Problem for whatever is skipped or repaired.
            null: what a row holds for NULL.

        Returns:
            (run, rows): the run with its derived fields set (as finalize_run sets them) and its step
            rows in store.schema.STEP_COLUMNS' order, in execution order; (run, None): the run as
            run_from_line() gives it; None when the line is skipped (and reported).
        """
        ...


@runtime_checkable
class GroupsInParallel(Protocol):
    """Optional, for formats that spread a run over many records in any order (a trace over its spans).

    Reading has two phases. stage() puts every record into a temporary SQLite file under its group
    key (the trace or run id); run_from_group() turns one group into a run. read() is the two in a
    row (`staging.read_staged`); for big files parallel.py runs stage() in this process and
    run_from_group() over ranges of groups in worker processes.
    """

    def stage(self, head: Head, report: ProblemSink, source: SourceFile, staging: Staging) -> None:
        """Phase one: every usable record of the file, added to `staging` under its group key.

        Args:
            head: the head of the file.
            report: called with a Problem for every record skipped.
            source: the file to stream (`source.open()`).
            staging: where records go: `staging.add(key, record, line)`; `staging.stage_records`
                does the usual loop.

        Raises:
            UnusableInput: nothing in the file could be staged.
        """
        ...

    def run_from_group(self, key: str, records: StagedRecords, report: ProblemSink) -> Run | None:
        """Phase two: the run of one group. Runs in a worker process, so it needs nothing but its arguments.

        Args:
            key: the group key the records were staged under.
            records: (line, record) pairs in staging order, records as stage() added them.
            report: called with a Problem for anything skipped or repaired.

        Returns:
            The run, not yet finalized, or None to skip the group (reported).
        """
        ...


T = TypeVar("T")


def one_record(report: ProblemSink, where: str, line: int | None, read: Callable[..., T], *args: Any) -> T | None:
    """read(*args), or None when it raises: one record a format's code did not foresee is skipped and reported.

    The safety net under every format (the loops of staging, parallel and the line readers use it):
    a hostile value the format's checks missed costs its record, never the import. What it says
    names the exception, so that the gap can be found and closed in the format.
    """
    try:
        return read(*args)
    except Exception as exc:  # any record, any format (plug-ins too): the rest must load
        text = str(exc).splitlines()[0][:160] if str(exc) else ""
        report(Problem(f"skipped {where}: it could not be read ({type(exc).__name__}: {text})", line=line))
        return None


@runtime_checkable
class Companions(Protocol):
    """Optional, for formats whose runs are read from other files too (a session and its subagents' files).

    What the file's runs depend on is then more than the file: an import cache must be keyed on the
    companions as well, and a folder import skips a companion, whose content is already inside the
    run of the file that names it (a companion opened on its own is still read as a run of its own).
    """

    def companions(self, head: Head) -> list[str]:
        """The other files this file's runs are read from, as they exist now.

        Args:
            head: the head of the file.

        Returns:
            Paths of existing files, sorted; [] when the runs need nothing but the file. Cheap: a
            directory listing and the first line of a few files, never a read of the whole file.
        """
        ...


@runtime_checkable
class Resumable(Protocol):
    """Optional, for JSON Lines formats whose runs grow as lines are appended (a session, an event log):
    a followed file is read on from where the last read ended, never again from the start.

    resume() gives a Resumed that keeps what the format's reader had learnt (a session's conversation
    so far, a trace's staged spans); follow (tailing.py) hands it each window of appended whole lines,
    then asks for the runs those lines changed.
    """

    def resumable(self, head: Head) -> bool:
        """Whether this file can be read on line by line (JSON Lines; not a JSON document).

        Args:
            head: the head of the file.

        Returns:
            False for a layout that has to be read whole (it is then read again whole when it grows).
        """
        ...

    def resume(self, head: Head, report: ProblemSink) -> Resumed:
        """A reader that takes the file's lines a window at a time, from its first line on.

        Args:
            head: the head of the file.
            report: where the problems of its lines go (kept by the caller for as long as the file
                is followed; problems of building runs go to Resumed.runs' report).

        Returns:
            The reader, with nothing read yet.
        """
        ...


class Resumed(Protocol):
    """What a Resumable format keeps between two reads of a growing file (see Resumable)."""

    whole: bool
    """True: runs() gives every run of the file each time (a session is one run); False: only the
    runs that lines read since the last runs() call changed (the others are as they were)."""

    def read(self, source: SourceFile) -> None:
        """Read the next window of whole lines (source.first_line is the number of its first line).

        Raises:
            UnusableInput: the first window (the file as it was first read) is not usable at all.
        """
        ...

    def runs(self, report: ProblemSink) -> list[Run]:
        """The runs as a read of every line so far would give them (the reader itself is left as it
        was, so that it can read on); problems of building them to `report`, every time."""
        ...

    # Optional, for `whole` formats: grown(report) -> (run, first step id) | None, the run with only
    # the steps of the top-level steps from the first one the lines read since the last build changed
    # (tailing.Tail keeps the others as it built them); None: build it with runs(). See tailing.py.


# -- databases ------------------------------------------------------------------------------------


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


@runtime_checkable
class InDatabase(Protocol):
    """Optional: the format can be read where it lies in a PostgreSQL database (read-only)."""

    def database_places(self, catalog: Catalog) -> list[Place]:
        """The tables in this database the format could read (detection asks every format; more than
        one place in all makes the user choose with --schema / --table).

        Args:
            catalog: the tables this session may read, with their columns and types.

        Returns:
            One Place per candidate, [] when there is none. Cheap: the catalog only, no query.
        """
        ...

    def database_source(self, catalog: Catalog, place: Place) -> DatabaseSource:
        """How to read the traces at `place` (one of those database_places returned).

        Args:
            catalog: the same catalog.
            place: the chosen place.

        Returns:
            The SQL and readers of the place. Nothing is asked of the server yet.
        """
        ...


def in_database(source: Source) -> bool:
    """Whether `source` offers the InDatabase hooks."""
    return isinstance(source, InDatabase)


def in_place(source: Source, head: Head) -> bool:
    """Whether `source` offers the InPlace hooks and says this file can be queried where it lies."""
    return isinstance(source, InPlace) and source.in_place(head)


def lines_in_parallel(source: Source, head: Head) -> bool:
    """Whether `source` offers LinesInParallel and this file has one run per line."""
    return isinstance(source, LinesInParallel) and source.one_run_per_line(head)


def groups_in_parallel(source: Source) -> bool:
    """Whether `source` offers GroupsInParallel (stage + run_from_group)."""
    return isinstance(source, GroupsInParallel)


def resumable(source: Source, head: Head) -> bool:
    """Whether `source` offers Resumable and this file can be read on from where the last read ended."""
    return isinstance(source, Resumable) and source.resumable(head)


def companions(source: Source, head: Head) -> list[str]:
    """The other files `source` reads this file's runs from ([] when it offers no Companions hook)."""
    return source.companions(head) if isinstance(source, Companions) else []
