"""A 100,000-character run id (or step name) is cut in the middle in headers, titles and list
cells, so the tree stays on screen; the detail pane still holds it whole."""

from __future__ import annotations

import os

from builders import opening, run, step, write_store
from textual.widgets import Static

from tracetui import display
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen

LONG_ID = "run-" + "x" * 100_000 + "-end"
LONG_NAME = "step-" + "n" * 50_000


def static_text(widget: Static, width: int = 120) -> str:
    from rich.console import Console

    console = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


async def test_a_huge_run_id_leaves_the_tree_on_screen(tmp_path):
    runs = [run("short", step("s")), run(LONG_ID, step("s1", name=LONG_NAME), agent="a" * 5000)]
    app = TraceApp(opening(write_store(tmp_path / "t.db", runs)), run_id=LONG_ID)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        header = screen.query_one("#run-header", Static)
        assert header.size.height <= 6  # was some 1,300 lines
        assert screen.step_tree.size.height >= 5  # the tree is not pushed off the screen
        assert "…" in static_text(header) and "-end" in static_text(header)
        await until(pilot, lambda: screen.detail.details is not None)
        summary = static_text(screen.query_one("#detail-summary", Static), width=80)
        assert LONG_ID in summary.replace("\n", "").replace(" ", "")  # whole, in the "run id" row
        await pilot.press("j")
        await until(pilot, lambda: screen.detail.step is not None and screen.detail.details is not None)
        summary = static_text(screen.query_one("#detail-summary", Static), width=80)
        assert display.clip(LONG_NAME) in summary and LONG_NAME in summary.replace("\n", "").replace(" ", "")
