"""The import `tracetui open` starts before the viewer (background_import.py): the viewer is told what
happened before it listened, then each report; the end exactly once; closing it stops the import."""

from __future__ import annotations

import os
import threading

from builders import run, write_jsonl
from click.testing import CliRunner

from tracetui.background_import import BackgroundImport
from tracetui.cli import main
from tracetui.errors import UnusableInput
from tracetui.loading import prepare, store_complete
from tracetui.tui.app import TraceApp


def runs(n: int = 5):
    return [run(f"r{i}", status="completed", started_at=f"2026-01-01T1{i}:00:00.000Z") for i in range(n)]


def test_a_listener_that_comes_late_hears_the_last_report_and_the_end_once(tmp_path):
    opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs()))
    importer = BackgroundImport(opening)
    importer.rows_shown()  # no viewer here to show the first runs: the import need not wait for one
    importer.join(30)
    heard: list[tuple] = []
    importer.listen(lambda *p: heard.append(("progress", *p)), lambda e: heard.append(("end", e)))
    size = os.path.getsize(opening.path)
    assert heard == [("progress", size, size, 5), ("end", None)]
    assert opening.ready and store_complete(opening.db_path)


def test_a_failed_import_ends_with_its_message(tmp_path):
    opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs()))

    def broken(progress=None):
        raise UnusableInput(opening.path, "line 1: not what it claimed to be")

    opening.run_import = broken  # type: ignore[method-assign]
    ends: list[str | None] = []
    importer = BackgroundImport(opening)
    importer.listen(lambda *p: None, ends.append)
    importer.join(30)
    assert len(ends) == 1 and ends[0] is not None and "not what it claimed to be" in ends[0]


def test_cancelling_stops_the_import_at_its_next_report_and_tells_nothing_more(tmp_path):
    opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs()))
    reported, go_on = threading.Event(), threading.Event()
    outcome: list[str] = []

    def slow(progress=None):
        progress(1, 10, 0)
        reported.set()
        go_on.wait(10)
        try:
            progress(2, 10, 1)
        except BaseException as exc:
            outcome.append(type(exc).__name__)
            raise
        outcome.append("went on")
        return 1

    opening.run_import = slow  # type: ignore[method-assign]
    heard: list[tuple] = []
    importer = BackgroundImport(opening)
    importer.listen(lambda *p: heard.append(p), lambda e: heard.append(("end", e)))
    assert reported.wait(10)
    importer.cancel()
    go_on.set()
    importer.join(10)
    assert outcome == ["ImportCancelled"]
    assert heard == [(1, 10, 0)]


def test_after_its_first_runs_the_import_waits_for_the_viewer_to_show_them(tmp_path):
    opening = prepare(write_jsonl(tmp_path / "runs.jsonl", runs()))
    importer = BackgroundImport(opening)
    importer.join(0.5)
    assert not opening.ready  # held after the first runs (a serial import commits its first run at once)
    importer.rows_shown()
    importer.join(30)
    assert opening.ready


def test_open_starts_the_import_before_the_viewer_and_the_viewer_carries_it_on(tmp_path, monkeypatch):
    path = write_jsonl(tmp_path / "runs.jsonl", runs())
    seen = []

    def fake_run(self):
        seen.append(self.importer)
        self.importer.rows_shown()
        self.importer.join(30)

    monkeypatch.setattr(TraceApp, "run", fake_run)
    result = CliRunner().invoke(main, ["open", path])
    assert result.exit_code == 0, result.output
    (importer,) = seen
    assert isinstance(importer, BackgroundImport) and importer.opening.ready
    assert prepare(path).ready  # the cache is complete: the next open reads it
