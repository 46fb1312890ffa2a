"""Langfuse exports: trace downloads (trace + observations + scores) and observation exports.

A trace download is what GET /api/public/traces/{id} returns (TraceWithFullDetails): one JSON
document, or many as JSON Lines, a JSON array or {"data": [...]}. Each is one run, staged as a group
of its own. An observation export holds observation rows only (ObservationsView: JSON Lines, a JSON
array or the API's {"data": [...], "meta": ...}), traces interleaved and children before parents,
so rows are staged by traceId (sources/staging.py) and one run is built per trace.

Observations are the steps, linked by parentObservationId. level ERROR makes a failed step (its
statusMessage is the error); the run fails when its root observation failed. Usage and cost are
per observation in Langfuse (a parent never repeats its children's), so each observation's own
usageDetails/costDetails count once; the trace's totalCost is the run's reported total. Scores
become evaluation steps under the observation they score, or at the top for trace scores.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

from .. import jsonsafe, normalize
from .. import usage as tokens
from ..errors import UnusableInput
from ..model import Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .contract import StagedRecords
from .records import BOM, json_document_items, json_lines, top_level_keys
from .resume import StagedResume
from .staging import Staging, first_line, read_staged, stage_records

NAME = "langfuse"
DESCRIPTION = "Langfuse exports: trace downloads (trace + observations + scores) and observation exports"
DETECTION = (
    'JSON/JSONL traces with id, timestamp and "observations", or observation rows with id, traceId, '
    "type (SPAN, GENERATION, EVENT, AGENT, TOOL, …) and startTime"
)
PRIORITY = 40

TYPES = frozenset(
    {"span", "generation", "event", "agent", "tool", "chain", "retriever", "evaluator", "embedding", "guardrail"}
)
_KIND = {
    "generation": "llm",
    "embedding": "retrieval",
    "agent": "agent",
    "tool": "tool",
    "retriever": "retrieval",
    "evaluator": "evaluation",
    "guardrail": "governance",
}
_OBS_KNOWN = frozenset(
    {
        "id",
        "traceId",
        "type",
        "name",
        "startTime",
        "endTime",
        "input",
        "output",
        "level",
        "statusMessage",
        "parentObservationId",
        "usage",
        "usageDetails",
        "costDetails",
        "latency",
        "metadata",
        "calculatedTotalCost",
        "calculatedInputCost",
        "calculatedOutputCost",
        "totalPrice",
        "inputPrice",
        "outputPrice",
        "totalCost",
        "model",
    }
)
_TRACE_KNOWN = frozenset(
    {
        "id",
        "timestamp",
        "name",
        "input",
        "output",
        "sessionId",
        "userId",
        "metadata",
        "tags",
        "release",
        "version",
        "environment",
        "observations",
        "scores",
        "latency",
        "totalCost",
    }
)
_TRACE_METADATA = ("userId", "tags", "release", "version", "environment")


def _is_trace(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("observations"), list)
        and bool(normalize.ident(obj.get("id")))
        and "timestamp" in obj
    )


def _is_observation(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and bool(normalize.ident(obj.get("id")))
        and "traceId" in obj
        and "startTime" in obj
        and normalize.plain(obj.get("type", "")).lower() in TYPES
    )


def sniff(head: Head) -> bool:
    if _is_trace(head.first_record) or _is_observation(head.first_record):
        return True
    if not head.json_document:
        return False
    if head.array_key in (None, "data") and (_is_trace(head.first_item) or _is_observation(head.first_item)):
        return True
    keys = set(head.top_keys)
    return {"id", "timestamp", "name"} <= keys and (
        "observations" in keys or "observations" in top_level_keys(head.path)
    )


def _records(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[tuple[int, Any]]:
    if head.first_record is not None and not head.json_document:
        for line, record in json_lines(source, report):
            if not _is_trace(record) and not _is_observation(record) and isinstance(record.get("data"), list):
                yield from ((line, item) for item in record["data"])
            else:
                yield line, record
    elif head.array_key in (None, "data") and (_is_trace(head.first_item) or _is_observation(head.first_item)):
        yield from json_document_items(source, head.array_key, report)
    else:
        with source.open() as f:  # one trace download: a single run, held whole like any run
            try:
                trace, notes = jsonsafe.loads(f.read().removeprefix(BOM))
            except orjson.JSONDecodeError as exc:
                raise UnusableInput(
                    head.path, f"looks like a Langfuse trace download, but it is not valid JSON ({exc})"
                ) from None
        for note in notes:
            report(Problem(f"read with a repair: {note}"))
        yield 1, trace


# Group keys: every trace download is a group of its own; observation rows are grouped by traceId.
_DOWNLOAD = "trace download "
_OBSERVATIONS = "observations of "


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    return read_staged(stage, run_from_group, head, report, source)


def resumable(head: Head) -> bool:
    """JSON Lines (downloads or observation rows, a line each or a page of them); a JSON document is
    read again whole when it changes."""
    return head.first_record is not None and not head.json_document


def resume(head: Head, report: ProblemSink) -> StagedResume:
    """Appended lines staged beside the earlier ones; only the runs they touch are built again (a
    trace's observation rows appended, or a download)."""
    return StagedResume(stage, run_from_group, head, report)


def stage(head: Head, report: ProblemSink, source: SourceFile, staging: Staging) -> None:
    """Every trace download staged as a group of its own, every observation row under its traceId."""
    on_line: dict[int | None, int] = {}  # downloads met on each line (a page of them is one line)

    def group_of(line: int | None, record: Any) -> tuple[str, Any] | None:
        if _is_trace(record):
            # Named by its line, which no other read of the file's lines (a window appended later:
            # resume) can give another download, unlike a count kept by each read.
            on_line[line] = n = on_line.get(line, 0) + 1
            return f"{_DOWNLOAD}{line}" + (f".{n}" if n > 1 else ""), record
        if _is_observation(record):
            return f"{_OBSERVATIONS}{record['traceId'] or '(no trace)'}", record
        report(
            Problem("skipped: not a Langfuse trace or observation (needs id, traceId, type and startTime)", line=line)
        )
        return None

    stage_records(staging, _records(head, report, source), group_of, head, "a Langfuse export", report)


def run_from_group(key: str, records: StagedRecords, report: ProblemSink) -> Run:
    """A trace download, or the observation rows of one trace, as stage() staged them, to a Run."""
    if key.startswith(_DOWNLOAD):
        line, trace = records[0]
        return _trace_run(trace, line, report)
    return _observations_run(key.removeprefix(_OBSERVATIONS), records, report)


def _trace_run(trace: dict, line: int | None, report: ProblemSink) -> Run:
    trace_id = normalize.plain(trace["id"])
    observations = [
        o for o in trace["observations"] if _is_observation(o) or isinstance(o, dict) and normalize.ident(o.get("id"))
    ]
    if len(observations) != len(trace["observations"]):
        report(
            Problem(
                f"trace {jsonsafe.quoted(trace_id)}: {len(trace['observations']) - len(observations)} observations without an id skipped",
                line=line,
                run_id=trace_id,
            )
        )
    run = _run(trace_id, observations, line)
    run.agent = normalize.text(trace.get("name")) or run.agent
    run.session = normalize.ident(trace.get("sessionId"))
    run.input = normalize.text(trace.get("input")) if trace.get("input") is not None else run.input
    run.output = normalize.text(trace.get("output")) if trace.get("output") is not None else run.output
    run.started_at = normalize.timestamp(trace.get("timestamp")) or run.started_at
    latency = normalize.number(trace.get("latency"))
    if latency is not None:
        run.duration_ms = latency * 1000.0
    run.cost_usd = normalize.number(trace.get("totalCost"))
    run.metadata = dict(trace["metadata"]) if isinstance(trace.get("metadata"), dict) else {}
    run.metadata.update({k: trace[k] for k in _TRACE_METADATA if trace.get(k) not in (None, [], "")})
    run.extra = {k: v for k, v in trace.items() if k not in _TRACE_KNOWN and not k.startswith("_") and v is not None}
    scores = found if isinstance(found := trace.get("scores"), list) else []
    known = {s.id for s in run.steps}
    for seq, score in enumerate(s for s in scores if isinstance(s, dict)):
        run.steps.append(_score_step(score, seq, known))
    return run


def _observations_run(trace_id: str, rows: StagedRecords, report: ProblemSink) -> Run:
    run = _run(trace_id, [record for _, record in rows], first_line(rows))
    if not any(s.parent_id is None for s in run.steps):
        report(
            Problem(f"trace {jsonsafe.quoted(trace_id)}: its root observation is not in the export", run_id=trace_id)
        )
    return run


def _run(trace_id: str, observations: list[dict], line: int | None) -> Run:
    ordered = sorted(observations, key=lambda o: normalize.timestamp(o.get("startTime")) or "")
    steps = [_step(o, seq) for seq, o in enumerate(ordered)]
    run = Run(id=trace_id, source_line=line, steps=steps)
    ids = {s.id for s in steps}
    roots = [s for s in steps if s.parent_id is None or s.parent_id not in ids]
    root = next((s for s in roots if s.parent_id is None), roots[0] if roots else None)
    starts = [s.started_at for s in steps if s.started_at]
    ends = [s.ended_at for s in steps if s.ended_at]
    run.started_at = min(starts) if starts else None
    run.ended_at = max(ends) if ends else None
    run.duration_ms = normalize.duration_between(run.started_at, run.ended_at)
    if root is not None:
        run.agent, run.input, run.output = root.name, root.input, root.output
        if root.failed:
            run.status, run.error = "failed", root.error
        elif any(s.status == "running" for s in roots):
            run.status = "running"
    return run


def _step(obs: dict, seq: int) -> Step:
    raw_type = normalize.plain(obs.get("type") or "SPAN")
    started = normalize.timestamp(obs.get("startTime"))
    ended = normalize.timestamp(obs.get("endTime"))
    latency = normalize.number(obs.get("latency"))
    step = Step(
        id=normalize.plain(obs["id"]),
        parent_id=normalize.ident(obs.get("parentObservationId")),
        seq=seq,
        name=normalize.text(obs.get("name")) or raw_type.lower(),
        kind=_KIND.get(raw_type.lower(), "other"),
        raw_type=raw_type,
        started_at=started,
        ended_at=ended,
        duration_ms=latency * 1000.0 if latency is not None else normalize.duration_between(started, ended),
        input=normalize.text(obs.get("input")),
        output=normalize.text(obs.get("output")),
    )
    level = normalize.plain(obs.get("level") or "DEFAULT").upper()
    if level == "ERROR":
        step.status, step.error = "failed", normalize.text(obs.get("statusMessage")) or "level ERROR"
    elif ended is None and raw_type.upper() != "EVENT":
        step.status = "running"
    step.extra = {k: v for k, v in obs.items() if k not in _OBS_KNOWN and v not in (None, {}, [])}
    if level != "DEFAULT":
        step.extra["level"] = level
    if level != "ERROR" and obs.get("statusMessage"):
        step.extra["status_message"] = obs["statusMessage"]
    if isinstance(obs.get("metadata"), dict) and obs["metadata"]:
        step.extra["metadata"] = obs["metadata"]
    _usage(step, obs)
    return step


def _usage(step: Step, obs: dict) -> None:
    details = found if isinstance(found := obs.get("usageDetails"), dict) else {}
    legacy = found if isinstance(found := obs.get("usage"), dict) else {}
    _tokens(details).apply(step)
    if step.tokens_in is None:
        step.tokens_in = _nonzero(legacy.get("input"))
    if step.tokens_out is None:
        step.tokens_out = _nonzero(legacy.get("output"))
    if step.tokens_out is None and step.tokens_in is not None and "output" in details:
        step.tokens_out = 0
    rest = {k: v for k, v in details.items() if k not in ("input", "output", "total")}
    if rest:
        step.extra["usage_details"] = rest
    costs = found if isinstance(found := obs.get("costDetails"), dict) else {}
    cost = normalize.number(costs.get("total"))
    if cost is None and costs:
        parts = [normalize.number(v) for v in costs.values()]
        cost = sum(p for p in parts if p is not None) if any(p is not None for p in parts) else None
    if cost is None:
        cost = normalize.number(obs.get("calculatedTotalCost", obs.get("totalCost")))
    step.cost_usd = cost
    step.model = normalize.text(obs.get("model")) or None


def _tokens(details: dict) -> tokens.Tokens:
    """Langfuse's usage types are disjoint ("input" is what no other input type counts: its SDKs
    subtract the cached and audio tokens from it) and add up to the total, so every type named
    input is summed into tokens_in and every type named output into tokens_out. Where "total" says
    the cache and reasoning types overlap "input" and "output" instead, they are not added again."""
    if any(k in details for k in _PLAIN):  # OpenAI- or Anthropic-shaped usage kept as it came
        return tokens.from_mapping(details)
    found: dict[str, list[int]] = {"in": [], "out": [], "cache_read": [], "cache_write": [], "reasoning": []}
    for key, raw in details.items():
        name, value = key.lower(), normalize.integer(raw)
        if value is None or "total" in name or "priority" in name:
            continue  # priority-tier counts overlap the others (Langfuse does not subtract them)
        if "output" in name or "completion" in name:
            found["reasoning" if "reasoning" in name or "thought" in name else "out"].append(value)
        elif "input" in name or "prompt" in name or name.startswith("cache"):
            part = "cache_write" if "creation" in name or "write" in name else "cache_read"
            found[part if "cache" in name else "in"].append(value)
    return tokens.counted(
        _sum(found["in"]),
        _sum(found["out"]),
        cache_read=_sum(found["cache_read"]),
        cache_write=_sum(found["cache_write"]),
        reasoning=_sum(found["reasoning"]),
        input_has_cache=False,
        output_has_reasoning=False,
        total=details.get("total"),
    )


def _sum(values: list[int]) -> int | None:
    return sum(values) if values else None


_PLAIN = ("input_tokens", "prompt_tokens")


def _nonzero(value: Any) -> int | None:
    number = normalize.integer(value)
    return number or None  # the deprecated usage object says 0 where nothing was recorded


def _score_step(score: dict, seq: int, observation_ids: set[str]) -> Step:
    target = normalize.ident(score.get("observationId"))
    value = score.get("value")
    step = Step(
        id=f"score:{normalize.plain(score.get('id') or seq)}",
        parent_id=target if target in observation_ids else None,
        seq=10**9 + seq,  # scores come after the work they judge
        name=normalize.text(score.get("name")) or "score",
        kind="evaluation",
        raw_type="SCORE",
        started_at=normalize.timestamp(score.get("timestamp")),
        score=normalize.number(value) if score.get("dataType") != "CATEGORICAL" else None,
        verdict=normalize.text(score.get("stringValue")),
        output=normalize.text(score.get("comment")),
    )
    step.extra = {
        k: v
        for k, v in score.items()
        if k in ("dataType", "source", "configId", "authorUserId", "metadata") and v is not None
    }
    if target and target not in observation_ids:
        step.extra["observation_id"] = target
    return step
