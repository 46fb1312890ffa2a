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


def test_the_next_open_takes_the_kept_estimates_and_a_changed_call_is_priced_again(db):
    before = digest(db)
    first = opened(db)
    (total,) = first.stats()
    first.problems()  # every call priced: kept
    first.close()
    estimates._save_all()
    assert digest(db) == before  # never the user's file
    kept = sqlite3.connect(kept_file())
    rows = kept.execute("SELECT count(*), count(cost) FROM calls WHERE model IS NOT NULL").fetchone()
    assert rows[0] >= 3 and rows[1] == rows[0]
    assert oct(os.stat(kept_file()).st_mode & 0o777) == "0o600"
    # What the next open reads is the kept figure: mark every kept cost, and the next stats show the marks.
    kept.execute("UPDATE calls SET cost = 1000 WHERE cost IS NOT NULL")
    kept.commit()
    (marked,) = opened(db).stats()
    assert marked.cost_usd == pytest.approx(1000 * rows[1]) and marked.cost_estimated_usd == marked.cost_usd
    # A call whose row changed is read and priced again, the others still come from the cache.
    edit(db, "UPDATE spans SET llm_token_count_completion = llm_token_count_completion + 1 WHERE id = 9")
    fresh, estimated = costs(db)["0000000000000009"]  # a step tree prices its calls itself
    (changed,) = opened(db).stats()
    assert estimated and fresh is not None and fresh < 1
    assert changed.cost_usd == pytest.approx(1000 * (rows[1] - 1) + fresh)
    assert total.cost_usd is not None and total.cost_usd < 1


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


def test_a_database_with_more_calls_than_memory_holds_is_kept_too(db, monkeypatch):
    """Beyond what a connection keeps in memory (sqlite_steps._SEEN_CALLS) every call is still written,
    and the next command looks each up in the cache file instead of reading and pricing it again."""
    from tracetui.sources import phoenix, sqlite_steps

    monkeypatch.setattr(sqlite_steps, "_SEEN_CALLS", 2)
    read = []
    real = phoenix._call
    monkeypatch.setattr(phoenix, "_call", lambda *values: read.append(values) or real(*values))
    first = opened(db)
    expected = (first.stats()[0].cost_usd, [g.cost_usd for g in first.stats("model")])
    first.problems()
    first.close()
    estimates._save_all()
    calls = sqlite3.connect(kept_file()).execute("SELECT count(*) FROM calls WHERE model IS NOT NULL").fetchone()[0]
    assert calls > 2 and read
    read.clear()
    again = opened(db)
    assert (again.stats()[0].cost_usd, [g.cost_usd for g in again.stats("model")]) == expected
    assert read == []  # every call came from the cache file


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
