"""How the receiver turns bodies into stored rows, without the HTTP server: protobuf read straight from its
messages stages exactly what its OTLP JSON encoding stages; rows made in a worker for a trace that came
whole are the rows a rebuild from the store makes; requests batched into one transaction store what they
would one by one; a worker that dies is replaced and the request stored again."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import orjson
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from serving import envelope, span

from tracetui import pricing
from tracetui.model import Problem
from tracetui.receiver.decode import JSON, PROTOBUF, decode
from tracetui.receiver.span_store import SpanStore, Stored
from tracetui.receiver.workers import Workers
from tracetui.sources import otlp

T0 = 1_700_000_000_000_000_000


def rich_request() -> ExportTraceServiceRequest:
    """Every kind of attribute value, events, an error status, span kinds, a duplicate span, two resources."""
    request = ExportTraceServiceRequest()
    for r, service in enumerate(("svc-a", "svc-b")):
        rs = request.resource_spans.add()
        kv = rs.resource.attributes.add()
        kv.key, kv.value.string_value = "service.name", service
        rs.resource.attributes.add(key="host.cores").value.int_value = 8
        ss = rs.scope_spans.add()
        ss.scope.name, ss.scope.version = "scope-x", "1.0"
        trace = bytes([r + 1] * 16)
        for n in range(4):
            s = ss.spans.add()
            s.trace_id, s.span_id = trace, bytes([0] * 7 + [n + 1])
            if n:
                s.parent_span_id = bytes([0] * 7 + [1])
            s.name = ["invoke_agent", "chat gpt-4o-mini", "execute_tool [bold]x", ""][n]
            s.kind = n  # UNSPECIFIED, INTERNAL, SERVER, CLIENT
            s.start_time_unix_nano = T0 + n * 1_000_001_500
            s.end_time_unix_nano = T0 + 9_999_999_999 if n != 3 else 0  # the last one has not ended
            a = s.attributes
            a.add(key="gen_ai.operation.name").value.string_value = ["invoke_agent", "chat", "execute_tool", "x"][n]
            a.add(key="gen_ai.request.model").value.string_value = "gpt-4o-mini"
            a.add(key="gen_ai.usage.input_tokens").value.int_value = 1200 + n
            a.add(key="gen_ai.usage.output_tokens").value.int_value = 80
            a.add(key="temperature").value.double_value = 0.25
            a.add(key="stream").value.bool_value = n % 2 == 0
            a.add(key="blob").value.bytes_value = b"\x00\xffbytes"
            a.add(key="empty")  # a value with nothing set
            arr = a.add(key="tags").value.array_value.values
            arr.add().string_value, arr.add().int_value, arr.add().double_value = "t", 3, 1.5
            kvl = a.add(key="nested").value.kvlist_value.values
            kvl.add(key="inner").value.string_value = "[/] v"
            kvl.add(key="deep").value.kvlist_value.values.add(key="k").value.bool_value = True
            a.add(key="gen_ai.input.messages").value.string_value = "You are helpful. " * 5
            if n == 2:
                s.status.code, s.status.message = 2, "search broke\nTraceback (most recent call last): ..."
                e = s.events.add(name="exception", time_unix_nano=T0 + 5)
                e.attributes.add(key="exception.type").value.string_value = "KeyError"
        again = ss.spans.add()
        again.CopyFrom(ss.spans[1])  # sent twice in one request: the last one counts
        again.name = "chat again"
    return request


def staged(spans, report=None) -> list[tuple[str, bytes]]:
    return [(trace, orjson.dumps(rec, option=orjson.OPT_NON_STR_KEYS)) for trace, rec in spans]


def test_protobuf_read_straight_stages_what_its_otlp_json_encoding_stages():
    request = rich_request()
    problems: list[Problem] = []
    from_protobuf = staged(otlp.request_spans(request, problems.append))
    from_json = staged(otlp.envelope_spans(MessageToDict(request), problems.append))
    assert problems == []
    assert len(from_protobuf) == 10
    assert from_protobuf == from_json


def test_spans_the_real_sdk_encoded_stage_the_same_either_way():
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("agent", attributes={"gen_ai.agent.name": "a", "n": 3, "xs": [1.5, 2.5]}):
        with tracer.start_as_current_span("chat", attributes={"gen_ai.usage.input_tokens": 10}) as s:
            s.add_event("thinking", {"step": 1})
    request = encode_spans(memory.get_finished_spans())
    assert staged(otlp.request_spans(request, print)) == staged(otlp.envelope_spans(MessageToDict(request), print))


def test_ids_that_are_not_ids_are_rejected_from_protobuf_as_from_json():
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    for trace, span_id in [(b"\x01" * 15, b"\x01" * 8), (b"\x01" * 16, b"\x00" * 8), (b"\x01" * 16, b"\x02" * 8)]:
        s = spans.add()
        s.trace_id, s.span_id, s.name = trace, span_id, "x"
    from_protobuf: list[Problem] = []
    from_json: list[Problem] = []
    good = staged(otlp.request_spans(request, from_protobuf.append))
    assert good == staged(otlp.envelope_spans(MessageToDict(request), from_json.append))
    assert len(good) == 1
    assert [p.message for p in from_protobuf] == [
        f"span skipped: traceId {'01' * 15!r} is not a 16-byte id (hex or base64)",
        f"span skipped: spanId {'00' * 8!r} is not an 8-byte id (hex or base64)",
    ]
    assert len(from_json) == 2


# -- the store --------------------------------------------------------------------------------------


def rows_of(db: str) -> tuple[list, list]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return (
            conn.execute("SELECT * FROM runs ORDER BY id").fetchall(),
            conn.execute("SELECT * FROM steps ORDER BY run_id, ord").fetchall(),
        )
    finally:
        conn.close()


def store(path) -> SpanStore:
    return SpanStore(str(path))


PRICER = pricing.Pricer()


def body(*spans: dict) -> bytes:
    return envelope(*spans)


def chat(trace: str, span_id: str, parent: str, n: int) -> dict:
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    out = span(trace, span_id, parent, name=f"chat {n}", attrs=attrs, start=T0 + n, end=T0 + n + 10)
    out["attributes"].append({"key": "gen_ai.usage.input_tokens", "value": {"intValue": str(100 * n)}})
    return out


TRACE_A, TRACE_B, TRACE_C = "a1" * 16, "b2" * 16, "c3" * 16
ROOT, CHILD1, CHILD2 = "01" * 8, "02" * 8, "03" * 8
ALL = [
    span(TRACE_A, ROOT, name="agent a", start=T0, end=T0 + 100),
    chat(TRACE_A, CHILD1, ROOT, 1),
    chat(TRACE_A, CHILD2, ROOT, 2),
    span(TRACE_B, ROOT, name="agent b", start=T0, end=T0 + 100),
    chat(TRACE_B, CHILD1, ROOT, 3),
    span(TRACE_C, ROOT, name="agent c", start=T0, end=T0 + 100),
]


def test_rows_made_for_a_whole_trace_are_the_rows_a_rebuild_from_the_store_makes(tmp_path):
    whole = store(tmp_path / "whole.db")
    whole.write([decode(body(*ALL), JSON, PRICER)])
    whole.close()
    piecemeal = store(tmp_path / "piecemeal.db")
    for s in [ALL[1], ALL[4], ALL[2], ALL[0], ALL[3], ALL[5]]:  # children first, one request each
        piecemeal.write([decode(body(s), JSON, PRICER)])
    piecemeal.close()
    assert rows_of(str(tmp_path / "whole.db")) == rows_of(str(tmp_path / "piecemeal.db"))
    runs, steps = rows_of(str(tmp_path / "whole.db"))
    assert [(r[0], r[3]) for r in runs] == [(TRACE_A, "completed"), (TRACE_B, "completed"), (TRACE_C, "completed")]
    assert len(steps) == 6


def test_requests_batched_into_one_transaction_store_what_they_store_one_by_one(tmp_path):
    one_by_one = store(tmp_path / "one.db")
    batched = store(tmp_path / "batched.db")
    earlier = decode(body(ALL[5]), JSON, PRICER)  # trace C is in the store before the batch
    requests = [
        decode(body(ALL[1], ALL[3]), JSON, PRICER),  # A's child, B's root
        decode(body(ALL[0], ALL[2], ALL[4]), JSON, PRICER),  # A's root and other child, B's child
        decode(body(chat(TRACE_C, CHILD1, ROOT, 4), ALL[1]), JSON, PRICER),  # C grows; A's child sent again
    ]
    for target in (one_by_one, batched):
        target.write([earlier])
    singles = [one_by_one.write([r])[0] for r in requests]
    together = batched.write(requests)
    one_by_one.close()
    batched.close()
    assert together == singles == [Stored(2, 2, 2), Stored(3, 2, 0), Stored(2, 2, 0)]
    assert rows_of(str(tmp_path / "one.db")) == rows_of(str(tmp_path / "batched.db"))
    runs, _ = rows_of(str(tmp_path / "batched.db"))
    assert {r[0]: (r[3], r[11]) for r in runs} == {
        TRACE_A: ("completed", 3),
        TRACE_B: ("completed", 2),
        TRACE_C: ("completed", 2),
    }


def test_a_failed_transaction_stores_nothing_of_any_request_in_it(tmp_path):
    target = store(tmp_path / "s.db")
    target.write([decode(body(ALL[0]), JSON, PRICER)])
    target.conn.execute(
        f"CREATE TRIGGER refuse BEFORE INSERT ON steps WHEN NEW.run_id = '{TRACE_C}'"
        " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        target.write([decode(body(ALL[3]), JSON, PRICER), decode(body(ALL[5]), JSON, PRICER)])
    counted = target.conn.execute("SELECT count(*) FROM received_spans").fetchone()[0]
    runs = [r[0] for r in target.conn.execute("SELECT id FROM runs")]
    target.close()
    assert (counted, runs) == (1, [TRACE_A])


# -- the worker processes ---------------------------------------------------------------------------


async def test_a_worker_killed_is_replaced_and_the_request_stored_again(tmp_path):
    made = store(tmp_path / "w.db")
    workers = Workers(made.path, estimate=False, processes=1)
    workers.start()
    try:
        first = await workers.store(body(ALL[0], ALL[1]), "identity", JSON, 1 << 20)
        assert (first.spans, first.traces, first.new_runs) == (2, 1, 1)
        (pid,) = workers.pids()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        again = await workers.store(body(*ALL[2:]), "identity", JSON, 1 << 20)
        assert (again.spans, again.traces, again.new_runs) == (4, 3, 2)
        assert workers.pids() and pid not in workers.pids()
    finally:
        workers.close()
        made.close()
    whole = store(tmp_path / "whole.db")
    whole.write([decode(body(*ALL), JSON, None)])
    whole.close()
    assert rows_of(made.path) == rows_of(whole.path)


async def test_a_worker_answers_undecodable_and_too_large_bodies_as_the_server_needs(tmp_path):
    import gzip

    from tracetui.receiver.decode import TooLarge, Undecodable

    made = store(tmp_path / "w.db")
    workers = Workers(made.path, estimate=False, processes=1)
    try:
        with pytest.raises(Undecodable, match="not a protobuf"):
            await workers.store(b"\xff\xfe nope", "identity", PROTOBUF, 1 << 20)
        with pytest.raises(TooLarge):
            await workers.store(gzip.compress(b" " * 5000), "gzip", JSON, 1000)
        ok = await workers.store(gzip.compress(body(ALL[0])), "gzip", JSON, 1 << 20)
        assert ok.spans == 1
    finally:
        workers.close()
        made.close()
    assert [r[0] for r in rows_of(made.path)[0]] == [TRACE_A]


async def test_requests_waiting_for_a_busy_worker_share_its_next_transaction_and_get_their_own_answers(tmp_path):
    import asyncio

    from tracetui.receiver.decode import Undecodable

    made = store(tmp_path / "w.db")
    commits = []
    workers = Workers(made.path, estimate=False, processes=1, on_commit=commits.append)
    workers.start()
    try:
        answers = await asyncio.gather(
            workers.store(body(ALL[5]), "identity", JSON, 1 << 20),  # the worker takes this one alone
            workers.store(body(ALL[1], ALL[3]), "identity", JSON, 1 << 20),  # these wait, and go together
            workers.store(b"{", "identity", JSON, 1 << 20),
            workers.store(body(ALL[0], ALL[2], ALL[4]), "identity", JSON, 1 << 20),
            return_exceptions=True,
        )
    finally:
        workers.close()
        made.close()
    first, second, bad, fourth = answers
    assert isinstance(bad, Undecodable)
    assert [(a.spans, a.traces, a.new_runs) for a in (first, second, fourth)] == [(1, 1, 1), (2, 2, 2), (3, 2, 0)]
    assert [(c.requests, c.spans) for c in commits] == [(1, 1), (2, 5)]
    one_by_one = SpanStore(str(tmp_path / "one.db"), estimate=False)  # as the workers: nothing priced
    for part in ([ALL[5]], [ALL[1], ALL[3]], [ALL[0], ALL[2], ALL[4]]):
        one_by_one.write([decode(body(*part), JSON, None)])
    one_by_one.close()
    assert rows_of(made.path) == rows_of(one_by_one.path)


async def test_two_workers_writing_at_once_lose_nothing(tmp_path):
    import asyncio

    made = store(tmp_path / "w.db")
    workers = Workers(made.path, estimate=False, processes=2)
    workers.start()
    traces = [f"{n:032x}" for n in range(1, 41)]
    try:
        # Every trace split over two requests, sent at once: the workers rebuild each from the store.
        roots = [workers.store(body(span(t, ROOT, name=f"agent {t}")), "identity", JSON, 1 << 20) for t in traces]
        children = [workers.store(body(chat(t, CHILD1, ROOT, 1)), "identity", JSON, 1 << 20) for t in traces]
        answers = await asyncio.gather(*[x for pair in zip(roots, children, strict=True) for x in pair])
    finally:
        workers.close()
        made.close()
    assert sum(a.spans for a in answers) == 80
    assert sum(a.new_runs for a in answers) == 40
    runs, steps = rows_of(made.path)
    assert [(r[0], r[3], r[11]) for r in runs] == [(t, "completed", 2) for t in traces]
    assert len(steps) == 80


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_a_span_arriving_in_a_long_trace_rewrites_only_the_rows_it_changes(tmp_path):
    target = store(tmp_path / "long.db")
    root = span(TRACE_A, ROOT, name="agent", start=T0, end=T0 + 10_000)
    children = [chat(TRACE_A, f"{n + 2:016x}", ROOT, n) for n in range(40)]
    target.write([decode(body(root, *children), JSON, PRICER)])
    before = target.conn.total_changes
    target.write([decode(body(chat(TRACE_A, f"{99:016x}", ROOT, 50)), JSON, PRICER)])  # a last child
    written = target.conn.total_changes - before
    steps = target.conn.execute("SELECT count(*), max(size) FROM steps WHERE run_id = ?", (TRACE_A,)).fetchone()
    target.close()
    assert steps == (42, 42)
    # The new span stored, its step, the root's sums and the run's: not the 42 steps again.
    assert written <= 5


def test_commits_reach_the_store_file_through_the_checkpointer_not_the_commit(tmp_path):
    path = tmp_path / "s.db"
    target = store(path)
    assert target.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # no commit checkpoints
    before = target.checkpointer.checkpoints
    target.write([decode(body(*ALL), JSON, PRICER)])
    deadline = time.monotonic() + 60
    while target.checkpointer.checkpoints == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert target.checkpointer.checkpoints > before
    # What the WAL held is in the file now: a copy of the file alone (no -wal) has every run.
    copy = tmp_path / "copy.db"
    copy.write_bytes(path.read_bytes())
    conn = sqlite3.connect(copy)
    try:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 3
    finally:
        conn.close()
    target.close()
