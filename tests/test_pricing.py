"""Estimated costs: model calls priced from genai-prices' bundled table, exactly as the library prices
them; reported costs win; unknown models stay unpriced and are reported; flags roll up and survive."""

from __future__ import annotations

import json
import random
import socket
import sqlite3
import threading
from datetime import datetime

import pytest
from builders import run, step, write_jsonl, write_store
from click.testing import CliRunner
from genai_prices import Usage, calc_price

from tracetui import pricing
from tracetui.cli import main
from tracetui.loading import cache_path, open_store, prepare

WHEN = "2026-11-01T09:00:00.000Z"


def library_cost(model, provider, tin, tout, read=0, write=0, reasoning=0, when=WHEN) -> float:
    """What genai-prices itself says, asked directly."""
    usage = Usage(
        input_tokens=tin,
        output_tokens=tout,
        cache_read_tokens=read,
        cache_write_tokens=write,
        output_reasoning_tokens=reasoning,
    )
    timestamp = datetime.fromisoformat(when)
    return float(calc_price(usage, model, provider_id=provider, genai_request_timestamp=timestamp).total_price)


def call(id, model, provider=None, tin=1000, tout=200, read=None, write=None, reasoning=None, **fields):
    return step(
        id,
        kind="llm",
        model=model,
        provider=provider,
        tokens_in=tin,
        tokens_out=tout,
        tokens_cache_read=read,
        tokens_cache_write=write,
        tokens_reasoning=reasoning,
        started_at=WHEN,
        **fields,
    )


# (model as a framework writes it, provider the step names, how to ask genai-prices for it)
KNOWN = [
    ("gpt-4o-mini-2024-07-18", None, ("gpt-4o-mini-2024-07-18", None)),
    ("openai/gpt-4o", None, ("gpt-4o", "openai")),
    ("gpt-4o", "openai", ("gpt-4o", "openai")),
    ("claude-opus-4-7", None, ("claude-opus-4-7", None)),
    ("claude-sonnet-4-20250514", "anthropic", ("claude-sonnet-4-20250514", "anthropic")),
    ("gemini-3-flash-preview", None, ("gemini-3-flash-preview", None)),
    ("gemini-2.5-pro", "gcp.vertex_ai", ("gemini-2.5-pro", "gcp.vertex_ai")),
    ("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws.bedrock", ("anthropic.claude-3-5-sonnet-20240620-v1:0", "aws")),
    ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", None, ("anthropic.claude-3-haiku-20240307-v1:0", "bedrock")),
    ("claude-3-5-sonnet-v2@20241022", "google-vertex", ("claude-3-5-sonnet-v2@20241022", "google-vertex")),
    ("sonar-deep-research", "perplexity", ("sonar-deep-research", "perplexity")),
]


@pytest.mark.parametrize("model, provider, ask", KNOWN, ids=[k[0] for k in KNOWN])
def test_known_models_cost_exactly_what_genai_prices_says(tmp_path, model, provider, ask):
    counts = {"tin": 12_000, "tout": 900, "read": 7_000, "write": 1_500, "reasoning": 300}
    src = write_jsonl(tmp_path / "t.jsonl", [run("r", call("c", model, provider, **counts), started_at=WHEN)])
    (priced,) = open_store(src).steps("r")
    assert priced.cost_estimated is True
    assert priced.cost_usd == library_cost(*ask, 12_000, 900, 7_000, 1_500, 300)
    assert priced.cost_usd > 0


def test_a_tiered_price_is_charged_by_the_tier_of_each_call(tmp_path):
    # gemini-2.5-pro costs more per token above 200k input tokens; one call below, one above.
    calls = [call("small", "gemini-2.5-pro", tin=150_000, read=50_000), call("big", "gemini-2.5-pro", tin=260_000)]
    store = open_store(write_jsonl(tmp_path / "t.jsonl", [run("r", *calls)]))
    small, big = store.steps("r")
    assert small.cost_usd == library_cost("gemini-2.5-pro", None, 150_000, 200, read=50_000)
    assert big.cost_usd == library_cost("gemini-2.5-pro", None, 260_000, 200)
    assert big.cost_usd / 260_000 > small.cost_usd / 150_000


