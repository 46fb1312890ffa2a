"""Search: a step's text found in one run and across runs, through the trigram index or a scan."""

from __future__ import annotations

import os
import sqlite3

import orjson
import pytest
from builders import run, step, write_agent_traces, write_jsonl, write_store
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.loading import prepare
from tracetui.store import RunFilter, Store, search

HOSTILE = "[bold red]x[/] [@click=app.quit]q[/] \x1b[31mred\x1b]0;title\x07"


def runs_with_payloads():
    return [
        run("r-clean", step("plan", input="write the report", output="done"), started_at="2026-11-01T09:00:00Z"),
        run(
            "r-input",
            step("plan", input="tidy up"),
            step("shell", parent="plan", kind="tool", input='{"cmd": "RM -RF /tmp/build"}', output="ok"),
            step("after", input="rm -rf again"),
            started_at="2026-11-01T09:01:00Z",
        ),
        run(
            "r-deep",
            step("a"),
            step("b", parent="a"),
            step("c", parent="b"),
            step("d", parent="c", output=f"log: sudo rm -rf / {HOSTILE}", error="100% disk a_b"),
            started_at="2026-11-01T09:02:00Z",
        ),
    ]


STORES = ["cached", "cached-indexed", "native", "native-without-index"]


@pytest.fixture(params=STORES)
def store(request, tmp_path):
    """The same runs as a cached import (before and after the viewer indexed it), a store of
    `tracetui import -o` (indexed), and one an older tracetui wrote (no index: every query is a scan)."""
    s = opened_as(request.param, runs_with_payloads(), tmp_path)
    yield s
    s.close()


def opened_as(kind: str, runs: list, tmp_path) -> Store:
    """The runs in a store of one of the STORES kinds."""
    if kind.startswith("cached"):
        opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs))
        opening.run_import()
        if kind == "cached-indexed":
            assert opening.index_for_search()
        s = opening.connect()
        assert search.has_index(s.conn) == (kind == "cached-indexed")
        return s
    path = write_store(tmp_path / "store.db", runs)
    if kind == "native-without-index":
        conn = sqlite3.connect(path)
        conn.execute("DROP TABLE step_text")
        conn.execute("DELETE FROM meta WHERE key = 'search_index'")
        conn.commit()
        conn.close()
    opening = prepare(path)
    assert opening.in_place
    s = opening.connect()
    assert search.has_index(s.conn) == (kind == "native")
    return s


def test_a_substring_inside_a_payload_is_found_across_runs_case_insensitively(store):
    hits = store.runs_matching("rm -rf")
    assert set(hits) == {"r-input", "r-deep"}
    assert (hits["r-input"].step_id, hits["r-input"].count) == ("shell", 2)
    assert (hits["r-deep"].step_id, hits["r-deep"].count) == ("d", 1)
    assert store.step_snippet("r-input", "shell", "rm -rf") == search.Snippet("input", '{"cmd": "RM -RF /tmp/build"}')


def test_the_steps_of_one_run_that_match_come_in_execution_order(store):
    assert [hit[0] for hit in store.find_in_run("r-input", "RM -rf")] == ["shell", "after"]
    assert [hit[0] for hit in store.find_in_run("r-deep", "rm -rf")] == ["d"]
    assert store.find_in_run("r-clean", "rm -rf") == []
    assert [hit[0] for hit in store.find_in_run("r-input", "tool")] == ["shell"]  # the kind


def test_queries_shorter_than_a_trigram_still_find_their_steps(store):
    assert set(store.runs_matching("-R")) == {"r-input", "r-deep"}
    assert [hit[0] for hit in store.find_in_run("r-deep", "d")] == ["d"]


def test_wildcards_and_quotes_in_a_query_are_plain_characters(store):
    assert set(store.runs_matching("100%")) == {"r-deep"}
    assert store.runs_matching("100%x") == {}
    assert set(store.runs_matching("a_b")) == {"r-deep"}
    assert store.runs_matching("rm_-rf") == {}
    assert store.runs_matching('"cmd": "rm').keys() == {"r-input"}
    assert store.runs_matching("\\").keys() == set()
    assert store.runs_matching("%").keys() == {"r-deep"}


