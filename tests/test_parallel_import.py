"""Big JSONL files are imported by worker processes; the store must be the one a serial import makes."""

import dataclasses
import os

import pytest
from builders import run, step, write_jsonl

from tracetui import parallel
from tracetui.loading import prepare
from tracetui.store import StoreWriter


def stored(opening):
    store = opening.connect()
    runs = [dataclasses.asdict(store.get_run(r.id)) | {"steps": None} for r in store.list_runs(sort="id", desc=False)]
    steps = {
        r["id"]: [dataclasses.asdict(s) | {"children": None} for s in store.steps(r["id"], payloads=True)] for r in runs
    }
    problems = [(p.line, p.message) for p in store.problems()]
    return runs, steps, problems


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
    serial = prepare(big_file, output=str(tmp_path / "serial.db"))
    monkeypatch.setattr(parallel, "MIN_SIZE", 1 << 40)
    serial.run_import()
    monkeypatch.setattr(parallel, "MIN_SIZE", 0)
    monkeypatch.setattr(parallel, "BLOCK", 4096)  # many blocks: ids repeat across them
    monkeypatch.setattr(parallel, "FIRST_BLOCK", 1000)
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    fast = prepare(big_file, output=str(tmp_path / "parallel.db"))
    assert parallel.usable(fast.module, fast.head, 10**9)
    fast.run_import()
    expected = stored(serial)
    assert stored(fast) == expected
    runs, _, problems = expected
    assert len(runs) == 401 and any(r["id"] == "r3~2" for r in runs)
    assert [line for line, _ in problems] == [151, 402, 403]


def test_blocks_hold_whole_lines_and_count_them(tmp_path, monkeypatch):
    monkeypatch.setattr(parallel, "BLOCK", 10)
    monkeypatch.setattr(parallel, "FIRST_BLOCK", 10)
    path = tmp_path / "lines.jsonl"
    path.write_bytes(b"aaaa\nbbbbbbbbbbbbbbbbbbbb\ncc\nd")
    with open(path, "rb") as f:
        got = list(parallel.blocks(f))
    assert got == [(1, b"aaaa\n", False), (2, b"bbbbbbbbbbbbbbbbbbbb\ncc\n", False), (4, b"d", True)]


@pytest.mark.parametrize("where", ["__init__", "submit"])
def test_when_workers_cannot_start_the_import_runs_in_this_process(big_file, tmp_path, monkeypatch, where):
    from concurrent.futures import ProcessPoolExecutor

    def refuse(self, *args, **kwargs):
        raise ValueError("bad value(s) in fds_to_keep")  # what a viewer's captured stderr caused

    monkeypatch.setattr(ProcessPoolExecutor, where, refuse)
    monkeypatch.setattr(parallel, "MIN_SIZE", 0)
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    opening = prepare(big_file, output=str(tmp_path / "fallback.db"))
    assert opening.uses_workers
    assert opening.run_import() == 401
    runs, _, problems = stored(opening)
    assert [line for line, _ in problems] == [151, 402, 403]


def in_store_order(opening):
    return [row[0] for row in opening.connect().conn.execute("SELECT id FROM runs ORDER BY rowid")]


@pytest.fixture
def big_otlp_file(tmp_path):
    """The real OTLP fixtures, copied with fresh trace ids and shuffled so traces interleave across blocks."""
    import random
    import re

    frameworks = os.path.join(os.path.dirname(__file__), "fixtures", "frameworks")
    names = ("pydantic_ai_otlp.jsonl", "pydantic_ai_openinference.jsonl", "langgraph_openinference.jsonl")
    lines = [line for name in names for line in open(os.path.join(frameworks, name), "rb").read().splitlines()]
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


def test_parallel_otlp_import_gives_the_serial_store(big_otlp_file, tmp_path, monkeypatch):
    serial = prepare(big_otlp_file, output=str(tmp_path / "serial.db"))
    assert serial.format == "otlp"
    monkeypatch.setattr(parallel, "MIN_SIZE", 1 << 40)
    serial.run_import()
    monkeypatch.setattr(parallel, "MIN_SIZE", 0)
    monkeypatch.setattr(parallel, "BLOCK", 100_000)  # a few traces per worker's share
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    merges = 0
    merge = StoreWriter.merge

    def counted_merge(self, block_path):
        nonlocal merges
        merges += 1
        merge(self, block_path)

    monkeypatch.setattr(StoreWriter, "merge", counted_merge)
    fast = prepare(big_otlp_file, output=str(tmp_path / "parallel.db"))
    assert fast.uses_workers
    fast.run_import()
    expected = stored(serial)
    assert stored(fast) == expected
    assert in_store_order(fast) == in_store_order(serial)
    runs, steps, problems = expected
    assert len(runs) == 12 * 13 and len({r["id"] for r in runs}) == len(runs)
    assert sum(len(s) for s in steps.values()) > 1000
    assert [line for line, _ in problems] == [41, 42, 363]
    assert merges > 3  # the traces were shared among the workers
