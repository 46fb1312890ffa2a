"""Codex CLI rollouts, read from the fixture sessions written from the documented format (see its README)."""

from __future__ import annotations

import os
import shutil

from agents import (
    CODEX,
    CODEX_BARE,
    CODEX_CHILD,
    CODEX_FORK,
    CODEX_MAIN,
    by_id,
    copy_lines,
    read_one,
    shape,
    subtree,
    totals,
)
from frameworks import opened

from tracetui import sources
from tracetui.analysis import first_failed_step
from tracetui.loading import prepare
from tracetui.sources import codex

MAIN = "019b8a10-0000-7000-8000-000000000001"
CHILD = "019b8a10-0000-7000-8000-000000000003"


def test_both_layouts_are_detected_from_content_not_name(tmp_path):
    for path in (CODEX_MAIN, CODEX_BARE):
        renamed = tmp_path / "log.txt"
        shutil.copy(path, renamed)
        assert sources.detect(str(renamed))[0] is codex


def test_a_rollout_is_a_run_with_its_thread_project_and_git():
    run, _ = read_one(codex, CODEX_MAIN)
    assert (run.id, run.session, run.agent, run.status) == (MAIN, MAIN, "shop", "completed")
    assert run.metadata["title"] == "Add a /health endpoint [red]literal[/red]"
    assert run.metadata["git"] == {"commit_hash": "4f1c2e9", "branch": "main"}
    assert (run.metadata["cli_version"], run.metadata["model_provider"]) == ("0.98.0", "openai")
    assert run.output == "All tests pass."


def test_turns_model_calls_and_tool_calls():
    run, _ = read_one(codex, CODEX_MAIN)
    model, mini = "gpt-5.1-codex", "gpt-5.1-codex-mini"
    assert shape(run) == [
        (0, "other", "Add a /health endpoint [red]literal[/red]"),
        (1, "llm", model),
        (2, "tool", "shell_command"),
        (1, "llm", model),
        (2, "tool", "apply_patch"),
        (1, "llm", model),
        (2, "tool", "apply_patch"),
        (1, "llm", model),
        (2, "tool", "shell_command"),
        (2, "tool", "spawn_agent"),
        (3, "agent", "tester"),
        (4, "other", "Write tests for /health"),
        (5, "llm", mini),
        (6, "tool", "local_shell"),
        (5, "llm", mini),
        (6, "tool", "shell_command"),
        (5, "llm", mini),
        (1, "llm", model),
        (0, "other", "Fix the failing test"),
        (1, "llm", "error"),
        (0, "other", "compaction"),  # turn-3 had nothing but the compaction
        (0, "other", "Fix the failing test"),
        (1, "llm", model),
        (2, "tool", "shell_command"),
        (1, "llm", model),
    ]
    steps = by_id(run)
    assert steps["compaction-7"].output == "Summary: /health added to app.py; test_index fails."
    assert steps["call_1"].input == '{"command": "cat app.py"}' and steps["call_1"].duration_ms == 1500.0


def test_a_model_calls_usage_is_the_last_usage_of_the_token_count_that_advanced_the_total():
    run, _ = read_one(codex, CODEX_MAIN)
    calls = [s for s in run.steps if s.kind == "llm" and s.depth == 1 and s.raw_type == "response"]
    assert [(c.tokens_in, c.tokens_out, c.tokens_cache_read, c.tokens_reasoning) for c in calls] == [
        (5000, 300, 3000, 120),
        (5600, 250, 5000, 100),
        (6000, 200, 5500, 50),
        (6300, 90, 6000, 30),
        (6500, 60, 6200, 0),
        (3000, 70, 1000, 20),
        (3200, 40, 2900, 0),
    ]
    assert {(c.model, c.provider) for c in calls} == {("gpt-5.1-codex", "openai")}
    assert run.extra["record_types"]["token_count/repeated"] == 4


def test_tokens_under_the_convention_with_and_without_the_subagent():
    run, _ = read_one(codex, CODEX_MAIN)
    # OpenAI counts already hold cached input and reasoning: never added twice; totals never summed.
    assert totals(run) == (41900, 1130, 33500, None, 330)
    own = run.extra["thread_token_total"]
    assert (own["input_tokens"], own["output_tokens"]) == (35600, 1010)
    agent = by_id(run)[f"agent-{CHILD}"]
    assert subtree(agent) == (6300, 120)
    assert (run.steps_tokens_in - agent.sub_tokens_in, run.steps_tokens_out - agent.sub_tokens_out) == (35600, 1010)


def test_failures_from_end_events_error_events_and_output_text():
    run, _ = read_one(codex, CODEX_MAIN)
    steps = by_id(run)
    assert (steps["call_2"].status, steps["call_2"].error) == ("failed", "Failed to find expected lines in app.py")
    assert (steps["call_4"].status, steps["call_4"].error) == ("failed", "exit code 1\n1 failed, 3 passed")
    error = steps["error-6"]
    assert (error.status, error.error) == ("failed", "exceeded retry limit, last status: 502 Bad Gateway")
    assert [e["message"] for e in error.events] == ["Reconnecting... 1/5"]  # the stream_error retry before it
    child = steps[f"{CHILD}/call_s1"]  # no exec_command_end in the subagent's build: its output says so
    assert child.failed and child.error.startswith("Exit code: 1")
    assert [s.id for s in run.steps if s.failed] == ["call_2", "call_4", f"{CHILD}/call_s1", "error-6"]
    assert first_failed_step(run.steps).id == "call_2"


