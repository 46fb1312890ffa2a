"""The `tracetui` command's entry point, and starting the viewer on a path (what `tracetui open` does).

`tracetui open PATH` and nothing else, the viewer's most common start, runs here without click:
importing click and building the CLI's commands (cli.py) cost ~20 ms of CPU before the first rows
(issue 15). Any other command line — options, other commands, --help, a missing PATH — goes to the
click CLI unchanged, which defines every option; this module knows only that `open` takes a PATH.
Errors are written by the CLI's exit_for, warnings by warn() below: click is imported only to write one.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Config
    from .loading import DatabaseOptions, SourceOpening


def main() -> None:
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "open" and args[1][:1] not in ("", "-"):
        _open_plain(args[1])
        return
    from .cli import main as cli

    cli()


def _open_plain(path: str) -> None:
    """`tracetui open PATH` with every option at its default, as the click command would run it."""
    from .errors import HANDLED

    warnings.showwarning = show_warning
    try:
        code = open_viewer(path, config=lambda: use_config(None))
    except HANDLED as exc:
        from .cli import exit_for

        exit_for(exc)
    if code:
        sys.exit(code)


def open_viewer(
    path: str,
    *,
    config: Callable[[], Config],
    run_id: str | None = None,
    failed: bool = False,
    follow: bool = False,
    fmt: str | None = None,
    no_cache: bool = False,
    estimate: bool = True,
    database: DatabaseOptions | None = None,
) -> int:
    """The viewer on PATH until the user quits; its return code. Errors before it starts are raised
    (TraceError). `config` gives the settings when the viewer is about to start."""
    from . import startup_gc

    startup_gc.pause()  # until the first rows are drawn (startup_gc.py)
    try:
        return _open_viewer(path, config, run_id, failed, follow, fmt, no_cache, estimate, database)
    finally:
        startup_gc.resume()


def _open_viewer(path, config, run_id, failed, follow, fmt, no_cache, estimate, database) -> int:
    from .errors import Unavailable, UnusableInput
    from .first_page import FirstPage
    from .loading import DatabaseOptions, Opening, prepare

    if follow:
        refuse_pipe(path)
    database = database or DatabaseOptions()
    later = False
    opening: SourceOpening
    try:
        opening = prepare(path, fmt=fmt, use_cache=not no_cache, estimate=estimate, database=database)
    except Unavailable:
        # A database that cannot be reached now: the viewer says why on its error screen, and `r`
        # (or its reconnecting) tries again; the other commands say it in one line and exit 2.
        from .postgres.opening import LaterOpening

        opening = LaterOpening(
            path,
            fmt=fmt,
            schema=database.schema,
            table=database.table,
            timeout_ms=database.timeout_ms,
            estimate=estimate,
        )
        later = True  # an unknown --run is then reported in the viewer, as during an import
    # While Textual is imported, a thread opens a file's store and reads its first page, or starts its import.
    first_page, importer = None, None
    if isinstance(opening, Opening) and not follow:  # (a followed file is imported as the viewer follows it)
        if opening.ready:
            first_page = FirstPage(opening, run_id)
        else:
            from .background_import import BackgroundImport  # (a file not in the cache yet)

            importer = BackgroundImport(opening)
    if first_page is None and opening.ready and not later:
        store = opening.connect()  # an unreadable store fails here, not inside the viewer
        try:
            if run_id is not None:
                run_id = store.get_run(run_id).id  # as the store names it (typed as shown: `run\x1b1`)
        finally:
            store.close()
    try:
        from .tui.app import TraceApp  # Textual is imported only by the viewer

        live = None
        if follow:
            from .follow import Follower, followable

            target = followable(opening)
            if target is None:
                raise UnusableInput(opening.label, DATABASE_NOT_FOLLOWED)
            live = Follower(target)
        if first_page is not None:
            first_page.check()  # an unreadable store or unknown --run fails here, not inside the viewer
            run_id = first_page.run_id
        app = TraceApp(
            opening,
            run_id=run_id,
            failed=failed,
            live=live,
            first_page=first_page,
            importer=importer,
            config=config(),
        )
        app.run()
    finally:
        if importer is not None:
            importer.cancel()  # the viewer is gone (or never started): stop the import
    return app.return_code or 0


def refuse_pipe(path: str) -> None:
    """--follow reads a file again as it grows; a pipe is read once, to its end, into a private copy."""
    from .errors import UnusableInput
    from .loading import is_pipe

    if is_pipe(path):
        raise UnusableInput(
            path, "--follow needs a file or a folder; a pipe is read once (write to a file and follow that)"
        )


DATABASE_NOT_FOLLOWED = "--follow reads files and folders; a database server is read where it lies"


def use_config(path: str | None) -> Config:
    """tracetui's config file (`path`, else the default place): its problem, if any, told on stderr in
    one line; its clock (`times`) applied to every time the command prints."""
    from . import config as settings
    from . import display

    config = settings.load(path)
    message = config.message()
    if message is not None:
        warn(message)
    display.use_local_time(config.times == "local")
    return config


def warn(message: str) -> None:
    """A warning on stderr in tracetui's one-line form."""
    import click

    from . import display

    click.echo(f"tracetui: warning: {display.safe(message, single_line=True)}", err=True)


_show_warning = warnings.showwarning


def show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """tracetui's own warnings (a broken format plug-in) as one line, like its other messages."""
    from . import sources

    if issubclass(category, sources.PluginWarning):
        warn(str(message))
    else:
        _show_warning(message, category, filename, lineno, file, line)
