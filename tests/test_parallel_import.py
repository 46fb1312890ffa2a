"""Big files are imported by worker processes; the store must be the one a serial import makes.

The size threshold and the share of each worker are lowered through the environment
(TRACETUI_PARALLEL_MIN_BYTES, TRACETUI_PARALLEL_BLOCK_BYTES), as a user could, so the real
files of every format with a parallel-import hook go through the real worker processes.
"""

import dataclasses
import io
import os
import random
import re
import stat

import orjson
import pytest
from builders import run, step, write_jsonl
from export_records import plain_run
from frameworks import fixture

from tracetui import parallel
from tracetui.loading import prepare
from tracetui.store import StoreWriter

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sample_traces")


def stored(opening):
    store = opening.connect()
    runs = [dataclasses.asdict(store.get_run(r.id)) | {"steps": None} for r in store.list_runs(sort="id", desc=False)]
    steps = {
        r["id"]: [dataclasses.asdict(s) | {"children": None} for s in store.steps(r["id"], payloads=True)] for r in runs
    }
    problems = [(p.line, p.message) for p in store.problems()]
    return runs, steps, problems


def in_store_order(opening):
    return [row[0] for row in opening.connect().conn.execute("SELECT id FROM runs ORDER BY rowid")]


@pytest.fixture
def merges(monkeypatch):
    """How many worker shares were merged into the store (the real merge, counted)."""
    count = [0]
    merge = StoreWriter.merge

    def counted_merge(self, block_path):
        count[0] += 1
        merge(self, block_path)

    monkeypatch.setattr(StoreWriter, "merge", counted_merge)
    return count


def imported(path, out, monkeypatch, *, workers: int, share: int | None = None):
    """The store tracetui makes of path with this many worker processes (1: read in this process)."""
    monkeypatch.setenv("TRACETUI_WORKERS", str(workers))
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "0")
    if share is not None:
        monkeypatch.setenv("TRACETUI_PARALLEL_BLOCK_BYTES", str(share))
    opening = prepare(str(path), output=str(out))
    assert opening.uses_workers == (workers > 1)
    opening.run_import()
    return opening


# -- one run per line -----------------------------------------------------------------------------


@pytest.fixture
def big_file(tmp_path):
    runs = [
        run(f"r{i}", step("a", tokens_in=i), step("b", "a", status="failed" if i % 7 == 0 else "completed"))
        for i in range(400)
    ]
    runs.insert(150, run("r3", agent="again"))  # a repeated id, blocks after the first one
    path = write_jsonl(tmp_path / "big.jsonl", runs)
    with open(path, "ab") as f:
        f.write(b"not json\n")
        f.write(b'{"tracetui": 1, "run": {"id": "r-last", "ste')  # cut off
    return path


def test_parallel_import_gives_the_serial_store(big_file, tmp_path, monkeypatch):
    serial = imported(big_file, tmp_path / "serial.db", monkeypatch, workers=1)
    fast = imported(big_file, tmp_path / "parallel.db", monkeypatch, workers=2, share=4096)  # ids repeat across shares
    assert parallel.usable(fast.module, fast.head, 10**9)
    expected = stored(serial)
    assert stored(fast) == expected
    runs, _, problems = expected
    assert len(runs) == 401 and any(r["id"] == "r3~2" for r in runs)
    assert [line for line, _ in problems] == [151, 402, 403]


def test_an_id_repeated_in_many_blocks_gets_the_ids_a_serial_import_gives(tmp_path, monkeypatch, merges):
    """Blocks of different lengths each repeat `r1` (and a later block holds the worker's `r1~2`, the
    name an earlier block's repeat needs): the merge stopped ('UNIQUE constraint failed', 'database blk is
    locked') or gave ids other than a serial import's."""
    runs = [run("r1", step(f"s{i}", tokens_in=i)) for i in range(60)]
    runs[45:45] = [run("r1~30", step("x"))]  # an id of the source itself that a renamed repeat would take
    path = write_jsonl(tmp_path / "repeats.jsonl", runs)
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2, share=8000)
    assert merges[0] >= 3
    expected_runs, expected_steps, expected_problems = stored(serial)
    got_runs, got_steps, got_problems = stored(fast)
    assert (got_runs, got_steps) == (expected_runs, expected_steps)
    assert sorted(got_problems, key=str) == sorted(expected_problems, key=str)
    assert len(expected_runs) == 61 and len({r["id"] for r in expected_runs}) == 61
    assert all(len(steps) == 1 for steps in expected_steps.values())


