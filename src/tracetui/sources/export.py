"""Agent trace exports: JSON Lines with one run per line, or one JSON document holding the runs (an
envelope object such as {"export_type": ..., "exported_at": ..., "runs": [...]}, or a bare array).

Steps are nested: child_steps, tool_calls, and the branches of if_else / switch steps. The walk
below turns them into parent-linked model steps, one run in memory at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import orjson

from .. import jsonsafe, normalize, usage
from ..errors import UnusableInput
from ..model import (
    ESTIMATED_COST,
    FAILED_STATUSES,
    FLAG_DID_NOT_RUN,
    ROLLED_UP_FIELDS,
    STEP_STATUSES,
    Problem,
    Run,
    Step,
    set_run_totals,
)
from ..store.schema import STEP_POSITION, to_json
from . import Head, ProblemSink, SourceFile
from .contract import one_record
from .records import json_document_items, json_lines, json_values, top_level_fields

NAME = "export"
DESCRIPTION = "agent trace export: JSON Lines (one run per line) or a JSON envelope / array of runs"
DETECTION = (
    'JSON Lines or a JSON array of objects with "run_id" and steps/agent_id/status/credits, '
    'or a JSON object with a "runs" array or "export_type"'
)
PRIORITY = 10  # the sniff is loose (any object with run_id and a run field): asked after the framework formats

RUN_MARKERS = ("steps", "agent_id", "status", "credits")
FLAG_STEPS_SKIPPED = "steps_skipped"  # malformed steps were dropped (reported with their position)
FLAG_CREDITS_MISMATCH = "credits_mismatch"  # tool calls cost more credits than their step reports
FLAG_SEVERAL_BRANCHES = "several_branches_ran"  # steps of more than one branch ran; none was skipped

# Raw statuses that mean "no status": the step did not run unless it has a start time.
_NO_STATUS = frozenset({"", "none", "null"})
_STEP_STATUSES = frozenset(STEP_STATUSES)
_NOT_RAN = frozenset({"skipped", "pending"})


# -- detection ------------------------------------------------------------------------------------


def _is_run(obj: Any) -> bool:
    if not isinstance(obj, dict) or "run_id" not in obj:
        return False
    # A flat event log line also carries run_id (and perhaps status), but names its step.
    if "step_id" in obj and not isinstance(obj.get("steps"), list):
        return False
    return any(key in obj for key in RUN_MARKERS)


def _first_object_line(data: bytes) -> Any:
    """The first line of the head that parses as a JSON object (when line 1 is broken)."""
    for line in data.splitlines()[1:50]:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _layout(head: Head, forced: bool = False) -> tuple[str, str | None] | None:
    """("lines", None), ("document", array key or None for a bare array), ("single", None) or None."""
    if not head.json_document:
        # JSON Lines: a run on line 1, or on a later line of the head when line 1 is not one.
        if forced or _is_run(head.first_record) or _is_run(_first_object_line(head.data)):
            return "lines", None
        return None
    first_is_run = isinstance(head.first_item, dict) and "run_id" in head.first_item
    if head.array_key == "runs" and (head.first_item is None or first_is_run or forced):
        return "document", "runs"
    if "export_type" in head.top_keys:
        return "document", head.array_key if first_is_run else "runs"
    if not head.top_keys and head.array_key is None and (_is_run(head.first_item) or (forced and head.first_item)):
        return "document", None
    # JSON Lines whose first line is broken (cut off, say) looks like the start of a document.
    if _is_run(_first_object_line(head.data)):
        return "lines", None
    if "run_id" in head.top_keys:
        return "single", None
    if forced:
        return ("document", "runs") if head.top_keys else ("lines", None)
    return None


def sniff(head: Head) -> bool:
    return not head.is_sqlite and _layout(head) is not None


def one_run_per_line(head: Head) -> bool:
    """True when every line is a whole run, so chunks of lines can be read in parallel."""
    layout = _layout(head, forced=True)
    return layout is not None and layout[0] == "lines"


def run_from_line(number: int, record: dict, report: ProblemSink) -> Run | None:
    return run_from_record(record, _Where(number, ""), report)


# -- reading --------------------------------------------------------------------------------------


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    layout = _layout(head, forced=True)
    if layout is None:
        raise UnusableInput(head.path, "not an agent trace export (JSON Lines or a JSON document of runs)")
    shape, key = layout
    if shape == "lines":
        for number, record in json_lines(source, report):
            run = one_record(report, "the line", number, run_from_line, number, record, report)
            if run is not None:
                yield run
        return
    if shape == "single":
        # One run object, or several in a row (jq's output): every one of them.
        items: Iterator[tuple[int, Any]] = json_values(source, report)
        envelope = None
    else:
        items = json_document_items(source, key, report)
        envelope = _envelope_fields(head.path, key) if key is not None else None
    for index, item in items:
        where = _Where(None, f"item {index}: ")
        if not isinstance(item, dict):
            report(Problem(f"{where.prefix}skipped: expected a JSON object, got {type(item).__name__}"))
            continue
        run = one_record(report, f"item {index}", None, run_from_record, item, where, report, envelope)
        if run is not None:
            run.source_line = index
            yield run


def _envelope_fields(path: str, key: str) -> dict[str, Any]:
    """Top-level fields of the envelope that come before the runs array (export_type, exported_at…).

    Fields after the array would need a second pass over the whole file; they are not read.
    """
    return top_level_fields(path, until=key)


class _Where:
    """Where a record sits in the file, for Problems: a JSONL line, or a JSON document item."""

    __slots__ = ("line", "prefix")

    def __init__(self, line: int | None, prefix: str):
        self.line, self.prefix = line, prefix

    def problem(self, message: str, run_id: str | None = None) -> Problem:
        return Problem(self.prefix + message, line=self.line, run_id=run_id)


# -- field checks ---------------------------------------------------------------------------------


class _Rule:
    """The JSON types a field may have (checked by exact type, so true/false is not a number)."""

    __slots__ = ("types", "expected", "numeric_text")

    def __init__(self, types: tuple[type, ...], expected: str, numeric_text: bool = False):
        self.types, self.expected, self.numeric_text = types, expected, numeric_text

    def accepts(self, value: Any) -> bool:
        if type(value) in self.types:
            return True
        return self.numeric_text and type(value) is str and normalize.is_number(value)


_TEXT = _Rule((str,), "a string")
_ID = _Rule((str, int, float), "a string or number")
_NUMBER = _Rule((int, float), "a number", numeric_text=True)
_LIST = _Rule((list,), "a list")
_OBJECT = _Rule((dict,), "an object")
_SCALAR = _Rule((str, int, float, bool), "a string, number or boolean")
_BOOL = _Rule((bool,), "true or false")
_TOKENS = {k: _NUMBER for k in ("prompt_tokens", "completion_tokens", "input_tokens", "output_tokens")}
_TIMES = {"started_at": _ID, "ended_at": _ID}

RUN_RULES: dict[str, _Rule] = {
    "run_id": _ID,
    "agent_id": _ID,
    "session_id": _ID,
    "session": _ID,
    "status": _TEXT,
    "steps": _LIST,
    "credits": _NUMBER,
    "cost_usd": _NUMBER,
    "cost": _NUMBER,
    "usage": _OBJECT,
    "duration_seconds": _NUMBER,
    "duration_ms": _NUMBER,
    **_TIMES,
    **_TOKENS,
}
STEP_RULES: dict[str, _Rule] = {
    "agent_step_id": _ID,
    "id": _ID,
    "step_type": _TEXT,
    "status": _TEXT,
    "name": _ID,
    "title": _ID,
    "step_name": _ID,
    "duration_seconds": _NUMBER,
    "duration_ms": _NUMBER,
    "credits_used": _NUMBER,
    "cost_usd": _NUMBER,
    "cost": _NUMBER,
    "usage": _OBJECT,
    "confidence": _NUMBER,
    "score": _NUMBER,
    "verdict": _TEXT,
    "policy_name": _TEXT,
    "chosen_branch": _SCALAR,
    "tool_calls": _LIST,
    "child_steps": _LIST,
    "then_steps": _LIST,
    "else_steps": _LIST,
    "cases": _LIST,
    **_TIMES,
    **_TOKENS,
}
TOOL_RULES: dict[str, _Rule] = {
    "id": _ID,
    "function_name": _ID,
    "status": _TEXT,
    "succeeded": _BOOL,
    "credits_used": _NUMBER,
    "duration_seconds": _NUMBER,
    "round_index": _NUMBER,
    "sequence": _NUMBER,
    **_TIMES,
    **_TOKENS,
}
CASE_RULES: dict[str, _Rule] = {"steps": _LIST, "match": _SCALAR}


# Shapes (the rules, the field names, the types of their values) found good: a record of a known shape
# is good without a look at each field (the shape settles it: a field is checked by its value's type,
# or, for a number as text, by its value, and such a shape is never kept). Bounded.
_GOOD_SHAPES: set[tuple] = set()
_SHAPES_LIMIT = 4096


def _wrong_field(record: dict, rules: dict[str, _Rule]) -> str | None:
    shape = (id(rules), *record, *map(type, record.values()))
    if shape in _GOOD_SHAPES:
        return None
    by_type = True
    for name, value in record.items():
        rule = rules.get(name)
        # (the type test of accepts() inlined: this runs for every field of every step)
        if rule is None or value is None or type(value) in rule.types:
            continue
        if not rule.accepts(value):
            return f"field {jsonsafe.quoted(name)} must be {rule.expected}, got {type(value).__name__}"
        by_type = False
    if by_type and len(_GOOD_SHAPES) < _SHAPES_LIMIT:
        _GOOD_SHAPES.add(shape)
    return None


def _take(rec: dict, *names: str) -> Any:
    """The first non-null value among names, removed from rec (nulls among them are removed too)."""
    if rec.keys().isdisjoint(names):
        return None  # the usual case: one test in C
    found = None
    for name in names:
        if name not in rec:
            continue
        if rec[name] is None:
            del rec[name]
        elif found is None:
            found = rec.pop(name)
    return found


def _timestamp(rec: dict, name: str) -> str | None:
    """A parsed timestamp; an unparseable one stays in rec (so in extra) under its own name."""
    raw = rec.get(name)
    if raw is None:
        rec.pop(name, None)
        return None
    value = normalize.timestamp(raw)
    if value is not None:
        del rec[name]
    return value


_TOKEN_FIELDS = frozenset({"prompt_tokens", "completion_tokens", "input_tokens", "output_tokens", "usage"})
_OTHER_TOKEN_FIELDS = _TOKEN_FIELDS - {"prompt_tokens", "completion_tokens"}
_NO_TOKENS = usage.Tokens()
# Kept in extra as the record has them: a total is no column (it helps read the counts, though).
_TOTALS = frozenset({"total_tokens", "total_token_count", "totalTokenCount"})


def _tokens(rec: dict) -> usage.Tokens:
    """The record's token counts (its own fields, else its usage object's) in the convention; what
    was read leaves rec, the rest of a usage object stays in extra."""
    if rec.keys().isdisjoint(_TOKEN_FIELDS):
        return _NO_TOKENS
    if rec.keys().isdisjoint(_OTHER_TOKEN_FIELDS):
        # prompt_tokens and completion_tokens at most (the usual case): what the lines below give.
        return usage.plain(rec.pop("prompt_tokens", None), rec.pop("completion_tokens", None))
    found = {"prompt_tokens": _take(rec, "prompt_tokens", "input_tokens")}
    found["completion_tokens"] = _take(rec, "completion_tokens", "output_tokens")
    details = rec.get("usage")
    if not isinstance(details, dict):
        # What from_mapping(found) gives for counts without parts, without its search for them.
        return usage.plain(found["prompt_tokens"], found["completion_tokens"])
    rest = dict(details)
    if found["prompt_tokens"] is None:
        found["prompt_tokens"] = _take(rest, "prompt_tokens", "input_tokens")
    if found["completion_tokens"] is None:
        found["completion_tokens"] = _take(rest, "completion_tokens", "output_tokens")
    # The parts (cache, reasoning) in whichever provider's shape the object has.
    found |= {k: rest.pop(k) for k in list(rest) if k in usage.USAGE_KEYS and k not in _IN_OUT_KEYS}
    for key in _TOTALS & found.keys():
        rest[key] = found[key]
    if rest:
        rec["usage"] = rest
    else:
        del rec["usage"]
    return usage.from_mapping(found)


_IN_OUT_KEYS = frozenset({"prompt_tokens", "input_tokens", "completion_tokens", "output_tokens"})
# Fields of a step read through _take (one of several names): a step with none of them (most) skips those reads.
_RARE_STEP_FIELDS = frozenset(
    {"error", "error_message", "name", "title", "step_name", "cost_usd", "cost", "policy_name", "policy"}
)


def _text_field(rec: dict, name: str) -> str | None:
    """A text field taken out of rec; any other value stays in rec (so in extra)."""
    value = rec.get(name)
    if isinstance(value, str) and value:
        del rec[name]
        return value
    return None


def _duration(rec: dict, started: str | None, ended: str | None) -> float | None:
    seconds = normalize.number(rec.pop("duration_seconds", None))
    if seconds is not None:
        rec.pop("duration_ms", None)
        return seconds * 1000.0
    ms = normalize.number(rec.pop("duration_ms", None))
    return ms if ms is not None else normalize.duration_between(started, ended)


def _raw_status(rec: dict) -> Any:
    """The record's status, or None when it has none ("none"/"null" count as none)."""
    raw = rec.pop("status", None)
    if isinstance(raw, str) and raw.strip().lower() in _NO_STATUS:
        rec["raw_status"] = raw
        return None
    return raw


