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
from tracetui.model import ESTIMATED_COST

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


# -- the estimates SQL found for the file's content, kept whole (KeptCosts) -------------------------


def costs_file() -> str:
    (found,) = glob.glob(os.path.join(os.environ["XDG_CACHE_HOME"], "tracetui", "costs-*.db"))
    return found


def answers(store) -> tuple:
    """What a command shows of the estimates: each run's costs (sorted by cost), each call's, the stats."""
    runs = [(r.id, r.total("cost_usd"), r.total(ESTIMATED_COST)) for r in store.list_runs(sort="cost", desc=True)]
    by_model = [(g.group, g.cost_usd, g.cost_estimated_usd, g.unpriced) for g in store.stats("model")]
    (total,) = store.stats()
    return runs, by_model, (total.cost_usd, total.cost_estimated_usd), [p.message for p in store.problems()]


def attached(store) -> str | None:
    """The file of the estimates attached to the store's connection ("": a table in memory, None: none)."""
    files = {row[1]: row[2] for row in store.conn.execute("PRAGMA database_list")}
    return files.get(estimates.KEPT)


def counts(step) -> pricing.TokenCounts:
    return (step.tokens_in, step.tokens_out, step.tokens_cache_read, step.tokens_cache_write, step.tokens_reasoning)


def test_the_next_command_reads_each_estimate_kept_for_the_content(db):
    edit(db, f"UPDATE spans SET attributes = json_set(attributes, '$.llm.model_name', '{UNKNOWN}') WHERE id = 9")
    before = digest(db)
    first = opened(db)
    expected = answers(first)  # (the problems: the pass over every call that keeps the estimates)
    first.close()
    assert digest(db) == before  # never the user's file
    assert oct(os.stat(costs_file()).st_mode & 0o777) == "0o600"
    kept = sqlite3.connect(costs_file())
    priced = kept.execute("SELECT row, cost FROM calls ORDER BY row").fetchall()
    # Every priced call by its span's rowid, at exactly what Pricer.cost gives the step its tree holds.
    pricer, store = pricing.Pricer(), opened(db)
    steps = {s.id: s for r in store.run_ids() for s in store.steps(r) if s.model}
    rows = dict(sqlite3.connect(db).execute("SELECT span_id, id FROM spans"))
    by_library = sorted((rows[s.id], pricer.cost(s.model, s.provider, counts(s), s.started_at)) for s in steps.values())
    assert priced == [(row, cost) for row, cost in by_library if cost is not None]
    assert len(priced) == len(by_library) - 1 > 0
    assert attached(opened(db)) == costs_file()
    assert answers(opened(db)) == expected
    # What the next command shows is read from there: $1000 a call. (A writer keeps the file open, as
    # Phoenix does: the store reads it as it changes, not as an immutable file.)
    kept.execute("UPDATE calls SET cost = 1000")
    kept.commit()
    writer = sqlite3.connect(db)
    writer.execute("SELECT count(*) FROM spans").fetchone()
    again = opened(db)
    runs, by_model, (cost, estimated), _ = answers(again)
    assert cost == estimated == 1000 * len(priced)
    assert sum(model_cost or 0 for _, model_cost, *_ in by_model) == 1000 * len(priced)
    assert sum(run_cost or 0 for _, run_cost, _ in runs) == 1000 * len(priced)
    # The file changes while that store is open: its next query prices the calls as they are now.
    writer.execute("UPDATE spans SET llm_token_count_completion = llm_token_count_completion + 1 WHERE id = 1")
    writer.commit()
    changed = answers(again)
    assert changed == answers(opened(db)) != expected
    assert changed[2][0] == pytest.approx(expected[2][0], rel=1e-2)
    writer.close()


def test_estimates_kept_for_another_content_are_not_read(db):
    opened(db).problems()
    kept = sqlite3.connect(costs_file())
    kept.execute("UPDATE calls SET cost = 1000")
    kept.commit()
    edit(db, "UPDATE spans SET name = 'renamed' WHERE id = 1")  # (the file's content is another)
    store = opened(db)
    assert attached(store) == ""  # (an empty table, for this connection's own pass)
    assert 0 < store.stats()[0].cost_usd < 1
    store.problems()  # the new content's estimates are kept in its place
    assert opened(db).stats()[0].cost_usd == store.stats()[0].cost_usd


def test_with_no_estimate_no_costs_are_kept_or_read(db):
    from tracetui.loading import prepare

    opened(db).problems()
    store = prepare(db, estimate=False).connect()
    assert store.stats()[0].cost_usd is None and store.list_runs(sort="cost")[0].total("cost_usd") is None
    assert attached(store) is None
    os.remove(costs_file())
    prepare(db, estimate=False).connect().problems()
    assert glob.glob(os.path.join(os.environ["XDG_CACHE_HOME"], "tracetui", "costs-*.db")) == []


def test_kept_costs_that_cannot_be_read_are_only_slower(db):
    store = opened(db)
    expected = answers(store)
    with open(costs_file(), "wb") as f:
        f.write(b"not a database at all")
    assert answers(opened(db)) == expected


def test_the_first_command_reads_the_estimates_its_own_pass_found(db):
    """The pass over every call that lists the unpriced models (the `w` count, asked before a command
    answers) leaves its estimates for the command's own sums: sorting by cost and stats do not price
    every call again. While the content it found them on is read."""
    writer = sqlite3.connect(db)
    writer.execute("SELECT count(*) FROM spans").fetchone()
    store = opened(db)
    expected = answers(opened(db))
    assert store.problems() == opened(db).problems()
    assert attached(store) == "" and store.conn.execute(f"SELECT count(*) FROM {estimates.KEPT}.calls").fetchone()[0]
    assert answers(store) == expected
    store.conn.execute(f"UPDATE {estimates.KEPT}.calls SET cost = 1000")
    store.conn.commit()
    (cost, _), n = answers(store)[2], store.conn.execute(f"SELECT count(*) FROM {estimates.KEPT}.calls").fetchone()[0]
    assert cost == 1000 * n
    writer.execute("UPDATE spans SET llm_token_count_completion = llm_token_count_completion + 1 WHERE id = 1")
    writer.commit()
    assert answers(store)[2][0] == pytest.approx(expected[2][0], rel=1e-2)
    writer.close()
