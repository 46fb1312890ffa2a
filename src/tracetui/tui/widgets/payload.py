"""The full text of a payload in $PAGER, the viewer suspended meanwhile. How payloads are decoded
and cut to a preview is the core's (tracetui/payload.py), shared with the Markdown of a run."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile

from ... import jsonsafe

# Tried in order when $PAGER is unset; with none of them installed the viewer shows the text itself.
DEFAULT_PAGERS = ("less", "more")


class NoPager(Exception):
    """$PAGER is unset and no default pager is installed: show the text in the viewer instead."""


def pager_command() -> list[str]:
    """$PAGER split like a shell would, its program resolved to a path; else the first installed of
    DEFAULT_PAGERS. Raises NoPager, or OSError naming a $PAGER that cannot be run."""
    configured = os.environ.get("PAGER") or ""
    try:
        command = shlex.split(configured)
    except ValueError as exc:  # unbalanced quotes
        raise OSError(f"cannot read $PAGER {jsonsafe.quoted(configured)}: {exc}") from None
    if not command:
        for name in DEFAULT_PAGERS:
            found = shutil.which(name)
            if found:
                return [found]
        raise NoPager
    found = shutil.which(command[0])
    if found is None:
        raise OSError(f"pager not found: {command[0]} (set $PAGER)")
    return [found, *command[1:]]


def open_in_pager(app, text: str) -> str | None:
    """Show text in the pager with the app suspended. Returns an error message, or None.

    The pager is found before the app suspends: a suspended app only comes back when the `with`
    block ends normally, so nothing may raise inside it. Raises NoPager when there is none.
    """
    from textual.app import SuspendNotSupported

    try:
        command = pager_command()
    except OSError as exc:
        return str(exc)
    fd, path = tempfile.mkstemp(prefix="tracetui-", suffix=".txt")
    failure: str | None = None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as f:
            f.write(text)
        try:
            with app.suspend():
                try:
                    subprocess.call([*command, path])
                except OSError as exc:  # found but cannot be run (a bad #! line, no permission)
                    failure = f"pager failed: {command[0]}: {exc.strerror or exc}"
        except SuspendNotSupported:
            return "this terminal cannot hand over to a pager"
        return failure
    finally:
        try:
            os.remove(path)
        except OSError:
            pass