def test_small_files_and_single_cores_are_read_in_this_process(big_file, monkeypatch):
    opening = prepare(big_file, output=os.devnull)
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", str(os.path.getsize(big_file) + 1))
    assert not opening.uses_workers
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", str(os.path.getsize(big_file)))
    assert opening.uses_workers
    monkeypatch.setenv("TRACETUI_WORKERS", "1")
    assert not opening.uses_workers


def test_blocks_hold_whole_lines_and_count_them(tmp_path):
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"aaaa\nbbbbbbbbbbbbbbbbbbbb\ncc\nd")
    with open(path, "rb") as f:
        got = [(first, bytes(block), at_end) for first, block, at_end in parallel.blocks(f, size=10, first_size=10)]
    assert got == [(1, b"aaaa\n", False), (2, b"bbbbbbbbbbbbbbbbbbbb\ncc\n", False), (4, b"d", True)]


def test_blocks_of_any_size_give_back_the_file_in_whole_lines_numbered():
    rnd = random.Random(5)
    for _ in range(300):
        lines = [b"x" * rnd.choice([0, 1, 3, 10, 50, 200]) for _ in range(rnd.randint(0, 40))]
        data = b"\n".join(lines) + (b"\n" if rnd.random() < 0.5 else b"")
        size, first_size = rnd.choice([1, 2, 5, 10, 64, 1000]), rnd.choice([None, 1, 3, 10])
        got = [
            (first, bytes(block), at_end)
            for first, block, at_end in parallel.blocks(io.BytesIO(data), size, first_size)
        ]
        assert b"".join(block for _, block, _ in got) == data
        for n, (first, block, at_end) in enumerate(got):
            assert first == 1 + b"".join(b for _, b, _ in got[:n]).count(b"\n")
            assert block and (block.endswith(b"\n") != at_end) and (not at_end or n == len(got) - 1)


@pytest.mark.parametrize("where", ["__init__", "submit"])
def test_when_workers_cannot_start_the_import_runs_in_this_process(big_file, tmp_path, monkeypatch, where):
    from concurrent.futures import ProcessPoolExecutor

    def refuse(self, *args, **kwargs):
        raise ValueError("bad value(s) in fds_to_keep")  # what a viewer's captured stderr caused

    monkeypatch.setattr(ProcessPoolExecutor, where, refuse)
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "0")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    opening = prepare(big_file, output=str(tmp_path / "fallback.db"))
    assert opening.uses_workers
    assert opening.run_import() == 401
    runs, _, problems = stored(opening)
    assert [line for line, _ in problems] == [151, 402, 403]


def test_a_cached_import_whose_workers_cannot_start_after_the_first_block_is_read_again_here(big_file, monkeypatch):
    from concurrent.futures import ProcessPoolExecutor

    def refuse(self, *args, **kwargs):
        raise OSError("no processes left")

    monkeypatch.setattr(ProcessPoolExecutor, "submit", refuse)  # the first block is stored before any submit
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "0")
    monkeypatch.setenv("TRACETUI_PARALLEL_BLOCK_BYTES", "4096")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    opening = prepare(big_file)
    assert opening.cached and opening.uses_workers
    assert opening.run_import() == 401
    runs, _, problems = stored(opening)
    assert len(runs) == 401 and [line for line, _ in problems] == [151, 402, 403]
    assert stat.S_IMODE(os.stat(opening.db_path).st_mode) == 0o600


# -- runs spread over many records (staged) ---------------------------------------------------------


@pytest.fixture
def big_otlp_file(tmp_path):
    """The real OTLP fixtures, copied with fresh trace ids and shuffled so traces interleave across blocks."""
    names = ("pydantic_ai_otlp.jsonl", "pydantic_ai_openinference.jsonl", "langgraph_openinference.jsonl")
    lines = [line for name in names for line in open(fixture(name), "rb").read().splitlines()]
    trace_id = re.compile(rb'"traceId":"([0-9a-f]{32})"')
    copies = [
        trace_id.sub(lambda m, c=copy: b'"traceId":"' + m.group(1)[:24] + b"%08x" % c + b'"', line)
        for copy in range(1, 13)
        for line in lines
    ]
    random.Random(5).shuffle(copies)
    copies.insert(40, b"not json")
    copies.insert(
        41, b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "nope", "spanId": "00f067aa0ba902b7"}]}]}]}'
    )
    path = tmp_path / "big_otlp.jsonl"
    path.write_bytes(b"\n".join(copies) + b'\n{"resourceSpans": [{"scopeSp')  # cut off
    return str(path)


