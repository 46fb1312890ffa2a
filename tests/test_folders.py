"""Opening a folder: every trace file under it as one run list, its store kept per file, and brought up
to date by reading only what is new, changed or appended (folders.py, folder_import.py, file_import.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3

import pytest
from agents import AGENTS, CLAUDE, CODEX_CHILD, CODEX_MAIN, claude
from builders import run, step, write_jsonl
from click.testing import CliRunner

from tracetui import folders
from tracetui.cli import main
from tracetui.loading import prepare
from tracetui.store.files import COMPANION, OTHER, RUNS

SESSIONS = {f"5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e0{n}" for n in range(1, 5)}


def invoke(*args, code: int = 0):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == code, result.output
    return result


def listed(path, *args) -> list[dict]:
    return json.loads(invoke("list", path, "--json", *args).stdout)


def opened(path, **kwargs):
    opening = prepare(str(path), **kwargs)
    opening.run_import()
    return opening


def files_table(opening) -> dict[str, str]:
    conn = sqlite3.connect(opening.db_path)
    try:
        return dict(conn.execute("SELECT path, role FROM files"))
    finally:
        conn.close()


def rowids(opening) -> dict[str, int]:
    conn = sqlite3.connect(opening.db_path)
    try:
        return dict(conn.execute("SELECT id, rowid FROM runs"))
    finally:
        conn.close()


def fingerprint(folder) -> dict[str, tuple]:
    """Every file under a folder: its bytes' hash and its times (what reading must never change)."""
    out = {}
    for where, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(where, name)
            st = os.lstat(path)
            data = b"" if os.path.islink(path) else open(path, "rb").read()
            out[os.path.relpath(path, folder)] = (hashlib.sha256(data).hexdigest(), st.st_mtime_ns, st.st_mode)
    return out


@pytest.fixture
def project(tmp_path):
    """A copy of the Claude Code fixture project folder (its sessions, subagent files, meta files)."""
    return shutil.copytree(CLAUDE, tmp_path / "projects" / "-home-dev-shop")


@pytest.fixture
def every_format(tmp_path):
    """A copy of every agent fixture (sessions, ATIF, the Phoenix, MLflow and OpenCode databases,
    generator scripts and a README) as one folder."""
    return shutil.copytree(AGENTS, tmp_path / "agents")


def append_line(path, record: dict) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


# -- one run list ---------------------------------------------------------------------------------


def test_a_claude_project_folder_is_its_sessions_with_subagent_files_inside_them(project):
    rows = listed(project)
    assert {r["id"] for r in rows} == SESSIONS  # the agent-* files are inside the sessions that started them
    by_id = {r["id"]: r for r in rows}
    first = by_id["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01"]
    assert first["file"] == "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01.jsonl"
    assert (first["tokens_in"], first["tokens_out"]) == (10155, 503)  # subagent included (fixture README)
    roles = files_table(prepare(str(project)))
    assert roles["agent-5e6f7a8b.jsonl"] == COMPANION
    assert roles["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01/subagents/agent-a9f3c2e1b0d4c5e6f.jsonl"] == COMPANION
    assert roles["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01/subagents/agent-a9f3c2e1b0d4c5e6f.meta.json"] == COMPANION


def test_every_format_in_one_folder_is_one_run_list_and_nothing_is_written_to_it(every_format):
    before = fingerprint(every_format)
    rows = listed(every_format)
    assert SESSIONS <= {r["id"] for r in rows}
    files = {r["file"].split("/")[0] for r in rows}
    assert files == {"claude", "codex", "gemini", "atif", "phoenix", "mlflow", "opencode"}
    assert "019b8a10-0000-7000-8000-000000000003" not in {r["id"] for r in rows}  # a Codex subagent rollout
    assert fingerprint(every_format) == before  # no byte, time or mode changed; no -wal or -shm left


