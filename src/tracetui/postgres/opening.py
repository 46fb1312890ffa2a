"""A database on its way to the viewer and the CLI: what loading.Opening is for a file.

`prepare` connects once, reads the catalog, and asks the formats where the traces are (one place, or
--schema / --table to choose). `DatabaseOpening.connect()` then hands out PgStores, each on a
connection of its own taken from a small pool of idle read-only sessions (workers come and go
constantly; a new connection per worker would cost a round of authentication each time).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import partial

from .. import sources
from ..errors import UnusableInput
from ..model import Problem
from ..sources import DatabaseSource, Place, Source
from .session import Session, read_catalog
from .store import PgStore, Shared
from .target import DEFAULT_TIMEOUT_MS, Target, parse

IDLE_SESSIONS = 4


@dataclass
class DatabaseOpening:
    """A place in a database, ready to be asked (it is never imported: `ready` from the start)."""

    target: Target
    module: Source
    place: Place
    db: DatabaseSource
    timeout_ms: int = DEFAULT_TIMEOUT_MS
    estimate: bool = True
    problems: list[Problem] = field(default_factory=list)
    notice: str | None = None
    ready: bool = True
    in_place: bool = True
    cached: bool = False
    uses_workers: bool = False
    paged: bool = True  # the run list reads pages by key; it never lists every run id
    _idle: list[Session] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _shared: Shared = field(default_factory=Shared, repr=False)

    @property
    def format(self) -> str:
        return self.module.NAME

    @property
    def label(self) -> str:
        """The database and the table read, never with a password: postgresql://user@host:5432/db#schema.table."""
        return f"{self.target.label}#{self.place}"

    def run_import(self, progress: object = None) -> int:
        return 0  # read where it lies

    def index_for_search(self, progress: object = None, cancelled: object = None) -> bool:
        return False  # nothing is ever written to the database: a search scans it

    def connect(self) -> PgStore:
        """A store on an idle session (or a new one). Raises Unavailable when the server cannot be reached."""
        session = None
        with self._lock:
            while self._idle and session is None:
                candidate = self._idle.pop()
                if candidate.broken:
                    candidate.close()
                else:
                    session = candidate
        if session is None:
            session = Session(self.target, timeout_ms=self.timeout_ms)
        return PgStore(
            session,
            self.db,
            label=self.label,
            source_format=self.format,
            estimated=self.estimate,
            shared=self._shared,
            on_close=self._release,
        )

    def _release(self, session: Session) -> None:
        if session.broken or session.conn.info.transaction_status != 0:  # 0: idle, not inside a transaction
            session.close()
            return
        with self._lock:
            if len(self._idle) < IDLE_SESSIONS:
                self._idle.append(session)
                return
        session.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


def prepare(
    text: str,
    *,
    fmt: str | None = None,
    schema: str | None = None,
    table: str | None = None,
    timeout_ms: int | None = None,
    estimate: bool = True,
) -> DatabaseOpening:
    """Connect, find the traces and say how to read them. Raises UnusableInput or Unavailable (exit 2)."""
    target = parse(text)
    timeout = DEFAULT_TIMEOUT_MS if timeout_ms is None else timeout_ms
    session = Session(target, timeout_ms=timeout)
    try:
        catalog = read_catalog(session)
        if fmt is not None:
            source = sources.by_name(fmt)
            if not isinstance(source, sources.InDatabase):
                raise UnusableInput(target.label, f"the {fmt} format is not read from databases")
            places = [p for p in source.database_places(catalog) if _matches(p, schema, table)]
            if len(places) != 1:
                found = ", ".join(map(str, places)) or "none"
                raise UnusableInput(target.label, f"{fmt}: expected one table, found {found} (use --schema/--table)")
            place = places[0]
        else:
            source, place = sources.detect_database(catalog, schema, table)
        assert isinstance(source, sources.InDatabase)
        db = source.database_source(catalog, place)
    except BaseException:
        session.close()
        raise
    opening = DatabaseOpening(target, source, place, db, timeout_ms=timeout, estimate=estimate)
    opening._idle.append(session)
    return opening


def _matches(place: Place, schema: str | None, table: str | None) -> bool:
    return (schema is None or place.schema == schema) and (table is None or place.table == table)


class LaterOpening:
    """A database the viewer was asked to open while it could not be reached (down, or the login
    refused). The viewer starts on it anyway, its error screen says why, and every connect() tries
    prepare() again (`r`, and the app's reconnecting with backoff); once the server answers, this is
    the DatabaseOpening it made. The commands that print say it in one line and exit 2 instead."""

    notice: str | None = None
    ready = True
    uses_workers = False
    paged = True

    def __init__(
        self,
        text: str,
        *,
        fmt: str | None = None,
        schema: str | None = None,
        table: str | None = None,
        timeout_ms: int | None = None,
        estimate: bool = True,
    ) -> None:
        self.target = parse(text)
        self.problems: list[Problem] = []
        self._prepare = partial(
            prepare, text, fmt=fmt, schema=schema, table=table, timeout_ms=timeout_ms, estimate=estimate
        )
        self._opening: DatabaseOpening | None = None
        self._lock = threading.Lock()

    @property
    def label(self) -> str:
        return self._opening.label if self._opening is not None else self.target.label

    @property
    def format(self) -> str:
        return self._opening.format if self._opening is not None else "PostgreSQL"

    def run_import(self, progress: object = None) -> int:
        return 0

    def index_for_search(self, progress: object = None, cancelled: object = None) -> bool:
        return False  # nothing is ever written to the database: a search scans it

    def connect(self) -> PgStore:
        """A store once the database answers; raises Unavailable or UnusableInput until then."""
        with self._lock:
            if self._opening is None:
                self._opening = self._prepare()
            opening = self._opening
        return opening.connect()

    def close(self) -> None:
        if self._opening is not None:
            self._opening.close()
