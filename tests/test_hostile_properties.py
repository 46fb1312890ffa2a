"""Property tests (issue 9): hostile records for every source, and the promise that holds for each.

For each format a real file (the samples and framework fixtures) is changed in one place: a value
anywhere in one record is replaced by a hostile one (any type, extreme numbers, deep nesting,
surrogates, control characters, markup), or raw bytes are put into a line. Then:

- importing it raises nothing but UnusableInput (the whole file unusable, said in one line);
- no run of the untouched file is lost without a problem being reported (a run may come back under
  a new id: the value changed was its id), and where every line is a run of its own, only the
  changed line's run may go;
- every run that loaded reads back whole, renders as text and as JSON (JSON as it is, no raw
  control character) and compares with itself.

In-place SQLite files (agent_traces, tracetui stores) get hostile values of every SQLite type in
random cells instead, and must list, show, count, export and re-import every row.

The default profile is derandomized and small, so CI runs the same examples every time in about
half a minute; HYPOTHESIS_PROFILE=dev explores with fresh random examples and more of them.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import agents
import pytest
from frameworks import fixture
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from tracetui import jsonsafe, textout
from tracetui.compare import compare_runs
from tracetui.errors import UnusableInput
from tracetui.loading import open_store, prepare
from tracetui.run_json import run_dict, step_dict
from tracetui.sources import tracetui_jsonl

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=12,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev",
    deadline=None,
    max_examples=200,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).parent.parent
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

# -- hostile values -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deep:
    """A list nested `depth` levels deep, written as text (the json module would recurse)."""

    depth: int


SPECIAL_TEXT = [
    "[bold red]x[/]",
    "[/tool_call]",
    "[@click=app.quit]quit[/]",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://example.com\x07link\x1b]8;;\x07",
    "\x9b2J\x85\x9d0;title\x9c",
    "\u202egnp.exe\u200b",
    "\x00",
    "",
    " ",
    "x\udfffy",
    "\ud800",
    "1e400",
    "NaN",
    "-Infinity",
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:00:00-05:00",
    "yesterday",
    "9" * 400,
    "x" * 70_000,
]
NUMBERS = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**64 + 5, 10**30, 0, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(SPECIAL_TEXT),
    st.text(alphabet=st.characters(categories=["Cs", "Cc", "Lu", "Zs"]), max_size=6),  # surrogates, controls
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, TEXT)
JSON_VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6
)
HOSTILE = st.one_of(JSON_VALUES, st.builds(Deep, st.integers(250, 3000)))
RAW_BYTES = st.sampled_from([b"\xff", b"\xe9", b"\x00", b"\xef\xbb\xbf", b"\\ud800", b"\n", b"NaN", b"]", b'"'])


def dumps(value: Any) -> str:
    """JSON as Python writes it (NaN, Infinity, lone surrogates as escapes), Deep values nested as text."""
    deep: dict[str, str] = {}

    def placeholder(obj: Any) -> Any:
        if isinstance(obj, Deep):
            key = f"__deep_{len(deep)}__"
            deep[f'"{key}"'] = "[" * obj.depth + "]" * obj.depth
            return key
        raise TypeError(type(obj))

    text = json.dumps(value, default=placeholder)
    for key, nested in deep.items():
        text = text.replace(key, nested)
    return text


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in value (containers included), as key paths."""
    out = [prefix]
    todo = [(value, prefix)]
    while todo:
        node, at = todo.pop()
        children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in children:
            out.append((*at, key))
            todo.append((child, (*at, key)))
    return out


def replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(value))
    node = copy
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = new
    return copy


# -- the sources, as real files -------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    fmt: str
    path: str
    lines: bool  # JSON Lines (else one JSON document)
    run_per_line: bool = False  # each line is a whole run of its own


def exported(tmp: Path) -> str:
    out = tmp / "tracetui.jsonl"
    with open(out, "wb") as f:
        for run in open_store(str(ROOT / "sample_traces" / "export.jsonl")).iter_runs():
            f.write(tracetui_jsonl.dumps(run))
    return str(out)


