"""The viewer on a database, under Pilot: pages by key, sorts and jumps asked of the server, a dropped
connection said and survived in place, the error screen's retry, untrusted text shown literally."""

from __future__ import annotations

import psycopg
import pytest
from builders import AGENT_TRACES_ROWS, write_agent_traces
from click.testing import CliRunner
from pg_builders import agent_traces_table, dbname, many_rows, select_only_role

from tracetui.cli import main
from tracetui.loading import open_store, prepare
from tracetui.postgres.opening import LaterOpening
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.error import ErrorScreen
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.widgets import key_pager
from tracetui.tui.widgets.key_pager import KeyPager

N = 600
ROWS = many_rows(N)


@pytest.fixture(scope="module")
def many(pg, tmp_path_factory):
    """600 turns in PostgreSQL (more than a first page), and the SQLite reader's order of them."""
    url = pg.database()
    agent_traces_table(url, ROWS)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE agent_traces")
    sqlite = open_store(write_agent_traces(tmp_path_factory.mktemp("ref") / "ref.db", ROWS))
    yield url, sqlite
    sqlite.close()


def lines(app: TraceApp) -> list[str]:
    rl = app.runs_screen.run_list
    return ["".join(seg.text for seg in rl.render_line(y)) for y in range(rl.scrollable_content_region.height)]


def messages(app: TraceApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_the_run_list_pages_from_the_server_in_both_directions(many):
    url, sqlite = many
    expected = sqlite.run_ids(sort="started", desc=True)
    app = TraceApp(prepare(url))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        rl = app.runs_screen.run_list
        assert isinstance(rl.pager, KeyPager) and rl.count == N and rl.pager.exact
        title = str(app.runs_screen.query_one("#title").render())
        assert "#public.agent_traces" in title and "(agent-traces)" in title
        assert [rl.id_at(i) for i in range(5)] == expected[:5]
        assert len(rl.pager._rows) == 200  # the first page, never the whole table
        await pilot.press("G")
        await until(pilot, lambda: rl.current_run_id == expected[-1])
        assert expected[-1] in lines(app)[-1]  # the last run is on screen, not under a scroll bar
        for _ in range(3):
            await pilot.press("pageup")
            await settle(pilot)
        assert all("…" not in line.split()[0] for line in lines(app)[1:] if line.strip())
        assert rl.current_run_id == expected[rl.cursor]
        await pilot.press("g", "s")  # by duration, longest first: the server's order
        await until(pilot, lambda: rl.sort == "duration" and rl.pager.exact and not rl.busy)
        assert [rl.id_at(i) for i in range(10)] == sqlite.run_ids(sort="duration", desc=True)[:10]
        await pilot.press("G")
        await until(pilot, lambda: rl.current_run_id == sqlite.run_ids(sort="duration", desc=True)[-1])


async def test_failed_runs_beyond_the_rows_read_are_found_by_the_server(many):
    url, sqlite = many
    expected = sqlite.run_ids(sort="started", desc=True)
    failed = [run_id for run_id in expected if sqlite.get_run(run_id).status in ("failed", "timeout")]
    app = TraceApp(prepare(url))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        rl = app.runs_screen.run_list
        rl.move_cursor(expected.index(failed[-3]))  # near the end: the rows there are not read yet
        await settle(pilot)
        rl.pager._rows = {p: row for p, row in rl.pager._rows.items() if p <= rl.cursor}  # nothing read past it
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: rl.current_run_id == failed[-2])
        assert rl.cursor == expected.index(failed[-2])
        await pilot.press("enter")  # and from the run: `]` opens the next failed run, asked in a worker
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        rl.pager._rows = {p: row for p, row in rl.pager._rows.items() if p <= rl.cursor}
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run_id == failed[-1])