def test_first_failure_through_the_store():
    store = opened(CODEX_MAIN)
    try:
        assert store.first_failed_step(MAIN).id == "call_2"
        assert store.get_run(MAIN).steps_tokens_in == 41900
    finally:
        store.close()


def test_the_subagent_rollout_nests_under_the_spawn_call_that_names_it():
    run, _ = read_one(codex, CODEX_MAIN)
    steps = by_id(run)
    agent = steps[f"agent-{CHILD}"]
    assert (agent.parent_id, agent.extra["agent_role"], agent.extra["depth"]) == ("call_spawn", "worker", 1)
    assert agent.extra["file"] == str(CODEX_CHILD)
    assert steps["call_spawn"].extra["agent_id"] == CHILD
    assert codex.companions(sources.read_head(str(CODEX_MAIN))) == [str(CODEX_CHILD)]
    assert codex.companions(sources.read_head(str(CODEX_CHILD))) == []
    assert codex.companions(sources.read_head(str(CODEX_FORK))) == []


def test_a_subagent_rollout_opened_on_its_own_is_its_own_run():
    run, problems = read_one(codex, CODEX_CHILD)
    assert (run.id, run.session, run.metadata["parent_thread_id"]) == (CHILD, MAIN, MAIN)
    assert totals(run) == (6300, 120, 3900, None, 10)
    assert first_failed_step(run.steps).id == "call_s1" and problems == []


def test_a_fork_replays_its_parent_unseen_and_counts_only_its_own_tokens():
    run, problems = read_one(codex, CODEX_FORK)
    assert run.metadata["forked_from_id"] == MAIN
    assert shape(run) == [(0, "other", "Try a different approach: use a blueprint"), (1, "llm", "gpt-5.1-codex")]
    assert totals(run) == (7000, 80, 6500, None, 10)
    assert run.extra["record_types"]["replayed"] == 9 and problems == []


def test_the_2025_layout_without_envelope_timestamps_or_tokens():
    run, problems = read_one(codex, CODEX_BARE)
    assert (run.agent, run.metadata["project"], run.metadata["title"]) == ("shop", "/home/dev/shop", "List the TODOs")
    steps = by_id(run)
    assert (steps["call_a"].status, steps["call_a"].output) == ("completed", "app.py:3: # TODO add auth\n")
    assert steps["call_b"].error == "cat: TODO.md: No such file or directory\n"
    assert first_failed_step(run.steps).id == "call_b"
    assert totals(run) == (None, None, None, None, None)
    assert run.extra["record_types"]["state"] == 3 and problems == []


def test_unknown_record_types_are_listed_not_errors():
    run, problems = read_one(codex, CODEX_MAIN)
    assert [(p.line, p.message) for p in problems] == [
        (42, "record type 'thread_goal_updated' is not one tracetui knows: counted, not shown as a step")
    ]
    assert run.extra["record_types"]["world_state"] == 1


def test_a_line_of_another_shape_is_reported_and_a_cut_last_line_said_once(tmp_path):
    def spoil(lines):
        lines[27] = b'{"something": "else"}\n'  # line 28, the world_state
        lines[-1] = lines[-1][:40]  # the last line cut mid-way, no newline
        return lines

    run, problems = read_one(codex, copy_lines(CODEX_MAIN, tmp_path / "r.jsonl", spoil))
    assert [p.line for p in problems] == [28, 60, 42]
    assert "not a record of this Codex rollout's layout" in problems[0].message
    assert "the file ends mid-line" in problems[1].message
    assert run.step_count == 18  # no subagent: its rollout is not beside this copy
    assert first_failed_step(run.steps).id == "call_2"


def test_the_import_cache_is_keyed_on_the_subagent_rollouts_too(tmp_path):
    shutil.copytree(CODEX, tmp_path / "sessions")
    main = str(tmp_path / "sessions" / CODEX_MAIN.relative_to(CODEX))
    child = tmp_path / "sessions" / CODEX_CHILD.relative_to(CODEX)
    first = prepare(main)
    child.write_bytes(child.read_bytes() + b"\n")
    os.utime(child, ns=(1, 1))
    assert prepare(main).db_path != first.db_path


def test_rolled_back_turns_are_shown_skipped(tmp_path):
    rollback = b'{"timestamp":"2026-01-03T10:02:00.000Z","type":"event_msg","payload":{"type":"thread_rolled_back","num_turns":1}}\n'
    run, _ = read_one(codex, copy_lines(CODEX_MAIN, tmp_path / "r.jsonl", lambda lines: [*lines, rollback]))
    undone = by_id(run)["turn-4"]
    assert (undone.status, undone.branch, undone.extra["rolled_back"]) == ("skipped", "rolled back", True)
    assert {s.status for s in run.steps if s.parent_id == "turn-4"} == {"skipped"}
    assert by_id(run)["turn-1"].status == "completed"


def test_subagents_are_looked_for_among_rollouts_begun_while_the_parent_was_written(tmp_path):
    day = tmp_path / "sessions" / "2026" / "01" / "03"
    day.mkdir(parents=True)
    main = day / CODEX_MAIN.name
    shutil.copy(CODEX_MAIN, main)
    earlier = day / CODEX_CHILD.name.replace("T10-00-13", "T09-59-59")  # named before its parent began
    shutil.copy(CODEX_CHILD, earlier)
    assert codex.companions(sources.read_head(str(main))) == []
    later = day / CODEX_CHILD.name
    earlier.rename(later)
    assert codex.companions(sources.read_head(str(main))) == [str(later)]
