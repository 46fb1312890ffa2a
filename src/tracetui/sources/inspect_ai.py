"""Inspect AI eval logs (log_format="json"): one JSON document per eval; each sample is a run.

A sample's events become its steps: span_begin/span_end pairs (solvers, agents, handoffs, tools,
scorers) are the structure, model events are model calls (usage and cost counted there only),
tool events are merged into the tool span Inspect opens for them, score events are evaluations
and error events are failures. Message content that Inspect de-duplicates into events_data and
attachments ("attachment://…") is put back. Samples are streamed one at a time.

A tool error reported back to the model fails the tool step; the sample (run) fails only when it
ended with an error. Earlier attempts of a retried sample (error_retries) are kept in run.extra.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import jsonsafe, normalize
from .. import usage as tokens
from ..errors import UnusableInput
from ..model import TOKEN_PARTS, Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .contract import one_record
from .records import json_document_items, top_level_fields

NAME = "inspect-ai"
DESCRIPTION = (
    "Inspect AI eval logs (.json): each sample is a run; its events (spans, model, tool, score, error) are the steps"
)
DETECTION = 'a JSON document with top-level "version", "status" and "eval" (with "task") before "samples"'
PRIORITY = 20

_SPAN_KIND = {
    "agent": "agent",
    "handoff": "agent",
    "tool": "tool",
    "scorer": "evaluation",
    "solvers": "control",
    "scorers": "control",
    "solver": "other",
}
_SKIPPED_SPANS = frozenset({"init"})
_QUIET_EVENTS = frozenset({"span_end", "sample_init", "state", "store", "logger", "input", "step"})
_SCORE_VALUES = {"C": 1.0, "I": 0.0, "P": 0.5, "N": 0.0}


def _is_header(obj: Any) -> bool:
    return isinstance(obj, dict) and "version" in obj and isinstance(obj.get("eval"), dict) and "task" in obj["eval"]


def sniff(head: Head) -> bool:
    if isinstance(head.first_record, dict):
        return _is_header(head.first_record) and isinstance(head.first_record.get("samples", []), list)
    keys = set(head.top_keys)
    return head.json_document and {"version", "status", "eval"} <= keys and b'"task"' in head.data


_HEADER = frozenset({"status", "version", "eval", "error"})


def _header(source: SourceFile) -> tuple[dict, Any, Any]:
    """The eval's description, its status and its error: written before the samples (else looked for after)."""
    fields = top_level_fields(source.path, until="samples", wanted=_HEADER)
    if "eval" not in fields or (fields.get("status") == "error" and "error" not in fields):
        fields = top_level_fields(source.path, wanted=_HEADER)
    eval_info, status = fields.get("eval"), fields.get("status")
    error = fields.get("error") if status == "error" else None
    return (eval_info if isinstance(eval_info, dict) else {}), status, error


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    path = head.path
    eval_info, status, error = _header(source)
    if not eval_info:
        raise UnusableInput(path, 'looks like an Inspect AI eval log, but its "eval" header is missing or broken')
    yielded = 0
    for index, sample in json_document_items(source, "samples", report):
        if not isinstance(sample, dict) or normalize.ident(sample.get("id")) is None:
            report(Problem(f"skipped sample {index}: not an object with an id", line=index))
            continue
        run = one_record(report, f"sample {index}", index, _build_run, sample, index, eval_info, path)
        if run is not None:
            yield run
            yielded += 1
    if not yielded:
        why = f"the eval ended with status {jsonsafe.quoted(status)}" + (f": {_error_text(error)}" if error else "")
        raise UnusableInput(path, f"an Inspect AI eval log with no readable samples ({why})")


