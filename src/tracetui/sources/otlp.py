"""OpenTelemetry spans as OTLP JSON, with the GenAI and OpenInference conventions for agent work.

Three shapes: the Collector file exporter's JSON Lines ({"resourceSpans": [...]} per line), one
pretty-printed document of that shape, and the Python SDK's ConsoleSpanExporter output (a stream
of pretty span objects with 0x ids). A run is a trace; its steps are the spans. One trace may be
spread over many lines in any order, so spans are staged by trace id and each trace is read
back whole.

Tokens and cost count once, on the innermost span that reports them (the model call): a parent
that also reports usage (an agent span's total, a wrapper instrumented twice) keeps its numbers
in extra, so subtree totals never count a call twice. pydantic-ai's gen_ai.aggregated_usage.* is
never counted (and is not always the subtree total: a delegated agent's calls are left out).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from .. import jsonsafe, normalize
from .. import usage as tokens
from ..errors import UnusableInput
from ..model import TOKEN_PARTS, Problem, Run, Step
from . import Head, ProblemSink, SourceFile
from .contract import StagedRecords, one_record
from .jsondoc import Document, JsonSyntaxError
from .records import GuardedFile, fast_reader_errors, json_lines
from .resume import StagedResume
from .staging import Staging, first_line, read_staged

NAME = "otlp"
DESCRIPTION = (
    "OpenTelemetry spans as OTLP JSON (Collector file exporter JSONL or one document) or the Python "
    "SDK's ConsoleSpanExporter output; GenAI (gen_ai.*) and OpenInference attributes understood"
)
DETECTION = (
    'a JSON object with a "resourceSpans" array (per line or as the whole document), or span objects '
    'with "context": {"trace_id", "span_id"} and "kind" (ConsoleSpanExporter)'
)
PRIORITY = 70

_SPAN_KINDS: dict[Any, str] = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_ERROR_CODES = {2, "2", "STATUS_CODE_ERROR", "ERROR", "StatusCode.ERROR"}

_OPERATION_KIND = {
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "completion": "llm",
    "execute_tool": "tool",
    "invoke_agent": "agent",
    "create_agent": "agent",
    "embeddings": "retrieval",
}
_OPENINFERENCE_KIND = {
    "LLM": "llm",
    "TOOL": "tool",
    "AGENT": "agent",
    "RETRIEVER": "retrieval",
    "EMBEDDING": "retrieval",
    "RERANKER": "retrieval",
    "GUARDRAIL": "governance",
    "EVALUATOR": "evaluation",
    "CHAIN": "other",
}
_INPUT_KEYS = ("input.value", "gen_ai.input.messages", "gen_ai.tool.call.arguments", "tool_arguments", "gen_ai.prompt")
_OUTPUT_KEYS = (
    "output.value",
    "gen_ai.output.messages",
    "gen_ai.tool.call.result",
    "tool_response",
    "final_result",
    "gen_ai.completion",
)
_TOKENS_IN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_TOKENS_OUT_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
# Both conventions count the cache inside the input and the reasoning inside the output; the parts:
_CACHE_READ_KEYS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "llm.token_count.prompt_details.cache_read",
)
_CACHE_WRITE_KEYS = (
    "gen_ai.usage.cache_creation.input_tokens",
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.cache_write_input_tokens",
    "llm.token_count.prompt_details.cache_write",
)
_REASONING_KEYS = (
    "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.details.reasoning_tokens",  # pydantic-ai (OpenAI's reasoning tokens)
    "gen_ai.usage.details.thoughts_tokens",  # pydantic-ai (Gemini's thoughts, counted in its output)
    "llm.token_count.completion_details.reasoning",
)
_TOKENS_TOTAL_KEYS = ("gen_ai.usage.total_tokens", "llm.token_count.total")
_TOKEN_KEYS = _TOKENS_IN_KEYS + _TOKENS_OUT_KEYS + _CACHE_READ_KEYS + _CACHE_WRITE_KEYS + _REASONING_KEYS
_COST_KEYS = ("operation.cost", "llm.cost.total", "gen_ai.usage.cost")
# The model that answered (the response's, else the one asked for) and who served it.
_MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
_PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_AGENT_KEYS = ("gen_ai.agent.name", "agent_name", "agent.name")
_SESSION_KEYS = ("gen_ai.conversation.id", "session.id")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TOKEN_FIELDS = ("tokens_in", "tokens_out", *TOKEN_PARTS)


# ---- detection ---------------------------------------------------------------------------------


def sniff(head: Head) -> bool:
    rec = head.first_record
    if isinstance(rec, dict):
        return isinstance(rec.get("resourceSpans"), list) or _is_console_span(rec)
    if head.json_document:
        if head.top_keys[:1] == ["resourceSpans"] or head.array_key == "resourceSpans":
            return True
        return {"context", "kind"} <= set(head.top_keys) and b'"trace_id"' in head.data
    return False


def _is_console_span(obj: dict) -> bool:
    ctx = obj.get("context")
    return isinstance(ctx, dict) and "trace_id" in ctx and "span_id" in ctx and "kind" in obj


# ---- reading -----------------------------------------------------------------------------------


def read(head: Head, report: ProblemSink, source: SourceFile) -> Iterator[Run]:
    return read_staged(stage, run_from_group, head, report, source)


def resumable(head: Head) -> bool:
    """JSON Lines (one envelope or console span a line); a JSON document is read again whole when it changes."""
    return isinstance(head.first_record, dict)


def resume(head: Head, report: ProblemSink) -> StagedResume:
    """Appended lines staged beside the earlier ones; only the runs they touch are built again."""
    return StagedResume(stage, run_from_group, head, report)


def stage(head: Head, report: ProblemSink, source: SourceFile, staging: Staging) -> None:
    """Every span of the file staged under its trace id, with its resource beside it."""
    problems = 0

    def counted(problem: Problem) -> None:
        nonlocal problems
        problems += 1
        report(problem)

    spans = 0
    for line, trace, staged in _staged(_records(head, source, counted), counted):
        staging.add(trace, staged, line)
        spans += 1
    if spans == 0 and problems:
        raise UnusableInput(head.path, f"looks like OTLP JSON but no span could be read ({problems} problems)")


def envelope_spans(record: dict, report: ProblemSink) -> Iterator[tuple[str, dict]]:
    """(trace id, staged span) for every span of one OTLP JSON envelope ({"resourceSpans": [...]}, the body
    of an OTLP/HTTP export request), staged as a file's are; a span that cannot be read is reported and
    skipped. run_from_group() turns a trace's staged spans into its run."""
    for _, trace, staged in _staged(((None, r, s, span) for r, s, span in _envelope(record, None, report)), report):
        yield trace, staged


