"""The body of an OTLP/HTTP trace export, protobuf or JSON, as the spans the OTLP file reader stages.

A JSON body is exactly the OTLP JSON the file reader parses ({"resourceSpans": [...]}); a protobuf
body (opentelemetry-proto's ExportTraceServiceRequest) is read straight from its messages into the
same common form. Both go through sources/otlp.py's one mapping (GenAI and OpenInference attributes,
usage counted once) and become runs with its run_from_group.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from .. import jsonsafe
from ..model import Problem
from ..pricing import Pricer
from ..sources import otlp
from . import runs
from .runs import Rows

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
MEDIA_TYPES = (PROTOBUF, JSON)


class Undecodable(ValueError):
    """The body is not an export request in the encoding it claims (answered with 400)."""


class TooLarge(ValueError):
    """The body, once decompressed, is over the size limit (answered with 413)."""


@dataclass
class Trace:
    """The spans of one trace in one request, as stored (staged, as JSON, by span id: a span sent twice
    counts once, the last one), and the rows of the trace's run if these spans were all it had."""

    id: str
    spans: dict[str, bytes]
    rows: Rows


@dataclass
class Decoded:
    """What one export request carried: its traces, and how many spans were rejected and why."""

    traces: list[Trace] = field(default_factory=list)
    rejected: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def spans(self) -> int:
        return sum(len(trace.spans) for trace in self.traces)


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


def decode(body: bytes, media_type: str, pricer: Pricer | None) -> Decoded:
    """The traces of an export request body in `media_type` (PROTOBUF or JSON), their runs' rows made
    (model calls priced by `pricer`, None: not priced). Raises Undecodable."""
    decoded = Decoded()

    def rejected(problem: Problem) -> None:
        decoded.rejected += 1
        if len(decoded.problems) < 5:
            decoded.problems.append(problem.message)

    if media_type == PROTOBUF:
        spans = otlp.request_spans(_from_protobuf(body), rejected)
    else:
        spans = otlp.envelope_spans(_from_json(body), rejected)
    dumps = _dumps
    resources: dict[int, tuple[object, dict]] = {}  # spans of one envelope share its resource, encoded once
    traces: dict[str, tuple[dict[str, bytes], dict[str, dict]]] = {}
    for trace, staged in spans:
        data = dumps(staged)
        fragment = staged["resource"]
        if id(fragment) not in resources:
            resources[id(fragment)] = (fragment, jsonsafe.loads(dumps(fragment))[0])
        staged["resource"] = resources[id(fragment)][1]  # a dict, as it reads back from the store
        stored, records = traces.setdefault(trace, ({}, {}))
        span_id = staged["step"]["id"]
        stored[span_id], records[span_id] = data, staged
    for trace, (stored, records) in traces.items():
        decoded.traces.append(Trace(trace, stored, runs.rows(trace, [(None, r) for r in records.values()], pricer)))
    return decoded


def _dumps(value: object) -> bytes:
    """JSON of a staged span: orjson without options (keys are text, values JSON's own types: its
    fastest path, the same bytes), else jsonsafe (a value nested past orjson's limits, too big an
    integer, a key or value of another type: written all the same)."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return jsonsafe.dumps_bytes(value)


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


def _from_protobuf(body: bytes) -> Any:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    try:
        return ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        raise Undecodable(f"the body is not a protobuf ExportTraceServiceRequest ({exc})") from None
