"""Costs of Phoenix in PostgreSQL are the costs of the same Phoenix in SQLite, wherever they are shown:
the run list and its order by cost, sessions, stats, a run as JSON. The calls Phoenix did not price are
estimated on both sides (the SQLite reader in SQL, the PostgreSQL one in tracetui), a model the price
table does not know is unpriced (never $0), and --no-estimate shows only what Phoenix reported."""

from __future__ import annotations

import json
import math
import shutil
import sqlite3
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from pg_builders import dbname, run_sql_file, select_only_role

from tracetui.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "agents" / "phoenix"
A1, A2, A3 = (f"000000000000000000000000000000a{n}" for n in (1, 2, 3))
UNKNOWN = "no-such-model-3000"

# Trace a2's model call has no cost in Phoenix (estimated); in "unknown-model", a3's call is of a model
# the price table does not know and Phoenix's cost of it is gone too: a3 and its session have no cost.
VARIANTS = {
    "as-recorded": [],
    "unknown-model": [
        "DELETE FROM span_costs WHERE span_rowid = 9",
        "UPDATE spans SET attributes = {set_model} WHERE id = 9",
    ],
}
_SET_MODEL = {
    "sqlite": f"json_set(attributes, '$.llm.model_name', '{UNKNOWN}')",
    "postgres": f"jsonb_set(attributes::jsonb, '{{llm,model_name}}', '\"{UNKNOWN}\"')",
}

COMMANDS = [
    ("list",),
    ("list", "--json"),
    ("list", "--sort", "cost"),
    ("list", "--sort", "cost", "--desc"),
    ("list", "--sort", "cost", "--json"),
    ("list", "--sort", "cost", "--desc", "--json"),
    ("list", "--sort", "cost", "--desc", "--limit", "1", "--json"),
    ("list", "--grep", "a", "--sort", "cost", "--desc", "--json"),
    ("list", "--grep", "a", "--steps", "--sort", "cost", "--json"),
    ("list", "--by", "session"),
    ("list", "--by", "session", "--json"),
    ("list", "--by", "session", "--sort", "cost", "--json"),
    ("list", "--by", "session", "--sort", "cost", "--desc"),
    ("list", "--by", "session", "--sort", "cost", "--desc", "--json"),
    ("stats",),
    ("stats", "--by", "session", "--json"),
    ("stats", "--by", "model", "--json"),
    ("stats", "--by", "agent", "--json"),
    ("stats", "--by", "day", "--json"),
    ("stats", "--by", "model"),
    ("stats", "--json"),
    ("stats", "--by", "tool", "--json"),
    ("stats", "--by", "status", "--json"),
    ("stats", "--by", "hour", "--json"),
    ("list", "--model", "claude-sonnet-4-20250514", "--sort", "cost", "--json"),
    ("list", "--status", "completed", "--by", "session", "--sort", "cost", "--json"),
    ("show", A1, "--json"),
    ("show", A2, "--json"),
    ("show", A3, "--json"),
    ("compare", A2, A3, "--json"),
]


@pytest.fixture(scope="module")
def sources(pg, tmp_path_factory) -> dict[str, tuple[str, str]]:
    """{variant: (the SQLite file, the PostgreSQL URL)} holding the same Phoenix data."""
    out = {}
    for variant, statements in VARIANTS.items():
        db = shutil.copy(FIXTURES / "phoenix.db", tmp_path_factory.mktemp(variant))
        with sqlite3.connect(db) as conn:
            for sql in statements:
                conn.execute(sql.format(set_model=_SET_MODEL["sqlite"]))
        conn.close()
        url = pg.database()
        run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
        with psycopg.connect(url, autocommit=True) as pconn:
            for sql in statements:
                pconn.execute(sql.format(set_model=_SET_MODEL["postgres"]))
        out[variant] = (str(db), url)
    return out


WHERE_READ = ("file", "source_file", "source_line")
# A step's payloads and annotations differ apart from costs (test_phoenix_pg.py: JSONB orders an object's
# keys its own way; an annotation's time is the server's clock when the fixture was made).
NOT_COSTS = ("input", "output", "metadata", "started_at", "ended_at", "duration_ms", "updated_at")


