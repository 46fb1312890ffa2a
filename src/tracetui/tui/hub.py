"""Typed access to the running TraceApp, for the screens that read the hub's state.

`self.app` is typed as a plain `App`; this one helper says which app it is, so the type checker
knows `opening`, `importing`, `main_store()` and the rest. Widgets do not use it: they are handed
what they need (a store connection factory) and post messages for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.message_pump import MessagePump

if TYPE_CHECKING:
    from .app import TraceApp


def trace_app(node: MessagePump) -> TraceApp:
    """The TraceApp `node` runs in."""
    return cast("TraceApp", node.app)
