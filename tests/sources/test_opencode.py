"""OpenCode's opencode.db (tests/fixtures/agents/opencode, written by the real opencode binary): read in place."""

from __future__ import annotations

import sqlite3

import pytest
from agents import OPENCODE, copied, opened, read_runs, shape

from tracetui.analysis import first_failed_step


@pytest.fixture
def db(tmp_path):
    return copied(OPENCODE, tmp_path / "opencode")


@pytest.fixture
def run(db):
    runs, problems = read_runs(db)
    assert problems == [] and [r.id for r in runs] == ["ses_fix_parent"]  # the subagent session is not a run
    return runs[0]


def test_a_run_per_top_level_session(db, run):
    assert (run.agent, run.status, run.error) == ("shop", "failed", "APIError: Overloaded")  # the project
    assert run.metadata["directory"] == "/tmp/opencode-fixture/shop"
    assert run.metadata["title"] == "Fix the flaky auth test" and run.metadata["version"] == "1.18.33"
    assert run.input == "Fix the flaky auth test [/red] stays literal"
    assert run.started_at == "2026-01-02T09:00:00.000Z"
    store = opened(db)
    assert store.source_format == "opencode" and store.run_ids() == ["ses_fix_parent"]


def test_tree_shape_with_the_subagent_session_under_its_task_call(run):
    assert shape(run) == [
        (0, "other", "Fix the flaky auth test [/red] stays literal"),
        (1, "agent", "build"),
        (2, "llm", "claude-sonnet-4-5"),
        (3, "tool", "read"),
        (3, "tool", "bash"),
        (2, "llm", "claude-sonnet-4-5"),
        (3, "tool", "task"),
        (4, "agent", "Investigate flakiness (@general subagent)"),
        (5, "other", "Why is test_login flaky?"),
        (6, "agent", "general"),
        (7, "llm", "claude-haiku-4-5"),
        (8, "tool", "grep"),
        (7, "llm", "claude-haiku-4-5"),
        (2, "llm", "claude-sonnet-4-5"),
        (0, "other", "Also update the changelog"),
        (1, "agent", "build"),
    ]
    steps = {s.id: s for s in run.steps}
    assert steps["ses_fix_child"].parent_id == "call_task"
    assert steps["prt_p0012"].output == "Fixed: the test now freezes time."
    assert steps["prt_p0004"].extra["reasoning"] == "Read the test, then run it."


def test_tool_steps_failures_and_retries(run):
    steps = {s.id: s for s in run.steps}
    read = steps["call_read"]
    assert (read.input, read.output, read.status) == (
        '{"filePath":"tests/test_auth.py"}',
        "def test_login(): ...",
        "completed",
    )
    assert [s.id for s in run.steps if s.failed] == ["call_bash", "msg_p0017"]
    first = first_failed_step(run.steps)
    assert first.id == "call_bash" and first.error == "Error: exit code 1\nFAILED tests/test_auth.py::test_login"
    failed_message = steps["msg_p0017"]
    assert failed_message.error == "APIError: Overloaded" and failed_message.child_count == 0
    assert failed_message.events == [
        {"name": "retry", "attempt": 1, "error": "APIError: Overloaded", "time": "2026-01-02T09:01:15.000Z"}
    ]


def test_tokens_per_model_call_in_the_convention_and_opencode_cost(run):
    steps = {s.id: s for s in run.steps}
    first_call = steps["prt_p0004"]
    assert (first_call.tokens_in, first_call.tokens_out) == (1200, 50)
    parts = (first_call.tokens_cache_read, first_call.tokens_cache_write, first_call.tokens_reasoning)
    assert parts == (800, 100, 10) and first_call.cost_usd == pytest.approx(0.0021)
    assert (first_call.model, first_call.provider) == ("claude-sonnet-4-5", "anthropic")
    child = steps["ses_fix_child"]
    assert (child.sub_tokens_in, child.sub_tokens_out, child.sub_tokens_cache_read, child.sub_tokens_cache_write) == (
        1010,
        35,
        400,
        400,
    )
    assert child.sub_cost_usd == pytest.approx(0.0008)
    parent_only = [s for s in run.steps if s.kind == "llm" and s.model == "claude-sonnet-4-5"]
    assert sum(s.tokens_in for s in parent_only) == 3950 and sum(s.tokens_out for s in parent_only) == 110
    assert (run.steps_tokens_in, run.steps_tokens_out) == (4960, 145)
    assert (run.steps_tokens_cache_read, run.steps_tokens_cache_write, run.steps_tokens_reasoning) == (3600, 500, 15)
    assert run.steps_cost_usd == pytest.approx(0.005)
    # The session table's own columns, summed over the run's two sessions, are the reported totals: they agree.
    assert (run.tokens_in, run.tokens_out, run.cost_usd) == (4960, 145, pytest.approx(0.005))
    assert not run.mismatches


def edit(db: str, *statements: str) -> None:
    conn = sqlite3.connect(db)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def test_a_part_with_broken_data_is_reported_and_the_rest_shows(db):
    edit(db, "UPDATE part SET data = '{\"type\": \"tool\", broken' WHERE id = 'prt_p0006'")
    store = opened(db)
    (problem,) = store.problems()
    assert problem.message == "part 'prt_p0006': data is not a JSON object; left out"
    steps = {s.id: s for s in store.steps("ses_fix_parent")}
    assert "call_read" not in steps and "call_bash" in steps
    assert store.first_failed_step("ses_fix_parent").id == "call_bash"


def test_a_subagent_session_no_task_call_names_sits_at_the_top_of_its_parents_run(db):
    edit(db, "UPDATE part SET data = json_remove(data, '$.state.metadata.sessionId') WHERE id = 'prt_p0010'")
    steps = {s.id: s for s in opened(db).steps("ses_fix_parent")}
    assert steps["ses_fix_child"].parent_id is None and steps["ses_fix_child"].kind == "agent"
    assert steps["call_grep"].depth == 4


def test_a_loop_of_parent_links_loses_no_session(db):
    edit(db, "UPDATE session SET parent_id = 'ses_fix_child' WHERE id = 'ses_fix_parent'")
    store = opened(db)
    # Each session is the other's parent: the loop's smallest id is the run, the other nested in it once.
    assert store.run_ids() == ["ses_fix_child"]
    steps = store.steps("ses_fix_child")
    assert [s.id for s in steps if s.kind == "agent" and s.raw_type == "session"] == ["ses_fix_parent"]
    assert len(steps) == 16  # every message and part once: 5 of its own, the other session and its 10
