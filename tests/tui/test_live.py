"""The live viewer of `tracetui serve`: the real receiver on the app's own loop, spans posted over HTTP while
the viewer runs under Pilot. Runs appear without moving the cursor off its run, the open run's tree grows
keeping what is expanded and selected, new failures are told and `]`/`f` reach them, `p` pauses."""

from __future__ import annotations

import asyncio

import requests
from serving import envelope, span

from tracetui.loading import prepare
from tracetui.receiver.server import DEFAULT_MAX_BODY, listen
from tracetui.receiver.service import Service
from tracetui.receiver.span_store import SpanStore
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.widgets.live_marker import LiveMarker

SECOND = 1_000_000_000
T0 = 1_700_000_000 * SECOND
ERROR = {"code": 2, "message": "the [bold]tool[/] broke"}


def live_app(tmp_path) -> tuple[TraceApp, str]:
    db = str(tmp_path / "live.db")
    service = Service(SpanStore(db), listen("127.0.0.1", 0), token=None, max_body=DEFAULT_MAX_BODY)
    return TraceApp(prepare(db), live=service), f"{service.url}/v1/traces"


async def send(url: str, *spans: dict) -> None:
    """POST the spans as an exporter would; the viewer's loop keeps running meanwhile."""
    answer = await asyncio.to_thread(
        requests.post, url, data=envelope(*spans), headers={"Content-Type": "application/json"}, timeout=30
    )
    assert answer.status_code == 200, answer.text


def trace(n: int) -> str:
    return f"{n:032x}"


def root(n: int, **fields) -> dict:
    """The root span of trace n, started n seconds after T0 (a later trace sorts first)."""
    fields.setdefault("start", T0 + n * SECOND)
    fields.setdefault("end", fields["start"] + 500)
    return span(trace(n), f"{n:016x}", name=f"agent-{n}", **fields)


