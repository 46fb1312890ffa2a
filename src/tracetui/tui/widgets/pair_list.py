"""The aligned rows of two runs, drawn line by line: 20k pairs paint as fast as twenty."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.cache import LRUCache
from textual.strip import Strip

from ...compare import Pair
from ...compare_text import pair_line
from ..messages import PairListCursorMoved
from .cursor_list import CursorList, cursor_bindings

LINE_CACHE = 2000  # drawn lines kept; a screenful is redrawn from the cache while scrolling back and forth


class PairList(CursorList, can_focus=True):
    """One row per aligned step pair; a cursor row whose pair the detail pane shows."""

    BINDINGS = cursor_bindings("tracetui.compare", "row")

    COMPONENT_CLASSES = {"pair-list--cursor"}

    DEFAULT_CSS = """
    PairList { height: 1fr; }
    PairList > .pair-list--cursor { background: $block-cursor-blurred-background; }
    PairList:focus > .pair-list--cursor { background: $block-cursor-background; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pairs: list[Pair] = []
        self._lines: LRUCache[int, Text] = LRUCache(LINE_CACHE)  # row -> drawn line, at _lines_width
        self._lines_width = 0

    def set_pairs(self, pairs: list[Pair]) -> None:
        self.pairs = pairs
        self._lines.clear()
        self.size_to_rows()
        self.move_cursor(0)

    @property
    def current(self) -> Pair | None:
        return self.pairs[self.cursor] if 0 <= self.cursor < len(self.pairs) else None

    # -- cursor -----------------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self.pairs)

    def cursor_moved(self, previous: int, requested: int) -> None:
        if self.pairs and (self.cursor != previous or requested == previous):
            self.post_message(PairListCursorMoved(self.cursor))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = round(self.scroll_offset.y) + offset.y
        if 0 <= row < len(self.pairs):
            self.focus()
            self.move_cursor(row)

    # -- drawing ----------------------------------------------------------------------------------
    def content_width(self) -> int:
        # Beside the vertical scroll bar: rows as wide as the widget would need a horizontal one too.
        return self.scrollable_content_region.width or self.size.width

    def line_text(self, row: int) -> Text:
        width = self.content_width()
        if width != self._lines_width:
            self._lines.clear()
            self._lines_width = width
        line = self._lines.get(row)
        if line is None:
            line = pair_line(self.pairs[row], width)
            self._lines.set(row, line)
        return line

    def render_line(self, y: int) -> Strip:
        width = self.content_width()
        row = round(self.scroll_offset.y) + y
        base = self.rich_style
        if row >= len(self.pairs):
            return Strip.blank(width, base)
        line = self.line_text(row)
        if row == self.cursor:
            line = line.copy()
            line.pad_right(max(width - line.cell_len, 0))
            # Underneath the spans, so the marks keep their colours on the cursor row.
            line.stylize_before(self.get_component_rich_style("pair-list--cursor"))
        return Strip(self.line_segments(line, base), line.cell_len).extend_cell_length(width, base).crop(0, width)
