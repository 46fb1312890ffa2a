"""Write the bundled sample traces into this directory (or --out DIR).

    python sample_traces/generate.py [--out DIR]

Deterministic: a fixed base time, no randomness, fixed insertion order, so running it twice gives
byte-identical JSON and JSONL. Only the standard library and orjson are used to write the raw
formats; traces.db is then made by tracetui's own import of export.jsonl.

Files written (see README.md for what each one shows):
  export.jsonl     agent trace export, one run per line
  export.json      the same format as a pretty-printed {"export_type": ..., "runs": [...]} envelope
  agent_traces.db  an agent server's agent_traces table (one row per agent turn)
  events.jsonl     a flat event log, runs interleaved, children often before their parents
  traces.db        tracetui's native store, imported from export.jsonl
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

BASE = datetime(2026, 11, 1, 9, 0, 0, tzinfo=UTC)
HERE = os.path.dirname(os.path.abspath(__file__))

# Text that must reach every output literally: Rich/Textual markup, ANSI colour and screen
# clearing, an OSC window-title change (ends in BEL) and an OSC 8 hyperlink (ends in ST).
MARKUP_BOLD = "[bold]"
MARKUP_CLOSE_TAG = "[/tool_call]"
MARKUP_ACTION = "[@click=app.quit]x[/]"
ANSI_RED = "\x1b[31;1m"
ANSI_RESET = "\x1b[0m"
ANSI_CLEAR = "\x1b[2J\x1b[H"
OSC_TITLE = "\x1b]0;pwned\x07"
OSC_LINK = "\x1b]8;;https://example.invalid/\x1b\\click me\x1b]8;;\x1b\\"
HOSTILE_ERROR = f"{MARKUP_BOLD} {MARKUP_CLOSE_TAG} {MARKUP_ACTION} {ANSI_RED}boom{ANSI_RESET} {OSC_TITLE}"
HOSTILE_AGENT = f"{MARKUP_BOLD}qa-bot{ANSI_RED}"

BIG_PAYLOAD_BYTES = 200 * 1024


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def epoch_ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def js(value: Any) -> str:
    """A payload as the platforms write it: a string with JSON inside."""
    return orjson.dumps(value).decode()


# --- agent trace export (issue 2, source 3) ------------------------------------------------------


class Clock:
    """Wall time within one run; every step that ran takes its slice in execution order."""

    def __init__(self, minute: float):
        self.t = BASE + timedelta(minutes=minute)
        self.start = self.t

    def tick(self, seconds: float) -> tuple[datetime, datetime]:
        began = self.t
        self.t += timedelta(seconds=seconds)
        return began, self.t


def tokens(prompt: int, completion: int, style: str = "prompt") -> dict[str, Any]:
    """Token counts in the three spellings exports use."""
    if style == "io":
        return {"input_tokens": prompt, "output_tokens": completion}
    if style == "usage":
        return {
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
        }
    return {"prompt_tokens": prompt, "completion_tokens": completion}


def tool(
    call_id: str,
    fn: str,
    args: Any,
    output: Any,
    seconds: float,
    credits: float,
    *,
    error: str | None = None,
    round_index: int = 0,
    sequence: int = 0,
) -> dict[str, Any]:
    return {
        "id": call_id,
        "function_name": fn,
        "input": js(args),
        "output": None if output is None else js(output),
        "error": error,
        "succeeded": error is None,
        "credits_used": credits,
        "duration_seconds": seconds,
        "round_index": round_index,
        "sequence": sequence,
    }


def step(
    c: Clock,
    sid: str,
    stype: str,
    seconds: float,
    *,
    status: str = "completed",
    input: Any = None,
    output: Any = None,
    error: str | None = None,
    credits: float = 0.0,
    tok: dict | None = None,
    tool_calls: list[dict] | None = None,
    unfinished: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """A step that ran. `credits` is the step's own; its tool calls' credits are included on top."""
    began, ended = c.tick(seconds)
    used = None if unfinished else round(credits + sum(t["credits_used"] for t in tool_calls or ()), 4)
    out = {
        "agent_step_id": sid,
        "step_type": stype,
        "status": status,
        "input": input,
        "output": output,
        "started_at": iso(began),
        "ended_at": None if unfinished else iso(ended),
        "duration_seconds": None if unfinished else seconds,
        "credits_used": used,
        "error": error,
    }
    out.update(tok or {})
    if tool_calls is not None:
        out["tool_calls"] = tool_calls
    out.update(fields)
    return out


def not_run(sid: str, stype: str, status: str | None = "skipped", **fields: Any) -> dict[str, Any]:
    """A step of a branch that was not taken (or not reached): no times, whatever status the source gave."""
    out = {
        "agent_step_id": sid,
        "step_type": stype,
        "status": status,
        "input": None,
        "output": None,
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "credits_used": None,
        "error": None,
    }
    out.update(fields)
    return out


Steps = Callable[[], list]
NONE: Steps = lambda: []  # noqa: E731


def _close(c: Clock, out: dict[str, Any], began: datetime) -> dict[str, Any]:
    out["started_at"], out["ended_at"] = iso(began), iso(c.t)
    out["duration_seconds"] = round((c.t - began).total_seconds(), 3)
    return out


def if_else(
    c: Clock,
    sid: str,
    condition: str,
    then: Steps,
    else_: Steps,
    after: Steps = NONE,
    *,
    chosen: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    """Branches are built lazily so steps that ran get their time slices in execution order."""
    began, _ = c.tick(0.05)
    out = {
        "agent_step_id": sid,
        "step_type": "if_else",
        "status": status,
        "input": condition,
        "output": None,
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "credits_used": 0.0,
        "error": None,
    }
    if chosen is not None:
        out["chosen_branch"] = chosen
    out["then_steps"], out["else_steps"], out["child_steps"] = then(), else_(), after()
    return _close(c, out, began)


def switch(
    c: Clock,
    sid: str,
    value: str,
    cases: list[tuple[str, Steps]],
    else_: Steps = NONE,
    after: Steps = NONE,
    *,
    chosen: str | None = None,
    status: str = "completed",
) -> dict[str, Any]:
    began, _ = c.tick(0.05)
    out = {
        "agent_step_id": sid,
        "step_type": "switch",
        "status": status,
        "input": value,
        "output": None,
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "credits_used": 0.0,
        "error": None,
    }
    if chosen is not None:
        out["chosen_branch"] = chosen
    out["cases"] = [{"match": match, "steps": steps()} for match, steps in cases]
    out["else_steps"], out["child_steps"] = else_(), after()
    return _close(c, out, began)


def group(
    c: Clock,
    sid: str,
    stype: str,
    children: Steps,
    *,
    status: str = "completed",
    input: Any = None,
    output: Any = None,
    error: str | None = None,
) -> dict[str, Any]:
    began, _ = c.tick(0.05)
    out = {
        "agent_step_id": sid,
        "step_type": stype,
        "status": status,
        "input": input,
        "output": output,
        "started_at": None,
        "ended_at": None,
        "duration_seconds": None,
        "credits_used": 0.0,
        "error": error,
        "child_steps": children(),
    }
    return _close(c, out, began)


def _all_steps(steps: list[dict]) -> list[dict]:
    out = []
    for s in steps:
        out.append(s)
        nested = [s.get(k) or [] for k in ("then_steps", "else_steps", "child_steps")]
        nested += [case["steps"] for case in s.get("cases") or []]
        for kids in nested:
            out.extend(_all_steps(kids))
    return out


def run(
    run_id: str,
    agent: str,
    c: Clock,
    status: str,
    input: str,
    output: str | None,
    steps: list[dict],
    *,
    error: str | None = None,
    attempts: list[dict] | None = None,
    credits: float | None | str = "sum",
    started: bool = True,
) -> dict[str, Any]:
    """A run record; its credits are the sum of its steps' unless the platform reported otherwise."""
    everything = _all_steps(steps)
    summed = round(sum(s.get("credits_used") or 0.0 for s in everything), 4)
    finished = status in ("completed", "failed")
    return {
        "run_id": run_id,
        "agent_id": agent,
        "status": status,
        "input": input,
        "output": output,
        "credits": summed if credits == "sum" else credits,
        "error_count": sum(1 for s in everything if s.get("status") in ("failed", "timeout")),
        "attempts": attempts or [],
        "started_at": iso(c.start) if started else None,
        "ended_at": iso(c.t) if finished else None,
        "error": error,
        "steps": steps,
    }


