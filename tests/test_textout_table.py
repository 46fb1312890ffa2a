"""`tracetui list`'s table is drawn line by line when it fits (textout.plain_table): exactly what rich's
Table draws, plain and with colours, and rich's Table itself when the rows must shrink."""

from __future__ import annotations

import io

import pytest
from builders import run, step
from rich.console import Console
from rich.table import Table

from tracetui import textout
from tracetui.model import finalize_run

RUNS = [
    finalize_run(
        run(
            "r-1",
            step("a", kind="llm", tokens_in=1200, tokens_out=30, cost_usd=0.25, status="failed", error="boom"),
            agent="planner",
            status="failed",
            started_at="2026-01-01T10:00:00.000Z",
            duration_ms=1234,
            error="tool exploded [/tool_call] \x1b[31mred",
        )
    ),
    finalize_run(
        run("模型-長い-id", agent="コーダー", status="completed", started_at="2026-01-01T11:00:00Z", credits=2.5)
    ),
    finalize_run(run("[bold]x[/bold]", status="running")),
]


def drawn(width: int, colours: bool, fast: bool) -> str:
    out = io.StringIO()
    console = Console(
        file=out,
        width=width,
        highlight=False,
        soft_wrap=False,
        emoji=False,
        force_terminal=colours,
        color_system="truecolor" if colours else None,
    )
    rows = [textout.run_cells(r) for r in RUNS]
    if fast:
        lines = textout.plain_table(textout.run_columns(), rows, width)
        assert lines is not None
        for line in lines:
            console.print(line)
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for name, justify in textout.run_columns():
            table.add_column(name, justify=justify, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        console.print(table)
    return out.getvalue()


@pytest.mark.parametrize("colours", [False, True])
def test_the_lines_are_what_rich_table_draws(colours):
    assert drawn(240, colours, fast=True) == drawn(240, colours, fast=False)


def test_rows_too_wide_for_the_terminal_are_left_to_rich_table(monkeypatch, capsys):
    rows = [textout.run_cells(r) for r in RUNS]
    assert textout.plain_table(textout.run_columns(), rows, 60) is None
    monkeypatch.setattr(textout, "console", lambda: Console(width=60, highlight=False, soft_wrap=False, emoji=False))
    monkeypatch.setattr(textout, "unstyled", lambda: False)  # a 60-column terminal
    textout.runs_table(RUNS)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 + len(RUNS) and all(len(line) <= 60 for line in lines)


def test_to_a_pipe_the_plain_lines_are_written_as_rich_would_write_them(monkeypatch, capsys):
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    assert textout.unstyled()  # capsys's stdout is no terminal
    textout.runs_table(RUNS)
    assert capsys.readouterr().out == drawn(textout.PIPE_WIDTH, colours=False, fast=False)


@pytest.mark.parametrize("variable", ["FORCE_COLOR", "TTY_COMPATIBLE"])
def test_a_pipe_asked_for_styles_gets_them_from_rich(monkeypatch, capsys, variable):
    monkeypatch.setenv(variable, "1")
    assert not textout.unstyled()
    textout.runs_table(RUNS)
    out = capsys.readouterr().out
    assert "\x1b[" in out and "r-1" in out