SAMPLES = [
    Sample("export", str(ROOT / "sample_traces" / "export.jsonl"), True, True),
    Sample("export", str(ROOT / "sample_traces" / "export.json"), False),
    Sample("events", str(ROOT / "sample_traces" / "events.jsonl"), True),
    Sample("otlp", fixture("pydantic_ai_otlp.jsonl"), True),
    Sample("otlp", fixture("pydantic_ai_otlp_pretty.json"), False),
    Sample("langsmith", fixture("langsmith_runs.jsonl"), True),
    Sample("openai-agents", fixture("openai_agents_traces.jsonl"), True),
    Sample("langfuse", fixture("langfuse_traces.jsonl"), True),
    Sample("langfuse", fixture("langfuse_observations.jsonl"), True),
    Sample("langfuse", fixture("langfuse_trace.json"), False),
    Sample("smolagents", fixture("smolagents_runs.jsonl"), True, True),
    Sample("inspect-ai", fixture("inspect_ai_eval.json"), False),
    Sample("tracetui-jsonl", "tracetui.jsonl", True, True),  # made by exported() from the sample export
    Sample("claude-code", str(agents.claude(1)), True),
    Sample("codex", str(agents.CODEX_MAIN), True),
    Sample("gemini-cli", str(agents.GEMINI_JSONL), True),
    Sample("gemini-cli", str(agents.GEMINI_JSON), False),
    Sample("atif", str(agents.ATIF), False),
]


_EXPORTED: list[str] = []


def sample_file(sample: Sample, tmp: Path) -> str:
    if sample.path != "tracetui.jsonl":
        return sample.path
    if not _EXPORTED:
        _EXPORTED.append(exported(tmp))
    return _EXPORTED[0]


def open_all(path: str, fmt: str | None) -> tuple[Any, list[str]] | None:
    """(store, problems) of a file, or None when it is unusable as a whole (which must say why)."""
    try:
        opening = prepare(path, fmt=fmt, use_cache=False)
        opening.run_import()
    except UnusableInput as exc:
        assert exc.problem and "\n" not in str(exc)
        return None
    store = opening.connect()
    return store, [str(p) for p in store.problems()]


def check_readable(store) -> None:
    """Every run reads back whole and renders as text and JSON; the JSON is JSON as it is."""
    problems = store.problems()
    assert all(isinstance(p.message, str) for p in problems)
    store.stats()
    store.stats("agent")
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    for run_id in store.run_ids():
        run = store.run_tree(run_id)
        console.file = out = io.StringIO()
        real_console, textout.console = textout.console, lambda: console  # type: ignore[assignment]
        try:
            textout.run_tree_text(run, None)
        finally:
            textout.console = real_console
        assert RAW_CONTROL.search(out.getvalue()) is None
        shown = run_dict(run) | {"steps": [step_dict(s) for s in run.steps if s.parent_id is None]}
        data = jsonsafe.for_output(shown, indent=True)
        assert RAW_CONTROL.search(data.decode()) is None
        value, repairs = jsonsafe.loads(data)
        assert not repairs and value["id"] == run.id
        compare_runs(run, run)
        tracetui_jsonl.dumps(run)


BASELINES: dict[tuple[str, str], set[str]] = {}


def baseline(sample: Sample, path: str) -> set[str]:
    key = (sample.fmt, sample.path)
    if key not in BASELINES:
        opened = open_all(path, sample.fmt)
        assert opened is not None
        BASELINES[key] = set(opened[0].run_ids())
    return BASELINES[key]


def records(sample: Sample, path: str) -> list[Any]:
    with open(path, encoding="utf-8") as f:
        if sample.lines:
            return [json.loads(line) for line in f if line.strip()]
        return [json.load(f)]


