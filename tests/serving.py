"""`tracetui serve --headless` as a real subprocess on an ephemeral port, for the receiver tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import orjson

TRACETUI = [sys.executable, "-m", "tracetui.cli"]


@dataclass
class Served:
    process: subprocess.Popen
    url: str
    db: str
    lines: list[str]

    def stop(self) -> tuple[int, str]:
        """SIGTERM, as a service manager would stop it; (exit code, everything it printed after)."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        return self.process.returncode, out


def serve(db: str, *args: str, env: dict | None = None) -> Served:
    """Start the receiver on a free port and wait until it says where it listens."""
    process = subprocess.Popen(
        [*TRACETUI, "serve", "--headless", "--port", "0", "--db", db, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    lines: list[str] = []
    deadline = time.monotonic() + 60
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"on (http://\S+) ", line)
        if found:
            return Served(process, found.group(1), db, lines)
    process.kill()
    raise AssertionError(f"tracetui serve did not start: {''.join(lines)}")


def span(trace: str, span_id: str, parent: str | None = None, **fields) -> dict:
    """One span in OTLP JSON (ids as hex, as the OTLP/HTTP JSON encoding has them)."""
    out = {
        "traceId": trace,
        "spanId": span_id,
        "name": fields.pop("name", span_id),
        "kind": 1,
        "startTimeUnixNano": str(fields.pop("start", 1_700_000_000_000_000_000)),
        "endTimeUnixNano": str(fields.pop("end", 1_700_000_001_000_000_000)),
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in fields.pop("attrs", {}).items()],
        **fields,
    }
    if parent is not None:
        out["parentSpanId"] = parent
    return out


def envelope(*spans: dict, service: str = "agent-svc") -> bytes:
    return orjson.dumps(
        {
            "resourceSpans": [
                {
                    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                    "scopeSpans": [{"scope": {"name": "test"}, "spans": list(spans)}],
                }
            ]
        }
    )
