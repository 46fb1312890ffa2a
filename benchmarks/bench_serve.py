"""`tracetui serve`: spans/s stored with nothing lost, export→visible latency in the viewer, memory over time.

    python benchmarks/bench_serve.py sdk [SPANS] [PROCS]  the real SDK (BatchSpanProcessor + OTLPSpanExporter) in
                                                         PROCS processes (1), exporting as fast as they can to
                                                         `serve --headless`
    python benchmarks/bench_serve.py replay [SPANS]       the receiver's own ceiling: export bodies encoded by the
                                                         SDK beforehand, posted by 4 client threads
    python benchmarks/bench_serve.py latency [SECONDS]    export→visible in the viewer (headless, run_test) while
                                                         an SDK process exports traces
    python benchmarks/bench_serve.py memory [SECONDS]     RSS of `serve --headless` under constant replay load

Each prints what it measured; docs/benchmarks.md has the numbers. Traces have 10 spans each (an agent span,
model calls with GenAI usage and a prompt, tool calls), like the agent frameworks' spans.
"""

from __future__ import annotations

import asyncio
import os
import re
import resource
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
SPANS_PER_TRACE = 10


def start_server(db: str) -> tuple[subprocess.Popen, str]:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    process = subprocess.Popen(
        [sys.executable, "-m", "tracetui.cli", "serve", "--headless", "--port", "0", "--db", db],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    while True:
        line = process.stdout.readline()
        found = re.search(r"on (http://\S+) ", line)
        if found:
            threading.Thread(target=lambda: [None for _ in process.stdout], daemon=True).start()  # drain the log
            settle(process.pid)
            return process, found.group(1)
        if not line:
            raise SystemExit("the server did not start")


def stop_server(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


def settle(pid: int) -> None:
    """Wait until the server's worker processes have started (their imports are not the spans' cost)."""
    last = -1.0
    for _ in range(60):
        now = sum(cpu_seconds(pid))
        if now - last < 0.02:
            return
        last = now
        time.sleep(0.5)


def cpu_seconds(pid: int) -> tuple[float, float]:
    """CPU time (user + system) used so far by the process, and by its children (the decoding workers)."""
    times = []
    for p in [pid, *children(pid)]:
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        times.append((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"))
    return times[0], sum(times[1:])


def cpu_used(pid: int, before: tuple[float, float]) -> tuple[float, float]:
    now = cpu_seconds(pid)
    return now[0] - before[0], now[1] - before[1]


def cpu_text(cpu: tuple[float, float], spans: int) -> str:
    main, workers = (c / spans * 1e6 for c in cpu)
    return (
        f"{main + workers:.0f} µs a span ({main:.0f} in the receiver's process, {workers:.0f} in its workers):"
        f" at most {min(1e6 / main, 2e6 / (main + workers)):,.0f} spans/s on 2 idle cores"
    )


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def count(db: str, sql: str = "SELECT count(*) FROM received_spans") -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def make_trace(tracer, n: int) -> None:
    """One agent run: an agent span, 5 model calls and 4 tool calls."""
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": f"agent-{n % 7}"}
    with tracer.start_as_current_span("invoke_agent", attributes=agent):
        for k in range(SPANS_PER_TRACE - 1):
            if k % 2 == 0:
                attrs = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 1200 + k,
                    "gen_ai.usage.output_tokens": 80,
                    "gen_ai.input.messages": "You are a helpful agent. " * 8,
                }
                name = "chat gpt-4o-mini"
            else:
                attrs = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", "query": f"q{n}"}
                name = "execute_tool search"
            with tracer.start_as_current_span(name, attributes=attrs):
                pass


def provider(exporter, *, queue: int):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tp = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    tp.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=queue, max_export_batch_size=512, schedule_delay_millis=100)
    )
    return tp


# -- the real SDK, as fast as it can -----------------------------------------------------------------


SDK_PRODUCER = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from bench_serve import SPANS_PER_TRACE, make_trace, provider
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

class Counted(OTLPSpanExporter):
    acknowledged = 0

    def export(self, spans):
        result = super().export(spans)
        if result is SpanExportResult.SUCCESS:
            Counted.acknowledged += len(spans)
        return result

spans = int(sys.argv[2])
tp = provider(Counted(endpoint=sys.argv[1] + "/v1/traces"), queue=spans)  # a queue that never drops
tracer = tp.get_tracer("bench")
for n in range(spans // SPANS_PER_TRACE):
    make_trace(tracer, n)
tp.force_flush()  # exports every span and waits for the answers (shutdown alone gives up after 30 s)
tp.shutdown()
print(Counted.acknowledged)
"""


def bench_sdk(spans: int, producers: int) -> None:
    """`producers` processes, each making its share of the spans with the real SDK and exporting them
    with its BatchSpanProcessor and OTLPSpanExporter as fast as they go."""
    os.makedirs(OUT, exist_ok=True)
    db = os.path.join(OUT, "serve-sdk.db")
    process, url = start_server(db)
    share = spans // producers // SPANS_PER_TRACE * SPANS_PER_TRACE
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = cpu_seconds(process.pid)
    began = time.perf_counter()
    command = [sys.executable, "-c", SDK_PRODUCER, url, str(share), HERE]
    running = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(producers)]
    acknowledged = sum(int(p.communicate()[0]) for p in running)
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_used(process.pid, server_before)
    stored = count(db)
    during = load()
    stop_server(process)
    made = share * producers
    sdk_cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    print(f"SDK, {producers} producer process(es): {made:,} spans made, exported and stored in {took:.2f} s ({during})")
    print(f"  {acknowledged:,} acknowledged (200) by the receiver, {stored:,} stored: {stored / took:,.0f} spans/s")
    print(f"  runs: {count(db, 'SELECT count(*) FROM runs'):,}")
    print(f"  CPU: the SDK processes {sdk_cpu / made * 1e6:.0f} µs a span; the receiver {cpu_text(cpu, stored)}")


# -- the receiver's ceiling: bodies encoded beforehand -----------------------------------------------


def encoded_bodies(spans: int) -> list[bytes]:
    """Export request bodies of 510 spans (51 traces) each, made by the SDK's own encoder."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    class Keep(SpanExporter):
        def __init__(self) -> None:
            self.spans: list = []

        def export(self, batch):
            self.spans.extend(batch)
            return SpanExportResult.SUCCESS

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    keep = Keep()
    tp = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    tp.add_span_processor(SimpleSpanProcessor(keep))
    tracer = tp.get_tracer("bench")
    for n in range(spans // SPANS_PER_TRACE):
        make_trace(tracer, n)
    per_body = 51 * SPANS_PER_TRACE
    return [encode_spans(keep.spans[i : i + per_body]).SerializeToString() for i in range(0, len(keep.spans), per_body)]


def replay(url: str, bodies: list[bytes], clients: int = 4) -> float:
    import requests

    todo = list(bodies)
    lock = threading.Lock()

    def client() -> None:
        session = requests.Session()
        while True:
            with lock:
                if not todo:
                    return
                body = todo.pop()
            answer = session.post(
                f"{url}/v1/traces", data=body, headers={"Content-Type": "application/x-protobuf"}, timeout=60
            )
            assert answer.status_code == 200, answer.text

    threads = [threading.Thread(target=client) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - began


def bench_replay(spans: int) -> None:
    os.makedirs(OUT, exist_ok=True)
    db = os.path.join(OUT, "serve-replay.db")
    bodies = encoded_bodies(spans)
    process, url = start_server(db)
    before = cpu_seconds(process.pid)
    took = replay(url, bodies)
    cpu = cpu_used(process.pid, before)
    stored = count(db)
    during = load()
    stop_server(process)
    sent = spans // SPANS_PER_TRACE * SPANS_PER_TRACE
    print(f"replay: {len(bodies)} requests, {sent:,} spans posted and acknowledged in {took:.2f} s ({during})")
    print(f"  {stored:,} stored ({sent - stored:,} lost): {stored / took:,.0f} spans/s")
    print(f"  the receiver's CPU: {cpu_text(cpu, stored)}")


# -- memory over time --------------------------------------------------------------------------------


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as f:
            out.extend(int(c) for c in f.read().split())
    return out


def bench_memory(seconds: float) -> None:
    os.makedirs(OUT, exist_ok=True)
    db = os.path.join(OUT, "serve-memory.db")
    bodies = encoded_bodies(5100)  # 10 bodies, posted again and again: spans sent again are stored once
    # New trace ids for every round, so the store grows as it would: rewrite the ids in the bodies.
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    requests_ = [ExportTraceServiceRequest.FromString(b) for b in bodies]
    process, url = start_server(db)
    began = time.monotonic()
    samples = []
    round_ = 0
    sent = 0
    while time.monotonic() - began < seconds:
        round_ += 1
        fresh = []
        for req in requests_:
            for rs in req.resource_spans:
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        s.trace_id = round_.to_bytes(4, "big") + s.trace_id[4:]
            fresh.append(req.SerializeToString())
        replay(url, fresh, clients=2)
        sent += 5100
        workers = sum(rss_mb(c) for c in children(process.pid))
        samples.append((time.monotonic() - began, rss_mb(process.pid), workers, sent))
    stored = count(db)
    during = load()
    stop_server(process)
    print(f"memory: {sent:,} spans in {seconds:.0f} s; {stored:,} stored ({sent - stored:,} lost) ({during})")
    step = max(1, len(samples) // 20)
    for t, rss, workers, n in samples[::step] + samples[-1:]:
        print(f"  {t:6.0f} s  {n:>10,} spans  RSS {rss:6.1f} MB, its worker processes {workers:6.1f} MB")


# -- export→visible in the viewer ---------------------------------------------------------------------

PRODUCER = r"""
import sys, time
sys.path.insert(0, sys.argv[3])
from bench_serve import make_trace, provider
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

log = open(sys.argv[4], "w")

class Timed(OTLPSpanExporter):
    def export(self, spans):
        sent = time.time()
        result = super().export(spans)
        for s in spans:
            if s.parent is None:
                log.write(f"{s.context.trace_id:032x} {sent}\n")
        log.flush()
        return result

tp = provider(Timed(endpoint=sys.argv[1] + "/v1/traces"), queue=1_000_000)
tracer = tp.get_tracer("bench")
end = time.time() + float(sys.argv[2])
n = 0
while time.time() < end:
    make_trace(tracer, n)
    n += 1
    time.sleep(0.005)
tp.shutdown()
"""


def bench_latency(seconds: float) -> None:
    from tracetui.loading import prepare
    from tracetui.receiver.server import DEFAULT_MAX_BODY, listen
    from tracetui.receiver.service import Service
    from tracetui.receiver.span_store import SpanStore
    from tracetui.tui.app import TraceApp

    os.makedirs(OUT, exist_ok=True)
    db = os.path.join(OUT, "serve-latency.db")
    log = os.path.join(OUT, "serve-latency.exports")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.remove(db + suffix)
    service = Service(SpanStore(db), listen("127.0.0.1", 0), token=None, max_body=DEFAULT_MAX_BODY)
    app = TraceApp(prepare(db), live=service)
    seen: dict[str, float] = {}
    loads: list[int] = []

    async def main() -> list[tuple[str, float]]:
        async with app.run_test(size=(160, 48)):
            producer = subprocess.Popen([sys.executable, "-c", PRODUCER, service.url, str(seconds), HERE, log])
            pager = app.runs_screen.run_list.pager
            looked_at = None
            while producer.poll() is None or time.monotonic() < stop_at(producer):
                # A plain sleep: pilot.pause() would also wait for every widget's messages and force a
                # screen update, 100 times a second, which the viewer never does on its own.
                await asyncio.sleep(0.01)
                now = time.time()
                loaded = (pager.generation, pager.count, pager.complete, pager.id_at(0))
                if loaded == looked_at:
                    continue  # no load since the last look: the order is the one looked at
                looked_at = loaded
                for i in range(min(pager.count, 300)):  # the newest runs: the top of the list
                    run_id = pager.id_at(i)
                    if run_id is not None and run_id not in seen:
                        seen[run_id] = now
            loads.append(pager.generation)
            with open(log) as f:
                return [(line.split()[0], float(line.split()[1])) for line in f]

    done_at: dict[int, float] = {}

    def stop_at(producer: subprocess.Popen) -> float:
        return done_at.setdefault(producer.pid, time.monotonic() + 3) if producer.poll() is not None else 1e18

    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    exported = asyncio.run(main())
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    during = load()
    delays = sorted(seen[t] - sent for t, sent in exported if t in seen)
    missing = sum(1 for t, _ in exported if t not in seen)
    p50 = statistics.median(delays)
    p95 = delays[int(len(delays) * 0.95)]
    viewer_cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    print(
        f"latency: {len(exported):,} traces exported over {seconds:.0f} s ({missing} never seen in the list;"
        f" {during}); the viewer's process {viewer_cpu:.1f} s CPU (its receiver's workers not counted);"
        f" the run list read {loads[0]:,} times"
    )
    print(
        f"  export→visible in the run list: p50 {p50 * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "sdk"
    arg = float(sys.argv[2]) if len(sys.argv) > 2 else None
    if what == "sdk":
        bench_sdk(int(arg or 100_000), int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    elif what == "replay":
        bench_replay(int(arg or 200_000))
    elif what == "latency":
        bench_latency(arg or 30)
    elif what == "memory":
        bench_memory(arg or 600)
    else:
        raise SystemExit(__doc__)