def test_hostile_text_in_a_query_is_searched_literally(store):
    assert set(store.runs_matching("[bold red]x[/]")) == {"r-deep"}
    assert set(store.runs_matching("[@click=app.quit]")) == {"r-deep"}
    snip = store.step_snippet("r-deep", "d", "[bold red]")
    assert snip is not None and snip.field == "output"
    assert "\x1b" not in snip.text and "\x07" not in snip.text and "[bold red]x[/]" in snip.text


def test_the_run_filter_keeps_runs_found_in_their_steps_as_well_as_by_their_own_text(store):
    hits = store.runs_matching("rm -rf")
    assert store.run_ids(RunFilter(search="rm -rf", step_hits=frozenset(hits)), desc=False) == ["r-input", "r-deep"]
    assert store.run_ids(RunFilter(search="r-clean", step_hits=frozenset()), desc=False) == ["r-clean"]
    assert store.count_runs(RunFilter(search="rm -rf")) == 0  # without step hits: the run's own text only


def test_the_index_of_a_cached_import_is_built_in_steps_and_goes_on_where_it_stopped(tmp_path):
    runs = [run(f"r{i:03d}", step("s", input=f"payload {i}"), step("t", output="x")) for i in range(30)]
    opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs))
    opening.run_import()
    conn = sqlite3.connect(opening.db_path, isolation_level=None)
    seen: list[tuple[int, int]] = []
    assert not search.build_index(conn, chunk=25, progress=lambda *p: seen.append(p), cancelled=lambda: len(seen) > 1)
    assert seen == [(0, 60), (25, 60)] and not search.has_index(conn)
    conn.close()
    assert opening.connect().runs_matching("payload 2").keys() == {
        "r002",
        *(f"r{i:03d}" for i in range(20, 30)),
    }  # a scan
    seen.clear()
    assert opening.index_for_search(progress=lambda *p: seen.append(p))
    assert seen[0] == (50, 60) and seen[-1] == (60, 60)  # went on from the second chunk
    s = opening.connect()
    assert search.has_index(s.conn)
    assert s.runs_matching("payload 2").keys() == {"r002", *(f"r{i:03d}" for i in range(20, 30))}
    assert s.conn.execute("SELECT count(*) FROM step_text WHERE input LIKE '%payload%'").fetchone()[0] == 30
    s.close()


def test_a_source_read_in_place_is_never_indexed(tmp_path):
    path = write_store(tmp_path / "store.db", runs_with_payloads())
    before = os.stat(path).st_mtime_ns
    opening = prepare(path)
    assert opening.in_place and not opening.index_for_search()
    assert os.stat(path).st_mtime_ns == before


def test_a_scan_reports_progress_and_stops_when_cancelled(tmp_path):
    runs = [run(f"r{i:03d}", step("s", input=f"payload {i}")) for i in range(450)]
    path = write_store(tmp_path / "store.db", runs)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta WHERE key = 'search_index'")
    conn.commit()
    conn.close()
    s = prepare(path).connect()
    seen: list[tuple[int, int]] = []
    assert set(s.runs_matching("payload 44", progress=lambda done, total: seen.append((done, total)))) == {
        "r044",
        *(f"r{i}" for i in range(440, 450)),
    }
    assert seen == [(0, 450), (200, 450), (400, 450), (450, 450)]
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(search.Cancelled):
        s.runs_matching("payload", cancelled=cancelled)
    s.close()


def test_sources_read_in_place_are_scanned(tmp_path):
    path = write_agent_traces(
        tmp_path / "agent_traces.db",
        [
            {"id": "t1", "agent_id": "a", "started_at": "2026-11-01T09:00:00Z", "tool_calls": []},
            {
                "id": "t2",
                "agent_id": "a",
                "started_at": "2026-11-01T09:01:00Z",
                "tool_calls": [{"toolName": "shell", "error": "refused: rm -rf /"}],
            },
        ],
    )
    opening = prepare(path)
    assert opening.in_place
    s = opening.connect()
    assert set(s.runs_matching("RM -RF")) == {"t2"}
    assert s.find_in_run("t2", "shell") == [("call-1", 0, 1)]
    s.close()


