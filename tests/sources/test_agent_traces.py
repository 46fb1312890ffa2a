import hashlib
import sqlite3

from builders import AGENT_TRACES_ROWS, write_agent_traces

from tracetui.loading import open_store, prepare
from tracetui.store import RunFilter

ROWS = AGENT_TRACES_ROWS


def summary(store):
    return [
        (
            r.id,
            r.agent,
            r.status,
            r.started_at,
            r.duration_ms,
            r.step_count,
            r.failed_steps,
            r.total("tokens_in"),
            r.error,
            r.events,
            r.flags,
        )
        for r in store.list_runs(sort="started", desc=False)
    ]


def steps(store, run_id):
    return [
        (s.id, s.name, s.kind, s.status, s.started_at, s.ended_at, s.duration_ms, s.error, s.extra)
        for s in store.steps(run_id, payloads=True)
    ]


def test_opens_in_place_without_import(tmp_path):
    db = write_agent_traces(tmp_path / "server.db", ROWS)
    opening = prepare(db)
    assert opening.in_place and opening.ready and opening.format == "agent-traces"


def test_runs_and_tool_steps(tmp_path):
    store = open_store(write_agent_traces(tmp_path / "server.db", ROWS))
    runs = {r.id: r for r in store.list_runs()}
    assert runs["tr-1"].status == "completed" and runs["tr-1"].step_count == 2 and runs["tr-1"].failed_steps == 1
    assert runs["tr-2"].status == "timeout" and runs["tr-2"].flags == ["invalid_tool_calls"]
    assert runs["tr-2"].started_at == "2026-02-27T10:01:40.000Z"
    assert runs["tr-3"].status == "failed" and runs["tr-3"].error == "provider down"
    assert runs["tr-3"].duration_ms == 1000
    tools = store.steps("tr-1")
    assert [(s.name, s.status, s.duration_ms) for s in tools] == [
        ("web_search", "completed", 620),
        ("file_read", "failed", 18),
    ]
    assert tools[1].error == "ENOENT [/tool_call]"
    assert store.first_failed_step("tr-1").name == "file_read"


def test_circuit_breaker_events_show_on_the_run(tmp_path):
    store = open_store(write_agent_traces(tmp_path / "server.db", ROWS))
    assert store.get_run("tr-2").events == [{"provider": "openai", "to_state": "open"}]


def test_filters_and_sorts_in_place(tmp_path):
    store = open_store(write_agent_traces(tmp_path / "server.db", ROWS))
    assert [r.id for r in store.list_runs(RunFilter(status="failed"))] == ["tr-3"]
    assert [r.id for r in store.list_runs(RunFilter(agent="writer"), sort="tokens", desc=True)] == ["tr-3", "tr-2"]
    assert [r.id for r in store.list_runs(RunFilter(search="provider"))] == ["tr-3"]
    assert store.count_runs() == 3


def test_in_place_views_and_import_give_the_same_runs(tmp_path):
    db = write_agent_traces(tmp_path / "server.db", ROWS)
    in_place = open_store(db)
    opening = prepare(db, output=str(tmp_path / "copy.db"))
    opening.run_import()
    imported = opening.connect()
    assert imported.source_format == "agent-traces" and not opening.in_place
    assert summary(in_place) == summary(imported)
    for run_id in ("tr-1", "tr-2", "tr-3"):
        assert steps(in_place, run_id) == steps(imported, run_id)
        assert in_place.get_run(run_id).extra == imported.get_run(run_id).extra


def test_missing_optional_columns(tmp_path):
    db = write_agent_traces(
        tmp_path / "lean.db",
        [{"id": "a", "agent_id": "x", "final_status": "completed", "tool_calls": [{"toolName": "t"}]}],
        columns="id TEXT PRIMARY KEY, agent_id TEXT, final_status TEXT, tool_calls TEXT",
    )
    store = open_store(db)
    (r,) = store.list_runs()
    assert (r.id, r.agent, r.step_count, r.total("tokens_in")) == ("a", "x", 1, None)


def test_read_only_while_another_process_writes_in_wal_mode(tmp_path):
    db = write_agent_traces(tmp_path / "live.db", ROWS)
    writer = sqlite3.connect(db)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("INSERT INTO agent_traces (id, agent_id, final_status) VALUES ('tr-4', 'late', 'completed')")
    writer.commit()
    before = hashlib.sha256(open(db, "rb").read()).hexdigest()
    store = open_store(db)
    assert store.count_runs() == 4
    store.list_runs(sort="tokens")
    store.steps("tr-1")
    store.close()
    assert hashlib.sha256(open(db, "rb").read()).hexdigest() == before
    writer.execute("INSERT INTO agent_traces (id, agent_id, final_status) VALUES ('tr-5', 'later', 'completed')")
    writer.commit()
    writer.close()


def test_start_time_order_with_and_without_an_index_and_with_mixed_formats(tmp_path):
    iso_rows = [
        {"id": f"r{i}", "agent_id": "a", "final_status": "completed", "started_at": f"2026-01-0{i}T00:00:00.000Z"}
        for i in (3, 1, 2)
    ]
    plain = write_agent_traces(tmp_path / "plain.db", iso_rows)
    indexed = write_agent_traces(tmp_path / "indexed.db", iso_rows)
    conn = sqlite3.connect(indexed)
    conn.execute("CREATE INDEX by_start ON agent_traces (started_at)")
    conn.commit()
    conn.close()
    mixed = write_agent_traces(
        tmp_path / "mixed.db",
        iso_rows
        + [
            {
                "id": "epoch",
                "agent_id": "a",
                "final_status": "completed",
                "started_at": 1767312000,
            },  # 2026-01-02T00:00Z
        ],
    )
    for db, expected in (
        (plain, ["r3", "r2", "r1"]),
        (indexed, ["r3", "r2", "r1"]),
        (mixed, ["r3", "r2", "epoch", "r1"]),
    ):
        store = open_store(db)
        got = [r.id for r in store.list_runs(sort="started", desc=True)]
        assert got == expected, db  # "epoch" ties with r2 at 2026-01-02; ids break ties (descending)
