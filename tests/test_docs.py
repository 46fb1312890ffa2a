"""The docs keep up with the code, found by walking the code rather than from lists kept by hand.

Every click command has a working --help and is shown in the README; every key binding of every
class in tracetui.tui is on the `?` screen and in the README's keys table, which is generated from
the same bindings (`python -m tracetui.tui.keys_table` rewrites it). Formats are checked the same
way in tests/sources/test_contract.py and tests/sources/test_detection.py.
"""

from __future__ import annotations

import html
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from builders import opening, run, write_store
from click.testing import CliRunner
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode

import tracetui.tui
from tracetui.cli import main
from tracetui.tui import keys_table
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle
from tracetui.tui.screens.help import SECTIONS, HelpScreen, own_bindings, shown_keys

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
REGENERATE = "run `.venv/bin/python -m tracetui.tui.keys_table` and commit README.md"


# -- commands -------------------------------------------------------------------------------------
def walk_commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from walk_commands(command, (*path, name))


COMMANDS = list(walk_commands(main))


def test_the_walk_finds_the_commands():
    assert {("open",), ("list",), ("compare",), ("formats",)} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_command_has_a_working_help(path):
    result = CliRunner().invoke(main, [*path, "--help"], prog_name="tracetui")
    assert result.exit_code == 0, result.output
    usage, _, description = result.output.partition("\n\n")
    assert usage.startswith(f"Usage: tracetui {' '.join(path)} ")
    assert description.strip(), f"`tracetui {' '.join(path)} --help` says nothing about the command"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_command_is_in_the_readme(path):
    name = " ".join(path)
    assert re.search(rf"\btracetui {re.escape(name)}\b", README), f"README.md never shows `tracetui {name}`"


# -- keys -----------------------------------------------------------------------------------------
def classes_with_bindings() -> list[type]:
    """Every screen, widget and app class in the tracetui.tui package that declares BINDINGS."""
    found = []
    for info in pkgutil.walk_packages(tracetui.tui.__path__, "tracetui.tui."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == info.name and issubclass(cls, DOMNode) and own_bindings(cls):
                found.append(cls)
    return found


CLASSES = classes_with_bindings()
BINDINGS = [(cls, b) for cls in CLASSES for b in own_bindings(cls)]


def binding_id(item: tuple[type, Binding]) -> str:
    return f"{item[0].__name__}:{item[1].id}"


def test_the_walk_finds_the_screens_widgets_and_app():
    names = {cls.__name__ for cls in CLASSES}
    assert {"TraceApp", "RunsScreen", "RunList", "RunScreen", "StepTree", "PairList", "HelpScreen"} <= names


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_every_class_with_bindings_is_in_a_help_section(cls):
    covered = {module for _, modules in SECTIONS for module in modules}
    assert cls.__module__ in covered, f"{cls.__module__} ({cls.__name__}) is in no section of screens/help.py SECTIONS"


@pytest.fixture(scope="module")
def help_text(tmp_path_factory) -> str:
    """The `?` screen as drawn, tall enough that nothing scrolls out of view."""
    import asyncio

    path = write_store(tmp_path_factory.mktemp("help") / "t.db", [run("r1")])

    async def draw() -> str:
        app = TraceApp(opening(path))
        async with app.run_test(size=(160, 160)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            return html.unescape(app.export_screenshot()).replace("\xa0", " ")

    return asyncio.run(draw())


@pytest.mark.parametrize("item", BINDINGS, ids=binding_id)
def test_every_binding_is_on_the_help_screen(item, help_text):
    _, binding = item
    keys = " / ".join(shown_keys(binding, App().get_key_display))
    assert re.search(rf"(?<![\w.]){re.escape(str(binding.id))}(?![\w.])", help_text), (
        f"{binding.id} is not on the ? screen"
    )
    for shown in (keys, binding.description):
        assert shown in help_text, f"{shown!r} of {binding_id(item)} is not on the ? screen"


def readme_keys_table() -> str:
    start, end = README.index(keys_table.START), README.index(keys_table.END)
    return README[start + len(keys_table.START) : end].strip("\n") + "\n"


def test_the_readme_keys_table_is_the_generated_one():
    assert readme_keys_table() == keys_table.markdown_table(), f"README's keys table is out of date: {REGENERATE}"


@pytest.mark.parametrize("item", BINDINGS, ids=binding_id)
def test_every_binding_is_in_the_readme_keys_table(item):
    _, binding = item
    what = binding.group.description if binding.group else binding.tooltip or binding.description
    keys = "/".join(f"`{key}`" for key in shown_keys(binding, App().get_key_display))
    rows = [line for line in readme_keys_table().splitlines() if line.endswith(f"| {what} |")]
    assert any(keys in row for row in rows), f"no row of README's keys table has {keys} for {what!r}: {REGENERATE}"


def test_regenerating_rewrites_only_the_block_between_the_markers(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{keys_table.START}\n| stale |\n{keys_table.END}\nrest\n")
    assert keys_table.main([str(readme)]) == 0
    assert readme.read_text() == f"intro\n{keys_table.START}\n{keys_table.markdown_table()}{keys_table.END}\nrest\n"


def test_regenerating_without_the_markers_is_refused():
    with pytest.raises(ValueError, match="markers"):
        keys_table.with_table("no markers here\n", "| x |\n")
