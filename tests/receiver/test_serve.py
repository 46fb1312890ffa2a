"""`tracetui serve --headless`: the real OpenTelemetry SDK and plain HTTP clients send spans to a real
receiver subprocess; the store then holds exactly what was sent, and every answer is the one the
OTLP/HTTP spec asks for."""

from __future__ import annotations

import gzip
import socket
import sqlite3
import subprocess

import orjson
import pytest
import requests
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from serving import TRACETUI, envelope, serve, span

from tracetui.loading import open_store

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    db = str(tmp_path_factory.mktemp("serve") / "spans.db")
    server = serve(db)
    yield server
    if server.process.poll() is None:
        code, out = server.stop()
        assert code == 0, out


def post(served, body: bytes, headers: dict, **kwargs) -> requests.Response:
    return requests.post(f"{served.url}/v1/traces", data=body, headers=headers, timeout=30, **kwargs)


def rows(db: str, sql: str, *args) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def export_with_sdk(url: str) -> list:
    """Spans made and exported by the real SDK (BatchSpanProcessor + OTLPSpanExporter); the same spans as
    the SDK's own in-memory exporter saw them."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status as SpanStatus
    from opentelemetry.trace import StatusCode

    seen = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "sdk-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(seen))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{url}/v1/traces")))
    tracer = provider.get_tracer("tests")
    for n in range(3):
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"agent-{n}"}
        with tracer.start_as_current_span(f"invoke_agent agent-{n}", attributes=agent):
            chat = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 100 + n,
                "gen_ai.usage.output_tokens": 7,
            }
            with tracer.start_as_current_span("chat gpt-4o-mini", attributes=chat):
                pass
            tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "query": "[bold]x"}
            with tracer.start_as_current_span("execute_tool search", attributes=tool) as s:
                if n == 1:
                    s.set_status(SpanStatus(StatusCode.ERROR, "search [/] broke"))
    provider.shutdown()  # exports what is left and waits for the answers
    return list(seen.get_finished_spans())


def test_the_sdk_exports_and_the_store_holds_exactly_those_spans(served):
    sent = export_with_sdk(served.url)
    assert len(sent) == 9
    trace_ids = {format(s.context.trace_id, "032x") for s in sent}
    stored = {
        (run_id, step_id): (parent, name, status, model, tokens_in, extra)
        for run_id, step_id, parent, name, status, model, tokens_in, extra in rows(
            served.db,
            "SELECT run_id, id, parent_id, name, status, model, tokens_in, extra FROM steps"
            f" WHERE run_id IN ({','.join('?' * len(trace_ids))})",
            *trace_ids,
        )
    }
    assert len(stored) == len(sent)
    for s in sent:
        key = (format(s.context.trace_id, "032x"), format(s.context.span_id, "016x"))
        parent, name, status, model, tokens_in, extra = stored[key]
        assert parent == (format(s.parent.span_id, "016x") if s.parent else None)
        assert name == s.name
        assert status == ("failed" if s.status.status_code.name == "ERROR" else "completed")
        attrs = orjson.loads(extra)
        if s.attributes["gen_ai.operation.name"] == "chat":
            assert (model, tokens_in) == ("gpt-4o-mini", s.attributes["gen_ai.usage.input_tokens"])
        if "query" in s.attributes:
            assert attrs["query"] == "[bold]x"
    runs = dict(rows(served.db, "SELECT agent, status FROM runs WHERE agent LIKE 'agent-%'"))
    assert runs == {"agent-0": "completed", "agent-1": "completed", "agent-2": "completed"}
    failed = rows(served.db, "SELECT error FROM steps WHERE status = 'failed'")
    assert ("search [/] broke",) in failed


def test_a_protobuf_request_is_answered_with_a_protobuf_export_response(served):
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    s = request.resource_spans.add().scope_spans.add().spans.add()
    s.trace_id, s.span_id, s.name = bytes.fromhex("ab" * 16), bytes.fromhex("cd" * 8), "root"
    s.start_time_unix_nano, s.end_time_unix_nano = 1, 2
    answer = post(served, request.SerializeToString(), PROTOBUF)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/x-protobuf")
    assert not ExportTraceServiceResponse.FromString(answer.content).HasField("partial_success")
    assert rows(served.db, "SELECT name FROM steps WHERE run_id = ?", "ab" * 16) == [("root",)]


def test_a_json_body_gzipped_is_stored_and_answered_in_json(served):
    trace = "11" * 16
    body = gzip.compress(envelope(span(trace, "01" * 8, name="root", attrs={"gen_ai.agent.name": "json-agent"})))
    answer = post(served, body, {**JSON, "Content-Encoding": "gzip"})
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.json() == {}
    assert rows(served.db, "SELECT agent, status FROM runs WHERE id = ?", trace) == [("json-agent", "completed")]


def test_a_trace_assembles_from_spans_arriving_children_first_over_many_requests(served):
    trace, root, child, grandchild = "22" * 16, "a1" * 8, "a2" * 8, "a3" * 8
    assert post(served, envelope(span(trace, grandchild, child, name="tool")), JSON).status_code == 200
    assert rows(served.db, "SELECT status FROM runs WHERE id = ?", trace) == [("running",)]
    assert post(served, envelope(span(trace, child, root, name="llm")), JSON).status_code == 200
    assert rows(served.db, "SELECT status FROM runs WHERE id = ?", trace) == [("running",)]
    assert post(served, envelope(span(trace, root, name="agent")), JSON).status_code == 200
    assert rows(served.db, "SELECT status, step_count FROM runs WHERE id = ?", trace) == [("completed", 3)]
    tree = rows(served.db, "SELECT id, parent_id, depth FROM steps WHERE run_id = ? ORDER BY ord", trace)
    assert tree == [(root, None, 0), (child, root, 1), (grandchild, child, 2)]


def test_a_span_sent_again_is_stored_once(served):
    trace = "33" * 16
    body = envelope(span(trace, "b1" * 8, name="root"))
    assert post(served, body, JSON).status_code == 200
    assert post(served, body, JSON).status_code == 200  # an exporter's retry after a lost answer
    assert rows(served.db, "SELECT count(*) FROM received_spans WHERE trace_id = ?", trace) == [(1,)]
    assert rows(served.db, "SELECT step_count FROM runs WHERE id = ?", trace) == [(1,)]


def test_malformed_spans_are_rejected_counted_and_the_rest_stored(served):
    trace = "44" * 16
    body = envelope(span(trace, "c1" * 8, name="good"), span("not-an-id", "c2" * 8), span(trace, "", name="no id"))
    answer = post(served, body, JSON)
    assert answer.status_code == 200
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "traceId 'not-an-id'" in partial["errorMessage"]
    assert rows(served.db, "SELECT name FROM steps WHERE run_id = ?", trace) == [("good",)]
    problems = [m for (m,) in rows(served.db, "SELECT message FROM problems")]
    assert any("received span rejected" in m and "not-an-id" in m for m in problems)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"\xff\xfe not protobuf", PROTOBUF),
        (b"{not json", JSON),
        (b"[1, 2]", JSON),
        (b"not gzip at all", {**JSON, "Content-Encoding": "gzip"}),
    ],
    ids=["protobuf", "json", "json-array", "gzip"],
)
def test_an_undecodable_body_gets_400_with_a_status_and_nothing_is_stored(served, body, headers):
    before = rows(served.db, "SELECT count(*) FROM received_spans")
    answer = post(served, body, headers)
    assert answer.status_code == 400
    if headers is PROTOBUF:
        assert Status.FromString(answer.content).message.startswith("the body is not a protobuf")
    else:
        assert answer.json()["message"]
    assert rows(served.db, "SELECT count(*) FROM received_spans") == before


def test_other_media_types_get_415(served):
    answer = post(served, b"hello", {"Content-Type": "text/plain"})
    assert answer.status_code == 415
    assert "application/x-protobuf" in answer.json()["message"]
    assert post(served, envelope(), {**JSON, "Content-Encoding": "br"}).status_code == 415


def test_only_post_to_v1_traces_is_served(served):
    assert requests.get(f"{served.url}/v1/traces", timeout=10).status_code == 405
    assert requests.post(f"{served.url}/v1/metrics", data=b"", headers=PROTOBUF, timeout=10).status_code == 404


def test_the_store_opens_later_like_any_other(served):
    post(served, envelope(span("55" * 16, "d1" * 8, name="root", attrs={"gen_ai.agent.name": "later"})), JSON)
    store = open_store(served.db)
    assert store.source_format == "tracetui-sqlite"
    assert store.get_run("55" * 16).agent == "later"
    out = subprocess.run([*TRACETUI, "list", served.db, "--json"], capture_output=True, text=True, check=True)
    assert "later" in out.stdout


def test_a_body_over_the_limit_gets_413_and_so_does_one_that_inflates_past_it(tmp_path):
    server = serve(str(tmp_path / "small.db"), "--max-body", "2KB")
    try:
        big = envelope(*(span("66" * 16, f"{i:016x}", name="x" * 50) for i in range(1, 60)))
        assert len(big) > 2048
        answer = post(server, big, JSON)
        assert answer.status_code == 413
        assert "2,048 bytes" in answer.json()["message"]
        bomb = gzip.compress(b'{"resourceSpans": []' + b" " * 100_000 + b"}")
        assert len(bomb) < 2048
        assert post(server, bomb, {**JSON, "Content-Encoding": "gzip"}).status_code == 413
        assert post(server, envelope(span("66" * 16, "e1" * 8)), JSON).status_code == 200
    finally:
        code, out = server.stop()
    assert code == 0, out
    assert rows(server.db, "SELECT count(*) FROM received_spans") == [(1,)]


def test_off_loopback_a_token_is_required_and_every_request_must_carry_it(tmp_path):
    refused = subprocess.run(
        [*TRACETUI, "serve", "--headless", "--host", "0.0.0.0", "--port", "0", "--db", str(tmp_path / "a.db")],
        capture_output=True,
        text=True,
        env={k: v for k, v in __import__("os").environ.items() if k != "TRACETUI_TOKEN"},
    )
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "needs --token" in refused.stderr
    server = serve(str(tmp_path / "b.db"), "--host", "0.0.0.0", env={"TRACETUI_TOKEN": "s3cret"})
    try:
        local = server.url.replace("0.0.0.0", "127.0.0.1")
        body = envelope(span("77" * 16, "f1" * 8))
        url = f"{local}/v1/traces"
        assert requests.post(url, data=body, headers=JSON, timeout=10).status_code == 401
        wrong = {**JSON, "Authorization": "Bearer nope"}
        assert requests.post(url, data=body, headers=wrong, timeout=10).status_code == 401
        right = {**JSON, "Authorization": "Bearer s3cret"}
        assert requests.post(url, data=body, headers=right, timeout=10).status_code == 200
    finally:
        code, out = server.stop()
    assert code == 0, out
    assert rows(server.db, "SELECT count(*) FROM received_spans") == [(1,)]


def test_a_port_in_use_is_one_clear_line_and_exit_2(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*TRACETUI, "serve", "--headless", "--port", str(port), "--db", str(tmp_path / "p.db")],
            capture_output=True,
            text=True,
        )
    assert result.returncode == 2
    assert (
        result.stderr
        == f"tracetui: 127.0.0.1:{port}: the port is in use (another receiver or collector?); choose one with --port\n"
    )


def test_a_db_that_serve_did_not_make_is_refused(tmp_path):
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE runs (id TEXT)").connection.commit()
    result = subprocess.run(
        [*TRACETUI, "serve", "--headless", "--port", "0", "--db", str(other)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "not a store made by tracetui serve" in result.stderr


def test_the_log_has_one_line_per_batch_and_sigterm_flushes_and_exits_0(tmp_path):
    server = serve(str(tmp_path / "log.db"))
    for n in range(3):
        post(server, envelope(span(f"{n + 1:032x}", "aa" * 8, name="root")), JSON)
    code, out = server.stop()
    assert code == 0
    batches = [line for line in out.splitlines() if "span in 1 trace" in line]
    assert len(batches) == 3
    assert "stopped; 3 runs in" in out
    assert rows(server.db, "SELECT count(*) FROM runs") == [(3,)]


def test_the_sdk_exporting_gzipped_protobuf_is_stored(served):
    from opentelemetry.exporter.otlp.proto.http import Compression
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{served.url}/v1/traces", compression=Compression.Gzip))
    )
    with provider.get_tracer("tests").start_as_current_span("gzipped root") as s:
        trace_id = format(s.get_span_context().trace_id, "032x")
    provider.shutdown()
    assert rows(served.db, "SELECT name, status FROM steps WHERE run_id = ?", trace_id) == [
        ("gzipped root", "completed")
    ]


def test_sdk_exporters_sending_at_once_with_traces_split_over_requests_store_every_trace_whole(served):
    import threading

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    made: list[str] = []

    def exporter(k: int) -> None:
        provider = TracerProvider()
        # Batches of 7 spans: every trace of 10 spans is cut over two or three requests.
        processor = BatchSpanProcessor(
            OTLPSpanExporter(endpoint=f"{served.url}/v1/traces"), max_export_batch_size=7, schedule_delay_millis=10
        )
        provider.add_span_processor(processor)
        tracer = provider.get_tracer("tests")
        for n in range(20):
            with tracer.start_as_current_span(f"agent {k}-{n}") as root:
                made.append(format(root.get_span_context().trace_id, "032x"))
                for m in range(9):
                    with tracer.start_as_current_span(f"tool {m}", attributes={"gen_ai.tool.name": "t"}):
                        pass
        provider.shutdown()

    threads = [threading.Thread(target=exporter, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 60
    marks = ",".join("?" * len(made))
    runs = rows(served.db, f"SELECT status, step_count, failed_steps FROM runs WHERE id IN ({marks})", *made)
    assert runs == [("completed", 10, 0)] * 60
    steps = rows(served.db, f"SELECT count(*), count(DISTINCT run_id) FROM steps WHERE run_id IN ({marks})", *made)
    assert steps == [(600, 60)]
    roots = rows(served.db, f"SELECT count(*) FROM steps WHERE run_id IN ({marks}) AND depth = 0", *made)
    assert roots == [(60,)]


def test_ctrl_c_to_the_terminal_stops_the_receiver_and_its_workers_quietly(tmp_path):
    import os
    import signal

    from serving import TRACETUI

    process = subprocess.Popen(
        [*TRACETUI, "serve", "--headless", "--port", "0", "--db", str(tmp_path / "c.db")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a command
    )
    assert process.stdout is not None
    url = None
    while url is None:
        line = process.stdout.readline()
        assert line, "tracetui serve did not start"
        if " on http://" in line:
            url = line.split(" on ")[1].split()[0]
    assert requests.post(f"{url}/v1/traces", data=envelope(span("88" * 16, "a8" * 8)), headers=JSON).status_code == 200
    os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl+C
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0
    assert err == ""
    assert "stopped; 1 run in" in out


def test_a_trace_whose_root_has_not_arrived_is_named_for_its_service_until_the_root_comes(served):
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{served.url}/v1/traces")))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("triage") as root:
        trace_id = format(root.get_span_context().trace_id, "032x")
        with tracer.start_as_current_span("chat gpt-4o", attributes={"gen_ai.operation.name": "chat"}):
            pass
        provider.force_flush()  # the child is exported; its root has not ended
        assert rows(served.db, "SELECT agent, status FROM runs WHERE id = ?", trace_id) == [("support-bot", "running")]
    provider.force_flush()
    provider.shutdown()
    assert rows(served.db, "SELECT agent, status, step_count FROM runs WHERE id = ?", trace_id) == [
        ("triage", "completed", 2)
    ]
