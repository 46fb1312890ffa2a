"""Search in the viewer: `/` in a run finds steps that are not loaded or are collapsed; `/` in the run
list finds runs by their steps' text and opens them at the match."""

from __future__ import annotations

import os
import sqlite3

from builders import opening, run, step, write_jsonl, write_store
from rich.console import Console
from textual.widgets import Static

from tracetui.model import Run, Step, finalize_run
from tracetui.store import StoreWriter, search
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until, workers_done
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen
from tracetui.tui.widgets.step_tree import PAGE, Gap

T0 = "2026-01-01T10:00:00.000Z"
HOSTILE = "[bold red]boom[/] [@click=app.quit]x[/] \x1b[31m"


async def open_run(pilot) -> RunScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.run is not None)
    return pilot.app.screen


def cursor_id(screen: RunScreen) -> str | None:
    current = screen.step_tree.step_at_cursor()
    return current.id if current else None


def static_text(widget: Static, width: int = 200) -> str:
    console = Console(width=width, record=True, color_system=None, file=open(os.devnull, "w"))
    console.print(widget.content)
    return console.export_text()


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def find(pilot, text: str) -> None:
    await pilot.press("slash")
    for char in text:
        await pilot.press(char if char != " " else "space")
    await pilot.press("enter")


def fifty_thousand_steps() -> Run:
    """1,000 top-level steps of 50 (each with a chain three deep below it): 50,000 steps. The one
    step whose output holds the needle sits three levels down under top-level step 900, which is
    in no page the tree reads when the run opens."""
    steps: list[Step] = []
    for t in range(1000):
        steps.append(Step(f"t{t}", name=f"turn {t}", kind="agent", seq=t))
        for c in range(16):
            a, b, d = f"t{t}/a{c}", f"t{t}/a{c}/b", f"t{t}/a{c}/b/c"
            steps.append(Step(a, parent_id=f"t{t}", name="plan", kind="llm", seq=c))
            steps.append(Step(b, parent_id=a, name="tool", kind="tool", seq=0))
            steps.append(Step(d, parent_id=b, name="read", kind="tool", seq=0, output="nothing to see"))
        steps.append(Step(f"t{t}/z", parent_id=f"t{t}", name="done", kind="llm", seq=16))
    by_id = {s.id: s for s in steps}
    by_id["t900/a7/b/c"].output = "found: Needle-In-Haystack in the output"
    by_id["t20/a3/b/c"].input = "a needle-in-haystack early"
    r = Run("big", status="completed", started_at=T0)
    r.steps = steps
    return r


async def test_slash_finds_a_match_three_collapsed_levels_deep_in_an_unloaded_page_of_50k_steps(tmp_path):
    r = fifty_thousand_steps()
    writer = StoreWriter(str(tmp_path / "big.db"))
    writer.add(finalize_run(r))
    writer.finish()
    assert r.step_count == 50_000
    app = TraceApp(opening(str(tmp_path / "big.db")), run_id="big")
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_run(pilot)
        tree = screen.step_tree
        assert "t900" not in tree.nodes and isinstance(tree.root.children[PAGE].data, Gap)
        await find(pilot, "NEEDLE-in")
        await until(pilot, lambda: cursor_id(screen) == "t20/a3/b/c")  # the first match in execution order
        await until(pilot, lambda: "1 of 2 matching steps" in static_text(screen.query_one("#search-status", Static)))
        await pilot.press("n")
        await until(pilot, lambda: cursor_id(screen) == "t900/a7/b/c")
        node = tree.nodes["t900/a7/b/c"]
        for ancestor in ("t900", "t900/a7", "t900/a7/b"):
            assert tree.nodes[ancestor].is_expanded
        assert node.line != -1 and tree.cursor_line == node.line
        await until(pilot, lambda: "2 of 2 matching steps" in static_text(screen.query_one("#search-status", Static)))
        # highlighted in the detail pane, in the output that holds it
        await until(pilot, lambda: screen.detail.details is not None and screen.detail.step.id == "t900/a7/b/c")
        body = screen.query_one("#detail-output-body", Static)
        assert "Needle-In-Haystack" in static_text(body)
        spans = [span for span in body.content.spans if "yellow" in str(span.style)]
        assert spans, "the match is not highlighted in the detail pane"
        await pilot.press("n")  # wraps around
        await until(pilot, lambda: cursor_id(screen) == "t20/a3/b/c")
        await pilot.press("N")
        await until(pilot, lambda: cursor_id(screen) == "t900/a7/b/c")
        assert len(tree.nodes) < 3000  # found without reading the whole run


