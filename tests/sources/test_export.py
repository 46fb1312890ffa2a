import json

import orjson
from click.testing import CliRunner

from tracetui.cli import main
from tracetui.loading import open_store, prepare
from tracetui.model import FLAG_DID_NOT_RUN
from tracetui.sources import export, read_head

T0 = "2026-03-01T10:00:00Z"


def write_lines(path, records):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return str(path)


def write_doc(path, doc, indent=True):
    path.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0))
    return str(path)


def one_run(tmp_path, steps, name="run.txt", **fields):
    """Store and run of a single exported run with the given steps."""
    record = {"run_id": "r1", "agent_id": "bot", "status": "completed", "steps": steps, **fields}
    store = open_store(write_lines(tmp_path / name, [record]))
    return store, store.get_run("r1")


def by_id(store, run_id="r1"):
    return {s.id: s for s in store.steps(run_id, payloads=True)}


def shape(store, run_id="r1"):
    """(id, parent, depth) in execution order."""
    return [(s.id, s.parent_id, s.depth) for s in store.steps(run_id)]


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


RUN = {
    "run_id": "r1",
    "agent_id": "bot",
    "status": "completed",
    "steps": [{"agent_step_id": "a", "status": "completed"}],
}


# -- detection ------------------------------------------------------------------------------------


def test_jsonl_detected_from_content_not_name(tmp_path):
    path = write_lines(tmp_path / "notes.txt", [RUN, {**RUN, "run_id": "r2"}])
    assert prepare(path).format == "export"
    store = open_store(path)
    assert [r.id for r in store.list_runs(sort="id", desc=False)] == ["r1", "r2"]
    assert store.get_run("r2").source_line == 2


def test_envelope_document_with_its_fields_on_every_run(tmp_path):
    doc = {
        "export_type": "agent_traces",
        "exported_at": "2026-03-02T00:00:00Z",
        "filters": {"agent": ["bot"]},
        "runs": [RUN, {**RUN, "run_id": "r2"}],
    }
    path = write_doc(tmp_path / "dump.data", doc)
    assert prepare(path).format == "export"
    store = open_store(path)
    run = store.get_run("r2")
    assert run.source_line == 2
    assert run.extra["export"] == {
        "export_type": "agent_traces",
        "exported_at": "2026-03-02T00:00:00Z",
        "filters": {"agent": ["bot"]},
    }


def test_envelope_on_one_line_and_runs_key_without_export_type(tmp_path):
    path = write_doc(tmp_path / "a.json", {"export_type": "agent_traces", "runs": [RUN]}, indent=False)
    assert prepare(path).format == "export" and open_store(path).count_runs() == 1
    path = write_doc(tmp_path / "b.json", {"version": 2, "runs": [RUN]})
    store = open_store(path)
    assert store.get_run("r1").extra["export"] == {"version": 2}


def test_envelope_whose_first_array_is_not_the_runs(tmp_path):
    doc = {"export_type": "agent_traces", "agents": ["bot", "other"], "runs": [RUN]}
    store = open_store(write_doc(tmp_path / "e.json", doc))
    assert [r.id for r in store.list_runs()] == ["r1"]
    assert store.get_run("r1").extra["export"]["agents"] == ["bot", "other"]


def test_bare_array_pretty_and_on_one_line(tmp_path):
    for name, indent in (("pretty.json", True), ("flat.json", False)):
        path = write_doc(tmp_path / name, [RUN, {**RUN, "run_id": "r2"}], indent=indent)
        assert prepare(path).format == "export"
        store = open_store(path)
        assert store.count_runs() == 2 and "export" not in store.get_run("r1").extra


def test_not_claimed_without_run_markers_or_for_event_log_lines(tmp_path):
    plain = write_lines(tmp_path / "x.jsonl", [{"run_id": "r1", "note": "hello"}])
    event = write_lines(tmp_path / "y.jsonl", [{"run_id": "r1", "step_id": "s1", "type": "reasoning", "status": "ok"}])
    other = write_doc(tmp_path / "z.json", {"items": [{"id": 1}]})
    assert not any(export.sniff(read_head(p)) for p in (plain, event, other))


