"""Turning the many spellings sources use into the model's canonical values.

Shared by every source so that a status, a kind or a timestamp means the same thing everywhere.
A value that cannot be normalised never raises: it comes back as None (the source keeps the raw
value, in extra), and when it was a real value out of range rather than a spelling tracetui does
not know, a note says so; the importer reports the notes against the run being read (take_notes).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from datetime import UTC, datetime
from typing import Any

import orjson

from . import jsonsafe

_notes = threading.local()
_MAX_NOTES = 100  # per run: a pathological record must not fill memory with notes


def note(message: str) -> None:
    """Record that a value was dropped (out of range); the importer reports it with the run's line."""
    notes = getattr(_notes, "items", None)
    if notes is None:
        notes = _notes.items = []
    if len(notes) < _MAX_NOTES:
        notes.append(message)


def take_notes() -> list[str]:
    """The notes made in this thread since the last call (the values of one run, as importers call it)."""
    notes = getattr(_notes, "items", None)
    if not notes:
        if notes is None:  # looking up a missing attribute of a thread's local costs ~1 µs (an exception)
            _notes.items = []
        return []
    _notes.items = []
    return notes


_STATUS = {
    "pending": "pending",
    "queued": "pending",
    "waiting": "pending",
    "not_started": "pending",
    "processing": "running",
    "running": "running",
    "in_progress": "running",
    "started": "running",
    "completed": "completed",
    "complete": "completed",
    "success": "completed",
    "succeeded": "completed",
    "successful": "completed",
    "ok": "completed",
    "done": "completed",
    "passed": "completed",
    "finished": "completed",
    "failed": "failed",
    "failure": "failed",
    "error": "failed",
    "errored": "failed",
    "cancelled": "failed",
    "canceled": "failed",
    "aborted": "failed",
    "blocked": "failed",
    "timeout": "timeout",
    "timed_out": "timeout",
    "timedout": "timeout",
    "skipped": "skipped",
    "skip": "skipped",
    "not_run": "skipped",
}


def status(raw: Any, *, step: bool = True, default: str = "completed") -> str:
    """Canonical status for a raw value; unknown values map to `default`."""
    if type(raw) is str and raw in _STATUS:  # spelt as a key already: what the general path below gives
        value = _STATUS[raw]
        return default if value == "skipped" and not step else value
    if raw is None or isinstance(raw, (dict, list)):
        return default
    value = _STATUS.get(str(raw).strip().lower().replace("-", "_").replace(" ", "_"), default)
    if value == "skipped" and not step:
        return default
    return value


_KIND = {
    "llm": "llm",
    "prompt_call": "llm",
    "model": "llm",
    "chat": "llm",
    "generation": "llm",
    "completion": "llm",
    "agent_llm": "llm",
    "tool": "tool",
    "tool_call": "tool",
    "tool_result": "tool",
    "function": "tool",
    "function_call": "tool",
    "web_fetch": "tool",
    "web_search": "tool",
    "webhook_call": "tool",
    "http_request": "tool",
    "code": "tool",
    "reasoning": "reasoning",
    "thought": "reasoning",
    "thinking": "reasoning",
    "plan": "reasoning",
    "retrieval": "retrieval",
    "retriever": "retrieval",
    "retrieve": "retrieval",
    "search_index": "retrieval",
    "vector_search": "retrieval",
    "knowledge_base": "retrieval",
    "embedding": "retrieval",
    "if_else": "control",
    "if": "control",
    "switch": "control",
    "gate": "control",
    "for_each": "control",
    "loop": "control",
    "retry": "control",
    "parallel": "control",
    "branch": "control",
    "router": "control",
    "input_scan": "scan",
    "output_scan": "scan",
    "prompt_scan": "scan",
    "scan": "scan",
    "governance": "governance",
    "guardrail": "governance",
    "evaluation": "evaluation",
    "eval": "evaluation",
    "evaluator": "evaluation",
    "agent": "agent",
    "sub_agent": "agent",
    "subagent": "agent",
    "handoff": "agent",
}


