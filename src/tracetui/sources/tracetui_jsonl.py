"""tracetui's own JSON Lines: what `tracetui export` writes and `tracetui import` reads back, losslessly.

Each line is {"tracetui": 1, "run": {run fields..., "steps": [step fields..., flat, in execution order]}}.
The fields finalize_run derives are left out; it derives them again on import.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from ..model import SOURCE_RUN_FIELDS, SOURCE_STEP_FIELDS, Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .records import json_lines

NAME = "tracetui-jsonl"
DESCRIPTION = "tracetui's own JSON Lines export (tracetui export)"
DETECTION = 'JSON Lines whose first line is an object with "tracetui": 1 and a "run" object'
PRIORITY = 80
MARKER = "tracetui"
VERSION = 1


def sniff(head: Head) -> bool:
    rec = head.first_record
    return isinstance(rec, dict) and rec.get(MARKER) == VERSION and isinstance(rec.get("run"), dict)


def run_record(run: Run) -> dict[str, Any]:
    record = {name: getattr(run, name) for name in SOURCE_RUN_FIELDS}
    record["steps"] = [{name: getattr(s, name) for name in SOURCE_STEP_FIELDS} for s in run.steps]
    return {MARKER: VERSION, "run": record}


def dumps(run: Run) -> bytes:
    return orjson.dumps(run_record(run), option=orjson.OPT_NON_STR_KEYS, default=str) + b"\n"


def one_run_per_line(head: Head) -> bool:
    return True


def run_from_line(number: int, record: dict, report: ProblemSink) -> Run | None:
    body = record.get("run")
    if record.get(MARKER) != VERSION or not isinstance(body, dict):
        report(Problem("skipped: not a tracetui run record", line=number))
        return None
    try:
        steps = [Step(**{k: v for k, v in s.items() if k in SOURCE_STEP_FIELDS}) for s in body.get("steps") or []]
        run = Run(**{k: v for k, v in body.items() if k in SOURCE_RUN_FIELDS})
    except TypeError as exc:
        report(Problem(f"skipped: malformed tracetui record ({exc})", line=number))
        return None
    if not isinstance(run.id, str) or not all(isinstance(s.id, str) for s in steps):
        report(Problem("skipped: run and step ids must be strings", line=number))
        return None
    run.steps = steps
    if run.source_line is None:
        run.source_line = number
    return run


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    for number, record in json_lines(source, report):
        run = run_from_line(number, record, report)
        if run is not None:
            yield run
