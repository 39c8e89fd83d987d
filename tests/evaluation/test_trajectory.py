"""The trace-level trajectory evaluator: loops counted without the judge, order and skipped steps by
the judge on the local test server."""

from __future__ import annotations

import json

from collector_eval.evaluation.evaluators.options import EvaluatorConfig
from collector_eval.evaluation.evaluators.trajectory import (
    ATTR_LOOPS,
    ATTR_SKIPPED,
    Trajectory,
    steps,
)
from tests.support.judging import (
    judged,
    llm_attrs,
    raw_span,
    system_text,
    tool_span,
    trace,
    user_text,
)


def agent_trace(*calls: tuple[str, dict]) -> object:
    """A root agent span, the first LLM call, the tool executions, and the final answer."""
    first = llm_attrs(
        [{"role": "user", "content": "Convert 10 USD to EUR, then tell me the weather in Oslo."}],
        {"role": "assistant", "content": "", "tool_calls": [{"name": n, "arguments": a} for n, a in calls]},
    )
    final = llm_attrs([{"role": "user", "content": "..."}], {"role": "assistant", "content": "9.2 EUR; sunny in Oslo."})
    spans = [raw_span(1, {"openinference.span.kind": "AGENT"}, "agent"), raw_span(2, first, "ChatCompletion", parent=1)]
    spans += [tool_span(10 + i, name, args, f"result {i}", parent=1) for i, (name, args) in enumerate(calls)]
    spans.append(raw_span(99, final, "ChatCompletion", parent=1))
    return trace(*spans)


def findings(wrong_order: bool = False, skipped: list[str] = ()) -> dict:
    return {"evidence": "e", "wrong_order": wrong_order, "skipped_steps": list(skipped), "explanation": "x"}


def test_three_identical_calls_are_a_loop_without_the_judge() -> None:
    t = agent_trace(
        ("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Oslo"})
    )
    result, server = judged(Trajectory(), t)
    assert (result.label, result.passed, server.requests) == ("loop", False, [])
    assert json.loads(result.attributes[ATTR_LOOPS]) == {'get_weather({"city": "Oslo"})': 3}


def test_two_identical_calls_or_different_arguments_are_not_a_loop() -> None:
    t = agent_trace(
        ("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Oslo"}), ("get_weather", {"city": "Bergen"})
    )
    result, server = judged(Trajectory(), t, findings())
    assert (result.label, result.passed, len(server.requests)) == ("ok", True, 1)
    strict = Trajectory(EvaluatorConfig(name="trajectory", max_repeated_calls=1))
    assert judged(strict, t)[0].label == "loop"


def test_wrong_order_and_skipped_steps_come_from_the_judge() -> None:
    t = agent_trace(("get_weather", {"city": "Oslo"}))
    wrong, _ = judged(Trajectory(), t, findings(wrong_order=True))
    skipped, _ = judged(Trajectory(), t, findings(skipped=["convert_currency"]))
    assert (wrong.label, wrong.passed) == ("wrong_order", False)
    assert (skipped.label, json.loads(skipped.attributes[ATTR_SKIPPED])) == ("skipped_steps", ["convert_currency"])


def test_trajectory_malformed() -> None:
    bad = {"evidence": "e", "wrong_order": "no", "skipped_steps": [], "explanation": "x"}
    result, _ = judged(Trajectory(), agent_trace(("a", {})), bad, bad)
    assert (result.status, result.error_type) == ("error", "judge_unparseable")


def test_trajectory_prompt_fields() -> None:
    t = agent_trace(("convert_currency", {"amount": 10}), ("get_weather", {"city": "Oslo"}))
    _, server = judged(Trajectory(), t, findings())
    system, user = system_text(server), user_text(server)
    assert "wrong_order" in system and "skipped_steps" in system
    assert "Convert 10 USD to EUR" in user[user.index("<request>") : user.index("</request>")]
    steps_block = user[user.index("<trace>") : user.index("</trace>")]
    assert steps_block.index("convert_currency") < steps_block.index("get_weather")
    assert "result 0" in steps_block and "answer: 9.2 EUR; sunny in Oslo." in steps_block


def test_steps_fall_back_to_requested_calls_and_a_trace_without_any_is_not_selected() -> None:
    attrs = llm_attrs(
        [{"role": "user", "content": "hi"}],
        {"role": "assistant", "content": "", "tool_calls": [{"name": "lookup", "arguments": {"q": 1}}]},
    )
    only_llm = trace(raw_span(1, attrs))
    assert [(s.tool, s.arguments) for s in steps(only_llm)] == [("lookup", {"q": 1})]
    chat = trace(raw_span(1, llm_attrs([{"role": "user", "content": "hi"}], {"role": "assistant", "content": "hello"})))
    assert not Trajectory().selects(chat) and Trajectory().selects(only_llm)
