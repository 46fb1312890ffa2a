"""LangSmith / LangChain runs: one run per JSON line, as the LangSmith tracer writes them when each ends.

A run is a trace (trace_id); its steps are the LangSmith runs in it, linked by parent_run_id and
ordered among siblings by dotted_order. Children are written before their parents and traces may
interleave, so records are staged by trace id (sources/staging.py) and one Run is built per trace.
Tokens and cost are read from llm runs only (usage_metadata), because exports from the LangSmith
API also put subtree totals on every chain run. LangGraph's node, step and triggers are kept and
the triggers of a node run become its branch.
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

NAME = "langsmith"
DESCRIPTION = "LangSmith / LangChain runs (LangGraph metadata included), one run per JSON line"
DETECTION = "JSON Lines (or a JSON array) of objects with id, run_type and trace_id, dotted_order or parent_run_id"
PRIORITY = 60

RUN_TYPES = frozenset({"chain", "llm", "tool", "retriever", "prompt", "parser", "embedding"})
_KIND = {"llm": "llm", "tool": "tool", "retriever": "retrieval", "embedding": "retrieval"}
_KNOWN = frozenset(
    {
        "id",
        "trace_id",
        "parent_run_id",
        "dotted_order",
        "name",
        "run_type",
        "start_time",
        "end_time",
        "inputs",
        "outputs",
        "error",
        "events",
        "extra",
        "status",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_cost",
        "completion_cost",
        "total_cost",
    }
)
_LANGGRAPH = ("langgraph_node", "langgraph_step", "langgraph_triggers")
_SESSION_KEYS = ("session_id", "thread_id", "conversation_id")


def _is_run(record: Any) -> bool:
    return (
        isinstance(record, dict)
        and normalize.ident(record.get("id")) is not None
        and isinstance(record.get("run_type"), str)
        and record["run_type"] in RUN_TYPES
        and any(k in record for k in ("trace_id", "dotted_order", "parent_run_id"))
    )


def sniff(head: Head) -> bool:
    return _is_run(head.first_record) or (head.json_document and _is_run(head.first_item))


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    return read_staged(stage, run_from_group, head, report, source)


def resumable(head: Head) -> bool:
    """JSON Lines (a JSON document is read again whole when it changes)."""
    return not head.json_document


def resume(head: Head, report: ProblemSink) -> StagedResume:
    """Appended lines staged beside the earlier ones; only the traces they touch are built again."""
    return StagedResume(stage, run_from_group, head, report)


def stage(head: Head, report: ProblemSink, source: SourceFile, staging: Staging) -> None:
    """Every run record staged under its trace id."""

    def group_of(line: int | None, record: Any) -> tuple[str, Any] | None:
        trace = _trace_id(record) if _is_run(record) else None
        if trace is None:
            report(Problem("skipped: not a LangSmith run (needs id, run_type and a trace id)", line=line))
            return None
        return trace, record

    records = json_document_items(source, head.array_key, report) if head.json_document else json_lines(source, report)
    stage_records(staging, records, group_of, head, "LangSmith runs", report)


def _trace_id(record: dict) -> str | None:
    trace = normalize.ident(record.get("trace_id"))
    if trace:
        return trace
    dotted = record.get("dotted_order")
    if isinstance(dotted, str) and len(dotted) > 23:
        return dotted.split(".", 1)[0][23:] or None  # "<%Y%m%dT%H%M%S%fZ><root id>.…"
    if record.get("parent_run_id") is None:
        return normalize.ident(record.get("id"))
    return None


def _order_key(record: dict) -> str:
    """Siblings sort by the last dotted_order segment: the run's start stamp, then its id."""
    dotted = record.get("dotted_order")
    if isinstance(dotted, str) and dotted:
        return dotted.rsplit(".", 1)[-1]
    started = normalize.timestamp(record.get("start_time")) or ""
    compact = started.replace("-", "").replace(":", "").replace(".", "").replace("Z", "")
    return f"{compact}000Z{normalize.plain(record.get('id'))}"


def run_from_group(trace: str, records: StagedRecords, report: ProblemSink) -> Run:
    """The runs of one trace, as stage() staged them, to a Run."""
    ranked = sorted(records, key=lambda item: _order_key(item[1]))
    steps = [_step(record, seq) for seq, (_, record) in enumerate(ranked)]
    lines = {id(step): line for step, (line, _) in zip(steps, ranked, strict=False)}
    root_pos = next((i for i, s in enumerate(steps) if s.id == trace and s.parent_id is None), None)
    if root_pos is None:
        root_pos = next((i for i, s in enumerate(steps) if s.parent_id is None), None)
    run = Run(id=trace, steps=steps)
    if root_pos is None:
        run.status = "running"
        run.source_line = first_line(records)
        report(
            Problem(
                f"trace {jsonsafe.quoted(trace)} has no root run: it had not ended when the file was written",
                run_id=trace,
            )
        )
        return run
    root_step, root = steps[root_pos], ranked[root_pos][1]
    metadata = (root.get("extra") or {}).get("metadata") if isinstance(root.get("extra"), dict) else None
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    run.agent = root_step.name or None
    run.session = next((normalize.ident(metadata.get(k)) for k in _SESSION_KEYS if metadata.get(k)), None)
    run.status = "failed" if root_step.failed else ("running" if root_step.status == "running" else "completed")
    run.started_at, run.ended_at, run.duration_ms = root_step.started_at, root_step.ended_at, root_step.duration_ms
    run.input, run.output, run.error = root_step.input, root_step.output, root_step.error
    run.metadata = metadata
    if root.get("session_name"):
        run.metadata.setdefault("project", root["session_name"])
    run.source_line = lines[id(root_step)]
    return run


