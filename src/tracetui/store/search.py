"""Finding text in steps: in one run (the run view's `/`) and across every run (the run list's `/`,
`tracetui list --grep`).

A step matches when its id, name, kind, model, error, input or output holds the query, as SQLite's
LIKE compares (case folded for ASCII letters; `%` and `_` in a query are plain characters).

A store that tracetui wrote can have an FTS5 index of those columns with the trigram tokenizer
(`step_text`, build_index): `tracetui import -o` builds it when the import ends, the viewer builds it
in the background into the cache of a file it imported. The index holds trigrams only (detail=none,
a sixth of the size of a full one) and no text (external content: `steps`): it gives the steps that
hold every trigram of the query, and LIKE keeps those that hold the query itself, reading only them.
A query of fewer than three characters has no trigram: it is a scan, as every query is for a store
without a complete index and for a source read in place: run by run, with progress, and stoppable
between two runs.
"""

from __future__ import annotations

import bisect
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from .. import display, jsonsafe

if TYPE_CHECKING:
    from .protocol import TraceStore

INDEX = "step_text"
# What meta `search_index` holds once the index is complete. 2: text past a NUL character indexed (as a
# space); an index an older tracetui built (1) is not used, and a cache's is built again (build_index).
INDEX_VERSION = "2"
SEARCHED = ("id", "name", "kind", "model", "error", "input", "output")
TRIGRAM = 3  # the shortest query the index can answer
SCAN_CHUNK = 200  # runs scanned per query when there is no index
CANDIDATES_A_QUERY = 500  # rowids checked per query (one SQL parameter each)
INDEX_CHUNK = 200  # steps indexed per transaction (about 0.5 s of CPU at 5 KB a step: a stop waits no longer)

Progress = Callable[[int, int], None]  # runs searched, runs in all
Execute = Callable[[str, Any], Iterable[Any]]  # runs a query with its parameters: its rows


@dataclass(frozen=True)
class RunHits:
    """A run's steps that match: how many, and the first in execution order."""

    run_id: str
    count: int
    step_id: str
    step_name: str | None
    ord: int


@dataclass(frozen=True)
class StepHit:
    """One step whose text holds the query (the run view's `/`, the results of a search across runs)."""

    run_id: str
    step_id: str
    name: str | None
    kind: str | None
    ord: int


@dataclass(frozen=True)
class Snippet:
    """Where a step's text holds the query: the column and a line of text around the first hit."""

    field: str
    text: str


class Cancelled(Exception):
    """The caller asked the scan to stop."""


def build_index(
    conn: sqlite3.Connection,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    chunk: int = INDEX_CHUNK,
) -> bool:
    """Index the steps' text for search; True when the index is complete.

    Trigrams cost: about 2 MB of text a second of CPU (docs/benchmarks.md), some forty times what the
    import itself takes. So it is built a chunk of steps at a time, each committed with how far it got
    (meta `search_indexed_to`): a build stopped by `cancelled()` (the viewer closing) goes on from there
    next time. Searches use the index only once it is complete (meta `search_index`). `conn` must be in
    autocommit mode (isolation_level=None) and outside a transaction."""
    if _built_as(conn) not in (None, INDEX_VERSION):
        drop_index(conn)  # whole or partly built the way of an older tracetui
    conn.execute(
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {INDEX} USING fts5({', '.join(SEARCHED)},"
        " content='steps', tokenize='trigram', detail='none')"
    )
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search_index_version', ?)", (INDEX_VERSION,))
    row = conn.execute("SELECT value FROM meta WHERE key = 'search_indexed_to'").fetchone()
    done_to = int(row[0]) if row else 0
    last = conn.execute("SELECT max(rowid) FROM steps").fetchone()[0] or 0
    total = conn.execute("SELECT count(*) FROM steps").fetchone()[0]
    done = conn.execute("SELECT count(*) FROM steps WHERE rowid <= ?", (done_to,)).fetchone()[0]
    columns = ", ".join(SEARCHED)
    # FTS5's trigram tokenizer stops at a NUL character: the text after one is indexed, NUL as a space
    # (_grams asks so; holds() then checks the text itself). SQLite's replace() takes no NUL to replace.
    conn.create_function(_NUL_AS_SPACE, 1, _nul_as_space, deterministic=True)
    texts = ", ".join(
        f"CASE WHEN instr({col}, char(0)) > 0 THEN CAST({_NUL_AS_SPACE}(CAST({col} AS BLOB)) AS TEXT) ELSE {col} END"
        for col in SEARCHED
    )
    while done_to < last:
        if cancelled is not None and cancelled():
            return False
        if progress is not None:
            progress(done, total)
        upto = conn.execute(
            "SELECT max(rowid) FROM (SELECT rowid FROM steps WHERE rowid > ? ORDER BY rowid LIMIT ?)", (done_to, chunk)
        ).fetchone()[0]
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                f"INSERT INTO {INDEX}(rowid, {columns}) SELECT rowid, {texts} FROM steps WHERE rowid > ? AND rowid <= ?",
                (done_to, upto),
            )
            conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search_indexed_to', ?)", (str(upto),))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        done += conn.execute("SELECT count(*) FROM steps WHERE rowid > ? AND rowid <= ?", (done_to, upto)).fetchone()[0]
        done_to = upto
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('search_index', ?)", (INDEX_VERSION,))
    if progress is not None:
        progress(total, total)
    return True


