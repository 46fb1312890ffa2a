import pytest

from tracetui import normalize


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("processing", "running"),
        ("error", "failed"),
        ("success", "completed"),
        ("TIMEOUT", "timeout"),
        ("skipped", "skipped"),
        (None, "completed"),
        ("weird", "completed"),
    ],
)
def test_status(raw, expected):
    assert normalize.status(raw) == expected


def test_run_status_is_never_skipped():
    assert normalize.status("skipped", step=False) == "completed"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("if_else", "control"),
        ("switch", "control"),
        ("input_scan", "scan"),
        ("output_scan", "scan"),
        ("governance", "governance"),
        ("evaluation", "evaluation"),
        ("web_search", "tool"),
        ("prompt_call", "llm"),
        ("reasoning", "reasoning"),
        ("retrieval", "retrieval"),
        ("totally_new_step", "other"),
        (None, "other"),
    ],
)
def test_kind(raw, expected):
    assert normalize.kind(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("2026-02-27T10:00:00Z", "2026-02-27T10:00:00.000Z"),
        ("2026-02-27T11:00:00.5+01:00", "2026-02-27T10:00:00.500Z"),
        (1740650400, "2025-02-27T10:00:00.000Z"),
        (1740650400100, "2025-02-27T10:00:00.100Z"),
        ("1740650400.25", "2025-02-27T10:00:00.250Z"),
        (1740650400000000000, "2025-02-27T10:00:00.000Z"),
        ("yesterday", None),
        (None, None),
        (True, None),
    ],
)
def test_timestamp(raw, expected):
    assert normalize.timestamp(raw) == expected


def test_duration_between():
    assert normalize.duration_between("2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.500Z") == 1500
    assert normalize.duration_between("2026-01-01T00:00:02.000Z", "2026-01-01T00:00:01.000Z") is None


def test_text_keeps_strings_and_serialises_the_rest():
    assert normalize.text("[bold]x") == "[bold]x"
    assert normalize.text({"a": [1]}) == '{"a":[1]}'
    assert normalize.text(None) is None


def test_number_rejects_non_numbers():
    assert normalize.number("1.5") == 1.5
    assert normalize.number("abc") is None
    assert normalize.number(float("nan")) is None
    assert normalize.number(True) is None


@pytest.mark.parametrize(
    "raw",
    [
        0,
        1.0000005,  # rounds half to even at the microsecond, as datetime does
        1.0000015,
        999.9999996,  # rounds up into the next second
        1_700_000_000.9999996,
        1_700_000_000_999_999_500,  # nanoseconds that round up into the next second
        1_700_000_000_123_456_789,
        99_999_999_999.9999,
        253_402_300_799.9999996,  # the last microsecond datetime can hold rounds past it
        253_402_300_800,  # past the year 9999
    ],
)
def test_an_epoch_number_reads_as_datetime_reads_it(raw):
    from datetime import UTC, datetime

    expected = None
    for scale in (1, 1e3, 1e6, 1e9):
        if raw / scale < 1e11:
            try:
                expected = normalize.iso(datetime.fromtimestamp(raw / scale, tz=UTC))
            except (OverflowError, OSError, ValueError):
                expected = None
            break
    assert normalize.timestamp(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "2026-10-26T07:33:20Z",
        "2026-10-26T07:33:20z",
        "2026-10-26T07:33:20",
        "2026-10-26T07:33:20+00:00",
        "2026-10-26T07:33:20.5Z",
        "2026-10-26T07:33:20.12+00:00",
        "2026-10-26T07:33:20.1239",
        "2026-10-26T07:33:20.999999Z",
        "2026-10-26T07:33:20.1234567Z",  # more digits than the fast path takes
        "2026-10-26T07:33:20.5+02:00",
        "2026-10-26 07:33:20Z",
        "2026-02-30T07:33:20Z",  # no such day
        "2026-10-26T24:00:00Z",
        "2026-10-26T07:33:60Z",
        "٢٠٢٦-10-26T07:33:20Z",  # digits, but not ASCII ones
        "0001-01-01T00:00:00.001Z",
        "9999-12-31T23:59:59.999999Z",
    ],
)
def test_a_time_in_utc_text_reads_as_datetime_reads_it(raw):
    """timestamp() lays UTC text out from the text (the datetime only checks it); the result is iso()'s all the same."""
    from datetime import datetime

    text = raw[:-1] + "+00:00" if raw.endswith(("Z", "z")) else raw
    try:
        expected = normalize.iso(datetime.fromisoformat(text))
    except ValueError:
        expected = None
    assert normalize.timestamp(raw) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-10-26T07:33:20.000Z",
        "2026-10-26T07:33:20.001Z",
        "2026-10-26T07:33:20.999Z",
        "1970-01-01T00:00:00.000Z",
        "1969-12-31T23:59:59.999Z",
        "0001-01-01T00:00:00.001Z",
        "9999-12-31T23:59:59.999Z",
        "2026-02-30T00:00:00.000Z",  # no such day
        "2026-10-26T07:33:20.5Z",
        "2026-10-26T09:33:20.123+02:00",
    ],
)
def test_epoch_ms_is_what_datetime_computes(text):
    """epoch_ms() counts a canonical time's milliseconds from its second's count; datetime gives the same float."""
    from datetime import UTC, datetime

    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        expected = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp() * 1000.0
    except (ValueError, OverflowError):
        expected = None
    assert normalize.epoch_ms(text) == expected
