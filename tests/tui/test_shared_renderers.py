"""The viewer draws status, branches, flags and the run header with the renderers the CLI uses."""

import io

from builders import run, step, write_jsonl
from click.testing import CliRunner
from rich.console import Console
from rich.text import Text

from tracetui import present
from tracetui.cli import main
from tracetui.model import finalize_run
from tracetui.textout import step_segments
from tracetui.tui.screens.run import run_header
from tracetui.tui.widgets.detail import run_summary, step_summary
from tracetui.tui.widgets.step_row import badges

HOSTILE = "[bold]x[/] [@click=app.quit]q[/]\x1b[2J"
HOSTILE_SHOWN = "[bold]x[/] [@click=app.quit]q[/]\\x1b[2J"


def pieces(text: Text) -> list[tuple[str, str]]:
    """(text, style) of every span of a Text."""
    return [(text.plain[s.start : s.end], str(s.style)) for s in text.spans]


def rendered(renderable) -> str:
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_the_chosen_branch_badge_is_the_same_in_cli_text_and_the_viewer_row():
    for chosen in ("then", "no match"):
        s = step("gate", kind="control", chosen_branch=chosen)
        badge = present.chosen_badge(s)
        assert badge in step_segments(s)
        assert badge in pieces(badges(s))


def test_flags_and_status_badges_are_the_same_in_cli_text_and_the_viewer_row():
    s = step("lost", status="failed", flags=["orphan", HOSTILE])
    flags = present.flags_badge(s.flags)
    status = ("✗ failed", present.STATUS_STYLE["failed"])
    assert flags == (f"⚑ orphan,{HOSTILE_SHOWN}", present.STYLE["flag"])
    assert flags in step_segments(s) and flags in pieces(badges(s))
    assert status in step_segments(s) and status in pieces(badges(s))


def test_the_viewer_run_header_starts_with_the_line_tracetui_show_prints(tmp_path):
    r = run(HOSTILE, step("a", credits=1.0), agent=HOSTILE, started_at="2026-01-01T10:00:00.000Z", credits=2.0)
    path = write_jsonl(tmp_path / "runs.jsonl", [r])
    shown = CliRunner().invoke(main, ["show", path, HOSTILE]).stdout.splitlines()
    r = finalize_run(r)
    header = run_header(r)
    first, second = header.plain.split("\n")
    assert shown[0] == present.run_header(r).plain
    assert first == shown[0] + "  1 step, 0 failed"
    assert HOSTILE_SHOWN in first and "\x1b" not in header.plain
    assert second.startswith("tokens -  credits 2  cost -  ⚠ credits mismatch: run reports 2, steps sum to 1")
    assert second.endswith("⚑ total_mismatch")
    assert "⚠ credits mismatch: run reports 2, steps sum to 1" in shown


def test_the_detail_pane_shows_branches_flags_and_counts_with_the_shared_renderers():
    r = finalize_run(run("r", step("gate", kind="control", chosen_branch="no match", branch=HOSTILE, flags=["cycle"])))
    text = rendered(step_summary(r, r.steps[0]))
    assert "chosen branch  no match" in text
    assert f"in branch      {HOSTILE_SHOWN}" in text
    assert "flags          ⚑ cycle" in text
    assert "steps     1 step, 0 failed" in rendered(run_summary(r))


def test_the_model_and_token_parts_read_the_same_in_cli_text_and_the_viewer():
    call = step("call", kind="llm", model=HOSTILE, provider="anthropic", tokens_in=1234, tokens_out=56)
    call.tokens_cache_read, call.tokens_cache_write, call.tokens_reasoning = 1000, 0, 20
    named = step("gpt-4o-mini", kind="llm", model="gpt-4o-mini")
    r = finalize_run(run("r", call, named))
    badge = present.model_badge(r.steps[0])
    assert badge == (HOSTILE_SHOWN, present.STYLE["model"])
    assert badge in step_segments(r.steps[0]) and HOSTILE_SHOWN in badges(r.steps[0]).plain
    assert present.model_badge(r.steps[1]) is None  # the name says it already
    detail = rendered(step_summary(r, r.steps[0]))
    lines = [line.rstrip() for line in detail.splitlines()]
    assert f"model     {HOSTILE_SHOWN}" in lines and "provider  anthropic" in lines
    parts = [line.split() for line in lines[lines.index(next(x for x in lines if x.startswith("tokens out"))) + 1 :]]
    assert parts[:3] == [
        ["cache", "read", "1000", "1000", "1000"],
        ["cache", "write", "0", "0", "0"],
        ["reasoning", "20", "20", "20"],
    ]
    assert "reasoning" in detail and "  reasoning" in rendered(run_summary(r))
    totals = present.run_totals(r).plain
    assert totals.startswith("tokens in 1234 (cache read 1000 · write 0) · out 56 (reasoning 20)")
    assert "(cache" not in rendered(step_summary(r, r.steps[1])).split("tokens in")[0]


def test_show_prints_the_model_on_model_calls_and_the_token_parts_in_its_totals(tmp_path):
    call = step("call", kind="llm", model="claude-sonnet-4-5", tokens_in=1234, tokens_out=56)
    call.tokens_cache_read, call.tokens_reasoning = 1000, 20
    src = write_jsonl(tmp_path / "runs.jsonl", [run("r", call)])
    shown = CliRunner().invoke(main, ["show", src, "r", "--no-cache"]).stdout
    assert "✓ call  [llm]  claude-sonnet-4-5" in shown
    assert "tokens in 1234 (cache read 1000) · out 56 (reasoning 20)" in shown
