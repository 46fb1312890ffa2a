"""Textual's footer, with the keys nobody should have to look for kept in sight at any width."""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from textual.app import ComposeResult
from textual.containers import HorizontalGroup
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

PINNED = ("stats", "quit", "help")
"""Actions whose keys stay at the footer's right end, beside the command palette's: a narrow terminal
(80 columns) cuts the other keys at the right, and these are how a new user finds out the rest (and
the stats screen, which issue 11 wants in the footer, is a screen of its own nobody would guess)."""

KEPT = ("search", "group_sessions")
"""Actions whose keys are left out last when the others do not fit (the run list's search and
sessions: at 80 columns the sort and filter keys, which the status line names, give way to them)."""


class KeyFooter(Footer):
    """The footer with help, quit and the command palette at its right end; the other keys fill the rest,
    each whole: those that do not fit are left out (the last first, KEPT last of all), never cut."""

    DEFAULT_CSS = """
    KeyFooter .pinned-keys { dock: right; width: auto; height: 1; padding-left: 1; background: $footer-background; }
    KeyFooter .pinned-keys FooterKey.-command-palette { dock: none; }
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each key's width, measured when it was first laid out (keys start shown): a hidden one has none.
        self._widths: WeakKeyDictionary[Widget, int] = WeakKeyDictionary()

    def on_mount(self) -> None:
        # After every layout of the screen: a resize, and a resize while another screen was on top.
        self.screen.screen_layout_refresh_signal.subscribe(self, lambda _screen: self._fit())

    def on_unmount(self) -> None:
        self.screen.screen_layout_refresh_signal.unsubscribe(self)

    def _fit(self) -> None:
        """Show the keys that fit beside the pinned ones, whole: `e Expa` reads like a typo, and its key
        may not be `e`."""
        if not self.is_attached or not self.size.width:
            return
        keys = [child for child in self.children if not child.has_class("pinned-keys")]
        for key in keys:
            if key not in self._widths and key.display and key.outer_size.width:
                self._widths[key] = key.outer_size.width + key.styles.margin.left + key.styles.margin.right
        if any(key not in self._widths for key in keys):
            return  # not laid out yet: the next layout fits them
        pinned = sum(child.outer_size.width for child in self.children if child.has_class("pinned-keys"))
        room = self.size.width - pinned
        shown = set(keys)
        # Left out from the right end, the KEPT keys after all others, until the rest fits.
        kept = [key for key in keys if getattr(key, "action", None) in KEPT]
        for key in [*(k for k in reversed(keys) if k not in kept), *reversed(kept)]:
            if sum(self._widths[k] for k in shown) <= room:
                break
            shown.discard(key)
        for key in keys:
            if key.display != (key in shown):
                key.display = key in shown

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
