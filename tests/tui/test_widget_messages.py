"""The run list and step tree need no TraceApp: they are handed a store factory and post what the
user asked for as messages (tui/messages.py), which whoever hosts them decides about."""

from __future__ import annotations

from builders import opening, run, step, write_store
from textual.app import App, ComposeResult

from tracetui.tui.messages import CompareRuns, OpenRun, RunListLoaded, RunMarked, StepTreeReady
from tracetui.tui.pilot import settle, until
from tracetui.tui.widgets.run_list import RunList
from tracetui.tui.widgets.step_tree import StepTree


def store_path(tmp_path) -> str:
    return write_store(
        tmp_path / "t.db",
        [
            run("old", step("a"), status="completed", started_at="2026-01-01T10:00:00.000Z"),
            run("new", step("b", status="failed"), status="failed", started_at="2026-01-01T11:00:00.000Z"),
        ],
    )


class Host(App):
    """A bare app hosting one widget and keeping every message the widget sent up."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget
        self.received: list[object] = []

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_open_run(self, message: OpenRun) -> None:
        self.received.append(message)

    def on_compare_runs(self, message: CompareRuns) -> None:
        self.received.append(message)

    def on_run_list_loaded(self, message: RunListLoaded) -> None:
        self.received.append(message)

    def on_run_marked(self, message: RunMarked) -> None:
        self.received.append(message)

    def on_step_tree_ready(self, message: StepTreeReady) -> None:
        self.received.append(message)


async def test_the_run_list_reports_its_counts_and_posts_open_and_compare_intents(tmp_path):
    host = Host(RunList(opening(store_path(tmp_path)).connect))
    async with host.run_test(size=(120, 20)) as pilot:
        await until(pilot, lambda: any(isinstance(m, RunListLoaded) and m.complete for m in host.received))
        loaded = [m for m in host.received if isinstance(m, RunListLoaded)]
        assert (loaded[-1].count, loaded[-1].failed_count) == (2, 1)
        host.widget.focus()
        await pilot.press("enter", "space", "j", "c")
        await settle(pilot)
        intents = [m for m in host.received if isinstance(m, OpenRun | RunMarked | CompareRuns)]
        assert intents == [OpenRun("new"), RunMarked("new"), CompareRuns("new", "old")]


async def test_the_step_tree_says_when_its_run_is_shown(tmp_path):
    host = Host(StepTree("new", opening(store_path(tmp_path)).connect))
    async with host.run_test(size=(120, 20)) as pilot:
        await until(pilot, lambda: any(isinstance(m, StepTreeReady) for m in host.received))
        [ready] = [m for m in host.received if isinstance(m, StepTreeReady)]
        assert ready.run.id == "new" and list(host.widget.nodes) == ["b"]
