"""The stats screen: opened from the run list over its filtered runs, tables and charts filled from SQL,
Enter on a row or a time bar narrowing the run list, literal text, snapshots at two sizes."""

from __future__ import annotations

import pytest
from builders import opening, run, step, write_store

from tracetui.store import RunFilter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.runs import RunsScreen
from tracetui.tui.screens.stats import StatsScreen, StatsTable

HOSTILE_AGENT = "[bold]x[/bold] \x1b[31m"


def llm(id, model, tin, tout, **fields):
    return step(id, kind="llm", model=model, tokens_in=tin, tokens_out=tout, **fields)


def tool(id, name, ms, **fields):
    return step(id, kind="tool", name=name, duration_ms=ms, **fields)


def stats_runs():
    return [
        run(
            "r1",
            llm("a", "gpt-4o-mini", 1200, 300, duration_ms=900.0),
            tool("b", "search", 400.0),
            agent="planner",
            started_at="2026-01-01T10:00:00.000Z",
            duration_ms=1500.0,
        ),
        run(
            "r2",
            llm("a", "claude-opus-4-7", 5000, 800, duration_ms=3000.0),
            tool("b", "fetch", 2500.0, status="failed", error="boom"),
            agent="coder",
            status="failed",
            started_at="2026-01-01T11:30:00.000Z",
            duration_ms=6000.0,
        ),
        run(
            "r3",
            llm("a", "acme-router-7b", 10, 1),
            agent="planner",
            started_at="2026-01-02T09:00:00.000Z",
            duration_ms=700.0,
            cost_usd=0.25,
        ),
        run(
            "r4",
            tool("b", "search", 150.0),
            agent=HOSTILE_AGENT,
            status="timeout",
            started_at="2026-01-03T08:00:00.000Z",
            duration_ms=40000.0,
        ),
    ]


def app_for(tmp_path) -> TraceApp:
    return TraceApp(opening(write_store(tmp_path / "stats.db", stats_runs())))


async def open_stats(pilot) -> StatsScreen:
    app = pilot.app
    await settle(pilot)
    await pilot.press("t")
    await until(pilot, lambda: isinstance(app.screen, StatsScreen) and app.screen.done)
    await settle(pilot)
    screen = app.screen
    assert isinstance(screen, StatsScreen)
    return screen


def cells(table: StatsTable) -> list[list[str]]:
    out = []
    for row in range(table.row_count):
        out.append([getattr(cell, "plain", "") for cell in table.get_row_at(row)])
    return out


async def test_t_opens_stats_of_the_listed_runs_with_every_section_filled(tmp_path):
    async with app_for(tmp_path).run_test(size=(160, 48)) as pilot:
        screen = await open_stats(pilot)
        assert screen.count == 4 and screen.total is not None and screen.total.failed == 2
        agents = cells(screen.query_one("#stats-agents", StatsTable))
        assert [row[0] for row in agents] == ["[bold]x[/bold] \\x1b[31m", "coder", "planner"]
        assert agents[2][1] == "2"  # planner: two runs
        models = cells(screen.query_one("#stats-models", StatsTable))
        assert [row[0] for row in models] == ["claude-opus-4-7", "gpt-4o-mini", "acme-router-7b"]
        assert models[0][7].startswith("≈$") and models[2][7] == "unpriced"
        tools = cells(screen.query_one("#stats-tools", StatsTable))
        assert [(row[0], row[1], row[2]) for row in tools] == [("fetch", "1", "1"), ("search", "2", "")]
        days = cells(screen.query_one("#stats-time", StatsTable))
        assert [row[0] for row in days] == ["2026-01-01", "2026-01-02", "2026-01-03"]
        latency = cells(screen.query_one("#stats-latency", StatsTable))
        assert any("◀ p50" in row[3] for row in latency) and any("◀ p95" in row[3] for row in latency)
        totals = str(screen.query_one("#stats-totals").render())
        assert "4 runs" in totals and "2 failed" in totals


