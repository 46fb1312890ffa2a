"""Read-only SQLite URIs: every file tracetui did not write itself is opened through one."""

from __future__ import annotations

import os
from urllib.parse import quote


def ro_uri(path: str) -> str:
    """The read-only URI for a SQLite file; its bytes are never changed through it."""
    return f"file:{quote(os.path.abspath(path))}?mode=ro"
