"""A flat event log as JSON Lines: one step per line, runs interleaved, children possibly before parents.

Fields: run_id, step_id, parent_id, type (reasoning | tool_call | tool_result | error), agent,
timestamp, duration_ms, input_tokens, output_tokens, cost_usd, content, tool, arguments.
Lines are checked and staged in a temporary SQLite file grouped by run, then read back one run at
a time, so memory holds one run, never the file. A run with an error event is failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .. import jsonsafe, normalize
from ..model import Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .contract import StagedRecords
from .export import RUN_MARKERS
from .records import json_lines
from .resume import StagedResume
from .staging import Staging, read_staged, stage_records

NAME = "events"
DESCRIPTION = "flat event log as JSON Lines: one step per line, runs interleaved"
DETECTION = (
    'JSON Lines whose first line is an object with "run_id" and "step_id" (or a "type" of '
    'reasoning, tool_call, tool_result or error) and no "steps" list'
)
PRIORITY = 0  # the sniff is loose (run_id and step_id or an event type): asked last

EVENT_TYPES = frozenset({"reasoning", "tool_call", "tool_result", "error"})
TOOL_TYPES = frozenset({"tool_call", "tool_result"})
KNOWN = frozenset(
    {
        "run_id",
        "step_id",
        "parent_id",
        "type",
        "agent",
        "timestamp",
        "duration_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "content",
        "tool",
        "arguments",
    }
)
_IDS = (str, int)
_NUMBER = (int, float, str)


class BadField(ValueError):
    """A line whose field has a type or value that cannot be read; the line is skipped."""


def sniff(head: Head) -> bool:
    rec = head.first_record
    if head.json_document or not isinstance(rec, dict):
        return False
    if isinstance(rec.get("steps"), list) or "tracetui" in rec:
        return False
    if "step_id" not in rec and any(key in rec for key in RUN_MARKERS):
        return False  # no step, but fields of a run: a line of an agent trace export, which reads it
    return "run_id" in rec and ("step_id" in rec or _event_type(rec.get("type")) in EVENT_TYPES)


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    return read_staged(stage, run_from_group, head, report, source)


def resumable(head: Head) -> bool:
    """Always: an event log is JSON Lines."""
    return True


def resume(head: Head, report: ProblemSink) -> StagedResume:
    """Appended lines staged beside the earlier ones; only the runs they touch are built again."""
    return StagedResume(stage, run_from_group, head, report)


def stage(head: Head, report: ProblemSink, source: SourceFile, staging: Staging) -> None:
    """Every line checked and staged under its run_id; a file with no usable line has no runs."""

    def group_of(line: int | None, record: dict[str, Any]) -> tuple[str, Any] | None:
        run_id = record.get("run_id")
        if run_id is None or run_id == "":
            report(Problem("skipped: the event has no run_id", line=line))
            return None
        if isinstance(run_id, bool) or not isinstance(run_id, _IDS):
            report(Problem(f"skipped: run_id must be text, not {_type_name(run_id)}", line=line))
            return None
        try:
            return str(run_id), _staged_event(record, line)
        except BadField as exc:
            report(Problem(f"skipped: {exc}", line=line, run_id=str(run_id)))
            return None

    stage_records(staging, json_lines(source, report), group_of, head, None, report)


def _staged_event(record: dict[str, Any], line: int | None) -> dict[str, Any]:
    """What the run needs of one line, checked: the Step's fields plus agent, start time, error flag."""
    raw_type = _text_field(record, "type")
    event_type = _event_type(raw_type)
    started_at = _timestamp(record)
    duration = _number(record, "duration_ms")
    start_ms = normalize.epoch_ms(started_at)
    ended_at = started_at
    if start_ms is not None and duration is not None:
        ended_at = _iso_ms(start_ms + duration)
    tool = _text_field(record, "tool")
    is_error = event_type == "error"
    content = normalize.text(record.get("content"))
    step: dict[str, Any] = {
        "id": _id_field(record, "step_id") or f"line-{line}",
        "parent_id": _id_field(record, "parent_id"),
        "name": (tool if event_type in TOOL_TYPES and tool else None) or raw_type or "event",
        "kind": normalize.kind(raw_type),
        "raw_type": raw_type,
        "status": "failed" if is_error else "completed",
        "started_at": started_at,
        "ended_at": ended_at,
        "duration_ms": duration,
        "input": normalize.text(record.get("arguments")),
        "output": None if is_error else content,
        "error": content if is_error else None,
        "tokens_in": _integer(record, "input_tokens"),
        "tokens_out": _integer(record, "output_tokens"),
        "cost_usd": _number(record, "cost_usd"),
        "extra": {k: v for k, v in record.items() if k not in KNOWN},
    }
    if tool and event_type not in TOOL_TYPES:
        step["extra"]["tool"] = tool
    return {"step": step, "agent": _text_field(record, "agent"), "start_ms": start_ms, "error": is_error}