def _step(record: dict, seq: int) -> Step:
    run_type = normalize.plain(record.get("run_type"))
    extra_field = found if isinstance(found := record.get("extra"), dict) else {}
    metadata = found if isinstance(found := extra_field.get("metadata"), dict) else {}
    started, ended = normalize.timestamp(record.get("start_time")), normalize.timestamp(record.get("end_time"))
    error = record.get("error")
    step = Step(
        id=normalize.ident(record.get("id")) or "",
        parent_id=normalize.ident(record.get("parent_run_id")),
        seq=seq,
        name=normalize.text(record.get("name")) or run_type,
        kind=_KIND.get(run_type, "other"),
        raw_type=run_type,
        status=_status(record, error, ended),
        started_at=started,
        ended_at=ended,
        duration_ms=normalize.duration_between(started, ended),
        input=normalize.text(_unwrap(record.get("inputs"), "input")),
        output=normalize.text(_unwrap(record.get("outputs"), "output")),
    )
    traceback = None
    if error:
        step.error, traceback = _split_traceback(normalize.text(error) or "")
    if isinstance(record.get("events"), list):
        step.events = record["events"]
    if run_type == "llm":
        _usage(step, record, metadata)
    triggers = metadata.get("langgraph_triggers")
    if metadata.get("langgraph_node") == step.name and isinstance(triggers, list) and triggers:
        step.branch = ", ".join(normalize.plain(t) for t in triggers)
    step.extra = {k: v for k, v in record.items() if k not in _KNOWN and v is not None}
    step.extra.update({k: metadata[k] for k in _LANGGRAPH if k in metadata})
    rest = {k: v for k, v in extra_field.items() if k != "metadata"}
    if rest:
        step.extra["extra"] = rest
    other_metadata = {k: v for k, v in metadata.items() if k not in _LANGGRAPH}
    if other_metadata:
        step.extra["metadata"] = other_metadata
    if traceback:
        step.extra["traceback"] = traceback
    for name in ("prompt_tokens", "completion_tokens", "total_tokens", "prompt_cost", "completion_cost", "total_cost"):
        if record.get(name) is not None and run_type != "llm":
            step.extra[name] = record[name]  # subtree totals from the API: shown, never summed again
    return step


def _split_traceback(error: str) -> tuple[str, str | None]:
    """LangChain writes repr(exception) followed by the traceback; the first part is the error."""
    head, marker, tail = error.partition("Traceback (most recent call last):")
    if not marker or not head.strip():
        return error, None
    return head.strip(), marker + tail


def _status(record: dict, error: Any, ended: str | None) -> str:
    said = normalize.status(record.get("status"), default="") if record.get("status") else ""
    if error or said in ("failed", "timeout"):
        return said if said == "timeout" else "failed"
    if said in ("pending", "running") or (not said and not ended and record.get("outputs") is None):
        return "running"
    return "completed"


def _unwrap(payload: Any, key: str) -> Any:
    """LangChain wraps plain values as {"input": …} / {"output": …}; show the value itself."""
    if isinstance(payload, dict) and len(payload) == 1 and key in payload:
        return payload[key]
    return payload


def _usage(step: Step, record: dict, metadata: dict) -> None:
    """Usage as LangChain counts it (usage_metadata: input and output tokens hold their details, as
    the convention wants), else the OpenAI-shaped llm_output.token_usage, else the run's own fields."""
    usage = metadata.get("usage_metadata")
    outputs = record.get("outputs")
    if not isinstance(usage, dict) and isinstance(outputs, dict):
        usage = outputs.get("usage_metadata")
        if not isinstance(usage, dict) and isinstance(outputs.get("llm_output"), dict):
            legacy = outputs["llm_output"].get("token_usage")
            usage = legacy if isinstance(legacy, dict) else None
    usage = usage if isinstance(usage, dict) else {}
    shape = {
        "input_tokens": usage.get("input_tokens", usage.get("prompt_tokens", record.get("prompt_tokens"))),
        "output_tokens": usage.get("output_tokens", usage.get("completion_tokens", record.get("completion_tokens"))),
        # The LangSmith API's run fields carry the same details as usage_metadata, under other names.
        "input_token_details": usage.get("input_token_details", record.get("prompt_token_details")),
        "output_token_details": usage.get("output_token_details", record.get("completion_token_details")),
        "prompt_tokens_details": usage.get("prompt_tokens_details"),
        "completion_tokens_details": usage.get("completion_tokens_details"),
    }
    tokens.from_mapping(shape).apply(step)
    cost = normalize.number(usage.get("total_cost", record.get("total_cost")))
    if cost is None:
        parts = [normalize.number(usage.get(k)) for k in ("input_cost", "output_cost")]
        if any(p is not None for p in parts):
            cost = sum(p or 0.0 for p in parts)
    step.cost_usd = cost
    # LangChain's tracer names the model and its provider in the run's metadata (ls_*), the model
    # also in the invocation parameters.
    extra_field = record.get("extra")
    invocation = extra_field.get("invocation_params") if isinstance(extra_field, dict) else None
    invocation = invocation if isinstance(invocation, dict) else {}
    step.model = normalize.text(
        metadata.get("ls_model_name") or invocation.get("model") or invocation.get("model_name")
    )
    step.provider = normalize.text(metadata.get("ls_provider"))
