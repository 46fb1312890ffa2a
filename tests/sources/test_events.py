"""The flat event log: one step per JSONL line, runs interleaved, children possibly before parents."""

from __future__ import annotations

import json
import os
import tempfile

import orjson
import pytest
from click.testing import CliRunner

from tracetui import sources
from tracetui.cli import main
from tracetui.loading import open_store, prepare
from tracetui.model import FLAG_CYCLE, FLAG_ORPHAN, Problem
from tracetui.sources import SourceFile, events, read_head


def write_events(path, *lines) -> str:
    """Each line is a dict (written as JSON) or raw text (written as it is)."""
    with open(path, "w", encoding="utf-8") as f:
        for line in lines:
            f.write((line if isinstance(line, str) else json.dumps(line)) + "\n")
    return str(path)


def ev(run_id, step_id, type="reasoning", **fields):
    return {"run_id": run_id, "step_id": step_id, "type": type, **fields}


INTERLEAVED = (
    ev(
        "r1",
        "think",
        agent="planner",
        timestamp="2024-05-01T10:00:00Z",
        duration_ms=200,
        input_tokens=100,
        output_tokens=40,
        cost_usd=0.002,
        content="plan the search",
    ),
    ev("r2", "a", agent="writer", timestamp="2024-05-01T11:00:00Z", duration_ms=50, input_tokens=7),
    # The result comes before its call, which comes before nothing else links to it.
    ev(
        "r1",
        "res",
        "tool_result",
        parent_id="call",
        tool="search",
        timestamp="2024-05-01T10:00:02Z",
        duration_ms=10,
        content="3 hits",
    ),
    ev(
        "r1",
        "call",
        "tool_call",
        parent_id="think",
        tool="search",
        timestamp="2024-05-01T10:00:01Z",
        duration_ms=1500,
        arguments={"q": "tracetui"},
        input_tokens=5,
        output_tokens=2,
        cost_usd=0.001,
    ),
    ev("r2", "b", agent="writer", timestamp="2024-05-01T11:00:01Z", duration_ms=100, output_tokens=9),
)


@pytest.fixture
def interleaved(tmp_path):
    return open_store(write_events(tmp_path / "trace.jsonl", *INTERLEAVED))


def test_detected_by_content_whatever_the_file_name(tmp_path):
    path = write_events(tmp_path / "export.json.bak", *INTERLEAVED)
    assert prepare(path).format == "events"


def test_detected_from_type_alone_when_step_id_is_absent(tmp_path):
    path = write_events(tmp_path / "x", {"run_id": "r", "type": "tool_call", "tool": "t"})
    assert prepare(path).format == "events"


@pytest.mark.parametrize(
    "first_line",
    [
        {"run_id": "r", "step_id": "s", "steps": []},  # an export run line
        {"tracetui": 1, "run": {"id": "r", "steps": []}, "run_id": "r", "step_id": "s"},
        {"run_id": "r", "agent": "a", "status": "completed"},  # neither step_id nor an event type
        {"step_id": "s", "type": "reasoning"},  # no run_id
    ],
)
def test_not_claimed(tmp_path, first_line):
    path = write_events(tmp_path / "other.jsonl", first_line)
    assert events.sniff(sources.read_head(path)) is False