def _ran(raw: Any) -> bool:
    """Whether a source step ran: it has a start time or a status other than skipped/pending/none."""
    if not isinstance(raw, dict):
        return False
    if raw.get("started_at") not in (None, ""):
        return True
    status = raw.get("status")
    if not isinstance(status, str) or status.strip().lower() in _NO_STATUS:
        return False
    return normalize.status(status) not in _NOT_RAN


# -- runs -----------------------------------------------------------------------------------------


def run_from_record(record: dict, where: _Where, report: ProblemSink, envelope: dict | None = None) -> Run | None:
    """One run record as an un-finalized Run, or None (reported) when it cannot be used."""
    head = _run_head(record, where, report, envelope)
    if head is None:
        return None
    run, steps = head
    _StepWalker(run, where, report).walk(steps)
    return run


def _run_head(
    record: dict, where: _Where, report: ProblemSink, envelope: dict | None = None
) -> tuple[Run, list] | None:
    """The run of a record without its steps, and its source steps; None (reported) when it cannot be used."""
    if record.get("run_id") in (None, ""):
        report(where.problem("skipped: the record has no run_id"))
        return None
    problem = _wrong_field(record, RUN_RULES)
    if problem:
        run_id = record["run_id"]
        report(where.problem(f"skipped: {problem}", normalize.ident(run_id) if _ID.accepts(run_id) else None))
        return None
    rec = dict(record)
    run_id = normalize.ident(rec.pop("run_id")) or ""  # never empty: records without one are skipped above
    steps = rec.pop("steps", None) or []
    raw_status = _raw_status(rec)
    error = normalize.text(_take(rec, "error", "error_message")) or None
    if raw_status is None:
        status = "failed" if error is not None else "completed"
    else:
        status = normalize.status(raw_status, step=False)
        if raw_status != status:
            rec["raw_status"] = raw_status
    started, ended = _timestamp(rec, "started_at"), _timestamp(rec, "ended_at")
    tokens = _tokens(rec)
    run = Run(
        id=run_id,
        agent=normalize.ident(rec.pop("agent_id", None)),
        session=normalize.ident(_take(rec, "session_id", "session")),
        status=status,
        started_at=started,
        ended_at=ended,
        duration_ms=_duration(rec, started, ended),
        input=normalize.text(rec.pop("input", None)),
        output=normalize.text(rec.pop("output", None)),
        error=error,
        credits=normalize.number(rec.pop("credits", None)),
        cost_usd=normalize.number(_take(rec, "cost_usd", "cost")),
        source_line=where.line,
    )
    tokens.apply(run)
    if isinstance(rec.get("metadata"), dict):
        run.metadata = rec.pop("metadata")
    if envelope:
        rec["export"] = envelope
    run.extra = rec
    return run, steps


