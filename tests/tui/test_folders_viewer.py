"""The viewer on a folder (one run list, each run's file, file:/project:/model: in the search box, the
files named under w) and the start screen of `tracetui` alone (the sources found; Enter opens one)."""

from __future__ import annotations

import html
import shutil

import pytest
from agents import AGENTS, CLAUDE

from tracetui import discovery, present
from tracetui.loading import prepare
from tracetui.store import RunFilter
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle, until
from tracetui.tui.screens.error import ProblemsScreen
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.runs import RunsScreen, parse_search, search_text
from tracetui.tui.screens.start import StartScreen

SESSIONS = {f"5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e0{n}" for n in range(1, 5)}


def screen_text(app) -> str:
    return html.unescape(app.export_screenshot()).replace("\xa0", " ")


def listed(app) -> set[str]:
    run_list = app.runs_screen.run_list
    return {run_list.id_at(i) for i in range(run_list.count)}


@pytest.fixture
def folder(tmp_path):
    return shutil.copytree(AGENTS, tmp_path / "agents")


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_a_folder_opens_as_one_run_list_while_it_is_read(folder, size):
    app = TraceApp(prepare(str(folder)))
    assert app.importing
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: not app.importing and app.runs_screen.run_list.count == 17)
        await settle(pilot)
        assert SESSIONS <= listed(app)
        if size[0] >= 160:
            text = screen_text(app)
            assert "(folder)" in text and " file " in text and "claude/projects/" in text


async def test_file_project_and_model_words_in_the_search_narrow_the_list(folder):
    app = TraceApp(prepare(str(folder)))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: not app.importing)
        await settle(pilot)
        await pilot.press("slash")
        await pilot.press(*"file:claude/ project:shop")
        await pilot.press("enter")
        await settle(pilot)
        assert listed(app) == SESSIONS
        said = present.filter_text(app.runs_screen.run_list.flt).plain
        assert "project: shop" in said and "file: claude/" in said
        await pilot.press("slash")
        assert app.screen.query_one("#search").value == "file:claude/ project:shop"
        await pilot.press("escape")
        await settle(pilot)
        assert app.runs_screen.run_list.count == 17


def test_the_search_box_text_and_the_filter_go_both_ways():
    fields = parse_search('file:"a b/c.jsonl" model:gpt-4o error text')
    assert fields == {"file": "a b/c.jsonl", "project": None, "model": "gpt-4o", "search": "error text"}
    assert parse_search(search_text(RunFilter(**fields))) == fields
    assert parse_search(r"C:\path [x]") == {"file": None, "project": None, "model": None, "search": r"C:\path [x]"}


async def test_w_names_the_file_of_each_problem(folder):
    app = TraceApp(prepare(str(folder)))
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: not app.importing)
        await settle(pilot)
        await pilot.press("w")
        await until(pilot, lambda: isinstance(app.screen, ProblemsScreen))
        text = screen_text(app)
        assert "claude/projects/-home-dev-shop/5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e03.jsonl: line 6" in text
        assert "14 files are not read" in text


async def test_a_run_of_a_folder_opens_on_its_first_failure(tmp_path):
    project = shutil.copytree(CLAUDE, tmp_path / "p")
    app = TraceApp(prepare(str(project)), run_id="5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01")
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.run is not None)
        await pilot.press("f")
        await until(pilot, lambda: (s := app.screen.step_tree.step_at_cursor()) is not None and s.id == "toolu_bash1")


# -- the start screen ---------------------------------------------------------------------------------


def fake_found(tmp_path) -> tuple[list, list]:
    shutil.copytree(CLAUDE.parent, tmp_path / "home" / ".claude" / "projects")
    (tmp_path / "home" / ".phoenix").mkdir()
    shutil.copy(AGENTS / "phoenix" / "phoenix.db", tmp_path / "home" / ".phoenix")
    env = {"HOME": str(tmp_path / "home")}
    return discovery.discover(env, cwd=str(tmp_path))


@pytest.mark.parametrize("size", [(160, 48), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_the_start_screen_lists_the_sources_and_enter_opens_one(tmp_path, size):
    found, looked = fake_found(tmp_path)
    app = TraceApp(None, found=found, looked=looked)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartScreen))
        text = screen_text(app)
        assert "Claude Code" in text and "Arize Phoenix" in text and "4 session files" in text
        index = next(i for i, f in enumerate(found) if f.tool == "Claude Code")
        for _ in range(index):
            await pilot.press("j")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunsScreen) and not app.importing)
        await settle(pilot)
        assert listed(app) == SESSIONS
        assert app.opening.path == found[index].path


async def test_the_start_screen_of_an_empty_machine_says_where_it_looked(tmp_path):
    found, looked = discovery.discover({"HOME": str(tmp_path / "nobody")}, cwd=str(tmp_path))
    assert found == []
    app = TraceApp(None, found=found, looked=looked)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartScreen))
        text = screen_text(app)
        assert "No traces found" in text and str(tmp_path / "nobody" / ".claude" / "projects") in text
        assert "tracetui open PATH" in text
        await pilot.press("enter")  # nothing to open: nothing happens
        assert isinstance(app.screen, StartScreen)
        await pilot.press("q")
    assert app.return_code == 0


async def test_a_source_that_cannot_be_opened_leaves_the_start_screen_with_a_notice(tmp_path):
    found, looked = fake_found(tmp_path)
    for f in found:
        shutil.rmtree(f.path) if f.unit == "sessions" else open(f.path, "w").close()
    app = TraceApp(None, found=found, looked=looked)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, StartScreen))
        await pilot.press("enter")
        await until(pilot, lambda: bool(app._notifications))
        await settle(pilot)
        assert isinstance(app.screen, StartScreen)


async def test_quitting_while_a_folder_is_read_keeps_what_was_read_and_the_next_open_reads_the_rest(
    tmp_path, monkeypatch
):
    from builders import run, step, write_jsonl

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        write_jsonl(folder / f"f{i:02d}.jsonl", [run(f"r{i}-{j}", step("s", input="x" * 2000)) for j in range(40)])
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    opening = prepare(str(folder))
    app = TraceApp(opening)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: app.runs_screen.run_list.count > 0)
        await pilot.press("q")
    again = prepare(str(folder))
    again.run_import()
    assert again.connect().count_runs() == 60 * 40
