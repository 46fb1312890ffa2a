"""Estimated costs of a database read in place: what tracetui found, kept in its own cache for the next command.

A database read in place (Phoenix, MLflow, OpenCode) has nowhere to keep what tracetui computes for
its model calls. SQL prices them (sqlite_steps.ModelCalls) with the rates of each model on each UTC
day, which the price table gives (pricing.Pricer.rates: loading the table takes ~0.4 s of CPU, the
rates of one model and day a few ms). Those rates are kept here, in a private SQLite file of the
cache directory, one per database: named by the database's path and identity, the format and the
price data's version (new prices: a new file); so a later command or viewer applies them without
loading the table. What SQL found with them for the database's content (every call's estimate and
the unpriced-model messages, the `w` list: both one pass over every call) is kept beside it, by the
content (KeptCosts): a later command on the unchanged file reads the estimates from there instead of
each call's JSON. A reader that prices call by call in Python (Phoenix in PostgreSQL:
postgres/estimated.py) keeps each call's result instead, by its row and a fingerprint of what was read
for it. The user's file is never written; a cache that cannot be read or written is only a slower
answer.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import urllib.parse
import weakref
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import orjson

VERSION = 3  # of this file's layout: a change gives new files

Day = tuple[str, str | None, str]
"""A model, its provider and a UTC day (ISO date): what a call's rates are kept by."""

# -- each call's result, for a reader that prices call by call in Python (the PostgreSQL Phoenix stats)
Result = tuple[float | None, str, str | None, bool] | None
"""A call's cost, model, provider and whether it has token counts (None: no model call in the row)."""


def fingerprint(values: tuple[Any, ...]) -> int:
    """A digest of a row's values as SQLite hands them to Python (str, bytes, int, float, None), the same
    in every process (unlike hash()): CRC-32 and length of their text, ~2 µs for a 1.5 kB row."""
    text = "\0".join([v if type(v) is str else f"\1{v!r}\2{type(v).__name__}" for v in values])
    data = text.encode("utf-8", "surrogatepass")
    return (zlib.crc32(data) << 31) | (len(data) & 0x7FFFFFFF)


