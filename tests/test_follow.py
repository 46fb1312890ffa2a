"""Following a source while another process writes it (follow.Follower, `tracetui list PATH --follow`):
appended lines are read alone, a half-written last line waits, truncation and rotation are read again
from the start with a notice, a deleted file keeps its runs with a notice, a folder picks up new files,
a database read in place is looked at again when it changes. Every wait is on a condition, never a
time: the writer is a separate process, the follower runs on its own thread as in the viewer."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import orjson
import pytest
from builders import run, step, write_jsonl, write_store

from tracetui.follow import Follower
from tracetui.live import Change
from tracetui.loading import prepare

TRACETUI = [sys.executable, "-m", "tracetui.cli"]
WAIT = 60.0  # seconds a condition may take on a loaded machine before the test gives up


def jsonl(tmp_path, *runs) -> bytes:
    """The lines `tracetui export` writes for these runs."""
    name = tmp_path / f"lines-{'-'.join(r.id for r in runs)}.tmp"
    return open(write_jsonl(name, list(runs)), "rb").read()


def append(path, data: bytes) -> None:
    """Append as a separate writer process does (an agent, a logger)."""
    code = "import sys; f = open(sys.argv[1], 'ab'); f.write(sys.stdin.buffer.read()); f.close()"
    subprocess.run([sys.executable, "-c", code, str(path)], input=data, check=True)


def imported(path):
    opening = prepare(str(path))
    opening.run_import()
    return opening


def ids(opening) -> list[str]:
    store = opening.connect()
    try:
        return sorted(store.run_ids())
    finally:
        store.close()


class Following:
    """A Follower running on its own thread; its changes are queued for the test to wait on."""

    def __init__(self, opening, *, watch: bool = True, poll: float = 0.2) -> None:
        self.follower = Follower(opening, watch=watch, poll=poll)
        self.changes: queue.Queue[Change] = queue.Queue()
        self.thread = threading.Thread(target=self.follower.run, args=(self.changes.put,), daemon=True)

    def __enter__(self) -> Following:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.follower.close()
        self.thread.join(WAIT)
        assert not self.thread.is_alive()

    def until(self, predicate, nudge=None) -> list[Change]:
        """Changes until one satisfies `predicate`; fails if none does within WAIT. nudge: called when
        nothing came for a while (a write made before the watcher was set up has no event to wake it)."""
        seen: list[Change] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                change = self.changes.get(timeout=2)
            except queue.Empty:
                if nudge is not None:
                    nudge()
                continue
            seen.append(change)
            if predicate(change):
                return seen
        raise AssertionError(f"no such change in {WAIT} s; saw {seen}")


def notices(changes: list[Change]) -> list[str]:
    return [line for c in changes if c.notice for line in c.notice.splitlines()]


@pytest.mark.parametrize("watch", [True, False], ids=["watchfiles", "polling"])
def test_appended_lines_are_read_as_they_are_written(tmp_path, watch):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    fillers = iter(range(1000))

    def nudge() -> None:
        append(path, jsonl(tmp_path, run(f"filler-{next(fillers)}", step("s"))))

    # Watching, the follower would look on its own only after an hour: the file system's events wake it.
    with Following(opening, watch=watch, poll=3600 if watch else 0.2) as following:
        append(path, jsonl(tmp_path, run("r2", step("s"), step("t"))))
        following.until(lambda c: "r2" in c.ids, nudge=nudge)
        append(path, jsonl(tmp_path, run("r3", step("s")), run("r4", step("s"))))
        following.until(lambda c: "r4" in c.ids)
    assert [i for i in ids(opening) if not i.startswith("filler")] == ["r1", "r2", "r3", "r4"]


def test_a_half_written_last_line_waits_for_its_end(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    follower = Follower(opening, watch=False)
    line = jsonl(tmp_path, run("r2", step("s"), step("t", status="failed", error="boom"), status="failed"))
    append(path, line[:20])
    follower.check()
    assert ids(opening) == ["r1"]
    append(path, line[20:])
    change = follower.check()
    assert change is not None and change.ids == ("r2",) and change.new_runs == 1
    assert opening.connect().get_run("r2").status == "failed"


def test_a_truncated_file_is_read_again_from_the_start_with_a_notice(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s")), run("r2", step("s"))])
    opening = imported(path)
    with Following(opening) as following:
        with open(path, "wb") as f:  # a logger starting again on the same file
            f.write(jsonl(tmp_path, run("r9", step("s"))))
        seen = following.until(lambda c: "r9" in c.ids)
    assert ids(opening) == ["r9"]
    assert notices(seen) == [f"{path} was truncated or replaced: read again from the start"]


def test_a_rotated_file_is_read_again_from_the_start_with_a_notice(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    with Following(opening) as following:
        os.rename(path, str(path) + ".1")  # logrotate: the old file moves away, a new one takes its name
        append(path, jsonl(tmp_path, run("r5", step("s"))))
        seen = following.until(lambda c: "r5" in c.ids)
        append(path, jsonl(tmp_path, run("r6", step("s"))))
        seen += following.until(lambda c: "r6" in c.ids)
    assert ids(opening) == ["r5", "r6"]
    assert f"{path} was truncated or replaced: read again from the start" in notices(seen)
    assert len(notices(seen)) == len(set(notices(seen)))


def test_a_deleted_file_keeps_what_was_read_and_says_so_once(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s"))])
    opening = imported(path)
    follower = Follower(opening, watch=False)
    os.remove(path)
    change = follower.check()
    assert change is not None and change.notice == f"{path} was deleted: the runs read from it are kept"
    assert follower.check() is None  # told once
    assert ids(opening) == ["r1"]
    append(path, jsonl(tmp_path, run("r2", step("s"))))
    change = follower.check()
    assert change is not None and change.ids == ("r2",)
    assert change.notice == f"{path} was truncated or replaced: read again from the start"


def test_a_session_that_grows_grows_in_place(tmp_path):
    from agents import claude

    path = shutil.copy(claude(2), tmp_path / "session.jsonl")
    opening = imported(path)
    run_id = "5b0f8c1e-2d4a-4c3b-9e7f-1a2b3c4d5e02"
    before = opening.connect().get_run(run_id).step_count
    last = orjson.loads(open(path, "rb").read().splitlines()[-1])
    prompt = {
        **last,
        "type": "user",
        "uuid": "grown-1",
        "parentUuid": last["uuid"],
        "message": {"role": "user", "content": "One more thing"},
        "timestamp": "2025-07-01T15:00:00.000Z",
    }
    with Following(opening) as following:
        append(path, orjson.dumps(prompt) + b"\n")
        seen = following.until(lambda c: run_id in c.ids)
    assert not notices(seen)
    assert opening.connect().get_run(run_id).step_count > before


def test_a_folder_picks_up_new_files_follows_grown_ones_and_keeps_deleted_ones(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    a = write_jsonl(folder / "a.jsonl", [run("a1", step("s"))])
    b = write_jsonl(folder / "b.jsonl", [run("b1", step("s"))])
    opening = prepare(str(folder))
    opening.run_import()
    with Following(opening) as following:
        os.makedirs(folder / "later")
        append(folder / "later" / "c.jsonl", jsonl(tmp_path, run("c1", step("s"))))
        following.until(lambda c: "c1" in c.ids)
        append(a, jsonl(tmp_path, run("a2", step("s"))))
        following.until(lambda c: "a2" in c.ids)
        os.remove(b)
        seen = following.until(lambda c: bool(c.notice))
    assert notices(seen) == ["b.jsonl was deleted: the runs read from it are kept"]
    assert ids(opening) == ["a1", "a2", "b1", "c1"]


def test_a_database_read_in_place_is_looked_at_again_when_it_changes(tmp_path):
    db = write_store(tmp_path / "store.db", [run("r1", step("s"))])
    opening = prepare(db)
    assert opening.in_place
    before = sorted(os.listdir(tmp_path))
    with Following(opening) as following:
        conn = sqlite3.connect(db)  # another program writing the store
        conn.execute("UPDATE runs SET status = 'failed', error = 'late' WHERE id = 'r1'")
        conn.commit()
        conn.close()
        seen = following.until(lambda c: c.ids is None)
    assert not notices(seen)
    assert opening.connect().get_run("r1").status == "failed"
    assert sorted(os.listdir(tmp_path)) == before  # nothing made beside it


# -- tracetui list --follow -------------------------------------------------------------------------


class Listing:
    """`tracetui list PATH --follow --json` as a process; its stdout lines are queued as they come."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [*TRACETUI, "list", *args, "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def next_line(self) -> bytes:
        try:
            return self.lines.get(timeout=WAIT)
        except queue.Empty:
            self.process.kill()
            raise AssertionError(f"no line in {WAIT} s; stderr: {self.process.stderr.read()!r}") from None

    def interrupt(self) -> tuple[int, bytes]:
        """Ctrl+C, as at a terminal; (exit code, stderr)."""
        self.process.send_signal(signal.SIGINT)
        _, err = self.process.communicate(timeout=WAIT)
        return self.process.returncode, err


