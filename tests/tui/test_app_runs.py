"""The viewer's shell: opening each source kind, the run list (sort, filter, search, failed-run jumps,
marks), import progress, empty and error states, warnings, help, the command palette and `tracetui open`."""

from __future__ import annotations

import gc
import html
import os
import threading

import pytest
from builders import opening, run, step, write_agent_traces, write_jsonl, write_store
from click.testing import CliRunner
from textual.containers import VerticalScroll

from tracetui import startup_gc
from tracetui.cli import main
from tracetui.errors import UnusableInput
from tracetui.first_page import FirstPage
from tracetui.loading import prepare
from tracetui.model import finalize_run
from tracetui.store import RunFilter, StoreWriter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle as pilot_settle
from tracetui.tui.pilot import shown_text, until
from tracetui.tui.screens.error import ErrorScreen, ProblemsScreen
from tracetui.tui.screens.help import SECTIONS, HelpScreen, section_bindings
from tracetui.tui.screens.runs import RunsScreen
from tracetui.tui.widgets.run_list import RunList

HOSTILE_ID = "run-[bold]x[/bold]"
HOSTILE_AGENT = "[/tool_call]"
HOSTILE_ERROR = "[@click=app.quit]x[/] \x1b[31mred\x1b]0;pwned\x07"


def sample_runs():
    return [
        run(
            "r1",
            step("a", kind="llm", tokens_in=10, tokens_out=5),
            agent="planner",
            status="completed",
            started_at="2026-01-01T10:00:00.000Z",
            duration_ms=1000,
            credits=1.0,
        ),
        run(
            "r2",
            step("a", kind="tool", status="failed", error="boom"),
            agent="coder",
            status="failed",
            started_at="2026-01-01T11:00:00.000Z",
            duration_ms=5000,
            error="tool exploded: needle in stack",
        ),
        run("r3", agent="planner", status="completed", started_at="2026-01-01T12:00:00.000Z", duration_ms=200),
        run(
            "r4",
            agent="coder",
            status="timeout",
            started_at="2026-01-01T13:00:00.000Z",
            duration_ms=30000,
            error="timed out",
        ),
        run("r5", agent="reviewer", status="running", started_at="2026-01-01T14:00:00.000Z", duration_ms=50),
    ]


def native(tmp_path, runs=None) -> str:
    return write_store(tmp_path / "traces.db", sample_runs() if runs is None else runs)


async def settle(app: TraceApp, pilot) -> None:
    await pilot_settle(pilot)


def run_list(app: TraceApp) -> RunList:
    return app.runs_screen.run_list


def rows(app: TraceApp) -> list[str]:
    """The run list as drawn on screen, one string per line (header first)."""
    rl = run_list(app)
    return ["".join(seg.text for seg in rl.render_line(y)) for y in range(rl.size.height)]


def ids_in_order(app: TraceApp) -> list[str]:
    rl = run_list(app)
    return [rl.id_at(i) for i in range(rl.count)]


def screen_text(app: TraceApp) -> str:
    """The screen's text (from the SVG screenshot: entities decoded, non-breaking spaces made plain)."""
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


# -- opening each source kind ---------------------------------------------------------------------
async def test_opens_a_native_store_with_every_run_newest_first(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen)
        assert ids_in_order(app) == ["r5", "r4", "r3", "r2", "r1"]
        lines = rows(app)
        assert "status" in lines[0] and "run id" in lines[0] and "started (UTC)▼" in lines[0]
        assert "✗ failed" in lines[4] and "r2" in lines[4] and "tool exploded" in lines[4]
        assert "⏱ timeout" in lines[2]
        summary = str(app.runs_screen.query_one("#summary").render())
        assert "5 runs" in summary and "2 failed" in summary


async def test_the_summary_says_1_run_not_1_runs(tmp_path):
    app = TraceApp(opening(native(tmp_path, sample_runs()[:1])))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        summary = str(app.runs_screen.query_one("#summary").render())
        assert summary.startswith("1 run · ✗ 0 failed"), summary


