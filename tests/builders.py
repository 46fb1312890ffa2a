"""Building small trace stores for tests straight from model objects."""

from __future__ import annotations

import os

from tracetui.loading import Opening, prepare
from tracetui.model import Run, Step, finalize_run
from tracetui.sources import tracetui_jsonl


def step(id: str, parent: str | None = None, **fields) -> Step:
    fields.setdefault("name", id)
    return Step(id=id, parent_id=parent, **fields)


def run(id: str, *steps: Step, **fields) -> Run:
    r = Run(id=id, **fields)
    r.steps = list(steps)
    return r


def write_jsonl(path, runs: list[Run]) -> str:
    """Runs as tracetui's own JSONL (a real source file the app and CLI can open)."""
    with open(path, "wb") as f:
        for r in runs:
            f.write(tracetui_jsonl.dumps(r))
    return str(path)


def write_store(path, runs: list[Run]) -> str:
    """Runs imported into a native tracetui SQLite store at path."""
    src = str(path) + ".src.jsonl"
    write_jsonl(src, runs)
    opening = prepare(src, output=str(path))
    opening.run_import()
    os.remove(src)
    return str(path)


def opening(path: str) -> Opening:
    o = prepare(str(path))
    o.run_import()
    return o


def finalized(r: Run) -> Run:
    return finalize_run(r)


AGENT_TRACES_COLUMNS = (
    "id TEXT PRIMARY KEY, session_id TEXT, agent_id TEXT, workspace_id TEXT, started_at TEXT, finished_at TEXT, "
    "duration_ms INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, total_tokens INTEGER, tool_calls TEXT, "
    "circuit_breaker_events TEXT, final_status TEXT, error_message TEXT"
)


# Three turns of an agent server: tool calls that fail, a tool_calls value that is not JSON, an
# error run, epoch and ISO times, a run without duration_ms. The SQLite and PostgreSQL tests share them.
AGENT_TRACES_ROWS = [
    {
        "id": "tr-1",
        "session_id": "s1",
        "agent_id": "researcher",
        "workspace_id": "ws",
        "started_at": "2026-02-27T10:00:00Z",
        "finished_at": "2026-02-27T10:00:02.3Z",
        "duration_ms": 2300,
        "prompt_tokens": 1842,
        "completion_tokens": 512,
        "total_tokens": 2354,
        "tool_calls": [
            {"toolName": "web_search", "durationMs": 620, "error": None, "timestamp": 1772186400100},
            {"toolName": "file_read", "durationMs": 18, "error": "ENOENT [/tool_call]", "timestamp": 1772186400720},
        ],
        "circuit_breaker_events": [],
        "final_status": "completed",
        "error_message": None,
    },
    {
        "id": "tr-2",
        "session_id": "s1",
        "agent_id": "writer",
        "workspace_id": "ws",
        "started_at": 1772186500,
        "finished_at": None,
        "duration_ms": 30000,
        "prompt_tokens": 10,
        "completion_tokens": 0,
        "total_tokens": None,
        "tool_calls": "not json",
        "circuit_breaker_events": [{"provider": "openai", "to_state": "open"}],
        "final_status": "timeout",
        "error_message": None,
    },
    {
        "id": "tr-3",
        "session_id": "s2",
        "agent_id": "writer",
        "workspace_id": "ws",
        "started_at": "2026-02-27T11:00:00Z",
        "finished_at": "2026-02-27T11:00:01Z",
        "duration_ms": None,
        "prompt_tokens": 100,
        "completion_tokens": 20,
        "total_tokens": 120,
        "tool_calls": [
            {"toolName": "send_mail", "durationMs": 5, "error": {"code": 500}, "timestamp": 1772190000000},
            "odd",
        ],
        "circuit_breaker_events": None,
        "final_status": "error",
        "error_message": "provider down",
    },
]


def write_agent_traces(path, rows: list[dict], columns: str = AGENT_TRACES_COLUMNS) -> str:
    """An agent server's agent_traces table; dict/list values are stored as JSON text."""
    import json
    import sqlite3

    conn = sqlite3.connect(str(path))
    conn.execute(f"CREATE TABLE agent_traces ({columns})")
    for row in rows:
        values = {k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in row.items()}
        conn.execute(
            f"INSERT INTO agent_traces ({', '.join(values)}) VALUES ({', '.join('?' * len(values))})",
            list(values.values()),
        )
    conn.commit()
    conn.close()
    return str(path)


# agent_traces turns in sessions: s1 (three runs, one failed), s2 (one) and r5 without a session.
SESSION_ROWS = [
    {"id": "r1", "session_id": "s1", "final_status": "success", "started_at": "2026-11-01T09:00:00Z",
     "finished_at": "2026-11-01T09:00:10Z", "prompt_tokens": 100, "completion_tokens": 10},
    {"id": "r2", "session_id": "s1", "final_status": "error", "started_at": "2026-11-01T09:05:00Z",
     "finished_at": "2026-11-01T09:05:30Z", "prompt_tokens": 200, "completion_tokens": 20},
    {"id": "r3", "session_id": "s1", "final_status": "success", "started_at": "2026-11-01T09:10:00Z",
     "finished_at": "2026-11-01T09:11:00Z", "prompt_tokens": 300, "completion_tokens": 30},
    {"id": "r4", "session_id": "s2", "final_status": "success", "started_at": "2026-11-01T08:00:00Z",
     "finished_at": "2026-11-01T08:01:00Z"},
    {"id": "r5", "final_status": "success", "started_at": "2026-11-01T10:00:00Z"},
]  # fmt: skip