# -- steps ----------------------------------------------------------------------------------------


class _Task:
    """A source step waiting to be turned into a model step, with what its parent decided for it.

    path: where the step sits in the record, (parent's path or None, list name, index); written out
    (_path_text) only for a problem, so a step that has none costs no text.
    """

    __slots__ = ("raw", "parent_id", "seq", "path", "branch", "skip", "continuation")

    def __init__(self, raw, parent_id, seq, path, branch=None, skip=False, continuation=False):
        self.raw, self.parent_id, self.seq, self.path = raw, parent_id, seq, path
        self.branch, self.skip, self.continuation = branch, skip, continuation


def _path_text(path: tuple | None) -> str:
    """A _Task's path as a problem names it: steps[2].child_steps[0].tool_calls[1]"""
    parts = []
    while path is not None:
        path, name, index = path
        parts.append(f"{name}[{index}]")
    return ".".join(reversed(parts))


def _unique_id(used: set[str], counts: dict[str, int], source_id: str) -> tuple[str, str | None]:
    """(unique id, definition id): the first occurrence keeps its id, later ones get id#2, id#3…"""
    if source_id not in used:
        used.add(source_id)
        return source_id, None
    n = counts.get(source_id, 1) + 1
    while f"{source_id}#{n}" in used:
        n += 1
    counts[source_id] = n
    unique = f"{source_id}#{n}"
    used.add(unique)
    return unique, source_id


