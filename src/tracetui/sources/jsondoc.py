"""Walking a JSON document without parsing all of it: one bad value costs that value, not the rest.

A streaming parser (ijson) stops at the first bad token, so one broken run in an array of
thousands loses every run after it. Document finds where values begin and end (it tracks only
strings and brackets) and hands each value's bytes to jsonsafe.loads on its own: a bad token,
a lone surrogate or a nesting too deep is then that item's problem. It also skips a UTF-8 byte
order mark, keeps memory to one item (plus a read buffer), and costs no more than ijson does.

What it cannot get past is damage to the structure itself: a string that never closes or a
missing bracket shifts every boundary after it, so the items that follow parse as one broken
item (reported) and the document's end is reported as cut off.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import IO

import orjson

HELPER = True

_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = re.compile(rb"[ \t\r\n]*")
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
# Everything up to the next bracket, whole strings included (one Python step per bracket, not per token).
_TO_BRACKET = re.compile(rb'(?:[^"\[\]{}]+|"[^"\\]*(?:\\.[^"\\]*)*")*', re.S)
# A number, a literal, or whatever junk stands where a value should: up to the next delimiter.
_SCALAR = re.compile(rb'[^\s,\]}\[{":]+')
_OPEN = frozenset(b"[{")
_FIRST_KEY = re.compile(rb'\{[ \t\r\n]*("[^"\\]*(?:\\.[^"\\]*)*")', re.S)


class JsonSyntaxError(ValueError):
    """The document's structure is broken at `offset` (a byte position in the file)."""

    def __init__(self, message: str, offset: int, line: int):
        super().__init__(message)
        self.offset, self.line = offset, line