@pytest.mark.parametrize("sample", SAMPLES, ids=[f"{s.fmt}:{os.path.basename(s.path)}" for s in SAMPLES])
@given(data=st.data())
def test_one_hostile_value_or_byte_costs_at_most_its_own_record(sample, data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    original = sample_file(sample, tmp)
    before = baseline(sample, original)
    recs = records(sample, original)
    target = data.draw(st.integers(0, len(recs) - 1), label="record")
    texts = [dumps(r) for r in recs]
    if data.draw(st.booleans(), label="raw bytes"):
        line = texts[target].encode("utf-8", "surrogatepass")
        at = data.draw(st.integers(0, len(line)), label="at")
        changed = line[:at] + data.draw(RAW_BYTES, label="bytes") + line[at:]
    else:
        where = data.draw(st.sampled_from(paths(recs[target])), label="path")
        changed = dumps(replaced(recs[target], where, data.draw(HOSTILE, label="value"))).encode(
            "utf-8", "surrogatepass"
        )
    blobs = [t.encode("utf-8", "surrogatepass") for t in texts]
    blobs[target] = changed
    path = tmp / ("hostile.jsonl" if sample.lines else "hostile.json")
    path.write_bytes(b"\n".join(blobs) + b"\n")

    opened = open_all(str(path), sample.fmt)
    if opened is None:
        return  # unusable as a whole, said in one line (checked in open_all)
    store, problems = opened
    # The safety net (contract.one_record) keeps the rest loading; the format must not need it.
    assert not [p for p in problems if "could not be read" in p], problems
    after = set(store.run_ids())
    lost, gained = before - after, after - before
    if len(lost) > len(gained):  # more runs went than came under a new id (the value changed was an id)
        assert problems, f"runs {sorted(lost)[:5]} were lost and nothing was reported"
    if sample.run_per_line:  # (ids made from line numbers may all move: count the runs)
        assert len(before) - len(after) <= 1, f"one changed line cost {len(before) - len(after)} runs"
    check_readable(store)
    open_all(str(path), None)  # detection, on the same file: anything but UnusableInput is a bug


@given(lines=st.lists(JSON_VALUES, min_size=1, max_size=4))
def test_random_lines_among_good_runs_never_cost_the_good_ones(lines, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("random")
    good = [json.dumps({"run_id": f"good-{n}", "status": "completed", "steps": []}) for n in range(3)]
    text = "\n".join([good[0], *(dumps(v) for v in lines[:2]), good[1], *(dumps(v) for v in lines[2:]), good[2]])
    path = tmp / "mixed.jsonl"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + b"\n")
    opened = open_all(str(path), "export")
    assert opened is not None
    store, problems = opened
    assert not [p for p in problems if "could not be read" in p], problems
    ids = set(store.run_ids())
    assert {"good-0", "good-1", "good-2"} <= ids
    check_readable(store)


# -- SQLite read in place -------------------------------------------------------------------------

SQLITE_VALUES = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(SPECIAL_TEXT).map(lambda s: s.encode("utf-8", "surrogatepass").decode("utf-8", "replace")),
    st.binary(max_size=6),
    st.binary(min_size=1, max_size=6).map(lambda b: ("as text", b)),  # bytes stored as TEXT: maybe not UTF-8
    st.sampled_from(["n/a", "[1,", '{"a":', "[]", '[{"toolName": 5, "timestamp": "noon"}]', "2025-13-45"]),
)


def put(conn: sqlite3.Connection, table: str, column: str, rowid: int, value: Any) -> None:
    if isinstance(value, tuple):
        conn.execute(f'UPDATE {table} SET "{column}" = CAST(? AS TEXT) WHERE rowid = ?', (value[1], rowid))
    else:
        conn.execute(f'UPDATE {table} SET "{column}" = ? WHERE rowid = ?', (value, rowid))


def in_place_promise(path: Path, expected_runs: int) -> None:
    """Every row listed, shown, counted, exported and imported again, whatever its cells hold."""
    opening = prepare(str(path))
    assert opening.in_place
    store = opening.connect()
    ids = store.run_ids()
    assert len(ids) == expected_runs
    assert len(store.list_runs(limit=1000)) == expected_runs
    check_readable(store)
    out = path.with_suffix(".jsonl")
    with open(out, "wb") as f:
        for run in store.iter_runs():
            f.write(tracetui_jsonl.dumps(run))
    again = open_store(str(out), use_cache=False)
    assert sorted(again.run_ids()) == sorted(ids)
    # What the export holds is typed and whole: importing it may only repair the tree (a step whose
    # parent's id was the odd value), never skip or repair a value.
    assert not [p for p in again.problems() if "parent" not in p.message], [str(p) for p in again.problems()]


@given(cells=st.lists(st.tuples(st.integers(0, 26), st.integers(0, 13), SQLITE_VALUES), min_size=1, max_size=6))
def test_agent_traces_rows_with_any_value_in_any_cell_all_open(cells, tmp_path_factory):
    path = tmp_path_factory.mktemp("at") / "agent_traces.db"
    shutil.copy(ROOT / "sample_traces" / "agent_traces.db", path)
    conn = sqlite3.connect(path)
    columns = [r[1] for r in conn.execute("PRAGMA table_info(agent_traces)")]
    rowids = [r[0] for r in conn.execute("SELECT rowid FROM agent_traces ORDER BY rowid")]
    for row, column, value in cells:
        name = columns[column % len(columns)]
        if name == "id" and value is not None and not isinstance(value, (str, tuple)):
            value = (
                f"odd-{row}"  # the primary key stays unique; NULL and text (maybe not UTF-8) are what is odd about ids
            )
        try:
            put(conn, "agent_traces", name, rowids[row % len(rowids)], value)
        except sqlite3.IntegrityError:
            continue  # a duplicate id: the table itself refuses it
    conn.commit()
    conn.close()
    in_place_promise(path, len(rowids))


