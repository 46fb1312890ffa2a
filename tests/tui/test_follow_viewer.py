"""The viewer following a file (`tracetui open PATH --follow`): the live mode `tracetui serve` has, fed by a
writer process appending lines while the viewer runs under Pilot. Runs appear without moving the cursor
off its run, the open run's tree grows keeping the cursor, a new failure is told, `p` pauses, a
truncated file is told. Every wait is on a condition."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import orjson

from tracetui.follow import Follower
from tracetui.loading import prepare
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.widgets.live_marker import LiveMarker


def event(run_id: str, step_id: str, n: int, **fields) -> dict:
    """One line of an event log (sources/events.py), n seconds into the run."""
    return {
        "run_id": run_id,
        "step_id": step_id,
        "type": "reasoning",
        "agent": "writer",
        "timestamp": f"2026-01-01T10:00:{n:02d}Z",
        "content": f"step {step_id}",
        **fields,
    }


async def append(path, *events: dict, raw: bytes | None = None) -> None:
    """Append the events as a separate writer process; the viewer's loop runs meanwhile."""
    data = raw if raw is not None else b"".join(orjson.dumps(e) + b"\n" for e in events)
    code = "import sys; f = open(sys.argv[1], 'ab'); f.write(sys.stdin.buffer.read()); f.close()"
    await asyncio.to_thread(subprocess.run, [sys.executable, "-c", code, str(path)], input=data, check=True)


def following(tmp_path, *events: dict) -> tuple[TraceApp, str]:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    opening = prepare(str(path))
    return TraceApp(opening, live=Follower(opening, poll=0.2)), str(path)


def notes(app: TraceApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_runs_appear_as_lines_are_written_and_the_cursor_stays_on_its_run(tmp_path):
    app, path = following(tmp_path, event("r1", "a", 1), event("r2", "a", 2))
    async with app.run_test(size=(140, 30)) as pilot:
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.count == 2 and not app.importing)
        marker = app.runs_screen.query_one(LiveMarker)
        assert "● live" in str(marker.render())
        await pilot.press("j")
        assert run_list.current_run_id == "r1"
        await append(path, event("r3", "a", 3))
        await until(pilot, lambda: run_list.count == 3)
        assert run_list.id_at(0) == "r3"
        assert run_list.current_run_id == "r1"
        assert "● live · updated" in str(marker.render())


async def test_the_open_run_grows_and_a_new_failed_step_is_told(tmp_path):
    app, path = following(tmp_path, event("r1", "a", 1), event("r1", "b", 2))
    async with app.run_test(size=(140, 30), notifications=True) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count == 1 and not app.importing)
        app.open_run("r1")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        tree = screen.step_tree
        tree.move_cursor(tree.nodes["b"])
        await pilot.pause()
        await append(path, event("r1", "c", 3, type="error", content="the [bold]tool[/] broke"))
        await until(pilot, lambda: "c" in tree.nodes)
        await until(pilot, lambda: any("New failed step" in n for n in notes(app)))
        assert tree.cursor_node is tree.nodes["b"]
        assert screen.run is not None and screen.run.status == "failed"
        await pilot.press("f")
        await until(pilot, lambda: tree.cursor_node is tree.nodes.get("c"))


async def test_p_pauses_while_lines_keep_coming(tmp_path):
    app, path = following(tmp_path, event("r1", "a", 1))
    async with app.run_test(size=(140, 30)) as pilot:
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.count == 1 and not app.importing)
        await settle(pilot)
        await pilot.press("p")
        await append(path, event("r2", "a", 2))
        await until(pilot, lambda: app.live_state is not None and app.live_state.waiting >= 1)
        assert run_list.count == 1
        await pilot.press("p")
        await until(pilot, lambda: run_list.count == 2)


async def test_a_truncated_file_is_told_and_read_again(tmp_path):
    app, path = following(tmp_path, event("r1", "a", 1), event("r2", "a", 2))
    async with app.run_test(size=(140, 30), notifications=True) as pilot:
        run_list = app.runs_screen.run_list
        await until(pilot, lambda: run_list.count == 2 and not app.importing)
        with open(path, "wb") as f:
            f.write(orjson.dumps(event("r9", "a", 9)) + b"\n")
        await until(pilot, lambda: any("truncated or replaced" in n for n in notes(app)))
        await until(pilot, lambda: run_list.count == 1 and run_list.id_at(0) == "r9")


async def test_a_store_another_process_writes_is_followed_in_place(tmp_path):
    """`tracetui serve --headless` writes a store; a second viewer follows it (read in place, read-only):
    a trace's run shows as running, then completed once its root span arrives."""
    import requests
    from serving import envelope, serve, span

    db = str(tmp_path / "spans.db")
    served = serve(db)
    try:

        async def post(*spans: dict) -> None:
            answer = await asyncio.to_thread(
                requests.post,
                f"{served.url}/v1/traces",
                data=envelope(*spans),
                headers={"Content-Type": "application/json"},
                timeout=30,
            )
            assert answer.status_code == 200, answer.text

        trace, root = "ab" * 16, "01" * 8
        await post(span(trace, "02" * 8, root, name="tool"))
        opening = prepare(db)
        assert opening.in_place
        app = TraceApp(opening, live=Follower(opening, poll=0.2))
        async with app.run_test(size=(140, 30)) as pilot:
            run_list = app.runs_screen.run_list
            await until(pilot, lambda: (r := run_list.pager.cached(trace)) is not None and r.status == "running")
            await post(span(trace, root, name="agent"))
            await until(pilot, lambda: (r := run_list.pager.cached(trace)) is not None and r.status == "completed")
    finally:
        code, _ = served.stop()
    assert code == 0