async def test_far_down_the_list_the_next_failed_run_is_placed_by_estimate_without_a_count(many, monkeypatch):
    from tracetui.postgres import store as store_module

    # As if the list held a million runs: places beyond 50 estimated, windows read by key within 30 rows.
    monkeypatch.setattr(store_module, "COUNTED_POSITIONS", 50)
    monkeypatch.setattr(key_pager, "NEAR", 30)
    url, sqlite = many
    expected = sqlite.run_ids(sort="started", desc=True)
    failed = [run_id for run_id in expected if sqlite.get_run(run_id).status in ("failed", "timeout")]
    app = TraceApp(prepare(url))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        rl = app.runs_screen.run_list
        rl.move_cursor(expected.index(failed[-3]))
        await settle(pilot)
        rl.pager._rows = {p: row for p, row in rl.pager._rows.items() if p <= rl.cursor}
        await pilot.press("right_square_bracket")
        await until(pilot, lambda: rl.current_run_id == failed[-2])
        # Its row is the planner's guess; the rows around it are read by key from it, in order.
        await settle(pilot)
        here = rl.cursor
        assert [rl.id_at(here + i) for i in range(3)] == expected[expected.index(failed[-2]) :][:3]
        assert [rl.id_at(i) for i in range(3)] == expected[:3]  # the first page stays where it is


async def test_opening_a_run_reads_its_steps_and_esc_comes_back_to_it(pg_url):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    app = TraceApp(prepare(pg_url))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("j", "enter")  # tr-2 is second by start time, newest first
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        screen = app.screen
        assert screen.run_id == "tr-2" and "invalid_tool_calls" in str(screen.query_one("#run-header").render())
        await pilot.press("escape", "j", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        assert app.screen.run_id == "tr-1"
        assert [n.data.name for n in app.screen.step_tree.root.children] == ["web_search", "file_read"]


async def test_a_big_run_shows_its_first_steps_then_all_of_them_and_jumps_to_its_failure(pg_url, monkeypatch):
    from tracetui.postgres import store as store_module

    monkeypatch.setattr(store_module, "START_STEPS", 5)  # read first: five of its 60 tool calls
    calls = [{"toolName": f"tool-{i}", "durationMs": 1, "error": "boom" if i == 47 else None} for i in range(60)]
    agent_traces_table(pg_url, [{**AGENT_TRACES_ROWS[0], "id": "big", "tool_calls": calls}])
    app = TraceApp(prepare(pg_url))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        tree = app.screen.step_tree
        await until(pilot, lambda: len(tree.root.children) > 0)
        await pilot.press("G")  # the last step: the rest of the run is read when it is scrolled to
        await until(
            pilot, lambda: tree.cursor_node is not None and getattr(tree.cursor_node.data, "name", "") == "tool-59"
        )
        await pilot.press("escape")
        await settle(pilot)
        app.opening._shared.trees.clear()  # opened afresh: from the start of the run again
        app.open_run("big", jump_to_failure=True)
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        tree = app.screen.step_tree
        await until(
            pilot, lambda: tree.cursor_node is not None and getattr(tree.cursor_node.data, "name", "") == "tool-47"
        )


async def test_a_dropped_connection_is_said_and_the_list_reconnects_in_place(many, monkeypatch):
    url, sqlite = many
    monkeypatch.setattr("tracetui.tui.app.RECONNECT_FIRST", 0.05)
    expected = sqlite.run_ids(sort="started", desc=True)
    app = TraceApp(prepare(url))
    async with app.run_test(size=(160, 40), notifications=True) as pilot:
        await settle(pilot)
        rl = app.runs_screen.run_list
        await pilot.press("pagedown", "pagedown", "pagedown", "j")
        await settle(pilot)
        here = rl.current_run_id
        assert here == expected[rl.cursor]
        with psycopg.connect(url, autocommit=True) as admin:  # the DBA ends every tracetui session
            ended = admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'tracetui'"
            ).fetchone()[0]
        assert ended >= 1
        await pilot.press("G")  # rows nobody has read: the next query meets the dead connection
        await until(pilot, lambda: any("Lost the connection to the database" in m for m in messages(app)))
        await until(pilot, lambda: any("Connected to the database again" in m for m in messages(app)))
        await until(pilot, lambda: not app.reconnecting and app.runs_screen.lost is None and not rl.busy)
        assert rl.count == N and rl.current_run_id == expected[rl.cursor]
        await pilot.press("G")
        await until(pilot, lambda: rl.current_run_id == expected[-1])
        assert app.return_code is None  # still running: nothing crashed