def _build_run(sample: dict, index: int, eval_info: dict, path: str) -> Run:
    epoch = normalize.integer(sample.get("epoch")) or 1
    sample_id = normalize.plain(sample["id"])
    run = Run(id=sample_id if epoch == 1 else f"{sample_id}#epoch{epoch}", source_file=path, source_line=index)
    run.agent = normalize.text(eval_info.get("task"))
    run.session = normalize.ident(eval_info.get("run_id"))
    run.input = _input_text(sample.get("input"))
    run.output = _output_text(sample.get("output"))
    run.started_at = normalize.timestamp(sample.get("started_at"))
    run.ended_at = normalize.timestamp(sample.get("completed_at"))
    seconds = normalize.number(sample.get("total_time"))
    run.duration_ms = (
        seconds * 1000.0 if seconds is not None else normalize.duration_between(run.started_at, run.ended_at)
    )
    if sample.get("error"):
        run.status, run.error = "failed", _error_text(sample["error"])
    elif run.ended_at is None and sample.get("events") and not sample.get("scores"):
        run.status = "running"
    _usage_totals(run, sample.get("model_usage"))
    run.metadata = {"task": eval_info.get("task"), "model": eval_info.get("model"), "epoch": epoch}
    if sample.get("target") not in (None, "", []):
        run.metadata["target"] = sample["target"]
    if isinstance(sample.get("metadata"), dict) and sample["metadata"]:
        run.metadata["sample"] = sample["metadata"]
    if isinstance(sample.get("scores"), dict):
        run.metadata["scores"] = {k: v.get("value") if isinstance(v, dict) else v for k, v in sample["scores"].items()}
    if sample.get("error_retries"):
        run.extra["error_retries"] = [_error_text(e) for e in sample["error_retries"]]
    for key in ("uuid", "working_time", "turn_count", "limit"):
        if sample.get(key) is not None:
            run.extra[key] = sample[key]
    run.steps, skipped = _steps(sample, run.error)
    retries = found if isinstance(found := sample.get("error_retries"), list) else []
    for number, error in enumerate(retries, 1):
        # Inspect keeps only the last attempt's events; each earlier one is shown as the failure it was.
        attempt = Step(
            id=f"attempt-{number}",
            seq=-len(retries) + number - 1,
            name=f"attempt {number} (retried)",
            kind="control",
            raw_type="error_retry",
            status="failed",
            error=_error_text(error),
        )
        if isinstance(error, dict) and error.get("traceback"):
            attempt.extra["traceback"] = error["traceback"]
        run.steps.insert(number - 1, attempt)
    if skipped:
        run.extra["events_not_shown"] = skipped
    return run


def _usage_totals(run: Run, usage: Any) -> None:
    if not isinstance(usage, dict) or not usage:
        return
    per_model = [_tokens(u) for u in usage.values() if isinstance(u, dict)]
    for name in ("tokens_in", "tokens_out", *TOKEN_PARTS):
        values = [v for t in per_model if (v := getattr(t, name)) is not None]
        setattr(run, name, sum(values) if values else None)
    costs = [normalize.number(u.get("total_cost")) for u in usage.values() if isinstance(u, dict)]
    run.cost_usd = sum(c for c in costs if c is not None) if any(c is not None for c in costs) else None


def _tokens(usage: dict) -> tokens.Tokens:
    """Inspect's ModelUsage: input_tokens leaves out input_tokens_cache_read and _write (so they are
    added); output_tokens holds reasoning_tokens. total_tokens settles logs of builds that differ."""
    return tokens.counted(
        usage.get("input_tokens"),
        usage.get("output_tokens"),
        cache_read=usage.get("input_tokens_cache_read"),
        cache_write=usage.get("input_tokens_cache_write"),
        reasoning=usage.get("reasoning_tokens"),
        input_has_cache=False,
        output_has_reasoning=True,
        total=usage.get("total_tokens"),
    )


_USAGE_READ = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "input_tokens_cache_read",
        "input_tokens_cache_write",
        "reasoning_tokens",
        "total_cost",
    }
)


class _Resolver:
    """Puts back the message content Inspect stores once per sample (events_data, attachments)."""

    def __init__(self, sample: dict):
        data = found if isinstance(found := sample.get("events_data"), dict) else {}
        self.messages = found if isinstance(found := data.get("messages"), list) else []
        self.attachments = found if isinstance(found := sample.get("attachments"), dict) else {}

    def value(self, value: Any) -> Any:
        """value with attachment:// references put back; a copy, made without recursion (any depth)."""
        holder: list[Any] = [None]
        todo: list[tuple[Any, Any, Any]] = [(value, holder, 0)]
        while todo:
            node, parent, key = todo.pop()
            if isinstance(node, list):
                parent[key] = items = [None] * len(node)
                todo.extend((child, items, i) for i, child in enumerate(node))
            elif isinstance(node, dict):
                parent[key] = members = dict.fromkeys(node)
                todo.extend((child, members, k) for k, child in node.items())
            elif isinstance(node, str) and node.startswith("attachment://"):
                parent[key] = self.attachments.get(node[len("attachment://") :], node)
            else:
                parent[key] = node
        return holder[0]

    def model_input(self, event: dict) -> list:
        messages = list(event.get("input") or [])
        for pair in event.get("input_refs") or []:
            if isinstance(pair, list) and len(pair) == 2 and all(type(n) is int for n in pair):
                messages.extend(self.messages[pair[0] : pair[1]])
        return self.value(messages)