_NUL_AS_SPACE = "tracetui_nul_as_space"


def _nul_as_space(data: bytes | None) -> bytes | None:
    return data.replace(b"\0", b" ") if isinstance(data, bytes) else data


def drop_index(conn: sqlite3.Connection) -> None:
    """Take the index (whole or partly built) away before the steps change under it (a followed file
    read again: loading.Opening.refresh); searches scan until it is built again. Autocommit `conn`."""
    conn.execute(f"DROP TABLE IF EXISTS {INDEX}")
    try:
        conn.execute("DELETE FROM meta WHERE key IN ('search_index', 'search_indexed_to', 'search_index_version')")
    except sqlite3.OperationalError:
        pass  # no meta table: nothing was recorded


def has_index(conn: sqlite3.Connection) -> bool:
    """Whether the store's steps are indexed (a store of an older tracetui, or read in place, is not)."""
    try:
        row = conn.execute("SELECT value FROM main.meta WHERE key = 'search_index'").fetchone()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == INDEX_VERSION


def _built_as(conn: sqlite3.Connection) -> str | None:
    """The INDEX_VERSION the store's index (whole or part) was built as; None: there is none."""
    found = dict(
        conn.execute(
            "SELECT key, value FROM meta WHERE key IN ('search_index', 'search_indexed_to', 'search_index_version')"
        ).fetchall()
    )
    if "search_index_version" in found:
        return found["search_index_version"]
    return "1" if found else None  # before versions were recorded