def big_page() -> str:
    """A fetched documentation page just over 200 KB: the viewer must preview it, not choke on it."""
    lines = ["<html><head><title>Vendor API reference (mirror)</title></head><body>"]
    n = 0
    while sum(len(line) + 1 for line in lines) < BIG_PAYLOAD_BYTES:
        n += 1
        lines.append(
            f'<section id="endpoint-{n:04d}"><h2>GET /v2/resources/{n:04d}</h2><p>Returns resource {n} '
            f"with fields id, name, created_at and owner. Rate limit: {n % 7 + 3} requests per second. "
            f"Example: curl https://api.vendor.example/v2/resources/{n:04d} -H 'Authorization: Bearer …'</p></section>"
        )
    lines.append("</body></html>")
    return "\n".join(lines)


# The research task that run-0001 and its near-identical re-run run-0002 both perform.
RESEARCH_TASK = "Summarise the 2026 changes to the EU AI Act for a product team, with sources."


def research(run_id: str, minute: float, *, rerun: bool) -> dict[str, Any]:
    c = Clock(minute)
    calls = [
        tool(
            "call-s1",
            "search_web",
            {"q": "EU AI Act 2026 amendments", "top_k": 5},
            None if rerun else {"results": 5, "top": "eur-lex.europa.eu"},
            1.4,
            0.2,
            error="HTTP 429 Too Many Requests (search provider rate limit)" if rerun else None,
        )
    ]
    if rerun:
        calls.append(
            tool(
                "call-s2",
                "search_web",
                {"q": "EU AI Act 2026 amendments", "top_k": 5},
                {"results": 2, "top": "example-news.eu"},
                1.1,
                0.2,
                round_index=1,
                sequence=1,
            )
        )
    steps = [
        step(
            c,
            "scan-input",
            "input_scan",
            0.12,
            input=RESEARCH_TASK,
            output=js({"verdict": "clean", "pii": False}),
            credits=0.01,
        ),
        step(
            c,
            "search",
            "web_search",
            2.9 if rerun else 1.6,
            input=js({"q": "EU AI Act 2026 amendments"}),
            output=js({"results": 2 if rerun else 5}),
            credits=0.05,
            tool_calls=calls,
        ),
        step(c, "scan-search", "output_scan", 0.1, output=js({"verdict": "clean"}), credits=0.01),
        if_else(
            c,
            "enough-sources",
            "results >= 3",
            then=(lambda: [not_run("summarize", "llm")])
            if rerun
            else (
                lambda: [
                    step(
                        c,
                        "summarize",
                        "llm",
                        4.2,
                        input="Summarise the 5 sources.",
                        credits=0.6,
                        tok=tokens(5200, 640),
                        model="claude-sonnet-4-5",
                        output="The 2026 amendments phase in obligations for general-purpose models (Art. 53)…",
                    )
                ]
            ),
            else_=(
                lambda: [
                    step(
                        c,
                        "fetch-more",
                        "web_fetch",
                        2.2,
                        input=js({"url": "https://eur-lex.europa.eu/eli/reg/2024/1689"}),
                        output=js({"status": 200, "bytes": 48213}),
                        credits=0.1,
                        tool_calls=[
                            tool(
                                "call-f1",
                                "fetch_url",
                                {"url": "https://eur-lex.europa.eu/eli/reg/2024/1689"},
                                {"status": 200},
                                2.1,
                                0.1,
                            )
                        ],
                    ),
                    step(c, "scan-fetch", "output_scan", 0.1, output=js({"verdict": "clean"}), credits=0.01),
                    step(
                        c,
                        "summarize-extended",
                        "llm",
                        5.1,
                        input="Summarise the 2 sources and the regulation text.",
                        credits=0.8,
                        tok=tokens(9100, 710),
                        model="claude-sonnet-4-5",
                        output="The 2026 amendments phase in obligations…",
                    ),
                ]
            )
            if rerun
            else (
                lambda: [
                    not_run("fetch-more", "web_fetch", "pending"),
                    not_run("scan-fetch", "output_scan", "pending"),
                    not_run("summarize-extended", "llm", "pending"),
                ]
            ),
            chosen=None if rerun else "then",
        ),
        step(
            c,
            "evaluate",
            "evaluation",
            0.8,
            output=js({"rubric": "faithfulness"}),
            credits=0.05,
            score=0.81 if rerun else 0.88,
            passed=True,
            retried=False,
        ),
    ]
    return run(
        run_id,
        "research-agent",
        c,
        "completed",
        RESEARCH_TASK,
        "EU AI Act 2026: GPAI obligations phase in; high-risk deadlines move to 2027; 4 sources.",
        steps,
    )