async def test_opens_an_agent_traces_database_in_place(tmp_path):
    path = write_agent_traces(
        tmp_path / "agent.db",
        [
            {
                "id": "t1",
                "agent_id": "bot",
                "started_at": "2026-01-01T10:00:00.000Z",
                "final_status": "completed",
                "tool_calls": [{"toolName": "search", "durationMs": 5, "error": None, "timestamp": 1767261600000}],
            },
            {
                "id": "t2",
                "agent_id": "bot",
                "started_at": "2026-01-01T11:00:00.000Z",
                "final_status": "failed",
                "error_message": "bad tool",
                "tool_calls": [],
            },
        ],
    )
    o = prepare(path)
    assert o.in_place
    app = TraceApp(o)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        assert ids_in_order(app) == ["t2", "t1"]
        assert run_list(app).failed_count == 1
        assert "bad tool" in rows(app)[1]


async def test_the_run_list_starts_from_the_page_read_while_the_viewer_started(tmp_path):
    rows_in = [
        {"id": f"t{i}", "agent_id": "bot", "started_at": f"2026-01-01T1{i}:00:00.000Z", "final_status": "completed"}
        for i in range(4)
    ]
    rows_in[1]["started_at"] = 1767265200  # epoch seconds among ISO text: the mixed-column sort key
    path = write_agent_traces(tmp_path / "agent.db", rows_in)
    for _ in range(2):  # the first open reads the page from SQL, the second from the memo
        o = prepare(path)
        page = FirstPage(o)
        page.check()
        app = TraceApp(o, first_page=page)
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot)
            assert page.take(RunFilter(), "started", True) is None  # the run list took it
            assert ids_in_order(app) == ["t3", "t2", "t1", "t0"]
            assert run_list(app).pager.complete


async def test_the_footer_shows_the_keys_without_a_key_pressed(tmp_path):
    """The footer is mounted after the list's first frame: it still lists the keys at once."""
    from textual.widgets import Footer

    o = prepare(write_store(tmp_path / "s.db", sample_runs()))
    page = FirstPage(o)
    page.check()
    app = TraceApp(o, first_page=page)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        footer = app.screen.query_one(Footer)
        keys = {key.key for key in footer.query("FooterKey")}
        assert {"s", "slash", "q", "question_mark"} <= keys


async def test_a_jsonl_export_is_imported_on_open_and_its_runs_listed(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", sample_runs())
    o = prepare(path)
    assert not o.ready
    progress = []
    app = TraceApp(o)
    show = app.runs_screen.show_progress
    app.runs_screen.show_progress = lambda *a: (progress.append(a), show(*a))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: not app.importing)  # the import's thread takes its time under load
        await settle(app, pilot)
        assert sorted(ids_in_order(app)) == ["r1", "r2", "r3", "r4", "r5"]
        assert progress and progress[-1][2] == 5  # the last report counts every run
        assert app.runs_screen.query_one("#progress").display is False


async def test_runs_appear_while_the_import_is_still_running(tmp_path):
    """The list polls the partial store: runs written so far show before the import ends."""
    path = write_jsonl(tmp_path / "runs.jsonl", sample_runs())
    o = prepare(path)
    half_written, finish = threading.Event(), threading.Event()

    def slow_import(progress=None):
        os.makedirs(os.path.dirname(o.db_path), exist_ok=True)
        writer = StoreWriter(o.db_path)
        for r in sample_runs()[:2]:
            writer.add(finalize_run(r))
        writer.commit()
        progress(10, 100, 2)
        half_written.set()
        finish.wait(10)
        for r in sample_runs()[2:]:
            writer.add(finalize_run(r))
        writer.finish()
        o.ready = True
        return 5

    o.run_import = slow_import
    app = TraceApp(o)
    async with app.run_test(size=(160, 30)) as pilot:
        for _ in range(500):
            await pilot.pause(0.02)
            if run_list(app).count == 2 and run_list(app).failed_count is not None:
                break
        assert app.importing
        assert sorted(ids_in_order(app)) == ["r1", "r2"]
        label = str(app.runs_screen.query_one("#progress-label").render())
        assert "2 runs so far" in label
        finish.set()
        for _ in range(500):
            await pilot.pause(0.02)
            if not app.importing and run_list(app).count == 5 and not run_list(app).busy:
                break
        assert run_list(app).count == 5
        assert app.runs_screen.query_one("#progress").display is False