def request_spans(request: Any, report: ProblemSink) -> Iterator[tuple[str, dict]]:
    """(trace id, staged span) for every span of an opentelemetry-proto ExportTraceServiceRequest message,
    staged exactly as envelope_spans() stages the same request in its OTLP JSON encoding, but read
    straight from the protobuf messages (no JSON shape made in between: the receiver's hot path)."""
    for rs in request.resource_spans:
        resource = orjson.Fragment(orjson.dumps(_pb_attributes(rs.resource.attributes), option=orjson.OPT_NON_STR_KEYS))
        for ss in rs.scope_spans:
            scope = {"name": ss.scope.name}
            for span in ss.spans:
                norm = _from_protobuf(span)
                if isinstance(norm, str):
                    report(Problem(f"span skipped: {norm}"))
                    continue
                staged = _stage(norm, scope)
                staged["resource"] = resource
                yield norm["trace"], staged


def _staged(
    records: Iterable[tuple[int | None, Any, Any, dict]], report: ProblemSink
) -> Iterator[tuple[int | None, str, dict]]:
    """(line, trace id, staged span) for each (line, resource, scope, raw span) that can be read."""
    last_resource, last_json = None, None
    for line, resource, scope, span in records:
        norm = one_record(report, "a span", line, _from_otlp if resource is not None else _from_console, span)
        if norm is None:
            continue
        if isinstance(norm, str):
            report(Problem(f"span skipped: {norm}", line=line))
            continue
        attrs = resource if resource is not None else _console_resource(span)
        if attrs is not last_resource:  # spans of one envelope share its resource object: encode it once
            last_resource = attrs
            last_json = orjson.Fragment(jsonsafe.dumps_bytes(attrs))
        staged = _stage(norm, scope)
        # Each span carries its resource, so a trace can be turned into a run with nothing else at hand.
        staged["resource"] = last_json
        yield line, norm["trace"], staged


def _records(head: Head, source: SourceFile, report: ProblemSink) -> Iterator[tuple[int | None, Any, Any, dict]]:
    """(line, resource attributes or None for console spans, scope, raw span) for every span in the file."""
    if isinstance(head.first_record, dict):
        for number, record in json_lines(source, report):
            if "resourceSpans" in record:
                for resource, scope, span in _envelope(record, number, report):
                    yield number, resource, scope, span
            elif _is_console_span(record):
                yield number, None, None, record
            else:
                report(Problem("skipped: neither an OTLP resourceSpans record nor a span", line=number))
    else:
        yield from _document(source, report)


