"""tracetui's own schema in PostgreSQL: `import -o postgresql://…` writes it, every command reads it."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.loading import open_store, prepare

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = str(ROOT / "sample_traces" / "export.jsonl")


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def tree(run_) -> list[tuple]:
    return [(s.id, s.parent_id, s.ord, s.depth, s.name, s.status, s.cost_usd, s.cost_estimated) for s in run_.steps]


def test_import_publishes_a_file_and_every_command_reads_it_as_the_sqlite_store_does(pg_url, tmp_path):
    result = invoke("import", SAMPLE, "-o", pg_url)
    assert result.exit_code == 0, result.output
    assert "imported 15 runs" in result.stdout and "#tracetui" in result.stdout
    opening = prepare(pg_url)
    assert opening.format == "tracetui-postgres" and opening.label.endswith("#tracetui.runs")
    store = opening.connect()
    local = open_store(SAMPLE)
    assert [(r.id, r.status, r.total("cost_usd")) for r in store.list_runs(limit=100)] == [
        (r.id, r.status, r.total("cost_usd")) for r in local.list_runs()
    ]
    for run_id in local.run_ids():
        assert tree(store.run_tree(run_id)) == tree(local.run_tree(run_id))
        first = local.first_failed_step(run_id)
        assert (first and first.id) == ((f := store.first_failed_step(run_id)) and f.id)
    step_with_payload = next(s for s in local.steps("run-0001-research", payloads=True) if s.input)
    assert store.get_step("run-0001-research", step_with_payload.id).input == step_with_payload.input
    for by in ("model", "agent", "tool", "day"):  # the server's aggregates: the same numbers as SQLite's
        theirs, ours = [g.as_dict() for g in store.stats(by)], [g.as_dict() for g in local.stats(by)]
        assert [d.keys() for d in theirs] == [d.keys() for d in ours]
        for a, b in zip(theirs, ours, strict=True):
            assert a == pytest.approx(b), by
    store.close()
    for command in (["list"], ["show", "run-0010-research-nested-failure"], ["stats", "--by", "tool"]):
        assert invoke(*command[:1], pg_url, *command[1:]).exit_code == 0


def test_reimporting_a_file_replaces_its_runs_and_never_duplicates(pg_url, tmp_path):
    src = tmp_path / "runs.jsonl"
    write_jsonl(src, [run("a", step("s1")), run("b", step("s1")), run("c")])
    assert invoke("import", str(src), "-o", pg_url).exit_code == 0
    write_jsonl(src, [run("a", step("s1"), step("s2")), run("b", step("s1"))])  # c is gone, a grew
    result = invoke("import", str(src), "-o", pg_url)
    assert result.exit_code == 0 and "replacing 3 runs" in result.stdout
    other = tmp_path / "other.jsonl"
    write_jsonl(other, [run("z", step("only"))])
    assert invoke("import", str(other), "-o", pg_url).exit_code == 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT id FROM tracetui.runs ORDER BY id").fetchall() == [("a",), ("b",), ("z",)]
        steps = conn.execute("SELECT run_id, id FROM tracetui.steps ORDER BY run_id, id").fetchall()
        assert steps == [("a", "s1"), ("a", "s2"), ("b", "s1"), ("z", "only")]
        assert conn.execute("SELECT count(*) FROM tracetui.imports").fetchone() == (2,)


def test_import_into_another_schema_and_choose_it_when_there_are_two(pg_url, tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("a", step("s1"))])
    assert invoke("import", src, "-o", pg_url, "--schema", "team_a").exit_code == 0
    assert invoke("import", src, "-o", pg_url, "--schema", "team_b").exit_code == 0
    result = invoke("list", pg_url)
    assert result.exit_code == 2
    assert "team_a.runs (tracetui-postgres), team_b.runs (tracetui-postgres)" in result.stderr
    assert "--schema" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    chosen = invoke("list", pg_url, "--schema", "team_b", "--json")
    assert chosen.exit_code == 0 and [r["id"] for r in json.loads(chosen.stdout)] == ["a"]


def test_a_big_run_is_read_without_its_payloads_until_a_step_is_opened(pg_url, tmp_path):
    steps = [step(f"s{i}", input=f"prompt {i} " + "x" * 200) for i in range(3000)]
    src = write_jsonl(tmp_path / "big.jsonl", [run("big", *steps)])  # one line longer than detection reads
    assert invoke("import", src, "--format", "tracetui-jsonl", "-o", pg_url).exit_code == 0
    store = prepare(pg_url).connect()
    tree_rows = store.children("big", None, limit=5)
    assert [s.id for s in tree_rows] == ["s0", "s1", "s2", "s3", "s4"] and tree_rows[0].input is None
    assert store.get_step("big", "s2999").input.startswith("prompt 2999 ")
    assert store.count_children("big", None) == 3000
    store.close()


def test_export_from_the_database_round_trips(pg_url, tmp_path):
    assert invoke("import", SAMPLE, "-o", pg_url).exit_code == 0
    out = tmp_path / "back.jsonl"
    result = invoke("export", pg_url, "-o", str(out))
    assert result.exit_code == 0 and "exported 15 runs" in result.stdout
    again, local = open_store(str(out)), open_store(SAMPLE)
    for run_id in local.run_ids():
        assert tree(again.run_tree(run_id)) == tree(local.run_tree(run_id))


def test_a_database_cannot_be_imported_from(pg_url):
    result = invoke("import", pg_url, "-o", "/tmp/never.db")
    assert result.exit_code == 2 and "tracetui export" in result.stderr


def test_payloads_are_compressed_with_lz4_when_the_server_has_it_else_not_at_all(pg_url, tmp_path):
    src = write_jsonl(tmp_path / "runs.jsonl", [run("a", step("s1", input="prompt " * 2000))])
    assert invoke("import", src, "-o", pg_url).exit_code == 0
    with psycopg.connect(pg_url) as conn:
        lz4 = conn.execute(
            "SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'"
        ).fetchone()[0]
        method = conn.execute("SELECT pg_column_compression(input) FROM tracetui.steps").fetchone()[0]
    assert method == ("lz4" if lz4 else None)  # this test's server has no lz4 (most have): never pglz
    store = prepare(pg_url).connect()
    assert store.get_step("a", "s1").input == "prompt " * 2000
    store.close()


@pytest.mark.parametrize("shape", [[], ["--step", "gather-sources"]], ids=["run", "subtree"])
@pytest.mark.parametrize("output", ["text", "json", "markdown"])
def test_show_in_every_format_and_of_a_subtree_is_the_files(pg_url, output, shape):
    assert invoke("import", SAMPLE, "-o", pg_url).exit_code == 0
    run_id = "run-0010-research-nested-failure"
    ours = invoke("show", pg_url, run_id, "--format", output, *shape)
    theirs = invoke("show", SAMPLE, run_id, "--format", output, *shape)
    assert ours.exit_code == 0 and theirs.exit_code == 0, ours.stderr + theirs.stderr
    assert ours.stdout.replace(pg_url.split("?")[0], "") == theirs.stdout


def test_search_in_postgresql_finds_what_it_finds_in_sqlite(pg_url, tmp_path):
    assert invoke("import", SAMPLE, "-o", pg_url).exit_code == 0
    store, local = prepare(pg_url).connect(), open_store(SAMPLE)
    for query in ("TLS handshake", "[bold]", "gpt-4o", "zz"):
        theirs, ours = store.runs_matching(query), local.runs_matching(query)
        assert {k: (h.count, h.step_id) for k, h in theirs.items()} == {
            k: (h.count, h.step_id) for k, h in ours.items()
        }
    assert store.find_in_run("run-0010-research-nested-failure", "tls") == local.find_in_run(
        "run-0010-research-nested-failure", "tls"
    )
    hits = store.runs_matching("tls handshake")
    from tracetui.store import RunFilter

    assert store.run_ids(RunFilter(search="tls handshake", step_hits=frozenset(hits))) == [
        "run-0010-research-nested-failure"
    ]
    result = invoke("list", pg_url, "--grep", "TLS handshake")
    assert result.exit_code == 0 and "deep-research" in result.output
    for query in ("tls", "[bold]", "zz"):  # every matching step, in the same order as from SQLite
        assert [h for hits in store.steps_matching(query, desc=False) for h in hits] == [
            h for hits in local.steps_matching(query, desc=False) for h in hits
        ]
    steps = invoke("list", pg_url, "--grep", "TLS handshake", "--steps")
    assert steps.exit_code == 0 and steps.output.splitlines()[-1] == "2 matching steps in 1 run"
    store.close()


STORAGE = """
    SELECT a.attname, a.attstorage, a.attcompression FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'tracetui' AND c.relname = %s AND a.attname = ANY(%s)