def support(run_id: str, minute: float, message: str, intent: str) -> dict[str, Any]:
    """The support agent classifies the message, then a switch routes on the intent."""
    c = Clock(minute)
    head = [
        step(c, "scan-input", "input_scan", 0.09, input=message, output=js({"verdict": "clean"}), credits=0.01),
        step(
            c,
            "classify-intent",
            "llm",
            0.7,
            input=message,
            output=js({"intent": intent, "confidence": 0.9}),
            credits=0.08,
            tok=tokens(410, 22, "io"),
            model="gpt-4o-mini",
        ),
    ]

    def case(match: str, ran: Steps, skipped: list[dict]) -> tuple[str, Steps]:
        return match, ran if intent == match else (lambda: skipped)

    cases = [
        case(
            "refund",
            lambda: [
                step(
                    c,
                    "lookup-order",
                    "tool_call",
                    0.4,
                    input=js({"order": "A-10442"}),
                    credits=0.02,
                    tool_calls=[
                        tool(
                            "call-o1",
                            "orders.lookup",
                            {"order": "A-10442"},
                            {"status": "delivered", "total": 89.9},
                            0.35,
                            0.02,
                        )
                    ],
                    output=js({"status": "delivered", "total": 89.9}),
                ),
                step(
                    c,
                    "issue-refund",
                    "webhook_call",
                    0.9,
                    input=js({"order": "A-10442", "amount": 89.9}),
                    credits=0.05,
                    output=js({"refund_id": "rf_7731", "state": "queued"}),
                ),
                step(c, "scan-refund", "output_scan", 0.08, output=js({"verdict": "clean"}), credits=0.01),
            ],
            [
                not_run("lookup-order", "tool_call"),
                not_run("issue-refund", "webhook_call"),
                not_run("scan-refund", "output_scan"),
            ],
        ),
        case("billing", lambda: [], [not_run("billing-faq", "retrieval", None)]),
        case(
            "shipping",
            lambda: [
                step(
                    c,
                    "track-shipment",
                    "tool_call",
                    30.0,
                    status="timeout",
                    input=js({"order": "B-2210"}),
                    credits=0.02,
                    error="carrier API did not answer within 30 s (dhl-tracking)",
                    tool_calls=[
                        tool(
                            "call-t1",
                            "carrier.track",
                            {"order": "B-2210"},
                            None,
                            30.0,
                            0.0,
                            error="ReadTimeout: dhl-tracking after 30000 ms",
                        )
                    ],
                ),
            ],
            [not_run("track-shipment", "tool_call", "pending")],
        ),
    ]
    else_ = {
        "chitchat": lambda: [
            step(
                c,
                "small-talk",
                "llm",
                0.9,
                input=message,
                output="Happy to help! Anything about an order?",
                credits=0.05,
                tok=tokens(300, 40, "io"),
                model="gpt-4o-mini",
            )
        ],
        "refund": lambda: [not_run("small-talk", "llm")],
        "shipping": lambda: [not_run("small-talk", "llm")],
    }.get(intent, NONE)  # an unknown intent: no else branch at all, so nothing matches
    if intent == "shipping":  # timed out inside the branch: the reply is never reached
        after = lambda: [not_run("compose-reply", "llm", None)]  # noqa: E731
    elif intent in ("refund", "chitchat"):
        after = lambda: [  # noqa: E731
            step(
                c,
                "compose-reply",
                "llm",
                1.3,
                input=js({"intent": intent}),
                output="Your refund rf_7731 is on its way." if intent == "refund" else "Happy to help!",
                credits=0.12,
                tok=tokens(820, 96, "usage"),
                model="gpt-4o-mini",
            ),
            step(
                c,
                "reply-policy",
                "governance",
                0.2,
                output=js({"checked": ["tone", "pii"]}),
                credits=0.01,
                verdict="pass",
                confidence=0.99,
                policy_name="support.tone-and-pii",
            ),
        ]
    else:
        after = lambda: [  # noqa: E731
            step(
                c,
                "fallback-reply",
                "llm",
                1.0,
                input=message,
                credits=0.1,
                tok=tokens(500, 60, "usage"),
                model="gpt-4o-mini",
                output="I have passed your question to a colleague.",
            )
        ]
    chosen = {"refund": "refund", "shipping": "shipping"}.get(intent)  # given for these; inferred for the rest
    status = "failed" if intent == "shipping" else "completed"
    steps = head + [
        switch(c, "route-intent", js({"intent": intent}), cases, else_, after, chosen=chosen, status=status)
    ]
    if intent == "shipping":
        return run(
            run_id,
            "support-agent",
            c,
            "failed",
            message,
            None,
            steps,
            error="Step track-shipment timed out after 30 s",
            attempts=[{"attempt": 1, "status": "timeout", "started_at": iso(c.start), "error": "step timeout"}],
        )
    reported = 0.55 if intent == "refund" else "sum"  # the platform billed more than its steps add up to
    return run(run_id, "support-agent", c, "completed", message, "reply sent", steps, credits=reported)