async def test_enter_on_an_agent_row_filters_the_run_list_to_that_agent(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_stats(pilot)
        await pilot.press("j", "enter")  # the second row: coder
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await settle(pilot)
        assert app.runs_screen.run_list.flt == RunFilter(agent="coder")
        assert app.runs_screen.run_list.count == 1
        assert "agent: coder" in str(app.runs_screen.query_one("#summary").render())


async def test_enter_on_a_model_and_on_a_tool_narrows_by_them(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_stats(pilot)
        await pilot.press("tab", "j", "enter")  # Models, second row: gpt-4o-mini
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await settle(pilot)
        assert app.runs_screen.run_list.flt == RunFilter(model="gpt-4o-mini")
        assert app.runs_screen.run_list.current_run_id == "r1" and app.runs_screen.run_list.count == 1
        await open_stats(pilot)
        assert pilot.app.screen.count == 1  # the stats follow the list's filter
        await pilot.press("tab", "tab", "enter")  # Tools: search, within the model filter
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await settle(pilot)
        assert app.runs_screen.run_list.flt == RunFilter(model="gpt-4o-mini", tool="search")


async def test_enter_on_a_time_bar_filters_to_its_day_or_hour(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_stats(pilot)
        await pilot.press("shift+tab", "shift+tab")  # Over time
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await settle(pilot)
        day = RunFilter(since="2026-01-01T00:00:00.000Z", until="2026-01-02T00:00:00.000Z")
        assert app.runs_screen.run_list.flt == day and app.runs_screen.run_list.count == 2
        assert "time: 2026-01-01" in str(app.runs_screen.query_one("#summary").render())
        screen = await open_stats(pilot)
        await pilot.press("shift+tab", "shift+tab", "d")  # per hour, within that day
        hours = cells(screen.query_one("#stats-time", StatsTable))
        assert [row[0] for row in hours] == ["2026-01-01 10:00", "2026-01-01 11:00"]
        await pilot.press("j", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await settle(pilot)
        assert app.runs_screen.run_list.flt.since == "2026-01-01T11:00:00.000Z"
        assert app.runs_screen.run_list.current_run_id == "r2"


async def test_escape_goes_back_with_the_filter_unchanged(tmp_path):
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("F")  # status: failed
        await settle(pilot)
        screen = await open_stats(pilot)
        assert screen.count == 1 and "status: failed" in str(screen.query_one("#stats-title").render())
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        assert app.runs_screen.run_list.flt == RunFilter(status="failed")


async def _stats_loaded(pilot):
    """The stats screen as its worker left it, painted: every section in (the worker's state, `done`), no
    table still loading, and the same screen drawn twice running (a DataTable lays out the rows a second
    fill gave it when the app is idle, the footer shows the focused table's keys after a refresh: under
    load either may lag the worker's end, and was once caught half done)."""
    screen = await open_stats(pilot)
    await until(pilot, lambda: not any(table.loading for table in screen.query(StatsTable)))
    drawn: list[str] = []

    def steady() -> bool:
        drawn.append(pilot.app.export_screenshot())
        return len(drawn) >= 2 and drawn[-1] == drawn[-2]

    await until(pilot, steady)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
def test_snapshot_stats_screen(tmp_path, monkeypatch, snap_compare, size):
    monkeypatch.chdir(tmp_path)
    app = TraceApp(opening(write_store("snap.db", stats_runs())))
    assert snap_compare(app, terminal_size=size, run_before=_stats_loaded)


def test_snapshot_stats_over_time(tmp_path, monkeypatch, snap_compare):
    monkeypatch.chdir(tmp_path)
    app = TraceApp(opening(write_store("snap.db", stats_runs())))
    assert snap_compare(app, terminal_size=(120, 30), run_before=_stats_loaded, press=["shift+tab", "shift+tab"])
