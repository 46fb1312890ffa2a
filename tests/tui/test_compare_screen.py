from builders import opening, run, step, write_jsonl
from rich.console import Console

from tracetui.compare import CHANGED, ONLY_B, SAME
from tracetui.tui.app import TraceApp
from tracetui.tui.compare_app import compare_app
from tracetui.tui.pilot import settle as pilot_settle
from tracetui.tui.pilot import until as pilot_until
from tracetui.tui.screens.compare import CompareScreen, RunRef
from tracetui.tui.screens.runs import RunsScreen

HOSTILE = "[@click=app.quit]boom[/] \x1b[2J"


def old_run():
    return run(
        "old",
        step("plan", kind="llm", output="step one\nstep two\nstep three", duration_ms=100),
        step("search", kind="tool", output="3 hits", duration_ms=200),
        step("gate", kind="control", raw_type="if_else", chosen_branch="then"),
        step("read", kind="tool", output=HOSTILE, status="failed", error="ENOENT [/tool_call]"),
        step("answer", kind="llm", output="42"),
        status="failed",
        started_at="2026-02-27T10:00:00.000Z",
    )


def new_run():
    return run(
        "new",
        step("plan", kind="llm", output="step one\nstep 2\nstep three", duration_ms=150),
        step("search", kind="tool", output="3 hits", duration_ms=200),
        step("gate", kind="control", raw_type="if_else", chosen_branch="else"),
        step("read", kind="tool", output=HOSTILE),
        step("cite", kind="tool"),
        step("answer", kind="llm", output="42"),
        started_at="2026-02-27T11:00:00.000Z",
    )


def traces(tmp_path, runs=None):
    return write_jsonl(tmp_path / "runs.jsonl", runs if runs is not None else [old_run(), new_run()])


async def settle(app, pilot):
    await pilot_settle(pilot)


async def until(app, pilot, condition):
    await pilot_until(pilot, condition, tries=500)


async def open_compare(app, pilot, run_a="old", run_b="new") -> CompareScreen:
    await settle(app, pilot)
    app.compare_runs(run_a, run_b)
    await until(
        app, pilot, lambda: isinstance(app.screen, CompareScreen) and (app.screen.comparison or app.screen.problem)
    )
    return app.screen


def rendered_rows(screen: CompareScreen) -> list[str]:
    rows = screen.pair_list
    return ["".join(seg.text for seg in rows.render_line(y)) for y in range(min(len(rows.pairs), rows.size.height))]


def detail_text(screen: CompareScreen) -> str:
    console = Console(width=140, record=True, file=open("/dev/null", "w"))
    console.print(screen.detail.query_one("#pair-detail-body").content)
    return console.export_text()


async def test_marking_a_run_and_pressing_c_compares_it_with_the_current_run(tmp_path):
    app = TraceApp(opening(traces(tmp_path)))
    async with app.run_test(size=(140, 40)) as pilot:
        await until(
            app, pilot, lambda: app.runs_screen.run_list.loaded and app.runs_screen.run_list.run_at(1) is not None
        )
        app.runs_screen.run_list.focus()  # the run list's own focus handling is not under test here
        await pilot.press("space", "down", "c")  # newest first: mark "new", compare with "old"
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        assert (screen.comparison.run_a.id, screen.comparison.run_b.id) == ("new", "old")
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


async def test_rows_are_marked_with_icon_and_word_and_deltas(tmp_path):
    app = TraceApp(opening(traces(tmp_path)))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_compare(app, pilot)
        marks = [p.mark for p in screen.comparison.pairs]
        assert marks == [CHANGED, SAME, CHANGED, CHANGED, ONLY_B, SAME]
        rows = rendered_rows(screen)
        assert rows[0].startswith("≠ changed") and "Δ +50ms" in rows[0]
        assert rows[1].startswith("= same")
        assert "A: then · B: else" in rows[2]
        assert rows[4].startswith("+ only B") and "cite" in rows[4]
        header = screen.query_one("#compare-header").content.plain
        assert "✗ failed  run old" in header and "✓ completed  run new" in header
        assert "≠ changed 3" in header and "+ only B 1" in header


async def test_d_jumps_to_the_first_divergence_and_n_N_walk_the_differences(tmp_path):
    quiet_start = run(
        "a",
        step("s1", kind="tool"),
        step("s2", kind="tool"),
        step("s3", kind="tool", output="x"),
        step("s4", kind="tool"),
        step("s6", kind="tool"),
    )
    later = run(
        "b",
        step("s1", kind="tool"),
        step("s2", kind="tool"),
        step("s3", kind="tool", output="y"),
        step("s4", kind="tool"),
        step("s5", kind="tool"),
        step("s6", kind="tool"),
    )
    app = TraceApp(opening(traces(tmp_path, [quiet_start, later])))
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_compare(app, pilot, "a", "b")
        cursor = lambda: screen.pair_list.cursor  # noqa: E731
        assert cursor() == 0
        await pilot.press("d")
        assert cursor() == 2
        await pilot.press("n")
        assert cursor() == 4
        await pilot.press("n")  # no difference below: stays
        assert cursor() == 4
        await pilot.press("N")
        assert cursor() == 2
        await pilot.press("N")
        assert cursor() == 2
        await pilot.press("G", "N")
        assert cursor() == 4