def approval(run_id: str, minute: float, amount: int) -> dict[str, Any]:
    """The approval agent extracts a payment request, asks governance, and branches on the limit."""
    c = Clock(minute)
    request = f"Please pay invoice INV-{amount:05d} from ACME GmbH: {amount} EUR."
    blocked = amount > 10_000
    steps = [
        step(c, "scan-input", "input_scan", 0.1, input=request, output=js({"verdict": "clean"}), credits=0.01),
        step(
            c,
            "extract-request",
            "llm",
            1.1,
            input=request,
            credits=0.09,
            tok=tokens(620, 48),
            model="gemini-2.5-flash",
            output=js({"amount": amount, "currency": "EUR", "vendor": "ACME GmbH"}),
        ),
        step(
            c,
            "policy-check",
            "governance",
            0.3,
            status="failed" if blocked else "completed",
            input=js({"amount": amount, "currency": "EUR"}),
            credits=0.02,
            output=js({"limit": 10000, "amount": amount}),
            error=f"blocked by policy payments.max_amount: {amount} EUR exceeds the 10000 EUR limit"
            if blocked
            else None,
            verdict="block" if blocked else "pass",
            confidence=0.97 if blocked else 0.93,
            policy_name="payments.max_amount",
        ),
        if_else(
            c,
            "within-limit",
            f"{amount} <= 10000",
            then=(lambda: [not_run("submit-payment", "webhook_call"), not_run("scan-payment", "output_scan")])
            if blocked
            else (
                lambda: [
                    step(
                        c,
                        "submit-payment",
                        "webhook_call",
                        1.4,
                        input=js({"invoice": f"INV-{amount:05d}", "amount": amount}),
                        output=js({"payment_id": "pay_5521", "state": "submitted"}),
                        credits=0.05,
                    ),
                    step(c, "scan-payment", "output_scan", 0.08, output=js({"verdict": "clean"}), credits=0.01),
                ]
            ),
            else_=(
                lambda: [
                    step(
                        c,
                        "draft-escalation",
                        "llm",
                        1.6,
                        input=request,
                        credits=0.11,
                        tok=tokens(700, 180),
                        model="gemini-2.5-flash",
                        output="Escalating INV-48000 (48,000 EUR) to a human approver: over the 10,000 EUR limit.",
                    ),
                    step(
                        c,
                        "notify-approver",
                        "webhook_call",
                        0.5,
                        input=js({"channel": "#payments-approvals"}),
                        output=js({"ok": True}),
                        credits=0.02,
                    ),
                    step(c, "scan-notify", "output_scan", 0.08, output=js({"verdict": "clean"}), credits=0.01),
                ]
            )
            if blocked
            else (
                lambda: [
                    not_run("draft-escalation", "llm", "pending"),
                    not_run("notify-approver", "webhook_call", "pending"),
                    not_run("scan-notify", "output_scan", "pending"),
                ]
            ),
            after=lambda: [
                step(
                    c,
                    "confirm",
                    "llm",
                    0.6,
                    credits=0.04,
                    tok=tokens(300, 40),
                    model="gemini-2.5-flash",
                    output="Escalated to an approver." if blocked else "Payment pay_5521 submitted.",
                )
            ],
            chosen=None if blocked else "then",
        ),
    ]
    if blocked:
        return run(
            run_id,
            "approval-agent",
            c,
            "failed",
            request,
            "Escalated to an approver.",
            steps,
            error="Blocked by governance policy payments.max_amount",
        )
    return run(run_id, "approval-agent", c, "completed", request, "Payment pay_5521 submitted.", steps)


def eval_retry(run_id: str, minute: float) -> dict[str, Any]:
    """A failed evaluation triggers a retry: the draft and evaluate steps re-use their ids."""
    c = Clock(minute)
    brief = "Write a 120-word release note for tracetui 0.1."
    steps = [
        step(c, "scan-input", "input_scan", 0.1, input=brief, output=js({"verdict": "clean"}), credits=0.01),
        step(
            c,
            "style-guide",
            "retrieval",
            0.4,
            input=js({"query": "release note style"}),
            credits=0.02,
            output=js({"documents": ["style/release-notes.md"]}),
        ),
        step(
            c,
            "draft",
            "llm",
            3.2,
            input=brief,
            credits=0.3,
            tok=tokens(1800, 410),
            model="gpt-4.1",
            output="tracetui 0.1 is out! It is a tool…",
        ),
        step(
            c,
            "evaluate",
            "evaluation",
            0.9,
            credits=0.05,
            output=js({"reason": "too vague, no feature list"}),
            score=0.42,
            passed=False,
            retried=True,
        ),
        step(
            c,
            "draft",
            "llm",
            3.6,
            input=brief + " Name the features.",
            credits=0.34,
            tok=tokens(2300, 450),
            model="gpt-4.1",
            output="tracetui 0.1 reads agent traces from SQLite and JSONL and shows every step…",
        ),
        step(
            c,
            "evaluate",
            "evaluation",
            0.8,
            credits=0.05,
            output=js({"reason": "clear, accurate"}),
            score=0.91,
            passed=True,
            retried=False,
        ),
    ]
    attempts = [
        {"attempt": 1, "status": "failed", "reason": "evaluation score 0.42 < 0.70"},
        {"attempt": 2, "status": "completed", "reason": "evaluation score 0.91"},
    ]
    return run(run_id, "writer-agent", c, "completed", brief, steps[4]["output"], steps, attempts=attempts)