def small_run() -> Run:
    return run(
        "r1",
        step("plan", kind="llm", model="gpt-4o-mini", status="failed", error="bad plan"),
        step("shell", parent="plan", kind="tool", input="rm -rf /tmp/x"),
        step("later", kind="llm", status="failed", error="again"),
        step("check", kind="tool", output=f"rm -RF said {HOSTILE}"),
        started_at=T0,
    )


async def test_n_follows_the_search_after_slash_and_the_failures_after_f(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "t.db", [small_run()])), run_id="r1")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        await pilot.press("e")  # collapse everything: the first match is inside `plan`
        await find(pilot, "rm -rf")
        await until(pilot, lambda: cursor_id(screen) == "shell")
        assert screen.step_tree.nodes["plan"].is_expanded
        await pilot.press("n")
        await until(pilot, lambda: cursor_id(screen) == "check")
        await pilot.press("f")  # the failures again
        await until(pilot, lambda: cursor_id(screen) == "plan")
        await pilot.press("n")
        await until(pilot, lambda: cursor_id(screen) == "later")
        assert "n/N: failed steps" in static_text(screen.query_one("#search-status", Static))
        await find(pilot, "rm -rf")  # searching again: n goes through the matches once more
        await until(pilot, lambda: cursor_id(screen) == "check")
        await pilot.press("escape")  # clears the search, stays in the run
        await pilot.pause()
        assert screen.step_tree.search_query is None and isinstance(app.screen, RunScreen)
        assert not screen.query_one("#search-status", Static).display
        await pilot.press("n")  # failed steps again
        await until(pilot, lambda: cursor_id(screen) == "plan")
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_model_names_kinds_and_ids_are_searched_and_a_miss_is_said(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "t.db", [small_run()])), run_id="r1")
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_run(pilot)
        await find(pilot, "GPT-4o")
        await until(pilot, lambda: cursor_id(screen) == "plan")
        await find(pilot, "zzz")
        await until(pilot, lambda: "no step matches" in static_text(screen.query_one("#search-status", Static)))


async def test_hostile_text_in_a_query_and_in_a_match_is_shown_literally(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "t.db", [small_run()])), run_id="r1")
    async with app.run_test(size=(160, 40)) as pilot:
        screen = await open_run(pilot)
        await find(pilot, "[bold red]boom[/]")
        await until(pilot, lambda: cursor_id(screen) == "check")
        await until(pilot, lambda: screen.detail.details is not None and screen.detail.step.id == "check")
        assert "/[bold red]boom[/]" in static_text(screen.query_one("#search-status", Static))
        body = static_text(screen.query_one("#detail-output-body", Static))
        assert "[bold red]boom[/] [@click=app.quit]x[/]" in body and "\x1b" not in body
        assert app.is_running


async def test_the_run_list_search_finds_runs_by_a_payload_and_opens_them_at_the_match(tmp_path):
    runs = [
        run("r-clean", step("plan", input="nothing"), started_at="2026-01-01T10:00:00Z"),
        run("r-other", step("plan", output="Token LEAKED-SECRET-42 here"), started_at="2026-01-01T10:01:00Z"),
        run(
            "r-deep",
            step("a"),
            step("b", parent="a"),
            step("c", parent="b", input="the leaked-secret-42 again"),
            started_at="2026-01-01T10:02:00Z",
        ),
    ]
    app = TraceApp(opening(write_jsonl(tmp_path / "runs.jsonl", runs)))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count == 3)
        await find(pilot, "leaked-secret")
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.flt.step_hits is not None and run_list.count == 2)
        assert set(run_list.step_hits) == {"r-other", "r-deep"}
        await until(pilot, lambda: "⌕ c" in screen_text(app))
        assert run_list.current_run_id == "r-deep"
        await pilot.press("enter")
        screen = await open_run(pilot)
        await until(pilot, lambda: cursor_id(screen) == "c")
        await until(pilot, lambda: "1 of 1 matching step" in static_text(screen.query_one("#search-status", Static)))
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))
        await pilot.press("escape")  # clears the search
        await until(pilot, lambda: run_list.count == 3 and not run_list.step_hits)
        await workers_done(app)
    # The viewer indexed the cached import for the next searches (the file itself is never written).
    conn = sqlite3.connect(app.opening.db_path)
    assert app.opening.cached and search.has_index(conn)
    assert conn.execute("SELECT count(*) FROM step_text WHERE input LIKE '%leaked-secret%'").fetchone()[0] == 1
    conn.close()