def _steps(sample: dict, sample_error: str | None) -> tuple[list[Step], dict[str, int]]:
    events = found if isinstance(found := sample.get("events"), list) else []
    resolve = _Resolver(sample)
    steps: list[Step] = []
    spans: dict[str, Step] = {}
    redirect: dict[str, str | None] = {}  # skipped span -> where its events go
    open_tools: list[Step] = []  # tool spans not yet matched with their tool event
    skipped: dict[str, int] = {}

    def parent_of(span_id: Any) -> str | None:
        span_id = normalize.ident(span_id)
        while span_id in redirect:
            span_id = redirect[span_id]
        return span_id if span_id in spans else None

    for seq, event in enumerate(e for e in events if isinstance(e, dict)):
        kind = normalize.scalar(event.get("event"))
        if kind == "span_begin":
            span_id = normalize.ident(event.get("id"))
            if span_id is None:
                continue
            if normalize.scalar(event.get("type")) in _SKIPPED_SPANS:
                redirect[span_id] = normalize.ident(event.get("parent_id"))
                continue
            step = _span_step(event, seq, parent_of(event.get("parent_id")))
            spans[span_id] = step
            steps.append(step)
            if event.get("type") == "tool":
                open_tools.append(step)
        elif kind == "span_end":
            ended = spans.get(normalize.ident(event.get("id")) or "")
            if ended is not None:
                ended.ended_at = normalize.timestamp(event.get("timestamp"))
                ended.duration_ms = ended.duration_ms or normalize.duration_between(ended.started_at, ended.ended_at)
                if ended.status == "running":
                    ended.status = "completed"
        elif kind == "tool":
            target = next(
                (
                    s
                    for s in open_tools
                    if s.name == event.get("function") and _inside(s, parent_of(event.get("span_id")), spans)
                ),
                None,
            )
            if target is not None:
                open_tools.remove(target)
            else:
                target = Step(id=f"tool-{seq}", parent_id=parent_of(event.get("span_id")), seq=seq)
                steps.append(target)
            _tool(target, event, sample_error)
        elif kind in _QUIET_EVENTS:
            continue
        else:
            made = _event_step(event, seq, parent_of(event.get("span_id")), resolve)
            if made is None:
                skipped[str(kind)] = skipped.get(str(kind), 0) + 1
            else:
                steps.append(made)
    return steps, skipped


def _inside(step: Step, ancestor: str | None, spans: dict[str, Step]) -> bool:
    """Whether step lies under the span `ancestor` (tool spans may sit inside a handoff span)."""
    node: Step | None = step
    while node is not None:
        if node.parent_id == ancestor:
            return True
        node = spans.get(node.parent_id) if node.parent_id else None
    return False


def _span_step(event: dict, seq: int, parent: str | None) -> Step:
    span_type = normalize.text(event.get("type")) or "span"
    name = normalize.text(event.get("name")) or span_type
    return Step(
        id=normalize.plain(event["id"]),
        parent_id=parent,
        seq=seq,
        name=f"handoff to {name}" if span_type == "handoff" else name,
        kind=_SPAN_KIND.get(span_type, "other"),
        raw_type=span_type,
        status="running",
        started_at=normalize.timestamp(event.get("timestamp")),
    )


def _tool(step: Step, event: dict, sample_error: str | None) -> None:
    step.name = normalize.text(event.get("function")) or step.name or "tool"
    step.kind, step.raw_type = "tool", step.raw_type or "tool"
    step.started_at = normalize.timestamp(event.get("timestamp")) or step.started_at
    step.ended_at = normalize.timestamp(event.get("completed")) or step.ended_at
    step.duration_ms = _seconds(event.get("working_time")) or normalize.duration_between(step.started_at, step.ended_at)
    step.input = normalize.text(event.get("arguments"))
    step.output = normalize.text(event.get("result")) or None
    step.status = "completed"
    step.extra["tool_call_id"] = event.get("id")
    if event.get("agent"):
        step.kind = "agent"
        step.extra["agent"] = event["agent"]
    error = event.get("error")
    if isinstance(error, dict):
        step.status = "timeout" if error.get("type") == "timeout" else "failed"
        step.error = (
            f"{normalize.plain(error.get('type'))}: {normalize.plain(error.get('message'))}"
            if error.get("type")
            else normalize.text(error.get("message"))
        )
    elif event.get("failed"):
        # The tool raised and the exception ended the sample: the sample's error is this tool's.
        step.status, step.error = "failed", sample_error or "the tool raised an exception"