class Document:
    """A pull reader over one JSON text (or several in a row): containers are walked, values are returned raw."""

    def __init__(self, f: IO[bytes], chunk: int = _CHUNK):
        self._f, self._chunk = f, chunk
        self._buf = bytearray()
        self._pos = 0  # read position in _buf
        self._base = 0  # file offset of _buf[0]
        self._line, self._line_at = 1, 0  # the line number at _buf[_line_at], moved forward as asked
        self._keep: int | None = None  # while a value is captured: where it starts in _buf
        self._eof = False
        while len(self._buf) < len(_BOM) and self._fill():
            pass
        if self._buf.startswith(_BOM):
            self._pos = len(_BOM)

    # -- position ---------------------------------------------------------------------------------

    @property
    def offset(self) -> int:
        """The byte offset in the file of the read position."""
        return self._base + self._pos

    @property
    def line(self) -> int:
        """The line number (1-based) of the read position."""
        self._line += self._buf.count(b"\n", self._line_at, self._pos)
        self._line_at = self._pos
        return self._line

    def error(self, message: str) -> JsonSyntaxError:
        return JsonSyntaxError(message, self.offset, self.line)

    def _fill(self) -> bool:
        """Read more; drop what is behind the read position (and any captured value). False at the end."""
        if self._eof:
            return False
        data = self._f.read(self._chunk)
        drop = self._pos if self._keep is None else min(self._pos, self._keep)
        if drop:
            if self._line_at < drop:
                self._line += self._buf.count(b"\n", self._line_at, drop)
                self._line_at = drop
            self._line_at -= drop
            self._base += drop
            del self._buf[:drop]
            self._pos -= drop
            if self._keep is not None:
                self._keep -= drop
        if not data:
            self._eof = True
            return False
        self._buf += data
        return True

    # -- tokens -----------------------------------------------------------------------------------

    def peek(self) -> int | None:
        """The next byte that is not whitespace (not consumed), or None at the end of the file."""
        while True:
            self._pos = _WHITESPACE.match(self._buf, self._pos).end()  # type: ignore[union-attr]  # matches ""
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return None

    def _expect(self, byte: int, what: str) -> None:
        if self.peek() != byte:
            raise self.error(f"expected {what}")
        self._pos += 1

    def raw(self) -> bytes:
        """The next value's bytes, consumed."""
        if self.peek() is None:
            raise self.error("the document ends where a value should be")
        self._keep = self._pos
        try:
            self._consume()
            return bytes(self._buf[self._keep : self._pos])
        finally:
            self._keep = None

    def skip(self) -> None:
        """Consume the next value without keeping it."""
        if self.peek() is None:
            raise self.error("the document ends where a value should be")
        self._consume()

    def _consume(self) -> None:
        first = self._buf[self._pos]
        if first == ord('"'):
            while (match := _STRING.match(self._buf, self._pos)) is None:
                if not self._fill():
                    raise self.error("the document ends inside a string")
            self._pos = match.end()
        elif first in _OPEN:
            self._container()
        else:
            while True:
                end = _SCALAR.match(self._buf, self._pos)
                stop = end.end() if end else self._pos
                if stop < len(self._buf) or not self._fill():
                    break
            # At least one byte, so a stray delimiter is consumed as junk and the walk moves on.
            self._pos = max(stop, self._pos + 1)

    def _container(self) -> None:
        # The hot loop of reading a document: locals only.
        depth = 0
        buf, pos, to_bracket, opening, quote = self._buf, self._pos, _TO_BRACKET.match, _OPEN, 34
        end = len(buf)
        while True:
            at = to_bracket(buf, pos).end()  # type: ignore[union-attr]  # the pattern matches ""
            if at >= end or buf[at] == quote:  # the buffer ends, perhaps inside a string: read on from there
                self._pos = at
                if not self._fill():
                    raise self.error("the document ends inside " + ("a string" if at < end else "a value"))
                buf, pos, end = self._buf, self._pos, len(self._buf)
                continue
            pos = at + 1
            if buf[at] in opening:
                depth += 1
            else:
                depth -= 1
                if depth == 0:
                    self._pos = pos
                    return

    def first_key(self) -> str | None:
        """At an object: its first key, not consumed (None for an empty object or one that starts oddly)."""
        while (match := _FIRST_KEY.match(self._buf, self._pos)) is None:
            if len(self._buf) - self._pos > _CHUNK or not self._fill():
                return None
        try:
            key = orjson.loads(match.group(1))
        except orjson.JSONDecodeError:
            return None
        return key if isinstance(key, str) else None

    # -- containers -------------------------------------------------------------------------------

    def items(self) -> Iterator[int]:
        """At an array: 1, 2, … with the read position at each item, which the caller consumes (or it is skipped).

        A missing comma is forgiven (the next value is the next item); the end of the file inside
        the array raises JsonSyntaxError.
        """
        self._expect(ord("["), "an array")
        index = 0
        while True:
            byte = self.peek()
            if byte == ord("]"):
                self._pos += 1
                return
            if byte is None:
                raise self.error(f"the document ends inside an array, after item {index}")
            index += 1
            before = self.offset
            yield index
            if self.offset == before:
                self.skip()
            byte = self.peek()
            if byte == ord(","):
                self._pos += 1

    def members(self) -> Iterator[str]:
        """At an object: each key, with the read position at its value (consumed by the caller, or skipped)."""
        self._expect(ord("{"), "an object")
        while True:
            byte = self.peek()
            if byte == ord("}"):
                self._pos += 1
                return
            if byte != ord('"'):
                raise self.error("expected a key" if byte is not None else "the document ends inside an object")
            key_raw = self.raw()
            try:
                key = orjson.loads(key_raw)
            except orjson.JSONDecodeError:
                key = key_raw[1:-1].decode("utf-8", "backslashreplace")
            self._expect(ord(":"), "':' after a key")
            self.peek()  # at the value itself, so that a caller's peek() is not taken for reading it
            before = self.offset
            yield key
            if self.offset == before:
                self.skip()
            byte = self.peek()
            if byte == ord(","):
                self._pos += 1
            elif byte != ord("}"):
                raise self.error(
                    "expected ',' or '}' after a value" if byte is not None else "the document ends inside an object"
                )

    def values(self) -> Iterator[int]:
        """Top-level values one after another (a pretty-printed record, then the next): 1, 2, …"""
        index = 0
        while self.peek() is not None:
            index += 1
            before = self.offset
            yield index
            if self.offset == before:
                self.skip()
