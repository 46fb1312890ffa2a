"""The agent_traces table in PostgreSQL: the same runs and steps as the SQLite reader gives."""

from __future__ import annotations

import pytest
from builders import AGENT_TRACES_ROWS, write_agent_traces
from pg_builders import agent_traces_table

from tracetui.loading import open_store, prepare
from tracetui.store import RunFilter


def summary(store):
    return [
        (
            r.id,
            r.agent,
            r.session,
            r.status,
            r.started_at,
            r.ended_at,
            r.duration_ms,
            r.step_count,
            r.failed_steps,
            r.total("tokens_in"),
            r.total("tokens_out"),
            r.error,
            r.flags,
        )  # fmt: skip
        for r in store.list_runs(sort="started", desc=False)
    ]


def steps(store, run_id):
    return [
        (s.id, s.name, s.kind, s.status, s.started_at, s.ended_at, s.duration_ms, s.error, s.extra)
        for s in store.steps(run_id, payloads=True)
    ]


@pytest.mark.parametrize(
    ("json_type", "time_type"), [("jsonb", "timestamptz"), ("text", "text"), ("json", "timestamptz")]
)
def test_the_same_runs_and_steps_as_from_sqlite(pg_url, tmp_path, json_type, time_type):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS, json_type=json_type, time_type=time_type)
    sqlite = open_store(write_agent_traces(tmp_path / "server.db", AGENT_TRACES_ROWS))
    opening = prepare(pg_url)
    assert opening.format == "agent-traces" and opening.ready
    store = opening.connect()
    assert summary(store) == summary(sqlite)
    for run_id in ("tr-1", "tr-2", "tr-3"):
        assert steps(store, run_id) == steps(sqlite, run_id)
        pg_run, sqlite_run = store.get_run(run_id), sqlite.get_run(run_id)
        assert (pg_run.events, pg_run.metadata) == (sqlite_run.events, sqlite_run.metadata)
    assert [r.id for r in store.list_runs(RunFilter(status="failed"))] == ["tr-3"]
    assert [r.id for r in store.list_runs(RunFilter(agent="writer"), sort="tokens", desc=True)] == ["tr-3", "tr-2"]
    assert [r.id for r in store.list_runs(RunFilter(search="PROVIDER"))] == ["tr-3"]
    assert store.count_runs() == 3
    store.close()