async def test_the_error_screen_retries_a_database_that_refused_the_first_load(pg_url):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    role = f"retrier_{dbname(pg_url)}"
    select_only_role(pg_url, role)
    url = pg_url.replace("postgres@", f"{role}@")
    opening = prepare(url)  # detection could read the table…
    with psycopg.connect(pg_url, autocommit=True) as admin:  # …then the grant was taken back
        admin.execute(f"REVOKE SELECT ON agent_traces FROM {role}")
    app = TraceApp(opening)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert "permission denied" in app.screen.problem and app.screen.retry is not None
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"GRANT SELECT ON agent_traces TO {role}")
        await pilot.press("r")
        await until(pilot, lambda: app.runs_screen.run_list.count == 3 and app.screen is app.runs_screen)


async def test_untrusted_text_from_the_database_is_drawn_literally(pg_url):
    rows = [
        {
            "id": "[bold red]run[/]",
            "agent_id": "[@click=q]a[/]",
            "final_status": "error",
            "error_message": "\x1b[31mred [/tool_call]",
            "tool_calls": [{"toolName": "[b]tool[/b]", "error": "[link=x]boom"}],
            "started_at": "2026-01-01T00:00:00Z",
        }
    ]
    agent_traces_table(pg_url, rows)
    with_password = pg_url.replace("postgres@", "postgres:Sw0rdf1sh@")  # the test server trusts: ignored
    app = TraceApp(prepare(with_password))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        title = str(app.runs_screen.query_one("#title").render())
        assert title.startswith("tracetui  postgresql://postgres@/") and "Sw0rdf1sh" not in title
        row = lines(app)[1]
        assert "[bold red]run[/]" in row and "[@click=q]a[/]" in row and "\x1b" not in row
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        (tool,) = app.screen.step_tree.root.children
        assert "[b]tool[/b]" in app.screen.step_tree.row_text(tool).plain
        assert "Sw0rdf1sh" not in str(app.screen.query_one("#run-header").render())
        assert app.return_code is None


async def test_a_long_database_label_is_cut_at_the_end_of_the_title_bar_not_wrapped_away(pg_url):
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    app = TraceApp(prepare(pg_url))
    async with app.run_test(size=(60, 20)) as pilot:
        await settle(pilot)
        title = app.runs_screen.query_one("#title")
        shown = "".join(segment.text for segment in title.render_line(0))
        assert shown.startswith("tracetui  postgresql://postgres@/") and shown.rstrip().endswith("…")


async def test_a_database_that_refuses_the_login_at_start_opens_on_the_error_screen_and_r_retries(pg_url, monkeypatch):
    monkeypatch.setattr("tracetui.tui.app.RECONNECT_FIRST", 600.0)  # only `r` tries again here
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    role = f"late_{dbname(pg_url)}"
    url = pg_url.replace("postgres@", f"{role}@")
    app = TraceApp(LaterOpening(url))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        assert f'role "{role}" does not exist' in app.screen.problem and app.screen.retry is not None
        select_only_role(pg_url, role)
        await pilot.press("r")
        await until(pilot, lambda: app.screen is app.runs_screen and app.runs_screen.run_list.count == 3)
        title = str(app.runs_screen.query_one("#title").render())
        assert title.startswith(f"tracetui  postgresql://{role}@/") and title.endswith(
            "#public.agent_traces  (agent-traces)"
        )


async def test_a_database_that_comes_up_later_is_reached_by_the_reconnecting_alone(pg_url, monkeypatch):
    monkeypatch.setattr("tracetui.tui.app.RECONNECT_FIRST", 0.05)
    agent_traces_table(pg_url, AGENT_TRACES_ROWS)
    role = f"later_{dbname(pg_url)}"
    app = TraceApp(LaterOpening(pg_url.replace("postgres@", f"{role}@")))
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, ErrorScreen))
        select_only_role(pg_url, role)
        await until(pilot, lambda: app.screen is app.runs_screen and app.runs_screen.run_list.count == 3)


def test_open_starts_the_viewer_on_a_database_it_cannot_reach_yet(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(TraceApp, "run", lambda app: started.append(app.opening))
    url = f"postgresql://me@/traces?host={tmp_path}"  # no server there
    result = CliRunner().invoke(main, ["open", url, "--table", "turns"])
    assert result.exit_code == 0 and isinstance(started[0], LaterOpening)
    assert started[0].label == f"postgresql://me@/traces?host={tmp_path}"
    listed = CliRunner().invoke(main, ["list", url])  # a command that prints: one line, exit 2
    assert listed.exit_code == 2 and "cannot connect" in listed.stderr