def recovered(run_id: str, minute: float) -> dict[str, Any]:
    """A fetch fails, the agent falls back to a mirror (a 200 KB page) and completes anyway."""
    c = Clock(minute)
    task = "What are the rate limits of the vendor API?"
    page = big_page()
    steps = [
        step(c, "scan-input", "input_scan", 0.1, input=task, output=js({"verdict": "clean"}), credits=0.01),
        step(
            c,
            "fetch-docs",
            "web_fetch",
            5.0,
            status="failed",
            input=js({"url": "https://docs.vendor.example/api"}),
            error="HTTP 503 Service Unavailable from docs.vendor.example",
            credits=0.02,
            tool_calls=[
                tool(
                    "call-d1",
                    "fetch_url",
                    {"url": "https://docs.vendor.example/api"},
                    None,
                    5.0,
                    0.02,
                    error="HTTP 503 Service Unavailable",
                )
            ],
        ),
        not_run("scan-docs", "output_scan"),  # nothing was fetched, so nothing to scan
        step(
            c,
            "fetch-mirror",
            "web_fetch",
            2.4,
            input=js({"url": "https://mirror.vendor.example/api"}),
            output=page,
            credits=0.04,
            tool_calls=[
                tool(
                    "call-m1",
                    "fetch_url",
                    {"url": "https://mirror.vendor.example/api"},
                    {"status": 200, "bytes": len(page)},
                    2.3,
                    0.04,
                )
            ],
        ),
        step(
            c,
            "scan-mirror",
            "output_scan",
            0.6,
            output=js({"verdict": "clean", "scanned_bytes": len(page)}),
            credits=0.03,
        ),
        step(
            c,
            "summarize",
            "llm",
            6.5,
            input="Summarise the rate limits in the page.",
            credits=1.2,
            tok=tokens(52000, 300, "usage"),
            model="claude-sonnet-4-5",
            output="Rate limits range from 3 to 9 requests per second depending on the endpoint.",
        ),
    ]
    return run(run_id, "research-agent", c, "completed", task, steps[-1]["output"], steps)


def nested_failure(run_id: str, minute: float) -> dict[str, Any]:
    """The root cause sits two levels down: deep-research > gather-sources > fetch-source."""
    c = Clock(minute)
    task = "Compare the three vendors' SLAs."
    tls = "TLS handshake failed: certificate expired (api.vendor-c.example)"
    steps = [
        step(c, "scan-input", "input_scan", 0.1, input=task, output=js({"verdict": "clean"}), credits=0.01),
        group(
            c,
            "deep-research",
            "sub_agent",
            status="failed",
            input=task,
            error=f"sub-agent failed: {tls}",
            children=lambda: [
                group(
                    c,
                    "gather-sources",
                    "for_each",
                    status="failed",
                    input=js(["vendor-a", "vendor-b", "vendor-c"]),
                    error="1 of 3 items failed",
                    children=lambda: [
                        step(
                            c,
                            "fetch-source",
                            "web_fetch",
                            1.2,
                            input=js({"vendor": "vendor-a"}),
                            output=js({"status": 200}),
                            credits=0.03,
                        ),
                        step(
                            c,
                            "fetch-source",
                            "web_fetch",
                            1.0,
                            input=js({"vendor": "vendor-b"}),
                            output=js({"status": 200}),
                            credits=0.03,
                        ),
                        step(
                            c,
                            "fetch-source",
                            "web_fetch",
                            0.4,
                            status="failed",
                            input=js({"vendor": "vendor-c"}),
                            error=tls,
                            credits=0.01,
                        ),
                    ],
                ),
                not_run("compare", "llm", "pending"),
            ],
        ),
    ]
    return run(run_id, "research-agent", c, "failed", task, None, steps, error=f"deep-research failed: {tls}")


def pending(run_id: str, minute: float) -> dict[str, Any]:
    c = Clock(minute)
    request = "Please pay invoice INV-00075 from Globex: 75 EUR."
    return run(
        run_id,
        "approval-agent",
        c,
        "pending",
        request,
        None,
        [not_run("scan-input", "input_scan", "pending")],
        started=False,
        credits=None,
    )


def processing(run_id: str, minute: float) -> dict[str, Any]:
    c = Clock(minute)
    task = "Find this week's releases of Python web frameworks."
    steps = [
        step(c, "scan-input", "input_scan", 0.1, input=task, output=js({"verdict": "clean"}), credits=0.01),
        step(
            c,
            "search",
            "web_search",
            1.5,
            input=js({"q": "python web framework release"}),
            output=js({"results": 7}),
            credits=0.2,
            tool_calls=[tool("call-s1", "search_web", {"q": "python web framework release"}, {"results": 7}, 1.4, 0.2)],
        ),
        step(c, "scan-search", "output_scan", 0.1, output=js({"verdict": "clean"}), credits=0.01),
        step(c, "summarize", "llm", 0.0, status="processing", input="Summarise 7 results.", unfinished=True),
    ]
    return run(run_id, "research-agent", c, "processing", task, None, steps)


def no_steps(run_id: str, minute: float) -> dict[str, Any]:
    c = Clock(minute)
    c.tick(0.02)
    brief = "Write a 120-word release note for tracetui 0.1."
    return run(run_id, "writer-agent", c, "completed", brief, "(answered from cache; no steps ran)", [], credits=0.0)


