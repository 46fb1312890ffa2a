"""Streaming JSON records out of JSON Lines files and JSON documents, reporting what is skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..model import Problem
from . import ProblemSink, SourceFile

HELPER = True


def json_lines(source: SourceFile, report: ProblemSink) -> Iterator[tuple[int, dict]]:
    """(line number, object) for every line that is a JSON object; other lines are reported."""
    with source.open() as f:
        for number, raw in enumerate(f, 1):
            value = parse_line(number, raw, report, complete=raw.endswith(b"\n"))
            if value is not None:
                yield number, value


def parse_line(number: int, raw: bytes, report: ProblemSink, *, complete: bool = True) -> dict | None:
    """The JSON object on one line, or None (blank, or reported as skipped).

    `complete` is false for a last line with no newline: a parse error there means a cut-off file.
    """
    line = raw.strip()
    if number == 1 and line.startswith(b"\xef\xbb\xbf"):
        line = line[3:]
    if not line:
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        ending = "" if complete else " (the file ends mid-line: truncated?)"
        report(Problem(f"skipped: invalid JSON ({_short(exc)}){ending}", line=number))
        return None
    if not isinstance(value, dict):
        report(Problem(f"skipped: expected a JSON object, got {type(value).__name__}", line=number))
        return None
    return value


def json_document_items(source: SourceFile, key: str | None, report: ProblemSink) -> Iterator[tuple[int, Any]]:
    """(index, item) of the array at the top level (key None) or under a top-level key, streamed."""
    import ijson

    prefix = "item" if key is None else f"{key}.item"
    index = 0
    with source.open() as f:
        try:
            for index, item in enumerate(ijson.items(f, prefix, use_float=True), 1):
                yield index, item
        except (ijson.IncompleteJSONError, ijson.JSONError) as exc:
            report(Problem(f"the JSON document breaks off after item {index}: {_short(exc)}; later items skipped"))


def _short(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
