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

    def on_resize(self) -> None:
        self.call_after_refresh(self._hide_cut_keys)

    def _hide_cut_keys(self) -> None:
        """A key the width cuts is hidden whole: `e Expa` reads like a typo, and its key may not be `e`.
        Hidden keys keep their room (visibility, not display), so the keys before them do not move."""
        pinned = self.query(".pinned-keys")
        right = pinned.first().region.x if pinned else self.region.right
        for key in self.query(FooterKey):
            if key.parent is not None and key.parent.has_class("pinned-keys"):
                continue
            key.styles.visibility = "visible" if key.region.right <= right else "hidden"

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
        self.call_after_refresh(self._hide_cut_keys)