class _StepWalker:
    """Walks a run's nested steps depth-first in execution order, giving each occurrence a unique id.

    An explicit stack rather than recursion, so deeply nested input cannot exhaust Python's stack.
    """

    # Plain steps are read by _plain_step and _plain_call (the one reading of them, shared with the
    # rows of rows_from_line); False only to check that the general code reads them alike (tests).
    read_plain = True

    def __init__(self, run: Run, where: _Where, report: ProblemSink):
        self.run, self.where, self.report = run, where, report
        self.used: set[str] = set()
        self.counts: dict[str, int] = {}
        self.pending_run = run.status in ("pending", "running")

    def walk(self, steps: list) -> None:
        stack = [_Task(raw, None, i, (None, "steps", i)) for i, raw in enumerate(steps)]
        stack.reverse()
        while stack:
            task = stack.pop()
            children = self._step(task)
            stack.extend(reversed(children))

    def _unique(self, source_id: str) -> tuple[str, str | None]:
        return _unique_id(self.used, self.counts, source_id)

    def _drop(self, task: _Task, problem: str, step_id: Any = None, what: str = "step") -> None:
        named = (
            f" {jsonsafe.quoted(normalize.ident(step_id))}"
            if step_id not in (None, "") and _ID.accepts(step_id)
            else ""
        )
        self.report(
            self.where.problem(
                f"run {jsonsafe.quoted(self.run.id)}: dropped {what}{named} at {_path_text(task.path)} with its sub-steps: {problem}",
                self.run.id,
            )
        )
        if FLAG_STEPS_SKIPPED not in self.run.flags:
            self.run.flags.append(FLAG_STEPS_SKIPPED)

    def _status(self, rec: dict, task: _Task, started_raw: Any, error: str | None) -> tuple[str, bool]:
        """(status, did not run) of a step; the raw value stays in rec["raw_status"] when it differs."""
        raw = _raw_status(rec)
        did_not_run = raw is None and started_raw in (None, "") and error is None
        if task.skip:
            status = "skipped"
        elif raw is None:
            if error is not None:
                status = "failed"
            elif did_not_run:
                status = "pending" if self.pending_run else "skipped"
            else:
                status = "completed"
        else:
            status = normalize.status(raw)
        if raw is not None and raw != status:
            rec["raw_status"] = raw
        return status, did_not_run

    def _step(self, task: _Task) -> list[_Task]:
        # This runs for every step of every export: a few dictionary operations a field, and the
        # helpers that handle the unusual values (_take, normalize) are called only when one is there.
        raw = task.raw
        if not task.skip and self.read_plain:
            read = _plain_step(raw)
            if read is not None:
                return self._plain_step(task, read)
        if not isinstance(raw, dict):
            self._drop(task, f"expected an object, got {type(raw).__name__}")
            return []
        problem = _wrong_field(raw, STEP_RULES)
        if problem:
            raw_id = raw.get("agent_step_id") if raw.get("agent_step_id") is not None else raw.get("id")
            self._drop(task, problem, raw_id)
            return []
        rec = dict(raw)
        pop = rec.pop
        if "id" in rec or rec.get("agent_step_id") is None:
            given_id = normalize.ident(_take(rec, "agent_step_id", "id"))
        else:  # what _take gives when only agent_step_id is there
            given_id = pop("agent_step_id")
            given_id = (given_id or None) if type(given_id) is str else normalize.ident(given_id)
        source_id = given_id or f"step-{len(self.run.steps) + 1}"
        if source_id in self.used:
            step_id, definition_id = self._unique(source_id)
        else:
            self.used.add(source_id)
            step_id, definition_id = source_id, None
        raw_type = pop("step_type", None)
        tool_calls = pop("tool_calls", None) or []
        child_steps = pop("child_steps", None) or []
        then_steps = pop("then_steps", None)
        else_steps = pop("else_steps", None)
        cases = pop("cases", None)
        chosen = pop("chosen_branch", None)
        rare = not rec.keys().isdisjoint(_RARE_STEP_FIELDS)
        error = (normalize.text(_take(rec, "error", "error_message")) or None) if rare else None
        status = rec.get("status")
        if status in _STEP_STATUSES and not task.skip:  # what _status gives for a status spelt as tracetui does
            del rec["status"]
            did_not_run = False
        else:
            status, did_not_run = self._status(rec, task, raw.get("started_at"), error)
        started = _timestamp(rec, "started_at")
        ended = _timestamp(rec, "ended_at") if "ended_at" in rec else None
        tokens = _tokens(rec)
        name = _take(rec, "name", "title", "step_name") if rare else None
        verdict = pop("verdict", None)
        # The usual values inline (a text, a finite float, nothing); normalize for any other, in the order
        # the fields have always been read (the notes it makes about odd values keep their order).
        duration = rec.get("duration_seconds")
        if type(duration) is float and -math.inf < duration < math.inf:
            del rec["duration_seconds"]
            pop("duration_ms", None)
            duration *= 1000.0
        else:
            duration = _duration(rec, started, ended)
        text_in, text_out = pop("input", None), pop("output", None)
        if not (text_in is None or type(text_in) is str):
            text_in = normalize.text(text_in)
        if not (text_out is None or type(text_out) is str):
            text_out = normalize.text(text_out)
        credits = pop("credits_used", None)
        if not (credits is None or (type(credits) is float and -math.inf < credits < math.inf)):
            credits = normalize.number(credits)
        cost = normalize.number(_take(rec, "cost_usd", "cost")) if rare else None
        # Positional, in _STEP_ARGUMENTS' order (checked below the class): keywords cost three times as much.
        step = Step(
            step_id,
            "",  # run_id: set by finalize_run
            task.parent_id,
            task.seq,
            # Step definition ids read like names ("summarize", "fetch-docs"); the type is shown anyway.
            (normalize.text(name) or "") if name is not None else (given_id or raw_type or source_id),
            normalize.kind(raw_type),
            raw_type,
            status,
            started,
            ended,
            duration,
            text_in,
            text_out,
            error,
            *tokens,
            credits,
            cost,
            False,  # cost_estimated: pricing decides
            _text_field(rec, "model") if "model" in rec else None,
            _text_field(rec, "provider") if "provider" in rec else None,
            task.branch,
            None,  # chosen_branch: _branches decides
            verdict.strip().lower() if verdict is not None else None,
            normalize.number(pop("confidence", None)) if "confidence" in rec else None,
            normalize.text(_take(rec, "policy_name", "policy")) if rare else None,
            normalize.number(pop("score", None)) if "score" in rec else None,
            definition_id,
            [],  # events
            rec,  # extra: what is left of the record
        )
        if did_not_run:
            step.flags.append(FLAG_DID_NOT_RUN)
        if task.continuation:
            rec["continuation"] = True
        self.run.steps.append(step)

        tools = self._tool_steps(step, tool_calls, task) if tool_calls else ()
        if (
            cases is None
            and then_steps is None
            and else_steps is None
            and (raw_type is None or raw_type.strip().lower() not in ("switch", "if_else"))
        ):
            branches = []  # what _branches gives: not a branching step
        else:
            branches = self._branches(step, raw_type, then_steps, else_steps, cases, chosen, task)
        if not branches and not child_steps:
            return []
        tasks: list[_Task] = []
        for branch, steps, path, skip in branches:
            tasks.extend(_Task(child, step.id, 0, (task.path, path, i), branch, skip) for i, child in enumerate(steps))
        for i, child in enumerate(child_steps):
            tasks.append(_Task(child, step.id, 0, (task.path, "child_steps", i), None, task.skip, bool(branches)))
        for n, child in enumerate(tasks, len(tools)):
            child.seq = n
        return tasks

    def _plain_step(self, task: _Task, read: tuple) -> list[_Task]:
        """_step of a plain step (read by _plain_step): the Step the general code gives it, and its children."""
        (
            source_id,
            raw_type,
            kind,
            status,
            started,
            ended,
            duration,
            text_in,
            text_out,
            credits,
            t_in,
            t_out,
            calls,
            kids,
        ) = read
        if source_id in self.used:
            step_id, definition_id = self._unique(source_id)
        else:
            self.used.add(source_id)
            step_id, definition_id = source_id, None
        # Positional, in _STEP_ARGUMENTS' order: the general code's values for what a plain step lacks.
        step = Step(
            step_id,
            "",  # run_id: set by finalize_run
            task.parent_id,
            task.seq,
            source_id,  # name: a step's id when it has no name
            kind,
            raw_type,
            status,
            started,
            ended,
            duration,
            text_in,
            text_out,
            None,  # error
            t_in,
            t_out,
            None,  # tokens_cache_read
            None,  # tokens_cache_write
            None,  # tokens_reasoning
            credits,
            None,  # cost_usd
            False,  # cost_estimated
            None,  # model
            None,  # provider
            task.branch,
            None,  # chosen_branch
            None,  # verdict
            None,  # confidence
            None,  # policy
            None,  # score
            definition_id,
            [],  # events
            {"continuation": True} if task.continuation else {},  # extra
        )
        self.run.steps.append(step)
        tools = self._tool_steps(step, calls, task) if calls else ()
        if not kids:
            return []
        first = len(tools)
        return [_Task(child, step_id, first + i, (task.path, "child_steps", i)) for i, child in enumerate(kids)]

    def _plain_call(self, parent: Step, read: tuple, seq: int) -> Step:
        """_tool_step of a plain tool call (read by _plain_call)."""
        source_id, name, status, duration, text_in, text_out, credits, extra = read
        if source_id in self.used:
            step_id, definition_id = self._unique(source_id)
        else:
            self.used.add(source_id)
            step_id, definition_id = source_id, None
        # Positional, as in _step (_STEP_ARGUMENTS).
        return Step(
            step_id,
            "",  # run_id
            parent.id,
            seq,
            name,
            "tool",
            "tool_call",
            status,
            None,  # started_at
            None,  # ended_at
            duration,
            text_in,
            text_out,
            None,  # error
            *_NO_TOKENS,
            credits,
            None,  # cost_usd
            False,  # cost_estimated
            None,  # model
            None,  # provider
            None,  # branch
            None,  # chosen_branch
            None,  # verdict
            None,  # confidence
            None,  # policy
            None,  # score
            definition_id,
            [],  # events
            extra,
        )

    def _tool_steps(self, step: Step, calls: list, task: _Task) -> list[Step]:
        """The step's tool calls as child tool steps (seq 0…), ordered by round_index, sequence."""
        if not calls:
            return []
        if len(calls) == 1:  # the usual case: nothing to order
            ordered: list[tuple[int, Any]] = [(0, calls[0])]
        else:
            ordered = sorted(enumerate(calls), key=lambda pair: _call_order(pair[0], pair[1]))
        built: list[Step] = []
        plain = not task.skip and self.read_plain
        for position, call in ordered:
            read = _plain_call(call) if plain else None
            if read is not None:
                built.append(self._plain_call(step, read, len(built)))
                continue
            path = (task.path, "tool_calls", position)
            problem: str | None
            if not isinstance(call, dict):
                problem = f"expected an object, got {type(call).__name__}"
                self._drop(_Task(call, step.id, 0, path), problem, what="tool call")
                continue
            problem = _wrong_field(call, TOOL_RULES)
            if problem:
                self._drop(_Task(call, step.id, 0, path), problem, call.get("id"), "tool call")
                continue
            built.append(self._tool_step(step, call, position, len(built), task.skip))
        self.run.steps.extend(built)
        self._split_credits(step, built)
        return built

    def _tool_step(self, parent: Step, call: dict, position: int, seq: int, skip: bool) -> Step:
        rec = dict(call)
        source_id = normalize.ident(rec.pop("id", None)) or f"{parent.id}.call-{position + 1}"
        if source_id in self.used:
            step_id, definition_id = self._unique(source_id)
        else:
            self.used.add(source_id)
            step_id, definition_id = source_id, None
        error = normalize.text(rec.pop("error", None)) or None  # "" means no error
        raw = _raw_status(rec)
        if skip:
            status = "skipped"
        elif error is not None or rec.get("succeeded") is False:
            status = "failed"
        else:
            status = normalize.status(raw) if raw is not None else "completed"
        if raw is not None and raw != status:
            rec["raw_status"] = raw
        started = _timestamp(rec, "started_at") if "started_at" in rec else None
        ended = _timestamp(rec, "ended_at") if "ended_at" in rec else None
        tokens = _tokens(rec)
        name = rec.pop("function_name", None)
        # Positional, as in _step (_STEP_ARGUMENTS).
        return Step(
            step_id,
            "",  # run_id
            parent.id,
            seq,
            (normalize.text(name) or "") if name is not None else "tool call",
            "tool",
            "tool_call",
            status,
            started,
            ended,
            _duration(rec, started, ended),
            normalize.text(rec.pop("input", None)),
            normalize.text(rec.pop("output", None)),
            error,
            *tokens,
            normalize.number(rec.pop("credits_used", None)),
            normalize.number(_take(rec, "cost_usd", "cost")),
            False,  # cost_estimated
            None,  # model
            None,  # provider
            None,  # branch
            None,  # chosen_branch
            None,  # verdict
            None,  # confidence
            None,  # policy
            None,  # score
            definition_id,
            [],  # events
            rec,  # extra
        )

    def _split_credits(self, step: Step, tools: list[Step]) -> None:
        """A tool call's credits are part of its step's credits_used: the step keeps the rest."""
        tool_credits = [t.credits for t in tools if t.credits is not None]
        if not tool_credits:
            return
        reported = step.credits
        step.extra["credits_used"] = reported
        if reported is None:
            return
        own = reported - sum(tool_credits)
        if own < -1e-9 * max(1.0, abs(reported)):
            own = 0.0
            step.flags.append(FLAG_CREDITS_MISMATCH)
        step.credits = max(own, 0.0)

    def _branches(self, step, raw_type, then_steps, else_steps, cases, chosen, task):
        """[(branch name, steps, path, skipped)] of an if_else or switch step, in display order."""
        control = (raw_type or "").strip().lower()
        is_switch = control == "switch" or cases is not None
        if not is_switch and control != "if_else" and then_steps is None and else_steps is None:
            return []
        if is_switch:
            branches = self._cases(step, cases or [], task)
        else:
            branches = [("then", then_steps or [], "then_steps")]
        branches.append(("else", else_steps or [], "else_steps"))
        names = [name for name, _, _ in branches]
        explicit = _explicit_branch(chosen, is_switch)
        if chosen is not None and explicit != chosen:
            step.extra["raw_chosen_branch"] = chosen
        ran = [name for name, steps, _ in branches if any(_ran(s) for s in steps)]
        if explicit is not None:
            step.chosen_branch = explicit
            taken = {explicit}
        elif ran:
            step.chosen_branch = ran[0]
            taken = set(ran)
            if len(taken) > 1:
                step.flags.append(FLAG_SEVERAL_BRANCHES)
        elif step.status in _NOT_RAN or FLAG_DID_NOT_RUN in step.flags:
            taken = set(names)  # the branch step itself did not run: nothing to choose or skip
        else:
            step.chosen_branch = _empty_branch_taken(branches, is_switch)
            taken = {step.chosen_branch}
        return [(name, steps, path, task.skip or name not in taken) for name, steps, path in branches]

    def _cases(self, step: Step, cases: list, task: _Task) -> list[tuple[str, list, str]]:
        branches, labels = [], []
        for i, case in enumerate(cases):
            path = f"cases[{i}]"
            problem = (
                f"expected an object, got {type(case).__name__}"
                if not isinstance(case, dict)
                else _wrong_field(case, CASE_RULES)
            )
            if problem:
                self._drop(_Task(case, step.id, 0, (task.path, "cases", i)), problem, what="switch case")
                continue
            match = case.get("match")
            name = (normalize.text(match) or "") if match is not None else f"case {i + 1}"
            labels.append({k: v for k, v in case.items() if k != "steps"})
            branches.append((name, case.get("steps") or [], f"{path}.steps"))
        if labels:
            step.extra["cases"] = labels
        return branches