def test_reasoning_has_its_own_rate_where_the_table_has_one_else_the_output_rate():
    pricer = pricing.Pricer()
    # sonar-deep-research lists reasoning tokens at their own rate (cheaper than its output).
    own = pricer.cost("sonar-deep-research", "perplexity", (1000, 500, 0, 0, 400), WHEN)
    as_output = pricer.cost("sonar-deep-research", "perplexity", (1000, 500, 0, 0, 0), WHEN)
    assert own == library_cost("sonar-deep-research", "perplexity", 1000, 500, reasoning=400) != as_output
    # gpt-4o-mini has no reasoning rate: reasoning is output, priced as output.
    with_reasoning = pricer.cost("gpt-4o-mini", None, (1000, 500, 0, 0, 400), WHEN)
    assert with_reasoning == pricer.cost("gpt-4o-mini", None, (1000, 500, 0, 0, 0), WHEN)
    assert with_reasoning == library_cost("gpt-4o-mini", None, 1000, 500, reasoning=400)


def test_the_price_in_force_at_the_time_of_the_call_is_used():
    pricer = pricing.Pricer()
    for when in ("2024-06-01T00:00:00.000Z", "2026-11-01T03:00:00.000Z", "2026-11-01T18:00:00.000Z"):
        for model in ("deepseek-chat", "claude-opus-4-7", "gpt-4o"):
            assert pricer.cost(model, None, (5000, 700, 1000, 0, 0), when) == library_cost(
                model, None, 5000, 700, read=1000, when=when
            )