async def test_a_scan_of_the_steps_shows_progress_and_esc_stops_it(tmp_path, monkeypatch):
    import threading
    import time

    path = write_store(tmp_path / "t.db", [run(f"r{i}", step("s", input=f"secret {i}")) for i in range(3)])
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta WHERE key = 'search_index'")  # as an older store: searched by a scan
    conn.commit()
    conn.close()
    real = search.runs_matching
    waiting = threading.Event()

    def slow(conn, query, *, run_ids=None, progress=None, cancelled=None, execute=None):
        def held(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            waiting.set()
            for _ in range(500):  # until the viewer stops the scan (at most 5 s)
                if cancelled is not None and cancelled():
                    return
                time.sleep(0.01)

        yield from real(conn, query, run_ids=run_ids, progress=held, cancelled=cancelled, execute=execute)

    monkeypatch.setattr(search, "runs_matching", slow)
    app = TraceApp(opening(path))
    async with app.run_test(size=(160, 30), notifications=True) as pilot:
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.count == 3)
        await find(pilot, "secret 1")
        progress = app.runs_screen.query_one("#search-progress", Static)
        for _ in range(500):
            if progress.display and "0 of 3 runs" in static_text(progress):
                break
            await pilot.pause(0.01)
        else:
            raise AssertionError("no progress shown")
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        assert not progress.display
        assert run_list.flt.search == "secret 1" and run_list.flt.step_hits is None and not run_list.step_hits
        assert any("Stopped searching the steps" in n.message for n in app._notifications)


async def test_r_lists_every_matching_step_with_its_run_and_enter_opens_the_run_at_that_step(tmp_path):
    from tracetui.tui.screens.step_hits import StepHitsScreen

    runs = [
        run("r-clean", step("plan", input="nothing"), started_at="2026-01-01T10:00:00Z"),
        run(
            "r-two",
            step("first", output=f"leaked-secret-42 {HOSTILE}"),
            step("second", kind="tool", input="again the LEAKED-SECRET-42 [/tool_call]"),
            started_at="2026-01-01T10:01:00Z",
        ),
        run("r-deep", step("a"), step("b", parent="a"), step("c", parent="b", input="leaked-secret-42"), started_at=T0),
    ]
    app = TraceApp(opening(write_jsonl(tmp_path / "runs.jsonl", runs)))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count == 3)
        await pilot.press("R")  # no search yet: said how to start one
        assert isinstance(app.screen, RunsScreen)
        await find(pilot, "leaked-secret")
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.flt.step_hits is not None and run_list.count == 2)
        await until(pilot, lambda: "R: every matching step" in screen_text(app))
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, StepHitsScreen) and not app.screen.searching)
        hits = app.screen.hit_list
        header = hits.get_component_rich_style("step-hits--header")  # its cells have no style of their own
        drawn = {(s.style.bgcolor, s.style.bold) for s in hits.render_line(0) if s.text.strip()}
        assert drawn == {(header.bgcolor, True)}
        assert [(h.run_id, h.step_id) for h in hits.hits] == [("r-two", "first"), ("r-two", "second"), ("r-deep", "c")]
        await until(pilot, lambda: "3 matching steps in 2 runs" in screen_text(app))
        await until(pilot, lambda: "again the LEAKED-SECRET-42 [/tool_call]" in screen_text(app))
        text = screen_text(app)
        assert "leaked-secret-42 [bold red]boom[/] [@click=app.quit]x[/] \\x1b[31m" in text
        assert "second" in text and "tool" in text
        await pilot.press("j", "enter")
        screen = await open_run(pilot)
        await until(pilot, lambda: cursor_id(screen) == "second")  # that step, not the run's first match
        await until(pilot, lambda: "2 of 2 matching steps" in static_text(screen.query_one("#search-status", Static)))
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, StepHitsScreen))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_thousands_of_matching_steps_are_listed_and_only_the_rows_in_view_read_their_text(tmp_path):
    from tracetui.tui.screens.step_hits import StepHitsScreen

    runs = [run(f"r{i:04d}", step("s", input=f"needle {i}"), step("t", output=f"a needle {i}")) for i in range(2000)]
    app = TraceApp(opening(write_store(tmp_path / "many.db", runs)))
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count == 2000)
        await find(pilot, "needle")
        await until(pilot, lambda: "R: every matching step" in screen_text(app))
        await pilot.press("R")
        await until(pilot, lambda: isinstance(app.screen, StepHitsScreen) and not app.screen.searching)
        hits = app.screen.hit_list
        await until(pilot, lambda: "4,000 matching steps in 2,000 runs" in screen_text(app))
        await until(pilot, lambda: "input: needle 1999" in screen_text(app))  # newest run first, as the list
        assert len(hits.hits) == 4000 and len(hits._snippets) < 100
        await pilot.press("G")
        await until(pilot, lambda: "output: a needle 0" in screen_text(app))
        assert len(hits._snippets) < 200