def contains(text: str) -> str:
    """A LIKE pattern matching text that contains `text` literally (ESCAPE '\\')."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contains_bytes(query: str) -> bytes | None:
    """contains() of the bytes a query stands for where it shows them as \\xNN (text that is not UTF-8,
    as the viewer shows it: jsonsafe.visible_surrogates), bound as CAST(? AS TEXT); None when it shows none.

    A user types what the screen shows. A store tracetui wrote holds the \\xNN text itself (its writer
    made it so); a file read in place holds the bytes, which this finds.
    """
    raw = bytes_form(query)
    if raw is None:
        return None
    return b"%" + raw.replace(b"\\", b"\\\\").replace(b"%", b"\\%").replace(b"_", b"\\_") + b"%"


def bytes_form(query: str) -> bytes | None:
    """The bytes a query stands for where it shows them as \\xNN (see contains_bytes), or None."""
    return next((form for form in jsonsafe.unshown(query) if isinstance(form, bytes)), None)


def text_forms(query: str) -> list[str]:
    """The query, and the text it stands for where it shows characters the viewer escapes (`\\x1b`,
    `\\u202e`: display.safe): a step is found by what the screen showed of it."""
    return [query, *(form for form in jsonsafe.unshown(query) if isinstance(form, str))]


def holds(column: str, like: str, text: str, nul: bool = False) -> str:
    """SQL (SQLite): `column` holds a text, as LIKE compares (ASCII case folded), past a NUL character too.
    `like`: the SQL of its contains() pattern; `text`: the SQL of the text itself; `nul`: it holds a NUL.

    SQLite's LIKE reads text only up to its first NUL (U+0000, which tracetui's store keeps as it
    came): a value holding one is looked through by instr() and lower(), which read it all and fold
    case as LIKE does (ASCII letters alone). The usual value pays one look for a NUL where LIKE fails."""
    whole = f"(instr({column}, char(0)) > 0 AND instr(lower({column}), lower({text})) > 0)"
    return whole if nul else f"({column} LIKE {like} ESCAPE '\\' OR {whole})"


def _params(query: str) -> dict[str, object]:
    params: dict[str, object] = {}
    for n, form in enumerate(text_forms(query)):
        params |= {f"like{n or ''}": contains(form), f"text{n or ''}": form}
    raw = bytes_form(query)
    if raw is not None:
        params |= {"raw": contains_bytes(query), "rawtext": raw}
    return params


def _scan_condition(params: dict[str, object], prefix: str = "") -> str:
    likes = []
    for name in params:
        if name.startswith("like"):
            text = f"text{name[4:]}"
            nul = "\0" in str(params[text])
            likes += [holds(f"{prefix}{col}", f":{name}", f":{text}", nul) for col in SEARCHED]
    if "raw" in params:
        nul = b"\0" in params["rawtext"]  # type: ignore[operator]
        raw = ("CAST(:raw AS TEXT)", "CAST(:rawtext AS TEXT)")
        likes += [holds(f"{prefix}{col}", *raw, nul) for col in SEARCHED]
    return "(" + " OR ".join(likes) + ")"


def _indexed(query: str) -> bool:
    return all(len(form) >= TRIGRAM for form in text_forms(query))


def _trigrams(query: str) -> str:
    """_grams of the query, or of any of its text_forms."""
    forms = text_forms(query)
    return _grams(query) if len(forms) == 1 else " OR ".join(f"({_grams(form)})" for form in forms)


def _grams(query: str) -> str:
    """An FTS5 MATCH of every trigram of the query (each a quoted token, all required).

    With detail=none FTS5 takes no phrases, and `col LIKE` through the index reads the text of every
    candidate once per column; a MATCH of the trigrams gives the candidate rowids from the index alone,
    and the caller's LIKE reads each candidate once. The tokenizer folds case as the query's LIKE does
    (and more: a non-ASCII letter's case is left to the LIKE)."""
    query = query.replace("\0", " ")  # (as build_index indexes it)
    grams = dict.fromkeys(query[i : i + TRIGRAM] for i in range(len(query) - TRIGRAM + 1))
    return " AND ".join('"' + gram.replace('"', '""') + '"' for gram in grams)


def find_in_run(
    conn: sqlite3.Connection, run_id: Any, query: str, execute: Execute | None = None
) -> list[tuple[str, int, int]]:
    """(id, ord, size) of the run's steps that match, in execution order. `run_id`: as the store's
    queries take it (text, or the bytes of text that is not UTF-8); `execute` runs the queries
    (Store._iter_rows: text that is not UTF-8 read as such), conn.execute by default."""
    run = execute or conn.execute
    params = _params(query) | {"run": run_id}
    if _indexed(query) and has_index(conn):
        # An import writes a run's steps together: their rowids are one range, which FTS5 reads alone.
        lo, hi = conn.execute("SELECT min(rowid), max(rowid) FROM steps WHERE run_id = ?", (run_id,)).fetchone()
        if lo is None:
            return []
        sql = (
            f"SELECT s.id, s.ord, s.size FROM {INDEX} f JOIN steps s ON s.rowid = f.rowid"
            f" WHERE {INDEX} MATCH :match AND f.rowid BETWEEN :lo AND :hi AND s.run_id = :run"
            f" AND {_scan_condition(params, 's.')} ORDER BY s.ord"
        )
        params |= {"lo": lo, "hi": hi, "match": _trigrams(query)}
    else:
        sql = f"SELECT id, ord, size FROM steps WHERE run_id = CAST(:run AS TEXT) AND {_scan_condition(params)} ORDER BY ord"
    return [(r[0], r[1], r[2]) for r in run(sql, params)]


def runs_matching(
    conn: sqlite3.Connection,
    query: str,
    *,
    run_ids: Sequence[Any] | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    execute: Execute | None = None,
) -> Iterator[RunHits]:
    """Every run with a matching step (first match and count), in no set order; `run_id` as the
    `run_ids` given name them (as the store's queries take them: see find_in_run, and `execute`).

    Through the index: one query. Without it: a scan of `run_ids` (every run when None), SCAN_CHUNK runs
    a query, reporting progress and raising Cancelled between two queries when `cancelled()` says so."""
    run = execute or conn.execute
    params = _params(query)
    if _indexed(query) and has_index(conn):
        sql = (
            f"SELECT s.run_id, count(*), s.id, s.name, min(s.ord) FROM {INDEX} f JOIN steps s ON s.rowid = f.rowid"
            f" WHERE {INDEX} MATCH :match AND {_scan_condition(params, 's.')} GROUP BY s.run_id"
        )
        for row in run(sql, params | {"match": _trigrams(query)}):
            yield RunHits(row[0], row[1], row[2], row[3], row[4])
        return
    ids = list(run_ids) if run_ids is not None else [r[0] for r in run("SELECT id FROM runs", ())]
    for start in range(0, len(ids), SCAN_CHUNK):
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None:
            progress(start, len(ids))
        for run_id in ids[start : start + SCAN_CHUNK]:
            # One run a query: an in-place source's steps view is built per run (`run_id = ?` reaches it).
            row = next(
                iter(
                    run(
                        f"SELECT count(*), id, name, min(ord) FROM steps WHERE run_id = CAST(:run AS TEXT)"
                        f" AND {_scan_condition(params)}",
                        params | {"run": run_id},
                    )
                ),
                None,
            )
            if row is not None and row[0]:
                yield RunHits(run_id, row[0], row[1], row[2], row[3])
    if progress is not None:
        progress(len(ids), len(ids))


def steps_matching(
    conn: sqlite3.Connection,
    query: str,
    run_ids: Sequence[str],
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    execute: Execute | None = None,
) -> Iterator[list[StepHit]]:
    """Every matching step of the runs `run_ids`, run by run in their order, each run's in execution
    order: a list of them a run, so a caller can show the first while the rest are searched.

    Through the index: the candidate steps (holding every trigram) come from the index alone at once,
    and LIKE then checks those of one run at a time (a run's steps are one range of rowids: an import
    writes them together), so the first run's hits come before the text of the others is read.
    Without it: a scan of one run a query. Progress either way; raises Cancelled between two runs.
    `run_ids` and `execute` as runs_matching takes them."""
    run = execute or conn.execute
    params = _params(query)
    if _indexed(query) and has_index(conn):
        yield from _indexed_steps(conn, query, run_ids, progress, cancelled)
        return
    sql = (
        "SELECT id, name, kind, ord FROM steps WHERE run_id = CAST(:run AS TEXT)"
        f" AND {_scan_condition(params)} ORDER BY ord"
    )
    for done, run_id in enumerate(run_ids):
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None and done % SCAN_CHUNK == 0:
            progress(done, len(run_ids))
        # A file read in place may hold numbers where ids are: the viewer's tree names steps by text.
        rows = run(sql, params | {"run": run_id})
        found = [StepHit(run_id, r[0] if isinstance(r[0], str) else str(r[0]), r[1], r[2], r[3]) for r in rows]
        if found:
            yield found
    if progress is not None:
        progress(len(run_ids), len(run_ids))


def runs_holding(store: TraceStore, query: str, run_ids: Sequence[str]) -> set[str]:
    """Which of these runs `list --grep` keeps: those whose own id, agent, session or error holds the
    query, and those with a step whose text does (`list --grep --follow`, a few runs at a time)."""
    from .reader import RunFilter

    wanted = set(run_ids)
    # Many runs (the first look): every run is asked once (one query through the index), not a chunk a time.
    flt = RunFilter(ids=list(run_ids)) if len(run_ids) <= SCAN_CHUNK else None
    own = store.run_ids(replace(flt or RunFilter(), search=query))
    return wanted & (set(own) | set(store.runs_matching(query, flt)))


def _indexed_steps(
    conn: sqlite3.Connection,
    query: str,
    run_ids: Sequence[str],
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> Iterator[list[StepHit]]:
    params = _params(query)
    candidates = sorted(
        r[0] for r in conn.execute(f"SELECT rowid FROM {INDEX} WHERE {INDEX} MATCH ?", (_trigrams(query),))
    )
    ranges: dict[str, tuple[int, int]] = {}
    if candidates:  # (a covering index gives every run's range in one pass)
        ranges = {
            r[0]: (r[1], r[2]) for r in conn.execute("SELECT run_id, min(rowid), max(rowid) FROM steps GROUP BY run_id")
        }
    for done, run_id in enumerate(run_ids):
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None and done % SCAN_CHUNK == 0:
            progress(done, len(run_ids))
        span = ranges.get(run_id)
        if span is None:
            continue
        mine = candidates[bisect.bisect_left(candidates, span[0]) : bisect.bisect_right(candidates, span[1])]
        found: list[StepHit] = []
        for at in range(0, len(mine), CANDIDATES_A_QUERY):
            some = mine[at : at + CANDIDATES_A_QUERY]
            names = [f":r{i}" for i in range(len(some))]
            sql = (
                f"SELECT id, name, kind, ord FROM steps WHERE rowid IN ({', '.join(names)})"
                f" AND run_id = :run AND {_scan_condition(params)}"
            )
            rows = conn.execute(sql, {f"r{i}": rowid for i, rowid in enumerate(some)} | {"run": run_id, **params})
            found.extend(StepHit(run_id, r[0], r[1], r[2], r[3]) for r in rows)
        if found:
            yield sorted(found, key=lambda hit: hit.ord)
    if progress is not None:
        progress(len(run_ids), len(run_ids))


def step_matches(step: object, query: str) -> bool:
    """Does a step (a model.Step with its payloads) hold the query, as LIKE compares?"""
    needles = [form.casefold() for form in text_forms(query)]
    return any(
        isinstance(value, str) and any(needle in value.casefold() for needle in needles)
        for value in (getattr(step, col) for col in SEARCHED)
    )


def scan_steps(
    run_ids: Sequence[str],
    read_steps: Callable[[str], list],
    query: str,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Iterator[RunHits]:
    """runs_matching for a store that is not SQLite (postgres.PgStore): each run's steps read (with
    their payloads) and looked through in Python, with progress, stoppable between two runs."""
    for done, run_id in enumerate(run_ids):
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None and done % SCAN_CHUNK == 0:
            progress(done, len(run_ids))
        found = [step for step in read_steps(run_id) if step_matches(step, query)]
        if found:
            first = min(found, key=lambda step: step.ord)
            yield RunHits(run_id, len(found), first.id, first.name, first.ord)
    if progress is not None:
        progress(len(run_ids), len(run_ids))


def scan_step_hits(
    run_ids: Sequence[str],
    read_steps: Callable[[str], list],
    query: str,
    *,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
    execute: Execute | None = None,
) -> Iterator[list[StepHit]]:
    """steps_matching for a store that is not SQLite (postgres.PgStore), as scan_steps is runs_matching."""
    for done, run_id in enumerate(run_ids):
        if cancelled is not None and cancelled():
            raise Cancelled
        if progress is not None and done % SCAN_CHUNK == 0:
            progress(done, len(run_ids))
        found = sorted((s for s in read_steps(run_id) if step_matches(s, query)), key=lambda s: s.ord)
        if found:
            yield [StepHit(run_id, s.id, s.name, s.kind, s.ord) for s in found]
    if progress is not None:
        progress(len(run_ids), len(run_ids))


def snippet(values: dict[str, object], query: str, width: int = 80) -> Snippet | None:
    """The first searched column of a step (as Store.get_step reads it) that holds the query, and the
    text around it on one line, escapes made visible. None: no column does (as Python folds case)."""
    needles = [form.casefold() for form in text_forms(query)]
    for col in SEARCHED:
        value = values.get(col)
        if not isinstance(value, str):
            continue
        folded = value.casefold()
        at = next((found for found in (folded.find(needle) for needle in needles) if found >= 0), -1)
        if at < 0:
            continue
        start = max(0, at - width // 3)
        text = value[start : start + width]
        shown = display.safe(text, single_line=True)
        return Snippet(col, ("…" if start else "") + shown + ("…" if start + width < len(value) else ""))
    return None