# -- plain steps: one reading, for Step objects and for store rows ---------------------------------
#
# Most exports are written by one program, and their steps have one shape: an id, a type, a status spelt
# as tracetui spells it, times, payload texts, plain counts and credits, tool calls with ids. _plain_step
# and _plain_call are how such a step's and tool call's fields are read, and the only place that says
# it: _StepWalker reads every plain step through them (its general code below reads every other step,
# repairs odd values and notes them), and rows_from_line() lays out the store's rows from what they read
# for a run whose every step is plain. Such a run needs no Step objects and no finalize_run: its tree is
# the nesting (no orphans or cycles to repair), ids are made unique as _StepWalker makes them, and the
# run's derived fields are set with model.set_run_totals. Any other value anywhere in the run (a type,
# an odd status, a time that does not parse, a field not listed here, credits that do not add up) sends
# the whole run through _StepWalker, so odd input is read, repaired and reported as before. The parallel
# import uses it. tests/test_export_plain_rows.py checks that the general code, given the plain steps,
# reads them as these do (the walker without them), and that rows and Step objects store alike.

_PLAIN_STEP_FIELDS = frozenset(
    {
        "agent_step_id",
        "step_type",
        "status",
        "input",
        "output",
        "started_at",
        "ended_at",
        "duration_seconds",
        "credits_used",
        "prompt_tokens",
        "completion_tokens",
        "tool_calls",
        "child_steps",
    }
)
_PLAIN_CALL_FIELDS = frozenset(
    {"id", "function_name", "input", "output", "error", "succeeded", "credits_used", "duration_seconds"}
    | {"round_index", "sequence"}
)
# What _tool_step takes out of a plain call; the rest (succeeded, round_index, sequence) is its extra.
_CALL_TAKEN = frozenset({"id", "function_name", "input", "output", "error", "credits_used", "duration_seconds"})
_PLAIN_DEPTH = 100  # deeper nesting goes the usual way (an explicit stack there; recursion here)
_EXACT = range(-(1 << 53), (1 << 53) + 1)
_COUNTS = range(0, (1 << 53) + 1)  # counts normalize.integer keeps as they are (negative: reported later)
_INF = math.inf
_BRANCHING_TYPES = ("switch", "if_else")
# The fields _plain_step reads, in the order it reads them (one map() of dict.get: fewer calls than one each).
_STEP_READ = (
    *("agent_step_id", "status", "step_type", "tool_calls", "child_steps", "input", "output", "credits_used"),
    *("prompt_tokens", "completion_tokens", "started_at", "ended_at", "duration_seconds"),
)
_CALL_READ = (
    *("id", "error", "succeeded", "function_name", "input", "output", "credits_used", "duration_seconds"),
    *("round_index", "sequence"),
)
# Raw step types seen lately and their kind (None: a branching type, never plain); bounded.
_TYPE_KINDS: dict[str, str | None] = {}