def test_files_that_are_not_traces_are_one_warning(every_format):
    result = invoke("list", every_format)
    warning = next(line for line in result.stderr.splitlines() if "not read" in line)
    assert warning.endswith(
        "agents: 14 files are not read (not JSON, JSON Lines or SQLite: no trace format recognised):"
        " README.md, agent_fixture_io.py, make_atif.py, …"
    )


def test_show_compare_stats_and_export_read_a_folder(project, tmp_path):
    a, b = "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01", "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02"
    shown = json.loads(invoke("show", project, a, "--json").stdout)
    assert shown["first_failed_step"]["id"] == "toolu_bash1"
    compared = json.loads(invoke("compare", project, a, b, "--json").stdout)
    assert compared["a"]["id"] == a and compared["b"]["id"] == b
    stats = json.loads(invoke("stats", project, "--json").stdout)
    assert stats[0]["runs"] == 4
    out = tmp_path / "all.jsonl"
    invoke("export", project, "-o", out)
    assert len(out.read_text().splitlines()) == 4
    invoke("show", project, "no-such-run", code=1)


def test_list_narrows_by_file_project_and_model(every_format):
    assert {r["id"] for r in listed(every_format, "--file", "claude/")} == SESSIONS
    codex = listed(every_format, "--file", "codex", "--model", "gpt-5.1-codex")
    assert {r["id"] for r in codex} == {"019b8a10-0000-7000-8000-000000000001", "019b8a10-0000-7000-8000-000000000004"}
    assert all(r["agent"] == "shop" for r in listed(every_format, "--project", "/home/dev/shop"))
    assert listed(every_format, "--file", "no such file") == []
    text = invoke("list", every_format, "--file", "claude/").stdout
    assert "file" in text.splitlines()[0] and "-home-dev-shop/" in text


def test_the_same_run_id_in_two_files_is_kept_apart_and_keeps_its_id(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [run("run-1", step("s1"), agent="first")])
    write_jsonl(folder / "b.jsonl", [run("run-1", step("s1"), agent="second")])
    rows = {r["id"]: r for r in listed(folder)}
    assert set(rows) == {"run-1", "run-1~2"}
    kept_apart = rows["run-1~2"]["file"]
    # Reading either file again leaves both ids where they were.
    write_jsonl(folder / kept_apart, [run("run-1", step("s1"), step("s2"), agent="again")])
    rows2 = {r["id"]: r for r in listed(folder)}
    assert rows2["run-1~2"]["file"] == kept_apart and rows2["run-1~2"]["steps"] == 2
    shown = json.loads(invoke("show", folder, "run-1~2", "--json").stdout)
    assert shown["extra"]["original_id"] == "run-1"


def test_a_token_count_beyond_64_bits_in_a_folder_is_stored_as_a_float_and_reported(project, tmp_path):
    """The folder's writer stores what SQLite refuses as a single file's import does (a traceback before)."""
    folder = tmp_path / "one"
    folder.mkdir()
    session = folder / "session.jsonl"
    text = next(project.glob("agent-*.jsonl")).read_text()
    assert '"input_tokens":' in text
    session.write_text(re.sub(r'"input_tokens": ?\d+', '"input_tokens": 99999999999999999999999', text))
    result = invoke("list", folder, "--json")
    rows = {r["file"]: r for r in json.loads(result.stdout)}
    assert rows[session.name]["tokens_in"] > 2**63
    assert "beyond SQLite's integers" in result.stderr and session.name in result.stderr


# -- kept per file ----------------------------------------------------------------------------------


def test_an_unchanged_folder_opens_ready_and_reads_no_file(project, monkeypatch):
    opened(project)
    from tracetui import sources

    def no_reading(path):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(sources, "read_head", no_reading)
    again = prepare(str(project))
    assert again.ready
    assert {r.id for r in again.connect().list_runs()} == SESSIONS


