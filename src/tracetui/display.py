"""Text shared by the CLI and the viewer: numbers, durations, totals, sizes, status words, safe text.

Plain strings only; how they are styled and put together is present.py.
"""

from __future__ import annotations

import re

STATUS_ICONS = {
    "completed": "✓",
    "failed": "✗",
    "timeout": "⏱",
    "running": "▶",
    "pending": "…",
    "skipped": "⊘",
}

# C0/C1 control characters other than newline and tab (ESC starts ANSI/OSC sequences, BEL ends OSC),
# and the invisible characters that reorder or hide text: bidi embeddings, overrides and isolates
# (U+202A-U+202E, U+2066-U+2069), directional marks (U+200E, U+200F, U+061C) and zero-width
# characters (U+200B-U+200D, U+2060, U+FEFF). They are how a spoofed id looks like another.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")


def _visible(match: re.Match) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def made_visible(char: str) -> str | None:
    """How safe() shows a character it makes visible (`\\x1b`), or None for one it leaves as it is."""
    match = _CONTROL.fullmatch(char)
    return None if match is None else _visible(match)


def safe(text: object, *, single_line: bool = False) -> str:
    """Untrusted text made inert for a terminal: control, bidi and zero-width characters become
    visible (`\\x1b`, `\\u202e`).

    Markup is not interpreted here at all; callers still wrap the result in rich Text / Content.
    JSON output keeps them intact: only what is shown as text goes through here.
    """
    if text is None:
        return ""
    out = _CONTROL.sub(_visible, str(text))
    if single_line:
        out = out.replace("\r\n", " ").replace("\n", " ⏎ ").replace("\t", " ")
    return out


# An id or name longer than this is cut in the middle where it heads something (a header, a title,
# a list cell); the detail pane still shows it whole. A 100k-character run id must not bury the tree.
CLIP = 80


# Characters of a payload shown before it is cut: the viewer's preview, and what the Markdown of a run
# writes of each payload unless told otherwise (`--max-payload`).
PAYLOAD_PREVIEW = 4096