async def test_the_detail_shows_both_steps_and_a_highlighted_line_diff(tmp_path):
    app = TraceApp(opening(traces(tmp_path)))
    async with app.run_test(size=(160, 50)) as pilot:
        screen = await open_compare(app, pilot)
        await pilot.pause()
        text = detail_text(screen)
        assert "differs in: output" in text
        assert "-step two" in text and "+step 2" in text
        diff = screen.detail.query_one("#pair-detail-body").content.renderables[-3]
        styles = {diff.plain[s.start : s.end].strip(): str(s.style) for s in diff.spans}
        assert styles["-step two"] == "red" and styles["+step 2"] == "green"
        await pilot.press("j", "j", "j")  # the failed read: payloads full of markup and escapes
        await pilot.pause()
        text = detail_text(screen)
        assert "[@click=app.quit]boom[/] \\x1b[2J" in text
        assert "ENOENT [/tool_call]" in text
        assert "≠ error" in text and "≠ status" in text


async def test_untrusted_step_names_are_drawn_literally(tmp_path):
    a = run("a", step("x", name=HOSTILE, kind="tool"))
    b = run("b", step("x", name=HOSTILE, kind="tool", status="failed"))
    app = TraceApp(opening(traces(tmp_path, [a, b])))
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_compare(app, pilot, "a", "b")
        row = rendered_rows(screen)[0]
        assert row.count("[@click=app.quit]boom[/] \\x1b[2J") == 2
        assert app.is_running


async def test_runs_without_steps_compare_to_an_empty_screen(tmp_path):
    app = TraceApp(opening(traces(tmp_path, [run("a"), run("b")])))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_compare(app, pilot, "a", "b")
        assert screen.comparison.pairs == []
        assert "no steps in either run" in detail_text(screen)
        await pilot.press("d", "n", "N", "j")
        assert screen.pair_list.cursor == 0


async def test_a_missing_run_is_reported_on_the_screen(tmp_path):
    app = TraceApp(opening(traces(tmp_path)))
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_compare(app, pilot, "old", "gone")
        assert "cannot compare" in screen.query_one("#compare-header").content.plain
        assert "gone" in screen.query_one("#compare-header").content.plain


async def test_runs_from_two_files_compare_and_esc_returns_to_the_first_files_runs(tmp_path):
    first = opening(write_jsonl(tmp_path / "yesterday.jsonl", [old_run()]))
    second = opening(write_jsonl(tmp_path / "today.jsonl", [new_run()]))
    app = compare_app(first, "old", second, "new")
    async with app.run_test(size=(140, 40)) as pilot:
        await until(app, pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)
        screen = app.screen
        assert isinstance(screen.ref_b, RunRef) and screen.ref_b.label.endswith("today.jsonl")
        header = screen.query_one("#compare-header").content.plain
        assert "yesterday.jsonl" in header and "today.jsonl" in header
        assert len(screen.comparison.pairs) == 6
        await pilot.press("escape")
        assert isinstance(app.screen, RunsScreen)


def test_compare_screen_snapshot(tmp_path, snap_compare):
    path = traces(tmp_path)
    app = compare_app(opening(path), "old", None, "new")

    async def loaded(pilot):
        app = pilot.app
        await until(app, pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen.comparison is not None)

    assert snap_compare(app, press=["d", "n"], terminal_size=(120, 36), run_before=loaded)


async def test_at_80x24_the_rows_fit_beside_the_scroll_bar_with_no_sideways_scrolling(tmp_path):
    # The rows were drawn as wide as the widget, under its vertical scroll bar: a horizontal bar then
    # appeared over the last visible row and hid the rows' last columns.
    many_a = run("a", *(step(f"s{n}", kind="tool", duration_ms=n) for n in range(30)), started_at="2026-02-27T10:00Z")
    many_b = run(
        "b", *(step(f"s{n}", kind="tool", duration_ms=2 * n) for n in range(30)), started_at="2026-02-27T11:00Z"
    )
    app = TraceApp(opening(traces(tmp_path, [many_a, many_b])))
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_compare(app, pilot, "a", "b")
        rows = screen.pair_list
        await settle(app, pilot)
        assert rows.max_scroll_y > 0  # the vertical bar is shown
        assert rows.max_scroll_x == 0 and not rows.show_horizontal_scrollbar
        assert rows.render_line(0).cell_length == rows.scrollable_content_region.width
        assert "Δ +1ms" in rendered_rows(screen)[1][: rows.scrollable_content_region.width]
        titles = screen.query_one("#compare-columns").render()
        bars = [i for i, c in enumerate(str(titles)) if c == "│"]
        assert bars and bars == [i for i, c in enumerate(rendered_rows(screen)[1]) if c == "│"]


def test_the_detail_titles_each_run_on_one_line_when_its_id_is_long():
    # At 80 columns a long run id was folded over three lines, the other run's title beside the last.
    from tracetui.compare import compare_runs
    from tracetui.tui.widgets.pair_detail import pair_renderable

    a, b = "run-0011-support-timeout", "run-0010-research-nested-failure-[bold]x[/]"
    pair = compare_runs(run(a, step("plan")), run(b, step("plan"))).pairs[0]
    console = Console(width=78, record=True, file=open("/dev/null", "w"))
    console.print(pair_renderable(pair, a, b))
    lines = console.export_text().splitlines()
    title = next(line for line in lines if "A  run-0011" in line)
    assert "B  run-0010-research" in title and title.rstrip().endswith("…")
    assert not any("x[/]" in line for line in lines[: lines.index(title)])
