"""A trace file as it was when it was read, and how it has changed since: the same, grown, changed, gone.

Stores written from files remember, for each file, its stat signature when it was read and hashes of
its first and last few KB as read (store/files.py keeps them). Comparing with the file now tells:

* SAME: nothing about it changed (size, mtime, ctime, inode and device). ctime cannot be set back,
  so a rewrite that restores the size and the mtime still shows.
* GREW: the same file (inode), longer, and the bytes read before are still there (the first and
  the last SAMPLE bytes of what was read hash the same): something was appended, as coding agents
  and loggers do. Only the new part needs reading, where the format allows (see loading.Refresh).
* CHANGED: anything else (rewritten, truncated, replaced by another file): read it again.
* GONE: it no longer exists (or cannot be stat'ed).
"""

from __future__ import annotations

import enum
import hashlib
import os
from dataclasses import dataclass

SAMPLE = 4096  # bytes hashed at the start and at the end of what was read


@dataclass(frozen=True)
class Signature:
    """What stat says about a file: enough to tell, without reading it, that it is unchanged."""

    size: int
    mtime_ns: int
    ctime_ns: int
    ino: int
    dev: int

    @classmethod
    def of(cls, st: os.stat_result) -> Signature:
        return cls(st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)

    @classmethod
    def stat(cls, path: str) -> Signature | None:
        try:
            return cls.of(os.stat(path))
        except OSError:
            return None

    def fields(self) -> list[int]:
        return [self.size, self.mtime_ns, self.ctime_ns, self.ino, self.dev]


@dataclass(frozen=True)
class Read:
    """A file as it was when read: its signature and the hashes of its first and last SAMPLE bytes."""

    sig: Signature
    head: str
    tail: str


class Change(enum.Enum):
    SAME = "same"
    GREW = "grew"
    CHANGED = "changed"
    GONE = "gone"


def _sample(f, start: int, end: int) -> str:
    f.seek(start)
    return hashlib.blake2b(f.read(end - start), digest_size=16).hexdigest()


def measure(path: str) -> Read:
    """The file as it is now, to be recorded before it is read (a reader then sees at least this much).
    Raises OSError."""
    with open(path, "rb") as f:
        sig = Signature.of(os.fstat(f.fileno()))
        return Read(sig, _sample(f, 0, min(sig.size, SAMPLE)), _sample(f, max(0, sig.size - SAMPLE), sig.size))


def compare(old: Read, path: str) -> tuple[Change, Signature | None]:
    """How the file at `path` changed since `old` was recorded, and its signature now (None if gone)."""
    now = Signature.stat(path)
    if now is None:
        return Change.GONE, None
    if now == old.sig:
        return Change.SAME, now
    if (now.ino, now.dev) != (old.sig.ino, old.sig.dev) or now.size <= old.sig.size:
        return Change.CHANGED, now
    try:
        with open(path, "rb") as f:
            size = old.sig.size
            kept = _sample(f, 0, min(size, SAMPLE)) == old.head and _sample(f, max(0, size - SAMPLE), size) == old.tail
    except OSError:
        return Change.GONE, None
    return (Change.GREW if kept else Change.CHANGED), now


def replaced(old: Read, path: str, now: Signature) -> bool:
    """Whether the file is no longer the one read: shorter (truncated), another file by the same name
    (rotated, moved over it), or one whose first bytes differ (deleted and written anew, perhaps on
    the inode the old one had). A rewrite in place that kept its start and did not shrink (a JSON
    session saved again) is not: it is read again without a word."""
    if now.size < old.sig.size or (now.ino, now.dev) != (old.sig.ino, old.sig.dev):
        return True
    try:
        with open(path, "rb") as f:
            return _sample(f, 0, min(old.sig.size, SAMPLE)) != old.head
    except OSError:
        return False


def line_start(path: str, upto: int) -> tuple[int, int]:
    """(offset, number of lines before it) of the end of the last whole line in the first `upto` bytes.

    Where reading JSON Lines can go on after a read that saw `upto` bytes: a last line without its
    newline may have been cut off mid-write, so it is read again. Raises OSError.
    """
    lines, offset, position = 0, 0, 0
    with open(path, "rb") as f:
        while position < upto:
            block = f.read(min(1 << 20, upto - position))
            if not block:
                break
            count = block.count(b"\n")
            if count:
                lines += count
                offset = position + block.rindex(b"\n") + 1
            position += len(block)
    return offset, lines