def test_parallel_otlp_import_gives_the_serial_store(big_otlp_file, tmp_path, monkeypatch, merges):
    serial = imported(big_otlp_file, tmp_path / "serial.db", monkeypatch, workers=1)
    assert serial.format == "otlp"
    merges[0] = 0
    fast = imported(big_otlp_file, tmp_path / "parallel.db", monkeypatch, workers=2, share=100_000)
    expected = stored(serial)
    assert stored(fast) == expected
    assert in_store_order(fast) == in_store_order(serial)
    runs, steps, problems = expected
    assert len(runs) == 12 * 13 and len({r["id"] for r in runs}) == len(runs)
    assert sum(len(s) for s in steps.values()) > 1000
    assert [line for line, _ in problems] == [41, 42, 363]
    assert merges[0] > 3  # the traces were shared among the workers


ID_FIELDS = {"id", "trace_id", "traceId", "parent_id", "parent_run_id", "parentObservationId", "run_id", "step_id"}


def ids_in(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ID_FIELDS and isinstance(item, str) and item:
                found.add(item)
            ids_in(item, found)
    elif isinstance(value, list):
        for item in value:
            ids_in(item, found)
    return found


def replicated(source: str, copies: int, path) -> str:
    """A JSONL file made of `copies` copies of `source`, every id renamed per copy, lines shuffled.

    Runs then interleave across the workers' shares. Some records are left out (a run without its
    root, a trace without its trace record: problems the workers report), and a bad line, a record
    of no format and a cut-off last line are added: the problems must come out the same either way.
    """
    lines = open(source, "rb").read().splitlines()
    ids: set[str] = set()
    for line in lines:
        ids_in(orjson.loads(line), ids)
    any_id = re.compile("|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True)).encode())
    out = [
        any_id.sub(lambda m, c=copy: m.group(0) + b"-c%d" % c, line) for copy in range(1, copies + 1) for line in lines
    ]
    random.Random(copies).shuffle(out)
    del out[::29]
    out.insert(7, b"not json")
    out.insert(11, b'{"neither": "a run nor a span"}')
    path.write_bytes(b"\n".join(out) + b'\n{"id": "cut-off", "trace')
    return str(path)


STAGED = {
    "langsmith": (fixture("langsmith_runs.jsonl"), 12),
    "openai-agents": (fixture("openai_agents_traces.jsonl"), 30),
    "langfuse": (fixture("langfuse_observations.jsonl"), 30),
    "langfuse trace downloads": (fixture("langfuse_traces.jsonl"), 30),
    "events": (os.path.join(SAMPLES, "events.jsonl"), 40),
}


@pytest.mark.parametrize("name", sorted(STAGED))
def test_parallel_import_of_a_staged_format_gives_the_serial_store(name, tmp_path, monkeypatch, merges):
    source, copies = STAGED[name]
    path = replicated(source, copies, tmp_path / "big.jsonl")
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    assert serial.format == name.split()[0]
    merges[0] = 0
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2, share=os.path.getsize(path) // 8)
    expected = stored(serial)
    assert stored(fast) == expected
    assert in_store_order(fast) == in_store_order(serial)
    runs, steps, problems = expected
    originals = stored(imported(source, tmp_path / "one.db", monkeypatch, workers=1))[0]
    assert len(runs) > 0.9 * copies * len(originals) and len({r["id"] for r in runs}) == len(runs)
    assert [line for line, _ in problems if line in (8, 12)] == [8, 12]
    assert merges[0] > 3  # the runs were shared among the workers


def test_a_value_sqlite_refuses_in_a_workers_share_is_stored_as_a_serial_import_stores_it(tmp_path, monkeypatch):
    hostile = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile", "files")
    path = os.path.join(hostile, "tokens-beyond-64-bits.jsonl")  # the batch is written again row by row
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2)
    assert stored(fast) == stored(serial)
    assert any("beyond SQLite's integers" in message for _, message in stored(fast)[2])


def test_a_dense_export_gives_the_serial_store_and_a_bad_value_costs_its_line_only(tmp_path, monkeypatch, merges):
    # Plain runs (their step rows laid out by the format in the workers) and, in the middle, a line
    # whose step has a value the format repairs and one whose JSON is cut: reported by line, the rest loaded.
    rnd = random.Random(9)
    lines = [orjson.dumps(plain_run(i, rnd)) for i in range(600)]
    odd = plain_run(300, rnd) | {
        "steps": [
            {"agent_step_id": "a", "status": "completed", "started_at": "not a time"},
            {"agent_step_id": "b", "status": "completed", "credits_used": "lots"},
        ]
    }
    lines[300] = orjson.dumps(odd)
    lines[301] = lines[301][:40]
    path = tmp_path / "dense.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2, share=4000)
    assert stored(fast) == stored(serial)
    runs, steps, problems = stored(fast)
    assert len(runs) == 599 and "run-300" in {r["id"] for r in runs}
    assert {line for line, _ in problems} == {301, 302}
    assert [(s["id"], s["extra"]) for s in steps["run-300"]] == [("a", {"started_at": "not a time"})]
    assert any(line == 301 and "dropped step" in message and "credits_used" in message for line, message in problems)
    assert merges[0] > 3


def test_unpriced_model_calls_counted_by_the_workers_are_reported_as_a_serial_import_reports_them(
    tmp_path, monkeypatch, merges
):
    def calls(i):
        models = [("no-such-model-a", None), ("no-such-model-b", "acme"), ("no-such-model-a", "acme")]
        model, provider = models[i % 3]
        return [
            step("m", kind="llm", model=model, provider=provider, tokens_in=10 + i, tokens_out=2),
            step("g", kind="llm", model="gpt-4o", tokens_in=10, tokens_out=2),  # priced
        ]

    path = write_jsonl(tmp_path / "calls.jsonl", [run(f"r{i}", *calls(i)) for i in range(300)])
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    store_scans = []
    whole = StoreWriter.unpriced_calls

    def scanned(self):
        if not self.scratch:
            store_scans.append(self.path)
        return whole(self)

    monkeypatch.setattr(StoreWriter, "unpriced_calls", scanned)
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2, share=4096)
    assert stored(fast)[2] == stored(serial)[2]
    warned = [message for _, message in stored(fast)[2] if "not in the price table" in message]
    assert len(warned) == 3 and all(" 100 calls not priced" in message for message in warned)
    assert merges[0] > 3 and store_scans == []


