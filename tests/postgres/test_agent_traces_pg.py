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


def test_a_big_run_opens_on_its_first_steps_and_reads_the_rest_when_asked(pg_url, tmp_path, monkeypatch):
    from tracetui.postgres import store as store_module

    monkeypatch.setattr(store_module, "START_STEPS", 4)  # as if the run were bigger than a few screens
    calls = [
        {"toolName": f"t{i}", "durationMs": i, "error": "boom" if i in (2, 9) else None, "timestamp": 1772186400000 + i}
        for i in range(12)
    ]
    rows = [*AGENT_TRACES_ROWS, {**AGENT_TRACES_ROWS[0], "id": "big", "tool_calls": calls}]
    agent_traces_table(pg_url, rows)
    sqlite = open_store(write_agent_traces(tmp_path / "server.db", rows))
    store = prepare(pg_url).connect()

    def same(step_a, step_b) -> bool:
        return (step_a.id, step_a.ord, step_a.name, step_a.status, step_a.started_at, step_a.extra) == (
            step_b.id, step_b.ord, step_b.name, step_b.status, step_b.started_at, step_b.extra
        )  # fmt: skip

    run = store.get_run("big")
    assert (run.step_count, run.failed_steps) == (12, 2)
    assert store.failed_step_positions("big") == sqlite.failed_step_positions("big")
    assert store.count_children("big", None) == 12 and store.count_children("big", "call-1") == 0
    start = store.shared.tree(("big", False))
    assert start is not None and not start.complete and len(start.steps) == 4  # only the start was read
    for got, expected in zip(store.children("big", None, limit=3), sqlite.children("big", None, limit=3), strict=True):
        assert same(got, expected)
    assert same(store.get_step("big", "call-2"), sqlite.get_step("big", "call-2"))
    assert not store.shared.tree(("big", False)).complete
    # Past the start (scrolling down, the second failure): the whole run is read, once.
    later = store.children("big", None, limit=5, offset=6)
    assert [s.id for s in later] == [s.id for s in sqlite.children("big", None, limit=5, offset=6)]
    assert store.shared.tree(("big", False)).complete
    assert same(store.get_step("big", "call-10"), sqlite.get_step("big", "call-10"))
    assert [s.id for s in store.steps("big")] == [s.id for s in sqlite.steps("big")]
    store.close()


def test_an_id_with_a_control_character_is_found_by_what_is_shown(pg_url):
    rows = [dict(AGENT_TRACES_ROWS[0], id="tr\x1b1"), AGENT_TRACES_ROWS[1]]
    agent_traces_table(pg_url, rows)
    store = prepare(pg_url).connect()
    shown = "tr\\x1b1"  # as every list shows it, and as a user types it
    assert store.get_run(shown).id == "tr\x1b1" and store.has_run(shown)
    assert [s.id for s in store.steps(shown)] == [s.id for s in store.steps("tr\x1b1")]
    assert [r.id for r in store.list_runs(RunFilter(ids=[shown]))] == ["tr\x1b1"]
    store.close()
