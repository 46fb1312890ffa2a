"""Textual's footer, with the keys nobody should have to look for kept in sight at any width."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._right_ends: WeakKeyDictionary[FooterKey, int] = WeakKeyDictionary()

    def on_mount(self) -> None:
        # After every layout of the screen: a resize, and a resize while another screen was on top.
        self.screen.screen_layout_refresh_signal.subscribe(self, lambda _screen: self._hide_cut_keys())

    def on_unmount(self) -> None:
        self.screen.screen_layout_refresh_signal.unsubscribe(self)

    def _hide_cut_keys(self) -> None:
        """A key the width cuts is hidden whole: `e Expa` reads like a typo, and its key may not be `e`.
        Hidden keys keep their room (visibility, not display), so no key moves; a hidden widget has no
        region, so each key's right end is remembered from when it was shown (keys start shown)."""
        pinned = self.query(".pinned-keys")
        right = pinned.first().virtual_region.x if pinned else self.size.width
        for key in self.query(FooterKey):
            if key.parent is not None and key.parent.has_class("pinned-keys"):
                continue
            if key.styles.visibility != "hidden":
                self._right_ends[key] = key.virtual_region.right
            visibility = "visible" if self._right_ends.get(key, 0) <= right else "hidden"
            if key.styles.visibility != visibility:
                key.styles.visibility = visibility

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
