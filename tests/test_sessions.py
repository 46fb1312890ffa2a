"""Runs grouped by session: in the store (SQL), in `tracetui list --by session`, agreeing with `stats --by session`,
on an agent_traces table read in place, the same runs imported, and OTLP spans written by the real OpenTelemetry SDK."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from agents import CLAUDE_FLAT_AGENT, CODEX_CHILD, GEMINI_JSON, OPENCODE, claude
from builders import write_agent_traces
from click.testing import CliRunner
from otel_sessions import otlp_with_sessions

from tracetui.cli import main
from tracetui.loading import prepare
from tracetui.store import SORT_KEYS, RunFilter, Store

ROWS = [
    # session s1: three runs, one failed; s2: one timed-out run; one run without a session
    {"id": "r1", "session_id": "s1", "final_status": "success", "started_at": "2026-11-01T09:00:00Z",
     "finished_at": "2026-11-01T09:00:10Z", "prompt_tokens": 100, "completion_tokens": 10},
    {"id": "r2", "session_id": "s1", "final_status": "error", "error_message": "boom", "started_at": "2026-11-01T09:05:00Z",
     "finished_at": "2026-11-01T09:05:30Z", "prompt_tokens": 200, "completion_tokens": 20},
    {"id": "r3", "session_id": "s1", "final_status": "success", "started_at": "2026-11-01T09:10:00Z",
     "finished_at": "2026-11-01T09:11:00Z", "prompt_tokens": 300, "completion_tokens": 30},
    {"id": "r4", "session_id": "s2", "final_status": "timeout", "started_at": "2026-11-01T08:00:00Z",
     "finished_at": "2026-11-01T08:01:00Z", "prompt_tokens": 5000, "completion_tokens": 1},
    {"id": "r5", "session_id": None, "final_status": "success", "started_at": "2026-11-01T10:00:00Z",
     "finished_at": "2026-11-01T10:00:01Z", "prompt_tokens": 1, "completion_tokens": 1},
]  # fmt: skip


def open_store(path: str, *, imported: bool = False, tmp_path=None) -> Store:
    if imported:
        out = str(tmp_path / "imported.db")
        prepare(path, output=out).run_import()
        path = out
    opening = prepare(path)
    opening.run_import()
    return opening.connect()


@pytest.fixture(params=["in place", "imported"])
def store(request, tmp_path):
    db = write_agent_traces(tmp_path / "a.db", ROWS)
    s = open_store(db, imported=request.param == "imported", tmp_path=tmp_path)
    yield s
    s.close()


def test_a_session_row_sums_its_runs_and_takes_the_worst_status(store):
    rows = {row.session or row.run_id: row for row in store.sessions()}
    assert set(rows) == {"s1", "s2", "r5"}
    s1 = rows["s1"]
    assert (s1.runs, s1.failed, s1.status) == (3, 1, "failed")
    assert (s1.started_at, s1.ended_at, s1.duration_ms) == (
        "2026-11-01T09:00:00.000Z",
        "2026-11-01T09:11:00.000Z",
        11 * 60_000,
    )
    assert (s1.tokens_in, s1.tokens_out) == (600, 60)
    assert (rows["s2"].runs, rows["s2"].status) == (1, "timeout")
    assert (rows["r5"].session, rows["r5"].run_id, rows["r5"].runs) == (None, "r5", 1)
    assert store.count_sessions() == 3


def test_sessions_are_ordered_by_every_sort_key_in_sql(store):
    order = {key.name: [r.session or r.run_id for r in store.sessions(sort=key.name, desc=True)] for key in SORT_KEYS}
    assert order["started"] == ["r5", "s1", "s2"]  # by first start
    assert order["duration"] == ["s1", "s2", "r5"]  # by span: 11 min, 1 min, 1 s
    assert order["tokens"] == ["s2", "s1", "r5"]
    assert order["status"][:2] == ["s1", "s2"]  # failed is worse than timeout
    assert order["id"] == ["s2", "s1", "r5"]  # sessions before runs without one
    for key in SORT_KEYS:
        asc = [r.key for r in store.sessions(sort=key.name, desc=False)]
        assert sorted(asc, key=str) == sorted(store.session_keys(sort=key.name), key=str)


def test_a_filter_applies_to_the_runs_before_they_are_grouped(store):
    rows = store.sessions(RunFilter(status="completed"))
    assert {(r.session or r.run_id, r.runs) for r in rows} == {("s1", 2), ("r5", 1)}
    assert [r.run_id for r in store.sessions(RunFilter(session="s1"))] == [None]


def test_the_runs_of_a_session_in_the_order_they_started(store):
    assert store.session_run_ids("r2") == ["r1", "r2", "r3"]
    assert store.session_run_ids("r5") == ["r5"]
    assert store.run_ids(RunFilter(session="s1"), desc=False) == ["r1", "r2", "r3"]


def invoke(*args) -> str:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_list_by_session_agrees_with_stats_by_session(tmp_path):
    db = write_agent_traces(tmp_path / "a.db", ROWS)
    listed = {r["session"]: r for r in json.loads(invoke("list", db, "--by", "session", "--json"))}
    stats = {g["group"]: g for g in json.loads(invoke("stats", db, "--by", "session", "--json"))}
    for session in ("s1", "s2"):
        mine, theirs = listed[session], stats[session]
        assert mine["runs"] == theirs["runs"] and mine["failed_runs"] == theirs["failed"]
        assert (mine["tokens_in"], mine["tokens_out"]) == (theirs["tokens_in"], theirs["tokens_out"])
    text = invoke("list", db, "--by", "session", "--sort", "tokens", "--desc")
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["status", "session", "runs"]
    assert "⏱ timeout" in lines[1] and "s2" in lines[1] and "1 run" in lines[1]
    assert "✗ failed" in lines[2] and "s1" in lines[2] and "3 runs" in lines[2] and "1 failed" in lines[2]
    assert "r5 (no session)" in lines[3]
    assert invoke("list", db, "--by", "session", "--limit", "1").count("\n") == 2


def test_otlp_runs_group_by_genai_conversation_and_openinference_session(tmp_path):
    path = otlp_with_sessions(tmp_path / "spans.jsonl")
    store = open_store(path)
    try:
        rows = {row.session: row for row in store.sessions()}
        assert {k: v.runs for k, v in rows.items()} == {"conv-1": 2, "conv-2": 1, "oi-session": 2, None: 1}
        assert rows["conv-1"].tokens_in == 10_000 + 20_000
    finally:
        store.close()
    listed = json.loads(invoke("list", path, "--by", "session", "--json"))
    assert sorted(r["runs"] for r in listed) == [1, 1, 2, 2]
    stats = {g["group"]: g for g in json.loads(invoke("stats", path, "--by", "session", "--json"))}
    for row in listed:
        if row["session"] is not None:
            theirs = stats[row["session"]]
            assert (row["runs"], row["tokens_in"]) == (theirs["runs"], theirs["tokens_in"])
            assert row["cost_usd"] == pytest.approx(theirs["cost_usd"]) and row["cost_estimated"]


FRAMEWORKS = Path(__file__).resolve().parent / "fixtures" / "frameworks"


@pytest.mark.parametrize(
    ("path", "sessions"),
    [
        (claude(1), {"5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01"}),  # a Claude Code session is its file's sessionId
        (CLAUDE_FLAT_AGENT, {"5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e03"}),  # … a subagent's file: its parent's
        (CODEX_CHILD, {"019b8a10-0000-7000-8000-000000000001"}),  # a Codex subagent: its parent thread
        (GEMINI_JSON, {"3f2a9c1d-0000-4000-8000-000000000001"}),
        (OPENCODE, None),  # an OpenCode run is a top-level session: its own id
        (FRAMEWORKS / "openai_agents_traces.jsonl", None),  # the Agents SDK's group_id
        (FRAMEWORKS / "pydantic_ai_otlp.jsonl", None),  # GenAI gen_ai.conversation.id
        (FRAMEWORKS / "pydantic_ai_openinference.jsonl", None),  # OpenInference session.id
    ],
)
def test_every_source_that_knows_a_session_fills_it(path, sessions):
    store = open_store(str(path))
    try:
        rows = [tuple(r) for r in store.conn.execute("SELECT id, session FROM runs")]
    finally:
        store.close()
    assert rows and all(session for _, session in rows), rows
    if sessions is not None:
        assert {session for _, session in rows} == sessions
    if path == OPENCODE:
        assert all(run_id == session for run_id, session in rows)
