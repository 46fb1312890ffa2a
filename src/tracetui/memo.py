"""What tracetui learned about a database it reads in place, kept for the next open of the same file.

The first screen of a big in-place database waits for two answers that only depend on the file's
content: how to sort by start time (agent_traces scans every started_at to choose) and the newest
runs of the run list (a sort of the whole table: 0.3 s at 200k rows). Both are kept in the private
cache, one small JSON file per database, with the file's fingerprint (its identity and times, a hash
of its head and tail, as the import cache keys a JSON file, and the same of its -wal file). A file
whose fingerprint changed is read afresh. A memo only ever saves time: a missing, stale or
unreadable one is ignored, and one that cannot be written is not written.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Any

import orjson

from .store import STARTED, RunFilter

VERSION = 1
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The run list's query when the viewer opens: every run, newest first.
DEFAULT_QUERY = (RunFilter(), STARTED.name, True)


def content_fingerprint(path: str, salt: str) -> str:
    """What identifies a database's content cheaply (its identity and times, a hash of its head and tail,
    the same of its -wal file), with `salt`. Raises OSError when the file cannot be read."""
    from .loading import key_file

    key = hashlib.sha256(f"{salt}\0".encode())
    key_file(key, path)
    try:
        if os.path.getsize(path + "-wal") == 0:
            raise FileNotFoundError  # made empty by a reader's open (even tracetui's): nothing in it
        key_file(key, path + "-wal")  # a writer's commits not yet in the main file
    except OSError:
        key.update(b"no wal\0")
    return key.hexdigest()


class Memo:
    """The memo of one in-place database (see the module's docstring)."""

    def __init__(self, path: str, fmt: str, directory: str) -> None:
        name = hashlib.sha256(f"{os.path.abspath(path)}\0{fmt}".encode("utf-8", "surrogateescape")).hexdigest()
        self.file = os.path.join(directory, f"memo-{name[:32]}.json")
        self.fingerprint = content_fingerprint(path, f"{VERSION}\0{fmt}")
        self._data: dict[str, Any] | None = None

    def _read(self) -> dict[str, Any]:
        if self._data is None:
            try:
                with open(self.file, "rb") as f:
                    data = orjson.loads(f.read())
            except (OSError, orjson.JSONDecodeError):
                data = None
            fresh = isinstance(data, dict) and data.get("fingerprint") == self.fingerprint
            self._data = data if fresh else {"fingerprint": self.fingerprint}
        return self._data

    def sort_keys(self) -> dict[str, str] | None:
        """The sort-key overrides views() returned for this content, if known."""
        keys = self._read().get("sort_keys")
        if not isinstance(keys, dict):
            return None
        if not all(isinstance(k, str) and isinstance(v, str) and _NAME.match(v) for k, v in keys.items()):
            return None
        return keys

    def top(self) -> tuple[int, list[str]] | None:
        """(how many runs, ids of the first page) of the default query, if known."""
        top = self._read().get("top")
        if not isinstance(top, dict):
            return None
        count, ids = top.get("count"), top.get("ids")
        if not isinstance(count, int) or not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return None
        return count, ids

    def put(self, **values: Any) -> None:
        """Keep these answers (sort_keys=, top=(count, ids)); written at once, privately."""
        data = self._read()
        for key, value in values.items():
            data[key] = {"count": value[0], "ids": value[1]} if key == "top" else value
        _write_private(self.file, data)


class Detected:
    """The format a file was detected as, kept for the next open of the same content.

    Detection imports every format module to ask each in turn (a tenth of a cached `list`); the
    answer depends only on the file's content and on the format modules, so it is kept with the
    file's fingerprint (and its -wal's) and the modules' stamp (sources.registry_stamp). It is not
    kept when other packages may register formats.
    """

    def __init__(self, path: str, directory: str, stamp: str) -> None:
        from .loading import key_file

        name = hashlib.sha256(os.path.abspath(path).encode("utf-8", "surrogateescape")).hexdigest()
        self.file = os.path.join(directory, f"detected-{name[:32]}.json")
        key = hashlib.sha256(f"{VERSION}\0{stamp}\0".encode("utf-8", "surrogateescape"))
        key_file(key, path)
        try:
            key_file(key, path + "-wal")  # a database's schema may change in its -wal first
        except OSError:
            key.update(b"no wal\0")
        self.fingerprint = key.hexdigest()

    def format(self) -> str | None:
        """The format's NAME this content was detected as, if known."""
        try:
            with open(self.file, "rb") as f:
                data = orjson.loads(f.read())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(data, dict) or data.get("fingerprint") != self.fingerprint:
            return None
        name = data.get("format")
        return name if isinstance(name, str) else None

    def put(self, name: str) -> None:
        """Keep the answer, in a cache directory made already (detecting a file never makes one)."""
        _write_private(self.file, {"fingerprint": self.fingerprint, "format": name}, make_directory=False)


def detected(path: str) -> Detected | None:
    """The detection memo of a file, or None when it cannot be kept (plug-ins, no cache, unreadable)."""
    from . import sources
    from .loading import usable_cache_dir

    try:
        stamp = sources.registry_stamp()
        return None if stamp is None else Detected(path, usable_cache_dir(), stamp)
    except OSError:
        return None


def _write_private(file: str, data: dict[str, Any], make_directory: bool = True) -> None:
    """Write a memo at once, privately (0600, in a 0700 directory); a memo that cannot be written is not."""
    tmp = f"{file}.{os.getpid()}.{threading.get_ident()}.tmp"  # viewer threads may write at once
    try:
        if make_directory:
            os.makedirs(os.path.dirname(file), mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(orjson.dumps(data))
        os.replace(tmp, file)
    except OSError:
        try:
            os.remove(tmp)
        except OSError:
            pass


def for_file(path: str, fmt: str) -> Memo | None:
    """The memo of an in-place database, or None when the cache cannot be used (or the file not read)."""
    from .loading import usable_cache_dir

    try:
        return Memo(path, fmt, usable_cache_dir())
    except OSError:
        return None
