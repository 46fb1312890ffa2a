"""Issue 9 in the databases whose step trees are built in Python (Phoenix, MLflow, OpenCode: sources/sqlite_steps.py).

Each test writes a real SQLite file: a copy of the format's fixture with odd rows put in by SQL.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import agents
import pytest

from tracetui.loading import open_store, prepare
from tracetui.sources import tracetui_jsonl

# (fixture, run table, its id column, what a row of it is called, rowids of two runs of its own)
RUN_TABLES = [
    (agents.PHOENIX, "traces", "trace_id", "trace", (1, 3)),
    (agents.MLFLOW, "trace_info", "request_id", "trace", (1, 3)),
    (agents.OPENCODE, "session", "id", "session", (1, 2)),
]


def _copy(fixture: Path, tmp_path: Path) -> tuple[str, sqlite3.Connection]:
    path = agents.copied(fixture, tmp_path)
    return path, sqlite3.connect(path)


@pytest.mark.parametrize(
    ("fixture", "table", "column", "what", "rows"), RUN_TABLES, ids=lambda v: getattr(v, "name", "")
)
def test_a_run_without_an_id_is_listed_as_row_n_and_opens(fixture, table, column, what, rows, tmp_path):
    path, conn = _copy(fixture, tmp_path)
    original = open_store(path)
    before = len(original.run_ids())
    first_steps = len(original.steps("000000000000000000000000000000a1")) if fixture is agents.PHOENIX else 0
    if fixture is not agents.OPENCODE:  # (OpenCode's text primary key takes NULL as it is)
        agents.nullable(conn, table, column)
    null_row, empty_row = rows
    conn.execute(f"UPDATE {table} SET {column} = NULL WHERE rowid = ?", (null_row,))
    conn.execute(f"UPDATE {table} SET {column} = '' WHERE rowid = ?", (empty_row,))
    conn.commit()
    conn.close()

    opening = prepare(path)
    assert opening.in_place
    store = opening.connect()
    ids = store.run_ids()
    # (OpenCode's child session, its parent's id gone, is a run of its own)
    assert len(ids) == before + (fixture is agents.OPENCODE)
    assert {f"row-{null_row}", f"row-{empty_row}"} <= set(ids)
    assert [str(p) for p in store.problems() if "has no id" in p.message] == [
        f"line {n}: the {what} has no id: shown as row-{n}" for n in sorted(rows)
    ]
    for n in rows:
        assert store.get_run(f"row-{n}").id == f"row-{n}"
        assert store.run_tree(f"row-{n}").id == f"row-{n}"
    if fixture is agents.PHOENIX:  # its spans name their trace by rowid: the tree is still there
        assert len(store.steps(f"row-{null_row}")) == first_steps > 0
    # import reads the same views: the same runs, under the same names, with the same problems
    out = Path(path).with_suffix(".jsonl")
    with open(out, "wb") as f:
        for run in store.iter_runs():
            f.write(tracetui_jsonl.dumps(run))
    assert sorted(open_store(str(out), use_cache=False).run_ids()) == sorted(ids)
    runs, problems = agents.read_runs(path)
    assert sorted(r.id for r in runs) == sorted(ids)
    assert [p.message for p in problems if "has no id" in p.message] == [
        f"the {what} has no id: shown as row-{n}" for n in sorted(rows)
    ]


def test_a_file_whose_runs_all_have_ids_keeps_its_plain_id_column(tmp_path):
    from tracetui.sources import sqlsql

    path, conn = _copy(agents.PHOENIX, tmp_path)
    assert sqlsql.run_id(conn, "traces", "t", "trace_id", what="trace") == ('t."trace_id"', None, True)


def test_run_ids_that_are_numbers_or_blobs_are_shown_as_text_and_open(tmp_path):
    path, conn = _copy(agents.PHOENIX, tmp_path)
    agents.nullable(conn, "traces", "trace_id")  # (the column's type, VARCHAR, makes a number text)
    conn.execute("UPDATE traces SET trace_id = x'74722d31' WHERE rowid = 1")  # the bytes of 'tr-1'
    conn.execute("UPDATE traces SET trace_id = x'ff00' WHERE rowid = 2")  # not UTF-8, with a NUL
    conn.execute("UPDATE traces SET trace_id = x'' WHERE rowid = 3")  # no id at all
    conn.commit()
    conn.close()
    store = open_store(path)
    assert sorted(store.run_ids()) == ["\\xff\x00", "row-3", "tr-1"]  # (a NUL is data: shown escaped)
    for run_id in store.run_ids():
        assert store.run_tree(run_id).id == run_id
        assert store.steps(run_id)
    assert [str(p) for p in store.problems() if "no id" in p.message] == ["line 3: the trace has no id: shown as row-3"]


# (fixture, table, a text column the steps show, the row's label, its name column, the rowids of two rows)
ODD_TEXT = [
    (agents.PHOENIX, "spans", "name", "span", "span_id", (2, 3)),
    (agents.MLFLOW, "spans", "name", "span", "span_id", (2, 3)),
    (agents.OPENCODE, "session", "title", "session", "id", (2, 1)),  # the child session: a subagent step's name
]


@pytest.mark.parametrize(
    ("fixture", "table", "column", "label", "key", "rows"), ODD_TEXT, ids=lambda v: getattr(v, "name", "")
)
def test_text_that_is_not_utf8_is_shown_with_xnn_and_listed_as_a_problem(
    fixture, table, column, label, key, rows, tmp_path
):
    path, conn = _copy(fixture, tmp_path)
    odd, with_nul = rows
    names = {n: conn.execute(f"SELECT {key} FROM {table} WHERE rowid = ?", (n,)).fetchone()[0] for n in rows}
    conn.execute(f"UPDATE {table} SET {column} = CAST(x'6f6b20ff' AS TEXT) WHERE rowid = ?", (odd,))
    conn.execute(f"UPDATE {table} SET {column} = CAST(x'61006262ff' AS TEXT) WHERE rowid = ?", (with_nul,))
    conn.commit()
    conn.close()

    store = open_store(path)
    assert store.problem_count() == 0  # nothing read yet: looking at every text would be a pass over the file
    [(run_id, step)] = [(run_id, s) for run_id in store.run_ids() for s in store.steps(run_id) if s.name == "ok \\xff"]
    met = f"run '{run_id}': step '{step.id}': name: text that is not UTF-8, shown with \\xNN"
    assert met in [str(p) for p in store.value_problems()]  # met reading the steps, so counted
    assert store.problem_count() == len(store.value_problems())
    # Under `w`: every such row of the file, by its table's own column
    listed = [str(p) for p in store.problems() if "not UTF-8" in p.message]
    for n in rows:
        assert any(
            p.startswith(f"line {n}: ") and f"{label} '{names[n]}': {column}: text that is not UTF-8" in p
            for p in listed
        ), listed
    assert len(listed) == 2

    # `tracetui show` of the run says so on stderr, as for the formats tracetui reads itself
    from click.testing import CliRunner

    from tracetui.cli import main

    result = CliRunner().invoke(main, ["show", path, run_id])
    assert result.exit_code == 0, result.output
    assert f"warning: {path}: {met}" in result.stderr


# Numbers and times the views cannot use: each shown as '-' (or left out) and listed under `w`, line by
# line (the row's rowid in its table), by SQL writes into a copy of the format's fixture.
PHOENIX_A1, PHOENIX_A2 = "000000000000000000000000000000a1", "000000000000000000000000000000a2"
ODD_NUMBERS = {
    agents.PHOENIX: [
        (
            "UPDATE spans SET llm_token_count_prompt = 'n/a' WHERE id = 1",
            f"line 1: run '{PHOENIX_A1}': span '0000000000000002': llm_token_count_prompt 'n/a' is not a number:"
            " shown as -",
        ),
        (
            "UPDATE spans SET llm_token_count_completion = 1e999,"
            " attributes = json_set(attributes, '$.llm.token_count.prompt_details.cache_read', 'lots') WHERE id = 3",
            f"line 3: run '{PHOENIX_A1}': span '0000000000000004': attributes.llm.token_count.prompt_details.cache_read"
            " 'lots' is not a number: shown as -; llm_token_count_completion inf is out of range: shown as -",
        ),
        (
            "UPDATE spans SET llm_token_count_prompt = -9223372036854775808 WHERE id = 5",  # (abs() of it overflows)
            f"line 5: run '{PHOENIX_A2}': span '0000000000000007': llm_token_count_prompt -9223372036854775808 is out"
            " of range: shown as -",
        ),
        (
            "UPDATE traces SET start_time = 'noon' WHERE id = 2",
            f"line 2: run '{PHOENIX_A2}': trace '{PHOENIX_A2}': start_time 'noon' is not a time: shown as -",
        ),
        (
            "UPDATE span_costs SET total_cost = x'01' WHERE span_rowid = 1",
            f"line 1: run '{PHOENIX_A1}': cost of span '0000000000000002': total_cost b'\\x01' is not a number: left out",
        ),
    ],
    agents.MLFLOW: [
        (
            "UPDATE trace_info SET timestamp_ms = 'noon', execution_time_ms = -1e999 WHERE rowid = 1",
            "line 1: run 'tr-b0c21b36a4bd39e89e2122c8633e95af': trace 'tr-b0c21b36a4bd39e89e2122c8633e95af':"
            " timestamp_ms 'noon' is not a time: shown as -; execution_time_ms -inf is out of range: shown as -",
        ),
        (
            # MLflow's attribute values are JSON text inside the span's JSON (printf: kept a string)
            "UPDATE spans SET content = json_set(content, '$.attributes.\"mlflow.chat.tokenUsage\"', printf('%s',"
            " json_set(json_extract(content, '$.attributes.\"mlflow.chat.tokenUsage\"'), '$.input_tokens', 'n/a')))"
            " WHERE rowid = 1",
            "line 1: run 'tr-254c998c77da428bcefdf6d31d0fc92a': span '2b15cc2da59f2eb6':"
            " content.attributes.mlflow.chat.tokenUsage.input_tokens 'n/a' is not a number: shown as -",
        ),
    ],
    agents.OPENCODE: [
        (
            "UPDATE session SET time_created = 'noon', tokens_input = 'n/a' WHERE rowid = 1",
            "line 1: run 'ses_fix_parent': session 'ses_fix_parent': time_created 'noon' is not a time: shown as -;"
            " tokens_input 'n/a' is not a number: shown as -",
        ),
        (
            "UPDATE part SET data = json_set(data, '$.tokens.input', json('true'), '$.cost', 'free') WHERE rowid = 6",
            "line 6: run 'ses_fix_parent': part 'prt_p0008': data.tokens.input True is not a number: shown as -;"
            " data.cost 'free' is not a number: left out",
        ),
    ],
}


@pytest.mark.parametrize("fixture", list(ODD_NUMBERS), ids=lambda p: p.name)
def test_numbers_and_times_that_cannot_be_read_show_as_dashes_and_are_listed(fixture, tmp_path):
    path, conn = _copy(fixture, tmp_path)
    before = open_store(path)
    runs = {run.id: run for run in before.list_runs()}
    assert not [p for p in before.problems() if "is not a" in p.message or "out of range" in p.message]
    for sql, _ in ODD_NUMBERS[fixture]:
        conn.execute(sql)
    conn.commit()
    conn.close()

    store = open_store(path)
    assert sorted(store.run_ids()) == sorted(runs)  # every run still there
    listed = [str(p) for p in store.problems()]
    for _, message in ODD_NUMBERS[fixture]:
        assert message in listed
    assert len([p for p in listed if "is not a" in p or "out of range" in p]) == len(ODD_NUMBERS[fixture])
    for run_id in runs:  # every tree still builds
        assert store.run_tree(run_id).id == run_id


def test_an_odd_number_is_shown_as_a_dash_where_it_was_read(tmp_path):
    path, conn = _copy(agents.PHOENIX, tmp_path)
    for sql, _ in ODD_NUMBERS[agents.PHOENIX]:
        conn.execute(sql)
    conn.commit()
    conn.close()
    store = open_store(path)
    assert store.get_run(PHOENIX_A2).started_at is None
    steps = {s.id: s for s in store.steps(PHOENIX_A1)}
    assert steps["0000000000000002"].tokens_in is None and steps["0000000000000002"].tokens_out == 90
    assert steps["0000000000000004"].tokens_out is None and steps["0000000000000004"].tokens_cache_read is None
    assert steps["0000000000000002"].cost_estimated  # Phoenix's cost unreadable: priced by tracetui
    # Met with the run's tree (as the viewer's count and `show` say them), and said once under `w`
    met = [str(p) for p in store.value_problems()]
    assert (
        f"run '{PHOENIX_A1}': span '0000000000000002': llm_token_count_prompt 'n/a' is not a number: shown as -" in met
    )
    assert not any(PHOENIX_A2 in p for p in met)  # a2's tree was not read
    listed = [str(p) for p in store.problems()]
    assert len([p for p in listed if "llm_token_count_prompt 'n/a'" in p]) == 1
    store.steps(PHOENIX_A2)
    assert [str(p) for p in store.problems()] == listed

    from click.testing import CliRunner

    from tracetui.cli import main

    result = CliRunner().invoke(main, ["show", path, PHOENIX_A1])
    assert result.exit_code == 0, result.output
    assert f"warning: {path}: run '{PHOENIX_A1}': span '0000000000000004': attributes.llm" in result.stderr


def test_odd_values_of_a_table_without_rowid_are_listed_without_a_line(tmp_path):
    path, conn = _copy(agents.PHOENIX, tmp_path)
    sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'span_annotations'").fetchone()[0]
    conn.execute(sql.replace('"span_annotations"', "loose") + " WITHOUT ROWID")
    conn.execute("INSERT INTO loose SELECT * FROM span_annotations")
    conn.execute("DROP TABLE span_annotations")
    conn.execute("ALTER TABLE loose RENAME TO span_annotations")
    conn.execute("UPDATE span_annotations SET score = 'high'")
    conn.commit()
    conn.close()
    store = open_store(path)
    assert [str(p) for p in store.problems()] == [
        f"run '{PHOENIX_A1}': span annotation 'correctness': score 'high' is not a number: shown as -"
    ]


@pytest.mark.parametrize("fixture", list(ODD_NUMBERS), ids=lambda p: p.name)
def test_an_import_says_which_numbers_and_times_it_left_out(fixture, tmp_path):
    path, conn = _copy(fixture, tmp_path)
    for sql, _ in ODD_NUMBERS[fixture]:
        conn.execute(sql)
    conn.commit()
    conn.close()
    runs, problems = agents.read_runs(path)  # as `tracetui import` reads them
    said = [f"line {p.line}: {p.message}" for p in problems]
    for _, message in ODD_NUMBERS[fixture]:
        assert message in said


@pytest.mark.parametrize("by_key", [True, False], ids=["run-by-run", "one-pass"])
@pytest.mark.parametrize("fixture", list(ODD_NUMBERS), ids=lambda p: p.name)
def test_list_warns_about_the_odd_numbers_of_the_runs_it_lists(fixture, by_key, tmp_path, monkeypatch):
    import orjson
    from click.testing import CliRunner

    from tracetui.cli import main
    from tracetui.store import reader

    if not by_key:
        monkeypatch.setattr(reader, "_BY_KEY", 0)  # as for a list of more runs than are looked up one by one

    path, conn = _copy(fixture, tmp_path)
    for sql, _ in ODD_NUMBERS[fixture]:
        conn.execute(sql)
    conn.commit()
    conn.close()
    for args in ([], ["--json"], ["--by", "session"], ["--by", "session", "--json"]):
        result = CliRunner().invoke(main, ["list", path, *args])
        assert result.exit_code == 0, result.output
        said = [line.removeprefix(f"tracetui: warning: {path}: ") for line in result.stderr.splitlines()]
        assert sorted(said) == sorted(message for _, message in ODD_NUMBERS[fixture]), args
        if args == ["--json"]:
            assert len(orjson.loads(result.stdout)) == len(open_store(path).run_ids())  # stdout: the JSON alone


def test_a_run_list_meets_the_odd_numbers_of_its_runs_alone_and_w_says_each_once(tmp_path):
    path, conn = _copy(agents.PHOENIX, tmp_path)
    for sql, _ in ODD_NUMBERS[agents.PHOENIX]:
        conn.execute(sql)
    conn.commit()
    conn.close()
    store = open_store(path)
    store.numbers_met([PHOENIX_A2])
    met = [str(p) for p in store.value_problems()]
    a2 = [message for _, message in ODD_NUMBERS[agents.PHOENIX] if f"run '{PHOENIX_A2}'" in message]
    assert sorted(met) == sorted(a2) and len(a2) == 2
    store.steps(PHOENIX_A2)  # its tree says them too: not again
    assert sorted(str(p) for p in store.value_problems()) == sorted(a2)
    listed = [str(p) for p in store.problems()]
    for _, message in ODD_NUMBERS[agents.PHOENIX]:
        assert listed.count(message) == 1, message


MLFLOW_A3 = "tr-2818d3c1d085d289b29c8c020a01df40"


def test_mlflow_usage_and_cost_of_older_versions_are_read_where_the_columns_are_empty_and_odd_ones_listed(tmp_path):
    from click.testing import CliRunner

    from tracetui.cli import main

    path, conn = _copy(agents.MLFLOW, tmp_path)
    usage = '{"input_tokens": "n/a", "output_tokens": 7, "total_tokens": 7}'
    conn.execute(
        "INSERT INTO trace_request_metadata (key, value, request_id) VALUES ('mlflow.trace.tokenUsage', ?, ?),"
        " ('mlflow.trace.cost', '{\"total_cost\": 0.25}', ?)",
        (usage, MLFLOW_A3, MLFLOW_A3),
    )
    line = conn.execute("SELECT rowid FROM trace_request_metadata WHERE key = 'mlflow.trace.tokenUsage'").fetchone()[0]
    conn.commit()
    conn.close()
    store = open_store(path)
    run = store.get_run(MLFLOW_A3)
    assert (run.tokens_in, run.tokens_out, run.cost_usd) == (None, 7, 0.25)
    message = (
        f"line {line}: run '{MLFLOW_A3}': metadata 'mlflow.trace.tokenUsage': value.input_tokens 'n/a' is not a"
        " number: shown as -"
    )
    assert [str(p) for p in store.problems() if "is not a" in p.message] == [message]
    result = CliRunner().invoke(main, ["list", path])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [f"tracetui: warning: {path}: {message}"]
    _, problems = agents.read_runs(path)
    assert message in [f"line {p.line}: {p.message}" for p in problems]


def test_an_opencode_subagents_odd_values_are_met_with_its_parents_tree_and_listed_once_under_it(tmp_path):
    from click.testing import CliRunner

    from tracetui.cli import main

    path, conn = _copy(agents.OPENCODE, tmp_path)
    conn.execute("UPDATE part SET data = json_set(data, '$.tokens.input', 'lots') WHERE id = 'prt_c0006'")
    conn.execute("UPDATE session SET tokens_output = 'n/a' WHERE id = 'ses_fix_child'")
    line = conn.execute("SELECT rowid FROM part WHERE id = 'prt_c0006'").fetchone()[0]
    child = conn.execute("SELECT rowid FROM session WHERE id = 'ses_fix_child'").fetchone()[0]
    conn.commit()
    conn.close()
    said = [
        "run 'ses_fix_parent': part 'prt_c0006': data.tokens.input 'lots' is not a number: shown as -",
        "run 'ses_fix_parent': session 'ses_fix_child': tokens_output 'n/a' is not a number: shown as -",
    ]
    store = open_store(path)
    assert store.run_ids() == ["ses_fix_parent"]
    store.steps("ses_fix_parent")  # the subagent's steps are in its parent's tree: so are its odd values
    assert sorted(str(p) for p in store.value_problems()) == sorted(said)
    listed = [str(p) for p in store.problems() if "is not a number" in p.message]
    assert sorted(listed) == sorted([f"line {line}: {said[0]}", f"line {child}: {said[1]}"])

    shown = CliRunner().invoke(main, ["show", path, "ses_fix_parent"])
    assert shown.exit_code == 0, shown.output
    assert sorted(shown.stderr.splitlines()) == sorted(f"tracetui: warning: {path}: {s}" for s in said)
    listing = CliRunner().invoke(main, ["list", path])
    assert sorted(listing.stderr.splitlines()) == sorted(f"tracetui: warning: {path}: {s}" for s in listed)


def test_a_json_key_spelled_with_escapes_is_that_key_in_the_run_list_the_tree_and_under_w(tmp_path):
    path, conn = _copy(agents.PHOENIX, tmp_path)
    before = open_store(path)
    a1, a2 = before.get_run(PHOENIX_A1), before.get_run(PHOENIX_A2)
    # "\u0063ache_read" is "cache_read" (SQLite's JSON paths do not match it as it is written)
    conn.execute(
        "UPDATE spans SET attributes = replace(attributes, '\"cache_read\"', '\"\\u0063ache_read\"') WHERE id = 1"
    )
    conn.execute(
        "UPDATE spans SET attributes = replace(replace(attributes, '\"cache_read\"', '\"cach\\u0065_read\"'),"
        ' \'"cach\\u0065_read":600\', \'"cach\\u0065_read":"lots"\') WHERE id = 5'
    )
    assert conn.execute("SELECT count(*) FROM spans WHERE instr(attributes, 'cach\\u0065_read\":\"lots')").fetchone()[0]
    conn.commit()
    conn.close()
    store = open_store(path)
    assert store.get_run(PHOENIX_A1).total("tokens_cache_read") == a1.total("tokens_cache_read") == 800 + 1100
    assert a2.total("tokens_cache_read") == 600 and store.get_run(PHOENIX_A2).total("tokens_cache_read") is None
    steps = {s.id: s for s in store.steps(PHOENIX_A1)}
    assert steps["0000000000000002"].tokens_cache_read == 800
    listed = [str(p) for p in store.problems() if "is not a" in p.message]
    assert listed == [
        f"line 5: run '{PHOENIX_A2}': span '0000000000000007': attributes.llm.token_count.prompt_details.cache_read"
        " 'lots' is not a number: shown as -"
    ]
    fresh = open_store(path)
    fresh.numbers_met([PHOENIX_A1, PHOENIX_A2])  # (what list warns about: the same, by SQL)
    assert [str(p) for p in fresh.value_problems()] == listed


def test_text_after_a_nul_character_is_shown_and_found_in_a_tree_built_in_python(tmp_path):
    """SQLite's JSON gives a string only up to a NUL: the steps view would cut a span's name and
    payload there (and search would never see the rest). They come with each NUL as \\x00, as shown."""
    path, conn = _copy(agents.PHOENIX, tmp_path)
    conn.execute("UPDATE spans SET name = 'get' || char(0) || 'weather' WHERE id = 2")
    conn.execute(
        "UPDATE spans SET attributes = json_set(attributes, '$.output.value', json('\"18C\\u0000 and sunny\"'))"
        " WHERE id = 2"
    )
    conn.commit()
    conn.close()
    store = open_store(path)
    steps = {s.id: s for s in store.steps(PHOENIX_A1, payloads=True)}
    assert steps["0000000000000003"].name == "get\\x00weather"
    assert steps["0000000000000003"].output == "18C\\x00 and sunny"
    hits = store.runs_matching("AND SUNNY")
    assert list(hits) == [PHOENIX_A1] and hits[PHOENIX_A1].step_id == "0000000000000003"
    assert [hit[0] for hit in store.find_in_run(PHOENIX_A1, "x00weath")] == ["0000000000000003"]
    # import reads the steps themselves: the NUL kept as it came
    runs, _ = agents.read_runs(path)
    [imported] = [s for r in runs if r.id == PHOENIX_A1 for s in r.steps if s.id == "0000000000000003"]
    assert imported.name == "get\x00weather" and imported.output == "18C\x00 and sunny"