def _envelope(record: dict, line: int | None, report: ProblemSink) -> Iterator[tuple[dict, dict, dict]]:
    resource_spans = record.get("resourceSpans")
    if not isinstance(resource_spans, list):
        report(Problem("skipped: resourceSpans is not an array", line=line))
        return
    for rs in resource_spans:
        if not isinstance(rs, dict):
            report(Problem("skipped: a resourceSpans entry is not an object", line=line))
            continue
        found = rs.get("resource")
        resource = _attributes(found.get("attributes") if isinstance(found, dict) else None)
        scope_spans = rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans")
        if not isinstance(scope_spans, list):  # a damaged key hides the spans: say so
            report(Problem("skipped: a resourceSpans entry has no scopeSpans array", line=line))
            continue
        for ss in scope_spans:
            if not isinstance(ss, dict):
                report(Problem("skipped: a scopeSpans entry is not an object", line=line))
                continue
            scope = ss.get("scope") or ss.get("instrumentationLibrary")
            scope = scope if isinstance(scope, dict) else {}
            spans = ss.get("spans")
            if not isinstance(spans, list):
                report(Problem("skipped: a scopeSpans entry has no spans array", line=line))
                continue
            for span in spans:
                if isinstance(span, dict):
                    yield resource, scope, span
                else:
                    report(Problem("skipped: a span is not an object", line=line))


_SPAN_PREFIX = "resourceSpans.item.scopeSpans.item.spans.item"
_RESOURCE_PREFIX = "resourceSpans.item.resource"
_SCOPE_PREFIX = "resourceSpans.item.scopeSpans.item.scope"


def _document(source: SourceFile, report: ProblemSink) -> Iterator[tuple[int | None, Any, Any, dict]]:
    """Spans of a pretty document (or of concatenated console spans), streamed: one span in memory at a time."""
    import ijson

    resource: dict = {}
    scope: dict = {}
    builder = None
    building = ""  # the prefix of the object being built
    top_pending = False  # saw a top-level "{", its first key decides how to read it
    index = 0
    with source.open() as f:
        try:
            for prefix, event, value in ijson.parse(GuardedFile(f), multiple_values=True, use_float=True):
                if builder is not None:
                    builder.event(event, value)
                    if prefix == building and event in ("end_map", "end_array"):
                        obj, builder = builder.value, None
                        if building == _RESOURCE_PREFIX:
                            resource = _attributes(obj.get("attributes") if isinstance(obj, dict) else None)
                        elif building == _SCOPE_PREFIX:
                            scope = obj if isinstance(obj, dict) else {}
                        elif building == _SPAN_PREFIX:
                            index += 1
                            yield index, resource, scope, obj
                        else:
                            index += 1
                            yield from _top_level(obj, index, report)
                    continue
                if prefix == "" and event == "start_map":
                    top_pending = True
                elif prefix == "" and event in ("start_array", "string", "number", "boolean", "null"):
                    index += 1  # as _top_level numbers it: a top-level value that is no object
                    report(Problem(f"skipped: JSON value {index} is neither an OTLP resourceSpans record nor a span"))
                elif top_pending and prefix == "" and event == "map_key":
                    top_pending = False
                    if value != "resourceSpans":
                        builder, building = ijson.ObjectBuilder(), ""
                        builder.event("start_map", None)
                        builder.event(event, value)
                elif prefix == "resourceSpans.item" and event == "start_map":
                    resource = {}
                elif event == "start_map" and prefix in (_RESOURCE_PREFIX, _SCOPE_PREFIX, _SPAN_PREFIX):
                    builder, building = ijson.ObjectBuilder(), prefix
                    builder.event(event, value)
            return
        except fast_reader_errors():
            pass  # the careful reader finds out what is wrong, and where, and reads on past it
    yield from _careful_document(source, report, skip=index)


def _careful_document(
    source: SourceFile, report: ProblemSink, skip: int
) -> Iterator[tuple[int | None, Any, Any, dict]]:
    """_document's spans from span skip + 1 on, walked value by value so that one bad value costs only itself.

    Numbered as _document numbers them: every span of a resourceSpans record, every other top-level value.
    """
    with source.open() as f:
        walk = _CarefulWalk(Document(f), report, skip)
        try:
            yield from walk.values()
        except JsonSyntaxError as exc:
            message = (
                f"the JSON document breaks off after span {walk.index}: {exc} at byte {exc.offset}; the rest is skipped"
            )
            report(Problem(message, line=exc.line))