def kind(raw_type: Any) -> str:
    """Canonical kind for a raw step type; unknown types are 'other' (and still shown)."""
    if type(raw_type) is str and raw_type in _KIND:  # spelt as a key already: what the general path gives
        return _KIND[raw_type]
    if raw_type is None or isinstance(raw_type, (dict, list)):
        return "other"
    key = str(raw_type).strip().lower().replace("-", "_").replace(" ", "_")
    if key in _KIND:
        return _KIND[key]
    for suffix, value in (("_scan", "scan"), ("_tool", "tool"), ("_llm", "llm"), ("_agent", "agent")):
        if key.endswith(suffix):
            return value
    return "other"


def iso(ts: datetime) -> str:
    ts = ts.astimezone(UTC) if ts.tzinfo else ts
    # Hand-formatted: strftime is several times slower, and this runs for every step of big imports.
    return (
        f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}"
        f".{ts.microsecond // 1000:03d}Z"
    )


_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")


# UTC (or no zone: read as UTC) in iso()'s own layout up to the seconds; the fraction, if any, follows.
_UTC_TEXT = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?([Zz]|\+00:00)?\Z", re.ASCII)


def is_canonical_time(raw: Any) -> bool:
    """Whether raw is a time as timestamp() writes it."""
    return type(raw) is str and _CANONICAL.match(raw) is not None


# Texts timestamp() read lately and what it made of them: the steps of a run often share a time (a
# step ends when the next starts), and this runs for every time of every step. Only results of the
# UTC-text path are kept (it makes no notes); bounded, emptied when full.
_RECENT_TIMES: dict[str, str] = {}
_RECENT_LIMIT = 4096


def timestamp(raw: Any) -> str | None:
    """ISO-8601 UTC text with millisecond precision, from ISO text or a unix epoch number.

    Epoch numbers are read as seconds, milliseconds, microseconds or nanoseconds by magnitude.
    Returns None for missing or unparseable values (the caller keeps the raw value in extra).
    """
    if type(raw) is str:  # the usual case first: this runs for every time of every step
        known = _RECENT_TIMES.get(raw)
        if known is not None:
            return known
        text = raw.strip()
        if not text:
            return None
    elif raw is None or isinstance(raw, (bool, dict, list)):
        return None
    elif isinstance(raw, (int, float)):
        try:
            return _from_epoch(float(raw))
        except OverflowError:  # an integer too large for a float
            return None
    else:
        text = str(raw).strip()
    utc = _UTC_TEXT.match(text)
    if utc is not None:
        # UTC already, laid out as iso() writes it: only the fraction changes (a fifth of the time of parsing).
        whole, fraction, zone = utc.groups()
        if zone == "Z" and fraction is not None and len(fraction) == 3:
            laid_out = text  # canonical
        else:
            try:
                datetime.fromisoformat(whole)  # that day and time exist
            except ValueError:
                return None
            laid_out = f"{whole}.{fraction[:3].ljust(3, '0') if fraction else '000'}Z"
        if type(raw) is str:
            if len(_RECENT_TIMES) >= _RECENT_LIMIT:
                _RECENT_TIMES.clear()
            _RECENT_TIMES[raw] = laid_out
        return laid_out
    if _CANONICAL.match(text):
        return text
    if text[:1].isdigit() and text.replace(".", "", 1).isdigit():
        return _from_epoch(float(text))
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return iso(datetime.fromisoformat(text))
    except ValueError:
        return None
    except OverflowError:  # a real time, but before year 1 or after 9999 once moved to UTC
        note(f"the time {jsonsafe.quoted(text[:80])} is outside the years 1 to 9999 in UTC; kept as it was, unparsed")
        return None


def _from_epoch(value: float) -> str | None:
    if not math.isfinite(value) or value < 0:
        return None
    for scale in (1, 1e3, 1e6, 1e9):
        if value / scale < 1e11:
            # As datetime.fromtimestamp rounds (to the microsecond, half to even), with the text of the
            # whole second kept: consecutive steps share their second, and making a datetime is slow.
            fraction, whole = math.modf(value / scale)
            micros = round(fraction * 1e6)
            if micros >= 1_000_000:
                whole, micros = whole + 1, micros - 1_000_000
            second = _second_text(int(whole))
            if second is None:
                note(f"the epoch time {jsonsafe.quoted(value)} is out of range; kept as it was, unparsed")
                return None
            return f"{second}.{micros // 1000:03d}Z"
    return None