def test_only_the_changed_file_is_read_again(project):
    first = opened(project)
    before = rowids(first)
    session = project / "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02.jsonl"
    lines = session.read_text().splitlines()
    last = json.loads(lines[-1])
    append_line(
        session, {**last, "uuid": "appended-1", "parentUuid": last["uuid"], "timestamp": "2025-07-01T15:00:00.000Z"}
    )
    again = prepare(str(project))
    assert not again.ready
    refresh = again.refresh()
    assert refresh.changed == ["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02"] and not refresh.added and not refresh.removed
    after = rowids(again)
    assert {k: v for k, v in after.items() if "5e02" not in k} == {k: v for k, v in before.items() if "5e02" not in k}


def test_new_and_deleted_files_are_added_and_removed(project, tmp_path):
    opened(project)
    os.remove(project / "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e04.jsonl")
    write_jsonl(project / "export.jsonl", [run("exported-1", step("s"))])
    refresh = prepare(str(project)).refresh()
    assert refresh.added == ["exported-1"]
    assert refresh.removed == ["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e04"]
    assert refresh.gone == ["5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e04.jsonl"]


def test_a_same_size_rewrite_with_the_old_times_is_read_again(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    path = folder / "a.jsonl"
    write_jsonl(path, [run("run-a", step("s1"))])
    opened(folder)
    st = os.stat(path)
    path.write_text(path.read_text().replace("run-a", "run-b"))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [r["id"] for r in listed(folder)] == ["run-b"]


def test_a_file_with_one_run_per_line_that_grew_is_read_from_where_it_ended(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    path = folder / "runs.jsonl"
    write_jsonl(path, [run(f"run-{i}", step("s")) for i in range(3)])
    first = opened(folder)
    before = rowids(first)
    with open(path, "ab") as f:
        f.write(open(write_jsonl(tmp_path / "more.jsonl", [run("run-3", step("s"))]), "rb").read())
    refresh = prepare(str(folder)).refresh()
    assert refresh.appended == ["runs.jsonl"] and refresh.added == ["run-3"] and not refresh.changed
    after = rowids(first)
    assert {k: after[k] for k in before} == before  # the runs read before were not written again
    # and again, from where that read ended
    with open(path, "ab") as f:
        f.write(open(write_jsonl(tmp_path / "more2.jsonl", [run("run-4", step("s"))]), "rb").read())
    assert prepare(str(folder)).refresh().added == ["run-4"]
    assert len(listed(folder)) == 5


def test_a_line_cut_off_mid_write_is_read_once_it_is_whole(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    path = folder / "runs.jsonl"
    write_jsonl(path, [run("run-0", step("s"))])
    whole = open(write_jsonl(tmp_path / "one.jsonl", [run("run-1", step("s"))]), "rb").read()
    with open(path, "ab") as f:
        f.write(whole[:20])
    result = invoke("list", folder)
    assert "run-1" not in result.stdout and "truncated" in result.stderr
    with open(path, "ab") as f:
        f.write(whole[20:])
    refresh = prepare(str(folder)).refresh()
    assert refresh.added == ["run-1"]
    result = invoke("list", folder)
    assert "run-1" in result.stdout and "truncated" not in result.stderr


def test_a_subagent_file_that_appears_later_goes_inside_its_session(tmp_path):
    project = tmp_path / "p"
    project.mkdir()
    shutil.copy(claude(1), project)
    rows = listed(project)
    alone = rows[0]["tokens_in"]  # the main file, and what its progress lines tell of the subagent
    assert len(rows) == 1 and alone < 10155
    shutil.copytree(CLAUDE / "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01", project / "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01")
    session = project / claude(1).name
    os.utime(session)  # the session is written again when its subagent ends
    rows = listed(project)
    assert len(rows) == 1 and rows[0]["tokens_in"] == 10155
    assert (
        files_table(prepare(str(project)))[
            "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e01/subagents/agent-a9f3c2e1b0d4c5e6f.jsonl"
        ]
        == COMPANION
    )


def test_a_companion_read_before_its_owner_is_taken_out_again(tmp_path):
    folder = tmp_path / "sessions"
    shutil.copytree(CODEX_MAIN.parent, folder / "2026" / "01" / "03")
    child = folder / "2026" / "01" / "03" / CODEX_CHILD.name
    os.utime(child, (2_000_000_000, 2_000_000_000))  # the newest: met before the rollout that owns it
    ids = {r["id"] for r in listed(folder)}
    assert "019b8a10-0000-7000-8000-000000000003" not in ids
    assert "019b8a10-0000-7000-8000-000000000001" in ids


def test_worker_processes_give_the_store_a_serial_read_gives(every_format, monkeypatch):
    serial = {(r["id"], r["steps"], r["tokens_in"]) for r in listed(every_format)}
    monkeypatch.setenv("XDG_CACHE_HOME", str(every_format.parent / "cache2"))
    monkeypatch.setenv("TRACETUI_PARALLEL_MIN_BYTES", "1")
    monkeypatch.setenv("TRACETUI_WORKERS", "2")
    opening = prepare(str(every_format))
    assert opening.uses_workers
    opening.run_import()
    parallel = {(r.id, r.step_count, r.total("tokens_in")) for r in opening.connect().list_runs()}
    assert parallel == serial


# -- bad input --------------------------------------------------------------------------------------


def test_unreadable_files_links_and_loops_are_warnings_and_the_rest_is_read(project, monkeypatch):
    (project / "loop").symlink_to(project)  # a folder linking back to itself
    (project / "a").symlink_to(project / "b")
    (project / "b").symlink_to(project / "a")  # links pointing at each other
    (project / "gone").symlink_to(project / "nowhere")
    (project / "notes.txt").write_text("not a trace")
    (project / "broken.json").write_text('{"hello": "world"}')
    secret = project / "secret.jsonl"
    secret.write_text('{"type": "user"}\n')
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(secret) else real_access(p, mode))
    before = fingerprint(project)
    result = invoke("list", project)
    assert all(session in result.stdout for session in SESSIONS)
    warnings = result.stderr
    assert "Traceback" not in warnings
    assert "loop: a symlink loop (it leads back to a folder above it)" in warnings
    assert "a: a symlink loop" in warnings and "gone: a broken symlink" in warnings
    assert "secret.jsonl: permission denied" in warnings
    assert "notes.txt" in warnings and "broken.json" in warnings
    assert fingerprint(project) == before


def test_a_folder_without_traces_exits_2(tmp_path):
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "notes.txt").write_text("hello")
    result = invoke("list", tmp_path / "f", code=2)
    assert "no trace files in this folder" in result.stderr
    assert invoke("list", tmp_path / "f", code=2).stderr == result.stderr  # the same when read from the store


def test_a_file_that_turns_into_junk_loses_its_runs_and_says_why(tmp_path):
    folder = tmp_path / "f"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [run("run-a", step("s"))])
    write_jsonl(folder / "b.jsonl", [run("run-b", step("s"))])
    opened(folder)
    (folder / "a.jsonl").write_text("this is not JSON any more\n")
    result = invoke("list", folder)
    assert "run-a" not in result.stdout and "run-b" in result.stdout
    assert "a.jsonl" in result.stderr
    assert files_table(prepare(str(folder)))["a.jsonl"] == OTHER