class _CarefulWalk:
    def __init__(self, doc: Document, report: ProblemSink, skip: int):
        self.doc, self.report, self.skip, self.index = doc, report, skip, 0

    def parsed(self, what: str) -> Any:
        line = self.doc.line
        try:
            value, notes = jsonsafe.loads(self.doc.raw())
        except orjson.JSONDecodeError as exc:
            self.report(Problem(f"{what}: skipped: invalid JSON ({str(exc)[:200]})", line=line))
            return None
        for note in notes:
            self.report(Problem(f"{what}: read with a repair: {note}", line=line))
        return value

    def members(self, key: str, opens: str) -> Iterator[None]:
        """At an object: stop at `key` when its value opens with `opens`; other members are skipped."""
        doc = self.doc
        if doc.peek() == ord("{"):
            for name in doc.members():
                if name == key and doc.peek() == ord(opens):
                    yield

    def values(self) -> Iterator[tuple[int | None, Any, Any, dict]]:
        doc = self.doc
        for _ in doc.values():
            if doc.peek() == ord("{") and doc.first_key() == "resourceSpans":
                for _ in self.members("resourceSpans", "["):
                    for _ in doc.items():
                        yield from self.resource_spans()
                continue
            self.index += 1
            if self.index > self.skip:
                obj = self.parsed(f"JSON value {self.index}")
                if obj is not None:
                    yield from _top_level(obj, self.index, self.report)

    def resource_spans(self) -> Iterator[tuple[int | None, Any, Any, dict]]:
        doc, resource, scope = self.doc, {}, {}
        if doc.peek() != ord("{"):
            return
        for part in doc.members():
            if part == "resource":
                obj = self.parsed("a resource")
                resource = _attributes(obj.get("attributes") if isinstance(obj, dict) else None)
            elif part == "scopeSpans" and doc.peek() == ord("["):
                for _ in doc.items():
                    if doc.peek() != ord("{"):
                        continue
                    for inner in doc.members():
                        if inner == "scope":
                            obj = self.parsed("a scope")
                            scope = obj if isinstance(obj, dict) else {}
                        elif inner == "spans" and doc.peek() == ord("["):
                            for _ in doc.items():
                                self.index += 1
                                if self.index > self.skip:
                                    span = self.parsed(f"span {self.index}")
                                    if isinstance(span, dict):
                                        yield self.index, resource, scope, span
                                    elif span is not None:
                                        self.report(Problem("skipped: a span is not an object", line=doc.line))


def _top_level(obj: Any, index: int, report: ProblemSink) -> Iterator[tuple[int | None, Any, Any, dict]]:
    if isinstance(obj, dict) and "resourceSpans" in obj:
        for resource, scope, span in _envelope(obj, index, report):
            yield index, resource, scope, span
    elif isinstance(obj, dict) and _is_console_span(obj):
        yield index, None, None, obj
    else:
        report(Problem(f"skipped: JSON value {index} is neither an OTLP resourceSpans record nor a span"))


# ---- one span, in either shape, to a common form -----------------------------------------------


def _from_otlp(span: dict) -> dict | str:
    trace, span_id = _id(span.get("traceId"), 16), _id(span.get("spanId"), 8)
    if trace is None:
        return f"traceId {jsonsafe.short(span.get('traceId'))} is not a 16-byte id (hex or base64)"
    if span_id is None:
        return f"spanId {jsonsafe.short(span.get('spanId'))} is not an 8-byte id (hex or base64)"
    status = found if isinstance(found := span.get("status"), dict) else {}
    kind = span.get("kind")
    return {
        "trace": trace,
        "span": span_id,
        "parent": _id(span.get("parentSpanId"), 8),
        "name": span.get("name"),
        "kind": _SPAN_KINDS.get(normalize.scalar(kind))
        or (normalize.text(kind) or "").removeprefix("SPAN_KIND_")
        or None,
        "start": _nanos(span.get("startTimeUnixNano")),
        "end": _nanos(span.get("endTimeUnixNano")),
        "error": normalize.scalar(status.get("code")) in _ERROR_CODES,
        "message": status.get("message"),
        "attrs": _attributes(span.get("attributes")),
        "events": [
            {
                "name": e.get("name"),
                "time": _nanos(e.get("timeUnixNano")),
                "attributes": _attributes(e.get("attributes")),
            }
            for e in span.get("events") or []
            if isinstance(e, dict)
        ],
        "links": span.get("links") or [],
    }


