"""OTLP spans in sessions, made by the real OpenTelemetry SDK and its OTLP encoder."""

from __future__ import annotations

import orjson


def otlp_with_sessions(path) -> str:
    """Spans made by the real OpenTelemetry SDK, encoded by its OTLP encoder: two conversations by the
    GenAI attribute, one session by the OpenInference one, one trace with neither."""
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    seen = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "chat"}))
    provider.add_span_processor(SimpleSpanProcessor(seen))
    tracer = provider.get_tracer("tests")
    sessions = [
        {"gen_ai.conversation.id": "conv-1"},
        {"gen_ai.conversation.id": "conv-1"},
        {"gen_ai.conversation.id": "conv-2"},
        {"session.id": "oi-session", "openinference.span.kind": "AGENT"},
        {"session.id": "oi-session", "openinference.span.kind": "AGENT"},
        {},
    ]
    for n, attrs in enumerate(sessions):
        agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper", **attrs}
        with tracer.start_as_current_span(f"invoke_agent turn {n}", attributes=agent):
            chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
            with tracer.start_as_current_span(
                "chat", attributes={**chat, "gen_ai.usage.input_tokens": 10_000 * (n + 1)}
            ):
                pass
    provider.shutdown()
    lines = [orjson.dumps(MessageToDict(encode_spans([span]))) for span in seen.get_finished_spans()]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return str(path)
