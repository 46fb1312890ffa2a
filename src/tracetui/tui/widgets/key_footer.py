"""Textual's footer, with the keys nobody should have to look for kept in sight at any width."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("stats", "quit", "help")
"""Actions whose keys stay at the footer's right end, beside the command palette's: a narrow terminal
(80 columns) cuts the other keys at the right, and these are how a new user finds out the rest (and
the stats screen, which issue 11 wants in the footer, is a screen of its own nobody would guess)."""


class KeyFooter(Footer):
    """The footer with help, quit and the command palette at its right end; the other keys fill the rest."""

    DEFAULT_CSS = """
    KeyFooter .pinned-keys { dock: right; width: auto; height: 1; padding-left: 1; background: $footer-background; }
    KeyFooter .pinned-keys FooterKey.-command-palette { dock: none; }
    """

    def compose(self) -> ComposeResult:
        pinned: list[FooterKey] = []
        for widget in super().compose():
            if isinstance(widget, FooterKey) and (widget.action in PINNED or widget.has_class("-command-palette")):
                pinned.append(widget)
            else:
                yield widget
        if pinned:
            # In the order Footer puts them when there is room: stats, quit, help, the command palette.
            pinned.sort(key=lambda key: PINNED.index(key.action) if key.action in PINNED else len(PINNED))
            with HorizontalGroup(classes="pinned-keys"):
                yield from pinned