def test_list_grep_names_the_run_and_its_first_matching_step(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", runs_with_payloads())
    result = CliRunner().invoke(main, ["list", path, "--grep", "rm -rf"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "match" in lines[0]
    assert sorted(line.split()[2] for line in lines[1:]) == ["r-deep", "r-input"]
    assert 'shell +1 · input: {"cmd": "RM -RF /tmp/build"}' in result.output
    assert "[bold red]x[/] [@click=app.quit]q[/]" in result.output and "\x1b" not in result.output
    as_json = orjson.loads(CliRunner().invoke(main, ["list", path, "--grep", "RM -RF", "--json"]).output)
    assert sorted((r["id"], r["match"]["step_id"], r["match"]["field"]) for r in as_json) == [
        ("r-deep", "d", "output"),
        ("r-input", "shell", "input"),
    ]
    assert CliRunner().invoke(main, ["list", path, "--grep", "nowhere"]).output == "no runs match\n"
    both = CliRunner().invoke(main, ["list", path, "--grep", "x", "--search", "y"])
    assert both.exit_code == 2


def _with_bytes(path: str) -> str:
    """A store tracetui wrote (no index: read in place, every search a scan), its text then edited by
    another tool: bytes that are not UTF-8 (FF) in a run id and a step's output."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE IF EXISTS step_text")
    conn.execute("DELETE FROM meta WHERE key = 'search_index'")
    odd = "CAST(CAST({} AS BLOB) || x'ff' AS TEXT)"
    conn.execute(f"UPDATE runs SET id = {odd.format('id')} WHERE id = 'r-input'")
    conn.execute(f"UPDATE steps SET run_id = {odd.format('run_id')} WHERE run_id = 'r-input'")
    conn.execute(f"UPDATE steps SET output = {odd.format('output')} WHERE output = 'ok'")
    conn.commit()
    conn.close()
    return path


def test_text_shown_with_xnn_is_found_by_what_is_shown(tmp_path):
    store = prepare(_with_bytes(write_store(tmp_path / "store.db", runs_with_payloads()))).connect()
    assert not store.trusted
    assert "r-input\\xff" in store.run_ids()
    # the run view's `/`: the run found by the id shown, its step by the text shown
    assert store.find_in_run("r-input\\xff", "ok\\xff") == [("shell", 1, 1)]
    assert store.find_in_run("r-input\\xff", "OK\\XFF") == []  # \xNN is what is shown: typed as shown
    # the run list's `/` (a scan: read in place), and the run's own text
    hits = store.runs_matching("ok\\xff")
    assert list(hits) == ["r-input\\xff"] and hits["r-input\\xff"].step_id == "shell"
    assert store.run_ids(RunFilter(search="input\\xff")) == ["r-input\\xff"]  # its own id
    flt = RunFilter(search="ok\\xff", step_hits=frozenset(hits))
    assert store.run_ids(flt) == ["r-input\\xff"]
    [[hit]] = list(store.steps_matching("ok\\xff"))  # the results screen (R), every matching step
    assert (hit.run_id, hit.step_id) == ("r-input\\xff", "shell")
    snip = store.step_snippet("r-input\\xff", "shell", "ok\\xff")
    assert snip is not None and snip.text == "ok\\xff"
    # a literal backslash-x in text that is UTF-8 is still found as it is
    assert set(store.runs_matching("refused")) == set()


def test_run_hits_whose_ids_are_not_utf8_filter_the_run_list(tmp_path):
    store = prepare(_with_bytes(write_store(tmp_path / "store.db", runs_with_payloads()))).connect()
    for hits in ({"r-input\\xff"}, {"r-input\udcff"}):  # as shown, or as the text the file's bytes decode to
        where, args = RunFilter(search="nothing", step_hits=frozenset(hits)).where(
            lambda what, value: store._key(value, f"SELECT 1 FROM runs WHERE {what} = CAST(? AS TEXT)")
        )
        assert store.run_ids(RunFilter(search="nothing", step_hits=frozenset(hits))) == ["r-input\\xff"]
        assert where and args


def every_hit(store, query, flt=None, **options) -> list[tuple[str, str]]:
    return [(hit.run_id, hit.step_id) for hits in store.steps_matching(query, flt, **options) for hit in hits]


def test_every_matching_step_comes_run_by_run_in_the_lists_order_and_each_runs_in_execution_order(store):
    assert every_hit(store, "rm -rf", desc=False) == [("r-input", "shell"), ("r-input", "after"), ("r-deep", "d")]
    assert every_hit(store, "rm -rf") == [("r-deep", "d"), ("r-input", "shell"), ("r-input", "after")]
    assert every_hit(store, "-R", RunFilter(ids=["r-input"])) == [("r-input", "shell"), ("r-input", "after")]
    assert every_hit(store, "nowhere at all") == []
    assert every_hit(store, "rm_-rf") == [] and every_hit(store, "100%") == [("r-deep", "d")]  # LIKE's wildcards
    assert every_hit(store, "[bold red]x[/]") == [("r-deep", "d")]
    hit = next(h for hits in store.steps_matching("sudo") for h in hits)
    assert (hit.name, hit.kind, hit.ord) == ("d", "other", 3)


def test_a_scan_of_every_matching_step_reports_progress_and_stops_when_cancelled(tmp_path):
    runs = [run(f"r{i:03d}", step("s", input=f"payload {i}"), step("t", output=f"payload {i}")) for i in range(450)]
    path = write_store(tmp_path / "store.db", runs)
    conn = sqlite3.connect(path)
    conn.execute("DELETE FROM meta WHERE key = 'search_index'")
    conn.commit()
    conn.close()
    s = prepare(path).connect()
    seen: list[tuple[int, int]] = []
    found = list(s.steps_matching("payload 44", desc=False, progress=lambda done, total: seen.append((done, total))))
    assert [[(h.run_id, h.step_id) for h in hits] for hits in found][:2] == [
        [("r044", "s"), ("r044", "t")],
        [("r440", "s"), ("r440", "t")],
    ]
    assert len(found) == 11 and seen == [(0, 450), (200, 450), (400, 450), (450, 450)]
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 1

    with pytest.raises(search.Cancelled):
        list(s.steps_matching("payload", cancelled=cancelled))
    s.close()


def test_list_grep_steps_prints_every_matching_step_literally_with_the_count(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", runs_with_payloads())
    result = CliRunner().invoke(main, ["list", path, "--grep", "rm -rf", "--steps"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[:3] for line in lines[:3]] == [
        ["r-input", "shell", "tool"],
        ["r-input", "after", "other"],
        ["r-deep", "d", "other"],
    ]
    assert 'input: {"cmd": "RM -RF /tmp/build"}' in lines[0] and "input: rm -rf again" in lines[1]
    assert "[bold red]x[/] [@click=app.quit]q[/]" in lines[2] and "\x1b" not in result.output
    assert lines[3] == "3 matching steps in 2 runs"
    limited = CliRunner().invoke(main, ["list", path, "--grep", "rm -rf", "--steps", "--limit", "1", "--desc"])
    assert limited.output.splitlines() == [limited.output.splitlines()[0], "1 matching step in 1 run"]
    assert limited.output.startswith("r-deep  d  other  output: log: sudo rm -rf /")
    as_json = orjson.loads(CliRunner().invoke(main, ["list", path, "--grep", "RM -RF", "--steps", "--json"]).output)
    assert [(h["run_id"], h["step_id"], h["step_name"], h["kind"], h["ord"], h["field"]) for h in as_json] == [
        ("r-input", "shell", "shell", "tool", 1, "input"),
        ("r-input", "after", "after", "other", 2, "input"),
        ("r-deep", "d", "d", "other", 3, "output"),
    ]
    assert as_json[2]["text"].startswith("log: sudo rm -rf / [bold red]x[/]") and "\x1b" not in as_json[2]["text"]
    assert CliRunner().invoke(main, ["list", path, "--grep", "nowhere", "--steps"]).output == "no steps match\n"
    assert CliRunner().invoke(main, ["list", path, "--steps"]).exit_code == 2
    assert CliRunner().invoke(main, ["list", path, "--grep", "x", "--steps", "--by", "session"]).exit_code == 2


def runs_with_nul() -> list:
    """NUL characters (U+0000, kept as they came) in a run's id, error and session, a step's id, name
    and payloads: SQLite's LIKE reads text only up to the first one."""
    return [
        run("r-plain", step("plan", input="nothing to see"), started_at="2026-11-01T09:00:00Z"),
        run(
            "r\x00nul",
            step("s\x001", name="na\x00me", input="in\x00put after the NUL", output="\x00tail"),
            step("s2", parent="s\x001", error="first\x00SECOND"),
            error="boom\x00here",
            session="ses\x00sion",
            started_at="2026-11-01T09:01:00Z",
        ),
    ]


@pytest.mark.parametrize("kind", STORES)
def test_text_after_a_nul_character_is_found(kind, tmp_path):
    store = opened_as(kind, runs_with_nul(), tmp_path)
    nul = "r\x00nul"
    for query, step_id in [("after the", "s\x001"), ("AFTER", "s\x001"), ("tail", "s\x001"), ("second", "s2")]:
        hits = store.runs_matching(query)
        assert list(hits) == [nul] and hits[nul].step_id == step_id, query
        assert [hit[0] for hit in store.find_in_run(nul, query)] == [step_id], query  # the run view's `/`
        assert every_hit(store, query) == [(nul, step_id)], query  # `R`, list --grep --steps
        assert store.run_ids(RunFilter(search=query, step_hits=frozenset(hits))) == [nul], query
    assert list(store.runs_matching("me")) == [nul]  # (a step's name; two characters: a scan)
    assert store.runs_matching("nothing after") == {} and store.runs_matching("nul after") == {}
    # the run's own text (list --grep, the run list's `/`): its error and session past the NUL
    assert store.run_ids(RunFilter(search="here")) == store.run_ids(RunFilter(search="SION")) == [nul]
    # a NUL typed as shown (\x00) is one
    assert store.run_ids(RunFilter(search="r\\x00n")) == [nul]
    assert list(store.runs_matching("in\\x00put")) == [nul]
    snip = store.step_snippet(nul, "s\x001", "after")
    assert snip == search.Snippet("input", "in\\x00put after the NUL")  # shown literally
    store.close()


def test_list_grep_finds_text_after_a_nul_character_and_shows_it_literally(tmp_path):
    path = write_store(tmp_path / "store.db", runs_with_nul())
    listed = CliRunner().invoke(main, ["list", path, "--grep", "after the", "--json"])
    assert listed.exit_code == 0, listed.output
    [found] = orjson.loads(listed.output)
    assert found["id"] == "r\x00nul" and found["match"]["text"] == "in\\x00put after the NUL"
    steps = CliRunner().invoke(main, ["list", path, "--grep", "second", "--steps"])
    assert steps.exit_code == 0 and "\x00" not in steps.output
    assert "first\\x00SECOND" in steps.output and "1 matching step in 1 run" in steps.output


def test_a_source_read_in_place_finds_text_after_a_nul_character(tmp_path):
    path = write_agent_traces(
        tmp_path / "agent_traces.db",
        [
            {"id": "t1", "agent_id": "a", "started_at": "2026-11-01T09:00:00Z", "tool_calls": []},
            {
                "id": "t2",
                "agent_id": "a\x00b",
                "started_at": "2026-11-01T09:01:00Z",
                "error_message": "refused\x00: rm -rf /",
                "tool_calls": [],
            },
        ],
    )
    store = prepare(path).connect()
    assert store.run_ids(RunFilter(search="rm -RF")) == store.run_ids(RunFilter(search="B")) == ["t2"]
    store.close()


def test_an_index_an_older_tracetui_built_is_not_used_and_a_caches_is_built_again(tmp_path):
    """Version 1 indexed text only up to a NUL: a search through it missed what follows one."""
    opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs_with_nul()))
    opening.run_import()
    assert opening.index_for_search()
    conn = sqlite3.connect(opening.db_path, isolation_level=None)
    columns = ", ".join(search.SEARCHED)
    # as version 1 built it: the trigram tokenizer stops at a NUL (trusted, it finds nothing past one)
    conn.execute(f"INSERT INTO {search.INDEX}({search.INDEX}) VALUES ('delete-all')")
    conn.execute(f"INSERT INTO {search.INDEX}(rowid, {columns}) SELECT rowid, {columns} FROM steps")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'search_index'")
    conn.execute("DELETE FROM meta WHERE key = 'search_index_version'")
    assert not search.has_index(conn)
    assert list(opening.connect().runs_matching("after the")) == ["r\x00nul"]  # a scan meanwhile
    assert opening.index_for_search() and search.has_index(conn)
    store = opening.connect()
    assert list(store.runs_matching("after the")) == ["r\x00nul"] and store.runs_matching("nothing after") == {}
    conn.close()