def hostile(run_id: str, minute: float) -> dict[str, Any]:
    """Markup and terminal escapes in every field: every view must show them as literal text."""
    c = Clock(minute)
    payload = f"Render {MARKUP_BOLD}this{MARKUP_CLOSE_TAG} and {MARKUP_ACTION} {ANSI_RED}red{ANSI_RESET}{ANSI_CLEAR}{OSC_TITLE}{OSC_LINK}"
    steps = [
        step(
            c,
            "scan-input",
            "input_scan",
            0.1,
            input=payload,
            credits=0.01,
            output=js({"verdict": "flag", "findings": ["markup", "ANSI escape", "OSC sequence"], "sample": ANSI_RED}),
        ),
        step(
            c,
            f"{MARKUP_BOLD}render",
            "llm",
            1.0,
            input=payload,
            output=f"{MARKUP_CLOSE_TAG}{OSC_LINK} [red]not red[/red] {ANSI_CLEAR}",
            credits=0.05,
            tok=tokens(120, 60),
            model="gpt-4o-mini",
        ),
        step(
            c,
            f"call-{MARKUP_CLOSE_TAG}",
            "tool_call",
            0.3,
            status="failed",
            input=js({"arg": MARKUP_ACTION}),
            error=f"{MARKUP_CLOSE_TAG} {ANSI_RED}tool exploded{ANSI_RESET} {OSC_TITLE}",
            credits=0.01,
            tool_calls=[
                tool(
                    "call-h1", MARKUP_ACTION, {"text": payload}, None, 0.25, 0.01, error=f"{MARKUP_ACTION} {ANSI_CLEAR}"
                )
            ],
        ),
        step(c, "think", "reasoning", 0.4, input=OSC_LINK, output=f"regex [a-z]+ [/:] {MARKUP_BOLD}", credits=0.0),
    ]
    return run(run_id, HOSTILE_AGENT, c, "failed", payload, f"{MARKUP_ACTION}{OSC_TITLE}", steps, error=HOSTILE_ERROR)


def export_runs() -> list[dict[str, Any]]:
    """The runs of export.jsonl, in the order a platform would export them (by start time)."""
    return [
        research("run-0001-research", 0, rerun=False),
        research("run-0002-research-rerun", 6, rerun=True),
        support("run-0003-support-refund", 12, "I want my money back for order A-10442.", "refund"),
        support("run-0004-support-chitchat", 15, "hi there! how are you today?", "chitchat"),
        support("run-0005-support-unrouted", 18, "Is my toaster still under warranty?", "warranty"),
        approval("run-0006-approval-granted", 21, 420),
        approval("run-0007-approval-blocked", 24, 48000),
        eval_retry("run-0008-writer-eval-retry", 27),
        recovered("run-0009-research-recovered", 31),
        nested_failure("run-0010-research-nested-failure", 35),
        support("run-0011-support-timeout", 38, "Where is my parcel B-2210?", "shipping"),
        pending("run-0012-approval-pending", 44),
        processing("run-0013-research-processing", 45),
        no_steps("run-0014-writer-no-steps", 46),
        hostile("run-0015-hostile-payloads", 47),
    ]


def envelope_runs() -> list[dict[str, Any]]:
    """A few different runs for export.json (a later export of the same platform)."""
    return [
        research("run-0101-research", 120, rerun=False),
        support("run-0102-support-refund", 126, "Refund order A-10442 please, it arrived broken.", "refund"),
        approval("run-0103-approval-blocked", 130, 48000),
        eval_retry("run-0104-writer-eval-retry", 134),
    ]


# --- agent_traces table (issue 2, source 2) ------------------------------------------------------

AGENT_TRACES_SCHEMA = """
CREATE TABLE agent_traces (
    id TEXT PRIMARY KEY,
    session_id TEXT,
    agent_id TEXT,
    workspace_id TEXT,
    started_at TEXT,
    finished_at TEXT,
    duration_ms INTEGER,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    tool_calls TEXT,
    circuit_breaker_events TEXT,
    final_status TEXT,
    error_message TEXT
)
"""

# One agent turn per row: (agent, tools [(name, ms, error)], final_status, error_message, breaker events).
# Breaker events are (provider, from_state, to_state, reason).
TURNS: list[tuple] = [
    ("support-agent", [("kb.search", 220, None), ("orders.lookup", 140, None)], "completed", None, []),
    ("research-agent", [("search_web", 1300, None), ("fetch_url", 900, None)], "completed", None, []),
    (
        "support-agent",
        [("orders.lookup", 3000, "rate limited (429)"), ("orders.lookup", 180, None)],
        "completed",
        None,
        [],
    ),
    ("ops-agent", [("k8s.get_pods", 400, None)], "completed", None, []),
    (
        "research-agent",
        [("search_web", 1200, None), ("fetch_url", 118000, None)],
        "timeout",
        "turn exceeded 120000 ms",
        [],
    ),
    ("support-agent", [], "completed", None, []),
    ("ops-agent", [("k8s.get_pods", 380, None), ("k8s.restart", 2100, None)], "completed", None, []),
    (
        "research-agent",
        [("search_web", 250, "provider openai: 503 upstream unavailable")],
        "error",
        "LLM provider openai unavailable: circuit open",
        [("openai", "closed", "open", "5 consecutive 503 errors")],
    ),
    ("research-agent", [], "error", "LLM provider openai unavailable: circuit open", []),
    (
        "support-agent",
        [("kb.search", 200, None)],
        "completed",
        None,
        [
            ("openai", "open", "half_open", "cool-down of 30 s elapsed"),
            ("openai", "half_open", "closed", "probe request succeeded"),
        ],
    ),
    ("ops-agent", [("pagerduty.ack", 600, None)], "completed", None, []),
    ("support-agent", [("orders.lookup", 150, None), ("refunds.create", 820, None)], "completed", None, []),
    ("ops-agent", [("k8s.logs", 119500, None)], "timeout", "turn exceeded 120000 ms", []),
    ("research-agent", [("search_web", 1100, None)], "completed", None, []),
    ("support-agent", None, "completed", None, []),  # tool_calls NULL: an older server version
    (
        "ops-agent",
        [("k8s.get_pods", 300, None), ("k8s.scale", 5000, "forbidden: ops-agent cannot scale deployments")],
        "completed",
        None,
        [],
    ),
    (
        "research-agent",
        [("search_web", 900, None)],
        "error",
        "anthropic: 529 overloaded",
        [
            ("anthropic", "closed", "open", "overloaded (529) x3"),
            ("anthropic", "open", "half_open", "cool-down of 30 s elapsed"),
        ],
    ),
    ("support-agent", [("kb.search", 210, None)], "completed", None, []),
    (
        "support-agent",
        [(MARKUP_CLOSE_TAG, 50, f"{MARKUP_ACTION} {ANSI_RED}bad tool{ANSI_RESET}")],
        "error",
        HOSTILE_ERROR,
        [],
    ),
    ("ops-agent", [("k8s.get_pods", 350, None)], "completed", None, []),
]