def _from_protobuf(span: Any) -> dict | str:
    """_from_otlp() for an opentelemetry-proto Span message: the same common form, field for field."""
    trace, span_id, parent = span.trace_id, span.span_id, span.parent_span_id
    if len(trace) != 16 or trace == _NO_TRACE:
        return f"traceId {jsonsafe.quoted(trace.hex())} is not a 16-byte id (hex or base64)"
    if len(span_id) != 8 or span_id == _NO_SPAN:
        return f"spanId {jsonsafe.quoted(span_id.hex())} is not an 8-byte id (hex or base64)"
    kind = span.kind
    start, end, status = span.start_time_unix_nano, span.end_time_unix_nano, span.status
    attributes, events, links = span.attributes, span.events, span.links  # each access makes a wrapper
    return {
        "trace": trace.hex(),
        "span": span_id.hex(),
        "parent": parent.hex() if len(parent) == 8 and parent != _NO_SPAN else None,
        "name": span.name,
        "kind": (_SPAN_KINDS.get(kind) or str(kind)) if kind else None,  # 0 is left out of the JSON encoding
        "start": start if start > 0 else None,
        "end": end if end > 0 else None,
        "error": status.code in _ERROR_CODES,
        "message": status.message,
        "attrs": _pb_attributes(attributes) if attributes else {},
        "events": [
            {
                "name": e.name,
                "time": e.time_unix_nano if e.time_unix_nano > 0 else None,
                "attributes": _pb_attributes(e.attributes),
            }
            for e in events
        ]
        if events
        else [],
        # Links are kept as they came, and they come in the OTLP JSON encoding (ids as hex).
        "links": [
            {"traceId": link.trace_id.hex(), "spanId": link.span_id.hex(), "attributes": _pb_json(link.attributes)}
            for link in links
        ]
        if links
        else [],
    }


_NO_TRACE, _NO_SPAN = bytes(16), bytes(8)


def _pb_attributes(kvs: Any) -> dict:
    """_attributes() for protobuf KeyValue messages."""
    out = {}
    for kv in kvs:
        value = kv.value
        which = value.WhichOneof("value")
        out[kv.key] = value.string_value if which == "string_value" else _pb_value(value, which)
    return out


def _pb_value(v: Any, which: str | None) -> Any:
    """_value() for a protobuf AnyValue message whose set field is `which`."""
    if which == "string_value":
        return v.string_value
    if which == "int_value":
        return normalize.integer(v.int_value)
    if which == "double_value":
        return normalize.number(v.double_value)
    if which == "bool_value":
        return v.bool_value
    if which == "array_value":
        return [_pb_value(x, x.WhichOneof("value")) for x in v.array_value.values]
    if which == "kvlist_value":
        return _pb_attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def _pb_json(kvs: Any) -> list[dict]:
    """Protobuf KeyValue messages in the OTLP JSON encoding (for links, which are kept as they came)."""
    from google.protobuf.json_format import MessageToDict

    return [{"key": kv.key, "value": MessageToDict(kv.value)} for kv in kvs]


def _from_console(span: dict) -> dict | str:
    ctx = span.get("context")
    if not isinstance(ctx, dict):
        return "its context is not an object"
    trace, span_id = _id(ctx.get("trace_id"), 16), _id(ctx.get("span_id"), 8)
    if trace is None:
        return f"trace_id {jsonsafe.short(ctx.get('trace_id'))} is not a 16-byte hex id"
    if span_id is None:
        return f"span_id {jsonsafe.short(ctx.get('span_id'))} is not an 8-byte hex id"
    status = found if isinstance(found := span.get("status"), dict) else {}
    attrs = span.get("attributes")
    return {
        "trace": trace,
        "span": span_id,
        "parent": _id(span.get("parent_id"), 8),
        "name": span.get("name"),
        "kind": (normalize.text(span.get("kind")) or "").removeprefix("SpanKind.") or None,
        "start": _iso_nanos(span.get("start_time")),
        "end": _iso_nanos(span.get("end_time")),
        "error": normalize.scalar(status.get("status_code")) in _ERROR_CODES,
        "message": status.get("description"),
        "attrs": attrs if isinstance(attrs, dict) else {},
        "events": [
            {"name": e.get("name"), "time": _iso_nanos(e.get("timestamp")), "attributes": e.get("attributes") or {}}
            for e in span.get("events") or []
            if isinstance(e, dict)
        ],
        "links": span.get("links") or [],
    }