def test_jsonl_with_broken_first_line_is_still_detected_and_the_line_reported(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"run_id": "r0", "steps": [\n' + orjson.dumps(RUN) + b"\n")
    store = open_store(str(path))
    assert store.source_format == "export" and [r.id for r in store.list_runs()] == ["r1"]
    assert [(p.line, p.message.split(" (")[0]) for p in store.problems()] == [(1, "skipped: invalid JSON")]


# -- runs -----------------------------------------------------------------------------------------


def test_run_fields(tmp_path):
    record = {
        "run_id": 42,
        "agent_id": "bot",
        "status": "processing",
        "session_id": "s-9",
        "input": {"question": "why?"},
        "output": "because",
        "credits": 3.5,
        "error_message": "late",
        "error_count": 2,
        "attempts": [{"n": 1}, {"n": 2}],
        "metadata": {"team": "x"},
        "started_at": T0,
        "ended_at": 1772359202.5,
        "workspace": "w1",
        "steps": [],
    }
    store = open_store(write_lines(tmp_path / "r.jsonl", [record]))
    run = store.get_run("42")
    assert (run.agent, run.session, run.status, run.error, run.credits) == ("bot", "s-9", "running", "late", 3.5)
    assert run.input == '{"question":"why?"}' and run.output == "because"
    assert run.started_at == "2026-03-01T10:00:00.000Z" and run.ended_at == "2026-03-01T10:00:02.500Z"
    assert run.duration_ms == 2500.0
    assert run.metadata == {"team": "x"}
    assert run.extra == {
        "raw_status": "processing",
        "error_count": 2,
        "attempts": [{"n": 1}, {"n": 2}],
        "workspace": "w1",
    }


def test_run_statuses(tmp_path):
    records = [{"run_id": f"r-{s}", "status": s, "steps": []} for s in ("pending", "processing", "completed", "failed")]
    records.append({"run_id": "r-none", "agent_id": "a", "error": "crashed"})
    store = open_store(write_lines(tmp_path / "s.jsonl", records))
    got = {r.id: r.status for r in store.list_runs()}
    assert got == {
        "r-pending": "pending",
        "r-processing": "running",
        "r-completed": "completed",
        "r-failed": "failed",
        "r-none": "failed",
    }


# -- steps ----------------------------------------------------------------------------------------


def test_nested_steps_and_tool_calls_in_execution_order(tmp_path):
    steps = [
        {"agent_step_id": "scan", "step_type": "input_scan", "status": "completed"},
        {
            "agent_step_id": "think",
            "step_type": "agent_llm",
            "status": "completed",
            "input": '{"prompt": "hi"}',
            "duration_seconds": 1.25,
            "prompt_tokens": 10,
            "completion_tokens": 4,
            "tool_calls": [
                {"id": "late", "function_name": "web_fetch", "round_index": 1, "sequence": 0, "input": {"url": "u"}},
                {"id": "second", "function_name": "calc", "round_index": 0, "sequence": 1, "succeeded": False},
                {
                    "id": "first",
                    "function_name": "search",
                    "round_index": 0,
                    "sequence": 0,
                    "error": "rate limited",
                    "duration_seconds": 0.5,
                    "output": "[]",
                },
            ],
            "child_steps": [
                {
                    "agent_step_id": "sub",
                    "step_type": "reasoning",
                    "status": "completed",
                    "child_steps": [{"agent_step_id": "deep", "status": "completed"}],
                }
            ],
        },
    ]
    store, run = one_run(tmp_path, steps)
    assert shape(store) == [
        ("scan", None, 0),
        ("think", None, 0),
        ("first", "think", 1),
        ("second", "think", 1),
        ("late", "think", 1),
        ("sub", "think", 1),
        ("deep", "sub", 2),
    ]
    s = by_id(store)
    assert (s["think"].kind, s["think"].raw_type, s["think"].name) == ("llm", "agent_llm", "think")
    assert s["think"].input == '{"prompt": "hi"}' and s["think"].duration_ms == 1250.0
    assert (s["think"].tokens_in, s["think"].tokens_out) == (10, 4)
    first = s["first"]
    assert (first.name, first.kind, first.raw_type, first.status, first.error) == (
        "search",
        "tool",
        "tool_call",
        "failed",
        "rate limited",
    )
    assert first.duration_ms == 500.0 and first.output == "[]"
    assert first.extra == {"round_index": 0, "sequence": 0}
    assert s["second"].status == "failed" and s["second"].extra["succeeded"] is False
    assert s["late"].status == "completed" and s["late"].input == '{"url":"u"}'
    assert run.step_count == 7 and run.failed_steps == 2


def test_step_ids_fall_back_to_id_then_generated(tmp_path):
    store, _ = one_run(
        tmp_path,
        [
            {"id": "plain", "status": "completed"},
            {"status": "completed"},
            {"status": "completed", "tool_calls": [{"function_name": "f"}]},
        ],
    )
    assert [s.id for s in store.steps("r1")] == ["plain", "step-2", "step-3", "step-3.call-1"]


def test_tokens_from_usage_objects_and_input_output_names(tmp_path):
    steps = [
        {"agent_step_id": "a", "status": "completed", "usage": {"prompt_tokens": 5, "completion_tokens": 6}},
        {
            "agent_step_id": "b",
            "status": "completed",
            "usage": {"input_tokens": 7, "output_tokens": 8, "total_tokens": 15},
        },
        {"agent_step_id": "c", "status": "completed", "input_tokens": 1, "output_tokens": 2, "cost_usd": 0.25},
    ]
    store, run = one_run(tmp_path, steps)
    s = by_id(store)
    assert [(s[k].tokens_in, s[k].tokens_out) for k in "abc"] == [(5, 6), (7, 8), (1, 2)]
    assert s["b"].extra == {"usage": {"total_tokens": 15}} and "usage" not in s["a"].extra
    assert (run.steps_tokens_in, run.steps_tokens_out, run.steps_cost_usd) == (13, 16, 0.25)


def test_tool_credits_are_part_of_their_step(tmp_path):
    steps = [
        {
            "agent_step_id": "llm",
            "status": "completed",
            "credits_used": 10,
            "tool_calls": [
                {"id": "t1", "function_name": "a", "credits_used": 3},
                {"id": "t2", "function_name": "b", "credits_used": 2.5},
            ],
        },
        {"agent_step_id": "other", "status": "completed", "credits_used": 1},
    ]
    store, run = one_run(tmp_path, steps, credits=11)
    s = by_id(store)
    assert (s["llm"].credits, s["llm"].sub_credits, s["llm"].extra["credits_used"]) == (4.5, 10.0, 10.0)
    assert (s["t1"].credits, s["t2"].credits) == (3.0, 2.5)
    assert run.credits == 11 and run.steps_credits == 11 and run.flags == [] and run.mismatches == {}
    assert invoke("list", store.label, "--json").exit_code == 0
    assert json.loads(invoke("list", store.label, "--json").stdout)[0]["credits"] == 11


def test_tool_credits_above_the_step_total_clamp_and_flag(tmp_path):
    steps = [
        {
            "agent_step_id": "llm",
            "status": "completed",
            "credits_used": 2,
            "tool_calls": [{"id": "t1", "function_name": "a", "credits_used": 3}],
        }
    ]
    store, run = one_run(tmp_path, steps, credits=2)
    step = by_id(store)["llm"]
    assert step.credits == 0 and step.sub_credits == 3 and step.flags == ["credits_mismatch"]
    assert step.extra["credits_used"] == 2
    assert run.mismatches == {"credits": (2.0, 3.0)} and "total_mismatch" in run.flags


def test_run_credits_differing_from_steps_are_both_kept_and_flagged(tmp_path):
    store, run = one_run(tmp_path, [{"agent_step_id": "a", "status": "completed", "credits_used": 4}], credits=5)
    assert (run.credits, run.steps_credits, run.flags) == (5.0, 4.0, ["total_mismatch"])


def test_repeated_step_ids_get_unique_ids_and_children_follow_their_occurrence(tmp_path):
    def attempt(n):
        return {
            "agent_step_id": "call",
            "status": "failed" if n < 3 else "completed",
            "child_steps": [{"agent_step_id": "parse", "status": "completed", "output": f"try {n}"}],
        }

    store, run = one_run(
        tmp_path, [attempt(1), attempt(2), attempt(3), {"agent_step_id": "call#2", "status": "completed"}]
    )
    assert shape(store) == [
        ("call", None, 0),
        ("parse", "call", 1),
        ("call#2", None, 0),
        ("parse#2", "call#2", 1),
        ("call#3", None, 0),
        ("parse#3", "call#3", 1),
        ("call#2#2", None, 0),
    ]
    s = by_id(store)
    assert s["parse#3"].output == "try 3"
    assert (s["call"].definition_id, s["call#2"].definition_id, s["parse#3"].definition_id) == (None, "call", "parse")
    assert s["call#2#2"].definition_id == "call#2"
    assert "duplicate_id" not in run.flags


def test_a_step_without_status_or_start_did_not_run(tmp_path):
    steps = [
        {"agent_step_id": "a"},
        {"agent_step_id": "b", "status": "none"},
        {"agent_step_id": "c", "started_at": T0},
        {"agent_step_id": "d", "error": "x"},
    ]
    store, _ = one_run(tmp_path, steps)
    s = by_id(store)
    assert (s["a"].status, s["a"].flags) == ("skipped", [FLAG_DID_NOT_RUN])
    assert (s["b"].status, s["b"].flags, s["b"].extra) == ("skipped", [FLAG_DID_NOT_RUN], {"raw_status": "none"})
    assert (s["c"].status, s["c"].flags) == ("completed", [])
    assert (s["d"].status, s["d"].flags) == ("failed", [])
    running = open_store(
        write_lines(tmp_path / "p.jsonl", [{"run_id": "p", "status": "processing", "steps": [{"agent_step_id": "a"}]}])
    )
    step = running.steps("p")[0]
    assert (step.status, step.flags) == ("pending", [FLAG_DID_NOT_RUN])


def test_step_status_normalised_and_raw_kept(tmp_path):
    store, _ = one_run(
        tmp_path,
        [
            {"agent_step_id": "a", "status": "success"},
            {"agent_step_id": "b", "status": "error"},
            {"agent_step_id": "c", "status": "completed"},
        ],
    )
    s = by_id(store)
    assert [(s[k].status, s[k].extra.get("raw_status")) for k in "abc"] == [
        ("completed", "success"),
        ("failed", "error"),
        ("completed", None),
    ]


def test_unknown_step_type_and_fields_are_kept(tmp_path):
    steps = [
        {
            "agent_step_id": "q",
            "step_type": "quantum_leap",
            "status": "completed",
            "flux": [1, 2],
            "title": "Leap",
            "step_name": "also a name",
            "started_at": "not a time",
        }
    ]
    store, _ = one_run(tmp_path, steps)
    step = by_id(store)["q"]
    assert (step.kind, step.raw_type, step.name) == ("other", "quantum_leap", "Leap")
    assert step.extra == {"flux": [1, 2], "step_name": "also a name", "started_at": "not a time"}
    store2, _ = one_run(tmp_path, [{"agent_step_id": "q", "step_type": "quantum_leap", "status": "completed"}], "2.txt")
    assert by_id(store2)["q"].name == "q"
    out = invoke("show", store2.label, "r1").stdout
    assert "quantum_leap" in out


# -- branches -------------------------------------------------------------------------------------


def if_else(chosen=None, then_status="completed", else_status="skipped", **more):
    step = {
        "agent_step_id": "route",
        "step_type": "if_else",
        "status": "completed",
        "then_steps": [
            {
                "agent_step_id": "yes",
                "status": then_status,
                "child_steps": [{"agent_step_id": "yes-inner", "status": then_status}],
            }
        ],
        "else_steps": [{"agent_step_id": "no", "status": else_status}],
        "child_steps": [{"agent_step_id": "after", "status": "completed"}],
        **more,
    }
    if chosen is not None:
        step["chosen_branch"] = chosen
    return step


def test_if_else_children_order_branches_and_continuation(tmp_path):
    store, _ = one_run(tmp_path, [if_else()])
    assert shape(store) == [
        ("route", None, 0),
        ("yes", "route", 1),
        ("yes-inner", "yes", 2),
        ("no", "route", 1),
        ("after", "route", 1),
    ]
    s = by_id(store)
    assert (s["yes"].branch, s["no"].branch, s["after"].branch, s["yes-inner"].branch) == ("then", "else", None, None)
    assert s["after"].extra == {"continuation": True} and "continuation" not in s["yes"].extra
    assert s["route"].kind == "control" and s["route"].chosen_branch == "then"


def test_if_else_inferred_else(tmp_path):
    store, _ = one_run(tmp_path, [if_else(then_status="pending", else_status="completed")])
    s = by_id(store)
    assert s["route"].chosen_branch == "else"
    assert (s["yes"].status, s["yes"].extra["raw_status"]) == ("skipped", "pending")
    assert s["yes-inner"].status == "skipped" and s["no"].status == "completed"


def test_if_else_explicit_branch_wins_over_what_the_steps_say(tmp_path):
    store, _ = one_run(tmp_path, [if_else(chosen="else", then_status="completed", else_status="completed")])
    s = by_id(store)
    assert s["route"].chosen_branch == "else"
    assert [(s[k].status, s[k].extra.get("raw_status")) for k in ("yes", "yes-inner", "no", "after")] == [
        ("skipped", "completed"),
        ("skipped", "completed"),
        ("completed", None),
        ("completed", None),
    ]


def test_if_else_chosen_as_a_boolean_keeps_the_raw_value(tmp_path):
    store, _ = one_run(tmp_path, [if_else(chosen=False, then_status="completed")])
    s = by_id(store)
    assert s["route"].chosen_branch == "else" and s["route"].extra["raw_chosen_branch"] is False
    assert s["yes"].status == "skipped"


def test_when_steps_of_both_branches_ran_none_is_hidden_and_the_step_flagged(tmp_path):
    store, _ = one_run(tmp_path, [if_else(then_status="completed", else_status="failed")])
    s = by_id(store)
    assert s["route"].chosen_branch == "then" and s["route"].flags == ["several_branches_ran"]
    assert (s["yes"].status, s["no"].status) == ("completed", "failed")


def test_if_else_that_ran_with_an_empty_taken_branch(tmp_path):
    step = {
        "agent_step_id": "route",
        "step_type": "if_else",
        "status": "completed",
        "then_steps": [],
        "else_steps": [{"agent_step_id": "no"}],
    }
    store, _ = one_run(tmp_path, [step])
    s = by_id(store)
    assert s["route"].chosen_branch == "then" and s["no"].status == "skipped" and s["no"].branch == "else"


def test_if_else_that_did_not_run_chooses_nothing(tmp_path):
    step = {
        "agent_step_id": "route",
        "step_type": "if_else",
        "then_steps": [{"agent_step_id": "yes"}],
        "else_steps": [{"agent_step_id": "no"}],
    }
    store, _ = one_run(tmp_path, [step])
    s = by_id(store)
    assert s["route"].chosen_branch is None
    assert [s[k].status for k in ("route", "yes", "no")] == ["skipped"] * 3


def switch(chosen=None, ran=None, **more):
    def case(match, sid):
        return {"match": match, "steps": [{"agent_step_id": sid, "status": "completed" if ran == sid else "skipped"}]}

    step = {
        "agent_step_id": "sw",
        "step_type": "switch",
        "status": "completed",
        "cases": [case("billing", "bill"), case(404, "notfound")],
        "else_steps": [{"agent_step_id": "fallback", "status": "completed" if ran == "fallback" else None}],
        "child_steps": [{"agent_step_id": "next", "status": "completed"}],
        **more,
    }
    if chosen is not None:
        step["chosen_branch"] = chosen
    return step


def test_switch_matched_case(tmp_path):
    store, _ = one_run(tmp_path, [switch(ran="notfound")])
    s = by_id(store)
    assert shape(store) == [
        ("sw", None, 0),
        ("bill", "sw", 1),
        ("notfound", "sw", 1),
        ("fallback", "sw", 1),
        ("next", "sw", 1),
    ]
    assert s["sw"].chosen_branch == "404"
    assert [(s[k].branch, s[k].status) for k in ("bill", "notfound", "fallback", "next")] == [
        ("billing", "skipped"),
        ("404", "completed"),
        ("else", "skipped"),
        (None, "completed"),
    ]
    assert s["next"].extra == {"continuation": True}
    assert s["sw"].extra["cases"] == [{"match": "billing"}, {"match": 404}]


def test_switch_else_and_no_match(tmp_path):
    store, _ = one_run(tmp_path, [switch(ran="fallback")])
    assert by_id(store)["sw"].chosen_branch == "else"
    store, _ = one_run(tmp_path, [switch(ran=None)], "nomatch.txt")
    s = by_id(store)
    assert s["sw"].chosen_branch == "no match"
    assert {s[k].status for k in ("bill", "notfound", "fallback")} == {"skipped"}


def test_switch_explicit_choice_wins(tmp_path):
    store, _ = one_run(tmp_path, [switch(chosen="billing", ran="notfound")])
    s = by_id(store)
    assert s["sw"].chosen_branch == "billing"
    assert (s["bill"].status, s["notfound"].status, s["notfound"].extra["raw_status"]) == (
        "skipped",
        "skipped",
        "completed",
    )


# -- pseudo-steps ---------------------------------------------------------------------------------


def test_pseudo_steps(tmp_path):
    steps = [
        {"agent_step_id": "in", "step_type": "input_scan", "status": "completed"},
        {"agent_step_id": "fetch", "step_type": "web_fetch", "status": "completed"},
        {"agent_step_id": "out", "step_type": "output_scan", "status": "completed"},
        {
            "agent_step_id": "gov",
            "step_type": "governance",
            "status": "failed",
            "verdict": "Block",
            "confidence": 0.93,
            "policy_name": "pii",
        },
        {
            "agent_step_id": "eval",
            "step_type": "evaluation",
            "status": "completed",
            "score": 0.4,
            "passed": False,
            "retried": True,
        },
    ]
    store, _ = one_run(tmp_path, steps)
    s = by_id(store)
    assert [s[k].kind for k in ("in", "fetch", "out", "gov", "eval")] == [
        "scan",
        "tool",
        "scan",
        "governance",
        "evaluation",
    ]
    assert (s["gov"].verdict, s["gov"].confidence, s["gov"].policy) == ("block", 0.93, "pii")
    assert s["eval"].score == 0.4 and s["eval"].extra == {"passed": False, "retried": True}


# -- first failed step ----------------------------------------------------------------------------


def test_first_failed_step_is_a_recovered_tool_error_in_a_completed_run(tmp_path):
    steps = [
        {
            "agent_step_id": "llm",
            "status": "completed",
            "tool_calls": [{"id": "ok", "function_name": "a"}, {"id": "bad", "function_name": "b", "error": "500"}],
        }
    ]
    store, run = one_run(tmp_path, steps)
    assert run.status == "completed" and store.first_failed_step("r1").id == "bad"
    shown = json.loads(invoke("show", store.label, "r1", "--json").stdout)
    assert shown["first_failed_step"]["id"] == "bad"


def test_first_failed_step_descends_to_the_root_cause(tmp_path):
    steps = [
        {"agent_step_id": "fine", "status": "completed"},
        {
            "agent_step_id": "outer",
            "status": "failed",
            "child_steps": [
                {"agent_step_id": "ok", "status": "completed"},
                {
                    "agent_step_id": "middle",
                    "status": "failed",
                    "tool_calls": [{"id": "cause", "function_name": "db", "succeeded": False}],
                },
            ],
        },
        {"agent_step_id": "later", "status": "failed"},
    ]
    store, _ = one_run(tmp_path, steps, status="failed")
    assert store.first_failed_step("r1").id == "cause"


# -- bad input ------------------------------------------------------------------------------------


def test_bad_lines_and_wrong_types_are_skipped_and_reported_by_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    lines = [
        orjson.dumps(RUN),
        b"{not json",
        b"[1, 2]",
        orjson.dumps({"agent_id": "x", "steps": []}),
        orjson.dumps({"run_id": "r5", "steps": "nope"}),
        orjson.dumps({"run_id": "r6", "credits": "lots", "steps": []}),
        orjson.dumps({"run_id": True, "steps": []}),
        orjson.dumps({**RUN, "run_id": "r8"}),
        b'{"run_id": "r9", "steps": [',
    ]
    path.write_bytes(b"\n".join(lines))
    store = open_store(str(path))
    assert sorted(r.id for r in store.list_runs()) == ["r1", "r8"]
    problems = [(p.line, p.message) for p in store.problems()]
    assert problems[0][0] == 2 and problems[0][1].startswith("skipped: invalid JSON")
    assert problems[1:6] == [
        (3, "skipped: expected a JSON object, got list"),
        (4, "skipped: the record has no run_id"),
        (5, "skipped: field 'steps' must be a list, got str"),
        (6, "skipped: field 'credits' must be a number, got str"),
        (7, "skipped: field 'run_id' must be a string or number, got bool"),
    ]
    assert problems[6][0] == 9 and "truncated" in problems[6][1]
    result = invoke("list", path)
    assert result.exit_code == 0 and "line 5: skipped: field 'steps' must be a list, got str" in result.stderr


def test_a_malformed_step_is_dropped_with_its_subtree_and_the_run_kept(tmp_path):
    steps = [
        {
            "agent_step_id": "good",
            "status": "completed",
            "child_steps": [
                "oops",
                {"agent_step_id": "typed", "status": ["completed"], "child_steps": [{"agent_step_id": "lost"}]},
                {
                    "agent_step_id": "kept",
                    "status": "completed",
                    "tool_calls": [
                        {"id": "t", "function_name": "f", "credits_used": "many"},
                        {"id": "t2", "function_name": "g"},
                    ],
                },
            ],
        },
        {
            "agent_step_id": "branchy",
            "step_type": "switch",
            "status": "completed",
            "cases": [7, {"match": "m", "steps": []}],
        },
    ]
    store, run = one_run(tmp_path, steps)
    assert [s.id for s in store.steps("r1")] == ["good", "kept", "t2", "branchy"]
    assert run.flags == ["steps_skipped"]
    problems = [(p.line, p.run_id, p.message) for p in store.problems()]
    assert problems == [
        (1, "r1", "run 'r1': dropped step at steps[0].child_steps[0] with its sub-steps: expected an object, got str"),
        (
            1,
            "r1",
            "run 'r1': dropped step 'typed' at steps[0].child_steps[1] with its sub-steps: "
            "field 'status' must be a string, got list",
        ),
        (
            1,
            "r1",
            "run 'r1': dropped tool call 't' at steps[0].child_steps[2].tool_calls[0] with its sub-steps: "
            "field 'credits_used' must be a number, got str",
        ),
        (1, "r1", "run 'r1': dropped switch case at steps[1].cases[0] with its sub-steps: expected an object, got int"),
    ]


def test_truncated_json_document_keeps_the_runs_before_the_break(tmp_path):
    text = orjson.dumps(
        {"export_type": "agent_traces", "runs": [RUN, {**RUN, "run_id": "r2"}, {**RUN, "run_id": "r3"}]},
        option=orjson.OPT_INDENT_2,
    )
    path = tmp_path / "cut.json"
    path.write_bytes(text[: text.index(b'"r3"') + 2])
    store = open_store(str(path))
    assert sorted(r.id for r in store.list_runs()) == ["r1", "r2"]
    [problem] = store.problems()
    assert problem.message.startswith("the JSON document breaks off after item 2")


def test_bad_items_of_a_json_document_are_reported_by_item(tmp_path):
    path = write_doc(tmp_path / "items.json", [RUN, "junk", {"run_id": "r3", "steps": {"a": 1}}])
    store = open_store(path)
    assert [r.id for r in store.list_runs()] == ["r1"]
    assert [p.message for p in store.problems()] == [
        "item 2: skipped: expected a JSON object, got str",
        "item 3: skipped: field 'steps' must be a list, got dict",
    ]


def test_payloads_with_markup_and_escapes_are_kept_verbatim(tmp_path):
    nasty = "[bold]x[/tool_call] [@click=app.quit]y[/] \x1b[31mred\x1b]8;;http://e\x07"
    store, run = one_run(tmp_path, [{"agent_step_id": nasty, "status": "completed", "output": nasty}], error=nasty)
    [step] = store.steps("r1", payloads=True)
    assert step.id == nasty and step.output == nasty and run.error == nasty


def test_a_document_that_is_one_pretty_printed_run(tmp_path):
    path = write_doc(
        tmp_path / "one.json",
        {
            **RUN,
            "run_id": "solo",
            "steps": [{"agent_step_id": "a", "status": "completed"}, {"agent_step_id": "b", "status": "completed"}],
        },
    )
    store = open_store(path)
    assert [r.id for r in store.list_runs()] == ["solo"] and [s.id for s in store.steps("solo")] == ["a", "b"]


def test_deeply_nested_steps_do_not_exhaust_the_stack(tmp_path):
    depth = 3000  # well past Python's recursion limit; ijson reads documents this deep
    opening = "".join(f'{{"agent_step_id": "s{i}", "status": "failed", "child_steps": [' for i in range(depth))
    text = (
        '[{"run_id": "deep", "status": "failed", "steps": ['
        + opening
        + '{"agent_step_id": "leaf", "status": "failed"}'
        + "]}" * depth
        + "]}]"
    )
    path = tmp_path / "deep.json"
    path.write_text(text)
    store = open_store(str(path))
    assert store.get_run("deep").step_count == depth + 1
    assert store.first_failed_step("deep").id == "leaf"


def test_empty_error_is_no_error_and_numeric_text_is_a_number(tmp_path):
    steps = [
        {
            "agent_step_id": "a",
            "status": "completed",
            "credits_used": "2.5",
            "tool_calls": [{"id": "t", "function_name": "f", "error": "", "credits_used": "0.5"}],
        }
    ]
    store, run = one_run(tmp_path, steps)
    s = by_id(store)
    assert s["t"].status == "completed" and s["t"].error is None
    assert (s["a"].credits, s["a"].sub_credits, run.failed_steps) == (2.0, 2.5, 0)
