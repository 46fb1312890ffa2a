"""Input formats. One module per format; each is detected from content, never the file name.

What a format module defines is the contract in sources/contract.py (`Source`, and the optional
`InPlace`, `LinesInParallel` and `GroupsInParallel` hooks). The formats are every module of this
package that is not marked `HELPER = True`, plus the objects registered by installed packages under
the `tracetui.sources` entry-point group; detection asks them in order of their PRIORITY. Adding a
format is adding a module: no list here names them.
"""

from __future__ import annotations

import errno
import functools
import os
import pkgutil
import sqlite3
import stat
import sys
import warnings
from importlib import import_module
from importlib.machinery import PathFinder
from typing import IO, TYPE_CHECKING, Any

import orjson

from .. import jsonsafe
from ..errors import UnusableInput
from ..sqlite_uri import problem as sqlite_problem
from ..sqlite_uri import ro_uri  # also sources.ro_uri, for the format modules
from .contract import (
    DATABASE_NAMES,
    Companions,
    GroupsInParallel,
    Head,
    InDatabase,
    InPlace,
    LinesInParallel,
    ProblemSink,
    Resumable,
    Resumed,
    Source,
    SourceFile,
    companions,
    groups_in_parallel,
    in_database,
    in_place,
    lines_in_parallel,
    resumable,
)
from .jsondoc import Document, JsonSyntaxError

if TYPE_CHECKING:
    from .contract_db import Catalog, DatabaseSource, Place, Relation, RunStart

__all__ = [
    "ENTRY_POINT_GROUP",
    "Catalog",
    "Companions",
    "DatabaseSource",
    "RunStart",
    "GroupsInParallel",
    "Head",
    "InDatabase",
    "InPlace",
    "LinesInParallel",
    "Place",
    "Relation",
    "Resumable",
    "Resumed",
    "PluginWarning",
    "ProblemSink",
    "Source",
    "SourceFile",
    "by_name",
    "companions",
    "detect",
    "detect_database",
    "formats",
    "groups_in_parallel",
    "in_database",
    "in_place",
    "lines_in_parallel",
    "names",
    "read_head",
    "resumable",
    "ro_uri",
]


def __getattr__(name: str) -> object:
    # The database half of the contract (contract_db.py), imported when a format or the PostgreSQL
    # reader first asks for it: opening a file never does (issue 15).
    if name in DATABASE_NAMES:
        from . import contract_db

        return getattr(contract_db, name)
    raise AttributeError(f"module '{__name__}' has no attribute '{name}'")  # (Python's own words)


ENTRY_POINT_GROUP = "tracetui.sources"


class PluginWarning(UserWarning):
    """A format registered by another package could not be used; the other formats still are."""


HEAD_BYTES = 1 << 16
SQLITE_MAGIC = b"SQLite format 3\x00"


# -- the registry ---------------------------------------------------------------------------------


def formats() -> list[Source]:
    """Every format, in detection order: highest PRIORITY first, then by NAME."""
    found: dict[str, Source] = {}
    for source in [*_builtin_formats(), *_plugin_formats()]:
        if source.NAME in found:
            warnings.warn(
                f"format {jsonsafe.quoted(source.NAME)} is defined twice; the first one is used",
                PluginWarning,
                stacklevel=2,
            )
            continue
        found[source.NAME] = source
    return sorted(found.values(), key=lambda s: (-s.PRIORITY, s.NAME))


def names() -> list[str]:
    return [s.NAME for s in formats()]


def by_name(name: str) -> Source:
    """The format called `name`, importing as little as it can (a forced --format skips detection)."""
    # A built-in module named after its format (NAME with "-" as "_") is found without importing the others.
    guess = name.replace("-", "_")
    if guess in _builtin_module_names():
        source = _builtin_format(guess)
        if source is not None and source.NAME == name:
            return source
    for source in formats():
        if source.NAME == name:
            return source
    raise KeyError(name)


def _builtin_module_names() -> tuple[str, ...]:
    return _module_names(tuple(__path__))


