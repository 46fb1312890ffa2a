"""The `tracetui` command line: thin click commands over the core.

Exit codes: 0 ok, 1 not found, 2 unusable input (and click usage errors).
"""

from __future__ import annotations

import functools
import os
import sys
import warnings
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

import click

from . import config as settings
from . import display, jsonsafe, share
from .errors import HANDLED, TraceError, Unavailable
from .launch import DATABASE_NOT_FOLLOWED, open_viewer, refuse_pipe, show_warning, use_config
from .model import TOKEN_PARTS, Run
from .run_json import dumps, step_dict
from .store import SORT_KEYS, STARTED, RunFilter
from .store.protocol import TraceStore
from .store.stats import GROUPINGS

# Imported by the commands that use them: `tracetui --help` and a usage error need none of these
# (finding formats loads every format module; loading brings in the cache and worker machinery).
if TYPE_CHECKING:
    from .loading import DatabaseOptions, SourceOpening

# The core checks the input itself, so every problem gets the same one-line message and exit 2.
TRACE_PATH = click.Path(readable=False)


class FormatChoice(click.Choice[str]):
    """The choices of --format: every format's NAME, found only when they are shown or a name is unknown.

    Listing the formats imports every format module and looks for plug-ins; a forced --format
    needs only its own module, and a command without --format never asks.
    """

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from . import sources

        return tuple(sources.names())

    @choices.setter
    def choices(self, value: tuple[str, ...]) -> None:
        pass  # the names are looked up when asked for

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if isinstance(value, str):
            from . import sources

            try:
                return sources.by_name(value).NAME
            except KeyError:
                pass
        return super().convert(value, param, ctx)


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"tracetui: {display.safe(message, single_line=True)}", err=True)
    sys.exit(code)


def handles_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            result = fn(*args, **kwargs)
            warn_values()
            return result
        except HANDLED as exc:
            exit_for(exc)

    return wrapper