@given(cells=st.lists(st.tuples(st.booleans(), st.integers(0, 200), st.integers(0, 40), SQLITE_VALUES), max_size=6))
def test_tracetui_stores_with_any_value_in_any_cell_all_open(cells, tmp_path_factory):
    path = tmp_path_factory.mktemp("store") / "store.db"
    shutil.copy(ROOT / "sample_traces" / "traces.db", path)
    conn = sqlite3.connect(path)
    runs = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
    for in_runs, row, column, value in cells:
        table = "runs" if in_runs else "steps"
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        name = columns[column % len(columns)]
        rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} ORDER BY rowid")]
        if name in ("id", "run_id", "parent_id") and value is not None and not isinstance(value, (str, tuple)):
            continue  # keys: what is odd about them is NULL (below) or text (maybe not UTF-8)
        try:
            put(conn, table, name, rowids[row % len(rowids)], value)
        except sqlite3.IntegrityError:
            continue
    conn.commit()
    conn.close()
    in_place_promise(path, runs)


# Databases whose step trees are built in Python (sources/sqlite_steps.py): the tables they read, and
# the column of each that is the run's id (made to take NULL, as a file another tool wrote may).
RUN_ID_COLUMNS = {agents.PHOENIX: ("traces", "trace_id"), agents.MLFLOW: ("trace_info", "request_id")}
RUN_TABLES = {agents.PHOENIX: "traces", agents.MLFLOW: "trace_info"}  # (OpenCode's sessions nest: runs vary)
STEP_BUILDER_TABLES = {
    agents.PHOENIX: ["traces", "spans", "projects", "span_annotations", "trace_annotations", "span_costs"],
    agents.MLFLOW: ["trace_info", "spans", "assessments", "trace_tags", "trace_request_metadata"],
    agents.OPENCODE: ["session", "message", "part", "project"],
}


@pytest.mark.parametrize("fixture_path", list(STEP_BUILDER_TABLES), ids=lambda p: p.name)
@given(
    cells=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 200), st.integers(0, 60), SQLITE_VALUES), max_size=6)
)
def test_step_builder_databases_with_any_value_in_any_cell_all_open(fixture_path, cells, tmp_path_factory):
    path = Path(agents.copied(fixture_path, tmp_path_factory.mktemp("db")))
    conn = sqlite3.connect(path)
    if fixture_path in RUN_ID_COLUMNS:
        agents.nullable(conn, *RUN_ID_COLUMNS[fixture_path])
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = [t for t in STEP_BUILDER_TABLES[fixture_path] if t in present]
    for table_n, row, column, value in cells:
        table = tables[table_n % len(tables)]
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
        rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} ORDER BY rowid")]
        if not rowids:
            continue
        name = columns[column % len(columns)]
        try:
            put(conn, table, name, rowids[row % len(rowids)], value)
        except (sqlite3.IntegrityError, sqlite3.OperationalError):
            continue  # the table itself refuses it (a key, a NOT NULL, Phoenix's columns generated from JSON)
    conn.commit()
    conn.close()
    opening = prepare(str(path))
    assert opening.in_place
    store = opening.connect()
    ids = store.run_ids()
    assert len(store.list_runs(limit=1000)) == len(ids)
    if fixture_path in RUN_TABLES:  # every trace is listed, whatever its id holds
        assert (
            len(ids)
            == len(set(ids))
            == sqlite3.connect(path).execute(f"SELECT count(*) FROM {RUN_TABLES[fixture_path]}").fetchone()[0]
        )
    check_readable(store)
    out = path.with_suffix(".jsonl")
    with open(out, "wb") as f:
        for run in store.iter_runs():
            f.write(tracetui_jsonl.dumps(run))
    assert sorted(open_store(str(out), use_cache=False).run_ids()) == sorted(ids)