@functools.cache
def _module_names(path: tuple[str, ...]) -> tuple[str, ...]:
    # Cached: the package's modules do not change while it runs, and a folder import asks once a file.
    return tuple(info.name for info in pkgutil.iter_modules(path) if not info.name.startswith("_"))


@functools.cache
def _builtin_format(module_name: str) -> Source | None:
    """The format module `module_name` of this package, or None for a helper module."""
    module = import_module(f"{__name__}.{module_name}")
    if getattr(module, "HELPER", False):
        return None
    if not isinstance(module, Source):
        raise TypeError(f"{module.__name__} is neither a format (see sources/contract.py) nor marked HELPER = True")
    return module


def _builtin_formats() -> list[Source]:
    return [s for s in map(_builtin_format, _builtin_module_names()) if s is not None]


def _plugin_formats() -> list[Source]:
    """Formats other packages register under the `tracetui.sources` entry-point group (name = NAME)."""
    if not _may_have_plugins():
        return []
    from importlib.metadata import entry_points

    found: list[Source] = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            source = entry_point.load()
        except Exception as exc:  # a broken plug-in must not stop tracetui reading every other format
            warnings.warn(
                f"format plug-in {jsonsafe.quoted(entry_point.value)} cannot be loaded: {exc}",
                PluginWarning,
                stacklevel=3,
            )
            continue
        if not isinstance(source, Source):
            warnings.warn(
                f"format plug-in {jsonsafe.quoted(entry_point.value)} lacks NAME, DESCRIPTION, DETECTION, PRIORITY, sniff or read;"
                " skipped",
                PluginWarning,
                stacklevel=3,
            )
            continue
        found.append(source)
    return found


def _may_have_plugins() -> bool:
    """Whether an installed distribution may register a format, judged without importlib.metadata.

    Importing importlib.metadata costs about 25 ms, a quarter of the CLI's start-up, and almost no
    installation has a plug-in. Distributions on sys.path declare entry points in entry_points.txt
    beside their metadata, which is where importlib.metadata finds them too; when the group's name
    is in none of those files there is nothing to load. Anything unusual (a zip file on sys.path, a
    finder of distributions other than the standard one) is left to importlib.metadata.
    """
    if any(hasattr(finder, "find_distributions") and finder is not PathFinder for finder in sys.meta_path):
        return True
    needle = ENTRY_POINT_GROUP.encode()
    for entry in sys.path:
        try:
            children = os.listdir(entry or ".")
        except NotADirectoryError:
            return True  # a zip file on sys.path
        except OSError:
            continue
        for child in children:
            low = child.lower()
            if low.endswith((".dist-info", ".egg-info")):
                declared = os.path.join(entry, child, "entry_points.txt")
            elif low.endswith(".egg"):
                declared = os.path.join(entry, child, "EGG-INFO", "entry_points.txt")
            else:
                continue
            try:
                with open(declared, "rb") as f:
                    if needle in f.read():
                        return True
            except OSError:
                continue
    return False


# -- the head -------------------------------------------------------------------------------------