@pytest.mark.parametrize("padded", [True, False])
def test_a_dense_export_in_run_id_order_or_not_gives_the_serial_store(tmp_path, monkeypatch, merges, padded):
    """Runs in id order keep the step indexes up while they are merged (`run-00010` after `run-00009`),
    runs out of order (`run-10` before `run-9`) have them built at the end: the same store either way."""
    kept = []
    in_order = StoreWriter._in_id_order

    def watched(self, first, last):
        in_order(self, first, last)
        kept.append(self._last_id is not None)

    monkeypatch.setattr(StoreWriter, "_in_id_order", watched)
    rnd = random.Random(3)
    lines = [orjson.dumps(plain_run(i, rnd) | {"run_id": f"run-{i:05d}" if padded else f"run-{i}"}) for i in range(400)]
    path = tmp_path / "dense.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2, share=20000)
    assert table_rows(fast) == table_rows(serial)
    assert merges[0] > 3
    if padded:
        assert len(kept) == merges[0] and all(kept)
    else:  # watched until the first block out of order, which drops them
        assert kept[0] and not kept[-1] and len(kept) < merges[0]


HOSTILE_LINES = sorted(
    name
    for name in os.listdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile", "files"))
    if name.endswith(".jsonl")
)


@pytest.mark.parametrize("name", HOSTILE_LINES)
def test_parallel_import_of_hostile_lines_gives_the_serial_store(name, tmp_path, monkeypatch):
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hostile", "files", name)
    serial = imported(path, tmp_path / "serial.db", monkeypatch, workers=1)
    fast = imported(path, tmp_path / "parallel.db", monkeypatch, workers=2, share=300)
    assert table_rows(fast) == table_rows(serial)


def table_rows(opening) -> dict[str, list]:
    """Every row of the store's tables, as stored (no Run or Step made of them: some nest 1,200 deep)."""
    conn = opening.connect().conn
    order = {"runs": "id", "steps": "run_id, ord", "problems": "n"}
    return {table: conn.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall() for table, key in order.items()}
