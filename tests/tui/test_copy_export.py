"""`y` copies what is focused, `Y` the step or run as Markdown, `x` exports to a new file.

What reaches the clipboard is recorded on both paths: Textual's OSC 52 copy (App.clipboard holds
what it wrote to the terminal) and the system clipboard tool, played by a real small program on
PATH that writes its stdin and arguments to files.
"""

from __future__ import annotations

import json
import os
import sys

import pytest
from builders import opening, run, step, write_store
from markdown_it import MarkdownIt
from textual.widgets._collapsible import CollapsibleTitle

from tracetui import display, share
from tracetui.payload import make_payload
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.export import ExportScreen
from tracetui.tui.screens.run import RunScreen

RUN_ID = "run [b]1[/b]"
ERROR = "\x1b[31mboom\x1b[0m [/tool_call] ```"
INPUT = "```\n[@click=app.quit]quit[/]\n```"


def the_run():
    return run(
        RUN_ID,
        step("plan", kind="llm", input=INPUT, output='{"answer": 42}'),
        step("tool-1", "plan", name="call [red]tool", kind="tool", status="failed", error=ERROR),
        step("after", status="skipped"),
        agent="a",
        status="failed",
        started_at="2026-01-01T10:00:00.000Z",
    )


@pytest.fixture
def db(tmp_path):
    return write_store(tmp_path / "t.db", [the_run()])


@pytest.fixture
def no_tool(tmp_path, monkeypatch):
    """No clipboard tool: only OSC 52."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)


def fake_tool(tmp_path, monkeypatch, name: str, *, status: int = 0):
    """A real program called `name` on PATH that records its stdin and arguments (and exits `status`)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    tool = bin_dir / name
    tool.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "out = os.environ['CLIP_OUT']\n"
        "open(out, 'wb').write(sys.stdin.buffer.read())\n"
        "open(out + '.argv', 'w').write(json.dumps(sys.argv[1:]))\n"
        f"sys.exit({status})\n"
    )
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("CLIP_OUT", str(tmp_path / "clip.out"))
    return tmp_path / "clip.out"


async def toast(pilot):
    """The notification the last key brought (then cleared: toasts expire on their own after a while)."""
    app = pilot.app
    await until(pilot, lambda: bool(list(app._notifications)))
    (shown,) = list(app._notifications)
    app.clear_notifications()
    assert not shown.markup  # data in it is shown literally
    return shown


async def opened(pilot) -> RunScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.run is not None)
    return pilot.app.screen


async def on_step(pilot, step_id: str) -> RunScreen:
    screen = await opened(pilot)
    screen.step_tree.reveal(step_id)
    await until(pilot, lambda: (s := screen.step_tree.step_at_cursor()) is not None and s.id == step_id)
    await until(pilot, lambda: screen.detail.details is not None and screen.detail.step.id == step_id)
    return screen


def document(db, step_id=None, fmt="markdown") -> str:
    store = opening(db).connect()
    try:
        return share.document(store, RUN_ID, step_id, fmt=fmt)
    finally:
        store.close()


async def test_y_in_the_tree_copies_the_step_id_or_the_run_id(db, no_tool):
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("y")
        shown = await toast(pilot)
        assert app.clipboard == RUN_ID
        assert (
            shown.message
            == f"Copied the run id ({len(RUN_ID)} B, 1 line) to the clipboard through the terminal (OSC 52)."
        )
        await on_step(pilot, "tool-1")
        await pilot.press("y")
        shown = await toast(pilot)
        assert app.clipboard == "tool-1"
        assert shown.message.startswith("Copied the id of step call [red]tool (6 B, 1 line)")


async def test_y_in_the_detail_copies_the_error_or_the_section_whose_title_is_focused(db, no_tool):
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await on_step(pilot, "tool-1")
        await pilot.press("tab")
        assert app.focused is screen.detail
        await pilot.press("y")
        shown = await toast(pilot)
        assert app.clipboard == make_payload(ERROR).text == display.safe(ERROR)  # escapes made visible
        assert "\x1b" not in app.clipboard and shown.message.startswith("Copied the error of step call [red]tool (")

        screen = await on_step(pilot, "plan")
        screen.detail.query_one("#detail-output CollapsibleTitle", CollapsibleTitle).focus()
        await pilot.press("y")
        shown = await toast(pilot)
        assert app.clipboard == '{\n  "answer": 42\n}'
        screen.detail.query_one("#detail-input CollapsibleTitle", CollapsibleTitle).focus()
        await pilot.press("y")
        shown = await toast(pilot)
        assert app.clipboard == INPUT and shown.message.startswith("Copied the input of step plan (")