async def test_the_first_runs_stored_are_read_when_the_import_reports_them_not_at_a_poll(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", sample_runs())
    o = prepare(path)
    polls_stopped, finish = threading.Event(), threading.Event()

    def slow_import(progress=None):
        os.makedirs(os.path.dirname(o.db_path), exist_ok=True)
        writer = StoreWriter(o.db_path)
        polls_stopped.wait(10)
        for r in sample_runs()[:2]:
            writer.add(finalize_run(r))
        writer.commit()
        progress(10, 100, 2)
        finish.wait(10)
        writer.finish()
        o.ready = True
        return 2

    o.run_import = slow_import
    app = TraceApp(o)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        app.runs_screen._poll.stop()  # only the import's report can bring the runs in now
        polls_stopped.set()
        for _ in range(500):
            await pilot.pause(0.02)
            if run_list(app).count == 2:
                break
        assert app.importing and sorted(ids_in_order(app)) == ["r1", "r2"]
        finish.set()
        for _ in range(500):  # the list's last load ends before the app does
            await pilot.pause(0.02)
            if not app.importing and not run_list(app).busy:
                break


# -- sort, filter, search -------------------------------------------------------------------------
async def test_s_cycles_the_sort_column_and_S_reverses_it(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("s")
        await settle(app, pilot)
        assert run_list(app).sort == "duration"
        assert ids_in_order(app) == ["r4", "r2", "r1", "r3", "r5"]
        assert "duration▼" in rows(app)[0]
        assert "sort: duration ▼" in str(app.runs_screen.query_one("#summary").render())
        await pilot.press("S")
        await settle(app, pilot)
        assert ids_in_order(app) == ["r5", "r3", "r1", "r2", "r4"]
        assert "duration▲" in rows(app)[0]


async def test_at_80_columns_the_column_sorted_by_is_shown_even_where_it_would_be_left_out(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        rl = run_list(app)
        assert rl.sort == "started" and "agent" in rows(app)[0]  # newest first: the list's own order
        for _ in range(10):
            await pilot.press("s")
            await settle(app, pilot)
            sorted_by = {"id": "run id", "tokens": "tokens in→out"}.get(rl.sort, rl.sort)
            arrow = "▼" if rl.desc else "▲"
            assert rl.sort == "started" or f"{sorted_by}{arrow}" in rows(app)[0], rl.sort
            assert rl.max_scroll_x == 0  # and the row still fits


async def test_clicking_a_column_header_sorts_by_it_and_again_flips_it(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        rl = run_list(app)
        x = next(x for column, x, _ in rl._layout() if column.name == "agent")
        await pilot.click(RunList, offset=(x + 1, 0))
        await settle(app, pilot)
        assert (rl.sort, rl.desc) == ("agent", False)
        assert [rl.run_at(i).agent for i in range(5)] == ["coder", "coder", "planner", "planner", "reviewer"]
        await pilot.click(RunList, offset=(x + 1, 0))
        await settle(app, pilot)
        assert (rl.sort, rl.desc) == ("agent", True)


async def test_F_filters_by_status_and_A_by_agent(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("F")
        await settle(app, pilot)
        assert run_list(app).flt.status == "failed"
        assert ids_in_order(app) == ["r2"]
        await pilot.press("F")
        await settle(app, pilot)
        assert ids_in_order(app) == ["r4"]
        await pilot.press("escape")
        await settle(app, pilot)
        assert run_list(app).count == 5
        await pilot.press("A")  # agents in name order: coder first
        await settle(app, pilot)
        assert run_list(app).flt.agent == "coder"
        assert ids_in_order(app) == ["r4", "r2"]
        assert "agent: coder" in str(app.runs_screen.query_one("#summary").render())


async def test_slash_searches_ids_agents_and_errors_and_escape_clears(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"needle", "enter")
        await settle(app, pilot)
        assert ids_in_order(app) == ["r2"]
        assert run_list(app).has_focus
        await pilot.press("slash", *"reviewer", "enter")
        await settle(app, pilot)
        assert ids_in_order(app) == ["r5"]
        await pilot.press("escape")
        await settle(app, pilot)
        assert run_list(app).flt.search is None
        assert run_list(app).count == 5


async def test_a_search_matching_nothing_says_so(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"nothing-like-this", "enter")
        await settle(app, pilot)
        empty = app.runs_screen.query_one("#empty")
        assert empty.display and "No runs match" in str(empty.render())


# -- cursor, failed-run jumps, marks, opening -----------------------------------------------------
async def test_cursor_keys_and_bracket_jumps_between_failed_runs(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        rl = run_list(app)
        await pilot.press("j", "j")
        assert rl.current_run_id == "r3"
        await pilot.press("k")
        assert rl.current_run_id == "r4"
        await pilot.press("G")
        assert rl.current_run_id == "r1"
        await pilot.press("g")
        assert rl.current_run_id == "r5"
        await pilot.press("right_square_bracket")
        assert rl.current_run_id == "r4"
        await pilot.press("right_square_bracket")
        assert rl.current_run_id == "r2"
        await pilot.press("right_square_bracket")  # none after r2: stays
        assert rl.current_run_id == "r2"
        await pilot.press("left_square_bracket")
        assert rl.current_run_id == "r4"
        # What `]`/`[` in a run view ask the run list for:
        assert app.runs_screen.failed_run_next_to("r4", +1) == "r2"
        assert app.runs_screen.failed_run_next_to("r2", -1) == "r4"
        assert app.runs_screen.failed_run_next_to("r4", -1) is None


@pytest.mark.parametrize("width", [80, 160])
async def test_the_cursor_row_and_the_header_are_drawn_highlighted_on_every_kind_of_row(tmp_path, width):
    # A row whose cells have no style of their own (a completed run) once showed no cursor at all, and
    # the header lost its style when the sorted column was left out at 80 columns.
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(width, 30)) as pilot:
        await settle(app, pilot)
        rl = run_list(app)
        cursor = rl.get_component_rich_style("run-list--cursor")
        header = rl.get_component_rich_style("run-list--header")
        assert {segment.style.bgcolor for segment in rl.render_line(0) if segment.text.strip()} == {header.bgcolor}
        for row in range(rl.count):  # running, timeout, completed, failed, completed
            rl.move_cursor(row)
            line = list(rl.render_line(row + 1))
            assert {segment.style.bgcolor for segment in line} == {cursor.bgcolor}, (row, rl.current_run_id)
            assert all(segment.style.bgcolor != cursor.bgcolor for segment in rl.render_line(row + 2))


async def test_clicking_a_row_selects_it(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.click(RunList, offset=(5, 3))  # header is line 0
        assert run_list(app).current_run_id == "r3"


async def test_space_marks_a_run_and_c_compares_it_with_the_cursor_run(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    compared = []
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        app.compare_runs = lambda a, b: compared.append((a, b))
        await pilot.press("c")  # nothing marked yet: only a hint
        assert compared == []
        await pilot.press("space")
        assert run_list(app).marked == "r5"
        assert rows(app)[1].startswith("●")
        await pilot.press("j", "j", "c")
        assert compared == [("r5", "r3")]
        await pilot.press("k", "k", "m")  # pressing on the marked run unmarks it
        assert run_list(app).marked is None


async def test_the_summary_shows_the_marked_run_as_soon_as_it_is_marked(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        summary = app.runs_screen.query_one("#summary")
        assert "marked" not in str(summary.render())
        await pilot.press("j", "space")
        await pilot.pause()
        assert "marked: r4" in str(summary.render())
        await pilot.press("space")  # unmarks it
        await pilot.pause()
        assert "marked" not in str(summary.render())


async def test_enter_opens_the_run_and_escape_returns_to_the_list(tmp_path):
    from tracetui.tui.screens.run import RunScreen

    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("j", "j", "j", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r2"
        await pilot.press("escape")
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen)
        assert run_list(app).current_run_id == "r2"


async def test_open_run_replaces_a_showing_run_screen_and_moves_the_list_cursor(tmp_path):
    from tracetui.tui.screens.run import RunScreen

    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        app.open_run("r4")
        await settle(app, pilot)
        depth = len(app.screen_stack)
        app.open_run("r2", jump_to_failure=True)
        await settle(app, pilot)
        assert len(app.screen_stack) == depth
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r2"
        assert run_list(app).current_run_id == "r2"


async def test_run_option_opens_that_run_and_failed_opens_the_latest_failure(tmp_path):
    from tracetui.tui.screens.run import RunScreen

    path = native(tmp_path)
    app = TraceApp(opening(path), run_id="r3")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r3"
    app = TraceApp(opening(path), failed=True)
    opened = []
    open_run = app.open_run
    app.open_run = lambda run_id, **kw: (opened.append((run_id, kw)), open_run(run_id, **kw))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r4"
        assert opened == [("r4", {"jump_to_failure": True})]


async def test_run_option_waits_for_the_run_while_importing(tmp_path):
    from tracetui.tui.screens.run import RunScreen

    path = write_jsonl(tmp_path / "runs.jsonl", sample_runs())
    app = TraceApp(prepare(path), run_id="r2")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RunScreen) and app.screen.run_id == "r2"


# -- states ---------------------------------------------------------------------------------------
async def test_a_store_without_runs_says_the_file_holds_none(tmp_path):
    path = str(tmp_path / "empty.db")
    StoreWriter(path).finish()
    app = TraceApp(opening(path))
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        empty = app.runs_screen.query_one("#empty")
        assert empty.display and "No runs in" in str(empty.render())
        assert run_list(app).display is False


async def test_skipped_lines_are_counted_on_screen_and_listed_by_w(tmp_path):
    path = tmp_path / "runs.jsonl"
    write_jsonl(path, sample_runs()[:2])
    with open(path, "ab") as f:
        f.write(b"{not json\n")
    app = TraceApp(prepare(str(path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: "1 problem while reading" in shown_text(app.runs_screen, "warnings"))
        await pilot.press("w")
        await settle(app, pilot)  # read in a worker
        assert isinstance(app.screen, ProblemsScreen)
        assert "line 3" in str(app.screen.query_one("#problems-text").render())
        assert str(app.screen.query_one("#problems-title").render()).startswith("1 problem while reading")
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


@pytest.mark.parametrize("opens", ["w", "question_mark"])
async def test_the_warnings_and_help_screens_scroll_with_j_k_g_and_G_at_80x24(tmp_path, opens):
    path = tmp_path / "runs.jsonl"
    write_jsonl(path, sample_runs()[:2])
    with open(path, "ab") as f:
        f.write(b"".join(b"{not json [/b] %d\n" % n for n in range(40)))
    app = TraceApp(prepare(str(path)))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: "40 problems while reading" in shown_text(app.runs_screen, "warnings"))
        await pilot.press(opens)
        await settle(app, pilot)
        assert isinstance(app.screen, ProblemsScreen if opens == "w" else HelpScreen)
        scroll = app.screen.query_one(VerticalScroll)
        assert scroll.max_scroll_y > 0 and scroll.scroll_y == 0
        await pilot.press("j", "j")
        await until(pilot, lambda: scroll.scroll_y == 2)
        await pilot.press("k")
        await until(pilot, lambda: scroll.scroll_y == 1)
        await pilot.press("G")
        await until(pilot, lambda: scroll.scroll_y == scroll.max_scroll_y)
        await pilot.press("g")
        await until(pilot, lambda: scroll.scroll_y == 0)


async def test_a_failed_import_shows_the_error_screen_and_exits_2(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", sample_runs())
    o = prepare(path)

    def broken_import(progress=None):
        raise UnusableInput(path, "line 1: not what it claimed to be")

    o.run_import = broken_import
    app = TraceApp(o)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, ErrorScreen)
        text = str(app.screen.query_one("#error-file").render()) + str(app.screen.query_one("#error-problem").render())
        assert "runs.jsonl" in text and "not what it claimed to be" in text
        await pilot.press("q")
    assert app.return_code == 2


# -- untrusted text -------------------------------------------------------------------------------
async def test_hostile_ids_agents_errors_and_searches_render_literally(tmp_path):
    hostile = [
        run(
            HOSTILE_ID, agent=HOSTILE_AGENT, status="failed", error=HOSTILE_ERROR, started_at="2026-01-01T10:00:00.000Z"
        ),
        run("[@click=app.quit]x[/]", agent="\x1b[1mbot", status="completed", started_at="2026-01-01T09:00:00.000Z"),
    ]
    app = TraceApp(opening(write_store(tmp_path / "hostile.db", hostile)))
    async with app.run_test(size=(200, 30)) as pilot:
        await settle(app, pilot)
        lines = rows(app)
        assert HOSTILE_ID in lines[1] and HOSTILE_AGENT in lines[1]
        assert "[@click=app.quit]x[/] \\x1b[31mred\\x1b]0;pwned\\x07" in lines[1]
        assert "[@click=app.quit]x[/]" in lines[2] and "\\x1b[1mbot" in lines[2]
        assert all("\x1b" not in line for line in lines)
        await pilot.click(RunList, offset=(40, 2))  # a would-be link does nothing but select
        assert app.is_running and run_list(app).current_run_id == "[@click=app.quit]x[/]"
        await pilot.press("slash", *"[/tool_call]", "enter")
        await settle(app, pilot)
        assert ids_in_order(app) == [HOSTILE_ID]
        assert "search: '[/tool_call]'" in str(app.runs_screen.query_one("#summary").render())
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert any("tool_call" in t for t in titles)
        await pilot.press("ctrl+p")
        await pilot.press(*"agent")
        await pilot.pause(0.3)
        assert app.is_running
        text = screen_text(app)
        assert "tool_call" in text


# -- help, palette, bindings ----------------------------------------------------------------------
def all_bindings():
    return [b for _, modules in SECTIONS for _, b in section_bindings(modules)]


def test_every_binding_has_an_id_and_avoids_keys_terminals_take():
    bindings = [b for b in all_bindings()]
    assert bindings
    assert all(b.id for b in bindings), [b.key for b in bindings if not b.id]
    keys = {k.strip() for b in bindings for k in b.key.split(",")}
    assert not keys & {"ctrl+h", "ctrl+j", "ctrl+o", "ctrl+s"}


async def test_help_screen_lists_every_binding_of_the_app_and_run_list(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 60)) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = screen_text(app)
        for cls in (TraceApp, RunsScreen, RunList):
            for binding in cls.BINDINGS:
                assert binding.description in text
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_the_command_palette_offers_every_visible_binding_and_the_filters(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for cls in (RunsScreen, RunList):
            for binding in cls.BINDINGS:
                assert binding.description in titles
        assert {"Filter: failed runs only", "Filter: agent coder", "Sort by cost"} <= titles
        command = next(c for c in app.get_system_commands(app.screen) if c.title == "Filter: failed runs only")
        command.callback()
        await settle(app, pilot)
        assert ids_in_order(app) == ["r2"]


# -- the command line -----------------------------------------------------------------------------
def test_open_reports_bad_input_and_unknown_runs_before_starting(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(main, ["open", str(tmp_path / "nope.db")])
    assert missing.exit_code == 2 and "nope.db: no such file" in missing.output
    junk = tmp_path / "junk.txt"
    junk.write_text("hello\n")
    bad = runner.invoke(main, ["open", str(junk)])
    assert bad.exit_code == 2 and "junk.txt" in bad.output
    unknown = runner.invoke(main, ["open", native(tmp_path), "--run", "r99"])
    assert unknown.exit_code == 1 and "r99" in unknown.output


def test_open_runs_the_viewer_with_the_options(tmp_path, monkeypatch):
    started = []

    def fake_run(self):
        started.append((self.opening.path, self._pending_run, self._pending_failed))

    monkeypatch.setattr(TraceApp, "run", fake_run)
    path = native(tmp_path)
    result = CliRunner().invoke(main, ["open", path, "--run", "r2", "--failed"])
    assert result.exit_code == 0, result.output
    assert started == [(path, "r2", True)]


def test_open_leaves_the_garbage_collector_on_when_it_fails_or_the_viewer_ends(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(TraceApp, "run", lambda self: seen.append(gc.isenabled()))
    assert CliRunner().invoke(main, ["open", native(tmp_path)]).exit_code == 0
    assert seen == [False] and gc.isenabled()  # off while the viewer starts (startup_gc.py), on after
    assert CliRunner().invoke(main, ["open", str(tmp_path / "nope.db")]).exit_code == 2
    assert gc.isenabled()


async def test_garbage_is_collected_again_once_the_first_rows_are_drawn(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "runs.db", sample_runs())))
    frozen = gc.get_freeze_count()
    startup_gc.pause()
    try:
        assert not gc.isenabled()
        async with app.run_test(size=(160, 30)) as pilot:
            await settle(app, pilot)
            assert ids_in_order(app) and gc.isenabled()
            assert gc.get_freeze_count() > frozen  # what start-up made is left out of later collections
    finally:
        startup_gc.resume()
        gc.unfreeze()


# -- snapshots ------------------------------------------------------------------------------------
async def _loaded(pilot):
    await settle(pilot.app, pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 30), (160, 48)])
async def test_help_and_quit_stay_in_the_footer_at_any_width(tmp_path, size):
    app = TraceApp(opening(write_store(tmp_path / "runs.db", sample_runs())))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        footer = footer_line(app)
        assert "? Help" in footer and "q Quit" in footer and "^p Commands" in footer, footer
        assert "t Stats" in footer, footer  # issue 11: the stats screen's key in the footer
        assert footer.startswith("⏎ Open")  # the run list's own keys come first, as many as fit


def footer_line(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips()).splitlines()[-1]


def shown_keys(app) -> list[str]:
    """The footer keys on screen, each checked to be there whole (inside the footer, beside the others)."""
    from textual.widgets import Footer

    footer = app.screen.query_one(Footer)
    shown = [key for key in footer.query("FooterKey") if key.display and key.parent.display]
    regions = [key.region for key in shown]
    for key, region in zip(shown, regions, strict=True):
        assert region.width and footer.region.contains_region(region), key.description
        assert not any(region.overlaps(other) for other in regions if other is not region), key.description
    return [key.description for key in shown]


@pytest.mark.parametrize("size", [(80, 24), (90, 24), (100, 30), (120, 30), (160, 48)])
async def test_at_80_columns_the_run_list_footer_keeps_search_and_sessions_and_cuts_no_key(tmp_path, size):
    """Keys that do not fit are left out whole, the sort and filter keys (named in the status line) first."""
    app = TraceApp(opening(write_store(tmp_path / "runs.db", sample_runs())))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        keys = shown_keys(app)
        assert {"Open", "Next failed", "Search", "Sessions", "Stats", "Quit", "Help", "Commands"} <= set(keys), keys
        if size[0] >= 120:
            assert {"Sort", "Status", "Agent"} <= set(keys)
        text = footer_line(app)
        for key in keys:
            assert f" {key}" in text, (key, text)
        # Narrower, then wider again: the keys follow the width.
        await pilot.resize_terminal(60, 24)
        await settle(app, pilot)
        assert {"Stats", "Quit", "Help"} <= set(shown_keys(app)) and "Sort" not in shown_keys(app)
        await pilot.resize_terminal(160, 24)
        await settle(app, pilot)
        assert {"Sort", "Status", "Agent", "Search", "Sessions"} <= set(shown_keys(app))


async def test_the_run_views_footer_leaves_out_whole_keys_at_80_columns(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "runs.db", sample_runs())))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "RunScreen")
        await settle(app, pilot)
        keys = shown_keys(app)
        assert {"Runs", "First failure", "Quit", "Help"} <= set(keys), keys
        text = footer_line(app)
        assert all(f" {key}" in text for key in keys), text


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_help_and_quit_stay_in_the_run_views_footer_too(tmp_path, size):
    app = TraceApp(opening(write_store(tmp_path / "runs.db", sample_runs())))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "RunScreen")
        await settle(app, pilot)
        footer = footer_line(app)
        assert "? Help" in footer and "q Quit" in footer and "^p Commands" in footer, footer


def _assert_no_key_cut(app) -> None:
    from textual.widgets import Footer
    from textual.widgets._footer import FooterKey

    footer = app.screen.query_one(Footer)
    pinned_x = footer.query_one(".pinned-keys").region.x
    keys = [k for k in footer.query(FooterKey) if not k.parent.has_class("pinned-keys")]
    shown = [k for k in keys if k.display and k.styles.visibility != "hidden"]
    assert shown and all(k.region.right <= pinned_x for k in shown)
    line = footer_line(app)
    for key in keys:
        label = f"{key.key_display} {key.description}"
        assert (label in line) == (key in shown), (label, line)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
async def test_a_footer_key_that_does_not_fit_is_hidden_whole_not_cut(tmp_path, size):
    """At 80 columns the run view's footer showed `e Expa`: a key is shown whole or not at all,
    after a resize too, and on a screen that was resized while another one was on top."""
    app = TraceApp(opening(write_store(tmp_path / "runs.db", sample_runs())))
    async with app.run_test(size=size) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await until(pilot, lambda: type(app.screen).__name__ == "RunScreen")
        await settle(app, pilot)
        _assert_no_key_cut(app)
        for width in (100, 70, 120):
            await pilot.resize_terminal(width, 24)
            await settle(app, pilot)
            _assert_no_key_cut(app)
        await pilot.resize_terminal(70, 24)
        await pilot.press("escape")
        await until(pilot, lambda: type(app.screen).__name__ == "RunsScreen")
        await settle(app, pilot)
        _assert_no_key_cut(app)


@pytest.mark.parametrize("size", [(120, 20), (80, 24), (160, 48)])
def test_snapshot_run_list(tmp_path, monkeypatch, snap_compare, size):
    monkeypatch.chdir(tmp_path)  # the title shows the path as given: keep it the same every run
    runs = sample_runs()
    runs[1].error = "[bold]not bold[/bold] and [/tool_call]"
    app = TraceApp(opening(write_store("snap.db", runs)))
    assert snap_compare(app, terminal_size=size, run_before=_loaded, press=["j", "space", "j"])


def test_snapshot_help_screen(tmp_path, monkeypatch, snap_compare):
    from tracetui import pricing

    monkeypatch.chdir(tmp_path)
    pricing.data_dated()  # loaded before the screen opens, so its price line is complete at once
    app = TraceApp(opening(write_store("snap.db", sample_runs())))
    # Tall enough for the app and run-list keys only: other screens' keys belong to their own tests.
    assert snap_compare(app, terminal_size=(120, 31), run_before=_loaded, press=["question_mark"])


async def test_a_binding_chosen_in_the_command_palette_runs(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Reverse sort", "enter")  # a binding hidden from the footer
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen)
        assert run_list(app).desc is False
        assert ids_in_order(app) == ["r1", "r2", "r3", "r4", "r5"]


async def test_an_unknown_hostile_run_option_is_reported_literally(tmp_path):
    app = TraceApp(opening(native(tmp_path)), run_id="[/tool_call][@click=app.quit]x[/]")
    async with app.run_test(size=(160, 30), notifications=True) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, RunsScreen) and app.is_running
        [note] = [n for n in app._notifications if "No run" in n.message]
        assert "[/tool_call][@click=app.quit]x[/]" in note.message and note.markup is False
        assert "tool_call" in screen_text(app)  # the toast was drawn without a markup error


async def test_typing_q_and_question_mark_in_the_search_box_types_them(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", "q", "question_mark", "s", "F")
        assert app.is_running and isinstance(app.screen, RunsScreen)
        assert app.runs_screen.query_one("#search").value == "q?sF"
        assert run_list(app).sort == "started" and run_list(app).flt.status is None


async def test_rows_past_the_first_page_are_fetched_as_they_scroll_into_view(tmp_path):
    many = [
        run(
            f"run-{i:04d}",
            status="failed" if i % 100 == 7 else "completed",
            started_at=f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        )
        for i in range(700)
    ]
    app = TraceApp(opening(write_store(tmp_path / "many.db", many)))
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(app, pilot)
        rl = run_list(app)
        assert rl.count == 700
        await pilot.press("G")
        await pilot.pause()
        assert rl.current_run_id == "run-0000"
        assert "run-0000" in rows(app)[-1] and "run-0001" in rows(app)[-2]
        await pilot.press("pageup")
        visible = rows(app)
        assert all("…" not in line.split()[0] for line in visible[1:])  # no row left unfetched
        await pilot.press("left_square_bracket")  # back up towards newer runs: 107, 207, …
        assert rl.current_run_id == "run-0107"
        await pilot.press("g", "right_square_bracket")
        assert rl.current_run_id == "run-0607"


async def test_a_new_sort_keeps_a_chosen_run_selected_and_a_top_cursor_at_the_top(tmp_path):
    app = TraceApp(opening(native(tmp_path)))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(app, pilot)
        rl = run_list(app)
        await pilot.press("s")  # cursor on the first row: stays on the first row
        await settle(app, pilot)
        assert (rl.cursor, rl.current_run_id) == (0, "r4")
        await pilot.press("j", "j")  # r1 chosen
        await pilot.press("S")
        await settle(app, pilot)
        assert rl.current_run_id == "r1" and rl.cursor == 2
        await pilot.press("F")  # r1 is filtered out: back to the top
        await settle(app, pilot)
        assert (rl.cursor, rl.current_run_id) == (0, "r2")