class EstimateCache:
    """What is kept of one database's estimates: the rates of its models by day, its unpriced models."""

    def __init__(self, file: str) -> None:
        self.file = file
        self._rates: list[tuple[Day, Any]] = []
        self._fresh: list[tuple[Any, int, Result, int | None]] = []
        self._lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None  # lookup()'s
        # Written when this is dropped (its connection closed) or at exit, whichever comes first.
        self._written = weakref.finalize(self, _save_rates, file, self._rates, self._lock)
        _OPEN.add(self)

    def load(self, limit: int) -> dict[Any, tuple[int, Result]] | None:
        """{row key: (fingerprint, result)} of every kept call (empty when the file cannot be read); None
        when there are more than `limit`: then each is looked up when asked for (lookup), so memory
        stays the same however big the database."""
        try:
            conn = sqlite3.connect(f"file:{self.file}?mode=ro", uri=True)
        except sqlite3.Error:
            return {}
        try:
            if conn.execute("SELECT count(*) FROM calls").fetchone()[0] > limit:
                return None
            rows = conn.execute("SELECT key, fingerprint, cost, model, provider, counted FROM calls").fetchall()
        except sqlite3.Error:
            return {}
        finally:
            conn.close()
        return {key: (fp, _result(cost, model, provider, counted)) for key, fp, cost, model, provider, counted in rows}

    def lookup(self, key: Any) -> tuple[int, Result] | None:
        """(fingerprint, result) of one kept call, from the file (a connection kept open for this)."""
        with self._lock:
            try:
                if self._reader is None:
                    self._reader = sqlite3.connect(f"file:{self.file}?mode=ro", uri=True, check_same_thread=False)
                row = self._reader.execute(
                    "SELECT fingerprint, cost, model, provider, counted FROM calls WHERE key = ?", [key]
                ).fetchone()
            except sqlite3.Error:
                return None
        return None if row is None else (row[0], _result(*row[1:]))

    def cost_of(self, call: int) -> tuple[float | None] | None:
        """(cost,) kept for a call as pricing takes it (call_digest), or None when no such call was priced:
        a step tree's calls are priced from here, without loading the price table."""
        with self._lock:
            try:
                if self._reader is None:
                    self._reader = sqlite3.connect(f"file:{self.file}?mode=ro", uri=True, check_same_thread=False)
                row = self._reader.execute("SELECT cost FROM calls WHERE call = ? LIMIT 1", [call]).fetchone()
            except sqlite3.Error:
                return None
        return None if row is None else (row[0],)

    def add(self, key: Any, fp: int, result: Result, call: int | None = None) -> None:
        """A call just priced (`call`: its call_digest): written with the next save()."""
        with self._lock:
            self._fresh.append((key, fp, result, call))
            full = len(self._fresh) >= _BATCH
        if full:
            self.save()

    def rates(self) -> dict[Day, Any]:
        """{(model, provider, UTC day): the rates of its calls (pricing.Pricer.rates)} kept before."""
        try:
            conn = sqlite3.connect(f"file:{self.file}?mode=ro", uri=True)
        except sqlite3.Error:
            return {}
        try:
            rows = conn.execute("SELECT model, provider, day, rates FROM rates").fetchall()
        except sqlite3.Error:
            return {}
        finally:
            conn.close()
        out: dict[Day, Any] = {}
        for model, provider, day, rates in rows:
            try:
                value = orjson.loads(rates)
            except orjson.JSONDecodeError:
                continue
            if isinstance(value, list):  # (tier starts, the rates of each region)
                value = (tuple(value[0]), tuple(value[1]))
            out[(_text(model), _text(provider) or None, day)] = value
        return out

    def add_rates(self, key: Day, rates: Any) -> None:
        """Rates just found: written with the next save()."""
        with self._lock:
            self._rates.append((key, rates))

    def save(self) -> None:
        """Write the rates and the calls found since the last save (a private file, made when first needed)."""
        _save_rates(self.file, self._rates, self._lock)
        with self._lock:
            fresh, self._fresh = self._fresh, []
        if not fresh:
            return
        rows = [
            (key, fp, *((None, None, None, 0) if result is None else (*result[:3], int(result[3]))), call)
            for key, fp, result, call in fresh
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "CREATE TABLE IF NOT EXISTS calls (key PRIMARY KEY, fingerprint INTEGER, cost REAL,"
                " model TEXT, provider TEXT, counted INTEGER, call INTEGER) WITHOUT ROWID"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS calls_by_call ON calls (call)")
            conn.executemany("INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

        self._write(write)

    def _write(self, write: Callable[[sqlite3.Connection], None]) -> None:
        _write(self.file, write)


def _save_rates(file: str, pending: list[tuple[Day, Any]], lock: threading.Lock) -> None:
    with lock:
        found = pending[:]
        pending.clear()
    if not found:
        return
    rows = [
        (_bytes(model), _bytes(provider or ""), day, orjson.dumps(rates).decode())
        for (model, provider, day), rates in found
    ]

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS rates (model BLOB, provider BLOB, day TEXT, rates TEXT,"
            " PRIMARY KEY (model, provider, day)) WITHOUT ROWID"
        )
        conn.executemany("INSERT OR REPLACE INTO rates VALUES (?, ?, ?, ?)", rows)

    _write(file, write)


def _write(file: str, write: Callable[[sqlite3.Connection], None]) -> None:
    """write() in one transaction on the cache file (private, made when first needed)."""
    try:
        if not os.path.exists(file):
            os.makedirs(os.path.dirname(file), mode=0o700, exist_ok=True)
            os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))
        conn = sqlite3.connect(file, timeout=2)
        try:
            with conn:
                write(conn)
        finally:
            conn.close()
    except (OSError, sqlite3.Error):
        pass  # only the next command is slower