def clip(text: object, limit: int = CLIP) -> str:
    """safe(), on one line, and cut in the middle to `limit` characters: both ends of an id stay
    readable ("run-2026-…-f3a9"), which is where ids differ."""
    line = safe(text, single_line=True)
    if len(line) <= limit:
        return line
    tail = max(1, (limit - 1) // 3)
    return line[: limit - 1 - tail] + "…" + line[-tail:]


# Step trees are drawn nested this many levels deep; a step deeper than that is drawn at this depth
# with its real depth written on its row. Traces nest 10,000 deep; indentation and the viewer's
# tree would grow with the square of the depth (every row carries every level above it).
MAX_NESTING = 32


def depth_note(depth: int, cap: int = MAX_NESTING) -> str:
    """What a step drawn at the nesting cap says about where it really is: "↳ depth 1,234 "."""
    return f"↳ depth {depth:,} " if depth >= cap else ""


def status_word(status: str | None) -> str:
    return f"{STATUS_ICONS.get(status or '', '?')} {status or 'unknown'}"


def duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def count(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = int(n)
    if abs(n) < 10_000:
        return str(n)
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    return f"{n / 1_000_000:.1f}M"


def credits(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" if value != int(value) else f"{int(value)}"


ESTIMATE_MARK = "≈"  # before a cost tracetui computed from a price table rather than the source reported


def cost(value: float | None, estimated: bool = False) -> str:
    """ "$0.0123", "$12.34"; "≈$0.0123" when the value is (or holds) an estimate."""
    if value is None:
        return "-"
    text = f"${value:.4f}" if abs(value) < 1 else f"${value:.2f}"
    return ESTIMATE_MARK + text if estimated else text


def share(part: float | int | None, whole: float | int | None) -> str:
    """ "40%": part of a whole ("<1%" for a little, never "0%"), "" when there is no whole to speak of."""
    if part is None or not whole:
        return ""
    ratio = part / whole
    if 0 < ratio < 0.005:
        return "<1%"
    if 0.995 <= ratio < 1:
        return ">99%"
    return f"{ratio:.0%}"


TOTAL_LABELS = {"tokens_in": "tokens in", "tokens_out": "tokens out", "credits": "credits", "cost_usd": "cost"}
TOKEN_PART_LABELS = {
    "tokens_cache_read": "cache read",
    "tokens_cache_write": "cache write",
    "tokens_reasoning": "reasoning",
}
LABELS = TOTAL_LABELS | TOKEN_PART_LABELS


def total(name: str, value: float | int | None, estimated: bool = False) -> str:
    """One of model.ROLLED_UP_FIELDS as text: tokens counted, credits, cost in dollars (≈ if estimated)."""
    if name == "credits":
        return credits(value)
    if name == "cost_usd":
        return cost(value, estimated)
    return count(value)


def tokens(
    tin: int | float | None,
    tout: int | float | None,
    cache_read: int | float | None = None,
    cache_write: int | float | None = None,
    reasoning: int | float | None = None,
) -> str:
    """ "1230→118"; with the parts where the source gave some (not all zero):
    "in 1230 (cache read 1000 · write 0) · out 118 (reasoning 20)". The parts are inside the counts."""
    if tin is None and tout is None:
        return "-"
    cached = [(label, n) for label, n in (("cache read", cache_read), ("cache write", cache_write)) if n is not None]
    if not any(n for _, n in cached) and not reasoning:
        return f"{count(tin)}→{count(tout)}"
    out = f"in {count(tin)}"
    if any(n for _, n in cached):
        shown = [f"{label} {count(n)}" for label, n in cached]
        if len(shown) == 2:
            shown[1] = shown[1].removeprefix("cache ")
        out += f" ({' · '.join(shown)})"
    out += f" · out {count(tout)}"
    if reasoning:
        out += f" (reasoning {count(reasoning)})"
    return out


def excerpt(text: str | None, width: int = 60) -> str:
    line = safe(text, single_line=True)
    return line if len(line) <= width else line[: width - 1] + "…"


def size_text(n: float) -> str:
    """A byte count for people: "512 B", "1.5 KB", "3.2 GB"."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def period(since: str | None, until: str | None) -> str:
    """A stored time range as people read it: "2026-11-01 09:00–10:00", "2026-11-01 – 2026-11-02" (as when())."""
    start, end = when(since), when(until)
    if since is None:
        return f"before {end}"
    if until is None:
        return f"from {start}"
    start, end = start.removesuffix(":00"), end.removesuffix(":00")
    if start.endswith(" 00:00") and end.endswith(" 00:00"):
        start, end = start[:10], end[:10]
        return start if _next_day(start) == end else f"{start} – {end}"
    if start[:10] == end[:10]:
        return f"{start}–{end[11:]}"
    return f"{start} – {end}"


def _next_day(day: str) -> str:
    from datetime import date, timedelta

    return (date.fromisoformat(day) + timedelta(days=1)).isoformat()


# Clock times are shown in UTC (as stored) or in the local time zone: the config file's `times`
# and the viewer's `u` choose, for every time the CLI and the viewer show.
_clock = {"local": False}


def use_local_time(local: bool) -> None:
    _clock["local"] = local


def local_time() -> bool:
    return _clock["local"]


def zone_label() -> str:
    """What the times shown are in: "UTC" or "local"."""
    return "local" if _clock["local"] else "UTC"


def when(iso_text: str | None, *, precise: bool = False, utc: bool = False) -> str:
    """A stored timestamp as the CLI and viewer show it: 'YYYY-MM-DD HH:MM:SS', in UTC or local time;
    `precise` adds the milliseconds and the zone ('2026-11-01 09:00:00.000 UTC'); `utc` whatever the
    clock (a document made to be shared, such as the Markdown of a run)."""
    if not iso_text:
        return "-"
    if _clock["local"] and not utc:
        from datetime import datetime

        try:
            moment = datetime.fromisoformat(iso_text.replace("Z", "+00:00")).astimezone()
        except ValueError:
            return safe(iso_text, single_line=True)
        if precise:
            return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} {moment.strftime('%Z')}"
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    if precise:
        return iso_text.replace("T", " ").replace("Z", " UTC")
    return iso_text[:19].replace("T", " ")


def problem_source(label: str, file: str | None) -> str:
    """Where a reading problem is, as the user named it: the source itself, or a file of the folder
    they opened (`file` is relative to it; None: the folder as a whole)."""
    if not file or file == label:
        return label
    return f"{label.rstrip('/')}/{file}"


def source_cells(tool: str, path: str, files: int, unit: str, size: int, newest: float | None) -> list[str]:
    """A row of `tracetui sources` and of the start screen: tool, sessions, size, newest activity, path
    (last: the one that is cut when the terminal is narrow)."""
    from datetime import UTC, datetime

    if unit == "database":
        count = "database"
    else:
        count = f"{files:,} session file{'' if files == 1 else 's'}"
    latest = "-" if newest is None else datetime.fromtimestamp(newest, UTC).strftime("%Y-%m-%d %H:%M")
    return [safe(tool, single_line=True), count, size_text(size), latest, safe(path, single_line=True)]


SOURCE_HEADERS = ("tool", "holds", "size", "newest (UTC)", "path")


def nothing_found(looked: list[tuple[str, str, str]]) -> list[str]:
    """What `tracetui sources` and the start screen say when no place holds traces: where they looked
    ((tool, path, why) each) and how to open a file."""
    lines = ["No traces found where coding agents and tracing tools keep them. Looked in:"]
    lines += [f"  {safe(tool, single_line=True)}: {safe(path, single_line=True)} ({why})" for tool, path, why in looked]
    lines += [
        "",
        "Open a trace file or a folder of them with `tracetui open PATH`;",
        "`tracetui formats` lists what tracetui reads.",
    ]
    return lines
