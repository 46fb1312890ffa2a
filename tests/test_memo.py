"""What an open of a database read in place keeps for the next one (memo.py), and the first page the
viewer reads while it starts (first_page.py): same answers as reading afresh, never stale, private."""

from __future__ import annotations

import os
import sqlite3
import stat

import orjson
import pytest
from builders import run, write_agent_traces, write_jsonl

from tracetui import sources
from tracetui.errors import NotFound, UnusableInput
from tracetui.first_page import FirstPage, read_top
from tracetui.loading import cache_dir, detect, prepare
from tracetui.store import RunFilter


def traces(path, n: int = 5, numeric: int | None = None) -> str:
    """n runs t0..t{n-1}, a minute apart; run `numeric`'s start is epoch seconds (a mixed column)."""
    rows = []
    for i in range(n):
        started = f"2026-03-01T10:{i:02d}:00.000Z" if i != numeric else 1772359200 + 60 * i
        rows.append({"id": f"t{i}", "agent_id": "a", "started_at": started, "final_status": "completed"})
    return write_agent_traces(path, rows)


def add_row(path, run_id: str, started: str) -> None:
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO agent_traces (id, started_at) VALUES (?, ?)", (run_id, started))
    conn.commit()
    conn.close()


def memo_files() -> list[str]:
    directory = cache_dir()
    return sorted(f for f in os.listdir(directory) if f.startswith("memo-")) if os.path.isdir(directory) else []


def first_page_ids(path: str, **kwargs) -> tuple[int, list[str]]:
    opening = prepare(path, **kwargs)
    page = FirstPage(opening)
    page.check()
    count, runs = page.take(RunFilter(), "started", True)
    return count, [r.id for r in runs]


def test_a_second_open_shows_the_same_first_page_from_the_memo(tmp_path):
    path = traces(tmp_path / "a.db", numeric=2)
    first = first_page_ids(path)
    assert first == (5, ["t4", "t3", "t2", "t1", "t0"])
    (name,) = memo_files()
    memo = orjson.loads(open(os.path.join(cache_dir(), name), "rb").read())
    assert memo["sort_keys"] == {"started": "started_cheap"}  # the mixed column was seen
    assert memo["top"] == {"count": 5, "ids": ["t4", "t3", "t2", "t1", "t0"]}
    assert first_page_ids(path) == first
    assert memo_files() == [name]  # one memo per database, rewritten in place


def test_the_memo_is_what_a_second_open_reads(tmp_path):
    path = traces(tmp_path / "a.db")
    first_page_ids(path)
    (name,) = memo_files()
    memo_path = os.path.join(cache_dir(), name)
    memo = orjson.loads(open(memo_path, "rb").read())
    memo["top"] = {"count": 5, "ids": ["t1", "t0"]}  # only a memo can say this
    open(memo_path, "wb").write(orjson.dumps(memo))
    assert first_page_ids(path) == (5, ["t1", "t0"])


def test_a_changed_database_is_read_afresh(tmp_path):
    path = traces(tmp_path / "a.db")
    first_page_ids(path)
    add_row(path, "newest", "2026-03-01T11:00:00.000Z")
    assert first_page_ids(path) == (6, ["newest", "t4", "t3", "t2", "t1", "t0"])
    add_row(path, "numeric", 1772380000)  # the sort-key choice changes with the content too
    opening = prepare(path)
    opening.connect().close()
    assert opening.memo is not None and opening.memo.sort_keys() == {"started": "started_cheap"}


def test_a_write_still_in_the_wal_file_is_a_change(tmp_path):
    path = traces(tmp_path / "a.db")
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    assert first_page_ids(path)[0] == 5
    writer.execute("INSERT INTO agent_traces (id, started_at) VALUES ('late', '2026-03-02T00:00:00.000Z')")
    writer.commit()
    try:
        assert first_page_ids(path) == (6, ["late", "t4", "t3", "t2", "t1", "t0"])
    finally:
        writer.close()


def test_the_memo_is_private_and_a_broken_one_is_ignored(tmp_path):
    path = traces(tmp_path / "a.db")
    first_page_ids(path)
    (name,) = memo_files()
    memo_path = os.path.join(cache_dir(), name)
    assert stat.S_IMODE(os.stat(memo_path).st_mode) == 0o600
    open(memo_path, "wb").write(b'{"fingerprint": 3, "top": [')
    assert first_page_ids(path) == (5, ["t4", "t3", "t2", "t1", "t0"])


