"""Agent-trace export records of the plain shape (what most exports hold: export.rows_from_line lays
out their rows itself), for the tests of the export format and of the parallel import."""

import random

TIME = "2026-10-26T07:33:20Z"


def plain_step(k: int, rnd: random.Random, depth: int = 0) -> dict:
    step = {
        "agent_step_id": f"step-{k % 7}",
        "step_type": rnd.choice(["prompt_call", "web_search", "retrieval", "agent"]),
        "status": "completed" if rnd.random() > 0.1 else "failed",
        "input": '{"q": "what"}',
        "output": '{"text": "that"}',
        "started_at": TIME,
        "duration_seconds": round(rnd.random() * 3, 3),
        "credits_used": 1.5,
        "prompt_tokens": rnd.randint(10, 900),
        "completion_tokens": rnd.randint(10, 400),
    }
    if k % 3 == 0:
        step["tool_calls"] = [
            {
                "id": f"tc-{k}-{n}",
                "function_name": "web_search",
                "input": "{}",
                "output": "ok",
                "error": None,
                "succeeded": True,
                "credits_used": 0.5,
                "duration_seconds": 0.2,
                "round_index": 0,
                "sequence": rnd.choice([0, 1, 2.5]),
            }
            for n in range(rnd.choice([1, 1, 2, 3]))
        ]
    if depth < 2 and k % 4 == 1:
        step["child_steps"] = [plain_step(k + 10 * (c + 1), rnd, depth + 1) for c in range(rnd.randint(1, 3))]
    return step


def plain_run(i: int, rnd: random.Random) -> dict:
    return {
        "run_id": f"run-{i}",
        "agent_id": "agent",
        "status": "completed",
        "credits": 1.5 * 4,
        "started_at": TIME,
        "steps": [plain_step(k, rnd) for k in range(rnd.randint(0, 12))],
    }
