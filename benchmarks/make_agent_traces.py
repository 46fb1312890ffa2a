"""Write a synthetic agent_traces SQLite database (the table agent servers write) of N rows.

Usage: python benchmarks/make_agent_traces.py OUT.db [ROWS]
"""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from datetime import UTC, datetime

SCHEMA = """
CREATE TABLE agent_traces (
    id TEXT PRIMARY KEY, session_id TEXT, agent_id TEXT, workspace_id TEXT,
    started_at TEXT, finished_at TEXT, duration_ms INTEGER,
    prompt_tokens INTEGER, completion_tokens INTEGER, tool_calls TEXT,
    circuit_breaker_events TEXT, final_status TEXT, error_message TEXT
)
"""
AGENTS = ("planner", "coder", "reviewer", "support-bot", "researcher")
TOOLS = ("search", "read_file", "write_file", "run_tests", "http_get")


def iso(ms: int) -> str:
    # ISO-8601 text, as agent servers write started_at/finished_at (tool timestamps stay epoch ms).
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rows(n: int, seed: int = 7):
    rnd = random.Random(seed)
    t0 = 1_760_000_000_000
    for i in range(n):
        start = t0 + i * 1500 + rnd.randint(0, 999)
        calls, at = [], start
        for _ in range(rnd.randint(0, 6)):
            ms = rnd.randint(5, 4000)
            error = "tool timed out" if rnd.random() < 0.03 else None
            calls.append({"toolName": rnd.choice(TOOLS), "durationMs": ms, "error": error, "timestamp": at})
            at += ms
        status = rnd.choices(("completed", "failed", "timeout"), (90, 8, 2))[0]
        error = None if status == "completed" else f"{status}: step {len(calls)} gave up"
        yield (
            f"run-{i:07d}",
            f"sess-{i // 10}",
            rnd.choice(AGENTS),
            "ws-1",
            iso(start),
            iso(at + 50),
            at + 50 - start,
            rnd.randint(100, 9000),
            rnd.randint(10, 2000),
            json.dumps(calls),
            None,
            status,
            error,
        )


def main(out: str, n: int) -> None:
    conn = sqlite3.connect(out)
    conn.execute(SCHEMA)
    conn.executemany("INSERT INTO agent_traces VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows(n))
    conn.commit()
    conn.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000)