def test_the_folders_own_store_is_never_read_as_a_trace(tmp_path, monkeypatch):
    folder = tmp_path / "f"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [run("run-a", step("s"))])
    monkeypatch.setenv("XDG_CACHE_HOME", str(folder / "cache"))
    assert [r["id"] for r in listed(folder)] == ["run-a"]
    assert [r["id"] for r in listed(folder)] == ["run-a"]
    out = folder / "all.db"
    invoke("import", folder, "-o", out)
    assert [r["id"] for r in listed(out)] == ["run-a"]


def test_walk_lists_each_file_once_and_skips_hidden_and_side_files(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.jsonl").write_text("{}\n")
    (tmp_path / "link").symlink_to(tmp_path / "d")  # the same folder twice
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "y.jsonl").write_text("{}\n")
    (tmp_path / "db.sqlite-wal").write_text("x")
    (tmp_path / "empty.jsonl").write_text("")
    listing = folders.walk(str(tmp_path))
    assert list(listing.files) == ["d/x.jsonl"] or list(listing.files) == ["link/x.jsonl"]
    assert listing.problems == []


def test_roles_of_a_mixed_folder(every_format):
    roles = files_table(opened(every_format))
    assert roles["phoenix/phoenix.db"] == RUNS and roles["atif/trajectory.json"] == RUNS
    assert roles["README.md"] == OTHER
    assert roles[os.path.relpath(CODEX_CHILD, AGENTS)] == COMPANION


