"""Text for the Textual APIs that would read it as markup: notifications, titles, palette entries.

Textual 8.2.8 parses a plain str as content markup in `notify` (unless markup=False), in
`Collapsible(title=)`, border titles, and in the command palette's titles and help texts (always).
Data reaching them ("[/]" in a run id, "[@click=app.quit]" in an error message) crashes the app
or becomes a clickable action. Everything the viewer shows in those places comes through here;
tests/tui/test_plain_text.py checks that no call site goes around it.
"""

from __future__ import annotations

from typing import Any

from textual.app import App
from textual.content import Content
from textual.notifications import SeverityLevel
from textual.widget import Widget

from .. import display


def notify_plain(
    node: App | Widget,
    message: str,
    *,
    title: str = "",
    severity: SeverityLevel = "information",
    timeout: float | None = None,
) -> None:
    """A toast whose message and title are shown literally (thread-safe, like App.notify)."""
    options: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
    node.notify(
        display.safe(message),
        title=display.safe(title, single_line=True),
        severity=severity,
        markup=False,
        **options,
    )


def plain_title(text: object) -> Content:
    """A one-line title (Collapsible, border title) that is never parsed as markup."""
    return Content(display.safe(text, single_line=True))


def palette_text(text: object) -> str:
    """Text for a command palette title or help: the palette always parses markup, so every `[` is
    escaped (`\\[` is Textual's one escape; nothing else is special once no tag can open)."""
    return display.safe(text, single_line=True).replace("[", "\\[")