def run_from_group(run_id: str, events: StagedRecords, report: ProblemSink) -> Run:
    """The events of one run, as stage() staged them, to a Run."""
    run = Run(id=run_id, source_line=events[0][0])
    run.agent = next((e["agent"] for _, e in events if e["agent"] is not None), None)
    steps = []
    for _, event in events:
        step = Step(**event["step"])
        if event["agent"] is not None and event["agent"] != run.agent:
            step.extra["agent"] = event["agent"]  # a run with several agents keeps each step's own
        steps.append(step)
    # Siblings run in timestamp order (finalize_run orders them by seq); equal or missing times keep line order.
    starts_ms = [e["start_ms"] for _, e in events]
    timed = sorted(range(len(events)), key=lambda i: (starts_ms[i] is None, starts_ms[i] or 0, i))
    for seq, i in enumerate(timed):
        steps[i].seq = seq
    run.steps = steps
    starts = [s.started_at for s in steps if s.started_at]
    ends = [s.ended_at for s in steps if s.ended_at]
    # ISO UTC text from normalize.timestamp() sorts like time.
    run.started_at = min(starts, default=None)
    run.ended_at = max(ends, default=None)
    run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
    errors = [s for s, (_, e) in zip(steps, events, strict=False) if e["error"]]
    run.status = "failed" if errors else "completed"
    run.error = next((s.error for s in errors if s.error), None)
    return run


def _event_type(raw: Any) -> str | None:
    return raw.strip().lower() if isinstance(raw, str) else None


def _type_name(value: Any) -> str:
    return {dict: "an object", list: "a list", bool: "true/false"}.get(type(value), type(value).__name__)


def _id_field(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, _IDS):
        raise BadField(f"{name} must be text, not {_type_name(value)}")
    return str(value)


def _text_field(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadField(f"{name} must be text, not {_type_name(value)}")
    return value


def _number(record: dict[str, Any], name: str) -> float | None:
    value = record.get(name)
    if type(value) is int:  # the common case, kept cheap for large logs
        return float(value)
    if value is None or value == "":
        return None
    result = normalize.number(value) if isinstance(value, _NUMBER) and not isinstance(value, bool) else None
    if result is None:
        raise BadField(f"{name} must be a number, not {_shown(value)}")
    return result


def _integer(record: dict[str, Any], name: str) -> int | None:
    value = _number(record, name)
    return None if value is None else int(value)


def _timestamp(record: dict[str, Any]) -> str | None:
    value = record.get("timestamp")
    if value is None or value == "":
        return None
    result = normalize.timestamp(value) if isinstance(value, _NUMBER) and not isinstance(value, bool) else None
    if result is None:
        raise BadField(f"timestamp must be ISO-8601 text or a unix time, not {_shown(value)}")
    return result


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return jsonsafe.quoted(value[:40] + ("…" if len(value) > 40 else ""))
    return _type_name(value)


def _iso_ms(epoch_ms: float) -> str | None:
    try:
        return normalize.iso(datetime.fromtimestamp(epoch_ms / 1000.0, tz=UTC))
    except (OverflowError, OSError, ValueError):
        return None
