"""The config file in the running viewer: its keymap and theme apply, a theme picked in the palette is
written back, `u` switches every time shown between UTC and local, a bad file is told once naming its
line; and NO_COLOR: no colour, every status still an icon and a word."""

from __future__ import annotations

import time

import pytest
from builders import opening, write_agent_traces

from tracetui import config as settings
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.help import HelpScreen
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.stats import StatsScreen

ROWS = [
    {"id": "r1", "session_id": "s1", "final_status": "success", "started_at": "2026-11-01T09:00:00Z",
     "finished_at": "2026-11-01T09:00:05Z", "prompt_tokens": 10, "completion_tokens": 1},
    {"id": "r2", "session_id": "s1", "final_status": "error", "error_message": "boom",
     "started_at": "2026-11-01T09:05:00Z", "finished_at": "2026-11-01T09:05:30Z", "prompt_tokens": 900,
     "completion_tokens": 90, "tool_calls": [{"name": "search", "error": "no network"}]},
]  # fmt: skip


def app_with(tmp_path, text: str | None, **kwargs) -> TraceApp:
    path = tmp_path / "config.toml"
    if text is not None:
        path.write_text(text)
    db = tmp_path / "a.db"
    if not db.exists():
        write_agent_traces(db, ROWS)
    return TraceApp(opening(str(db)), config=settings.load(str(path)), **kwargs)


def screen_text(app: TraceApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def lines(app: TraceApp) -> list[str]:
    run_list = app.screen.query_one("#run-list")
    return [run_list.render_line(y).text for y in range(run_list.size.height)]


def told(app: TraceApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_keymap_from_the_config_file_moves_the_keys(tmp_path):
    text = '[keymap]\n"tracetui.runs.stats" = "T"\ntracetui.runs.sessions = "ctrl+g"\n'
    app = app_with(tmp_path, text)
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        await pilot.press("t")  # no longer the stats key
        await settle(pilot)
        assert not isinstance(app.screen, StatsScreen)
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert app.screen.query_one("#run-list").grouped
        await pilot.press("T")
        await settle(pilot)
        assert isinstance(app.screen, StatsScreen)
        await pilot.press("escape", "question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        help_text = screen_text(app)
        assert " T " in help_text and "^g" in help_text
        assert not told(app)


async def test_the_config_theme_applies_and_a_theme_picked_in_the_palette_is_remembered(tmp_path):
    app = app_with(tmp_path, '# mine\ntheme = "nord"\n')
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert app.theme == "nord"
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"theme")
        await settle(pilot)
        await pilot.press("enter")  # the palette's own "Theme" command lists the themes
        await settle(pilot)
        await pilot.press(*"gruvbox")
        await settle(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "gruvbox")
        await settle(pilot)
    text = (tmp_path / "config.toml").read_text()
    assert text.startswith("# mine\n") and 'theme = "gruvbox"' in text and "nord" not in text
    again = app_with(tmp_path, None)
    async with again.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert again.theme == "gruvbox"


async def test_a_broken_config_file_is_told_once_naming_the_line_and_the_viewer_starts(tmp_path):
    app = app_with(tmp_path, 'times = "local"\n[keymap\n')
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        messages = told(app)
        assert len(messages) == 1 and "line 2" in messages[0] and "defaults used instead" in messages[0]
        assert "r2" in "\n".join(lines(app)) and "started (UTC)" in lines(app)[0]
        app.theme = "nord"  # a broken file is never rewritten
        await settle(pilot)
    assert (tmp_path / "config.toml").read_text() == 'times = "local"\n[keymap\n'


async def test_unknown_themes_and_binding_ids_are_told_with_their_lines(tmp_path):
    app = app_with(tmp_path, 'theme = "no-such-theme"\n[keymap]\n"tracetui.nope" = "z"\n')
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        (message,) = told(app)
        assert "line 1: no theme 'no-such-theme'" in message and "(and 1 more)" in message
        assert app.theme == "textual-dark"
        assert app.config.problems[1].startswith("line 3: keymap: no key has the id 'tracetui.nope'")


async def test_the_config_sort_is_the_lists_first_order(tmp_path):
    app = app_with(tmp_path, 'sort = "tokens"\n')
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        run_list = app.screen.query_one("#run-list")
        assert (run_list.sort, run_list.desc) == ("tokens", True)
        assert "r2" in lines(app)[1]
    app = app_with(tmp_path, 'sort = "tokens"\nsort_order = "asc"\n')
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert "r1" in lines(app)[1]


@pytest.fixture
def kolkata(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.delenv("TZ")
    time.tzset()


async def test_u_switches_every_time_shown_between_utc_and_local(tmp_path, kolkata):
    app = app_with(tmp_path, None, run_id="r1")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert isinstance(app.screen, RunScreen)
        header = lambda: str(app.screen.query_one("#run-header").render())  # noqa: E731
        detail = lambda: screen_text(app)  # noqa: E731
        assert "started 2026-11-01 09:00:00" in header() and "2026-11-01 09:00:00.000 UTC" in detail()
        await pilot.press("u")
        await settle(pilot)
        assert "started 2026-11-01 14:30:00" in header() and "2026-11-01 14:30:00.000 IST" in detail()
        await pilot.press("escape")
        await settle(pilot)
        shown = lines(app)
        assert "started (local)" in shown[0] and "2026-11-01 14:35:00" in shown[1]
        await pilot.press("u")
        await settle(pilot)
        shown = lines(app)
        assert "started (UTC)" in shown[0] and "2026-11-01 09:05:00" in shown[1]


async def test_times_local_in_the_config_file_is_the_first_clock(tmp_path, kolkata):
    app = app_with(tmp_path, 'times = "local"\n')
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert "started (local)" in lines(app)[0] and "14:35:00" in lines(app)[1]


async def test_no_color_leaves_colour_out_and_every_status_says_its_word(tmp_path, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = app_with(tmp_path, None, run_id="r2")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert app.no_color
        header = str(app.screen.query_one("#run-header").render())
        assert "✗ failed" in header
        tree = app.screen.query_one("#step-tree")
        rows = "\n".join(tree.render_line(y).text for y in range(tree.size.height))
        assert "✗ failed" in rows  # the failed tool call: icon and word, not a red name alone
        svg = app.export_screenshot()
        await pilot.press("escape")
        await settle(pilot)
        shown = lines(app)
        assert "✗ failed" in shown[1] and "✓ completed" in shown[2]
    # Monochrome: every colour the screen uses is a shade of grey (c5c8c6 is the screenshot frame's own).
    assert greys(svg)
    monkeypatch.delenv("NO_COLOR")
    app = app_with(tmp_path, None, run_id="r2")
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        assert not greys(app.export_screenshot())  # with colour, the same screen is not all grey


def greys(svg: str) -> bool:
    import re

    colours = set(re.findall(r"fill: #([0-9a-f]{6})", svg)) - {"c5c8c6"}
    return bool(colours) and all(c[0:2] == c[2:4] == c[4:6] for c in colours)