def _event_step(event: dict, seq: int, parent: str | None, resolve: _Resolver) -> Step | None:
    kind = normalize.scalar(event.get("event"))
    step = Step(
        id=normalize.ident(event.get("uuid")) or f"{kind}-{seq}",
        parent_id=parent,
        seq=seq,
        raw_type=str(kind),
        started_at=normalize.timestamp(event.get("timestamp")),
    )
    if kind == "model":
        output = found if isinstance(found := event.get("output"), dict) else {}
        usage = found if isinstance(found := output.get("usage"), dict) else {}
        step.name, step.kind = normalize.text(event.get("model")) or "model", "llm"
        # "provider/model" as Inspect names models; the response may name the exact version served.
        step.provider, step.model = tokens.split_model(event.get("model"))
        served = normalize.text(output.get("model"))
        if served and step.provider and served.startswith(step.provider + "/"):
            served = served[len(step.provider) + 1 :]
        step.model = served or step.model
        step.input = normalize.text(resolve.model_input(event))
        step.output = _output_text(output)
        _tokens(usage).apply(step)
        step.cost_usd = normalize.number(usage.get("total_cost"))
        step.ended_at = normalize.timestamp(event.get("completed"))
        step.duration_ms = _seconds(event.get("working_time")) or normalize.duration_between(
            step.started_at, step.ended_at
        )
        step.extra = {k: usage[k] for k in usage if k not in _USAGE_READ}
        for key in ("role", "retries", "cache", "traceback"):
            if event.get(key):
                step.extra[key] = event[key]
        if event.get("error"):
            step.status, step.error = "failed", normalize.text(event["error"])
        elif output.get("error"):
            step.status, step.error = "failed", normalize.text(output["error"])
    elif kind == "score":
        score = found if isinstance(found := event.get("score"), dict) else {}
        value = score.get("value")
        step.name, step.kind = normalize.text(event.get("scorer")) or "score", "evaluation"
        step.output = normalize.text(score.get("answer"))
        step.score = normalize.number(value) if not isinstance(value, str) else _SCORE_VALUES.get(value)
        step.verdict = value if isinstance(value, str) else None
        step.extra = {k: v for k, v in score.items() if k not in ("value", "answer") and v not in (None, [], {})}
        if not isinstance(value, (str, int, float)) and value is not None:
            step.extra["value"] = value
        if event.get("intermediate"):
            step.extra["intermediate"] = True
    elif kind == "error":
        step.name, step.status = "error", "failed"
        step.error = _error_text(event.get("error"))
    elif kind == "sample_limit":
        step.name, step.kind = f"{normalize.plain(event.get('type') or '')} limit".strip(), "control"
        step.status = "timeout" if normalize.scalar(event.get("type")) in ("time", "working") else "failed"
        step.error = normalize.text(event.get("message"))
        if event.get("limit") is not None:
            step.extra["limit"] = event["limit"]
    elif kind in ("info", "subtask", "approval", "sandbox", "compaction"):
        step.name = normalize.text(event.get("name") or event.get("source") or event.get("action") or kind) or str(kind)
        step.kind = {"subtask": "agent", "approval": "governance", "sandbox": "tool"}.get(str(kind), "other")
        step.input = normalize.text(event.get("input") or event.get("cmd") or event.get("message"))
        step.output = normalize.text(
            event.get("result") or event.get("output") or event.get("data") or event.get("decision")
        )
        step.extra = {
            k: v
            for k, v in event.items()
            if k not in ("event", "uuid", "span_id", "timestamp", "working_start") and v is not None
        }
    else:
        return None
    return step


def _seconds(value: Any) -> float | None:
    seconds = normalize.number(value)
    return seconds * 1000.0 if seconds is not None else None


def _error_text(error: Any) -> str | None:
    if isinstance(error, dict):
        return normalize.text(error.get("message")) or normalize.text(error)
    return normalize.text(error)


def _input_text(value: Any) -> str | None:
    if isinstance(value, list):
        users = [m.get("content") for m in value if isinstance(m, dict) and m.get("role") == "user"]
        return normalize.text(users[0]) if users else normalize.text(value)
    return normalize.text(value)


def _output_text(output: Any) -> str | None:
    if not isinstance(output, dict):
        return normalize.text(output)
    if output.get("completion"):
        return normalize.text(output["completion"])
    choices = found if isinstance(found := output.get("choices"), list) else []
    message = choices[0].get("message") if choices and isinstance(choices[0], dict) else None
    if isinstance(message, dict) and message.get("tool_calls"):
        return normalize.text(
            [
                {"function": c.get("function"), "arguments": c.get("arguments")}
                for c in message["tool_calls"]
                if isinstance(c, dict)
            ]
        )
    return None