def agent_trace_rows() -> list[tuple]:
    rows = []
    for n, (agent, calls, final, error, breaker) in enumerate(TURNS, 1):
        began = BASE + timedelta(minutes=3 * n)
        at = began + timedelta(milliseconds=400)
        tool_calls = None
        if calls is not None:
            tool_calls = []
            for name, ms, tool_error in calls:
                tool_calls.append({"toolName": name, "durationMs": ms, "error": tool_error, "timestamp": epoch_ms(at)})
                at += timedelta(milliseconds=ms + 150)
        ended = max(
            at + timedelta(milliseconds=900), began + timedelta(milliseconds=120000 if final == "timeout" else 0)
        )
        events = []
        for i, (provider, from_state, to_state, reason) in enumerate(breaker):
            events.append(
                {
                    "provider": provider,
                    "from_state": from_state,
                    "to_state": to_state,
                    "timestamp": iso(began + timedelta(milliseconds=200 + 100 * i)),
                    "reason": reason,
                }
            )
        prompt = 600 + 137 * n
        completion = 80 + 23 * n
        rows.append(
            (
                f"turn-{n:04d}",
                f"sess-{(n + 1) // 2:03d}",
                agent,
                "ws-acme" if n % 3 else "ws-globex",
                iso(began),
                iso(ended),
                int((ended - began).total_seconds() * 1000),
                prompt,
                completion,
                None if n % 7 == 0 else prompt + completion,  # some servers leave the total out
                None if tool_calls is None else js(tool_calls),
                js(events),
                final,
                error,
            )
        )
    return rows


def write_agent_traces(path: str) -> None:
    if os.path.exists(path):
        os.remove(path)
    conn = sqlite3.connect(path)
    try:
        conn.execute(AGENT_TRACES_SCHEMA)
        conn.executemany(f"INSERT INTO agent_traces VALUES ({', '.join('?' * 14)})", agent_trace_rows())
        conn.commit()
    finally:
        conn.close()


# --- flat event log (issue 2, source 4) ----------------------------------------------------------

# Per run: (run_id, agent, start second, events). An event is
# (step_id, parent_id, type, start offset s, duration ms, tokens in, tokens out, cost, content, tool, arguments).
EVENT_RUNS: list[tuple] = [
    (
        "ev-0001-triage",
        "triage-bot",
        0,
        [
            (
                "e1-plan",
                None,
                "reasoning",
                0.0,
                9000,
                900,
                120,
                0.0042,
                "Ticket mentions login failures after the 2.3 update.",
                None,
                None,
            ),
            (
                "e1-search",
                "e1-plan",
                "tool_call",
                1.0,
                700,
                None,
                None,
                None,
                None,
                "search_tickets",
                {"query": "login 2.3", "limit": 5},
            ),
            (
                "e1-search-result",
                "e1-search",
                "tool_result",
                1.7,
                10,
                None,
                None,
                None,
                '{"matches": 3}',
                "search_tickets",
                None,
            ),
            (
                "e1-answer",
                "e1-plan",
                "reasoning",
                2.0,
                6500,
                1500,
                300,
                0.0081,
                "Known issue #812: link the workaround.",
                None,
                None,
            ),
        ],
    ),
    (
        "ev-0002-codefix",
        "code-bot",
        3,
        [
            (
                "e2-plan",
                None,
                "reasoning",
                0.0,
                20000,
                2100,
                400,
                0.0120,
                "Tests fail in test_parser; read the traceback first.",
                None,
                None,
            ),
            (
                "e2-tests",
                "e2-plan",
                "tool_call",
                1.5,
                4200,
                None,
                None,
                None,
                None,
                "run_tests",
                {"path": "tests/test_parser.py"},
            ),
            (
                "e2-tests-result",
                "e2-tests",
                "tool_result",
                5.7,
                5,
                None,
                None,
                None,
                "1 failed: test_empty_input",
                "run_tests",
                None,
            ),
            (
                "e2-patch",
                "e2-plan",
                "tool_call",
                7.0,
                300,
                None,
                None,
                None,
                None,
                "apply_patch",
                '{"file": "parser.py", "hunks": 1}',
            ),
            (
                "e2-patch-result",
                "e2-patch",
                "tool_result",
                7.3,
                5,
                None,
                None,
                None,
                "patched parser.py",
                "apply_patch",
                None,
            ),
            ("e2-retest", "e2-plan", "tool_call", 8.0, 4000, None, None, None, None, "run_tests", {"path": "tests/"}),
            ("e2-retest-result", "e2-retest", "tool_result", 12.0, 5, None, None, None, "41 passed", "run_tests", None),
        ],
    ),
    (
        "ev-0003-codefix-error",
        "code-bot",
        5,
        [
            (
                "e3-plan",
                None,
                "reasoning",
                0.0,
                9000,
                1800,
                250,
                0.0095,
                "Run the tests, then fix what fails.",
                None,
                None,
            ),
            ("e3-tests", "e3-plan", "tool_call", 1.0, 3000, None, None, None, None, "run_tests", {"path": "tests/"}),
            ("e3-tests-result", "e3-tests", "tool_result", 4.0, 5, None, None, None, "exit code 2", "run_tests", None),
            (
                "e3-error",
                "e3-tests",
                "error",
                4.1,
                0,
                None,
                None,
                None,
                "pytest exited with code 2: ModuleNotFoundError: No module named 'parser_v2'",
                "run_tests",
                None,
            ),
        ],
    ),
    (
        "ev-0004-planner",
        "planner",
        8,
        [
            (
                "e4-root",
                None,
                "reasoning",
                0.0,
                15000,
                3000,
                600,
                0.0180,
                "Plan the Q4 offsite: venue, travel, agenda.",
                None,
                None,
            ),
            (
                "e4-venue",
                "e4-root",
                "reasoning",
                0.5,
                6000,
                800,
                200,
                0.0040,
                "Venue first; it constrains dates.",
                None,
                None,
            ),
            (
                "e4-venue-search",
                "e4-venue",
                "tool_call",
                1.0,
                2500,
                None,
                None,
                None,
                None,
                "search_venues",
                {"city": "Lisbon", "people": 40},
            ),
            (
                "e4-venue-result",
                "e4-venue-search",
                "tool_result",
                3.5,
                5,
                None,
                None,
                None,
                '{"venues": 4}',
                "search_venues",
                None,
            ),
            (
                "e4-agenda",
                "e4-root",
                "reasoning",
                7.0,
                5000,
                900,
                450,
                0.0055,
                "Two days; workshops in the morning.",
                None,
                None,
            ),
        ],
    ),
    (
        "ev-0005-hostile",
        HOSTILE_AGENT,
        11,
        [
            (
                "e5-plan",
                None,
                "reasoning",
                0.0,
                3000,
                200,
                50,
                0.0010,
                f"{MARKUP_BOLD}{MARKUP_CLOSE_TAG}{MARKUP_ACTION} {ANSI_RED}{OSC_TITLE}",
                None,
                None,
            ),
            (
                "e5-call",
                "e5-plan",
                "tool_call",
                0.5,
                200,
                None,
                None,
                None,
                None,
                MARKUP_CLOSE_TAG,
                {"x": f"{MARKUP_ACTION}{OSC_LINK}"},
            ),
            (
                "e5-result",
                "e5-call",
                "tool_result",
                0.7,
                5,
                None,
                None,
                None,
                f"{ANSI_CLEAR}{MARKUP_BOLD}",
                MARKUP_CLOSE_TAG,
                None,
            ),
            (
                "e5-call-2",
                "e5-plan",
                "tool_call",
                1.0,
                300,
                None,
                None,
                None,
                None,
                MARKUP_ACTION,
                f"{OSC_LINK}{ANSI_CLEAR}",
            ),
        ],
    ),
]