def test_no_memo_without_the_cache(tmp_path, monkeypatch):
    path = traces(tmp_path / "a.db")
    assert first_page_ids(path, use_cache=False) == (5, ["t4", "t3", "t2", "t1", "t0"])
    assert memo_files() == []
    monkeypatch.setenv("XDG_CACHE_HOME", str(path))  # a file, not a directory: unusable, and no warning
    opening = prepare(path)
    assert opening.memo is None and opening.notice is None
    assert first_page_ids(path) == (5, ["t4", "t3", "t2", "t1", "t0"])


def test_the_first_page_is_given_once_and_only_for_the_default_query(tmp_path):
    page = FirstPage(prepare(traces(tmp_path / "a.db")))
    page.check()
    assert page.take(RunFilter(status="failed"), "started", True) is None
    assert page.take(RunFilter(), "started", False) is None
    assert page.take(RunFilter(), "started", True) is not None
    assert page.take(RunFilter(), "started", True) is None


def test_the_first_page_reports_what_opening_the_store_raised(tmp_path):
    path = traces(tmp_path / "a.db")
    with pytest.raises(NotFound, match="nope"):
        FirstPage(prepare(path), run_id="nope").check()
    opening = prepare(path)
    os.remove(path)
    open(path, "wb").write(b"SQLite format 3\x00" + b"\xff" * 200)  # unreadable now
    with pytest.raises(UnusableInput):
        FirstPage(opening).check()


def test_read_top_without_a_memo_matches_with_one(tmp_path):
    path = traces(tmp_path / "a.db", n=7, numeric=3)
    opening = prepare(path)
    store = opening.connect()
    try:
        fresh = read_top(store, RunFilter(), "started", True)
        remembered = read_top(store, RunFilter(), "started", True, memo=opening.memo)
        again = read_top(store, RunFilter(), "started", True, memo=opening.memo)
    finally:
        store.close()
    assert [r.id for r in fresh[1]] == [r.id for r in remembered[1]] == [r.id for r in again[1]]
    assert fresh[0] == remembered[0] == again[0] == 7


# -- the format a file was detected as (memo.Detected) --------------------------------------------


def detected_memos() -> list[str]:
    directory = cache_dir()
    return sorted(f for f in os.listdir(directory) if f.startswith("detected-")) if os.path.isdir(directory) else []


def test_a_file_is_detected_from_the_memo_next_time_with_the_same_answer(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    os.makedirs(cache_dir())
    module, head = detect(path)
    (name,) = detected_memos()
    assert orjson.loads(open(os.path.join(cache_dir(), name), "rb").read())["format"] == module.NAME
    monkeypatch.setattr(sources, "formats", lambda: pytest.fail("every format was asked again"))
    again, head_again = detect(path)
    assert again is module and head_again.data == head.data
    assert prepare(path).format == module.NAME


def test_a_file_whose_content_changed_is_detected_afresh(tmp_path):
    path = tmp_path / "runs"
    write_jsonl(path, [run("r1")])
    os.makedirs(cache_dir())
    jsonl = sources.detect(str(path))[0].NAME
    assert detect(str(path))[0].NAME == jsonl
    os.remove(path)
    traces(path)  # now a SQLite database, at the same path
    assert detect(str(path))[0].NAME == sources.detect(str(path))[0].NAME != jsonl


def test_a_memo_naming_a_format_that_no_longer_claims_the_file_is_not_believed(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    os.makedirs(cache_dir())
    detect(path)
    (name,) = detected_memos()
    memo_path = os.path.join(cache_dir(), name)
    memo = orjson.loads(open(memo_path, "rb").read())
    for wrong in ("agent-traces", "no-such-format"):
        with open(memo_path, "wb") as f:
            f.write(orjson.dumps({**memo, "format": wrong}))
        assert detect(path)[0].NAME == memo["format"]


def test_no_memo_is_kept_when_plugins_may_register_formats_or_the_format_is_forced(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    os.makedirs(cache_dir())
    detect(path, sources.detect(path)[0].NAME)
    detect(path, remember=False)
    monkeypatch.setattr(sources, "_may_have_plugins", lambda: True)
    detect(path)
    assert detected_memos() == []


def test_detecting_a_file_never_makes_the_cache_directory(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1")])
    detect(path)
    assert not os.path.exists(cache_dir())