def check_readable(path: str) -> None:
    """Raise UnusableInput unless path is a non-empty readable regular file.

    (A pipe such as `<(zcat x.gz)` never gets here: loading.prepare reads it into a private copy.)
    """
    try:
        st = os.stat(path)
    except OSError as exc:
        raise UnusableInput(path, _stat_problem(path, exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise UnusableInput(path, "is a directory, not a trace file")
    if not stat.S_ISREG(st.st_mode):
        raise UnusableInput(path, f"is {_file_kind(st.st_mode)}, not a regular file")
    if not os.access(path, os.R_OK):
        raise UnusableInput(path, "permission denied")
    if st.st_size == 0:
        raise UnusableInput(path, "the file is empty")


def _stat_problem(path: str, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "a symlink loop (the links point at each other and never reach a file)"
    if exc.errno == errno.ENOENT and os.path.islink(path):
        return f"a broken symlink (it points to {jsonsafe.quoted(os.readlink(path))}, which does not exist)"
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "no such file"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return f"cannot read: {exc.strerror or exc}"


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a pipe"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def read_head(path: str) -> Head:
    check_readable(path)
    try:
        with open(path, "rb") as f:
            data = f.read(HEAD_BYTES)
            first_line, one_line = _first_line(f, data)
    except OSError as exc:
        raise UnusableInput(path, f"cannot read: {exc.strerror or exc}") from None
    head = Head(path=path, data=data)
    if data.startswith(SQLITE_MAGIC):
        head.sqlite_tables = sqlite_tables(path)
        return head
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    # A first line that ends like a record but does not parse is a broken record (a bad byte, a cut),
    # not the opening line of a document (which ends in "{", "[" or ","): the file is JSON Lines when
    # a later line is a record. Read as one document, every line after the broken one would be lost.
    broken_record = not one_line and first_line is not None and first_line.rstrip().endswith(b"}")
    if stripped[:1] not in (b"{", b"["):
        if broken_record:
            head.first_record = _later_object(data)
        return head
    try:
        head.first_record = jsonsafe.loads(first_line)[0] if first_line is not None else None
    except orjson.JSONDecodeError:  # (what orjson refuses and can be repaired, such as depth, parses)
        if broken_record:
            head.first_record = _later_object(data)
    head.json_document = head.first_record is None
    if one_line and (isinstance(head.first_record, list) or _looks_like_envelope(head.first_record)):
        # A whole JSON document on one line (array or envelope) is a document, not JSON Lines. With
        # more lines after it, it is the first of several values: read as one document, the rest
        # would be lost.
        head.json_document = True
    if head.json_document:
        _peek_document(head)
    return head


def _later_object(data: bytes) -> Any:
    """The first line after line 1 of the head that is a whole JSON object (line 1 is broken)."""
    for line in data.splitlines()[1:50]:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


FIRST_LINE_MAX = 64 << 20  # how far to read for the end of a first line longer than the head


def _first_line(f: IO[bytes], data: bytes) -> tuple[bytes | None, bool]:
    """(the first line, whether it is the only one), BOM and blank lines before it left out.

    A first line longer than the head is read on to its end, up to FIRST_LINE_MAX: that is what
    tells JSON Lines with a long first line (tracetui's own export of a run with a big payload)
    from one JSON document. The line is None when it runs to the end of the file or past
    FIRST_LINE_MAX: the file is then read as one JSON document.
    """
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    end = stripped.find(b"\n")
    if end >= 0:
        return stripped[:end], not stripped[end:].strip()
    if len(data) < HEAD_BYTES:  # the whole file is in the head, on one line
        return stripped, True
    start = len(data) - len(stripped)
    position, chunk = len(data), b""
    while position - start < FIRST_LINE_MAX:
        chunk = f.read(1 << 20)
        if not chunk:
            return None, True
        end = chunk.find(b"\n")
        if end >= 0:
            break
        position += len(chunk)
    else:
        return None, False
    line_end = position + end
    if not (chunk[end:].strip() or f.read(HEAD_BYTES).strip()):
        return None, True  # nothing but blank lines after it: one document
    f.seek(start)
    return f.read(line_end - start), False


def _looks_like_envelope(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and any(isinstance(v, list) and v and isinstance(v[0], dict) for v in obj.values())
        and ("runs" in obj or "export_type" in obj or "traces" in obj or "data" in obj)
    )


_PEEK_ITEMS = 20  # items tried for a first item that parses (one broken item must not hide the format)


def _peek_document(head: Head) -> None:
    """Top-level keys (up to the first array-valued one) and the first item of that array that parses."""
    try:
        with open(head.path, "rb") as f:
            doc = Document(f)
            first = doc.peek()
            if first == ord("["):
                head.first_item = _first_item(doc)
            elif first == ord("{"):
                for key in doc.members():
                    head.top_keys.append(key)
                    if doc.peek() == ord("["):
                        head.array_key = key
                        head.first_item = _first_item(doc)
                        break
    except (JsonSyntaxError, OSError):
        return


def _first_item(doc: Document) -> Any:
    for index in doc.items():
        try:
            return jsonsafe.loads(doc.raw())[0]
        except orjson.JSONDecodeError:
            if index >= _PEEK_ITEMS:
                return None
    return None


def first_document_item(path: str, key: str | None) -> Any:
    """The first item that parses of the top-level array (key None) or of the array under a top-level key."""
    try:
        with open(path, "rb") as f:
            doc = Document(f)
            if key is None:
                return _first_item(doc) if doc.peek() == ord("[") else None
            for name in doc.members():
                if name == key and doc.peek() == ord("["):
                    return _first_item(doc)
    except (JsonSyntaxError, OSError):
        return None
    return None


def sqlite_tables(path: str) -> dict[str, list[str]]:
    try:
        conn = sqlite3.connect(ro_uri(path), uri=True)
        try:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")]
            return {n: [r[1] for r in conn.execute(f'PRAGMA table_info("{n}")')] for n in names}
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UnusableInput(path, sqlite_problem(exc)) from None


# -- detection ------------------------------------------------------------------------------------


def detect(path: str, forced: str | None = None) -> tuple[Source, Head]:
    """The format of `path` (the first, by PRIORITY, whose sniff claims it, or `forced`) and its head."""
    head = read_head(path)
    if forced:
        try:
            return by_name(forced), head
        except KeyError:
            raise UnusableInput(
                path, f"unknown format {jsonsafe.quoted(forced)} (known: {', '.join(names())})"
            ) from None
    for source in formats():
        if _claims(source, head):
            return source, head
    raise UnusableInput(path, describe_unknown(head))


def registry_stamp() -> str | None:
    """What detection depends on besides the file: the built-in format modules (their names and times).
    None when another package may register formats (plug-ins are found only by loading them)."""
    if _may_have_plugins():
        return None
    parts = []
    for directory in __path__:
        with os.scandir(directory) as entries:
            for entry in entries:
                if entry.name.endswith(".py"):
                    parts.append(f"{entry.name}:{entry.stat().st_mtime_ns}")
    return "\0".join(sorted(parts))


def _claims(source: Source, head: Head) -> bool:
    """source.sniff(head); a sniff that raises (on a first record it did not foresee) does not claim the file."""
    try:
        return bool(source.sniff(head))
    except Exception:  # any format, plug-ins too: the others are still asked
        return False


def detect_database(catalog: Catalog, schema: str | None = None, table: str | None = None) -> tuple[Source, Place]:
    """The format and place of the traces in a database: the one candidate every InDatabase format
    finds there, narrowed by `schema` and `table`. Raises UnusableInput naming what it found."""
    found = [
        (source, place)
        for source in formats()
        if isinstance(source, InDatabase)
        for place in source.database_places(catalog)
    ]
    kept = [(s, p) for s, p in found if (schema is None or p.schema == schema) and (table is None or p.table == table)]
    if len(kept) == 1:
        return kept[0]
    listed = ", ".join(f"{place} ({place.format})" for _, place in (kept or found))
    narrowed = " and ".join(f"--{flag} {value}" for flag, value in (("schema", schema), ("table", table)) if value)
    if len(kept) > 1:
        raise UnusableInput(catalog.label, f"more than one trace table: {listed}; choose one with --schema and --table")
    if found:
        raise UnusableInput(catalog.label, f"no trace table matches {narrowed} (found: {listed})")
    unreadable = ", ".join(f"{s}.{t}" for s, t in catalog.unreadable[:10])
    denied = f"; this role may not SELECT {unreadable}" if unreadable else ""
    readable = sorted(f"{s}.{t}" for s, t in catalog.tables)
    seen = ", ".join(readable[:10]) + (", …" if len(readable) > 10 else "") if readable else "none"
    raise UnusableInput(catalog.label, f"no trace tables tracetui reads (tables this role can read: {seen}){denied}")


def describe_unknown(head: Head) -> str:
    if head.is_sqlite:
        tables = ", ".join(sorted(head.tables)) or "none"
        return f"a SQLite database but not a trace store (tables found: {tables})"
    if b"\x00" in head.data[:4096]:
        return "binary data, not a trace file"
    if head.first_record is None and not head.json_document:
        return "not JSON, JSON Lines or SQLite: no trace format recognised"
    return "JSON, but not a trace format tracetui knows (see `tracetui formats`)"
