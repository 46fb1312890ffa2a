"""`o` opens the step's full text in $PAGER; a pager that is missing, unrunnable or misspelt is
reported in a toast (literally), the app never stays suspended, and with no pager at all the text
is shown in the viewer."""

from __future__ import annotations

import contextlib
import os
import stat

from builders import opening, run, step, write_store
from textual.widgets import Log

from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import until
from tracetui.tui.screens.run import RunScreen
from tracetui.tui.screens.text_view import TextScreen

T0 = "2026-01-01T10:00:00.000Z"
LINES = [f"line {i}" for i in range(3000)]


def app_for(tmp_path) -> TraceApp:
    r = run("p", step("s", name="dump", kind="tool", output="\n".join(LINES)), started_at=T0)
    return TraceApp(opening(write_store(tmp_path / "t.db", [r])), run_id="p")


async def on_step(pilot) -> RunScreen:
    await until(pilot, lambda: isinstance(pilot.app.screen, RunScreen) and pilot.app.screen.run is not None)
    screen = pilot.app.screen
    await pilot.press("j")
    await until(pilot, lambda: screen.detail.details is not None and screen.detail.step is not None)
    return screen


def toasts(app) -> list[str]:
    return [n.message for n in app._notifications]


class Suspends:
    """Stands in for App.suspend (the headless driver cannot suspend) and records the resume."""

    def __init__(self) -> None:
        self.entered = self.resumed = 0

    @contextlib.contextmanager
    def __call__(self):
        self.entered += 1
        yield  # like Textual's: an exception here would skip the resume below
        self.resumed += 1


async def test_a_missing_pager_with_markup_in_its_name_is_reported_literally(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGER", "/nonexistent/[/]pager --flag")
    app = app_for(tmp_path)
    suspend = Suspends()
    monkeypatch.setattr(app, "suspend", suspend)
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot)
        await pilot.press("o")
        await until(pilot, lambda: bool(toasts(app)))
        assert toasts(app) == ["pager not found: /nonexistent/[/]pager (set $PAGER)"]
        assert all(not n.markup for n in app._notifications)
        assert suspend.entered == 0  # found missing before the app hands over the terminal
        assert app.is_running and isinstance(app.screen, RunScreen)


async def test_a_pager_that_cannot_be_run_still_resumes_the_app(tmp_path, monkeypatch):
    broken = tmp_path / "bin" / "mypager"
    broken.parent.mkdir()
    broken.write_text("#!/nonexistent/interpreter\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PAGER", str(broken))
    app = app_for(tmp_path)
    suspend = Suspends()
    monkeypatch.setattr(app, "suspend", suspend)
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot)
        await pilot.press("o")
        await until(pilot, lambda: bool(toasts(app)))
        assert (suspend.entered, suspend.resumed) == (1, 1)
        assert toasts(app)[0].startswith(f"pager failed: {broken}")
        assert app.is_running


async def test_an_unreadable_pager_setting_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PAGER", '"less')
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot)
        await pilot.press("o")
        await until(pilot, lambda: bool(toasts(app)))
        assert toasts(app)[0].startswith("cannot read $PAGER '\"less'")


async def test_with_no_pager_installed_the_text_opens_in_the_viewer(tmp_path, monkeypatch):
    monkeypatch.delenv("PAGER", raising=False)
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    app = app_for(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot)
        await pilot.press("o")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        log = app.screen.query_one(Log)
        assert log.lines[0].startswith("step dump") and "line 2999" in log.lines
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))


async def test_the_pager_gets_the_full_text(tmp_path, monkeypatch):
    paged = tmp_path / "paged.txt"
    pager = tmp_path / "bin" / "copy-pager"
    pager.parent.mkdir()
    pager.write_text(f'#!/bin/sh\ncp "$1" {paged}\n')
    pager.chmod(pager.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PAGER", "copy-pager")
    monkeypatch.setenv("PATH", f"{pager.parent}{os.pathsep}{os.environ['PATH']}")
    app = app_for(tmp_path)
    monkeypatch.setattr(app, "suspend", Suspends())
    async with app.run_test(size=(120, 30)) as pilot:
        await on_step(pilot)
        await pilot.press("o")
        await until(pilot, paged.exists)
        assert "line 2999" in paged.read_text()
        assert not toasts(app)