"""


def test_payloads_are_stored_without_pglz_in_tables_the_import_made_and_never_changed_after(pg_url):
    assert invoke("import", SAMPLE, "-o", pg_url).exit_code == 0
    payloads = ["input", "output", "events", "extra"]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        lz4 = conn.execute("SELECT 'lz4' = ANY(enumvals) FROM pg_settings WHERE name = 'default_toast_compression'")
        expected = ("x", "l") if lz4.fetchone()[0] else ("e", "")  # lz4 where the server has it, else uncompressed
        stored = conn.execute(STORAGE, ["steps", payloads]).fetchall()
        assert sorted(stored) == sorted((name, *expected) for name in payloads)
        assert conn.execute(STORAGE, ["steps", ["name"]]).fetchall() == [("name", "x", "")]  # the rest as it was
        # Tables that were there before an import are never altered: a choice made since is kept.
        conn.execute("ALTER TABLE tracetui.steps ALTER COLUMN input SET STORAGE MAIN")
    assert invoke("import", SAMPLE, "-o", pg_url).exit_code == 0
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(STORAGE, ["steps", ["input"]]).fetchone()[1] == "m"


def test_a_big_nested_run_opens_from_its_first_steps_and_answers_as_the_store_file_does(pg_url, tmp_path):
    from tracetui.postgres.store import START_STEPS

    steps = []
    for top in range(40):  # 40 agent steps of 30 steps each, some with steps under them: 1,240 steps in all
        steps.append(step(f"t{top}", input=f"top {top}"))
        for kid in range(30):
            steps.append(step(f"t{top}.{kid}", f"t{top}", input=f"kid {kid}"))
            if kid % 10 == 0:
                failed = top == 35 and kid == 20  # deep inside, far past the first steps
                steps.append(step(f"t{top}.{kid}.x", f"t{top}.{kid}", status="failed" if failed else "completed"))
    src = write_jsonl(tmp_path / "nested.jsonl", [run("big", *steps)])
    assert invoke("import", src, "--format", "tracetui-jsonl", "-o", pg_url).exit_code == 0
    local, opening = open_store(src), prepare(pg_url)
    store = opening.connect()

    def ids(found) -> list[tuple]:
        return [(s.id, s.ord, s.size, s.child_count) for s in found]

    assert ids(store.children("big", None, limit=20)) == ids(local.children("big", None, limit=20))
    assert not store.shared.tree(("big", False)).complete  # only the start was read
    assert store.count_children("big", None) == local.count_children("big", None) == 40
    assert store.failed_step_positions("big") == local.failed_step_positions("big")
    assert store.get_run("big").step_count == len(steps) > START_STEPS
    assert ids(store.children("big", "t2")) == ids(local.children("big", "t2"))  # inside the start
    assert store.count_children("big", "t3.10") == 1
    assert not store.shared.tree(("big", False)).complete
    for parent in ("t39", "t35.20", None):  # past the start: the whole run is read
        assert ids(store.children("big", parent, limit=50, offset=5)) == ids(
            local.children("big", parent, limit=50, offset=5)
        )
        assert store.count_children("big", parent) == local.count_children("big", parent)
    for first in (0, START_STEPS - 10, 1200):
        assert ids(store.steps_from("big", first, limit=30)) == ids(local.steps_from("big", first, limit=30))
    assert store.ancestors("big", "t35.20.x") == local.ancestors("big", "t35.20.x") == ["t35", "t35.20"]
    assert store.first_failed_step("big").id == "t35.20.x"
    assert store.get_step("big", "t39.29").input == "kid 29"
    store.close()
    opening.close()
