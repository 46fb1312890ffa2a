import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own import cache, so no test sees another's cached store."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