def event_lines() -> list[dict[str, Any]]:
    """Every event, written when its step ends: lines of different runs interleave, and a parent that
    spans its children comes after them."""
    stamped = []
    for run_id, agent, start, events in EVENT_RUNS:
        for order, (sid, parent, etype, offset, ms, tin, tout, cost, content, tool_name, args) in enumerate(events):
            began = BASE + timedelta(seconds=start + offset)
            record = {
                "run_id": run_id,
                "step_id": sid,
                "parent_id": parent,
                "type": etype,
                "agent": agent,
                "timestamp": iso(began),
                "duration_ms": ms,
                "input_tokens": tin,
                "output_tokens": tout,
                "cost_usd": cost,
                "content": content,
                "tool": tool_name,
                "arguments": args,
            }
            stamped.append((began + timedelta(milliseconds=ms), run_id, order, record))
    stamped.sort(key=lambda item: item[:3])
    return [record for *_, record in stamped]


# --- writing -------------------------------------------------------------------------------------


def write_jsonl(path: str, records: list[dict[str, Any]]) -> None:
    with open(path, "wb") as f:
        for record in records:
            f.write(orjson.dumps(record) + b"\n")


def write_envelope(path: str, runs: list[dict[str, Any]]) -> None:
    doc = {"export_type": "agent_traces", "exported_at": iso(BASE + timedelta(hours=3)), "runs": runs}
    with open(path, "wb") as f:
        f.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")


def write_native(out: str) -> int:
    """traces.db through tracetui's own import, so it is exactly what `tracetui import` writes."""
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))
    from tracetui.errors import TraceError
    from tracetui.loading import prepare

    target = os.path.join(out, "traces.db")
    for suffix in ("", "-wal", "-shm", "-journal"):
        if os.path.exists(target + suffix):
            os.remove(target + suffix)
    # Import by relative name so the store records "export.jsonl", not this machine's path.
    cwd = os.getcwd()
    os.chdir(out)
    try:
        opening = prepare("export.jsonl", output="traces.db")
        count = opening.run_import()
    except TraceError as exc:
        raise SystemExit(f"generate.py: cannot import export.jsonl into traces.db: {exc}") from None
    finally:
        os.chdir(cwd)
    if os.path.exists(target + ".lock"):  # left by the importer's cross-process lock; not part of the sample
        os.remove(target + ".lock")
    if opening.problems:
        raise SystemExit(f"generate.py: importing export.jsonl reported problems: {opening.problems}")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=HERE, help="directory to write into (default: next to this script)")
    parser.add_argument("--no-store", action="store_true", help="skip traces.db (it needs tracetui importable)")
    args = parser.parse_args(argv)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    write_jsonl(os.path.join(out, "export.jsonl"), export_runs())
    write_envelope(os.path.join(out, "export.json"), envelope_runs())
    write_agent_traces(os.path.join(out, "agent_traces.db"))
    write_jsonl(os.path.join(out, "events.jsonl"), event_lines())
    if not args.no_store:
        write_native(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
