"""The run list grouped by session (`b`), a session's runs under it (Enter), and `{`/`}` in the run view."""

from __future__ import annotations

from builders import SESSION_ROWS as ROWS
from builders import opening, write_agent_traces
from otel_sessions import otlp_with_sessions

from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen


def lines(app: TraceApp) -> list[str]:
    run_list = app.screen.query_one("#run-list")
    return [run_list.render_line(y).text for y in range(run_list.size.height)]


def summary(app: TraceApp) -> str:
    return str(app.screen.query_one("#summary").render())


async def test_b_groups_the_list_by_session_and_enter_shows_a_sessions_runs(tmp_path):
    app = TraceApp(opening(write_agent_traces(tmp_path / "a.db", ROWS)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        assert summary(app).startswith("3 sessions · ✗ 1 with a failed run")
        shown = lines(app)
        assert "session/run" in shown[0] and "dur/span" in shown[0]
        # newest first: the run without a session, then s1 (its worst run failed), then s2
        assert "r5" in shown[1] and "▸" not in shown[1]
        assert "✗ failed" in shown[2] and "▸ s1" in shown[2] and "3 runs" in shown[2] and "1 failed" in shown[2]
        assert "600→60" in shown[2] and "11m00s" in shown[2]
        assert "✓ completed" in shown[3] and "▸ s2" in shown[3] and "1 run " in shown[3]
        await pilot.press("j", "enter")
        await settle(pilot)
        shown = lines(app)
        assert "▾ s1" in shown[2]
        assert [line.split()[2] for line in shown[3:6]] == ["r3", "r2", "r1"]
        assert "▸ s2" in shown[6]
        await pilot.press("j", "j", "enter")  # a run of the session opens
        await settle(pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r2"
        await pilot.press("escape", "k", "k", "enter")  # back, up to the session: Enter hides its runs
        await settle(pilot)
        shown = lines(app)
        assert "▸ s1" in shown[2] and "▸ s2" in shown[3]
        await pilot.press("b")
        await settle(pilot)
        assert summary(app).startswith("5 runs") and "r5" in lines(app)[1]


async def test_grouped_order_follows_the_sort_and_survives_a_reload(tmp_path):
    app = TraceApp(opening(write_agent_traces(tmp_path / "a.db", ROWS)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunsScreen)
        await pilot.press("b", "s", "s")  # sort by tokens: s1 has the most
        await settle(pilot)
        assert screen.run_list.sort == "tokens" and "▸ s1" in lines(app)[1]
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("S")  # a new query keeps s1 open
        await settle(pilot)
        shown = lines(app)
        s1 = next(i for i, line in enumerate(shown) if "s1" in line)
        assert "▾ s1" in shown[s1] and "r1" in shown[s1 + 1]


async def test_otlp_conversations_and_sessions_group_in_the_viewer(tmp_path):
    app = TraceApp(opening(otlp_with_sessions(tmp_path / "spans.jsonl")))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        shown = "\n".join(lines(app))
        assert summary(app).startswith("4 sessions")
        assert "▸ conv-1" in shown and "▸ oi-session" in shown and "▸ conv-2" in shown
        assert shown.count("2 runs") == 2


async def test_braces_walk_the_runs_of_the_session_in_the_run_view(tmp_path):
    app = TraceApp(opening(write_agent_traces(tmp_path / "a.db", ROWS)), run_id="r2")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        header = str(app.screen.query_one("#run-header").render())
        assert "session s1 · run 2 of 3" in header
        await pilot.press("right_curly_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r3"
        await pilot.press("right_curly_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r3"
        assert any("No next run in this session." in str(n.message) for n in app._notifications)
        await pilot.press("left_curly_bracket", "left_curly_bracket")
        await settle(pilot)
        await pilot.press("left_curly_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r1"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen)  # one run view at a time: Esc is back at the list


FAILING = [
    {"id": "r0", "final_status": "error", "started_at": "2026-11-01T10:00:00Z"},
    {"id": "r1", "session_id": "s1", "final_status": "success", "started_at": "2026-11-01T09:00:00Z"},
    {"id": "r2", "session_id": "s1", "final_status": "error", "started_at": "2026-11-01T09:05:00Z"},
    {"id": "r3", "session_id": "s1", "final_status": "error", "started_at": "2026-11-01T09:10:00Z"},
    {"id": "r4", "session_id": "s2", "final_status": "error", "started_at": "2026-11-01T08:00:00Z"},
    {"id": "r5", "session_id": "s3", "final_status": "success", "started_at": "2026-11-01T07:00:00Z"},
]


async def test_brackets_in_the_grouped_list_open_a_collapsed_session_to_reach_its_failed_runs(tmp_path):
    app = TraceApp(opening(write_agent_traces(tmp_path / "a.db", FAILING)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        run_list = app.runs_screen.run_list
        assert [line.split()[2] for line in lines(app)[1:5]] == ["r0", "▸", "▸", "▸"]
        assert run_list.current_run_id == "r0"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert run_list.current_run_id == "r3" and "▾ s1" in lines(app)[2]  # expanded, on its newest failed run
        await pilot.press("right_square_bracket")
        assert run_list.current_run_id == "r2"  # the session's next failed run, already listed
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert run_list.current_run_id == "r4" and "▾ s2" in lines(app)[6]
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert run_list.current_run_id == "r4"  # s3 holds no failed run: it stays shut
        assert "▸ s3" in lines(app)[8]
        await pilot.press("left_square_bracket")
        assert run_list.current_run_id == "r2"  # back past s2's own row
        await pilot.press("k", "k", "enter")  # up to s1's row: Enter hides its runs
        await settle(pilot)
        assert run_list.session_at(run_list.cursor) is not None and "▸ s1" in lines(app)[2]
        await pilot.press("right_square_bracket")  # on a shut session holding a failure: into it
        await settle(pilot)
        assert run_list.current_run_id == "r3"
        await pilot.press("G", "left_square_bracket")  # from the last row (s3) back to s2's listed run
        await settle(pilot)
        assert run_list.current_run_id == "r4"


async def test_brackets_in_the_run_view_reach_failed_runs_of_collapsed_sessions(tmp_path):
    app = TraceApp(opening(write_agent_traces(tmp_path / "a.db", FAILING)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        await pilot.press("enter")  # r0, the run without a session
        await settle(pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r0"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r3"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r2"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r4"
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r2"
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, RunsScreen) and app.runs_screen.run_list.current_run_id == "r2"
        assert "▾ s1" in lines(app)[2] and "▾ s2" in lines(app)[6]


async def test_brackets_from_a_run_of_a_collapsed_session_opened_elsewhere_go_on_from_it(tmp_path):
    app = TraceApp(opening(write_agent_traces(tmp_path / "a.db", FAILING)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        app.open_run("r1")  # as the results of a search open it: its session s1 is collapsed in the list
        await settle(pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r1"
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r2"  # the failed run before r1 in s1 (newest first)
        app.open_run("r5")  # in s3, collapsed, after every failed run
        await settle(pilot)
        await pilot.press("left_square_bracket")
        await settle(pilot)
        assert app.screen.run_id == "r4"  # s2 opened on the way back
