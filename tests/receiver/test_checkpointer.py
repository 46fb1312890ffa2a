"""serve's store keeps its WAL bounded while writers never pause."""

from __future__ import annotations

import os

from tracetui.receiver import span_store
from tracetui.receiver.span_store import SpanStore, SpanWriter


def test_a_wal_written_without_a_pause_is_emptied_once_it_passes_the_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(span_store, "WAL_RESTART_BYTES", 1024 * 1024)
    path = str(tmp_path / "store.db")
    store = SpanStore(path, estimate=False)  # with its Checkpointer thread, as serve runs it
    writer = SpanWriter(path, None)
    writer.conn.execute("CREATE TABLE filler (body BLOB)")
    biggest = 0
    try:
        for n in range(3000):
            # What a request's spans take in the WAL, then a transaction of the writer's own.
            writer.conn.execute("INSERT INTO filler VALUES (?)", (os.urandom(4096),))
            writer.write([])
            store.checkpointer.committed()
            if n % 25 == 0:
                biggest = max(biggest, os.path.getsize(path + "-wal"))
    finally:
        writer.conn.close()
        store.close()
    written = 3000 * 4096
    assert biggest < written / 3, f"the WAL grew to {biggest:,} bytes for {written:,} written"
