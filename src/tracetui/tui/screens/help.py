"""The `?` screen: every key of the app and its screens, read from their BINDINGS (never a hand-kept list)."""

from __future__ import annotations

import inspect
from dataclasses import replace
from importlib import import_module

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

# (section title, modules whose classes' bindings belong to it).
SECTIONS = (
    ("Everywhere", ("tracetui.tui.app",)),
    ("Run list", ("tracetui.tui.screens.runs", "tracetui.tui.widgets.run_list")),
    (
        "Run view",
        (
            "tracetui.tui.screens.run",
            "tracetui.tui.widgets.step_tree",
            "tracetui.tui.widgets.detail",
            "tracetui.tui.screens.text_view",
        ),
    ),
    ("Compare", ("tracetui.tui.screens.compare",)),
    ("Warnings and errors", ("tracetui.tui.screens.error",)),
)


def own_bindings(cls: type) -> list[Binding]:
    out: list[Binding] = []
    for item in cls.__dict__.get("BINDINGS", []):
        out.append(item if isinstance(item, Binding) else Binding(*item))
    return out


def section_bindings(module_names: tuple[str, ...]) -> list[tuple[str, Binding]]:
    """(class name, binding) for every binding declared by a class defined in these modules."""
    out: list[tuple[str, Binding]] = []
    for name in module_names:
        module = import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, DOMNode):
                out.extend((cls.__name__, b) for b in own_bindings(cls))
    return out


class HelpScreen(ModalScreen):
    """All keys, grouped by where they work."""

    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close help", id="tracetui.help.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("tracetui keys", style="bold"), id="help-title")
            with VerticalScroll(id="help-scroll"):
                for title, modules in SECTIONS:
                    bindings = section_bindings(modules)
                    if bindings:
                        yield Static(self._table(title, bindings), classes="help-section")
            yield Static(Text("Esc or ? closes · Ctrl+P runs any of these by name", style="dim"), id="help-hint")

    def _keys(self, binding: Binding) -> str:
        shown = []
        for key in binding.key.split(","):
            single = replace(binding, key=key.strip(), key_display=None)
            shown.append(
                binding.key_display
                if binding.key_display and "," not in binding.key
                else self.app.get_key_display(single)
            )
        return " / ".join(dict.fromkeys(shown))

    def _table(self, title: str, bindings: list[tuple[str, Binding]]) -> Table:
        table = Table(
            title=Text(title, style="bold"),
            title_justify="left",
            show_header=False,
            box=None,
            expand=True,
            padding=(0, 1),
        )
        table.add_column("keys", style="bold", no_wrap=True, min_width=14)
        table.add_column("action", ratio=1)
        table.add_column("id", style="dim", no_wrap=True)
        seen = set()
        for _, binding in bindings:
            if (binding.key, binding.action) in seen:
                continue
            seen.add((binding.key, binding.action))
            action = binding.description or binding.action
            if binding.tooltip:
                action = f"{action} — {binding.tooltip}"
            table.add_row(Text(self._keys(binding)), Text(action), Text(binding.id or ""))
        return table