def notes(app: TraceApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_runs_appear_as_spans_arrive_and_the_cursor_stays_on_its_run(tmp_path):
    app, url = live_app(tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        run_list = app.runs_screen.run_list
        await settle(pilot)
        marker = app.runs_screen.query_one(LiveMarker)
        assert "waiting for data" in str(marker.render())
        await send(url, root(1), root(2), root(3))
        await until(pilot, lambda: run_list.count == 3)
        assert "● live · updated" in str(marker.render())
        assert run_list.current_run_id == trace(3)  # newest first: 3, 2, 1
        await send(url, root(4))
        await until(pilot, lambda: run_list.count == 4)
        assert run_list.id_at(0) == trace(4)
        assert run_list.current_run_id == trace(3)  # the new run above did not move the cursor off its run
        await pilot.press("j", "j")
        await send(url, root(5))
        await until(pilot, lambda: run_list.count == 5)
        assert run_list.current_run_id == trace(1)


async def test_the_open_run_grows_keeping_what_is_expanded_and_selected(tmp_path):
    app, url = live_app(tmp_path)
    t, top = trace(7), f"{7:016x}"
    a, b, a1 = "a" * 16, "b" * 16, "c" * 16
    async with app.run_test(size=(140, 30)) as pilot:
        # Children end first and arrive before their parent: the run is running, its root not here yet.
        await send(
            url,
            span(t, a, top, name="plan", start=T0 + 1, end=T0 + 5),
            span(t, a1, a, name="think", start=T0 + 2, end=T0 + 3),
        )
        await until(pilot, lambda: app.runs_screen.run_list.count == 1)
        app.open_run(t)
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert screen.run is not None and screen.run.status == "running"
        tree = screen.step_tree
        tree.nodes[a].collapse()
        await pilot.pause()
        tree.move_cursor(tree.nodes[a])
        await pilot.pause()
        await send(url, span(t, b, top, name="act", start=T0 + 6, end=T0 + 9), root(7, start=T0, end=T0 + 10))
        await until(pilot, lambda: screen.run is not None and screen.run.status == "completed")
        await until(pilot, lambda: top in tree.nodes and b in tree.nodes)
        await pilot.pause()
        assert tree.nodes[a].parent is tree.nodes[top]  # hung under its parent once the parent arrived
        assert not tree.nodes[a].is_expanded  # collapsed it stays
        assert tree.cursor_node is tree.nodes[a]  # and the cursor stays on it


async def test_a_new_failed_run_is_told_and_bracket_goes_to_it(tmp_path):
    app, url = live_app(tmp_path)
    async with app.run_test(size=(140, 30), notifications=True) as pilot:
        run_list = app.runs_screen.run_list
        await send(url, root(1), root(2), root(3))
        await until(pilot, lambda: run_list.count == 3 and run_list.failed_count == 0)
        await pilot.press("G")  # the oldest run, at the bottom
        await send(url, root(4, status=ERROR))
        await until(pilot, lambda: any("New failed run" in n for n in notes(app)))
        [note] = [n for n in notes(app) if "New failed run" in n]
        assert trace(4) in note and "] goes to it" in note
        assert run_list.current_run_id == trace(1)
        await pilot.press("right_square_bracket")
        assert run_list.current_run_id == trace(4)  # above the cursor, and `]` still reaches it


async def test_a_new_failed_step_in_the_open_run_is_told_and_f_goes_to_it(tmp_path):
    app, url = live_app(tmp_path)
    t, top = trace(9), f"{9:016x}"
    async with app.run_test(size=(140, 30), notifications=True) as pilot:
        await send(url, span(t, "a" * 16, top, name="plan", start=T0 + 1, end=T0 + 2))
        await until(pilot, lambda: app.runs_screen.run_list.count == 1)
        app.open_run(t)
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await send(url, span(t, "b" * 16, top, name="[red]search", start=T0 + 3, end=T0 + 4, status=ERROR))
        await until(pilot, lambda: any("New failed step" in n for n in notes(app)))
        assert any("[red]search" in n and "f goes to it" in n for n in notes(app))
        await pilot.press("f")
        await until(pilot, lambda: screen.step_tree.cursor_node is screen.step_tree.nodes.get("b" * 16))


async def test_p_pauses_and_resumes_the_updates(tmp_path):
    app, url = live_app(tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        run_list = app.runs_screen.run_list
        await settle(pilot)
        marker = app.runs_screen.query_one(LiveMarker)
        await send(url, root(1))
        await until(pilot, lambda: run_list.count == 1)
        await pilot.press("p")
        await send(url, root(2))
        await until(pilot, lambda: app.live_state is not None and app.live_state.waiting == 1)
        for _ in range(5):
            await pilot.pause(0.1)
        assert run_list.count == 1  # received and stored, not shown while paused
        assert "paused · 1 update waiting" in str(marker.render())
        await pilot.press("p")
        await until(pilot, lambda: run_list.count == 2)
        assert "● live" in str(marker.render())


async def test_a_change_out_of_sight_does_not_draw_the_list_again_and_one_in_sight_does(tmp_path):
    app, url = live_app(tmp_path)
    async with app.run_test(size=(140, 30)) as pilot:
        run_list = app.runs_screen.run_list
        await send(url, *[root(n) for n in range(1, 41)])
        await until(pilot, lambda: run_list.count == 40)
        await settle(pilot)
        assert run_list.id_at(0) == trace(40) and run_list.current_run_id == trace(40)
        drawn: list[int] = []
        draw = run_list.render_line
        run_list.render_line = lambda y: drawn.append(y) or draw(y)  # type: ignore[method-assign]

        async def late_child(n: int) -> None:
            """A span arrives in trace n; the list has read the store again."""
            generation = run_list.pager.generation
            await send(url, span(trace(n), "f" * 16, f"{n:016x}", name="late tool", start=T0 + n * SECOND + 1))
            await until(pilot, lambda: run_list.pager.generation > generation and not run_list.pager.busy)
            await settle(pilot)

        await late_child(1)  # the oldest run, at the bottom, out of sight
        assert drawn == []
        await late_child(40)  # the run under the cursor: its line is drawn again
        assert drawn
        assert run_list.current_run_id == trace(40)
        assert run_list.run_at(0).step_count == 2