def exit_for(exc: BaseException) -> NoReturn:
    """How a command ends on an error it expects (errors.HANDLED): one line on stderr, its exit code."""
    if isinstance(exc, TraceError):
        fail(str(exc), exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        fail("interrupted", 130)
    sys.stderr.close()  # a BrokenPipeError: whoever read the output is gone
    sys.exit(0)


def _no_estimate(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[ESTIMATE] = False


ESTIMATE = "tracetui.estimate"
no_estimate_option = click.option(
    "--no-estimate",
    is_flag=True,
    expose_value=False,
    callback=_no_estimate,
    help="Show only costs the source reported: do not price model calls from the bundled price table.",
)


def estimating() -> bool:
    """False when the command was given --no-estimate."""
    return click.get_current_context().meta.get(ESTIMATE, True)


def filter_options(fn):
    """Filters for the runs of many files (a folder): by file, project and model."""
    fn = click.option("--model", metavar="NAME", help="Only runs with a call of this model.")(fn)
    fn = click.option(
        "--project", metavar="TEXT", help="Only runs whose project (a coding agent's working directory) contains TEXT."
    )(fn)
    fn = click.option(
        "--file", "file_", metavar="TEXT", help="Only runs read from a file whose path (within a folder) contains TEXT."
    )(fn)
    return fn


DATABASE = "tracetui.database"


def _database_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.meta.setdefault(DATABASE, {})[param.name] = value


def database_options() -> DatabaseOptions:
    """What --schema, --table and --statement-timeout said (they apply to PostgreSQL inputs)."""
    from .loading import DatabaseOptions

    given = click.get_current_context().meta.get(DATABASE, {})
    timeout = given.get("statement_timeout")
    return DatabaseOptions(
        schema=given.get("schema"),
        table=given.get("table"),
        timeout_ms=None if timeout is None else round(timeout * 1000),
    )


def database_option_decorators(fn):
    fn = click.option(
        "--statement-timeout",
        type=click.FloatRange(min=0.001),
        metavar="SECONDS",
        expose_value=False,
        callback=_database_option,
        help="PostgreSQL: give up on any one query after this long (default 10).",
    )(fn)
    fn = click.option(
        "--table",
        metavar="NAME",
        expose_value=False,
        callback=_database_option,
        help="PostgreSQL: the table to read, when the database holds traces in more than one.",
    )(fn)
    fn = click.option(
        "--schema",
        metavar="NAME",
        expose_value=False,
        callback=_database_option,
        help="PostgreSQL: the schema to read, when the database holds traces in more than one.",
    )(fn)
    return fn


def cache_options(fn):
    fn = click.option("--no-cache", is_flag=True, help="Do not read or write the import cache.")(fn)
    fn = no_estimate_option(fn)
    fn = database_option_decorators(fn)
    return fn


def store_options(fn):
    fn = click.option("--format", "fmt", type=FormatChoice(), help="Skip detection: read PATH as this format.")(fn)
    return cache_options(fn)


def open_source(path: str, fmt: str | None, no_cache: bool) -> SourceOpening:
    from .loading import prepare

    return prepare(path, fmt=fmt, use_cache=not no_cache, estimate=estimating(), database=database_options())


def load(path: str, fmt: str | None, no_cache: bool) -> TraceStore:
    return loaded(path, fmt, no_cache)[1]


def loaded(path: str, fmt: str | None, no_cache: bool) -> tuple[SourceOpening, TraceStore]:
    """The source read (imported if it must be) and a store on it; its problems are warned about."""
    configured()
    opening = open_source(path, fmt, no_cache)
    opening.run_import()
    tell(opening)
    store = opening.connect()
    where = display.safe(opening.label, single_line=True)  # a database by its label: never its password
    if getattr(store, "problems_met", None) is not None:
        # A database read in place: counting its problem rows is a scan of the table, so nothing is
        # counted before the command answers; afterwards the problems of the runs it listed or read
        # are told (warn_values), and no command that shows no runs asks at all.
        click.get_current_context().meta.setdefault(_DATABASES, []).append((where, store))
        return opening, store
    problems = store.problem_count()
    if problems:
        shown = store.problems(limit=20)
        for problem in shown:
            place = display.safe(display.problem_source(opening.label, problem.source_file), single_line=True)
            click.echo(f"tracetui: warning: {place}: {display.safe(str(problem), single_line=True)}", err=True)
        if problems > len(shown):
            click.echo(f"tracetui: warning: {where}: … and {problems - len(shown)} more problems", err=True)
    value_problems = getattr(store, "value_problems", None)  # a file read in place; not a database
    if value_problems is not None:
        click.get_current_context().meta.setdefault(_LOADED, []).append((where, store, len(value_problems())))
    return opening, store


_LOADED = "tracetui.loaded"
_DATABASES = "tracetui.databases"


def warn_values() -> None:
    """After a command: the odd values it met reading a file in place (shown as '-' or as text)."""
    ctx = click.get_current_context(silent=True)
    for where, store, known in ctx.meta.get(_LOADED, []) if ctx else []:
        _warn_odd_values(where, store.value_problems()[known:])
    for where, store in ctx.meta.get(_DATABASES, []) if ctx else []:
        _warn_problems_met(where, store)


def _warn_odd_values(where: str, met: list) -> None:
    for problem in met[:20]:
        click.echo(f"tracetui: warning: {where}: {display.safe(str(problem), single_line=True)}", err=True)
    if len(met) > 20:
        click.echo(f"tracetui: warning: {where}: … and {len(met) - 20} more odd values", err=True)


def _warn_problems_met(where: str, store: Any) -> None:
    """The problems of the runs a command listed or read in a database (at most 20, never counted)."""
    try:
        met = store.problems_met(limit=20)
    except Unavailable as exc:
        if exc.lost:
            return  # the answer is out; a connection lost after it is not the command's failure
        click.echo(
            f"tracetui: warning: {where}: problems not listed ({display.safe(exc.problem, single_line=True)})",
            err=True,
        )
        return
    for problem in met[:20]:
        place = display.safe(display.problem_source(where, problem.source_file), single_line=True)
        click.echo(f"tracetui: warning: {place}: {display.safe(str(problem), single_line=True)}", err=True)
    if len(met) > 20:
        click.echo(f"tracetui: warning: {where}: … and more problems in the runs shown", err=True)


def tell(opening: SourceOpening) -> None:
    """Where the store went, when the user should know (a cache that could not be used)."""
    if opening.notice:
        click.echo(f"tracetui: warning: {display.safe(opening.notice, single_line=True)}", err=True)


def run_summary(run: Run, models: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": run.id,
        "agent": run.agent,
        "status": run.status,
        "started_at": run.started_at,
        "duration_ms": run.duration_ms,
        "steps": run.step_count,
        "failed_steps": run.failed_steps,
        "tokens_in": run.total("tokens_in"),
        "tokens_out": run.total("tokens_out"),
        **{name: run.total(name) for name in TOKEN_PARTS},
        "credits": run.total("credits"),
        "cost_usd": run.total("cost_usd"),
        "cost_estimated": run.cost_estimated,
        "models": models or [],
        "error": run.error,
        "file": run.source_file,
        "project": run.metadata.get("project"),
    }


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from . import pricing

    click.echo(f"tracetui {version('tracetui')}")
    click.echo(f"prices: {pricing.describe()}")
    ctx.exit()


CONFIG = "tracetui.config"


def configured() -> settings.Config:
    """tracetui's config file (read once per command): its problem, if any, told on stderr in one line;
    its clock (`times`) applied to every time the command prints."""
    ctx = click.get_current_context().find_root()
    config = ctx.meta.get(CONFIG)
    if not isinstance(config, settings.Config):
        config = use_config(ctx.meta.get(CONFIG + ".path"))
        ctx.meta[CONFIG] = config
    return config


def _config_path(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    ctx.meta[CONFIG + ".path"] = value


class _Commands(click.Group):
    """The CLI's commands; a first argument that is no command but a path (a file or folder that is there,
    a name with a dot or a slash, a database URL) opens it: `tracetui PATH ...` is `tracetui open PATH ...`,
    as viewers are started."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        first = args[0] if args else ""
        if first[:1] not in ("", "-") and self.get_command(ctx, first) is None:
            # (No command has a dot or a slash: `tracetui trace.jsonl` that is not there is a missing file.)
            if os.path.exists(first) or any(mark in first for mark in (".", os.sep, "://")):
                return "open", self.get_command(ctx, "open"), args
        return super().resolve_command(ctx, args)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]}, invoke_without_command=True)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    expose_value=False,
    callback=_config_path,
    help="tracetui's config file (keys, theme, first sort, UTC or local times); default: $TRACETUI_CONFIG, "
    "else $XDG_CONFIG_HOME/tracetui/config.toml.",
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version, and the version and date of the bundled price data, and exit.",
)
@click.pass_context
def main(ctx: click.Context) -> None:
    """tracetui: read AI-agent execution traces in the terminal.

    PATH is a trace file (SQLite, JSON or JSONL) in any format `tracetui formats` lists, or a folder
    of them. The format is detected from the content. JSON inputs are imported once into a cache.

    Without a command, tracetui shows the traces it finds on this machine (`tracetui sources`) and
    opens the one you pick. `tracetui PATH` is `tracetui open PATH`.
    """
    warnings.showwarning = show_warning
    if ctx.invoked_subcommand is None:
        _start()


def _start() -> None:
    """`tracetui` alone: the start screen on a terminal, else the list `tracetui sources` prints."""
    from .discovery import discover

    found, looked = discover()
    if not _on_terminal():
        _print_sources(found, looked)
        return
    from .parallel import start_helpers
    from .tui.app import TraceApp

    start_helpers()  # now, while sys.stderr is still the real one (Textual captures it)
    app = TraceApp(None, found=found, looked=looked)
    app.run()
    if app.return_code:
        sys.exit(app.return_code)


@main.command("sources")
@click.option("--json", "as_json", is_flag=True, help="A JSON object: the sources found and every place looked in.")
def sources_cmd(as_json):
    """The traces on this machine: where coding agents (Claude Code, Codex, Gemini CLI, OpenCode) and
    tracing tools (Phoenix, MLflow) keep them by default, honouring CLAUDE_CONFIG_DIR, CODEX_HOME,
    GEMINI_CLI_HOME, PHOENIX_WORKING_DIR, MLFLOW_TRACKING_URI and XDG_DATA_HOME. Only names and sizes
    are read (stat): no file is opened. Open one with `tracetui open PATH`."""
    from .discovery import discover

    found, looked = discover()
    if as_json:
        from datetime import UTC, datetime

        def when(ts: float | None) -> str | None:
            return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

        click.echo(
            dumps(
                {
                    "sources": [{**f.as_dict(), "newest": when(f.newest)} for f in found],
                    "looked_in": [{"tool": p.tool, "format": p.format, "path": p.path, "why": p.why} for p in looked],
                }
            )
        )
        return
    _print_sources(found, looked)


def _print_sources(found, looked) -> None:
    if not found:
        for line in display.nothing_found([(p.tool, p.path, p.why) for p in looked]):
            click.echo(line)
        return
    from .textout import sources_table

    sources_table(found)
    click.echo("\nOpen one with `tracetui open PATH`, or run `tracetui` on a terminal to pick one.")


@main.command("list")
@click.argument("path", type=TRACE_PATH)
@click.option("--status", multiple=True, help="Only runs with this status (repeatable).")
@click.option("--agent", multiple=True, help="Only runs of this agent (repeatable).")
@click.option("--search", help="Only runs whose id, agent, session or error contains this text.")
@click.option(
    "--grep",
    metavar="TEXT",
    help="Like --search, and also runs with a step whose id, name, kind, model, input, output or error"
    " contains TEXT (case-insensitive); each row names the first such step.",
)
@click.option(
    "--steps",
    "every_step",
    is_flag=True,
    help="With --grep: one row per matching step instead of one per run: its run, name, kind and the text"
    " around the match, run by run in the list's order, each run's steps in execution order.",
)
@click.option(
    "--sort",
    type=click.Choice([key.name for key in SORT_KEYS if key.cli]),
    default=STARTED.name,
    show_default=True,
)
@click.option("--desc", is_flag=True, help="Largest / latest first.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    help="At most this many runs (sessions with --by session, steps with --steps).",
)
@click.option(
    "--by",
    type=click.Choice(["session"]),
    help="One row per session (runs sharing a session id; a run without one stands alone).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="JSON array of run summaries (session summaries with --by; with --follow: one object a line).",
)
@click.option(
    "-f",
    "--follow",
    is_flag=True,
    help="Keep reading PATH as it is written and print each run once it has finished; Ctrl+C ends.",
)
@filter_options
@store_options
@handles_errors
def list_cmd(
    path,
    status,
    agent,
    search,
    grep,
    every_step,
    sort,
    desc,
    limit,
    by,
    as_json,
    follow,
    file_,
    project,
    model,
    fmt,
    no_cache,
):
    """One row per run: id, agent, status, start, duration, steps, failures, tokens, credits, cost, error.

    PATH may be a folder: every trace file under it is listed as one run list, with the file each run
    was read from (--file, --project and --model narrow it).

    With --by session, one row per session: its worst status, id, runs, first start, span from the
    first start to the last end, steps, tokens, credits, cost and failed runs; --sort orders the
    sessions by the sum of their runs' values (the first start, the span, the worst status).

    With --follow, the runs that have finished (not pending or running) are printed one a line, then
    each run once it finishes while PATH is written (lines appended, files added to a folder, a
    database changed), until Ctrl+C; --limit applies to the runs printed at the start. With --grep,
    only the runs that hold the text (with --steps, their matching steps).
    """
    if search is not None and grep is not None:
        raise click.UsageError("use --search or --grep, not both")
    if every_step and grep is None:
        raise click.UsageError("--steps lists the steps --grep finds: give --grep TEXT")
    if every_step and by is not None:
        raise click.UsageError("use --by or --steps, not both")
    if follow and by is not None:
        raise click.UsageError("use --by or --follow, not both")
    if follow:
        refuse_pipe(path)
    opening, store = loaded(path, fmt, no_cache)
    flt = RunFilter(status=status or None, agent=agent or None, search=search, file=file_, project=project, model=model)
    if follow:
        store.close()
        _follow_list(opening, flt, sort=sort, desc=desc, limit=limit, as_json=as_json, grep=grep, every_step=every_step)
        return
    if every_step:
        _list_step_hits(store, grep, flt, sort=sort, desc=desc, limit=limit, as_json=as_json)
        return
    hits: dict = {}
    if grep:
        hits = store.runs_matching(grep, flt, progress=_scan_progress(store.label))
        flt = replace(flt, search=grep, step_hits=frozenset(hits))
    numbers_met = getattr(store, "numbers_met", None)  # a file read in place: what its rows sum to, warned
    if by == "session":
        if numbers_met is not None:
            numbers_met(store.run_ids(flt))  # a session's row sums every run of the filter it holds
        _list_sessions(store, flt, sort, desc, limit, as_json)
        return
    runs = store.list_runs(flt, sort=sort, desc=desc, limit=limit)
    if numbers_met is not None:
        numbers_met([r.id for r in runs])
    matches = {r.id: _match(store, hits[r.id], grep) for r in runs if r.id in hits} if grep else {}
    if as_json:
        models = store.models([r.id for r in runs])
        summaries = [run_summary(r, models.get(r.id)) for r in runs]
        if grep:
            for summary in summaries:
                summary["match"] = matches.get(summary["id"])
        click.echo(dumps(summaries))
        return
    if not runs:
        click.echo("no runs" if store.count_runs() == 0 else "no runs match")
        return
    from .folders import FORMAT as FOLDER
    from .textout import runs_table

    runs_table(runs, matches if grep else None, files=store.source_format == FOLDER)


def _follow_list(
    opening: SourceOpening,
    flt: RunFilter,
    *,
    sort: str,
    desc: bool,
    limit: int | None,
    as_json: bool,
    grep: str | None = None,
    every_step: bool = False,
) -> None:
    """`list --follow`: the finished runs, then each run as it finishes; with --grep only those that
    hold the text (with --steps: their matching steps, a line or JSON object each)."""
    from .folders import FORMAT as FOLDER
    from .follow import follow_runs, followable
    from .store.reader import Store
    from .store.search import runs_holding
    from .textout import run_lines, step_hit_lines

    target = followable(opening)
    if target is None:
        fail(f"{opening.label}: {DATABASE_NOT_FOLLOWED}")
        return

    def show(store: TraceStore, runs: list[Run]) -> None:
        if isinstance(store, Store):  # a file read in place: the odd values of each look's new runs, warned
            store.numbers_met([r.id for r in runs])
            _warn_odd_values(opening.label, store.value_problems())
        if every_step and grep is not None:
            show_steps(store, runs, grep)
        elif as_json:
            models = store.models([r.id for r in runs])
            for r in runs:
                click.echo(dumps(run_summary(r, models.get(r.id)), indent=False))
        else:
            run_lines(runs, files=opening.format == FOLDER)
        sys.stdout.flush()  # a pipe to a CI log gets each run when it comes

    def show_steps(store: TraceStore, runs: list[Run], query: str) -> None:
        chunks = [[r.id for r in runs[at : at + 500]] for at in range(0, len(runs), 500)]  # a parameter an id
        hits = (
            hit
            for ids in chunks
            for some in store.steps_matching(query, RunFilter(ids=ids), sort=sort, desc=desc)
            for hit in some
        )
        if as_json:
            for hit in hits:
                click.echo(dumps(_step_match(store, hit, query), indent=False))
        else:
            step_hit_lines(((hit, store.step_snippet(hit.run_id, hit.step_id, query)) for hit in hits), query)

    def warn(notice: str) -> None:
        click.echo(f"tracetui: {display.safe(notice, single_line=True)}", err=True)

    def keep(store: TraceStore, ids: list[str]) -> set[str]:
        assert grep is not None
        return runs_holding(store, grep, ids)

    try:
        follow_runs(
            target,
            flt,
            sort=sort,
            desc=desc,
            limit=limit,
            show=show,
            tell=warn,
            keep=keep if grep is not None else None,
        )
    except KeyboardInterrupt:
        pass  # Ctrl+C is how following ends
    except BrokenPipeError:
        # The reader went away (`| head`): nothing more to print, and no error about it at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _match(store: TraceStore, hit, query: str) -> dict[str, Any]:
    """The first step of a run that --grep found, and where its text holds the query."""
    snip = store.step_snippet(hit.run_id, hit.step_id, query)
    return {
        "step_id": hit.step_id,
        "step_name": hit.step_name,
        "steps": hit.count,
        "field": snip.field if snip else None,
        "text": snip.text if snip else None,
    }


def _list_step_hits(
    store: TraceStore, query: str, flt: RunFilter, *, sort: str, desc: bool, limit: int | None, as_json: bool
) -> None:
    """`list --grep TEXT --steps`: every step that holds the text, a line each as they are found (a
    JSON array with --json), then how many there were in how many runs."""
    from collections.abc import Iterator
    from itertools import islice

    from .store.search import StepHit

    found = store.steps_matching(query, flt, sort=sort, desc=desc, progress=_scan_progress(store.label))
    hits: Iterator[StepHit] = (hit for run_hits in found for hit in run_hits)
    if limit is not None:
        hits = islice(hits, limit)
    if as_json:
        click.echo(dumps([_step_match(store, hit, query) for hit in hits]))
        return
    from .textout import step_hit_lines

    count, runs = step_hit_lines(((hit, store.step_snippet(hit.run_id, hit.step_id, query)) for hit in hits), query)
    if count == 0:
        click.echo("no runs" if store.count_runs() == 0 else "no steps match")
        return
    click.echo(f"{count:,} matching step{'s' if count != 1 else ''} in {runs:,} run{'s' if runs != 1 else ''}")


def _step_match(store: TraceStore, hit, query: str) -> dict[str, Any]:
    """A step --grep --steps found, and where its text holds the query, as JSON."""
    snip = store.step_snippet(hit.run_id, hit.step_id, query)
    return {
        "run_id": hit.run_id,
        "step_id": hit.step_id,
        "step_name": hit.name,
        "kind": hit.kind,
        "ord": hit.ord,
        "field": snip.field if snip else None,
        "text": snip.text if snip else None,
    }


def _scan_progress(label: str):
    """Progress of a --grep scan (a source without the search index) on a terminal's stderr."""
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        end = "\n" if done >= total else "\r"
        click.echo(f"searching {display.safe(label, single_line=True)}: {done:,} of {total:,} runs", nl=False, err=True)
        click.echo(end, nl=False, err=True)

    return report


def _list_sessions(store: TraceStore, flt: RunFilter, sort: str, desc: bool, limit: int | None, as_json: bool) -> None:
    from .store.protocol import SessionStore

    if not isinstance(store, SessionStore):
        fail(f"{store.label}: --by session is not available for this kind of store yet")
        return
    rows = store.sessions(flt, sort=sort, desc=desc, limit=limit)
    if as_json:
        click.echo(dumps([row.as_dict() for row in rows]))
        return
    if not rows:
        click.echo("no runs" if store.count_runs() == 0 else "no runs match")
        return
    from .textout import sessions_table

    sessions_table(rows)


OUTPUT_FORMATS = ("text", "json", "markdown")


def _show_formats(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, str | None]:
    """`show --format`: an output format (text, json, markdown), and, as for every other command, the
    input format (any name `tracetui formats` lists); each at most once, in either order."""
    outputs = [v for v in values if v in OUTPUT_FORMATS]
    try:
        inputs = [FormatChoice().convert(v, param, ctx) for v in values if v not in OUTPUT_FORMATS]
    except click.BadParameter as exc:
        raise click.BadParameter(
            f"{exc.message.rstrip('.')}; or an output format: {', '.join(OUTPUT_FORMATS)}", ctx, param
        ) from None
    if len(outputs) > 1 or len(inputs) > 1:
        raise click.BadParameter("give at most one output format and one input format", ctx, param)
    return (outputs[0] if outputs else "text"), (inputs[0] if inputs else None)


@main.command()
@click.argument("path", type=TRACE_PATH)
@click.argument("run_id")
@click.option(
    "--format",
    "formats",
    multiple=True,
    metavar="text|json|markdown",
    callback=_show_formats,
    help="Output as text (the default), json or markdown. Any other name is the input format, as for the "
    "other commands: --format NAME skips detection (both may be given).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--step", "step_id", metavar="STEP_ID", help="Only this step and the steps under it.")
@click.option(
    "--max-payload",
    type=click.IntRange(min=0),
    default=display.PAYLOAD_PREVIEW,
    show_default=True,
    help="Markdown: write at most this many characters of each input, output and error (0: all of them).",
)
@cache_options
@handles_errors
def show(path, run_id, formats, as_json, step_id, max_payload, no_cache):
    """The step tree of one run, with statuses, durations, tokens, credits and branch badges.

    \b
    --format json       the run with its nested step tree and first_failed_step
    --format markdown   to paste into an LLM or an issue: the run, its step tree with the first
                        failure marked, every input, output and error in a fenced block
    """
    output, fmt = formats
    if as_json:
        if output not in ("text", "json"):
            raise click.UsageError(f"--json and --format {output} disagree: give one of them")
        output = "json"
    store = load(path, fmt, no_cache)
    if output != "text":
        click.echo(share.document(store, run_id, step_id, fmt=output, max_payload=max_payload), nl=output == "json")
        return
    from .textout import run_tree_text

    run, top = share.read(store, run_id, step_id, payloads=False)
    first = share.first_failure(run, top)
    run_tree_text(run, first, roots=None if top is None else [top])


@main.command()
@click.argument("path", type=TRACE_PATH)
@click.option(
    "--by",
    type=click.Choice(GROUPINGS),
    help="Group runs by agent, status, session, start day or hour (UTC); or group calls by model or tool.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per group.")
@filter_options
@store_options
@handles_errors
def stats(path, by, as_json, file_, project, model, fmt, no_cache):
    """Runs, failure rate, tokens, credits, cost and p50/p95/max duration, overall or per group.

    \b
    --by agent|status|session|day|hour   groups of runs
    --by model                           model calls per model: what each cost; models the
                                         price table does not know are listed as unpriced
    --by tool                            tool calls per tool: total and p95 time, failures and
                                         their share of the runs' time (which tool dominated)

    Costs the source did not report are estimated from the bundled price table (marked ≈, and
    "cost_estimated" in JSON); "estimated" is the estimated share of a cost, "cached" the share of
    the input tokens read from a cache.
    """
    store = load(path, fmt, no_cache)
    groups = store.stats(by, RunFilter(file=file_, project=project, model=model))
    if as_json:
        click.echo(dumps([g.as_dict() for g in groups]))
        return
    from .textout import stats_table

    stats_table(groups, by)


@main.command("import")
@click.argument("src", type=TRACE_PATH)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(),
    help="The store file to write (must not exist), or a PostgreSQL database (postgresql://…) to publish into.",
)
@click.option("--format", "fmt", type=FormatChoice(), help="Skip detection: read SRC as this format.")
@click.option(
    "--schema",
    metavar="NAME",
    help="PostgreSQL output: the schema of tracetui's tables (default tracetui; created if missing).",
)
@no_estimate_option
@handles_errors
def import_cmd(src, output, fmt, schema):
    """Write SRC into a tracetui SQLite store file, or publish it into a PostgreSQL database.

    \b
    tracetui import runs.jsonl -o runs.db
    tracetui import runs.jsonl -o postgresql://me@db.example/traces

    Into PostgreSQL, the runs go into tracetui's tables (schema `tracetui`), in one transaction
    and with COPY. A run replaces the run with the same id; importing the same file again also
    removes its runs that are no longer in it, so nothing is ever duplicated.
    """
    from . import postgres

    if postgres.is_target(output):
        _publish(src, output, fmt, schema)
        return
    if schema is not None:
        fail("--schema is for a PostgreSQL output (-o postgresql://…)")
    if os.path.exists(output):
        fail(f"{output}: already exists; choose a new file")
    from .loading import prepare

    opening = prepare(src, fmt=fmt, output=output, estimate=estimating())
    count = opening.run_import()
    _import_warnings(src, opening.problems)
    click.echo(
        f"imported {count} run{'' if count == 1 else 's'} from {display.safe(src)} ({opening.format}) into {display.safe(output)}"
    )


def _import_warnings(src: str, problems: list) -> None:
    for problem in problems[:20]:
        click.echo(f"tracetui: warning: {src}: {display.safe(str(problem), single_line=True)}", err=True)
    if len(problems) > 20:
        click.echo(f"tracetui: warning: {src}: … and {len(problems) - 20} more problems", err=True)


def _publish(src: str, output: str, fmt: str | None, schema: str | None) -> None:
    """Import as usual (workers and all), into a writer that streams the rows into the database."""
    from .loading import prepare_file, temporary_store
    from .postgres.writer import DEFAULT_SCHEMA, Publisher

    # The writer's local buffer: a scratch file it empties as it copies (no store of the whole file).
    opening = prepare_file(src, fmt=fmt, output=temporary_store(), estimate=estimating(), search_index=False)
    publisher = Publisher(output, source=src, schema=schema or DEFAULT_SCHEMA)
    opening.writer = publisher
    opening.run_import()
    published = publisher.writer.published if publisher.writer is not None else None
    assert published is not None
    _import_warnings(src, opening.problems)
    n, replaced = published.runs, published.replaced
    note = f" (replacing {replaced} run{'' if replaced == 1 else 's'} already there)" if replaced else ""
    click.echo(
        f"imported {n} run{'' if n == 1 else 's'} from {display.safe(src)} ({opening.format})"
        f" into {display.safe(published.where)}{note}"
    )


@main.command()
@click.argument("src", type=TRACE_PATH)
@click.option("-o", "--output", required=True, type=click.Path(), help="The JSONL file to write ('-' for stdout).")
@click.option("--run", "run_ids", multiple=True, help="Only this run (repeatable).")
@store_options
@handles_errors
def export(src, output, run_ids, fmt, no_cache):
    """Write runs as tracetui's own JSONL, which `tracetui import` reads back with nothing lost."""
    from .sources import tracetui_jsonl

    store = load(src, fmt, no_cache)
    for run_id in run_ids:
        store.get_run(run_id)  # NotFound before anything is written
    out = sys.stdout.buffer if output == "-" else open(output, "wb")
    n = 0
    try:
        for run in store.iter_runs(run_ids or None):
            out.write(tracetui_jsonl.dumps(run))
            n += 1
    finally:
        if out is not sys.stdout.buffer:
            out.close()
    if output != "-":
        click.echo(f"exported {n} run{'' if n == 1 else 's'} to {display.safe(output)}")


@main.command()
@click.argument("path", type=TRACE_PATH)
@click.argument("run_a")
@click.argument("run_b")
@click.option(
    "--with", "with_path", type=TRACE_PATH, metavar="PATH_B", help="Look RUN_B up in this file instead of PATH."
)
@click.option("--with-format", "with_fmt", type=FormatChoice(), help="Skip detection: read PATH_B as this format.")
@click.option("--json", "as_json", is_flag=True, help="The alignment as JSON: a, b, pairs, first_divergence.")
@click.option("--text", "as_text", is_flag=True, help="Print the side-by-side text instead of opening the viewer.")
@store_options
@handles_errors
def compare(path, run_a, run_b, with_path, with_fmt, as_json, as_text, fmt, no_cache):
    """Two runs side by side, their step trees aligned: what is the same, changed, only in A or B.

    \b
    tracetui compare PATH RUN_A RUN_B
    tracetui compare PATH_A RUN_A --with PATH_B RUN_B

    Steps are aligned by name and kind, level by level, so an inserted, missing or retried step
    does not shift the rows after it. On a terminal this opens the viewer's compare screen
    (d first divergence, n/N next/previous difference); piped, or with --text, it prints the
    rows side by side; --json prints the alignment. Exits 0 whatever the difference.
    """
    from .compare import compare_runs

    if not (as_json or as_text) and _on_terminal():
        _compare_interactively(path, run_a, run_b, with_path, with_fmt, fmt, no_cache)
        return
    store_a = load(path, fmt, no_cache)
    store_b = load(with_path, with_fmt, no_cache) if with_path else store_a
    comparison = compare_runs(store_a.run_tree(run_a), store_b.run_tree(run_b))
    if as_json:
        pairs = [pair_dict(p) for p in comparison.pairs]
        first = comparison.first_divergence
        click.echo(
            dumps(
                {
                    "a": run_summary(comparison.run_a),
                    "b": run_summary(comparison.run_b),
                    "deltas": comparison.deltas,
                    "counts": comparison.counts(),
                    "pairs": pairs,
                    "first_divergence": None if first is None else pairs[first],
                }
            )
        )
        return
    from .compare_text import print_comparison

    print_comparison(comparison)


def _on_terminal() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _compare_interactively(path, run_a, run_b, with_path, with_fmt, fmt, no_cache) -> None:
    """The compare screen in the viewer; unknown runs still exit 1 before it starts."""
    openings: list[SourceOpening] = []
    for source, source_fmt, run_id in ((path, fmt, run_a), (with_path or path, with_fmt if with_path else fmt, run_b)):
        if openings and not with_path:
            opening = openings[0]
        else:
            opening = open_source(source, source_fmt, no_cache)
            opening.run_import()
            tell(opening)
        store = opening.connect()
        try:
            store.get_run(run_id)
        finally:
            store.close()
        openings.append(opening)
    from .tui.compare_app import compare_app

    compare_app(openings[0], run_a, openings[1] if with_path else None, run_b, configured()).run()


def pair_dict(pair) -> dict[str, Any]:
    return {
        "a": None if pair.a is None else step_dict(pair.a),
        "b": None if pair.b is None else step_dict(pair.b),
        "depth": pair.depth,
        "mark": pair.mark,
        "changes": pair.changes,
        "branch": pair.branch,
        "deltas": pair.deltas,
    }


@main.command("open")
@click.argument("path", type=TRACE_PATH)
@click.option("--run", "run_id", metavar="ID", help="Open on this run.")
@click.option("--failed", is_flag=True, help="Open on the most recent failed run, at its first failed step.")
@click.option(
    "-f", "--follow", is_flag=True, help="Keep reading PATH as it is written: runs appear and grow live (p pauses)."
)
@store_options
@handles_errors
def open_cmd(path, run_id, failed, follow, fmt, no_cache):
    """The interactive viewer: the run list, a run's step tree and detail (`?` lists every key).

    A JSON or JSONL file is imported into the cache the first time it is opened; the viewer starts
    at once and shows runs as they are read. Bad input exits 2 and an unknown --run exits 1 before
    the viewer starts (for a file still being imported, an unknown --run is reported in the viewer).

    With --follow, lines appended to PATH (files added to or growing in a folder, a database being
    written) are read as they come, and the viewer shows them live: "● live", `p` pauses.
    """
    code = open_viewer(
        path,
        config=configured,
        run_id=run_id,
        failed=failed,
        follow=follow,
        fmt=fmt,
        no_cache=no_cache,
        estimate=estimating(),
        database=database_options(),
    )
    if code:
        sys.exit(code)


class ByteSize(click.ParamType):
    """A size in bytes: 16777216, 16MB, 512KB, 1GB (powers of 1024)."""

    name = "size"
    _UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30}

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        text = str(value).strip().lower().replace(" ", "")
        number = text.rstrip("kmgb")
        unit = text[len(number) :]
        try:
            size = int(float(number) * self._UNITS[unit])
        except (ValueError, KeyError):
            self.fail(f"{jsonsafe.quoted(value)} is not a size (e.g. 16MB, 512KB, 1048576)", param, ctx)
        if size < 1:
            self.fail(f"{jsonsafe.quoted(value)} is not a positive size", param, ctx)
        return size


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=4318, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free one).")
@click.option(
    "--db",
    type=click.Path(dir_okay=False),
    help="The store to write (a new file, or one tracetui serve made); default: a new dated file in "
    "$XDG_DATA_HOME/tracetui.",
)
@click.option("--headless", is_flag=True, help="No viewer: log one line per received batch until Ctrl+C or SIGTERM.")
@click.option(
    "--max-body", default="16MB", show_default=True, type=ByteSize(), help="Largest request body (after gunzip)."
)
@click.option(
    "--token",
    envvar="TRACETUI_TOKEN",
    help="Require `Authorization: Bearer TOKEN` on every request (env TRACETUI_TOKEN); needed off loopback.",
)
@no_estimate_option
@handles_errors
def serve(host, port, db, headless, max_body, token):
    """Receive OpenTelemetry spans over OTLP/HTTP and watch the runs as they arrive.

    \b
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python my_agent.py

    Listens for POST /v1/traces (protobuf or JSON, gzip or not) and writes the spans into a
    tracetui store, through the same mapping as OTLP files (GenAI and OpenInference attributes).
    A trace becomes a run as its spans arrive; until its root span arrives it is `running`.
    The viewer opens on the store and shows runs live; with --headless, one line is logged per
    received batch. `tracetui open STORE` reads the store later like any other.
    """
    from .receiver import server
    from .receiver.service import Service, run_headless
    from .receiver.span_store import SpanStore, default_path

    token = token or None
    if not server.loopback(host) and token is None:
        fail(f"{host}: listening off loopback needs --token (or TRACETUI_TOKEN); every request must then send it")
    path = db or default_path()
    sock = server.listen(host, port)
    try:
        store = SpanStore(path, estimate=estimating())
    except BaseException:
        sock.close()
        raise
    service = Service(store, sock, token=token, max_body=max_body)
    if headless:
        run_headless(service, lambda line: click.echo(line))
        return
    click.echo(f"tracetui: {service.description}; store: {display.safe(path, single_line=True)}", err=True)
    from .loading import prepare

    opening = prepare(path, estimate=estimating())
    from .tui.app import TraceApp

    app = TraceApp(opening, live=service, config=configured())
    app.run()
    click.echo(f"tracetui: spans stored in {display.safe(path, single_line=True)}", err=True)
    if app.return_code:
        sys.exit(app.return_code)


@main.command("formats")
def formats_cmd():
    """What tracetui can read, and how each format is detected."""
    from . import sources

    for source in sources.formats():
        click.echo(f"{source.NAME}\n  {source.DESCRIPTION}\n  detected by: {source.DETECTION}\n")


if __name__ == "__main__":  # pragma: no cover
    main()