def _console_resource(span: dict) -> dict:
    resource = span.get("resource")
    attrs = resource.get("attributes") if isinstance(resource, dict) else None
    return attrs if isinstance(attrs, dict) else {}


def _id(raw: Any, size: int) -> str | None:
    """Lower-case hex for a trace/span id given as hex (the OTLP JSON spec), 0x-hex or base64 (protobuf JSON)."""
    if not isinstance(raw, str) or not raw:
        return None
    # 0x only before hex: base64 (protobuf's JSON mapping) may begin with "0x" too
    text = raw[2:] if raw[:2] in ("0x", "0X") and len(raw) == 2 * size + 2 else raw
    if len(text) == 2 * size:
        try:
            value = bytes.fromhex(text)
        except ValueError:
            value = None
    else:
        try:
            value = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            value = None
    if value is None or len(value) != size or not any(value):
        return None
    return value.hex()


def _nanos(raw: Any) -> int | None:
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def _iso_nanos(raw: Any) -> int | None:
    if not isinstance(raw, str):
        return None
    try:
        ts = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def _attributes(raw: Any) -> dict:
    if not isinstance(raw, list):
        return {}
    out = {}
    for kv in raw:
        if type(kv) is dict and type(key := kv.get("key")) is str:
            value = kv.get("value")
            # Most attributes are strings: skip the general decoding for them.
            out[key] = value["stringValue"] if type(value) is dict and "stringValue" in value else _value(value)
    return out


def _value(v: Any) -> Any:
    """A plain value for an OTLP AnyValue ({"stringValue": ...}, {"intValue": "12"}, arrays, kvlists).

    Iterative, so that values nested deeper than Python's stack decode like any other.
    """
    holder: list[Any] = [None]
    todo: list[tuple[Any, Any, Any]] = [(v, holder, 0)]
    while todo:
        node, parent, key = todo.pop()
        if not isinstance(node, dict):
            parent[key] = node
        elif "stringValue" in node:
            parent[key] = node["stringValue"]
        elif "intValue" in node:
            parent[key] = normalize.integer(node["intValue"])
        elif "doubleValue" in node:
            parent[key] = normalize.number(node["doubleValue"])
        elif "boolValue" in node:
            parent[key] = bool(node["boolValue"])
        elif "arrayValue" in node:
            values = _values_of(node["arrayValue"])
            parent[key] = items = [None] * len(values)
            todo.extend((x, items, i) for i, x in enumerate(values))
        elif "kvlistValue" in node:
            pairs = [kv for kv in _values_of(node["kvlistValue"]) if type(kv) is dict and type(kv.get("key")) is str]
            parent[key] = members = dict.fromkeys(kv["key"] for kv in pairs)
            # In reverse, so that they are taken in order and a repeated key's last value wins.
            todo.extend((kv.get("value"), members, kv["key"]) for kv in reversed(pairs))
        elif "bytesValue" in node:
            parent[key] = node["bytesValue"]
        else:
            parent[key] = None
    return holder[0]


def _values_of(container: Any) -> list:
    values = container.get("values") if isinstance(container, dict) else None
    return values if isinstance(values, list) else []


# ---- a span to a step, and a trace to a run ----------------------------------------------------


def _first(attrs: dict, keys: tuple[str, ...]) -> tuple[str | None, Any]:
    for key in keys:
        value = attrs.get(key)
        if value is not None and value != "":
            return key, value
    return None, None


# Every attribute _stage() looks up: a span's attributes are intersected with it once, and each lookup
# asks only among those present (most spans have few of them: the receiver's hot path).
_LOOKED_UP = frozenset(
    _INPUT_KEYS
    + _OUTPUT_KEYS
    + _TOKEN_KEYS
    + _COST_KEYS
    + _TOKENS_TOTAL_KEYS
    + _MODEL_KEYS
    + _PROVIDER_KEYS
    + _AGENT_KEYS
    + _SESSION_KEYS
)
_USAGE_GROUPS = (_TOKENS_IN_KEYS, _TOKENS_OUT_KEYS, _CACHE_READ_KEYS, _CACHE_WRITE_KEYS, _REASONING_KEYS, _COST_KEYS)
_USAGE_KEYS = frozenset(_TOKEN_KEYS + _COST_KEYS + _TOKENS_TOTAL_KEYS)


