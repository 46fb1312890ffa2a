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