def test_list_follow_json_prints_one_object_a_line_as_runs_come_and_ends_cleanly_on_ctrl_c(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s"))])
    listing = Listing(str(path), "--json")
    assert orjson.loads(listing.next_line())["id"] == "r1"
    append(path, jsonl(tmp_path, run("r2", step("s"), step("t", status="failed", error="boom"), status="failed")))
    second = orjson.loads(listing.next_line())
    assert second["id"] == "r2" and second["status"] == "failed" and second["failed_steps"] == 1
    line = jsonl(tmp_path, run("r3", step("s")))
    append(path, line[:10])  # half a line: nothing yet
    append(path, line[10:])
    assert orjson.loads(listing.next_line())["id"] == "r3"
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err
    assert listing.lines.empty()


def test_list_follow_prints_a_run_once_it_has_finished(tmp_path):
    db = write_store(tmp_path / "store.db", [run("done", step("s")), run("busy", step("s"), status="running")])
    listing = Listing(db, "--json")
    assert orjson.loads(listing.next_line())["id"] == "done"
    conn = sqlite3.connect(db)
    conn.execute("UPDATE runs SET status = 'completed' WHERE id = 'busy'")
    conn.commit()
    conn.close()
    assert orjson.loads(listing.next_line())["id"] == "busy"
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err


def test_list_follow_text_prints_a_line_a_run(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("first-run", step("s"))])
    listing = Listing(str(path), "--status", "failed")
    append(
        path,
        jsonl(
            tmp_path,
            run("ok-run", step("s")),
            run("bad-run", step("t", status="failed", error="boom"), status="failed", error="boom"),
        ),
    )
    line = listing.next_line().decode()
    assert "bad-run" in line and "boom" in line
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err
    assert listing.lines.empty()


