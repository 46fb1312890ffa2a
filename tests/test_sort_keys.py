"""Every sort key the CLI, the run list and the in-place sources use comes from the one table."""

from __future__ import annotations

import sqlite3

import pytest
from builders import opening, run, write_agent_traces, write_store
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.sources import agent_traces
from tracetui.store import SORT_KEYS, STARTED
from tracetui.store.sort_keys import BY_NAME
from tracetui.tui.app import TraceApp
from tracetui.tui.pilot import settle
from tracetui.tui.widgets.run_list import COLUMNS, SORT_CYCLE

NAMES = [key.name for key in SORT_KEYS]


def test_sort_key_names_are_unique():
    assert len(set(NAMES)) == len(NAMES) == len(BY_NAME)


def test_list_offers_the_tables_cli_keys(tmp_path):
    (sort,) = [p for p in main.commands["list"].params if p.name == "sort"]
    assert list(sort.type.choices) == [key.name for key in SORT_KEYS if key.cli]
    assert sort.default == STARTED.name
    db = write_store(tmp_path / "s.db", [run("a", duration_ms=1.0), run("b", duration_ms=2.0)])
    for name in sort.type.choices:
        result = CliRunner().invoke(main, ["list", db, "--sort", name, "--desc", "--json"])
        assert result.exit_code == 0, result.output


def test_the_run_list_sorts_only_by_table_keys():
    assert list(SORT_CYCLE) == [key.name for key in SORT_KEYS if key.cycle]
    assert {column.sort for column in COLUMNS} - {None} <= set(NAMES)


@pytest.mark.parametrize("indexed", [False, True])
def test_the_agent_traces_override_names_a_table_key(tmp_path, indexed):
    db = write_agent_traces(tmp_path / "a.db", [{"id": "t1", "started_at": "2026-01-01T00:00:00Z"}])
    if indexed:
        conn = sqlite3.connect(db)
        conn.execute("CREATE INDEX started ON agent_traces (started_at)")
        conn.commit()
        conn.close()
    conn = sqlite3.connect(db)
    try:
        overrides = agent_traces.views(conn)
    finally:
        conn.close()
    assert overrides and set(overrides) <= set(NAMES)


async def test_s_walks_the_cycle_in_table_order_each_in_its_default_direction(tmp_path):
    app = TraceApp(opening(write_store(tmp_path / "s.db", [run("a"), run("b")])))
    async with app.run_test(size=(160, 30)) as pilot:
        await settle(pilot)
        run_list = app.runs_screen.run_list
        seen = [(run_list.sort, run_list.desc)]
        for _ in SORT_CYCLE:
            await pilot.press("s")
            await settle(pilot)
            seen.append((run_list.sort, run_list.desc))
    cycle = [key for key in SORT_KEYS if key.cycle]
    assert seen[0] == (STARTED.name, True)
    assert seen[1:] == [(key.name, key.default_desc) for key in cycle[1:] + cycle[:1]]