def _same_floats(value, left_out: tuple[str, ...]):
    """JSON with its numbers compared to 12 digits (a sum's last bits depend on the order it is added
    in), without the keys `left_out`."""
    if isinstance(value, dict):
        return {k: _same_floats(v, left_out) for k, v in value.items() if k not in left_out}
    if isinstance(value, list):
        return [_same_floats(v, left_out) for v in value]
    if isinstance(value, float) and value != 0 and math.isfinite(value):
        return float(f"{value:.12g}")
    return value


def output(source: str, command: tuple[str, ...], options: tuple[str, ...]):
    verb, *rest = command
    result = CliRunner().invoke(main, [verb, source, *rest, *options])
    assert result.exit_code == 0, (command, result.output, result.stderr)
    if "--json" in command:
        left_out = WHERE_READ + (NOT_COSTS if verb in ("show", "compare") else ())
        left_out += ("text",) if "--grep" in command else ()  # (the text around a match in a payload)
        return _same_floats(json.loads(result.stdout), left_out)
    return result.stdout


@pytest.mark.parametrize("options", [(), ("--no-estimate",)], ids=["estimated", "no-estimate"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_costs_in_postgresql_are_the_sqlite_readers(sources, tmp_path, monkeypatch, variant, options, command):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sqlite, url = sources[variant]
    expected = output(sqlite, command, options)
    assert output(url, command, options) == expected
    assert output(url, command, options) == expected  # again, the estimates from tracetui's cache


def costs(source: str, *args: str) -> list[tuple]:
    result = CliRunner().invoke(main, ["list", source, "--json", *args])
    assert result.exit_code == 0, result.stderr
    return [(r.get("id", r.get("session")), r["cost_usd"], r["cost_estimated"]) for r in json.loads(result.stdout)]


def test_the_order_by_cost_holds_the_estimates_and_leaves_unpriced_runs_last(sources, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    _, url = sources["unknown-model"]
    # a1: reported; a2: estimated (more than a3 reported before); a3: a model the table does not know.
    for desc in ((), ("--desc",)):
        listed = costs(url, "--sort", "cost", *desc)
        assert [run_id for run_id, *_ in listed] == ([A1, A2, A3] if desc else [A2, A1, A3])
        assert [(cost is None, estimated) for _, cost, estimated in listed] == (
            [(False, False), (False, True), (True, False)] if desc else [(False, True), (False, False), (True, False)]
        )
    sessions = costs(url, "--by", "session", "--sort", "cost", "--desc")
    assert [(s, c is None, e) for s, c, e in sessions] == [("support-1", False, True), ("support-2", True, False)]
    # --no-estimate: the reported costs only, a2 then has none.
    # (runs without a cost last, in the order's direction by id, as in SQLite)
    assert [run_id for run_id, *_ in costs(url, "--sort", "cost", "--desc", "--no-estimate")] == [A1, A3, A2]
    assert [c for _, c, _ in costs(url, "--sort", "cost", "--desc", "--no-estimate")][1:] == [None, None]


def test_a_role_that_may_only_select_sees_the_estimates_in_every_order_and_session(pg, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    url = pg.database()
    run_sql_file(url, str(FIXTURES / "phoenix_postgres.sql"))
    role = f"reader_{dbname(url)}"
    select_only_role(url, role)
    reader = url.replace("postgresql://postgres@", f"postgresql://{role}@")
    listed = costs(reader, "--sort", "cost", "--desc")
    assert [run_id for run_id, *_ in listed] == [A1, A2, A3] and listed[1][2]
    sessions = costs(reader, "--by", "session", "--sort", "cost")
    assert [(s, e) for s, _, e in sessions] == [("support-2", False), ("support-1", True)]
    for by in ("session", "model", "agent", "day"):
        result = CliRunner().invoke(main, ["stats", reader, "--by", by, "--json"])
        assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("desc", [True, False])
def test_the_viewers_pages_by_cost_are_in_the_sqlite_readers_order(sources, tmp_path, monkeypatch, variant, desc):
    """The viewer reads a database by key: each page after the last row, back from a row, from a
    position, and a run's place in the order; all in the order of the costs shown."""
    from tracetui.loading import open_store, prepare
    from tracetui.store.reader import RunFilter

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sqlite_file, url = sources[variant]
    sqlite = open_store(sqlite_file)
    expected = sqlite.run_ids(sort="cost", desc=desc)
    sessions = sqlite.session_keys(sort="cost", desc=desc)
    rows = {row.key: row for row in sqlite.session_rows(sessions)}
    sqlite.close()
    store = prepare(url).connect()
    flt = RunFilter()
    forward, after = [], None
    while page := store.page(flt, "cost", desc, after, 1):
        forward.append(page[0][0])
        after = page[0][1]
    assert [run.id for run in forward] == expected
    by_id = {run.id: run for run in store.runs_by_ids(expected)}  # (priced page by page)
    assert [(r.total("cost_usd"), r.cost_estimated) for r in forward] == [
        (by_id[r.id].total("cost_usd"), by_id[r.id].cost_estimated) for r in forward
    ]
    backwards = [run.id for run, _ in store.page(flt, "cost", desc, after, 10, backwards=True)]
    assert backwards == expected[-2::-1]
    assert [run.id for run, _ in store.page_at(flt, "cost", desc, 1, 10)] == expected[1:]
    for place, run_id in enumerate(expected):
        key = store.key_of(run_id, "cost", flt)
        assert store.position(flt, "cost", desc, key) == (place, True)
    assert store.session_keys(sort="cost", desc=desc) == sessions
    ours = {row.key: row for row in store.session_rows(sessions)}
    assert [ours[k].cost_usd for k in sessions] == [pytest.approx(rows[k].cost_usd) for k in sessions]
    assert [ours[k].cost_estimated for k in sessions] == [rows[k].cost_estimated for k in sessions]
    store.close()


async def _by_cost_screens(target) -> list[list[str]]:
    """The viewer's run list sorted by cost (`s` to cost), then grouped by session (`b`), then with the
    first session opened under it."""
    from tracetui.tui.app import TraceApp
    from tracetui.tui.pilot import settle, until

    app = TraceApp(target)
    screens = []
    async with app.run_test(size=(200, 12)) as pilot:
        await settle(pilot)
        run_list = app.runs_screen.run_list

        def lines() -> list[str]:
            return [run_list.render_line(y).text for y in range(run_list.size.height)]

        while run_list.sort != "cost":
            await pilot.press("s")
        await until(pilot, lambda: not run_list.busy and run_list.run_at(2) is not None)
        await settle(pilot)
        screens.append(lines())
        await pilot.press("b")
        await until(pilot, lambda: run_list.grouped and not run_list.busy and "▸" in "".join(lines()))
        await settle(pilot)
        screens.append(lines())
        await pilot.press("enter")
        await until(pilot, lambda: "▾" in "".join(lines()) and not run_list.busy)
        await settle(pilot)
        screens.append(lines())
    return screens


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_the_viewer_sorted_by_cost_and_grouped_shows_what_the_sqlite_reader_shows(
    sources, tmp_path, monkeypatch, variant
):
    from tracetui.loading import prepare

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sqlite, url = sources[variant]
    from_db = await _by_cost_screens(prepare(url))
    assert from_db == await _by_cost_screens(prepare(sqlite))
    flat, grouped, opened = from_db
    assert [line.split()[2] for line in flat[1:4]] == [A1, A2, A3]  # a2's estimate above a3's cost
    assert "≈" in flat[2] and "≈" not in flat[1]
    assert "support-1" in grouped[1] and "≈" in grouped[1]  # a1 reported + a2 estimated
    assert "support-2" in grouped[2] and "≈" not in grouped[2]
    # support-1's two runs under it, by cost: a1's reported cost, then a2's estimate
    assert " $0.0053" in opened[2] and "≈$0.0017" in opened[3] and "support-2" in opened[4]


@pytest.mark.parametrize(
    "command", [("list",), ("list", "--sort", "cost"), ("stats", "--by", "model"), ("show", A3)], ids=" ".join
)
def test_a_model_the_price_table_does_not_know_is_told_once_as_the_sqlite_reader_tells_it(
    sources, tmp_path, monkeypatch, command
):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    sqlite, url = sources["unknown-model"]

    def warnings(source: str) -> list[str]:
        verb, *rest = command
        result = CliRunner().invoke(main, [verb, source, *rest])
        assert result.exit_code == 0, result.stderr
        return [line.split(": ", 3)[-1] for line in result.stderr.splitlines() if "warning" in line]

    expected = warnings(sqlite)
    assert len(expected) == 1 and f"'{UNKNOWN}'" in expected[0] and "1 call not priced" in expected[0]
    assert warnings(url) == expected
    assert warnings(url) == expected  # (the second time from tracetui's cache)
