"""The body of an OTLP/HTTP trace export, protobuf or JSON, as the spans the OTLP file reader stages.

A JSON body is exactly the OTLP JSON the file reader parses ({"resourceSpans": [...]}); a protobuf
body (opentelemetry-proto's ExportTraceServiceRequest) is turned into that same JSON shape first, so
both go through sources/otlp.py's one mapping (envelope_spans: GenAI and OpenInference attributes,
usage counted once) and become runs with its run_from_group.
"""

from __future__ import annotations

import base64
import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..model import Problem
from ..sources import otlp

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)


class Undecodable(ValueError):
    """The body is not an export request in the encoding it claims (answered with 400)."""


class TooLarge(ValueError):
    """The body, once decompressed, is over the size limit (answered with 413)."""


@dataclass
class Span:
    """One received span, staged: its ids and the staged record (otlp.envelope_spans), and that as JSON."""

    trace_id: str
    span_id: str
    staged: dict
    data: bytes


@dataclass
class Decoded:
    """What one export request carried: the spans that can be stored, and the ones rejected and why."""

    spans: list[Span] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)


def gunzip(body: bytes, limit: int) -> bytes:
    """A gzip body decompressed, never past `limit` bytes (TooLarge), or Undecodable."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise Undecodable(f"the gzip body cannot be decompressed ({exc})") from None
    if len(out) > limit:
        raise TooLarge(f"the body is over {limit:,} bytes once decompressed")
    if not inflater.eof:
        raise Undecodable("the gzip body is cut short")
    return out


def decode(body: bytes, media_type: str) -> Decoded:
    """The spans of an export request body in `media_type` (PROTOBUF or JSON). Raises Undecodable."""
    record = _from_protobuf(body) if media_type == PROTOBUF else _from_json(body)
    decoded = Decoded()

    def rejected(problem: Problem) -> None:
        decoded.rejected += 1
        if len(decoded.problems) < 5:
            decoded.problems.append(problem.message)

    dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
    resources: dict[int, tuple[object, dict]] = {}  # spans of one envelope share its resource, encoded once
    for trace, staged in otlp.envelope_spans(record, rejected):
        data = dumps(staged, option=option)
        fragment = staged["resource"]
        if id(fragment) not in resources:
            resources[id(fragment)] = (fragment, orjson.loads(dumps(fragment)))
        staged["resource"] = resources[id(fragment)][1]  # a dict, as it reads back from the store
        decoded.spans.append(Span(trace, staged["step"]["id"], staged, data))
    return decoded


def _from_json(body: bytes) -> dict:
    try:
        record = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Undecodable(f"the body is not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise Undecodable("the body is not a JSON object (an ExportTraceServiceRequest)")
    spans = record.get("resourceSpans", [])
    if not isinstance(spans, list):
        raise Undecodable('"resourceSpans" is not an array')
    return {"resourceSpans": spans}


def _from_protobuf(body: bytes) -> dict:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        request = ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise Undecodable(f"the body is not a protobuf ExportTraceServiceRequest ({exc})") from None
    return {"resourceSpans": [_resource_spans(rs) for rs in request.resource_spans]}


# -- protobuf messages to the OTLP JSON shape (ids as hex, as the OTLP JSON encoding has them) -----


def _resource_spans(rs: Any) -> dict:
    return {
        "resource": {"attributes": _attributes(rs.resource.attributes)},
        "scopeSpans": [
            {"scope": {"name": ss.scope.name, "version": ss.scope.version}, "spans": [_span(s) for s in ss.spans]}
            for ss in rs.scope_spans
        ],
    }


def _span(s: Any) -> dict:
    return {
        "traceId": s.trace_id.hex(),
        "spanId": s.span_id.hex(),
        "parentSpanId": s.parent_span_id.hex(),
        "name": s.name,
        "kind": s.kind,
        "startTimeUnixNano": s.start_time_unix_nano,
        "endTimeUnixNano": s.end_time_unix_nano,
        "status": {"code": s.status.code, "message": s.status.message},
        "attributes": _attributes(s.attributes),
        "events": [
            {"name": e.name, "timeUnixNano": e.time_unix_nano, "attributes": _attributes(e.attributes)}
            for e in s.events
        ],
        "links": [
            {"traceId": link.trace_id.hex(), "spanId": link.span_id.hex(), "attributes": _attributes(link.attributes)}
            for link in s.links
        ],
    }


def _attributes(kvs: Any) -> list[dict]:
    return [{"key": kv.key, "value": _value(kv.value)} for kv in kvs]


def _value(v: Any) -> dict | None:
    which = v.WhichOneof("value")
    if which == "string_value":
        return {"stringValue": v.string_value}
    if which == "int_value":
        return {"intValue": v.int_value}
    if which == "double_value":
        return {"doubleValue": v.double_value}
    if which == "bool_value":
        return {"boolValue": v.bool_value}
    if which == "array_value":
        return {"arrayValue": {"values": [_value(x) for x in v.array_value.values]}}
    if which == "kvlist_value":
        return {"kvlistValue": {"values": _attributes(v.kvlist_value.values)}}
    if which == "bytes_value":
        return {"bytesValue": base64.b64encode(v.bytes_value).decode()}
    return None
