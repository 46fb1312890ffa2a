"""The `?` screen: every key of the app and its screens, read from their BINDINGS (never a hand-kept list)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import replace
from importlib import import_module

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.dom import DOMNode
from textual.screen import ModalScreen
from textual.widgets import Static

from ... import pricing
from ..widgets.key_scroll import KeyScroll
from .box import box_css

# (section title, modules whose classes' bindings belong to it). The README's keys table is made
# from these too (tui/keys_table.py), and a test checks every class with BINDINGS is covered here.
SECTIONS = (
    ("Everywhere", ("tracetui.tui.app",)),
    ("Run list", ("tracetui.tui.widgets.run_list", "tracetui.tui.screens.runs")),
    (
        "Run view",
        (
            "tracetui.tui.widgets.step_tree",
            "tracetui.tui.screens.run",
            "tracetui.tui.widgets.detail",
            "tracetui.tui.screens.text_view",
            "tracetui.tui.screens.export",
        ),
    ),
    ("Matching steps (R after / in the run list)", ("tracetui.tui.screens.step_hits",)),
    ("Compare", ("tracetui.tui.widgets.pair_list", "tracetui.tui.screens.compare")),
    ("Stats", ("tracetui.tui.screens.stats",)),
    (
        "Help, warnings and errors",
        ("tracetui.tui.screens.help", "tracetui.tui.screens.error", "tracetui.tui.widgets.key_scroll"),
    ),
    ("Start screen (tracetui alone)", ("tracetui.tui.screens.start",)),
)


def _prices_dated() -> bool:
    return pricing.data_dated.cache_info().currsize > 0


def prices_text() -> Text:
    """Where estimated costs come from: the price data's version, and its date once the table is loaded."""
    return Text(
        f"Costs marked ≈ are estimated from the price table of {pricing.describe(dated=_prices_dated())}", style="dim"
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


def section_keys(module_names: tuple[str, ...]) -> list[Binding]:
    """The bindings a section lists, in declaration order, each (key, action) once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for _, binding in section_bindings(module_names):
        if (binding.key, binding.action) not in seen:
            seen.add((binding.key, binding.action))
            out.append(binding)
    return out


def binding_ids() -> set[str]:
    """The id of every binding of every section: what a keymap can remap."""
    return {b.id for _, modules in SECTIONS for _, b in section_bindings(modules) if b.id}


def shown_keys(
    binding: Binding, key_display: Callable[[Binding], str], keymap: Mapping[str, str] | None = None
) -> list[str]:
    """Each key of a binding ("j,down") as the footer shows it (`App.get_key_display`), once each;
    the keys a keymap gives the binding instead of its own."""
    if keymap and binding.id is not None and binding.id in keymap:
        binding = replace(binding, key=keymap[binding.id], key_display=None)
    if binding.key_display and "," not in binding.key:
        return [binding.key_display]
    shown = (key_display(replace(binding, key=key.strip(), key_display=None)) for key in binding.key.split(","))
    return list(dict.fromkeys(shown))


class HelpScreen(ModalScreen):
    """All keys, grouped by where they work."""

    CSS = (
        box_css("HelpScreen", "help-box", "help-scroll")
        + """
    .help-section {
        margin-bottom: 1;
    }
    """
    )

    BINDINGS = [Binding("escape,question_mark", "dismiss", "Close help", id="tracetui.help.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static(Text("tracetui keys", style="bold"), id="help-title")
            with KeyScroll(id="help-scroll"):
                for title, modules in SECTIONS:
                    bindings = section_keys(modules)
                    if bindings:
                        yield Static(self._table(title, bindings), classes="help-section")
            yield Static(Text("Esc or ? closes · Ctrl+P runs any of these by name", style="dim"), id="help-hint")
            yield Static(prices_text(), id="help-prices")

    def on_mount(self) -> None:
        if not _prices_dated():
            self._date_prices()  # the date needs the price table loaded: not on the event loop

    @work(thread=True, exclusive=True, group="help-prices")
    def _date_prices(self) -> None:
        pricing.data_dated()
        self.app.call_from_thread(lambda: self.query_one("#help-prices", Static).update(prices_text()))

    def _table(self, title: str, bindings: list[Binding]) -> Table:
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
        for binding in bindings:
            action = binding.description or binding.action
            if binding.tooltip:
                action = f"{action} — {binding.tooltip}"
            keymap = getattr(getattr(self.app, "config", None), "keymap", None)
            keys = " / ".join(shown_keys(binding, self.app.get_key_display, keymap))
            table.add_row(Text(keys), Text(action), Text(binding.id or ""))
        return table
