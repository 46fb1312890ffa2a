"""Claude Code sessions, read from the fixture project written from the documented format (see its README)."""

from __future__ import annotations

import os
import shutil

import orjson
import pytest
from agents import (
    CLAUDE,
    CLAUDE_FLAT_AGENT,
    CLAUDE_SUBAGENT,
    by_id,
    claude,
    copy_lines,
    read_one,
    shape,
    subtree,
    totals,
)
from frameworks import opened

from tracetui import sources
from tracetui.analysis import first_failed_step
from tracetui.errors import UnusableInput
from tracetui.loading import prepare
from tracetui.sources import claude_code

MAIN = "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01"


def test_detected_from_content_not_name(tmp_path):
    renamed = tmp_path / "session.log"
    shutil.copy(claude(1), renamed)
    assert sources.detect(str(renamed))[0] is claude_code


def test_one_run_per_main_session_file_with_title_project_branch_and_version():
    run, _ = read_one(claude_code, claude(1))
    assert (run.id, run.session, run.agent, run.status) == (MAIN, MAIN, "shop", "completed")
    assert run.metadata == {
        "tool": "claude-code",
        "title": "Add health endpoint and rate limiting",
        "project": "/home/dev/shop",
        "git_branch": "main",
        "version": "2.1.131",
    }
    assert run.input == "Add a /health endpoint to app.py [bold]not markup[/bold]"
    assert run.output == "Added a slowapi limiter of 10 requests per minute."
    assert (run.started_at, run.ended_at) == ("2026-01-05T09:00:00.000Z", "2026-01-05T09:01:15.000Z")
    old, _ = read_one(claude_code, claude(2))
    assert old.metadata["title"] == "Rename config loader"  # the summary line naming a leaf of this file
    assert old.metadata["version"] == "1.0.44" and old.metadata["git_branch"] == ""


def test_turns_model_calls_tools_subagent_fork_and_compaction():
    run, _ = read_one(claude_code, claude(1))
    sonnet, haiku = "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001"
    assert shape(run) == [
        (0, "other", "Add a /health endpoint to app.py [bold]not markup[/bold]"),
        (1, "llm", sonnet),
        (2, "tool", "Read"),
        (1, "llm", sonnet),
        (2, "tool", "Grep"),
        (2, "tool", "Bash"),
        (1, "llm", sonnet),
        (2, "tool", "Task"),
        (3, "agent", "general-purpose"),
        (4, "other", "Write a test for GET /health in tests/test_health.py"),
        (5, "llm", haiku),
        (6, "tool", "Write"),
        (5, "llm", haiku),
        (6, "tool", "Bash"),
        (5, "llm", haiku),
        (1, "llm", sonnet),
        (0, "other", "Now add rate limiting"),
        (1, "llm", sonnet),
        (0, "other", "Now add rate limiting with slowapi"),
        (1, "llm", "API error"),
        (0, "other", "compaction (manual)"),
        (0, "other", "Retry the rate limiting"),
        (1, "llm", sonnet),
    ]
    compaction = next(s for s in run.steps if s.raw_type == "compaction")
    assert compaction.extra["compact_metadata"] == {"trigger": "manual", "preTokens": 23120}
    assert compaction.output.startswith("This session is being continued")  # the summary, not a prompt


def test_a_model_call_per_message_id_with_its_last_lines_usage():
    run, _ = read_one(claude_code, claude(1))
    steps = by_id(run)
    first = steps["msg_01A1"]
    # Anthropic's input_tokens leave the cache out: 3 + 1200 written + 0 read.
    assert (first.tokens_in, first.tokens_out, first.tokens_cache_write, first.tokens_cache_read) == (1203, 95, 1200, 0)
    assert (first.model, first.provider, first.tokens_reasoning) == ("claude-sonnet-4-5-20250929", "anthropic", None)
    assert first.extra["thinking"] == ["Read app.py first."] and first.output == "Let me look at app.py."
    assert steps["msg_01A2"].tokens_out == 61  # not the 30 of its first line
    assert [s.id for s in run.steps if s.kind == "llm"].count("msg_01A1") == 1


def test_tool_results_pair_by_tool_use_id_whatever_their_order():
    run, _ = read_one(claude_code, claude(1))
    steps = by_id(run)
    grep, bash = steps["toolu_grep1"], steps["toolu_bash1"]
    assert (grep.status, grep.output, grep.parent_id) == ("completed", "app.py:4:@app.route('/')", "msg_01A2")
    assert (bash.status, bash.error) == ("failed", "Exit code 1\nFAILED tests/test_app.py::test_index")
    assert orjson.loads(bash.input) == {"command": "pytest -q"}
    assert (grep.started_at, grep.ended_at) == ("2026-01-05T09:00:05.000Z", "2026-01-05T09:00:08.100Z")