async def test_a_scan_for_every_matching_step_shows_the_first_hits_and_esc_stops_it(tmp_path, monkeypatch):
    import time

    from tracetui.tui.screens.step_hits import StepHitsScreen

    path = write_store(tmp_path / "t.db", [run(f"r{i}", step("s", input=f"secret {i}")) for i in range(3)])
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta WHERE key = 'search_index'")  # as an older store: searched by a scan
    conn.commit()
    conn.close()
    real = search.steps_matching

    def slow(conn, query, run_ids, *, progress=None, cancelled=None, execute=None):
        for hits in real(conn, query, run_ids, progress=progress, cancelled=cancelled, execute=execute):
            yield hits
            for _ in range(500):  # after the first run's hits, until the viewer stops the scan (at most 5 s)
                if cancelled is not None and cancelled():
                    break
                time.sleep(0.01)

    monkeypatch.setattr(search, "steps_matching", slow)
    app = TraceApp(opening(path))
    async with app.run_test(size=(160, 30), notifications=True) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count == 3)
        await find(pilot, "secret")
        await pilot.press("R")
        for _ in range(500):
            if isinstance(app.screen, StepHitsScreen) and "1 matching step in 1 run · searching" in screen_text(app):
                break
            await pilot.pause(0.01)
        else:
            raise AssertionError("the first hit was not shown while the scan went on")
        await pilot.press("escape")
        await workers_done(app)
        await pilot.pause()
        assert isinstance(app.screen, StepHitsScreen) and not app.screen.searching
        assert [h.run_id for h in app.screen.hit_list.hits] == ["r2"]
        assert "1 matching step in 1 run · Enter opens" in screen_text(app)
        assert any("Stopped searching" in n.message for n in app._notifications)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_a_search_typed_as_the_screen_shows_a_control_character_finds_it(tmp_path):
    # The screen shows ESC as \x1b (display.safe): what a user types to find it, in the list and in the run.
    runs = [
        run("r-plain", step("plan", input="colour red"), started_at="2026-01-01T10:00:00Z"),
        run("r-esc", step("a"), step("paint", parent="a", output="colour \x1b[31mred"), started_at=T0),
    ]
    app = TraceApp(opening(write_jsonl(tmp_path / "runs.jsonl", runs)))
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count == 2)
        await find(pilot, "\\x1b[31m")
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.flt.step_hits is not None and run_list.count == 1)
        assert set(run_list.step_hits) == {"r-esc"}
        await until(pilot, lambda: "⌕ paint" in screen_text(app))
        await pilot.press("enter")
        screen = await open_run(pilot)
        await until(pilot, lambda: cursor_id(screen) == "paint")
        await until(pilot, lambda: "1 of 1 matching step" in static_text(screen.query_one("#search-status", Static)))


async def test_a_search_typed_as_shown_finds_control_and_undecodable_text_read_in_place(tmp_path):
    import agents

    path = agents.copied(agents.PHOENIX, tmp_path)
    conn = sqlite3.connect(path)  # trace a3's one span: a name with ESC in it; trace a1's first: one not UTF-8
    conn.execute("UPDATE spans SET name = ? WHERE span_id = '0000000000000009'", ("call\x1b[2Jx",))
    conn.execute("UPDATE spans SET name = CAST(x'6f6b20ff' AS TEXT) WHERE id = 1")
    conn.commit()
    conn.close()
    app = TraceApp(opening(path))
    async with app.run_test(size=(160, 30)) as pilot:
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.count == 3)
        for typed, run_id in (
            ("call\\x1b[2J", "000000000000000000000000000000a3"),
            ("ok \\xff", "000000000000000000000000000000a1"),
        ):
            await find(pilot, typed)
            await until(pilot, lambda: run_list.flt.step_hits is not None and run_list.count == 1)
            assert set(run_list.step_hits) == {run_id}
            await pilot.press("escape")  # clears the search
            await until(pilot, lambda: run_list.count == 3 and not run_list.step_hits)
