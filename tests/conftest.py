import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own import cache, so no test sees another's cached store."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # … and reads (and writes) no config file but its own: never the developer's.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("TRACETUI_CONFIG", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)
    yield
    from tracetui import display

    display.use_local_time(False)  # a test that showed local times leaves UTC for the next
