"""Turning the many spellings sources use into the model's canonical values.

Shared by every source so that a status, a kind or a timestamp means the same thing everywhere.
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime
from typing import Any

import orjson

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
    if raw is None:
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
    if raw_type is None:
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


def timestamp(raw: Any) -> str | None:
    """ISO-8601 UTC text with millisecond precision, from ISO text or a unix epoch number.

    Epoch numbers are read as seconds, milliseconds, microseconds or nanoseconds by magnitude.
    Returns None for missing or unparseable values (the caller keeps the raw value in extra).
    """
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)):
        return _from_epoch(float(raw))
    text = str(raw).strip()
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
            return None if second is None else f"{second}.{micros // 1000:03d}Z"
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
    try:
        ts = datetime.fromisoformat(iso_text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.timestamp() * 1000.0


def duration_between(started: str | None, ended: str | None) -> float | None:
    a, b = epoch_ms(started), epoch_ms(ended)
    if a is None or b is None or b < a:
        return None
    return b - a


def number(raw: Any) -> float | None:
    """A finite float from a number or numeric text; None otherwise."""
    if raw is None or isinstance(raw, bool):
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def integer(raw: Any) -> int | None:
    value = number(raw)
    return None if value is None else int(value)


def text(raw: Any) -> str | None:
    """Payload text: strings as they are, anything else as compact JSON."""
    if raw is None:
        return None
    if isinstance(raw, str):
        return raw
    try:
        return orjson.dumps(raw, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return str(raw)


def ident(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    return str(raw)