def test_a_json_document_is_not_claimed(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text('{\n "run_id": "r", "step_id": "s", "type": "reasoning"\n}\n')
    assert events.sniff(sources.read_head(str(path))) is False


def test_interleaved_runs_come_apart_in_order_of_first_appearance(tmp_path, interleaved):
    path = write_events(tmp_path / "again.jsonl", *INTERLEAVED)
    assert [r.id for r in events.read(read_head(path), lambda p: None, SourceFile(path))] == ["r1", "r2"]
    assert interleaved.count_runs() == 2
    assert [s.id for s in interleaved.steps("r1")] == ["think", "call", "res"]
    assert [s.id for s in interleaved.steps("r2")] == ["a", "b"]
    assert interleaved.get_run("r1").source_line == 1
    assert interleaved.get_run("r2").source_line == 2


def test_children_before_parents_are_linked_by_parent_id(interleaved):
    steps = {s.id: s for s in interleaved.steps("r1")}
    assert (steps["think"].parent_id, steps["call"].parent_id, steps["res"].parent_id) == (None, "think", "call")
    assert [s.depth for s in interleaved.steps("r1")] == [0, 1, 2]
    assert not any(s.flags for s in steps.values())


def test_step_fields_are_mapped(interleaved):
    call = interleaved.get_step("r1", "call")
    assert (call.name, call.kind, call.raw_type, call.status) == ("search", "tool", "tool_call", "completed")
    assert json.loads(call.input) == {"q": "tracetui"}
    assert (call.started_at, call.ended_at, call.duration_ms) == (
        "2024-05-01T10:00:01.000Z",
        "2024-05-01T10:00:02.500Z",
        1500.0,
    )
    assert (call.tokens_in, call.tokens_out, call.cost_usd) == (5, 2, 0.001)
    result = interleaved.get_step("r1", "res")
    assert (result.name, result.kind, result.output) == ("search", "tool", "3 hits")
    think = interleaved.get_step("r1", "think")
    assert (think.name, think.kind, think.output) == ("reasoning", "reasoning", "plan the search")


def test_run_fields_come_from_its_events(interleaved):
    run = interleaved.get_run("r1")
    assert (run.agent, run.status, run.error) == ("planner", "completed", None)
    assert (run.started_at, run.ended_at, run.duration_ms) == (
        "2024-05-01T10:00:00.000Z",
        "2024-05-01T10:00:02.500Z",
        2500.0,
    )


def test_token_and_cost_totals_are_the_step_sums(interleaved):
    r1, r2 = interleaved.get_run("r1"), interleaved.get_run("r2")
    assert (r1.tokens_in, r1.cost_usd) == (None, None)  # the log reports no run totals of its own
    assert (r1.total("tokens_in"), r1.total("tokens_out")) == (105, 42)
    assert r1.total("cost_usd") == pytest.approx(0.003)
    assert (r2.total("tokens_in"), r2.total("tokens_out"), r2.total("cost_usd")) == (7, 9, None)
    assert interleaved.get_step("r1", "think").sub_tokens_in == 105
    assert r1.flags == []


def test_siblings_run_in_timestamp_order_then_line_order(tmp_path):
    store = open_store(
        write_events(
            tmp_path / "t.jsonl",
            ev("r", "late", timestamp="2024-05-01T10:00:09Z"),
            ev("r", "tie-1", timestamp="2024-05-01T10:00:05Z"),
            ev("r", "early", timestamp=1714557600),  # 2024-05-01T10:00:00Z as a unix time
            ev("r", "tie-2", timestamp="2024-05-01T10:00:05Z"),
            ev("r", "untimed"),
        )
    )
    assert [s.id for s in store.children("r", None)] == ["early", "tie-1", "tie-2", "late", "untimed"]


def test_an_error_event_fails_the_run_and_is_its_first_failed_step(tmp_path):
    store = open_store(
        write_events(
            tmp_path / "t.jsonl",
            ev("r", "call", "tool_call", tool="fetch", timestamp="2024-05-01T10:00:00Z"),
            ev("r", "err", "error", parent_id="call", timestamp="2024-05-01T10:00:01Z", content="HTTP 500"),
            ev("r", "after", timestamp="2024-05-01T10:00:02Z"),
            ev("ok", "s"),
        )
    )
    run = store.get_run("r")
    assert (run.status, run.error, run.failed_steps) == ("failed", "HTTP 500", 1)
    first = store.first_failed_step("r")
    assert (first.id, first.status, first.error, first.output) == ("err", "failed", "HTTP 500", None)
    assert first.kind == "other"
    assert store.get_run("ok").status == "completed"
    assert store.first_failed_step("ok") is None


def test_a_missing_parent_is_flagged_and_shown_under_the_root(tmp_path):
    store = open_store(write_events(tmp_path / "t.jsonl", ev("r", "root"), ev("r", "lost", parent_id="nowhere")))
    lost = store.get_step("r", "lost")
    assert (lost.parent_id, lost.flags, lost.extra["missing_parent_id"]) == (None, [FLAG_ORPHAN], "nowhere")
    assert [s.id for s in store.children("r", None)] == ["root", "lost"]


def test_a_parent_cycle_is_flagged_and_shown_under_the_root(tmp_path):
    store = open_store(
        write_events(tmp_path / "t.jsonl", ev("r", "a", parent_id="b"), ev("r", "b", parent_id="a"), ev("r", "c"))
    )
    steps = {s.id: s for s in store.steps("r")}
    assert steps["a"].flags == [FLAG_CYCLE] and steps["b"].flags == [FLAG_CYCLE]
    assert {s.id for s in store.children("r", None)} == {"a", "b", "c"}
    assert store.get_run("r").step_count == 3


def test_missing_and_repeated_step_ids(tmp_path):
    store = open_store(
        write_events(
            tmp_path / "t.jsonl",
            {"run_id": "r", "type": "reasoning"},
            ev("r", "retry", "tool_call", tool="t"),
            ev("r", "retry", "tool_call", tool="t"),
        )
    )
    ids = [s.id for s in store.steps("r")]
    assert ids == ["line-1", "retry", "retry#2"]
    again = store.get_step("r", "retry#2")
    assert again.definition_id == "retry"


def test_unknown_fields_are_kept_in_extra_and_other_agents_on_their_step(tmp_path):
    store = open_store(
        write_events(
            tmp_path / "t.jsonl",
            ev("r", "a", agent="lead", model="gpt-x", trace={"k": 1}),
            ev("r", "b", agent="helper", tool="not-a-tool-event"),
        )
    )
    assert store.get_run("r").agent == "lead"
    a, b = store.get_step("r", "a"), store.get_step("r", "b")
    assert a.extra == {"model": "gpt-x", "trace": {"k": 1}}
    assert b.extra == {"agent": "helper", "tool": "not-a-tool-event"}
    assert b.name == "reasoning"


def test_bad_lines_are_skipped_and_reported_with_line_numbers(tmp_path):
    path = write_events(
        tmp_path / "t.jsonl",
        ev("r", "good-1", input_tokens=4),
        {"step_id": "no-run", "type": "reasoning"},
        ev("r", "bad-duration", duration_ms="abc"),
        ev("r", "bad-time", timestamp={"at": 1}),
        "{not json",
        ev("r", "bad-tokens", input_tokens=[1]),
        ev({"nested": 1}, "bad-run"),
        ev("r", "bad-parent", parent_id=["x"]),
        ev("r", "good-2", input_tokens="6"),
        '{"run_id": "r", "step_id": "cut',
    )
    with open(path, "rb+") as f:  # the last line breaks off without its newline, like a truncated write
        f.truncate(os.path.getsize(path) - 1)
    store = open_store(path)
    assert [s.id for s in store.steps("r")] == ["good-1", "good-2"]
    assert store.get_run("r").total("tokens_in") == 10
    problems = {p.line: p.message for p in store.problems()}
    assert problems == {
        2: "skipped: the event has no run_id",
        3: "skipped: duration_ms must be a number, not 'abc'",
        4: "skipped: timestamp must be ISO-8601 text or a unix time, not an object",
        5: problems[5],
        6: "skipped: input_tokens must be a number, not a list",
        7: "skipped: run_id must be text, not an object",
        8: "skipped: parent_id must be text, not a list",
        10: problems[10],
    }
    assert problems[5].startswith("skipped: invalid JSON")
    assert "truncated" in problems[10]


def test_an_unparseable_timestamp_text_is_reported(tmp_path):
    store = open_store(write_events(tmp_path / "t.jsonl", ev("r", "a"), ev("r", "b", timestamp="yesterday")))
    assert [(p.line, p.message) for p in store.problems()] == [
        (2, "skipped: timestamp must be ISO-8601 text or a unix time, not 'yesterday'")
    ]


def test_the_staging_file_is_removed(tmp_path, monkeypatch):
    staging_dir = tmp_path / "tmp"
    staging_dir.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging_dir))
    path = write_events(tmp_path / "t.jsonl", *INTERLEAVED)

    runs = events.read(read_head(path), lambda p: None, SourceFile(path))
    first = next(runs)
    assert first.id == "r1" and len(os.listdir(staging_dir)) == 1  # staged while runs are read back
    runs.close()  # a reader that stops early still cleans up
    assert os.listdir(staging_dir) == []

    assert [r.id for r in events.read(read_head(path), lambda p: None, SourceFile(path))] == ["r1", "r2"]
    assert os.listdir(staging_dir) == []


