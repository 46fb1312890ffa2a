"""Write a big Phoenix database: the schema of the fixture (made by a real Phoenix server), filled with
N traces of 10 spans (an agent, three model calls with OpenInference attributes and costs, tool calls).

Usage: python benchmarks/make_phoenix.py OUT.db [SPANS]   (default 200,000 spans; WAL mode, like Phoenix)
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import sys
from datetime import UTC, datetime, timedelta

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "agents", "phoenix", "phoenix.db")
SPANS_PER_TRACE = 10


def stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def main(out: str, spans: int) -> None:
    if os.path.exists(out):
        os.remove(out)
    source = sqlite3.connect(f"file:{os.path.abspath(FIXTURE)}?immutable=1", uri=True)
    schema = [
        r[0] for r in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'")
    ]
    source.close()
    db = sqlite3.connect(out)
    db.execute("PRAGMA journal_mode = WAL")
    for sql in schema:
        db.execute(sql)
    db.execute(
        "INSERT INTO projects (id, name, created_at, updated_at) VALUES (1, 'bench', '2026-01-01', '2026-01-01')"
    )
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    prompt = "You are a support agent. " * 40
    span_row = 0
    for trace in range(spans // SPANS_PER_TRACE):
        t0 = start + timedelta(seconds=trace * 30)
        trace_id = f"{trace:032x}"
        failed = rng.random() < 0.1
        db.execute(
            "INSERT INTO traces (id, project_rowid, trace_id, start_time, end_time) VALUES (?, 1, ?, ?, ?)",
            (trace + 1, trace_id, stamp(t0), stamp(t0 + timedelta(seconds=20))),
        )
        root = f"{span_row + 1:016x}"
        for n in range(SPANS_PER_TRACE):
            span_row += 1
            kind = "AGENT" if n == 0 else ("LLM" if n % 3 == 1 else "TOOL")
            tokens = (rng.randint(500, 5000), rng.randint(20, 400)) if kind == "LLM" else (None, None)
            attrs: dict = {"openinference": {"span": {"kind": kind}}, "session": {"id": f"s-{trace // 5}"}}
            if kind == "LLM":
                attrs["llm"] = {
                    "model_name": "gpt-4o-mini",
                    "provider": "openai",
                    "input_messages": [{"message": {"role": "user", "content": prompt}}],
                    "output_messages": [{"message": {"role": "assistant", "content": "Done. " * 20}}],
                    "token_count": {
                        "prompt": tokens[0],
                        "completion": tokens[1],
                        "prompt_details": {"cache_read": 128},
                    },
                }
            else:
                attrs["input"] = {"value": json.dumps({"query": "order 42", "n": n})}
                attrs["output"] = {"value": "result " * 30}
            error = failed and n == SPANS_PER_TRACE - 1
            db.execute(
                "INSERT INTO spans (id, trace_rowid, span_id, parent_id, name, span_kind, start_time, end_time,"
                " attributes, events, status_code, status_message, cumulative_error_count,"
                " cumulative_llm_token_count_prompt, cumulative_llm_token_count_completion,"
                " llm_token_count_prompt, llm_token_count_completion) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,0,0,0,?,?)",
                (
                    span_row,
                    trace + 1,
                    f"{span_row:016x}",
                    None if n == 0 else root,
                    "support-agent" if n == 0 else f"{kind.lower()}-{n}",
                    kind,
                    stamp(t0 + timedelta(seconds=n)),
                    stamp(t0 + timedelta(seconds=n + 1)),
                    json.dumps(attrs),
                    "[]",
                    "ERROR" if error else "OK",
                    "tool failed" if error else "",
                    *tokens,
                ),
            )
            if kind == "LLM":
                db.execute(
                    "INSERT INTO span_costs (span_rowid, trace_rowid, span_start_time, total_cost, total_tokens,"
                    " prompt_cost, prompt_tokens, completion_cost, completion_tokens) VALUES (?,?,?,?,?,?,?,?,?)",
                    (span_row, trace + 1, stamp(t0), tokens[0] * 1.5e-7 + tokens[1] * 6e-7, sum(tokens), 0, 0, 0, 0),
                )
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 200_000)