def _type_kind(raw_type: str) -> str | None:
    kind = None if raw_type.strip().lower() in _BRANCHING_TYPES else normalize.kind(raw_type)
    if len(_TYPE_KINDS) >= 1024:
        _TYPE_KINDS.clear()
    _TYPE_KINDS[raw_type] = kind
    return kind


def _plain_step(raw: Any) -> tuple | None:
    """A step of the plain shape, read: (source id, raw type, kind, status, started, ended, duration ms,
    input, output, credits, tokens in, tokens out, tool calls, child steps); None for any other step.

    Negative amounts, counts and durations are not plain: finalized() reports them."""
    if type(raw) is not dict or not raw.keys() <= _PLAIN_STEP_FIELDS:
        return None
    (
        source_id,
        status,
        raw_type,
        calls,
        kids,
        text_in,
        text_out,
        credits,
        tokens_in,
        tokens_out,
        started,
        ended,
        duration,
    ) = map(raw.get, _STEP_READ)
    if type(source_id) is not str or not source_id or type(status) is not str or status not in _STEP_STATUSES:
        return None
    kind: str | None
    if raw_type is None:
        kind = "other"  # normalize.kind(None)
    elif type(raw_type) is not str:
        return None
    elif (kind := _TYPE_KINDS.get(raw_type) or _type_kind(raw_type)) is None:
        return None
    if not (
        (calls is None or type(calls) is list)
        and (kids is None or type(kids) is list)
        and (text_in is None or type(text_in) is str)
        and (text_out is None or type(text_out) is str)
        and (credits is None or (type(credits) is float and 0 <= credits < _INF))
        and (tokens_in is None or (type(tokens_in) is int and tokens_in in _COUNTS))
        and (tokens_out is None or (type(tokens_out) is int and tokens_out in _COUNTS))
    ):
        return None
    if started is not None and (started := normalize.timestamp(started)) is None:
        return None
    if ended is not None and (ended := normalize.timestamp(ended)) is None:
        return None
    if duration is None:
        duration = normalize.duration_between(started, ended)
    elif type(duration) is float and 0 <= duration < _INF:
        duration *= 1000.0
    else:
        return None
    return (
        source_id,
        raw_type,
        kind,
        status,
        started,
        ended,
        duration,
        text_in,
        text_out,
        credits,
        tokens_in,
        tokens_out,
        calls,
        kids,
    )