def test_problems_name_the_run_when_known(tmp_path):
    path = write_events(tmp_path / "t.jsonl", ev("r9", "x", cost_usd="free"))
    reported: list[Problem] = []
    assert list(events.read(read_head(path), reported.append, SourceFile(path))) == []
    assert [(p.line, p.run_id) for p in reported] == [(1, "r9")]


def test_cli_list_show_and_stats(tmp_path):
    path = write_events(
        tmp_path / "trace.log",
        *INTERLEAVED,
        ev("r2", "boom", "error", parent_id="a", timestamp="2024-05-01T11:00:02Z", content="[bold]x[/] \x1b[31mred"),
        ev("r2", "bad", duration_ms="abc"),
    )
    runner = CliRunner()
    listed = runner.invoke(main, ["list", path, "--json"])
    assert listed.exit_code == 0, listed.output
    rows = {r["id"]: r for r in orjson.loads(listed.stdout)}
    assert (rows["r1"]["status"], rows["r1"]["tokens_in"], rows["r1"]["steps"]) == ("completed", 105, 3)
    assert (rows["r2"]["status"], rows["r2"]["failed_steps"], rows["r2"]["agent"]) == ("failed", 1, "writer")
    assert "line 7: skipped: duration_ms must be a number, not 'abc'" in listed.stderr

    shown = runner.invoke(main, ["show", path, "r2", "--json"])
    assert shown.exit_code == 0, shown.output
    tree = orjson.loads(shown.stdout)
    assert tree["first_failed_step"]["id"] == "boom"
    assert [c["id"] for c in tree["steps"][0]["children"]] == ["boom"]

    text = runner.invoke(main, ["show", path, "r2"])
    assert text.exit_code == 0 and "[bold]x[/]" in text.stdout and "\x1b" not in text.stdout

    stats = runner.invoke(main, ["stats", path, "--by", "agent", "--json"])
    assert stats.exit_code == 0, stats.output
    groups = {g["group"]: g for g in orjson.loads(stats.stdout)}
    assert (groups["writer"]["failed"], groups["writer"]["tokens_in"]) == (1, 7)
    assert (groups["planner"]["runs"], groups["planner"]["cost_usd"]) == (1, pytest.approx(0.003))