# Count columns the views read (sqlite_steps.Read): any value there that is not a count is listed under
# `w`, on the line of its row, naming the column.
COUNT_COLUMNS = {
    agents.PHOENIX: [
        ("spans", "llm_token_count_prompt"),
        ("spans", "llm_token_count_completion"),
        ("span_costs", "total_cost"),
    ],
    agents.MLFLOW: [("trace_info", "input_tokens"), ("trace_info", "total_cost"), ("spans", "total_cost")],
    agents.OPENCODE: [("session", "tokens_input"), ("session", "cost")],
}


@pytest.mark.parametrize("fixture_path", list(COUNT_COLUMNS), ids=lambda p: p.name)
@given(cell=st.tuples(st.integers(0, 10), st.integers(0, 200), SQLITE_VALUES))
def test_a_count_that_is_not_one_is_listed_on_its_line(fixture_path, cell, tmp_path_factory):
    from tracetui.sources.sqlite_steps import count

    path = Path(agents.copied(fixture_path, tmp_path_factory.mktemp("db")))
    which, row, value = cell
    table, column = COUNT_COLUMNS[fixture_path][which % len(COUNT_COLUMNS[fixture_path])]
    conn = sqlite3.connect(path)
    conn.text_factory = lambda b: b.decode("utf-8", "surrogateescape")
    rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {table} ORDER BY rowid")]
    rowid = rowids[row % len(rowids)]
    try:
        put(conn, table, column, rowid, value)
    except sqlite3.IntegrityError:
        return  # the table itself refuses it (NOT NULL)
    conn.commit()
    stored = conn.execute(f'SELECT "{column}" FROM {table} WHERE rowid = ?', (rowid,)).fetchone()[0]
    conn.close()
    listed = [str(p) for p in open_store(str(path)).problems()]
    odd = stored is not None and not (isinstance(stored, str) and not stored.strip()) and count(stored) is None
    mine = [p for p in listed if p.startswith(f"line {rowid}: ") and f" {column} " in p]
    assert bool(mine) == odd, (stored, listed)


# -- companion files: a session's subagent files and their meta.json ---------------------------------


@dataclass(frozen=True)
class Companion:
    fmt: str
    folder: Path  # copied whole (file times kept: companions are found by name, folder and time)
    main: str  # the session file opened, within folder
    companion: str  # the file changed, within folder
    lines: bool


_CLAUDE_SUBAGENTS = f"{agents.claude(1).stem}/subagents/{agents.CLAUDE_SUBAGENT.stem}"
COMPANIONS = [
    Companion("claude-code", agents.CLAUDE, agents.claude(1).name, f"{_CLAUDE_SUBAGENTS}.meta.json", False),
    Companion("claude-code", agents.CLAUDE, agents.claude(1).name, f"{_CLAUDE_SUBAGENTS}.jsonl", True),
    Companion("claude-code", agents.CLAUDE, agents.claude(1).name, agents.CLAUDE_FLAT_AGENT.name, True),
    Companion(
        "codex",
        agents.CODEX,
        str(agents.CODEX_MAIN.relative_to(agents.CODEX)),
        str(agents.CODEX_CHILD.relative_to(agents.CODEX)),
        True,
    ),
]


@pytest.mark.parametrize("case", COMPANIONS, ids=[f"{c.fmt}:{Path(c.companion).name}" for c in COMPANIONS])
@given(data=st.data())
def test_a_hostile_companion_file_never_costs_the_session_it_belongs_to(case, data, tmp_path_factory):
    folder = tmp_path_factory.mktemp("companion") / "f"
    shutil.copytree(case.folder, folder)
    main, companion = folder / case.main, folder / case.companion
    before = baseline(Sample(case.fmt, str(case.folder / case.main), True), str(case.folder / case.main))
    text = companion.read_text(encoding="utf-8")
    recs = [json.loads(line) for line in text.splitlines() if line.strip()] if case.lines else [json.loads(text)]
    target = data.draw(st.integers(0, len(recs) - 1), label="record")
    texts = [dumps(r) for r in recs]
    how = data.draw(st.sampled_from(["value", "bytes", "garbage"]), label="how")
    if how == "garbage":  # the whole file replaced: truncated, binary, empty
        blobs = [data.draw(st.one_of(st.binary(max_size=40), RAW_BYTES), label="file")]
    else:
        blobs = [t.encode("utf-8", "surrogatepass") for t in texts]
        if how == "bytes":
            at = data.draw(st.integers(0, len(blobs[target])), label="at")
            blobs[target] = blobs[target][:at] + data.draw(RAW_BYTES, label="bytes") + blobs[target][at:]
        else:
            where = data.draw(st.sampled_from(paths(recs[target])), label="path")
            new = replaced(recs[target], where, data.draw(HOSTILE, label="value"))
            blobs[target] = dumps(new).encode("utf-8", "surrogatepass")
    companion.write_bytes(b"\n".join(blobs) + (b"\n" if case.lines else b""))

    opened = open_all(str(main), case.fmt)
    assert opened is not None, "a good session file became unusable through its companion"
    store, problems = opened
    assert not [p for p in problems if "could not be read" in p], problems
    assert before <= set(store.run_ids())  # the session itself is there, whatever its subagent's files hold
    check_readable(store)
    open_all(str(main), None)  # detection, on the same files


