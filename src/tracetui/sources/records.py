"""Streaming JSON records out of JSON Lines files and JSON documents, reporting what is skipped or repaired.

Every record of every JSON format is parsed here. orjson (lines) and ijson (documents) read good
input at full speed; whatever they refuse takes the careful path (jsonsafe.loads, and for documents
the jsondoc.Document walk), so one bad value costs that value or that record, never the rest of
the file, and every repair or skip is reported with its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import orjson

from .. import jsonsafe
from ..model import Problem
from . import ProblemSink, SourceFile
from .jsondoc import Document, JsonSyntaxError

HELPER = True

BOM = b"\xef\xbb\xbf"


def json_lines(source: SourceFile, report: ProblemSink) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every line that is a JSON object; other lines are reported."""
    with source.open() as f:
        for number, raw in enumerate(f, source.first_line):
            value = parse_line(number, raw, report, complete=raw.endswith(b"\n"))
            if value is not None:
                yield number, value


def parse_line(number: int, raw: bytes, report: ProblemSink, *, complete: bool = True) -> dict | None:
    """The JSON object on one line, or None (blank, or reported as skipped).

    `complete` is false for a last line with no newline: a parse error there means a cut-off file.
    """
    try:
        value = orjson.loads(raw)  # the fast path: surrounding whitespace is fine for orjson
    except orjson.JSONDecodeError:
        line = raw.strip()
        if number == 1 and line.startswith(BOM):
            line = line[3:]
        if not line:
            return None
        try:
            value, notes = jsonsafe.loads(line)
        except orjson.JSONDecodeError as exc:
            ending = "" if complete else " (the file ends mid-line: truncated?)"
            report(Problem(f"skipped: invalid JSON ({_short(exc)}){ending}", line=number))
            return None
        for note in notes:
            report(Problem(f"read with a repair: {note}", line=number))
    if not isinstance(value, dict):
        report(Problem(f"skipped: expected a JSON object, got {type(value).__name__}", line=number))
        return None
    return value


# -- JSON documents -------------------------------------------------------------------------------


def json_document_items(source: SourceFile, key: str | None, report: ProblemSink) -> Iterator[tuple[int, Any]]:
    """(index, item) of the array at the top level (key None) or under a top-level key, streamed."""
    return _document(source, key, report, "item")


def json_values(source: SourceFile, report: ProblemSink) -> Iterator[tuple[int, Any]]:
    """(index, value) of the top-level values of a file, one after another (pretty-printed records in a row)."""
    return _document(source, None, report, "value")


_FAST_DEPTH = 1000


class TooDeep(Exception):
    """Raised by GuardedFile: the fast reader is nesting too deep; hand over to the careful one."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {_FAST_DEPTH} levels")


class GuardedFile:
    """The file as ijson reads it: without a byte order mark, and stopped before nesting gets pathological.

    ijson keeps a path string per open level, so memory grows with the square of the depth. Counting
    brackets per chunk (strings ignored, so brackets inside text only make the guard stricter) is
    cheap; past _FAST_DEPTH levels the careful reader takes over, whose memory grows with the size.
    """

    def __init__(self, f: IO[bytes]):
        self._f, self._first, self._depth = f, True, 0

    def read(self, size: int = -1) -> bytes:
        data = self._f.read(size)
        if self._first and data:  # (ijson reads 0 bytes first, to see whether the file is binary)
            self._first = False
            if data.startswith(BOM):
                data = data[len(BOM) :]
        self._depth += data.count(b"[") + data.count(b"{") - data.count(b"]") - data.count(b"}")
        if self._depth > _FAST_DEPTH:
            raise TooDeep
        return data


def fast_reader_errors() -> tuple[type[Exception], ...]:
    import ijson

    # ijson's own; UnicodeDecodeError for a lone surrogate escape, ValueError for numbers it cannot hold.
    return (ijson.JSONError, UnicodeDecodeError, ValueError, TooDeep)


def _document(source: SourceFile, key: str | None, report: ProblemSink, what: str) -> Iterator[tuple[int, Any]]:
    import ijson

    if what == "value":
        prefix, several = "", True
    else:
        prefix, several = ("item" if key is None else f"{key}.item"), False
    index = 0
    with source.open() as f:
        try:
            for index, item in enumerate(
                ijson.items(GuardedFile(f), prefix, use_float=True, multiple_values=several), 1
            ):
                yield index, item
            return
        except fast_reader_errors():
            pass  # what is wrong, and where, the careful reader finds out and reports
    yield from _careful_document(source, key, report, what, skip=index)


def _careful_document(
    source: SourceFile, key: str | None, report: ProblemSink, what: str, skip: int
) -> Iterator[tuple[int, Any]]:
    """The document walked value by value from the start, yielding from item skip + 1 on."""
    done = skip  # items read whole
    with source.open() as f:
        doc = Document(f)
        try:
            if what == "value":
                positions = doc.values()
            elif key is None:
                positions = doc.items()
            else:
                positions = _items_under(doc, key)
            for index in positions:
                if index <= skip:
                    continue  # read already, before the fast reader stopped
                line = doc.line
                raw = doc.raw()
                done = index
                try:
                    value, notes = jsonsafe.loads(raw)
                except orjson.JSONDecodeError as exc:
                    report(Problem(f"{what} {index}: skipped: invalid JSON ({_short(exc)})", line=line))
                    continue
                for note in notes:
                    report(Problem(f"{what} {index}: read with a repair: {note}", line=line))
                yield index, value
        except JsonSyntaxError as exc:
            message = (
                f"the JSON document breaks off after {what} {done}: {exc} at byte {exc.offset}; later {what}s skipped"
            )
            report(Problem(message, line=exc.line))


def top_level_fields(path: str, *, until: str | None = None, wanted: frozenset[str] | None = None) -> dict[str, Any]:
    """Fields of the document's top-level object, parsed: those before key `until`, or only `wanted` ones.

    A field whose value does not parse is left out; a broken document gives the fields before the break.
    """
    fields: dict[str, Any] = {}
    try:
        with open(path, "rb") as f:
            doc = Document(f)
            if doc.peek() != ord("{"):
                return fields
            for key in doc.members():
                if key == until:
                    break
                if wanted is None or key in wanted:
                    try:
                        fields[key] = jsonsafe.loads(doc.raw())[0]
                    except orjson.JSONDecodeError:
                        continue
    except (JsonSyntaxError, OSError):
        pass
    return fields


def top_level_keys(path: str) -> list[str]:
    """The keys of the document's top-level object (those before a break in it)."""
    keys: list[str] = []
    try:
        with open(path, "rb") as f:
            doc = Document(f)
            if doc.peek() == ord("{"):
                keys.extend(doc.members())
    except (JsonSyntaxError, OSError):
        pass
    return keys


def _items_under(doc: Document, key: str) -> Iterator[int]:
    for name in doc.members():
        if name == key and doc.peek() == ord("["):
            yield from doc.items()
            return
    return


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