def test_api_error_lines_are_retries_of_the_next_call_and_an_api_error_message_is_a_failed_call():
    run, _ = read_one(claude_code, claude(1))
    steps = by_id(run)
    retried = steps["msg_01A3"]
    assert retried.status == "completed" and retried.extra["retries"] == 2
    assert [(e["attempt"], e["status"], e["message"]) for e in retried.events] == [
        (1, 529, "Overloaded"),
        (2, 529, "Overloaded"),
    ]
    error = steps["c0ffee00-0000-4000-8000-000000000001"]
    assert (error.status, error.kind, error.model, error.tokens_in, error.tokens_out) == ("failed", "llm", None, 0, 0)
    assert error.error.startswith("API Error: 500") and error.extra["error"] == "unknown"
    assert [s.id for s in run.steps if s.failed] == ["toolu_bash1", "c0ffee00-0000-4000-8000-000000000001"]


def test_first_failure_and_tokens_under_the_convention(tmp_path):
    run, _ = read_one(claude_code, claude(1))
    assert first_failed_step(run.steps).id == "toolu_bash1"
    # Every step, the abandoned branch's billed call and the subagent included.
    assert totals(run) == (10155, 503, 6980, 3120, None)
    ran = [s for s in run.steps if s.status != "skipped" and s.tokens_in is not None]
    assert (sum(s.tokens_in for s in ran), sum(s.tokens_out for s in ran)) == (8729, 485)
    store = opened(claude(1))
    try:
        stored = store.get_run(MAIN)
        assert (stored.steps_tokens_in, stored.steps_tokens_out, stored.failed_steps) == (10155, 503, 2)
        assert store.first_failed_step(MAIN).id == "toolu_bash1"
    finally:
        store.close()


def test_subagent_file_is_a_subtree_under_the_task_call_its_meta_names():
    run, _ = read_one(claude_code, claude(1))
    steps = by_id(run)
    agent = steps["agent-a9f3c2e1b0d4c5e6f"]
    assert (agent.parent_id, agent.kind, agent.name) == ("toolu_task1", "agent", "general-purpose")
    assert agent.extra["agent_id"] == "a9f3c2e1b0d4c5e6f" and agent.extra["file"] == str(CLAUDE_SUBAGENT)
    assert agent.extra["description"] == "Write health tests"
    assert subtree(agent) == (2637, 190) and subtree(steps["toolu_task1"]) == (2637, 190)
    # The agent_progress lines mirror the subagent's file: read once, from the file.
    assert [s.id for s in run.steps].count("msg_01S1") == 1
    assert run.extra["line_types"]["progress"] == 3


def test_abandoned_fork_branch_is_skipped_and_badged_like_an_if_else():
    run, _ = read_one(claude_code, claude(1))
    steps = by_id(run)
    first_turn = steps["5b0f8c1e-1111-4000-8000-000000000001"]
    abandoned = steps["5b0f8c1e-1111-4000-8000-000000000020"]
    chosen = steps["5b0f8c1e-1111-4000-8000-000000000022"]
    assert first_turn.chosen_branch == "attempt 2"
    assert (abandoned.branch, abandoned.status, abandoned.extra["abandoned"]) == ("attempt 1", "skipped", True)
    assert steps["msg_01A5"].status == "skipped"
    assert (chosen.branch, chosen.status) == ("attempt 2", "completed")
    assert [s.id for s in run.steps if s.status == "skipped"] == [abandoned.id, "msg_01A5"]


def test_line_types_that_are_not_conversation_are_counted_and_unknown_ones_reported():
    run, problems = read_one(claude_code, claude(1))
    assert run.extra["line_types"] == {
        "permission-mode": 1,
        "file-history-snapshot": 1,
        "attachment": 1,
        "progress": 3,
        "system/turn_duration": 1,
        "queue-operation": 2,
        "mystery-record": 1,
        "ai-title": 1,
        "last-prompt": 1,
    }
    assert [(p.line, p.message) for p in problems] == [
        (32, "line type 'mystery-record' is not one tracetui knows: counted, not shown as a step")
    ]


def test_inline_sidechain_lines_nest_under_the_task_whose_prompt_started_them():
    run, problems = read_one(claude_code, claude(2))
    steps = by_id(run)
    agent = next(s for s in run.steps if s.kind == "agent")
    assert (agent.parent_id, agent.name, agent.input) == ("toolu_b_task", "Find usages", "Find all callers of load_cfg")
    assert subtree(agent) == (405, 35)
    assert [s.name for s in run.steps if s.parent_id == agent.id] == ["Find all callers of load_cfg"]
    assert steps["toolu_b_edit1"].error.startswith("<tool_use_error>String to replace not found")
    assert first_failed_step(run.steps).id == "toolu_b_edit1"
    assert totals(run) == (3172, 257, 2220, 930, None)
    assert problems == []


def test_flat_agent_file_nests_by_the_results_agent_id_and_a_cut_last_line_is_said_once():
    run, problems = read_one(claude_code, claude(3))
    agent = by_id(run)["agent-5e6f7a8b"]
    assert (agent.parent_id, agent.name, agent.extra["file"]) == ("toolu_c_task", "Explore", str(CLAUDE_FLAT_AGENT))
    assert totals(run) == (1462, 127, 700, 750, None)
    assert run.failed_steps == 0 and first_failed_step(run.steps) is None
    assert [s.name for s in run.steps if s.depth == 0] == ["Summarise the README", "Now list the endpoints"]
    assert len(problems) == 1 and problems[0].line == 6 and "the file ends mid-line" in problems[0].message