# -- serve: hostile OTLP/HTTP requests to a real `tracetui serve` ------------------------------------


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    from serving import serve

    server = serve(str(tmp_path_factory.mktemp("serve") / "spans.db"))
    yield server
    code, out = server.stop()
    assert code == 0, out


_TRACE_NUMBERS = iter(range(1, 10**6))


def _otlp(trace: str) -> dict:
    from serving import envelope, span

    root = span(trace, "a1" * 8, name="invoke_agent", attrs={"gen_ai.agent.name": "[b]agent", "gen_ai.system": "x"})
    child = span(trace, "a2" * 8, "a1" * 8, name="chat", attrs={"gen_ai.request.model": "gpt-4o-mini"})
    child["status"] = {"code": 2, "message": "[/] broke"}
    return json.loads(envelope(root, child))


def _as_proto_json(record: dict) -> dict:
    """OTLP JSON (ids as hex) as protobuf's JSON mapping has it (bytes as base64)."""
    import base64

    out = json.loads(json.dumps(record))
    for resource in out["resourceSpans"]:
        for scope in resource["scopeSpans"]:
            for span in scope["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    return out


@given(data=st.data())
def test_a_hostile_request_to_serve_is_answered_and_costs_nothing_else(receiver, data):
    import gzip

    import requests
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    n = next(_TRACE_NUMBERS)
    hostile_trace, good_trace = f"{2 * n:032x}", f"{2 * n + 1:032x}"
    record = _otlp(hostile_trace)
    how = data.draw(st.sampled_from(["value", "bytes", "protobuf", "gzip"]), label="how")
    headers = {"Content-Type": "application/json"}
    if how == "protobuf":
        body = json_format.ParseDict(_as_proto_json(record), ExportTraceServiceRequest()).SerializeToString()
        at = data.draw(st.integers(0, len(body)), label="at")
        cut = data.draw(st.integers(0, 8), label="cut")
        body = body[:at] + data.draw(st.binary(max_size=8), label="bytes") + body[at + cut :]
        headers = {"Content-Type": "application/x-protobuf"}
    else:
        where = data.draw(st.sampled_from(paths(record)), label="path")
        body = dumps(replaced(record, where, data.draw(HOSTILE, label="value"))).encode("utf-8", "surrogatepass")
        if how == "bytes":
            at = data.draw(st.integers(0, len(body)), label="at")
            body = body[:at] + data.draw(RAW_BYTES, label="bytes") + body[at:]
        if how == "gzip":
            body = gzip.compress(body)[: data.draw(st.sampled_from([None, 20]), label="gzip cut")]
            headers["Content-Encoding"] = "gzip"
    url = f"{receiver.url}/v1/traces"
    answer = requests.post(url, data=body, headers=headers, timeout=60)
    assert answer.status_code in (200, 400, 413), (answer.status_code, answer.text)
    if answer.headers.get("Content-Type", "").startswith("application/json"):
        assert RAW_CONTROL.search(answer.text) is None  # JSON as it is: controls escaped
    # The receiver is still there, and the next good request is stored whole.
    good = json.dumps(_otlp(good_trace)).encode()
    assert requests.post(url, data=good, headers={"Content-Type": "application/json"}, timeout=60).status_code == 200
    store = open_store(receiver.db)
    assert good_trace in store.run_ids()
    assert store.get_run(good_trace).step_count == 2
    check_readable(store)
    store.close()
