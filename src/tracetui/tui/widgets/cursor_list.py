"""A line-drawn list with a cursor row: the movement keys and scrolling shared by the lists."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView


def cursor_bindings(prefix: str, noun: str) -> list[BindingType]:
    """The movement keys, with ids under `prefix` so each list keeps its own keymap entries."""
    move = Binding.Group("Move")
    return [
        Binding("down,j", "cursor_down", "Down", show=False, id=f"{prefix}.down", group=move),
        Binding("up,k", "cursor_up", "Up", show=False, id=f"{prefix}.up", group=move),
        Binding("home,g", "first", f"First {noun}", show=False, id=f"{prefix}.first", group=move),
        Binding("end,G", "last", f"Last {noun}", show=False, id=f"{prefix}.last", group=move),
        Binding("pagedown", "page_down", "Page down", show=False, id=f"{prefix}.page_down", group=move),
        Binding("pageup", "page_up", "Page up", show=False, id=f"{prefix}.page_up", group=move),
    ]


class CursorList(ScrollView, can_focus=True):
    """Rows below `HEADER_LINES` fixed lines; subclasses say how many rows there are and draw them."""

    HEADER_LINES = 0

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cursor = 0

    @property
    def row_count(self) -> int:
        raise NotImplementedError

    def content_width(self) -> int:
        """How wide the drawn rows are (wider than the widget scrolls sideways)."""
        return self.size.width

    def line_segments(self, line: Text, base: Style) -> list[Segment]:
        """The segments of one drawn line, each with a style (Textual's NO_COLOR filter, Monochrome,
        fails on a segment without one). The line's own style (a cursor row's, a header's) is put
        under every segment: Text.render leaves it out of a line without spans."""
        if isinstance(line.style, Style) and line.style:
            base = base + line.style
        return list(Segment.apply_style(line.render(self.app.console, end=""), base))

    def cursor_moved(self, previous: int, requested: int) -> None:
        """Called after every move_cursor, with the row before and the row asked for."""

    def size_to_rows(self) -> None:
        self.virtual_size = Size(self.content_width(), self.row_count + self.HEADER_LINES)

    def move_cursor(self, row: int, *, center: bool = False) -> None:
        previous = self.cursor
        count = self.row_count
        self.cursor = max(0, min(row, count - 1)) if count else 0
        self._scroll_to_cursor(center)
        self.refresh()
        self.cursor_moved(previous, row)

    def _visible_rows(self) -> int:
        # The region left once scroll bars are drawn: a horizontal bar covers the widget's last line.
        return max(self.scrollable_content_region.height - self.HEADER_LINES, 1)

    def _scroll_to_cursor(self, center: bool = False) -> None:
        visible = self._visible_rows()
        top = round(self.scroll_offset.y)
        if center and not top <= self.cursor < top + visible:
            self.scroll_to(y=max(self.cursor - visible // 3, 0), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + visible:
            self.scroll_to(y=self.cursor - visible + 1, animate=False, immediate=True)

    def on_resize(self) -> None:
        self.size_to_rows()
        self._scroll_to_cursor()

    def _page(self) -> int:
        # One row of the previous page stays in view.
        return max(self._visible_rows() - 1, 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor - 1)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(self.row_count - 1)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor + self._page())

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor - self._page())


__all__ = ["CursorList", "cursor_bindings"]
