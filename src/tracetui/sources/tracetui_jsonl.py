"""tracetui's own JSON Lines: what `tracetui export` writes and `tracetui import` reads back, losslessly.

Each line is {"tracetui": 1, "run": {run fields..., "steps": [step fields..., flat, in execution order]}}.
The fields finalize_run derives are left out; it derives them again on import.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import MISSING, fields
from typing import Any

from .. import jsonsafe
from ..model import SOURCE_RUN_FIELDS, SOURCE_STEP_FIELDS, Problem, Run, Step
from ..store.schema import typed
from . import Head, ProblemSink, SourceFile
from .contract import one_record
from .records import json_lines

NAME = "tracetui-jsonl"
DESCRIPTION = "tracetui's own JSON Lines export (tracetui export)"
DETECTION = 'JSON Lines whose first line is an object with "tracetui": 1 and a "run" object'
PRIORITY = 80
MARKER = "tracetui"
VERSION = 1


# The start of a line of this format, as dumps() writes it.
_LINE_START = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"tracetui"\s*:\s*1\s*,\s*"run"\s*:\s*\{')


def sniff(head: Head) -> bool:
    rec = head.first_record
    if isinstance(rec, dict):
        return rec.get(MARKER) == VERSION and isinstance(rec.get("run"), dict)
    # One run longer than the head and nothing after it (an export of a run with big payloads) is
    # taken for one JSON document by read_head; it is still a line of this format.
    return head.json_document and _LINE_START.match(head.data) is not None


def run_record(run: Run) -> dict[str, Any]:
    record = {name: getattr(run, name) for name in SOURCE_RUN_FIELDS}
    record["steps"] = [{name: getattr(s, name) for name in SOURCE_STEP_FIELDS} for s in run.steps]
    return {MARKER: VERSION, "run": record}


def dumps(run: Run) -> bytes:
    """One line of the export: JSON with DEL and C1 escaped, so the file is safe to `cat` to a terminal."""
    return jsonsafe.for_output(run_record(run)) + b"\n"


def one_run_per_line(head: Head) -> bool:
    return True


def run_from_line(number: int, record: dict, report: ProblemSink) -> Run | None:
    body = record.get("run")
    if record.get(MARKER) != VERSION or not isinstance(body, dict):
        report(Problem("skipped: not a tracetui run record", line=number))
        return None
    values = {k: v for k, v in body.items() if k in _RUN_FIELDS}
    changes = typed(values)  # the file may have been edited: every value its field's type
    if values.get("id") in (None, ""):
        report(Problem("skipped: the run has no id", line=number))
        return None
    if type(body["id"]) is not str:
        changes.insert(0, f"id: {jsonsafe.short(body['id'])} is not text: kept as {values['id']!r}")
    run = _made(Run, _RUN_ARGS, values)
    _report(changes, f"run {run.id!r}", number, run.id, report)
    raw_steps = body.get("steps")
    for position, raw in enumerate(raw_steps if isinstance(raw_steps, list) else []):
        if not isinstance(raw, dict):
            report(Problem(f"run {run.id!r}: skipped step {position + 1}: not an object", line=number, run_id=run.id))
            continue
        step_values = {k: v for k, v in raw.items() if k in _STEP_FIELDS}
        changes = typed(step_values)
        if raw.get("id") is None:
            changes.insert(0, f"the step has no id: shown as {step_values['id']!r}")
        elif type(raw["id"]) is not str:
            changes.insert(0, f"id: {jsonsafe.short(raw['id'])} is not text: kept as {step_values['id']!r}")
        step_values["id"] = step_values.get("id") or f"step-{position + 1}"
        run.steps.append(_made(Step, _STEP_ARGS, step_values))
        _report(changes, f"run {run.id!r}, step {step_values['id']!r}", number, run.id, report)
    if run.source_line is None:
        run.source_line = number
    return run


# Keys decoded from JSON are not interned: matching them against a tuple of names, or as keywords
# against a 50-parameter __init__, compares each name as text. Sets and positional arguments do not.
_RUN_FIELDS, _STEP_FIELDS = frozenset(SOURCE_RUN_FIELDS), frozenset(SOURCE_STEP_FIELDS)
_Args = list[tuple[str, Any, Callable[[], Any] | None]]


def _arguments(cls: type, names: tuple[str, ...]) -> _Args:
    """(name, default, default factory) of the fields `names`, which lead cls's fields in order."""
    found = fields(cls)
    assert tuple(f.name for f in found[: len(names)]) == names
    return [
        (f.name, f.default, None if f.default_factory is MISSING else f.default_factory) for f in found[: len(names)]
    ]


_RUN_ARGS, _STEP_ARGS = _arguments(Run, SOURCE_RUN_FIELDS), _arguments(Step, SOURCE_STEP_FIELDS)


def _made(cls: Callable[..., Any], arguments: _Args, values: dict[str, Any]) -> Any:
    """cls(**values), with the fields values lacks at their defaults, called with positional arguments."""
    return cls(
        *[
            values[name] if name in values else (default if factory is None else factory())
            for name, default, factory in arguments
        ]
    )


def _report(changes: list[str], where: str, line: int, run_id: str, report: ProblemSink) -> None:
    if changes:
        report(Problem(f"{where}: {'; '.join(changes)}", line=line, run_id=run_id))


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    for number, record in json_lines(source, report):
        run = one_record(report, "the line", number, run_from_line, number, record, report)
        if run is not None:
            yield run