def _bytes(text: str) -> bytes:
    """Text as kept (a model name may hold bytes that are not UTF-8, read as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def _text(data: Any) -> str:
    return data.decode("utf-8", "surrogateescape") if isinstance(data, bytes) else str(data)


def _result(cost: float | None, model: str | None, provider: str | None, counted: int) -> Result:
    return None if model is None else (cost, model, provider, bool(counted))


_BATCH = 20_000  # calls priced before they are written (and at exit)
_OPEN: weakref.WeakSet[EstimateCache] = weakref.WeakSet()


def _save_all() -> None:
    """Write what every cache in use found so far (a dropped one has written it; so does exit)."""
    for cache in list(_OPEN):
        cache.save()


def call_digest(model: str, provider: str | None, counts: tuple, when: str | None) -> int:
    """A model call as Pricer.cost takes it, as a 64-bit digest: what the kept cost of a call is found by
    (an integer, so its index costs the cache little: the text itself made the file four times bigger)."""
    # repr: the same in every process, and it writes a lone surrogate (text that is not UTF-8) escaped.
    text = repr((model, provider, tuple(counts), when)).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def for_database(path: str, fmt: str, tags: Iterable[str]) -> EstimateCache | None:
    """What is kept of the estimates of the database at `path` read as format `fmt`, priced with `tags` (the price
    data's version); None when the cache directory cannot be used or the file is not there."""
    found = _cache_name(path, fmt, tags)
    return None if found is None else EstimateCache(os.path.join(found[0], f"estimates-{found[1]}.db"))


def costs_for_database(path: str, fmt: str, tags: Iterable[str]) -> KeptCosts | None:
    """The estimates SQL found for the content of the database at `path` (as for_database names it)."""
    found = _cache_name(path, fmt, tags)
    return None if found is None else KeptCosts(os.path.join(found[0], f"costs-{found[1]}.db"))


def _cache_name(path: str, fmt: str, tags: Iterable[str]) -> tuple[str, str] | None:
    """(cache directory, name) of what is kept of a database's estimates, or None."""
    from .loading import usable_cache_dir

    try:
        st = os.stat(path)
        directory = usable_cache_dir()
    except OSError:
        return None
    identity = [os.path.abspath(path), st.st_dev, st.st_ino, fmt, VERSION, *tags]
    name = hashlib.sha256("\0".join(map(str, identity)).encode("utf-8", "surrogateescape")).hexdigest()
    return directory, name[:32]


KEPT = "tracetui_kept"
"""The schema name KeptCosts are attached under, on a connection that reads them in SQL."""


class KeptCosts:
    """The estimates of one content of a database read in place: each priced call's cost by its row
    (a rowid of the format's table of calls), and the unpriced-model messages. One SQLite file, written
    whole and put in place at once (never changed after), with the content it holds (a
    memo.content_fingerprint): a connection attaches it read-only and its SQL joins the costs to the
    calls (sqlite_steps.ModelCalls), where they hold for the content it reads."""

    def __init__(self, file: str) -> None:
        self.file = file

    def attach(self, conn: sqlite3.Connection, content: str) -> bool:
        """Attach the file to `conn` as KEPT if it holds `content`'s estimates; whether it did."""
        if not os.path.exists(self.file):
            return False
        uri = f"file:{urllib.parse.quote(os.path.abspath(self.file))}?mode=ro&immutable=1"
        try:
            conn.execute(f"ATTACH DATABASE ? AS {KEPT}", [uri])
        except sqlite3.Error:
            return False
        try:
            row = conn.execute(f"SELECT content FROM {KEPT}.content").fetchone()
            if row is not None and row[0] == content:
                return True
        except sqlite3.Error:
            pass
        try:
            conn.execute(f"DETACH DATABASE {KEPT}")
        except sqlite3.Error:
            pass  # (then no table of costs is attached in its place: the views price every call)
        return False

    @staticmethod
    def attach_empty(conn: sqlite3.Connection) -> bool:
        """Attach an empty table of costs to `conn` as KEPT (in memory), for fill(); whether it could."""
        try:
            conn.execute(f"ATTACH DATABASE ':memory:' AS {KEPT}")
            conn.execute(f"CREATE TABLE {KEPT}.calls (row INTEGER PRIMARY KEY, cost REAL)")
        except sqlite3.Error:
            return False
        return True

    @staticmethod
    def fill(conn: sqlite3.Connection, costs: list[tuple[int, float]]) -> bool:
        """Put (row, cost) of every priced call in the table attach_empty() gave `conn`; whether it did.
        Not inside a transaction of the caller's (it would be committed with them)."""
        if conn.in_transaction:
            return False
        try:
            conn.execute(f"DELETE FROM {KEPT}.calls")
            conn.executemany(f"INSERT INTO {KEPT}.calls VALUES (?, ?)", costs)
            conn.commit()
        except sqlite3.Error:
            conn.rollback()
            return False
        return True

    @staticmethod
    def unpriced(conn: sqlite3.Connection) -> list[str] | None:
        """The unpriced-model messages of the file attached to `conn` (attach)."""
        try:
            row = conn.execute(f"SELECT unpriced FROM {KEPT}.content").fetchone()
            messages = orjson.loads(row[0]) if row else None
        except (sqlite3.Error, orjson.JSONDecodeError):
            return None
        ok = isinstance(messages, list) and all(isinstance(m, str) for m in messages)
        return messages if ok else None

    def put(self, content: str, unpriced: list[str], costs: Iterable[tuple[int, float]]) -> None:
        """Keep the estimates of `content`: the unpriced-model messages and (row, cost) of every priced call."""
        tmp = f"{self.file}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.file), mode=0o700, exist_ok=True)
            os.close(os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600))
            conn = sqlite3.connect(tmp)
            try:
                conn.execute("PRAGMA journal_mode = OFF")  # a file put in place whole: nothing to roll back
                conn.execute("CREATE TABLE content (content TEXT, unpriced TEXT)")
                conn.execute("INSERT INTO content VALUES (?, ?)", [content, orjson.dumps(unpriced).decode()])
                conn.execute("CREATE TABLE calls (row INTEGER PRIMARY KEY, cost REAL)")
                conn.executemany("INSERT INTO calls VALUES (?, ?)", costs)
                conn.commit()
            finally:
                conn.close()
            os.replace(tmp, self.file)
        except (OSError, sqlite3.Error):
            try:
                os.remove(tmp)
            except OSError:
                pass
