"""The plain-text formatters the CLI and the viewer share."""

from tracetui import display
from tracetui.model import TOTAL_FIELDS


def test_sizes_read_in_the_largest_unit_up_to_gigabytes():
    assert display.size_text(0) == "0 B"
    assert display.size_text(1023) == "1023 B"
    assert display.size_text(1536) == "1.5 KB"
    assert display.size_text(5 * 1024 * 1024) == "5.0 MB"
    assert display.size_text(3 * 1024**3) == "3.0 GB"
    assert display.size_text(2048 * 1024**3) == "2048.0 GB"


def test_each_total_has_a_label_and_its_own_number_format():
    assert set(display.TOTAL_LABELS) == set(TOTAL_FIELDS)
    assert display.total("tokens_in", 12_345) == "12.3k"
    assert display.total("tokens_out", 40) == "40"
    assert display.total("credits", 2.0) == "2"
    assert display.total("credits", 0.5) == "0.50"
    assert display.total("cost_usd", 0.5) == "$0.5000"
    assert display.total("cost_usd", 12.0) == "$12.00"
    assert [display.total(name, None) for name in TOTAL_FIELDS] == ["-"] * 4


def test_safe_makes_control_characters_visible_and_keeps_markup_as_text():
    assert display.safe("[bold]x\x1b[31m\x07") == "[bold]x\\x1b[31m\\x07"
    assert display.safe("a\nb", single_line=True) == "a ⏎ b"
    assert display.safe(None) == ""


def test_tokens_show_their_parts_only_where_a_source_gave_some():
    assert display.tokens(1234, 56) == "1234→56"
    assert display.tokens(1234, 56, 0, 0, 0) == "1234→56"  # all-zero parts add nothing
    assert display.tokens(1234, 56, 1000, 0, 20) == "in 1234 (cache read 1000 · write 0) · out 56 (reasoning 20)"
    assert display.tokens(1234, 56, None, 300, None) == "in 1234 (cache write 300) · out 56"
    assert display.tokens(12_345, 56, None, None, 7) == "in 12.3k · out 56 (reasoning 7)"
    assert display.tokens(None, None, 5, 5, 5) == "-"
    assert display.LABELS["tokens_cache_read"] == "cache read" and display.total("tokens_reasoning", 3) == "3"


def test_safe_shows_c1_controls_bidi_overrides_and_zero_width_characters():
    assert display.safe("\x9b31m\x85") == "\\x9b31m\\x85"
    assert display.safe("exe\u202egnp.") == "exe\\u202egnp."
    hidden = "\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u200b\u200c\u200d\u2060\ufeff"
    shown = display.safe(hidden)
    assert shown == "".join(f"\\u{ord(c):04x}" for c in hidden)
    assert display.safe("naïve — 日本語 🙂 שלום") == "naïve — 日本語 🙂 שלום"  # other text untouched


def test_clip_cuts_long_ids_in_the_middle_and_keeps_short_ones():
    assert display.clip("run-1") == "run-1"
    long_id = "run-" + "x" * 100_000 + "-tail"
    clipped = display.clip(long_id)
    assert len(clipped) == display.CLIP and clipped.startswith("run-x") and clipped.endswith("x-tail")
    assert "…" in clipped
    assert display.clip("a\nb\u202e", 64) == "a ⏎ b\\u202e"


def test_depth_note_marks_rows_drawn_at_the_nesting_cap():
    assert display.depth_note(display.MAX_NESTING - 1) == ""
    assert display.depth_note(12_345) == "↳ depth 12,345 "
    assert display.depth_note(5, cap=5) == "↳ depth 5 "


def test_estimated_costs_are_marked_and_shares_never_read_zero():
    assert display.cost(0.0123) == "$0.0123" and display.cost(0.0123, estimated=True) == "≈$0.0123"
    assert display.cost(12.5, True) == "≈$12.50" and display.cost(None, True) == "-"
    assert display.share(4, 10) == "40%" and display.share(1, 1000) == "<1%" and display.share(999, 1000) == ">99%"
    assert display.share(0, 10) == "0%" and display.share(None, 10) == "" and display.share(3, 0) == ""


def test_time_ranges_read_like_the_buckets_they_came_from():
    assert display.period("2026-11-01T09:00:00.000Z", "2026-11-01T10:00:00.000Z") == "2026-11-01 09:00–10:00"
    assert display.period("2026-11-01T00:00:00.000Z", "2026-11-02T00:00:00.000Z") == "2026-11-01"
    assert display.period("2026-11-01T00:00:00.000Z", "2026-11-08T00:00:00.000Z") == "2026-11-01 – 2026-11-08"
    assert display.period(None, "2026-11-02T00:00:00.000Z") == "before 2026-11-02 00:00:00"