def test_many_usages_of_many_models_match_the_library_exactly():
    """The fast path (coefficients read off the library once per price) against the library, call by call."""
    import random

    rng = random.Random(11)
    models = [("gpt-4o", None), ("claude-opus-4-7", None), ("gemini-2.5-pro", None), ("sonar-pro", "perplexity")]
    pricer = pricing.Pricer()
    for i in range(400):
        model, provider = models[i % len(models)]
        tin = rng.choice([0, 1, rng.randint(1, 9000), rng.randint(150_000, 300_000), 200_000, 200_001])
        read = rng.randint(0, tin // 2)
        write = rng.randint(0, (tin - read) // 3)
        tout = rng.randint(0, 4000)
        thought = rng.randint(0, tout)
        counts = (tin, tout, read, write, thought)
        assert pricer.cost(model, provider, counts, WHEN) == library_cost(model, provider, *counts), counts


class _Unpriceable(pricing.Pricer):
    """A price table that fails every call: what is priced through it was not remembered."""

    def cost(self, model, provider, counts, when=None):
        raise AssertionError(f"priced again: {model} {counts} {when}")


def _calls() -> list:
    return [
        step("a", model="gpt-4o-mini", tokens_in=1200, tokens_out=80, started_at=WHEN),
        step("b", "a", model="claude-opus-4-7", tokens_in=5000, tokens_out=700, tokens_cache_read=1000),
        step("c", "a", model="no-such-model", tokens_in=10, tokens_out=1, started_at=WHEN),
    ]


def test_a_remembered_cost_is_the_cost_the_table_gives_and_is_not_priced_again():
    pricer, remembered = pricing.Pricer(), {}
    first = pricing.apply(run("r", *_calls(), started_at=WHEN), pricer, remembered)
    plain = pricing.apply(run("r", *_calls(), started_at=WHEN), pricer)
    assert [(s.cost_usd, s.cost_estimated) for s in first.steps] == [
        (s.cost_usd, s.cost_estimated) for s in plain.steps
    ]
    assert first.steps[0].cost_usd and first.steps[2].cost_usd is None
    again = pricing.apply(run("r", *_calls(), started_at=WHEN), _Unpriceable(), remembered)
    assert [s.cost_usd for s in again.steps] == [s.cost_usd for s in plain.steps]
    grown = _calls()
    grown[0].tokens_out = 81  # the same call with other counts (a streamed message's later line)
    with pytest.raises(AssertionError, match="priced again: gpt-4o-mini"):
        pricing.apply(run("r", *grown, started_at=WHEN), _Unpriceable(), remembered)


def test_a_call_without_a_time_is_never_remembered():
    remembered: pricing.Remembered = {}
    pricing.apply(run("r", step("a", model="gpt-4o-mini", tokens_in=10, tokens_out=1)), pricing.Pricer(), remembered)
    assert remembered == {}


def test_unknown_models_and_providers_stay_unpriced_and_are_reported_once(tmp_path):
    runs = [
        run("r1", call("a", "acme-router-7b"), call("b", "acme-router-7b"), call("c", "gpt-4o-mini")),
        run("r2", call("a", "acme-router-7b"), call("b", "llama3", provider="ollama")),
    ]
    src = write_jsonl(tmp_path / "t.jsonl", runs)
    store = open_store(src)
    steps = store.steps("r1") + store.steps("r2")
    assert [(s.model, s.cost_usd is None, s.cost_estimated) for s in steps] == [
        ("acme-router-7b", True, False),
        ("acme-router-7b", True, False),
        ("gpt-4o-mini", False, True),
        ("acme-router-7b", True, False),
        ("llama3", True, False),
    ]
    version = pricing.data_version()
    assert [p.message for p in store.problems()] == [
        f"model 'acme-router-7b' is not in the price table (genai-prices {version}): 3 calls not priced",
        f"model 'llama3' from provider 'ollama' is not in the price table (genai-prices {version}): 1 call not priced",
    ]
    # A run with an unpriced call is not priced at zero: its total is what was priced.
    assert store.get_run("r2").total("cost_usd") is None
    rows = json.loads(CliRunner().invoke(main, ["stats", src, "--by", "model", "--json"]).stdout)
    unpriced = {r["group"]: r["unpriced_calls"] for r in rows}
    assert unpriced == {"gpt-4o-mini": 0, "acme-router-7b": 3, "llama3": 1}
    assert next(r for r in rows if r["group"] == "acme-router-7b")["cost_usd"] is None
    text = CliRunner().invoke(main, ["stats", src, "--by", "model"]).stdout
    assert "unpriced" in next(line for line in text.splitlines() if line.startswith("acme-router-7b"))


def test_a_reported_cost_wins_and_is_not_marked_estimated(tmp_path):
    runs = [
        run("steps", call("reported", "gpt-4o", cost_usd=0.25), call("estimated", "gpt-4o")),
        run("whole", call("estimated", "gpt-4o"), cost_usd=1.5),
    ]
    store = open_store(write_jsonl(tmp_path / "t.jsonl", runs))
    reported, estimated = store.steps("steps")
    assert (reported.cost_usd, reported.cost_estimated) == (0.25, False)
    assert estimated.cost_estimated and estimated.cost_usd == library_cost("gpt-4o", None, 1000, 200)
    mixed = store.get_run("steps")
    assert mixed.total("cost_usd") == 0.25 + estimated.cost_usd and mixed.cost_estimated
    whole = store.get_run("whole")
    assert whole.total("cost_usd") == 1.5 and not whole.cost_estimated
    # The run's own cost is checked against what its steps reported, never against estimates.
    assert "total_mismatch" not in whole.flags and "total_mismatch" not in mixed.flags


def test_estimates_roll_up_to_subtrees_and_runs(tmp_path):
    parent = step("agent", kind="agent")
    children = [call("c1", "gpt-4o-mini", parent="agent"), call("c2", "gpt-4o-mini", parent="agent", cost_usd=0.01)]
    for child in children:
        child.parent_id = "agent"
    store = open_store(write_jsonl(tmp_path / "t.jsonl", [run("r", parent, *children, step("plain"))]))
    agent, c1, c2, plain = store.steps("r")
    assert agent.sub_cost_usd == c1.cost_usd + 0.01 and agent.sub_cost_estimated_usd == c1.cost_usd
    assert c2.sub_cost_estimated_usd is None and plain.sub_cost_usd is None
    stored = store.get_run("r")
    assert stored.steps_cost_estimated_usd == c1.cost_usd and stored.cost_estimated


def test_estimated_flags_survive_export_and_import(tmp_path):
    src = write_jsonl(tmp_path / "t.jsonl", [run("r", call("c", "claude-opus-4-7"), call("d", "x", cost_usd=0.5))])
    exported, db = tmp_path / "out.jsonl", tmp_path / "out.db"
    assert CliRunner().invoke(main, ["export", src, "-o", str(exported)]).exit_code == 0
    record = json.loads(exported.read_text())["run"]["steps"]
    assert [(s["cost_estimated"], s["cost_usd"] is not None) for s in record] == [(True, True), (False, True)]
    assert CliRunner().invoke(main, ["import", str(exported), "-o", str(db)]).exit_code == 0
    for path in (exported, db):
        c, d = open_store(str(path)).steps("r")
        assert (c.cost_estimated, d.cost_estimated, d.cost_usd) == (True, False, 0.5)
        assert c.cost_usd == library_cost("claude-opus-4-7", None, 1000, 200)
        assert open_store(str(path)).get_run("r").cost_estimated


def test_no_estimate_shows_only_reported_costs_even_from_a_store_that_holds_estimates(tmp_path):
    runs = [run("r", call("c", "gpt-4o"), call("d", "gpt-4o", cost_usd=0.5))]
    db = write_store(tmp_path / "t.db", runs)
    assert prepare(db).in_place
    plain = prepare(db, estimate=False)
    assert not plain.in_place  # the store's estimates are left out by reading it again
    plain.run_import()
    c, d = plain.connect().steps("r")
    assert (c.cost_usd, c.cost_estimated, d.cost_usd) == (None, False, 0.5)
    out = CliRunner().invoke(main, ["list", db, "--json", "--no-estimate"]).stdout
    (row,) = json.loads(out)
    assert (row["cost_usd"], row["cost_estimated"]) == (0.5, False)
    src = write_jsonl(tmp_path / "t.jsonl", runs)
    assert cache_path(src, "tracetui-jsonl") != cache_path(src, "tracetui-jsonl", estimate=False)


def test_json_output_marks_estimates(tmp_path):
    src = write_jsonl(tmp_path / "t.jsonl", [run("r", call("c", "gpt-4o-mini"))])
    (row,) = json.loads(CliRunner().invoke(main, ["list", src, "--json"]).stdout)
    assert row["cost_estimated"] is True and row["cost_usd"] == library_cost("gpt-4o-mini", None, 1000, 200)
    assert row["models"] == ["gpt-4o-mini"] and row["tokens_in"] == 1000
    shown = json.loads(CliRunner().invoke(main, ["show", src, "r", "--json"]).stdout)
    assert shown["cost_estimated"] is True and shown["totals"]["cost_estimated"] is True
    assert shown["steps"][0]["cost_estimated"] is True and shown["steps"][0]["model"] == "gpt-4o-mini"


def test_text_output_marks_estimates(tmp_path):
    src = write_jsonl(tmp_path / "t.jsonl", [run("r", call("c", "gpt-4o-mini"), call("d", "x", cost_usd=0.5))])
    listed = CliRunner().invoke(main, ["list", src]).stdout
    assert "≈$0.5" in listed
    shown = CliRunner().invoke(main, ["show", src, "r"]).stdout
    assert "≈$0.0003" in shown and "  $0.5000" in shown and "cost ≈$0.5003" in shown


def test_pricing_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("tracetui tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    before = {t.name for t in threading.enumerate()}
    pricer = pricing.Pricer()
    assert pricer.cost("gpt-4o", None, (100, 10, 0, 0, 0), WHEN) == library_cost("gpt-4o", None, 100, 10)
    assert pricing.describe().startswith(f"genai-prices {pricing.data_version()} (bundled data")
    from genai_prices import update_prices

    assert update_prices._shared_updater.thread is None  # genai-prices' updater never started
    assert {t.name for t in threading.enumerate()} == before


def in_place_costs(estimate: bool) -> list[tuple[float | None, int]]:
    """(cost, estimated) of each row of a table of calls read in place, as a format's views price them
    (sqlite_steps.ModelCalls: in SQL, the rates of each model and day): the reported cost, else the estimate."""
    from tracetui.sources.sqlite_steps import CallSql, ModelCalls

    conn = sqlite3.connect(":memory:")
    pricing.register(conn, estimate=estimate)
    conn.execute("CREATE TABLE spans (model TEXT, provider TEXT, cost REAL, tin INTEGER, tout INTEGER, cached INTEGER)")
    conn.executemany(
        "INSERT INTO spans VALUES (?, ?, ?, ?, ?, ?)",
        [
            ("gpt-4o", "openai", None, 1000, 200, 400),
            ("gpt-4o", None, 0.5, 1000, 200, None),
            ("acme-router-7b", None, None, 10, 1, None),
            ("gpt-4o", None, None, None, None, None),
        ],
    )
    columns = ("model", "provider", "tin", "tout", "cached")
    calls = ModelCalls(
        name="test",
        rows="spans s",
        key="s.rowid",
        where="s.tin IS NOT NULL OR s.tout IS NOT NULL",
        reported="s.cost",
        call=CallSql(
            values=tuple((name, f"s.{name}") for name in columns),
            model="model",
            provider="provider",
            tokens=("tin", "tout", "cached", "NULL", "NULL"),
            started_at=f"'{WHEN}'",
        ),
    )
    calls.register(conn)
    cost = f"coalesce(s.cost, {calls.estimate()})"
    return conn.execute(
        f"SELECT {cost}, s.cost IS NULL AND {cost} IS NOT NULL FROM spans s ORDER BY s.rowid"
    ).fetchall()


def test_in_place_views_price_calls_in_sql_as_the_library_does():
    assert in_place_costs(estimate=True) == [
        (library_cost("gpt-4o", "openai", 1000, 200, read=400), 1),
        (0.5, 0),  # the cost the source reported wins
        (None, 0),  # a model the table does not know
        (None, 0),  # no token counts
    ]
    assert in_place_costs(estimate=False) == [(None, 0), (0.5, 0), (None, 0), (None, 0)]


def test_sorting_by_cost_counts_estimated_costs(tmp_path):
    runs = [
        run("cheap", call("c", "gpt-4o-mini")),
        run("reported", call("c", "x"), cost_usd=0.001),
        run("dear", call("c", "claude-opus-4-7", tin=50_000)),
        run("none", step("plain")),
    ]
    src = write_jsonl(tmp_path / "t.jsonl", runs)
    out = CliRunner().invoke(main, ["list", src, "--sort", "cost", "--desc", "--json"]).stdout
    assert [r["id"] for r in json.loads(out)] == ["dear", "reported", "cheap", "none"]


async def test_the_run_list_and_run_view_mark_estimates(tmp_path):
    from builders import opening

    from tracetui.tui.app import TraceApp
    from tracetui.tui.pilot import settle, until
    from tracetui.tui.screens.run import RunScreen

    db = write_store(tmp_path / "t.db", [run("r", call("c", "gpt-4o-mini"), started_at=WHEN)])
    cost = library_cost("gpt-4o-mini", None, 1000, 200)
    app = TraceApp(opening(db))
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        run_list = app.runs_screen.run_list
        line = "".join(segment.text for segment in run_list.render_line(1))
        assert f"≈${cost:.4f}" in line
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunScreen))
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        assert f"cost ≈${cost:.4f}" in str(screen.query_one("#run-header").render())
        assert f"≈${cost:.4f}" in screen.step_tree.row_text(screen.step_tree.nodes["c"], 120).plain


def test_with_no_estimate_no_model_is_called_unpriced(tmp_path):
    src = write_jsonl(tmp_path / "t.jsonl", [run("r", call("c", "gpt-4o-mini"), call("d", "acme-router-7b"))])
    rows = json.loads(CliRunner().invoke(main, ["stats", src, "--by", "model", "--json", "--no-estimate"]).stdout)
    assert [(r["group"], r["cost_usd"], "unpriced_calls" in r) for r in rows] == [
        ("acme-router-7b", None, False),
        ("gpt-4o-mini", None, False),
    ]
    text = CliRunner().invoke(main, ["stats", src, "--by", "model", "--no-estimate"]).stdout
    assert "unpriced" not in text
    assert open_store(src, estimate=False).problems() == []


def test_pricer_of_a_connection_is_the_one_its_views_price_with():
    conn = sqlite3.connect(":memory:")
    pricing.register(conn, estimate=True)
    pricer = pricing.pricer_of(conn)
    assert isinstance(pricer, pricing.Pricer) and pricing.pricer_of(conn) is pricer
    other = sqlite3.connect(":memory:")
    pricing.register(other, estimate=True)
    assert pricing.pricer_of(other) is not pricer
    off = sqlite3.connect(":memory:")
    pricing.register(off, estimate=False)
    assert pricing.pricer_of(off) is None
    assert pricing.pricer_of(sqlite3.connect(":memory:")) is None  # never registered: nothing is priced


def test_an_imports_first_run_is_stored_before_the_table_loads_and_priced_as_the_rest(tmp_path, monkeypatch):
    """The first run reaches a viewer unpriced (loading the table takes ~0.3 s); the finished store is the
    one pricing every run first gives (here: worker processes, which price each block before storing it)."""
    runs = [run(f"r{i}", call("a", "gpt-4o"), call("b", "claude-opus-4-7", cost_usd=0.5)) for i in range(3)]
    src = write_jsonl(tmp_path / "t.jsonl", runs)
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "0")
    at_first_report = []

    def progress(done, total, count):
        if count and not at_first_report:
            conn = sqlite3.connect(tmp_path / "serial.db")
            at_first_report.extend(conn.execute("SELECT run_id, id, cost_usd, cost_estimated FROM steps").fetchall())
            conn.close()

    monkeypatch.setenv("TRACETUI_WORKERS", "1")
    serial = prepare(src, output=str(tmp_path / "serial.db"))
    serial.run_import(progress)
    assert at_first_report == [("r0", "a", None, 0), ("r0", "b", 0.5, 0)]
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    parallel = prepare(src, output=str(tmp_path / "parallel.db"))
    assert parallel.uses_workers
    parallel.run_import()

    def rows(db):
        conn = sqlite3.connect(db)
        try:
            return [conn.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in ("runs", "steps")]
        finally:
            conn.close()

    assert rows(tmp_path / "serial.db") == rows(tmp_path / "parallel.db")
    first = open_store(str(tmp_path / "serial.db")).steps("r0")[0]
    assert first.cost_estimated and first.cost_usd == library_cost("gpt-4o", None, 1000, 200)


def test_unpriced_calls_of_blocks_summed_by_the_tally_are_those_of_the_whole_store():
    """The parallel import and the PostgreSQL writer count each block's unpriced calls and sum them:
    the same rows, in the same order, as one query over every step (NULL and '' providers, numbers)."""
    rnd = random.Random(4)
    values = [None, "", "acme", "Acme", "é", 7, 2.5, "7"]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE steps (model, provider, cost_usd, tokens_in, tokens_out)")
    tally = pricing.UnpricedTally()
    for _ in range(20):
        block = sqlite3.connect(":memory:")
        block.execute("CREATE TABLE steps (model, provider, cost_usd, tokens_in, tokens_out)")
        rows = [
            (rnd.choice(values), rnd.choice(values), rnd.choice([None, 0.1]), rnd.choice([None, 3]), None)
            for _ in range(30)
        ]
        for table in (conn, block):
            table.executemany("INSERT INTO steps VALUES (?, ?, ?, ?, ?)", rows)
        tally.add(pricing.unpriced_calls(block))
    assert tally.rows() == pricing.unpriced_calls(conn) and len(tally.rows()) > 10