def _plain_call(call: Any) -> tuple | None:
    """A tool call of the plain shape, read: (source id, name, status, duration ms, input, output,
    credits, extra); None for any other call."""
    if type(call) is not dict or not call.keys() <= _PLAIN_CALL_FIELDS:
        return None
    source_id, error, succeeded, name, text_in, text_out, credits, duration, round_index, sequence = map(
        call.get, _CALL_READ
    )
    if not (
        type(source_id) is str
        and source_id
        and (error is None or error == "")
        and (succeeded is None or type(succeeded) is bool)
        and (name is None or type(name) is str)
        and (text_in is None or type(text_in) is str)
        and (text_out is None or type(text_out) is str)
        and (credits is None or (type(credits) is float and 0 <= credits < _INF))
        and (duration is None or (type(duration) is float and 0 <= duration < _INF))
        and _plain_order(round_index)
        and _plain_order(sequence)
    ):
        return None
    return (
        source_id,
        "tool call" if name is None else name,
        "failed" if succeeded is False else "completed",
        None if duration is None else duration * 1000.0,
        text_in,
        text_out,
        credits,
        {k: v for k, v in call.items() if k not in _CALL_TAKEN},
    )


def _plain_order(value: Any) -> bool:
    """A round_index or sequence _call_order reads without a note (normalize.number of it makes none)."""
    return value is None or type(value) is float or (type(value) is int and value in _EXACT)


# The columns of the rows rows_from_line() lays out, in their order (_PlainRows.step and .call list them
# so): the ones a plain step can have a value in; the store's other columns are NULL. Fewer values to
# bind than STEP_COLUMNS' (~0.7 µs a row).
STEP_ROW_COLUMNS = (
    *("run_id", "id", "parent_id", "seq", "ord", "depth", "size", "child_count", "name", "kind", "raw_type"),
    *("status", "started_at", "ended_at", "duration_ms", "tokens_in", "tokens_out", "credits"),
    *("sub_tokens_in", "sub_tokens_out", "sub_credits", "cost_estimated", "definition_id", "extra"),
    *("input", "output"),
)
if not set(STEP_ROW_COLUMNS) <= set(STEP_POSITION):
    raise ImportError("sources/export.py lays out rows of columns the store no longer has")
_R = {name: i for i, name in enumerate(STEP_ROW_COLUMNS)}
_SIZE, _CHILDREN, _STATUS, _CREDITS = _R["size"], _R["child_count"], _R["status"], _R["credits"]
_SUB_IN, _SUB_OUT, _SUB_CREDITS, _EXTRA = _R["sub_tokens_in"], _R["sub_tokens_out"], _R["sub_credits"], _R["extra"]
# The only totals a plain step has (no costs, no token parts: those fields make a step not plain).
_PLAIN_TOTALS = {name: _R[name] for name in ("tokens_in", "tokens_out", "credits")}


class _NotPlain(Exception):
    """A value _PlainRows does not lay out itself: the run is read the usual way."""


def rows_from_line(number: int, record: dict, report: ProblemSink, null: Any = None) -> tuple[Run, list | None] | None:
    """The run on one line and, when every step has the plain shape (see above), its step rows
    (STEP_ROW_COLUMNS, `null` for each None) with the run's derived fields set: ready to store, no
    finalize_run. Else (run, None): the run as run_from_line() gives it. None: the line is skipped (and
    reported)."""
    where = _Where(number, "")
    head = _run_head(record, where, report)
    if head is None:
        return None
    run, steps = head
    earlier = normalize.take_notes()  # the run's own notes come first, whichever way its steps go
    try:
        rows: list | None = _PlainRows(run, null).rows(steps)
    except Exception:  # _NotPlain, or any value the checks let through: the usual way decides
        rows = None
    made = normalize.take_notes() if rows is not None else []
    normalize.take_notes()
    for message in earlier + made:
        normalize.note(message)
    if rows is None:
        _StepWalker(run, where, report).walk(steps)
    return run, rows


