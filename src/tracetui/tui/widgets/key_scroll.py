"""A scrolling pane that answers the movement keys users already know (j/k, g/G), not only the
arrows and Page keys: the warnings list and the help screen, which at 80x24 are taller than the
screen."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll

SCROLL = Binding.Group("Scroll the list of keys or warnings")


class KeyScroll(VerticalScroll):
    BINDINGS = [
        Binding("j", "scroll_down", "Scroll down", show=False, id="tracetui.scroll.down", group=SCROLL),
        Binding("k", "scroll_up", "Scroll up", show=False, id="tracetui.scroll.up", group=SCROLL),
        Binding("g", "scroll_home", "Top", show=False, id="tracetui.scroll.top", group=SCROLL),
        Binding("G", "scroll_end", "Bottom", show=False, id="tracetui.scroll.bottom", group=SCROLL),
    ]


__all__ = ["KeyScroll"]