@pytest.mark.parametrize("command", ["list", "open"])
def test_follow_refuses_a_pipe_with_exit_2(tmp_path, command):
    pipe = tmp_path / "fifo"
    os.mkfifo(pipe)
    done = subprocess.run([*TRACETUI, command, str(pipe), "--follow"], capture_output=True, timeout=WAIT)
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (
        f"tracetui: {pipe}: --follow needs a file or a folder; a pipe is read once (write to a file and follow that)"
    )


def test_list_follow_on_a_folder_names_each_run_s_file(tmp_path):
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [run("a1", step("s"))])
    listing = Listing(str(folder))
    first = listing.next_line().decode()
    assert "a1" in first and "a.jsonl" in first and "1 step" in first
    append(folder / "b.jsonl", jsonl(tmp_path, run("b1", step("s"), step("t"))))
    second = listing.next_line().decode()
    assert "b1" in second and "b.jsonl" in second and "2 steps" in second
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err


def test_list_grep_follow_prints_the_runs_that_hold_the_text_as_they_come(tmp_path):
    path = write_jsonl(
        tmp_path / "runs.jsonl",
        [run("old-hit", step("s", output="rm -rf /tmp")), run("old-miss", step("s", output="ls"))],
    )
    listing = Listing(str(path), "--grep", "RM -RF", "--json")
    assert orjson.loads(listing.next_line())["id"] == "old-hit"
    append(
        path,
        jsonl(
            tmp_path,
            run("new-miss", step("s", input="echo")),
            run("new-hit", step("s"), step("t", input="sudo rm -rf / [/tool_call] \x1b[31m")),
            run("rm -rf by its id", step("s")),
        ),
    )
    assert {orjson.loads(listing.next_line())["id"] for _ in range(2)} == {"new-hit", "rm -rf by its id"}
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err
    assert listing.lines.empty()  # the runs without the text were never printed


