"""Estimates of a database read in place are kept in tracetui's cache for the next command (estimates.py):
used when the calls are unchanged, found again for a call whose row changed, never written to the file."""

from __future__ import annotations

import glob
import hashlib
import os
import sqlite3

import pytest
from agents import PHOENIX, copied, opened

from tracetui import estimates, pricing

UNKNOWN = "acme-router-7b"


@pytest.fixture
def db(tmp_path) -> str:
    """Phoenix's fixture without its costs: every model call is priced by tracetui."""
    path = copied(PHOENIX, tmp_path / "src")
    edit(path, "DELETE FROM span_costs")
    return path


def edit(path: str, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for sql in statements:
        conn.execute(sql)
    conn.commit()
    conn.close()


def kept_file() -> str:
    (found,) = glob.glob(os.path.join(os.environ["XDG_CACHE_HOME"], "tracetui", "estimates-*.db"))
    return found


def digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def costs(path: str) -> dict[str, tuple[float | None, bool]]:
    store = opened(path)
    return {s.id: (s.cost_usd, s.cost_estimated) for r in store.run_ids() for s in store.steps(r) if s.model}


def test_the_next_open_applies_the_kept_rates_to_the_calls_as_they_are_now(db):
    before = digest(db)
    first = opened(db)
    (total,) = first.stats()
    first.close()
    estimates._save_all()
    assert digest(db) == before  # never the user's file
    assert total.cost_usd is not None and 0 < total.cost_usd < 1
    kept = sqlite3.connect(kept_file())
    # One row per model and day (the fixture's calls share one day), not one per call.
    kept_rates = kept.execute("SELECT count(*), count(DISTINCT model), count(DISTINCT day) FROM rates").fetchone()
    assert kept_rates == (3, 3, 1)
    assert oct(os.stat(kept_file()).st_mode & 0o777) == "0o600"
    # What the next open applies is the kept rates: $1000 a call and $1 an output token.
    kept.execute("UPDATE rates SET rates = '[[], [\"[1,1000,0,1,0,0,0]\"]]'")
    kept.commit()
    calls, tokens_out = (
        sqlite3.connect(db)
        .execute(
            "SELECT count(*), sum(llm_token_count_completion) FROM spans WHERE llm_token_count_completion IS NOT NULL"
        )
        .fetchone()
    )
    (marked,) = opened(db).stats()
    assert marked.cost_usd == 1000 * calls + tokens_out and marked.cost_estimated_usd == marked.cost_usd
    # A call whose row changed is priced as it is now, in SQL and in its step tree alike.
    edit(db, "UPDATE spans SET llm_token_count_completion = llm_token_count_completion + 1 WHERE id = 9")
    (changed,) = opened(db).stats()
    assert changed.cost_usd == marked.cost_usd + 1
    tokens = sqlite3.connect(db).execute("SELECT llm_token_count_completion FROM spans WHERE id = 9").fetchone()[0]
    assert costs(db)["0000000000000009"] == (1000 + tokens, True)


def test_unpriced_models_come_from_the_cache_until_the_file_changes(db):
    edit(db, f"UPDATE spans SET attributes = json_set(attributes, '$.llm.model_name', '{UNKNOWN}') WHERE id = 9")
    first = [p.message for p in opened(db).problems()]
    expected = pricing.unpriced_message(pricing.Pricer(), UNKNOWN, "openai", 1)
    assert first == [expected]
    assert [p.message for p in opened(db).problems()] == first
    # The file changes: the list is found again (the model is known now), not taken from the cache.
    edit(db, "UPDATE spans SET attributes = json_set(attributes, '$.llm.model_name', 'gpt-4o-mini') WHERE id = 9")
    assert [p.message for p in opened(db).problems()] == []


def test_with_no_estimate_nothing_is_kept(db):
    from tracetui.loading import prepare

    store = prepare(db, estimate=False).connect()
    store.stats()
    store.problems()
    estimates._save_all()
    assert glob.glob(os.path.join(os.environ["XDG_CACHE_HOME"], "tracetui", "estimates-*.db")) == []


def test_a_cache_that_cannot_be_read_is_only_slower(db):
    store = opened(db)
    expected = (store.stats()[0].cost_usd, [p.message for p in store.problems()])
    estimates._save_all()
    with open(kept_file(), "wb") as f:
        f.write(b"not a database at all")
    again = opened(db)
    assert (again.stats()[0].cost_usd, [p.message for p in again.problems()]) == expected


def test_a_later_command_prices_every_call_without_the_price_table(db, monkeypatch):
    """The rates kept by the first command (one per model and day) price every call of the next one."""
    first = opened(db)
    expected = (first.stats()[0].cost_usd, [g.cost_usd for g in first.stats("model")], first.problems())
    first.close()
    estimates._save_all()
    loads = []
    real = pricing.Pricer._data
    monkeypatch.setattr(pricing.Pricer, "_data", lambda self: loads.append(1) or real(self))
    again = opened(db)
    assert (again.stats()[0].cost_usd, [g.cost_usd for g in again.stats("model")], again.problems()) == expected
    assert loads == []


def test_a_run_whose_calls_were_priced_before_is_shown_without_the_price_table(db, monkeypatch):
    """`show` after any command on the file: the tree's calls are priced from the kept estimates."""
    first = opened(db)
    first.problems()  # every call priced and kept
    expected = costs(db)
    first.close()
    estimates._save_all()
    loads = []
    real = pricing.Pricer._data
    monkeypatch.setattr(pricing.Pricer, "_data", lambda self: loads.append(1) or real(self))
    assert costs(db) == expected and any(estimated for _, estimated in expected.values())
    assert loads == []
