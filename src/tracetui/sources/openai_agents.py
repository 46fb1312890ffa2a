"""OpenAI Agents SDK traces: trace and span objects as the SDK exports them, one per JSON line.

{"object": "trace", id, workflow_name, group_id, metadata} is the run; {"object": "trace.span", id,
trace_id, parent_id, started_at, ended_at, span_data, error} are its steps. A processor writes each
span when it ends and the trace after its spans, so records are staged by trace id
(sources/staging.py). Batches as the SDK's backend exporter sends them ({"data": [...]}) are read too.

Tokens come from generation and response spans only: the SDK's own task and turn spans (custom
spans) carry usage that totals their children, kept in extra and never added again. A span with
an error is a failed step; the run fails when the agent loop itself failed (an error on the root
span or on an agent, task or turn span), not when a tool error was reported back to the model.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import jsonsafe, normalize
from .. import usage as tokens
from ..model import Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .contract import StagedRecords
from .records import json_document_items, json_lines
from .resume import StagedResume
from .staging import Staging, first_line, read_staged, stage_records

NAME = "openai-agents"
DESCRIPTION = "OpenAI Agents SDK traces: trace and trace.span objects (TracingProcessor export())"
DETECTION = 'JSON Lines (or {"data": [...]} batches) of objects with "object": "trace" or "trace.span"'
PRIORITY = 50

OBJECTS = ("trace", "trace.span")
_KIND = {
    "agent": "agent",
    "generation": "llm",
    "response": "llm",
    "transcription": "llm",
    "speech": "llm",
    "function": "tool",
    "mcp_tools": "tool",
    "handoff": "agent",
    "guardrail": "governance",
}
_LOOP_SPANS = {"agent", "task", "turn"}  # errors here mean the run itself stopped
_SPAN_KNOWN = frozenset({"object", "id", "trace_id", "parent_id", "started_at", "ended_at", "span_data", "error"})
_DATA_SHOWN = frozenset({"type", "name", "input", "output", "usage", "model", "triggered", "from_agent", "to_agent"})


def _is_item(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and isinstance(record.get("object"), str)
        and record["object"] in OBJECTS
        and normalize.ident(record.get("id")) is not None
    )


def _is_batch(record: Any) -> bool:
    data = record.get("data") if isinstance(record, dict) else None
    return isinstance(data, list) and bool(data) and _is_item(data[0])


def sniff(head: Head) -> bool:
    if _is_item(head.first_record) or _is_batch(head.first_record):
        return True
    return head.json_document and _is_item(head.first_item)


def _items(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[tuple[int, Any]]:
    if head.json_document:
        yield from json_document_items(source, head.array_key, report)
        return
    for line, record in json_lines(source, report):
        if "object" not in record and isinstance(record.get("data"), list):
            for item in record["data"]:
                yield line, item
        else:
            yield line, record


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    return read_staged(stage, run_from_group, head, report, source)


def resumable(head: Head) -> bool:
    """JSON Lines (a JSON document is read again whole when it changes)."""
    return not head.json_document


def resume(head: Head, report: ProblemSink) -> StagedResume:
    """Appended lines staged beside the earlier ones; only the traces they touch are built again."""
    return StagedResume(stage, run_from_group, head, report)


def stage(head: Head, report: ProblemSink, source: SourceFile, staging: Staging) -> None:
    """Every trace and span staged under its trace id."""

    def group_of(line: int | None, item: Any) -> tuple[str, Any] | None:
        trace = None
        if _is_item(item):
            trace = normalize.ident(item.get("id") if item["object"] == "trace" else item.get("trace_id"))
        if trace is None:
            report(Problem("skipped: not an Agents SDK trace or span (needs object, id and trace_id)", line=line))
            return None
        return trace, item

    stage_records(staging, _items(head, report, source), group_of, head, "OpenAI Agents SDK traces", report)


def run_from_group(trace_id: str, records: StagedRecords, report: ProblemSink) -> Run:
    """The trace and spans of one trace, as stage() staged them, to a Run."""
    trace = next((r for _, r in records if r["object"] == "trace"), None)
    spans = [(line, r) for line, r in records if r["object"] == "trace.span"]
    spans.sort(
        key=lambda item: (
            normalize.timestamp(item[1].get("started_at")) is None,
            normalize.plain(item[1].get("started_at") or ""),
        )
    )
    steps = [_step(record, seq) for seq, (_, record) in enumerate(spans)]
    run = Run(id=trace_id, steps=steps, source_line=first_line(records))
    if trace is not None:
        run.agent = normalize.text(trace.get("workflow_name"))
        run.session = normalize.ident(trace.get("group_id"))
        run.metadata = dict(trace["metadata"]) if isinstance(trace.get("metadata"), dict) else {}
        run.extra = {
            k: v for k, v in trace.items() if k not in ("object", "id", "workflow_name", "group_id", "metadata")
        }
    else:
        report(
            Problem(
                f"trace {jsonsafe.quoted(trace_id)} has spans but no trace record: it had not ended when the file was written",
                run_id=trace_id,
            )
        )
    starts = [s.started_at for s in steps if s.started_at]
    ends = [s.ended_at for s in steps if s.ended_at]
    run.started_at = min(starts) if starts else None
    run.ended_at = max(ends) if ends else None
    run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
    fatal = [s for s, (_, r) in zip(steps, spans, strict=False) if s.failed and (s.parent_id is None or _is_loop(r))]
    if fatal:
        run.status, run.error = "failed", fatal[-1].error
    elif trace is None or any(s.status == "running" for s in steps if s.parent_id is None):
        run.status = "running"
    asked = [s.extra["input_items"] for s in steps if "input_items" in s.extra]
    answered = [
        r["span_data"].get("output")
        for s, (_, r) in zip(steps, spans, strict=False)
        if s.raw_type == "generation" and s.output
    ]
    run.input = _first_user_text(asked[0]) if asked else None
    run.output = _assistant_text(answered[-1]) if answered and run.status != "failed" else None
    if not steps:
        report(Problem(f"trace {jsonsafe.quoted(trace_id)} has no spans", run_id=trace_id))
    return run


def _step(record: dict, seq: int) -> Step:
    data = found if isinstance(found := record.get("span_data"), dict) else {}
    span_type = normalize.plain(data.get("type") or "span")
    started, ended = normalize.timestamp(record.get("started_at")), normalize.timestamp(record.get("ended_at"))
    step = Step(
        id=normalize.ident(record.get("id")) or "",
        parent_id=normalize.ident(record.get("parent_id")),
        seq=seq,
        name=_name(span_type, data),
        kind=_KIND.get(span_type, "other"),
        raw_type=span_type,
        status="completed" if ended else "running",
        started_at=started,
        ended_at=ended,
        duration_ms=normalize.duration_between(started, ended),
        input=normalize.text(data.get("input")),
        output=normalize.text(data.get("output")),
    )
    usage = found if isinstance(found := data.get("usage"), dict) else None
    step.extra = {k: v for k, v in data.items() if k not in _DATA_SHOWN and v is not None}
    if span_type in ("generation", "response") and usage:
        # OpenAI's shape: input_tokens holds the cached tokens, output_tokens the reasoning.
        tokens.from_mapping(usage).apply(step)
        step.extra["usage_details"] = {k: v for k, v in usage.items() if k not in ("input_tokens", "output_tokens")}
    elif usage:
        step.extra["usage"] = usage  # a total of other spans: shown, never added again
    if span_type == "generation" and isinstance(data.get("input"), list):
        step.extra["input_items"] = data["input"]
    if span_type in ("generation", "response"):
        step.model = normalize.text(data.get("model"))
    elif data.get("model") is not None:
        step.extra["model"] = data["model"]
    if span_type == "handoff":
        step.extra.update(from_agent=data.get("from_agent"), to_agent=data.get("to_agent"))
    if span_type == "guardrail":
        triggered = bool(data.get("triggered"))
        step.verdict = "triggered" if triggered else "passed"
        step.policy = normalize.text(data.get("name"))
        if triggered:  # a tripwire always stops the run with an exception
            step.status, step.error = "failed", "guardrail tripwire triggered"
    step.extra.update({k: v for k, v in record.items() if k not in _SPAN_KNOWN and v is not None})
    error = record.get("error")
    if error:
        step.status = "failed"
        step.error = _error_text(error)
        if isinstance(error, dict) and error.get("data") is not None:
            step.extra["error_data"] = error["data"]
    return step


def _is_loop(record: dict) -> bool:
    data = found if isinstance(found := record.get("span_data"), dict) else {}
    return data.get("type") == "agent" or (
        data.get("type") == "custom" and normalize.scalar(data.get("name")) in _LOOP_SPANS
    )


def _name(span_type: str, data: dict) -> str:
    if span_type == "handoff":
        return f"handoff {normalize.plain(data.get('from_agent') or '?')} -> {normalize.plain(data.get('to_agent') or '?')}"
    if span_type == "custom" and data.get("name") == "turn" and isinstance(data.get("data"), dict):
        turn = data["data"]
        return f"turn {normalize.plain(turn.get('turn', '?'))} ({normalize.plain(turn.get('agent_name') or '?')})"
    if span_type == "generation":
        return normalize.text(data.get("model")) or "generation"
    return normalize.text(data.get("name")) or span_type


def _error_text(error: Any) -> str:
    if not isinstance(error, dict):
        return normalize.text(error) or "error"
    message = normalize.text(error.get("message")) or "error"
    data = error.get("data")
    if isinstance(data, dict):
        detail = data.get("error") or data.get("message")
        if detail is not None:
            kind = data.get("name")
            return f"{message}: {kind + ': ' if isinstance(kind, str) else ''}{normalize.text(detail)}"
        return f"{message}: {normalize.text(data)}"
    return message if data is None else f"{message}: {normalize.text(data)}"


def _first_user_text(items: Any) -> str | None:
    if isinstance(items, str):
        return items
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and item.get("role") == "user":
            return normalize.text(item.get("content"))
    return None


def _assistant_text(items: Any) -> str | None:
    """The text of the assistant's message items (the final answer), or None when it made none."""
    texts = [
        text
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and item.get("type") == "message"
        for part in item.get("content") or []
        if isinstance(part, dict) and isinstance(text := part.get("text"), str)
    ]
    return "\n".join(texts) if texts else normalize.text(items) if isinstance(items, str) else None