def test_list_grep_steps_follow_prints_each_matching_step_of_the_runs_as_they_come(tmp_path):
    path = write_jsonl(tmp_path / "runs.jsonl", [run("old", step("s", output="a needle"), step("t"))])
    listing = Listing(str(path), "--grep", "needle", "--steps")
    first = listing.next_line().decode()
    assert first.split()[:3] == ["old", "s", "other"] and "output: a needle" in first
    append(path, jsonl(tmp_path, run("new", step("a", input="needle [/tool_call]"), step("b", error="needle!"))))
    assert [listing.next_line().decode().split()[:2] for _ in range(2)] == [["new", "a"], ["new", "b"]]
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err


def test_a_followed_folder_s_first_wakeup_looks_at_everything_then_only_what_events_name(tmp_path):
    # A file written between the first look and the watcher's start has no event: the watcher's first
    # wakeup walks the folder; later ones name the paths that changed (an empty set: nothing heard).
    folder = tmp_path / "runs"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [run("a1", step("s"))])
    opening = prepare(str(folder))
    opening.run_import()
    follower = Follower(opening, poll=0.2)
    wakeups = follower._wakeups()
    try:
        assert next(wakeups) is None
        assert follower.watching
        write_jsonl(folder / "b.jsonl", [run("b1", step("s"))])
        heard: set[str] = set()
        deadline = time.monotonic() + WAIT
        while str(folder / "b.jsonl") not in heard and time.monotonic() < deadline:
            got = next(wakeups)
            assert got is not None
            heard |= got
        assert str(folder / "b.jsonl") in heard
    finally:
        follower.close()
        wakeups.close()


def test_ctrl_c_ends_following_even_when_python_drops_its_keyboard_interrupt(tmp_path, monkeypatch):
    """A KeyboardInterrupt raised inside a __del__ or a weakref callback is dropped by Python
    ("Exception ignored in ..."); Ctrl+C must still end `list --follow`, and without printing that
    traceback, while any other dropped exception is still reported."""
    from tracetui.follow import _ctrl_c_closes

    path = write_jsonl(tmp_path / "runs.jsonl", [run("r1", step("s"))])
    follower = Follower(imported(path), watch=False, poll=0.05)

    class InterruptedWhileCollected:
        def __del__(self) -> None:
            os.kill(os.getpid(), signal.SIGINT)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # the handler runs here, between two bytecodes
                pass

    class FailsWhileCollected:
        def __del__(self) -> None:
            raise ValueError("a real problem")

    reported: list[type[BaseException] | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: reported.append(info.exc_type))
    looks: list[object] = []
    following = threading.Thread(target=follower.run, args=(looks.append,), daemon=True)
    with _ctrl_c_closes(follower):
        InterruptedWhileCollected()  # collected at once: the interrupt is raised in __del__ and dropped
        FailsWhileCollected()
        following.start()
        following.join(10)
    still_following = following.is_alive()
    follower.close()
    assert not still_following
    assert reported == [ValueError]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_list_follow_warns_about_the_odd_numbers_of_a_file_read_in_place(tmp_path):
    import agents
    from test_hostile_step_builders import ODD_NUMBERS

    from tracetui.loading import open_store

    path = agents.copied(agents.PHOENIX, tmp_path)
    conn = sqlite3.connect(path)
    for sql, _ in ODD_NUMBERS[agents.PHOENIX]:
        conn.execute(sql)
    conn.commit()
    conn.close()
    finished = [r for r in open_store(path).list_runs() if r.status not in ("running", "pending")]
    listing = Listing(path, "--json")
    for _ in finished:
        listing.next_line()
    code, err = listing.interrupt()
    assert code == 0 and b"Traceback" not in err, err
    said = [line.removeprefix(f"tracetui: warning: {path}: ") for line in err.decode().splitlines()]
    assert sorted(said) == sorted(message for _, message in ODD_NUMBERS[agents.PHOENIX])
