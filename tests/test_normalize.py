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