def _pick(attrs: dict, present: frozenset[str], keys: tuple[str, ...]) -> tuple[str | None, Any]:
    """_first(attrs, keys), asking only among `present` (the keys of _LOOKED_UP the span has)."""
    if present:
        for key in keys:
            if key in present:
                value = attrs.get(key)
                if value is not None and value != "":
                    return key, value
    return None, None


def _kind(attrs: dict) -> tuple[str, str | None]:
    op = attrs.get("gen_ai.operation.name")
    oi = attrs.get("openinference.span.kind")
    if isinstance(op, str) and op:
        return _OPERATION_KIND.get(op) or normalize.kind(op), op
    if isinstance(oi, str) and oi:
        return _OPENINFERENCE_KIND.get(oi.upper()) or normalize.kind(oi), oi
    if "gen_ai.tool.name" in attrs or "tool.name" in attrs:
        return "tool", None
    if "gen_ai.request.model" in attrs or "llm.model_name" in attrs:
        return "llm", None
    return "other", None


def _stage(n: dict, scope: Any) -> dict:
    """The staged form of one span: the step's fields plus what the run needs from it."""
    attrs = dict(n["attrs"])
    present = _LOOKED_UP.intersection(attrs)
    kind, raw_type = _kind(attrs)
    in_key, raw_in = _pick(attrs, present, _INPUT_KEYS)
    out_key, raw_out = _pick(attrs, present, _OUTPUT_KEYS)
    usage = {}
    if not _USAGE_KEYS.isdisjoint(present):
        for keys in _USAGE_GROUPS:
            key, value = _pick(attrs, present, keys)
            if key is not None:
                usage[key] = attrs.pop(key)
        total_key = _pick(attrs, present, _TOKENS_TOTAL_KEYS)[0]
        if total_key is not None:
            usage[total_key] = attrs[total_key]  # stays in extra too: read only to check what the counts hold
    for key in (in_key, out_key):
        if key is not None:
            attrs.pop(key)
    failed = n["error"] or bool(attrs.get("error.type"))
    start, end = n["start"], n["end"]
    extra = attrs
    if n["kind"]:
        extra["otel.span_kind"] = n["kind"]
    if isinstance(scope, dict) and scope.get("name"):
        extra["otel.scope.name"] = scope["name"]
    if n["links"]:
        extra["otel.links"] = n["links"]
    step = {
        "id": n["span"],
        "parent_id": n["parent"],
        "seq": start or 0,
        "name": n["name"] if isinstance(n["name"], str) and n["name"] else "span",
        "kind": kind,
        "raw_type": raw_type or (n["kind"] or "span").lower(),
        "status": "failed" if failed else "completed",
        "started_at": normalize.timestamp(start),
        "ended_at": normalize.timestamp(end),
        "duration_ms": (end - start) / 1e6 if start and end and end >= start else None,
        "input": normalize.text(raw_in),
        "output": normalize.text(raw_out),
        "error": _error_text(n, attrs) if failed else None,
        "model": normalize.text(_pick(attrs, present, _MODEL_KEYS)[1]) if kind == "llm" else None,
        "provider": normalize.text(_pick(attrs, present, _PROVIDER_KEYS)[1]) if kind == "llm" else None,
        "events": [{**e, "time": normalize.timestamp(e["time"])} for e in n["events"]],
        "extra": extra,
    }
    return {
        "step": step,
        "usage": usage,
        "start": start,
        "end": end,
        "agent": _pick(attrs, present, _AGENT_KEYS)[1],
        "session": _pick(attrs, present, _SESSION_KEYS)[1],
    }


def _error_text(n: dict, attrs: dict) -> str:
    message = normalize.text(n["message"])
    if message:
        # Some instrumentors (OpenInference for LangChain) append the traceback to the status
        # message: the error is the part before it; the whole message stays in extra.
        head = message.split("Traceback (most recent call last):", 1)[0].strip()
        if head != message:
            attrs["otel.status_message"] = message
        if head:
            return head
    for event in n["events"]:
        if event["name"] == "exception":
            a = event["attributes"]
            kind, message = a.get("exception.type"), a.get("exception.message")
            if kind or message:
                return ": ".join(str(x) for x in (kind, message) if x)
    return normalize.text(attrs.get("error.type")) or "error"