@functools.lru_cache(maxsize=256)
def _second_text(whole: int) -> str | None:
    try:
        ts = datetime.fromtimestamp(whole, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return f"{ts.year:04d}-{ts.month:02d}-{ts.day:02d}T{ts.hour:02d}:{ts.minute:02d}:{ts.second:02d}"


def epoch_ms(iso_text: str | None) -> float | None:
    """Milliseconds since the epoch for text made by timestamp()."""
    if not iso_text:
        return None
    if _CANONICAL_ASCII.match(iso_text):
        # As datetime.timestamp() computes it (microseconds over 10**6, then times 1000), from the
        # whole second's count, kept: a session's lines share their seconds, and parsing is slow.
        whole = _epoch_second(iso_text[:19])
        if whole is None:
            return None
        return (whole * 1_000_000 + int(iso_text[20:23]) * 1000) / 1_000_000 * 1000.0
    try:
        ts = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        return ts.timestamp() * 1000.0
    except (ValueError, OverflowError):
        return None


_CANONICAL_ASCII = re.compile(_CANONICAL.pattern, re.ASCII)
_EPOCH = datetime(1970, 1, 1)


@functools.lru_cache(maxsize=1024)
def _epoch_second(text: str) -> int | None:
    try:
        delta = datetime.fromisoformat(text) - _EPOCH
    except ValueError:
        return None
    return delta.days * 86400 + delta.seconds


def duration_between(started: str | None, ended: str | None) -> float | None:
    a, b = epoch_ms(started), epoch_ms(ended)
    if a is None or b is None or b < a:
        return None
    return b - a


# Integers a float holds exactly: int(float(n)) is n itself (beyond, integer() keeps float's rounding).
_EXACT_INTS = range(-(1 << 53), (1 << 53) + 1)


def number(raw: Any) -> float | None:
    """A finite float from a number or numeric text; None otherwise (and a note for NaN or infinity)."""
    if type(raw) is float and -math.inf < raw < math.inf:  # the usual cases first (NaN fails the test)
        return raw
    if type(raw) is int and raw in _EXACT_INTS:
        return float(raw)
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    except OverflowError:  # an integer too large for a float
        note(f"a number of {raw.bit_length()} bits is too large for a float; left out")
        return None
    if math.isfinite(value):
        return value
    note(f"the number {jsonsafe.quoted(raw)} is not finite; left out")
    return None


def is_number(raw: Any) -> bool:
    """Whether raw is a number or numeric text (NaN and infinity included: number() drops them, noted)."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return True
    if not isinstance(raw, str):
        return False
    try:
        float(raw)
    except ValueError:
        return False
    return True


def integer(raw: Any) -> int | None:
    if type(raw) is int and raw in _EXACT_INTS:  # the usual case: what the float round trip gives
        return raw
    value = number(raw)
    return None if value is None else int(value)


def text(raw: Any) -> str | None:
    """Payload text: strings as they are, anything else as compact JSON."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    if isinstance(raw, bytes):  # a BLOB where text belongs: its bytes as text, those that are not UTF-8 as \xNN
        return raw.decode("utf-8", "backslashreplace")
    try:
        return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()  # (jsonsafe.dumps' fast path, inlined)
    except TypeError:
        return jsonsafe.dumps(raw)


def scalar(raw: Any) -> str | int | float | bool | None:
    """raw if it is a JSON scalar, else None: safe to look up in a table (a list is unhashable)."""
    return raw if raw is None or isinstance(raw, (str, int, float, bool)) else None


def plain(raw: Any) -> str:
    """str(raw), except that a container is its JSON (str() of one is a Python repr, which recurses)."""
    return str(raw) if raw is None or isinstance(raw, (str, int, float, bool)) else text(raw) or ""


def ident(raw: Any) -> str | None:
    if type(raw) is str:
        return raw or None
    if raw is None:
        return None
    if isinstance(raw, (dict, list, bytes)):
        return text(raw)  # JSON, not a Python repr (which may also recurse too deep)
    return str(raw)
