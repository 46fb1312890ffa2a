"""Input formats. One module per format; each is detected from content, never the file name.

A format module defines:
  NAME         short name, used by --format
  DESCRIPTION  one line for `tracetui formats`
  DETECTION    how it is recognised, one line for `tracetui formats`
  sniff(head)  -> bool, from a Head (the first bytes, the first record or the SQLite tables)
  read(path, report, source) -> iterator of model.Run, not yet finalized (model.finalize_run is
               applied by the importer). `report(Problem)` records skipped/repaired input;
               `source.open()` gives the binary file to stream (so progress can be shown).
and, for SQLite sources that can be queried where they lie:
  in_place(head) -> bool, and views(conn) creating TEMP views `runs` and `steps` with the store's
               columns (store.RUN_COLUMNS / STEP_COLUMNS) over the read-only connection; it returns
               sort-key overrides ({"started": column}) for the Store, or {}.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import import_module
from types import ModuleType
from typing import Any

import orjson

from ..errors import UnusableInput
from ..model import Problem
from ..sqlite_uri import ro_uri  # also sources.ro_uri, for the format modules

# Order matters: the first module whose sniff() accepts the input wins.
_MODULES = (
    "native_sqlite",
    "agent_traces",
    "tracetui_jsonl",
    "otlp",
    "langsmith",
    "openai_agents",
    "langfuse",
    "smolagents",
    "inspect_ai",
    "export",
    "events",
)

HEAD_BYTES = 1 << 16
SQLITE_MAGIC = b"SQLite format 3\x00"

ProblemSink = Callable[[Problem], None]


@dataclass
class Head:
    """What detection may look at: the start of the file, parsed as far as it can cheaply be."""

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


class SourceFile:
    """The file a reader streams; tracks how far it has got, for progress bars."""

    def __init__(self, path: str):
        self.path = path
        self._file = None

    def open(self):
        self._file = open(self.path, "rb")
        return self._file

    @property
    def position(self) -> int:
        try:
            return self._file.tell() if self._file and not self._file.closed else 0
        except (OSError, ValueError):
            return 0


def in_place(module: ModuleType, head: Head) -> bool:
    check = getattr(module, "in_place", None)
    return bool(check and check(head))


def formats() -> list[ModuleType]:
    return [import_module(f"{__name__}.{name}") for name in _MODULES]


def by_name(name: str) -> ModuleType:
    for module in formats():
        if module.NAME == name:
            return module
    raise KeyError(name)


def names() -> list[str]:
    return [m.NAME for m in formats()]


def check_readable(path: str) -> None:
    """Raise UnusableInput unless path is a non-empty readable regular file."""
    if not os.path.exists(path):
        raise UnusableInput(path, "no such file")
    if os.path.isdir(path):
        raise UnusableInput(path, "is a directory, not a trace file")
    if not os.access(path, os.R_OK):
        raise UnusableInput(path, "permission denied")
    if os.path.getsize(path) == 0:
        raise UnusableInput(path, "the file is empty")


def read_head(path: str) -> Head:
    check_readable(path)
    try:
        with open(path, "rb") as f:
            data = f.read(HEAD_BYTES)
    except OSError as exc:
        raise UnusableInput(path, f"cannot read: {exc.strerror or exc}") from None
    head = Head(path=path, data=data)
    if data.startswith(SQLITE_MAGIC):
        head.sqlite_tables = sqlite_tables(path)
        return head
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] not in (b"{", b"["):
        return head
    first_line = stripped.split(b"\n", 1)[0]
    try:
        head.first_record = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        head.json_document = True
    if isinstance(head.first_record, list) or (isinstance(head.first_record, dict) and b"\n" not in stripped.rstrip()):
        # A whole JSON document on one line (array or envelope) is a document, not JSON Lines.
        if isinstance(head.first_record, list) or _looks_like_envelope(head.first_record):
            head.json_document = True
    if head.json_document:
        _peek_document(head)
    return head


def _looks_like_envelope(obj: dict) -> bool:
    return any(isinstance(v, list) and v and isinstance(v[0], dict) for v in obj.values()) and (
        "runs" in obj or "export_type" in obj or "traces" in obj or "data" in obj
    )


def _peek_document(head: Head) -> None:
    """Top-level keys (up to the first array-valued one) and the first item of that array."""
    import ijson

    array_key: str | None = None
    try:
        with open(head.path, "rb") as f:
            events = ijson.parse(f)
            _, event, _ = next(events)
            if event == "start_array":
                head.first_item = first_document_item(head.path, None)
                return
            if event != "start_map":
                return
            last_key = None
            for prefix, event, value in events:
                if prefix == "" and event == "map_key":
                    head.top_keys.append(value)
                    last_key = value
                elif prefix == last_key and event == "start_array":
                    array_key = last_key
                    break
                elif prefix == "" and event == "end_map":
                    break
    except (ijson.JSONError, ijson.IncompleteJSONError, ValueError, OSError, StopIteration):
        return
    if array_key is not None:
        head.array_key = array_key
        head.first_item = first_document_item(head.path, array_key)


def first_document_item(path: str, key: str | None) -> Any:
    import ijson

    prefix = "item" if key is None else f"{key}.item"
    try:
        with open(path, "rb") as f:
            for item in ijson.items(f, prefix, use_float=True):
                return item
    except (ijson.JSONError, ijson.IncompleteJSONError, ValueError, OSError):
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
        raise UnusableInput(path, f"corrupt or unreadable SQLite database ({exc})") from None


def detect(path: str, forced: str | None = None) -> tuple[ModuleType, Head]:
    head = read_head(path)
    if forced:
        try:
            return by_name(forced), head
        except KeyError:
            raise UnusableInput(path, f"unknown format {forced!r} (known: {', '.join(names())})") from None
    for module in formats():
        if module.sniff(head):
            return module, head
    raise UnusableInput(path, describe_unknown(head))


def describe_unknown(head: Head) -> str:
    if head.is_sqlite:
        tables = ", ".join(sorted(head.sqlite_tables)) or "none"
        return f"a SQLite database but not a trace store (tables found: {tables})"
    if b"\x00" in head.data[:4096]:
        return "binary data, not a trace file"
    if head.first_record is None and not head.json_document:
        return "not JSON, JSON Lines or SQLite: no trace format recognised"
    return "JSON, but not a trace format tracetui knows (see `tracetui formats`)"