def test_a_database_in_the_folder_is_read_again_when_its_wal_changes(tmp_path):
    from agents import PHOENIX

    folder = tmp_path / "f"
    (folder / "phoenix").mkdir(parents=True)
    db = folder / "phoenix" / "phoenix.db"
    shutil.copy(PHOENIX, db)
    before = {r["id"] for r in listed(folder)}
    assert prepare(str(folder)).ready
    (folder / "phoenix" / "phoenix.db-wal").write_bytes(b"")  # a program opened it to write
    again = prepare(str(folder))
    assert not again.ready
    again.run_import()
    assert {r.id for r in again.connect().list_runs()} == before
    os.remove(folder / "phoenix" / "phoenix.db-wal")


# -- a followed folder: only the paths a watcher names are looked at --------------------------------


def test_a_refresh_told_which_paths_changed_stats_only_those(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    a = write_jsonl(folder / "a.jsonl", [run("a1", step("s"))])
    b = write_jsonl(folder / "b.jsonl", [run("b1", step("s"))])
    opening = prepare(str(folder))
    opening.run_import()
    assert not opening.refresh(changed=None)
    write_jsonl(a, [run("a1", step("s")), run("a2", step("s"))])
    write_jsonl(b, [run("b1", step("s")), run("b2", step("s"))])
    assert not opening.refresh(changed=set())  # nothing heard: nothing looked at
    assert opening.refresh(changed={str(a)}).added == ["a2"]  # b changed too, but no one said so
    assert opening.refresh(changed=None).added == ["b2"]  # a walk finds it


def test_a_folder_named_by_a_watcher_is_walked_again(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [run("a1", step("s"))])
    opening = prepare(str(folder))
    opening.run_import()
    opening.refresh()
    (folder / "later").mkdir()
    write_jsonl(folder / "later" / "c.jsonl", [run("c1", step("s"))])
    write_jsonl(folder / ".hidden.jsonl", [run("h1", step("s"))])
    assert opening.refresh(changed={str(folder / ".hidden.jsonl")}) == opening.refresh(changed=set())
    assert opening.refresh(changed={str(folder / "later")}).added == ["c1"]
    shutil.rmtree(folder / "later")
    assert opening.refresh(changed={str(folder / "later")}).removed == ["c1"]


def test_relisted_updates_a_listing_from_the_paths_named(tmp_path):
    (tmp_path / "a.jsonl").write_text("{}\n")
    (tmp_path / "b.jsonl").write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.jsonl").write_text("{}\n")
    listing = folders.walk(str(tmp_path))
    (tmp_path / "a.jsonl").write_text("{}\n{}\n")
    os.remove(tmp_path / "b.jsonl")
    (tmp_path / "d.jsonl").write_text("{}\n")
    (tmp_path / "e.jsonl-wal").write_text("x")
    names = {str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "d.jsonl", "e.jsonl-wal")}
    after = folders.relisted(listing, names)
    assert after is not None
    assert sorted(after.files) == ["a.jsonl", "d.jsonl", "sub/c.jsonl"]
    assert after.files["a.jsonl"].st_size == 6
    assert folders.relisted(listing, {str(tmp_path / "sub")}) is None  # a folder: walk it again
    shutil.rmtree(tmp_path / "sub")
    assert folders.relisted(listing, {str(tmp_path / "sub")}) is None  # a folder that went
    assert folders.relisted(listing, {str(tmp_path.parent / "elsewhere")}) is None
