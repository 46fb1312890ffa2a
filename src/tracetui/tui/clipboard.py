"""Copying text to the clipboard: the terminal's (OSC 52, App.copy_to_clipboard) and, where one is
installed, the system's clipboard tool as well, since some terminals and tmux swallow OSC 52.

The tool runs with the text on its stdin, never through a shell, in a worker thread (xclip and
wl-copy stay behind to serve the selection; with their output sent to /dev/null nothing waits on
them). A notification says what was copied, how big it is and where it went.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

from textual.app import App

from .. import display
from .plain import notify_plain

# (environment variable that must be set, command): tried in this order; the first installed wins.
TOOLS: tuple[tuple[str | None, tuple[str, ...]], ...] = (
    ("WAYLAND_DISPLAY", ("wl-copy",)),
    ("DISPLAY", ("xclip", "-selection", "clipboard")),
    ("DISPLAY", ("xsel", "--clipboard", "--input")),
    (None, ("pbcopy",)),
)
TOOL_TIMEOUT = 5.0  # seconds a clipboard tool may take before it is given up on


def clipboard_tool(env: Mapping[str, str] = os.environ) -> list[str] | None:
    """The system clipboard command to run (its program resolved to a path), or None when there is none."""
    for needs, command in TOOLS:
        if needs is not None and not env.get(needs):
            continue
        found = shutil.which(command[0], path=env.get("PATH"))
        if found:
            return [found, *command[1:]]
    return None


def run_tool(command: list[str], text: str) -> str | None:
    """Give `text` to a clipboard command on its stdin; an error message, or None when it worked."""
    name = os.path.basename(command[0])
    try:
        subprocess.run(
            command,
            input=text.encode("utf-8", "replace"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=TOOL_TIMEOUT,
            check=True,
        )
    except subprocess.CalledProcessError as exc:
        return f"{name} failed (exit status {exc.returncode})"
    except subprocess.TimeoutExpired:
        return f"{name} did not finish within {TOOL_TIMEOUT:g} s"
    except OSError as exc:
        return f"{name} could not be run: {exc.strerror or exc}"
    return None


def size(text: str) -> str:
    """ "1.2 KB, 34 lines": how big a copied text is."""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    return f"{display.size_text(len(text.encode('utf-8', 'replace')))}, {lines:,} line{'s' if lines != 1 else ''}"


def copy(app: App, text: str, what: str) -> None:
    """Copy `text` (described as `what`, "the step id") through OSC 52 and the clipboard tool, if any."""
    app.copy_to_clipboard(text)
    command = clipboard_tool()
    if command is None:
        notify_plain(app, f"Copied {what} ({size(text)}) to the clipboard through the terminal (OSC 52).", title="Copy")
        return
    app.run_worker(lambda: _through_tool(app, command, text, what), thread=True, group="clipboard")


def _through_tool(app: App, command: list[str], text: str, what: str) -> None:
    error = run_tool(command, text)
    name = os.path.basename(command[0])
    if error is None:
        notify_plain(app, f"Copied {what} ({size(text)}) to the clipboard (OSC 52 and {name}).", title="Copy")
    else:
        message = f"Copied {what} ({size(text)}) through the terminal (OSC 52) only: {error}."
        notify_plain(app, message, title="Copy", severity="warning")
