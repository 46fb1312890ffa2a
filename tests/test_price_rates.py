"""Model calls priced in SQL (pricing.sql_cost): the rates of a model on a UTC day, asked of the price table
once, applied by SQLite, give exactly what pricing.Pricer.cost (the library's own calculation) gives,
call by call: cache and reasoning parts, tier thresholds, prices that change on a date or with the
time of day, counts the library refuses, sums beyond what a float holds exactly, unknown models."""

from __future__ import annotations

import sqlite3

import pytest

from tracetui import pricing
from tracetui.sources.sqlite_steps import RateBook

CALLS = [
    # model, provider, (in, out, cache read, cache write, reasoning), when
    ("gpt-4o-mini", "openai", (1200, 300, None, None, None), "2026-01-01T10:00:00.000Z"),
    ("gpt-4o-mini", None, (1200, 300, 1000, None, None), "2026-01-01T10:00:00.000Z"),
    ("gpt-4o-mini-2024-07-18", "openai", (7, 0, 0, 0, 0), "2025-06-30T23:59:59.999Z"),
    ("openai/gpt-4o", None, (100_000, 2_000, 50_000, None, None), "2026-03-01T00:00:00.000Z"),
    ("claude-sonnet-4-20250514", "anthropic", (9000, 800, 3000, 2000, None), "2026-02-02T02:02:02.000Z"),
    ("claude-opus-4-7", "anthropic", (5000, 800, None, None, 100), None),  # no time: today's prices
    # a tier above 200k input tokens, and the same model just below it
    ("claude-sonnet-4-5", "anthropic", (250_000, 1000, 10_000, 5_000, None), "2026-01-05T12:00:00.000Z"),
    ("claude-sonnet-4-5", "anthropic", (200_000, 1000, None, None, None), "2026-01-05T12:00:00.000Z"),
    # a price that changes on 2026-03-13: the day before and the day of it, in UTC (+02:00 is the day before)
    ("claude-sonnet-4-6", "anthropic", (300_000, 4000, None, None, None), "2026-03-12T23:59:59.000Z"),
    ("claude-sonnet-4-6", "anthropic", (300_000, 4000, None, None, None), "2026-03-13T00:00:00.000Z"),
    ("claude-sonnet-4-6", "anthropic", (300_000, 4000, None, None, None), "2026-03-13T01:00:00+02:00"),
    # off-peak prices by the time of day: priced call by call
    ("deepseek-chat", "deepseek", (4000, 500, 1000, None, None), "2026-01-01T17:00:00.000Z"),
    ("deepseek-chat", "deepseek", (4000, 500, 1000, None, None), "2026-01-01T03:00:00.000Z"),
    ("gemini-3-flash-preview", None, (3000, 700, None, None, 300), "2026-04-01T00:00:00.000Z"),
    # counts the library refuses, or none
    ("gpt-4o-mini", "openai", (100, 10, 80, 40, None), "2026-01-01T10:00:00.000Z"),
    ("gpt-4o-mini", "openai", (100, 10, None, None, 20), "2026-01-01T10:00:00.000Z"),
    ("gpt-4o-mini", "openai", (-1, 10, None, None, None), "2026-01-01T10:00:00.000Z"),
    ("gpt-4o-mini", "openai", (None, None, 5, None, None), "2026-01-01T10:00:00.000Z"),
    ("gpt-4o-mini", "openai", (None, 40, None, None, None), "2026-01-01T10:00:00.000Z"),
    # a sum of scaled rates beyond 2**53: the SQL hands it to the library
    ("claude-opus-4-7", "anthropic", (999_999_999_999, 999_999_999_999, None, None, None), "2026-01-01T00:00:00.000Z"),
    # not in the price table; a local runtime's provider
    ("acme-router-7b", None, (10, 1, None, None, None), "2026-01-01T00:00:00.000Z"),
    ("gpt-4o-mini", "ollama", (10, 1, None, None, None), "2026-01-01T00:00:00.000Z"),
    # a model name whose bytes are not UTF-8 (read with them as surrogates)
    ("gpt-4o-mini\udcff", "openai", (10, 1, None, None, None), "2026-01-01T00:00:00.000Z"),
]
COLUMNS = ("m", "p", "tin", "tout", "rd", "wr", "th", "w")


def priced_in_sql(calls: list, pricer: pricing.Pricer) -> list[float | None]:
    conn = sqlite3.connect(":memory:")
    book = RateBook(pricer, conn, "test")
    conn.create_function("rates", 4, book.sql)

    def by_call(model, provider, *rest):
        *counts, when = rest
        decoded = [v.decode("utf-8", "surrogateescape") if type(v) is bytes else v for v in (model, provider)]
        return pricer.cost(decoded[0], decoded[1], tuple(counts), when)

    conn.create_function("by_call", 8, by_call)
    conn.execute(f"CREATE TABLE calls (n, {', '.join(COLUMNS)})")
    for n, (model, provider, counts, when) in enumerate(calls):
        raw = model.encode("utf-8", "surrogateescape")
        stored = "CAST(? AS TEXT)"  # text as SQLite holds it, its bytes as they were (not UTF-8: as in the file)
        conn.execute(f"INSERT INTO calls VALUES (?, {stored}, ?, ?, ?, ?, ?, ?, ?)", (n, raw, provider, *counts, when))
    sql = pricing.sql_cost("rates", "by_call", COLUMNS)
    return [cost for (cost,) in conn.execute(f"SELECT {sql} FROM calls ORDER BY n")]


def test_sql_prices_every_call_as_the_library_does():
    expected = [pricing.Pricer().cost(model, provider, counts, when) for model, provider, counts, when in CALLS]
    assert priced_in_sql(CALLS, pricing.Pricer()) == expected  # exactly: the same float
    assert sum(cost is not None for cost in expected) >= 14
    assert expected[-3:] == [None, None, None]


def test_each_model_and_day_is_priced_once_not_each_call(monkeypatch):
    """60 calls of one model on two days: the price table is asked for two days' rates, never for a call."""
    asked: list[tuple] = []
    real_rates, real_cost = pricing.Pricer.rates, pricing.Pricer.cost
    monkeypatch.setattr(pricing.Pricer, "rates", lambda self, *a: asked.append(a) or real_rates(self, *a))
    monkeypatch.setattr(pricing.Pricer, "cost", lambda self, *a: asked.append(("cost", *a)) or real_cost(self, *a))
    calls = [
        ("gpt-4o-mini", "openai", (1000 + i, 10 * i, i, None, None), f"2026-01-0{1 + i % 2}T10:00:{i % 60:02d}.000Z")
        for i in range(60)
    ]
    costs = priced_in_sql(calls, pricing.Pricer())
    assert sorted(asked) == [("gpt-4o-mini", "openai", "2026-01-01"), ("gpt-4o-mini", "openai", "2026-01-02")]
    assert costs == [real_cost(pricing.Pricer(), *call) for call in calls]


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gpt-4o-mini"])
def test_rates_are_a_cost_the_python_side_applies_the_same_way(model):
    """A step tree read in place prices its calls from the same rates (pricing.rated)."""
    pricer = pricing.Pricer()
    for counts in [(250_000, 100, 1, 2, 3), (1000, 10, None, None, None), (10, 0, 5, 5, None)]:
        when = "2026-01-05T12:00:00.000Z"
        assert pricing.rated(pricer.rates(model, None, "2026-01-05"), counts) == pricer.cost(model, None, counts, when)
