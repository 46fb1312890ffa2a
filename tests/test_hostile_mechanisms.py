"""The mechanisms behind issue 9's promise, each on its own (the corpus in tests/hostile/ runs the CLI on files).

- a value SQLite refuses is made storable by the store writer and reported with its run's line;
- a record a format's code did not foresee is skipped and reported, never the file (contract.one_record);
- a sniff that raises does not stop detection;
- a file read in place has every value made its column's type, listed under w;
- JSON output escapes C0, DEL and C1 but keeps bidi and zero-width characters.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui import sources
from tracetui.cli import main
from tracetui.loading import open_store, prepare
from tracetui.model import Run, finalize_run
from tracetui.sources import export
from tracetui.store import StoreWriter


def test_the_writer_stores_what_sqlite_refuses_and_reports_it_with_the_line(tmp_path):
    reported = []
    writer = StoreWriter(str(tmp_path / "s.db"), report=reported.append)
    odd = run("odd\udfff", step("s", tokens_in=2**64), agent={"not": "text"}, source_line=7)
    writer.add(finalize_run(odd))
    writer.add(finalize_run(run("fine", step("s", tokens_in=3))))
    writer.finish()
    store = open_store(str(tmp_path / "s.db"))
    assert sorted(store.run_ids()) == ["fine", "odd\\udfff"]
    assert store.get_run("odd\\udfff").agent == '{"not":"text"}'
    assert store.steps("odd\\udfff")[0].tokens_in == float(2**64)
    said = {line: message for line, message in ((p.line, p.message) for p in reported) if "step 's'" not in message}
    assert said[7].startswith("run 'odd\\udfff': id: text with unpaired surrogates: each kept as the text \\udXXX;")
    assert "; agent: a dict where text or a number belongs: stored as its JSON text" in said[7]
    [step_said] = [p for p in reported if "step 's'" in p.message]
    assert step_said.line == 7
    assert "tokens_in, sub_tokens_in: the number 18446744073709551616 is beyond SQLite's integers" in step_said.message


def test_a_record_the_format_did_not_foresee_is_skipped_and_reported(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("a"), run("b"), run("c")])
    real = sources.by_name("tracetui-jsonl").run_from_line

    def fragile(number, record, report):
        if record["run"]["id"] == "b":
            raise KeyError("a case nobody thought of")
        return real(number, record, report)

    monkeypatch.setattr(sources.by_name("tracetui-jsonl"), "run_from_line", fragile)
    opening = prepare(path, use_cache=False)
    opening.run_import()
    assert sorted(opening.connect().run_ids()) == ["a", "c"]
    assert [str(p) for p in opening.problems] == [
        "line 2: skipped the line: it could not be read (KeyError: 'a case nobody thought of')"
    ]


def test_a_sniff_that_raises_does_not_stop_detection(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("a")])

    def broken(head):
        raise TypeError("unhashable type: 'list'")

    monkeypatch.setattr(export, "sniff", broken)
    source, _ = sources.detect(path)
    assert source.NAME == "tracetui-jsonl"


def test_a_file_read_in_place_shows_odd_values_as_dashes_and_lists_them(tmp_path):
    path = tmp_path / "at.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE agent_traces (id TEXT PRIMARY KEY, prompt_tokens INTEGER, duration_ms INTEGER)")
    conn.executemany("INSERT INTO agent_traces VALUES (?, ?, ?)", [("a", 3, 5), ("b", "n/a", b"\x01")])
    conn.commit()
    conn.close()
    store = open_store(str(path))
    assert store.problem_count() == 0  # nothing read yet: counting the odd values would scan the file
    runs = {r.id: r for r in store.list_runs()}
    assert runs["a"].tokens_in == 3 and runs["b"].tokens_in is None and runs["b"].duration_ms is None
    assert [str(p) for p in store.value_problems()] == [
        "line 2: run 'b': duration_ms: b'\\x01' is not a number: shown as -; tokens_in: 'n/a' is not a number:"
        " shown as -; total_tokens_in: 'n/a' is not a number: shown as -"
    ]
    # The list under w: the source's own scan of its table, by raw column.
    assert [str(p) for p in store.problems()] == [
        "line 2: run 'b': duration_ms X'01' is not a number: shown as -",
        "line 2: run 'b': prompt_tokens 'n/a' is not a number: shown as -",
    ]
    assert store.problem_count() == 2


def test_names_that_are_not_utf8_filter_by_what_is_shown(tmp_path):
    from tracetui.model import Step
    from tracetui.store.reader import RunFilter

    path = tmp_path / "store.db"
    writer = StoreWriter(str(path))
    for n in (1, 2):
        r = Run(id=f"r{n}", agent=f"agent{n}", started_at=f"2026-01-01T00:00:0{n}.000Z")
        r.steps = [Step(id="m", kind="llm", model=f"model{n}"), Step(id="t", kind="tool", name=f"tool{n}")]
        writer.add(finalize_run(r))
    writer.finish()
    conn = sqlite3.connect(path)  # r1's agent, model and tool name end in the byte FF, which is not UTF-8
    conn.execute("UPDATE runs SET agent = CAST(CAST(agent AS BLOB) || x'ff' AS TEXT) WHERE id = 'r1'")
    conn.execute("UPDATE steps SET model = CAST(CAST(model AS BLOB) || x'ff' AS TEXT) WHERE run_id = 'r1' AND id = 'm'")
    conn.execute("UPDATE steps SET name = CAST(CAST(name AS BLOB) || x'ff' AS TEXT) WHERE run_id = 'r1' AND id = 't'")
    conn.commit()
    conn.close()
    store = open_store(str(path))
    assert store.agents() == ["agent1\\xff", "agent2"]
    assert [r.id for r in store.list_runs(RunFilter(agent="agent1\\xff"))] == ["r1"]
    assert store.count_runs(RunFilter(agent=["agent1\\xff", "agent2"])) == 2
    assert store.run_ids(RunFilter(model="model1\\xff")) == ["r1"]
    assert store.run_ids(RunFilter(tool="tool1\\xff")) == ["r1"]
    assert store.run_ids(RunFilter(tool="tool2")) == ["r2"]
    assert [g.runs for g in store.stats("agent", RunFilter(agent="agent1\\xff"))] == [1]


def test_an_imported_store_is_read_without_checks(tmp_path):
    opening = prepare(write_jsonl(tmp_path / "r.jsonl", [run("a", step("s"))]))
    opening.run_import()
    assert opening.connect().trusted
    in_place = prepare(str(tmp_path / "r.jsonl"))
    assert not in_place.in_place


def test_json_output_escapes_controls_but_keeps_bidi_and_zero_width(tmp_path):
    name = "id\x1b[2J\x9b\x85\x7f\u202egnp\u200b"
    path = write_jsonl(tmp_path / "r.jsonl", [run(name, step("s", name=name))])
    for args in (["list", path, "--json"], ["show", path, name, "--json"], ["export", path, "-o", "-"]):
        out = CliRunner().invoke(main, args).stdout_bytes
        assert b"\x1b" not in out and b"\xc2\x9b" not in out and b"\xc2\x85" not in out and b"\x7f" not in out
        assert b"\\u001b[2J\\u009b\\u0085\\u007f" in out
        assert "\u202egnp\u200b".encode() in out
        value = json.loads(out.splitlines()[0] if args[0] == "export" else out)
        shown = {"list": lambda v: v[0]["id"], "show": lambda v: v["id"], "export": lambda v: v["run"]["id"]}
        assert shown[args[0]](value) == name


def test_a_long_first_line_is_read_to_its_end_before_deciding(tmp_path):
    big = Run(id="big", input="x" * 200_000)
    path = write_jsonl(tmp_path / "export.jsonl", [big, run("second"), run("third")])
    head = sources.read_head(path)
    assert not head.json_document and head.first_record["run"]["id"] == "big"
    assert sorted(open_store(path).run_ids()) == ["big", "second", "third"]


def test_an_export_of_one_run_longer_than_the_head_imports_again(tmp_path):
    # One line and nothing after it: read_head takes it for one JSON document; it is still an export.
    path = write_jsonl(tmp_path / "export.jsonl", [Run(id="big", input="x" * 200_000)])
    assert sources.read_head(path).json_document
    assert sources.detect(path)[0].NAME == "tracetui-jsonl"
    store = open_store(path, use_cache=False)
    assert store.run_ids() == ["big"] and store.problems() == []


@pytest.mark.parametrize(
    "name", ["tokens-beyond-64-bits.jsonl", "time-before-year-1.jsonl", "wrong-types-tracetui-jsonl.jsonl"]
)
def test_worker_processes_keep_and_report_what_a_serial_import_does(name, monkeypatch):
    path = str(Path(__file__).parent / "hostile" / "files" / name)

    def imported() -> tuple[list[str], list[str]]:
        opening = prepare(path, use_cache=False)
        opening.run_import()
        return sorted(opening.connect().run_ids()), sorted(str(p) for p in opening.problems)

    serial = imported()
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("TRACETUI_PARALLEL_BLOCK_BYTES", "64")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    opening = prepare(path, use_cache=False)
    assert opening.uses_workers
    assert imported() == serial


@pytest.mark.parametrize("fixture_name", ["ATIF", "GEMINI_JSON"])
def test_a_whole_json_document_with_a_lone_surrogate_is_read_with_a_repair(fixture_name, tmp_path):
    import agents

    original = getattr(agents, fixture_name)
    text = original.read_text(encoding="utf-8")
    path = tmp_path / original.name
    # A lone surrogate escape, as Python's json module writes one: orjson refuses the document, and
    # ijson, which the damaged-document path reads with, raised UnicodeDecodeError (a traceback).
    path.write_text(text.replace("{", '{"x\\udc00": 1, ', 1), encoding="utf-8")
    before = {r.id for r in open_store(str(original), use_cache=False).iter_runs()}
    store = open_store(str(path), use_cache=False)
    assert {r.id for r in store.iter_runs()} == before
    assert any("read with a repair: unpaired surrogate" in str(p) for p in store.problems())


def test_a_run_pricing_cannot_handle_loads_unpriced_and_is_reported(tmp_path, monkeypatch):
    from tracetui import pricing

    real = pricing.apply

    def apply(run, pricer):
        if run.id == "b":
            raise ArithmeticError("a price nobody foresaw")
        return real(run, pricer)

    monkeypatch.setenv("TRACETUI_WORKERS", "1")
    monkeypatch.setattr(pricing, "apply", apply)
    path = write_jsonl(tmp_path / "r.jsonl", [run("a", step("s")), run("b", step("s")), run("c", step("s"))])
    store = open_store(path, use_cache=False)
    assert sorted(store.run_ids()) == ["a", "b", "c"]
    assert [str(p) for p in store.problems()] == [
        "line 2: run 'b': its model calls could not be priced (ArithmeticError: a price nobody foresaw)"
    ]


def test_a_backslash_in_a_value_reads_as_one_backslash_in_every_problem_message(tmp_path):
    from tracetui import jsonsafe

    assert jsonsafe.quoted("a\\b\udcff\x1b") == "'a\\b\\xff\\x1b'"  # shown once: as the viewer shows text
    assert jsonsafe.quoted(5) == "5" and jsonsafe.short("C:\\dir") == "'C:\\dir'"
    # a file read in place: the odd values met, and the source's own list under w
    path = tmp_path / "at.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE agent_traces (id TEXT PRIMARY KEY, prompt_tokens INTEGER)")
    conn.execute("INSERT INTO agent_traces VALUES (?, ?)", ("C:\\runs\\1", "n/a\\x"))
    conn.commit()
    conn.close()
    result = CliRunner().invoke(main, ["list", str(path)])
    assert result.exit_code == 0
    assert "run 'C:\\runs\\1': tokens_in: 'n/a\\x' is not a number" in result.stderr
    assert "\\\\" not in result.stderr
    store = open_store(str(path))
    assert [str(p) for p in store.problems()] == [
        "line 1: run 'C:\\runs\\1': prompt_tokens 'n/a\\x' is not a number: shown as -"
    ]
    # an import: the writer's and the reader's words
    jsonl = write_jsonl(tmp_path / "r.jsonl", [run("C:\\runs\\2", step("s\\1", parent="no\\such"))])
    opening = prepare(jsonl, use_cache=False)
    opening.run_import()
    [said] = [str(p) for p in opening.problems]
    assert "run 'C:\\runs\\2': step 's\\1' names parent 'no\\such'" in said and "\\\\" not in said


def test_an_id_with_a_control_character_is_found_by_what_is_shown(tmp_path):
    import agents

    from tracetui.store.reader import RunFilter

    odd = "run\x1b1"
    jsonl = write_jsonl(tmp_path / "r.jsonl", [run(odd, step("s")), run("run2")])
    table = tmp_path / "at.db"
    conn = sqlite3.connect(table)
    conn.execute("CREATE TABLE agent_traces (id TEXT PRIMARY KEY, prompt_tokens INTEGER)")
    conn.executemany("INSERT INTO agent_traces VALUES (?, 1)", [(odd,), ("run2",)])
    conn.commit()
    phoenix = agents.copied(agents.PHOENIX, tmp_path / "phoenix")
    conn = sqlite3.connect(phoenix)  # one trace id with ESC, one with a byte that is not UTF-8
    conn.execute("UPDATE traces SET trace_id = ? WHERE id = 1", (odd,))
    conn.execute("UPDATE traces SET trace_id = CAST(x'72756eff' AS TEXT) WHERE id = 2")
    conn.commit()
    conn.close()
    for path in (jsonl, str(table), phoenix):
        shown = "run\\x1b1"  # as every list shows it, and as a user types it
        result = CliRunner().invoke(main, ["show", path, shown])
        assert result.exit_code == 0, (path, result.output)
        assert result.stdout.startswith("✓ completed  run run\\x1b1")
        result = CliRunner().invoke(main, ["export", path, "--run", shown, "-o", "-"])
        assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[0])["run"]["id"] == odd
        store = open_store(path)
        assert [r.id for r in store.list_runs(RunFilter(ids=[shown]))] == [odd]
    store = open_store(phoenix)  # the id that is not UTF-8, by what is shown of it
    assert [r.id for r in store.list_runs(RunFilter(ids=["run\\xff"]))] == ["run\\xff"]
    assert store.get_run("run\\xff").id == "run\\xff" and store.steps("run\\xff")


def test_the_writer_names_bytes_that_are_not_utf8_as_it_shows_them(tmp_path):
    reported = []
    writer = StoreWriter(str(tmp_path / "s.db"), report=reported.append)
    writer.add(finalize_run(run("r", step("s", name=b"ok \xff".decode("utf-8", "surrogateescape")))))
    writer.finish()
    assert [p.message for p in reported] == ["run 'r', step 's': name: text that is not UTF-8, shown with \\xNN"]
    assert open_store(str(tmp_path / "s.db")).steps("r")[0].name == "ok \\xff"


def test_a_negative_count_cost_or_duration_is_left_out_and_reported_by_line_whatever_the_format():
    # finalized(): every importer's run passes through it, whatever format it was read from
    from tracetui.model import Run, Step, finalized

    run = Run("r", tokens_in=-1, source_line=4)
    run.steps = [Step("s", tokens_in=7, tokens_out=-2, cost_usd=-0.5, duration_ms=-3.0), Step("t", tokens_in=0)]
    problems: list = []
    assert finalized(run, problems.append)
    assert [str(p) for p in problems] == [
        "line 4: run 'r': tokens_in -1 is negative: shown as -",
        "line 4: run 'r', step 's': tokens_out -2 is negative: shown as -; cost_usd -0.5 is negative: left out;"
        " duration_ms -3.0 is negative: shown as -",
    ]
    step = run.steps[0]
    assert (run.tokens_in, step.tokens_in, step.tokens_out, step.cost_usd, step.duration_ms) == (
        None,
        7,
        None,
        None,
        None,
    )
    assert run.total("tokens_in") == 7 and run.steps[1].tokens_in == 0


def test_a_negative_number_in_a_file_tracetui_did_not_write_is_shown_as_a_dash():
    # schema.typed: the rows of a file read in place (agent_traces, an edited store) and tracetui's JSON Lines
    from tracetui.store.schema import typed

    values = {"tokens_in": -3, "total_cost_usd": -1.5, "sub_tokens_out": "-4", "seq": -1, "duration_ms": 2.0}
    assert typed(values) == [
        "tokens_in: -3 is negative: shown as -",
        "total_cost_usd: -1.5 is negative: shown as -",
        "sub_tokens_out: '-4' is negative: shown as -",
    ]
    assert values == {"tokens_in": None, "total_cost_usd": None, "sub_tokens_out": None, "seq": -1, "duration_ms": 2.0}


def test_a_negative_count_in_agent_traces_read_in_place_is_shown_as_a_dash_and_listed(tmp_path):
    from hostile import make_files

    from tracetui.loading import open_store

    path = tmp_path / "agent_traces.db"
    bad = make_files.agent_row(9, id="bad", prompt_tokens=-5, duration_ms=-2)
    make_files.agent_traces(path, [make_files.agent_row(1), bad])
    store = open_store(str(path))
    run = store.get_run("bad")
    assert run.tokens_in is None and run.duration_ms is None
    listed = [str(p) for p in store.problems()]
    assert "line 2: run 'bad': duration_ms -2 is negative: shown as -" in listed
    assert "line 2: run 'bad': prompt_tokens -5 is negative: shown as -" in listed