def _apply_usage(step: Step, usage: dict) -> None:
    if not usage:
        return  # nothing to count: the step's counts and cost stay None
    tokens.counted(
        _first(usage, _TOKENS_IN_KEYS)[1],
        _first(usage, _TOKENS_OUT_KEYS)[1],
        cache_read=_first(usage, _CACHE_READ_KEYS)[1],
        cache_write=_first(usage, _CACHE_WRITE_KEYS)[1],
        reasoning=_first(usage, _REASONING_KEYS)[1],
        input_has_cache=True,
        output_has_reasoning=True,
        # Some instrumentations (Strands on Bedrock) leave the cache out of input_tokens; their total tells.
        total=_first(usage, _TOKENS_TOTAL_KEYS)[1],
    ).apply(step)
    step.cost_usd = normalize.number(_first(usage, _COST_KEYS)[1])


def run_from_group(trace_id: str, records: StagedRecords, report: ProblemSink) -> Run:
    """One trace, as staged by stage(), to its run."""
    return _run(trace_id, records, arriving=False)


def arriving_run(trace_id: str, records: StagedRecords) -> Run:
    """The run of a trace whose spans are still coming (tracetui serve): as run_from_group's, except that
    until its root span arrives it is named for its service (resource `service.name`), not for the child
    standing in for the root (a file's trace without its root keeps the child's name)."""
    return _run(trace_id, records, arriving=True)


def _run(trace_id: str, records: StagedRecords, *, arriving: bool) -> Run:
    staged = [rec for _, rec in records]
    steps = [Step(**rec["step"]) for rec in staged]
    for step, rec in zip(steps, staged, strict=False):
        _apply_usage(step, rec["usage"])
    _count_innermost_usage(steps, staged)

    ids = {s.id for s in steps}
    tops = [i for i, s in enumerate(steps) if s.parent_id is None]
    stand_in = arriving and not tops  # the root is still to come: the service names the run meanwhile
    if not tops:  # the root span is not in the file: its children stand in for it
        tops = [i for i, s in enumerate(steps) if s.parent_id not in ids]
    tops.sort(key=lambda i: staged[i]["start"] or 0)
    top = steps[tops[0]] if tops else steps[0]
    top_rec = staged[tops[0]] if tops else staged[0]
    failed_top = next((steps[i] for i in tops if steps[i].failed), None)

    starts = [r["start"] for r in staged if r["start"]]
    ends = [r["end"] for r in staged if r["end"]]
    by_start = sorted(staged, key=lambda r: r["start"] or 0)
    return Run(
        id=trace_id,
        agent=normalize.ident(
            top_rec["agent"]
            or next((r["agent"] for r in by_start if r["agent"]), None)
            or (_service(top_rec["resource"]) if stand_in else None)
            or top.name
        ),
        session=normalize.ident(top_rec["session"] or next((r["session"] for r in by_start if r["session"]), None)),
        status="failed" if failed_top is not None else "completed",
        started_at=normalize.timestamp(min(starts)) if starts else None,
        ended_at=normalize.timestamp(max(ends)) if ends else None,
        duration_ms=(max(ends) - min(starts)) / 1e6 if starts and ends and max(ends) >= min(starts) else None,
        input=top.input,
        output=top.output,
        error=failed_top.error if failed_top is not None else None,
        metadata=top_rec["resource"],
        source_line=first_line(records),
        steps=steps,
    )


def _service(resource: object) -> str | None:
    """The resource's service.name (SDKs default it to unknown_service…: no name then)."""
    name = resource.get("service.name") if isinstance(resource, dict) else None
    return name if isinstance(name, str) and name and not name.startswith("unknown_service") else None


def _count_innermost_usage(steps: list[Step], staged: list[dict]) -> None:
    """Keep tokens and cost only where no descendant reports them too; the rest go back to extra."""
    parent_of = {s.id: s.parent_id for s in steps}
    groups = (TOKEN_FIELDS, _TOKEN_KEYS), (("cost_usd",), _COST_KEYS)
    for fields, keys in groups:
        covered: set[str] = set()  # spans with a usage-reporting descendant
        for step in steps:
            if all(getattr(step, f) is None for f in fields):
                continue
            node, seen = step.parent_id, {step.id}
            while node is not None and node in parent_of and node not in covered and node not in seen:
                covered.add(node)
                seen.add(node)
                node = parent_of[node]
        for step, rec in zip(steps, staged, strict=False):
            if step.id in covered and any(getattr(step, f) is not None for f in fields):
                for f in fields:
                    setattr(step, f, None)
                step.extra.update({k: v for k, v in rec["usage"].items() if k in keys})