def test_subagent_known_only_from_agent_progress_lines_is_read_from_them():
    run, problems = read_one(claude_code, claude(4))
    steps = by_id(run)
    agent = steps["agent-b7c8d9e0f1a2b3c4d"]
    assert (agent.parent_id, agent.name, agent.extra["from"]) == ("toolu_e_task", "Bash", "agent_progress lines")
    assert first_failed_step(run.steps).id == "toolu_f_bash"
    assert steps["toolu_f_bash"].depth > agent.depth
    assert totals(run) == (1055, 73, 500, 540, None)
    assert problems == []


def test_folder_of_sessions_totals():
    runs = [read_one(claude_code, claude(n))[0] for n in (1, 2, 3, 4)]
    assert (sum(r.steps_tokens_in for r in runs), sum(r.steps_tokens_out for r in runs)) == (15844, 960)


def test_companions_are_the_subagent_files_of_a_main_session():
    def of(path):
        return claude_code.companions(sources.read_head(str(path)))

    assert of(claude(1)) == [str(CLAUDE_SUBAGENT), str(CLAUDE_SUBAGENT)[: -len(".jsonl")] + ".meta.json"]
    assert of(claude(3)) == [str(CLAUDE_FLAT_AGENT)]
    assert of(claude(2)) == [] and of(claude(4)) == []
    assert of(CLAUDE_SUBAGENT) == [] and of(CLAUDE_FLAT_AGENT) == []
    assert sources.companions(claude_code, sources.read_head(str(claude(2)))) == []


def test_subagent_files_opened_on_their_own_are_runs_of_their_own():
    run, problems = read_one(claude_code, CLAUDE_FLAT_AGENT)
    assert (run.id, run.session, run.metadata["parent_session"]) == ("5e6f7a8b", claude(3).stem, claude(3).stem)
    assert totals(run)[:2] == (607, 37) and problems == []
    nested, _ = read_one(claude_code, CLAUDE_SUBAGENT)
    assert nested.id == "a9f3c2e1b0d4c5e6f" and totals(nested)[:2] == (2637, 190)


def test_the_import_cache_is_keyed_on_the_subagent_files_too(tmp_path):
    project = tmp_path / "project"
    shutil.copytree(CLAUDE, project)
    session = str(project / claude(1).name)
    first = prepare(session)
    first.run_import()
    assert prepare(session).ready
    agent = project / MAIN / "subagents" / "agent-a9f3c2e1b0d4c5e6f.jsonl"
    agent.write_bytes(agent.read_bytes().replace(b'"output_tokens":30', b'"output_tokens":31'))
    os.utime(agent, ns=(1, 1))
    again = prepare(session)
    assert again.db_path != first.db_path and not again.ready
    again.run_import()
    store = again.connect()
    try:
        assert store.get_run(MAIN).steps_tokens_out == 504
    finally:
        store.close()


def test_a_line_of_another_shape_is_reported_by_number_and_the_rest_loads(tmp_path):
    def spoil(lines):
        lines[7] = b'["not", "a", "record"]\n'  # line 8, a hook's progress
        lines[12] = b'{"no_type": true}\n'  # line 13, the grep result
        return lines

    shutil.copytree(CLAUDE, tmp_path / "project")  # with the subagent's file
    session = tmp_path / "project" / claude(1).name
    run, problems = read_one(claude_code, copy_lines(session, session, spoil))
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [
        (8, "skipped"),
        (13, "skipped"),
        (32, "line type 'mystery-record' is not one tracetui knows"),
    ]
    steps = by_id(run)
    assert steps["toolu_grep1"].status == "running" and steps["toolu_grep1"].extra["result"] == "none recorded"
    assert steps["toolu_bash1"].failed and run.step_count == 23


def test_a_file_with_no_conversation_is_unusable(tmp_path):
    path = tmp_path / "summaries.jsonl"
    path.write_text('{"type":"summary","summary":"Old work","leafUuid":"u-1"}\n')
    module, head = sources.detect(str(path))
    assert module is claude_code
    with pytest.raises(UnusableInput, match="holds no conversation"):
        list(module.read(head, lambda p: None, sources.SourceFile(str(path))))


def test_progress_lines_stand_in_for_a_missing_subagent_file_and_are_never_counted_twice(tmp_path):
    alone = tmp_path / claude(1).name
    shutil.copy(claude(1), alone)
    run, _ = read_one(claude_code, alone)
    agent = by_id(run)["agent-a9f3c2e1b0d4c5e6f"]
    assert (agent.parent_id, agent.extra["from"]) == ("toolu_task1", "agent_progress lines")
    assert subtree(agent) == (810, 120)  # what the two progress lines carried: the prompt and msg_01S1
    with_file, _ = read_one(claude_code, claude(1))
    assert [s.id for s in with_file.steps].count("msg_01S1") == 1 and subtree(by_id(with_file)[agent.id]) == (2637, 190)
