"""Gemini CLI chats, read from the fixture chats written from the documented format (see its README)."""

from __future__ import annotations

import shutil

import orjson
from agents import GEMINI_JSON, GEMINI_JSONL, by_id, copy_lines, read_one, shape, totals
from frameworks import opened

from tracetui import sources
from tracetui.analysis import first_failed_step
from tracetui.sources import gemini_cli

FIRST = "3f2a9c1d-0000-4000-8000-000000000001"
SECOND = "7c1e2b3a-0000-4000-8000-000000000002"


def test_both_layouts_and_a_one_line_json_are_detected_from_content(tmp_path):
    for path in (GEMINI_JSON, GEMINI_JSONL):
        renamed = tmp_path / "chat.txt"
        shutil.copy(path, renamed)
        assert sources.detect(str(renamed))[0] is gemini_cli
    compact = tmp_path / "compact.json"
    compact.write_bytes(orjson.dumps(orjson.loads(GEMINI_JSON.read_bytes())))
    assert sources.detect(str(compact))[0] is gemini_cli
    assert totals(read_one(gemini_cli, compact)[0])[:2] == (12900, 460)


def test_the_json_chat_turns_model_calls_tools_and_messages():
    run, problems = read_one(gemini_cli, GEMINI_JSON)
    assert (run.id, run.session, run.metadata["title"]) == (FIRST, FIRST, "Explain app.py and run the tests")
    assert shape(run) == [
        (0, "other", "Explain app.py"),
        (1, "llm", "gemini-2.5-pro"),
        (2, "tool", "read_file"),
        (1, "llm", "gemini-2.5-pro"),
        (0, "other", "Run the tests"),
        (1, "llm", "gemini-2.5-pro"),
        (2, "tool", "run_shell_command"),
        (1, "llm", "error"),
        (1, "other", "info"),
    ]
    steps = by_id(run)
    assert (steps["read_file-1-a"].output, steps["g1-m3"].output) == (
        "from flask import Flask",
        "app.py creates a Flask app with one route.",
    )
    assert (steps["g1-m7"].status, steps["g1-m7"].output) == ("completed", "Switched to fallback model.")
    assert problems == []


def test_failed_tool_calls_and_error_messages_and_the_first_failure():
    run, _ = read_one(gemini_cli, GEMINI_JSON)
    steps = by_id(run)
    assert steps["run_shell_command-2-b"].error == "Command exited with code 1: 1 failed"
    assert steps["g1-m6"].error.startswith("[API Error: You exceeded your current quota")
    assert [s.id for s in run.steps if s.failed] == ["run_shell_command-2-b", "g1-m6"]
    assert first_failed_step(run.steps).id == "run_shell_command-2-b"
    assert (run.status, run.error) == ("failed", steps["g1-m6"].error)  # the chat ended on that error
    store = opened(GEMINI_JSON)
    try:
        assert store.first_failed_step(FIRST).id == "run_shell_command-2-b"
    finally:
        store.close()


def test_tokens_add_thoughts_to_output_and_tool_prompt_to_input():
    run, _ = read_one(gemini_cli, GEMINI_JSON)
    call = by_id(run)["g1-m2"]
    assert (call.tokens_in, call.tokens_out, call.tokens_cache_read, call.tokens_reasoning) == (4000, 170, 1000, 120)
    assert (call.model, call.provider) == ("gemini-2.5-pro", "google")
    assert totals(run) == (12900, 460, 8000, None, 180)
    second, _ = read_one(gemini_cli, GEMINI_JSONL)
    last = by_id(second)["g2-m8"]
    assert (last.tokens_in, last.extra["tool_use_prompt_tokens"]) == (3650, 150)
    assert totals(second) == (13150, 255, 9300, None, 65)


def test_jsonl_last_copy_wins_in_its_first_place_and_a_rewind_drops_what_follows():
    run, problems = read_one(gemini_cli, GEMINI_JSONL)
    assert (run.id, run.metadata["title"], run.metadata["kind"]) == (SECOND, "Add a status endpoint", "main")
    assert [s.id for s in run.steps if s.depth < 2] == ["g2-m1", "g2-m2", "g2-m3", "g2-m6", "g2-m7", "g2-m8"]
    steps = by_id(run)
    assert (steps["write_file-1-c"].status, steps["g2-m2"].tokens_in) == ("completed", 3000)
    assert steps["replace-2-d"].error == "Failed to edit, 0 occurrences found for old_string"
    assert first_failed_step(run.steps).id == "replace-2-d"
    assert run.extra == {"rewound_messages": 2} and problems == []
    assert steps["g2-m1"].name == "Add a health check [b]x[/b]"


def test_a_set_with_messages_replaces_them_and_an_unknown_rewind_drops_all(tmp_path):
    def replace(lines):
        message = orjson.loads(lines[1])
        return [*lines, orjson.dumps({"$set": {"messages": [message]}}) + b"\n"]

    run, _ = read_one(gemini_cli, copy_lines(GEMINI_JSONL, tmp_path / "set.jsonl", replace))
    assert [s.id for s in run.steps] == ["g2-m1"]
    run, _ = read_one(
        gemini_cli, copy_lines(GEMINI_JSONL, tmp_path / "rw.jsonl", lambda ls: [*ls, b'{"$rewindTo": "nope"}\n'])
    )
    assert run.steps == [] and run.extra["rewound_messages"] == 2 + 6


def test_a_cut_chat_loads_what_came_before_and_says_so_once(tmp_path):
    run, problems = read_one(
        gemini_cli, copy_lines(GEMINI_JSONL, tmp_path / "cut.jsonl", lambda ls: [*ls[:19], ls[20][:30]])
    )
    assert [s.id for s in run.steps if s.depth == 0] == ["g2-m1", "g2-m6"]
    assert len(problems) == 1 and problems[0].line == 20 and "the file ends mid-line" in problems[0].message
    cut = tmp_path / "cut.json"
    cut.write_bytes(GEMINI_JSON.read_bytes()[:2600])
    run, problems = read_one(gemini_cli, cut)
    assert run.id == FIRST and [s.id for s in run.steps] == ["g1-m1", "g1-m2", "read_file-1-a", "g1-m3", "g1-m4"]
    assert len(problems) == 1 and "breaks off" in problems[0].message


def test_lines_of_another_shape_and_unknown_message_types_are_reported(tmp_path):
    def spoil(lines):
        lines[2] = b'{"neither": 1}\n'  # line 3, a $set
        lines[9] = lines[9].replace(b'"type":"gemini"', b'"type":"hologram"')  # line 10, g2-m3
        return lines

    run, problems = read_one(gemini_cli, copy_lines(GEMINI_JSONL, tmp_path / "odd.jsonl", spoil))
    assert [(p.line, p.message) for p in problems] == [
        (3, "skipped: neither a message (no string id), $set nor $rewindTo"),
        (10, "message type 'hologram' is not one tracetui knows: counted, not shown as a step"),
    ]
    assert "g2-m3" not in by_id(run) and run.extra["message_types"] == {"hologram": 1}