class _PlainRows:
    """Lays out the rows of a run's plain steps, in execution order; raises _NotPlain at anything else."""

    def __init__(self, run: Run, null: Any):
        self.run = run
        self.null = null
        self.out: list[list] = []
        self.used: set[str] = set()
        self.counts: dict[str, int] = {}

    def rows(self, steps: list) -> list[list]:
        for seq, raw in enumerate(steps):
            self.step(raw, self.null, seq, 0)
        null, rows = self.null, self.out
        values: dict[str, list] = {name: [] for name in (*ROLLED_UP_FIELDS, ESTIMATED_COST)}
        for name, at in _PLAIN_TOTALS.items():
            values[name] = [v for row in rows if (v := row[at]) is not null]
        failed = sum(1 for row in rows if row[_STATUS] in FAILED_STATUSES)
        set_run_totals(self.run, len(rows), failed, values)
        return rows

    def step(self, raw: Any, parent_id: Any, seq: int, depth: int) -> tuple[int, Any, Any, Any]:
        """Lays out a step and its subtree: (size, sub tokens in, sub tokens out, sub credits)."""
        read = _plain_step(raw)
        if read is None or depth > _PLAIN_DEPTH:
            raise _NotPlain
        (
            source_id,
            raw_type,
            kind,
            status,
            started,
            ended,
            duration,
            text_in,
            text_out,
            credits,
            t_in,
            t_out,
            calls,
            kids,
        ) = read
        if source_id in self.used:
            step_id, definition_id = _unique_id(self.used, self.counts, source_id)
        else:
            self.used.add(source_id)
            step_id, definition_id = source_id, None
        null, out = self.null, self.out
        # In STEP_ROW_COLUMNS' order; size, child_count, credits and the sums are set below.
        row = [
            self.run.id,
            step_id,
            parent_id,
            seq,
            len(out),
            depth,
            1,
            0,
            source_id,  # the name _step gives a step with an id and no name
            kind,
            null if raw_type is None else raw_type,
            status,
            null if started is None else started,
            null if ended is None else ended,
            null if duration is None else duration,
            null if t_in is None else t_in,
            null if t_out is None else t_out,
            null,
            null,
            null,
            null,
            0,  # cost_estimated: what binding a Step's False stores
            null if definition_id is None else definition_id,
            null,
            null if text_in is None else text_in,
            null if text_out is None else text_out,
        ]
        out.append(row)
        size, sub_in, sub_out, sub_credits = 1, t_in, t_out, None
        children = 0
        if calls:
            if len(calls) == 1:
                ordered: list[tuple[int, Any]] = [(0, calls[0])]
            else:
                for call in calls:
                    if type(call) is not dict or not all(
                        _plain_order(call.get(k)) for k in ("round_index", "sequence")
                    ):
                        raise _NotPlain
                ordered = sorted(enumerate(calls), key=lambda pair: _call_order(pair[0], pair[1]))
            call_credits = [self.call(call, n, step_id, depth + 1) for n, (_, call) in enumerate(ordered)]
            children = len(call_credits)
            size += children
            # _split_credits: a tool call's credits are part of its step's; the step keeps the rest.
            tool_credits = [c for c in call_credits if c is not None]
            if tool_credits:
                row[_EXTRA] = to_json({"credits_used": credits})
                if credits is not None:
                    own = credits - sum(tool_credits)
                    if own < -1e-9 * max(1.0, abs(credits)):
                        raise _NotPlain  # flagged credits_mismatch the usual way
                    credits = max(own, 0.0)
            sub_credits = credits
            for value in call_credits:  # in child order, as finalize_run sums
                if value is not None:
                    sub_credits = value if sub_credits is None else sub_credits + value
        else:
            sub_credits = credits
        if credits is not None:
            row[_CREDITS] = credits
        if kids:
            for i, kid in enumerate(kids):
                kid_size, kid_in, kid_out, kid_credits = self.step(kid, step_id, children + i, depth + 1)
                size += kid_size
                if kid_in is not None:
                    sub_in = kid_in if sub_in is None else sub_in + kid_in
                if kid_out is not None:
                    sub_out = kid_out if sub_out is None else sub_out + kid_out
                if kid_credits is not None:
                    sub_credits = kid_credits if sub_credits is None else sub_credits + kid_credits
            row[_SIZE], row[_CHILDREN] = size, children + len(kids)
        elif children:
            row[_SIZE], row[_CHILDREN] = size, children
        if sub_in is not None:
            row[_SUB_IN] = sub_in
        if sub_out is not None:
            row[_SUB_OUT] = sub_out
        if sub_credits is not None:
            row[_SUB_CREDITS] = sub_credits
        return size, sub_in, sub_out, sub_credits

    def call(self, call: Any, seq: int, parent_id: str, depth: int) -> Any:
        """Lays out a tool call's row, as _tool_step gives it; returns its credits."""
        read = _plain_call(call)
        if read is None:
            raise _NotPlain
        source_id, name, status, duration, text_in, text_out, credits, extra = read
        if source_id in self.used:
            step_id, definition_id = _unique_id(self.used, self.counts, source_id)
        else:
            self.used.add(source_id)
            step_id, definition_id = source_id, None
        null, out = self.null, self.out
        out.append(
            [
                self.run.id,
                step_id,
                parent_id,
                seq,
                len(out),
                depth,
                1,
                0,
                name,
                "tool",
                "tool_call",
                status,
                null,
                null,
                null if duration is None else duration,
                null,
                null,
                null if credits is None else credits,
                null,
                null,
                null if credits is None else credits,
                0,
                null if definition_id is None else definition_id,
                to_json(extra) if extra else null,
                null if text_in is None else text_in,
                null if text_out is None else text_out,
            ]
        )
        return credits


# The order of the positional arguments _step and _tool_step give Step (Tokens' fields stand for its
# five counts); a change to Step's fields must change them too, so it is checked when this is imported.
_STEP_ARGUMENTS = (
    "id run_id parent_id seq name kind raw_type status started_at ended_at duration_ms input output error"
    f" {' '.join(usage.Tokens._fields)} credits cost_usd cost_estimated model provider branch chosen_branch"
    " verdict confidence policy score definition_id events extra"
).split()
if tuple(f.name for f in fields(Step))[: len(_STEP_ARGUMENTS)] != tuple(_STEP_ARGUMENTS):
    raise ImportError("sources/export.py builds Steps positionally: its _STEP_ARGUMENTS no longer match model.Step")


def _call_order(position: int, call: Any) -> tuple:
    if not isinstance(call, dict):
        return (True, 0.0, True, 0.0, position)
    round_index, sequence = normalize.number(call.get("round_index")), normalize.number(call.get("sequence"))
    return (round_index is None, round_index or 0.0, sequence is None, sequence or 0.0, position)


def _explicit_branch(chosen: Any, is_switch: bool) -> str | None:
    if chosen is None or chosen == "":
        return None
    if not is_switch:
        if chosen is True or (isinstance(chosen, str) and chosen.strip().lower() == "true"):
            return "then"
        if chosen is False or (isinstance(chosen, str) and chosen.strip().lower() == "false"):
            return "else"
    return normalize.text(chosen)


def _empty_branch_taken(branches: list[tuple[str, list, str]], is_switch: bool) -> str | None:
    """The branch a step that ran took when none of its branches' steps ran."""
    if is_switch:
        return "no match"
    then_steps, else_steps = branches[0][1], branches[1][1]
    if else_steps and not then_steps:
        return "then"
    if then_steps and not else_steps:
        return "else"
    return None