async def test_shift_y_copies_the_step_or_the_run_as_markdown(db, no_tool):
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("Y")
        shown = await toast(pilot)
        assert app.clipboard == document(db)
        assert shown.message.startswith(f"Copied the run {RUN_ID} as Markdown (")
        await on_step(pilot, "plan")
        await pilot.press("Y")
        shown = await toast(pilot)
        assert app.clipboard == document(db, "plan")
        assert shown.message.startswith("Copied step plan and the 1 step under it as Markdown (")
        fences = [t.content for t in MarkdownIt("commonmark").parse(app.clipboard) if t.type == "fence"]
        assert INPUT + "\n" in fences and display.safe(ERROR) + "\n" in fences


async def test_the_clipboard_tool_gets_the_text_on_stdin_as_well(db, tmp_path, monkeypatch):
    out = fake_tool(tmp_path, monkeypatch, "pbcopy")
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot, "plan")
        await pilot.press("Y")
        shown = await toast(pilot)
        assert out.read_text() == app.clipboard == document(db, "plan")
        assert shown.message.endswith("to the clipboard (OSC 52 and pbcopy).")


async def test_on_x11_xclip_is_asked_for_the_clipboard_selection(db, tmp_path, monkeypatch):
    out = fake_tool(tmp_path, monkeypatch, "xclip")
    monkeypatch.setenv("DISPLAY", ":0")
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("y")
        shown = await toast(pilot)
        assert out.read_text() == RUN_ID and shown.message.endswith("(OSC 52 and xclip).")
        assert json.loads((tmp_path / "clip.out.argv").read_text()) == ["-selection", "clipboard"]


async def test_a_failing_clipboard_tool_is_reported_and_osc_52_still_copies(db, tmp_path, monkeypatch):
    fake_tool(tmp_path, monkeypatch, "pbcopy", status=3)
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("y")
        shown = await toast(pilot)
        assert app.clipboard == RUN_ID
        assert shown.message.endswith("through the terminal (OSC 52) only: pbcopy failed (exit status 3).")
        assert shown.severity == "warning"


async def test_x_exports_to_a_new_file_never_overwriting_one(db, tmp_path, monkeypatch, no_tool):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    monkeypatch.chdir(out_dir)
    stem = share.file_stem(RUN_ID, "plan")
    assert stem == "tracetui-run_b_1_b-plan"
    (out_dir / f"{stem}.md").write_text("mine")
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot, "plan")
        await pilot.press("x")
        await until(pilot, lambda: isinstance(app.screen, ExportScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert sorted(os.listdir(out_dir)) == [f"{stem}.md"]

        await pilot.press("x", "m")
        shown = await toast(pilot)
        assert (out_dir / f"{stem}.md").read_text() == "mine"
        assert (out_dir / f"{stem}-2.md").read_text() == document(db, "plan")
        assert shown.message.startswith(f"Exported step plan and the 1 step under it as Markdown to ./{stem}-2.md (")

        await pilot.press("x", "j")
        shown = await toast(pilot)
        exported = json.loads((out_dir / f"{stem}.json").read_text())
        assert exported["subtree_of"] == "plan" and exported["steps"][0]["children"][0]["id"] == "tool-1"

        await pilot.press("g", "x", "j")  # the top row: the whole run
        shown = await toast(pilot)
        whole = json.loads((out_dir / "tracetui-run_b_1_b.json").read_text())
        assert whole["id"] == RUN_ID and [s["id"] for s in whole["steps"]] == ["plan", "after"]


async def test_an_export_that_cannot_be_written_is_reported(db, tmp_path, monkeypatch, no_tool):
    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()  # the current directory no longer exists: nothing can be written there
    app = TraceApp(opening(db), run_id=RUN_ID)
    async with app.run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("x", "m")
        shown = await toast(pilot)
        assert shown.message.startswith(f"Cannot export the run {RUN_ID}: [Errno 2]")
        assert shown.severity == "error"


@pytest.mark.parametrize(
    ("env", "tools", "expected"),
    [
        ({}, ["wl-copy", "xclip", "xsel", "pbcopy"], ["pbcopy"]),
        ({"DISPLAY": ":0"}, ["xclip", "xsel", "pbcopy"], ["xclip", "-selection", "clipboard"]),
        ({"DISPLAY": ":0"}, ["xsel"], ["xsel", "--clipboard", "--input"]),
        ({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"}, ["wl-copy", "xclip"], ["wl-copy"]),
        ({"WAYLAND_DISPLAY": "wayland-0"}, ["xclip"], None),
        ({"DISPLAY": ":0"}, [], None),
    ],
)
def test_the_clipboard_tool_is_the_first_installed_that_can_reach_a_display(tmp_path, env, tools, expected):
    from tracetui.tui.clipboard import clipboard_tool

    for name in tools:
        tool = tmp_path / name
        tool.write_text("#!/bin/sh\n")
        tool.chmod(0o755)
    found = clipboard_tool({**env, "PATH": str(tmp_path)})
    if expected is None:
        assert found is None
    else:
        assert found == [str(tmp_path / expected[0]), *expected[1:]]
