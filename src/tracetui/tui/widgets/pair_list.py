"""The aligned rows of two runs, drawn line by line: 20k pairs paint as fast as twenty."""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...compare import Pair
from ...compare_text import pair_line


class PairList(ScrollView, can_focus=True):
    """One row per aligned step pair; a cursor row whose pair the detail pane shows."""

    BINDINGS = [
        Binding("down,j", "cursor_down", "Down", show=False, id="tracetui.compare.down"),
        Binding("up,k", "cursor_up", "Up", show=False, id="tracetui.compare.up"),
        Binding("home,g", "first", "First row", show=False, id="tracetui.compare.first"),
        Binding("end,G", "last", "Last row", show=False, id="tracetui.compare.last"),
        Binding("pagedown", "page_down", "Page down", show=False, id="tracetui.compare.page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="tracetui.compare.page_up"),
    ]

    COMPONENT_CLASSES = {"pair-list--cursor"}

    DEFAULT_CSS = """
    PairList { height: 1fr; }
    PairList > .pair-list--cursor { background: $block-cursor-blurred-background; }
    PairList:focus > .pair-list--cursor { background: $block-cursor-background; }
    """

    class CursorMoved(Message):
        def __init__(self, pair_list: PairList, index: int) -> None:
            super().__init__()
            self.pair_list = pair_list
            self.index = index

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.pairs: list[Pair] = []
        self.cursor = 0
        self._lines: dict[int, Text] = {}  # row -> drawn line, for the current width
        self._lines_width = 0

    def set_pairs(self, pairs: list[Pair]) -> None:
        self.pairs = pairs
        self._lines.clear()
        self.virtual_size = Size(self.size.width, len(pairs))
        self.move_cursor(0)

    @property
    def current(self) -> Pair | None:
        return self.pairs[self.cursor] if 0 <= self.cursor < len(self.pairs) else None

    # -- cursor -----------------------------------------------------------------------------------
    def move_cursor(self, row: int, *, center: bool = False) -> None:
        previous = self.cursor
        self.cursor = max(0, min(row, len(self.pairs) - 1)) if self.pairs else 0
        self._scroll_to_cursor(center)
        self.refresh()
        if self.pairs and (self.cursor != previous or row == previous):
            self.post_message(self.CursorMoved(self, self.cursor))

    def _scroll_to_cursor(self, center: bool) -> None:
        visible = max(self.size.height, 1)
        top = round(self.scroll_offset.y)
        if center and not top <= self.cursor < top + visible:
            self.scroll_to(y=max(self.cursor - visible // 3, 0), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.pairs))
        self._scroll_to_cursor(False)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self.pairs) - 1)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + max(self.size.height - 1, 1))

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor - max(self.size.height - 1, 1))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        row = round(self.scroll_offset.y) + offset.y
        if 0 <= row < len(self.pairs):
            self.focus()
            self.move_cursor(row)

    # -- drawing ----------------------------------------------------------------------------------
    def line_text(self, row: int) -> Text:
        width = self.size.width
        if width != self._lines_width:
            self._lines.clear()
            self._lines_width = width
        line = self._lines.get(row)
        if line is None:
            if len(self._lines) > 2000:
                self._lines.clear()
            line = self._lines[row] = pair_line(self.pairs[row], width)
        return line

    def render_line(self, y: int) -> Strip:
        width = self.size.width
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
        segments = list(line.render(self.app.console, end=""))
        return Strip(segments, line.cell_len).extend_cell_length(width, base).crop(0, width)
