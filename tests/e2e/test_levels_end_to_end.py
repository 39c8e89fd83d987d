"""Span- and trace-level evaluators through the running service: their results go out on carrier
spans that are children of the judged span (the trace's root for trace level)."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import set_span_in_context

from collector_eval.config.checks import ConfigError
from collector_eval.runtime.config import config_from_dict
from tests.support.app import event_attrs, goal_answer, make_provider, span_attrs
from tests.support.spans import attrs_of

LEVEL_EVALUATORS = ["goal_completeness", {"name": "failure_to_answer"}, {"name": "trajectory"}]


def _send_levels_session(endpoint: str, session_id: str):
    """An LLM span with an empty answer (failure_to_answer, span level) and a tool loop (trajectory,
    trace level) under one root, then the end span; returns the LLM span."""
    provider = make_provider("chat-app", endpoint)
    tracer = provider.get_tracer("t")
    with tracer.start_as_current_span("agent run", attributes={"session.id": session_id}) as root:
        llm = tracer.start_span(
            "ChatCompletion",
            context=set_span_in_context(root),
            attributes={
                "session.id": session_id,
                "openinference.span.kind": "LLM",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": "what is 2+2?",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "",
            },
        )
        llm.end()
        # The same tool with the same arguments, again and again: a loop, found without the judge.
        for _ in range(4):
            tracer.start_span(
                "add",
                context=set_span_in_context(root),
                attributes={
                    "openinference.span.kind": "TOOL",
                    "tool.name": "add",
                    "input.value": json.dumps({"a": 2, "b": 2}),
                    "output.value": "4",
                },
            ).end()
    tracer.start_span("session end", attributes={"session.id": session_id, "session_status": "completed"}).end()
    provider.force_flush()
    return llm


def test_span_and_trace_results_ride_on_their_own_carriers(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service(evaluators=LEVEL_EVALUATORS)
    llm = _send_levels_session(svc.endpoint, "sess-levels")
    sink.wait_for(lambda s: any(c.name == "evaluate_trace" for _, _, c in s.spans()) and len(s.carriers()) == 1)
    spans = {s.name: s for _, _, s in sink.spans()}
    span_carriers = [s for _, _, s in sink.spans() if s.name == "evaluate_span"]
    trace_carriers = [s for _, _, s in sink.spans() if s.name == "evaluate_trace"]

    # failure_to_answer judged the LLM span: an empty response, caught without the judge.
    (on_llm,) = [c for c in span_carriers if c.parent_span_id == llm.get_span_context().span_id.to_bytes(8, "big")]
    attrs = span_attrs(on_llm)
    assert attrs["evaluations.0.evaluation.name"] == "failure_to_answer"
    assert attrs["session.id"] == "sess-levels"
    ev = event_attrs(on_llm.events[0])
    assert ev["gen_ai.evaluation.name"] == "failure_to_answer"
    assert ev["collector_eval.evaluation.status"] == "ok"
    assert ev["collector_eval.evaluation.passed"] is False
    # Linked to the judged span as well as parented, with OpenInference's identifier and metadata.
    assert [(link.trace_id, link.span_id) for link in on_llm.links] == [(on_llm.trace_id, on_llm.parent_span_id)]
    identifier = attrs["evaluations.0.evaluation.identifier"]
    assert identifier == f"collector-eval:chat-app:sess-levels:span:{on_llm.parent_span_id.hex()}:failure_to_answer"
    metadata = json.loads(attrs["evaluations.0.evaluation.metadata"])
    assert metadata["revision"] == 1 and metadata["trigger"] == "end_span" and metadata["passed"] is False

    # trajectory judged the trace from its root and found the loop.
    (on_root,) = trace_carriers
    assert on_root.parent_span_id == spans["agent run"].span_id
    assert on_root.trace_id == spans["agent run"].trace_id
    assert span_attrs(on_root)["trace.evaluations.0.evaluation.name"] == "trajectory"
    trajectory = event_attrs(on_root.events[0])
    assert trajectory["collector_eval.evaluation.passed"] is False

    # The session-level carrier still carries goal completeness alone.
    session_carrier = sink.carriers()[0][2]
    assert [e.name for e in session_carrier.events] == ["gen_ai.evaluation.result"]
    assert event_attrs(session_carrier.events[0])["gen_ai.evaluation.name"] == "goal_completeness"
    session_attrs = span_attrs(session_carrier)
    assert session_attrs["session.evaluations.0.evaluation.identifier"] == (
        "collector-eval:chat-app:sess-levels:session::goal_completeness"
    )
    assert json.loads(session_attrs["session.evaluations.0.evaluation.metadata"])["judge_model"]
    assert not session_carrier.links


def test_results_also_as_otlp_log_records(service, sink, judge):
    """results_as: [span, log]: every result also as a log record with event gen_ai.evaluation.result
    on the judged span, carrying the span event's attributes; [log] alone: no carrier spans."""
    judge.default = goal_answer(["a"], [])
    svc = service(evaluators=LEVEL_EVALUATORS, exporters={"otlp": {"results_as": ["span", "log"]}})
    _send_levels_session(svc.endpoint, "sess-log-results")
    sink.wait_for(lambda s: len(s.carriers()) == 1 and len(s.log_records()) == 3)
    carriers = [c for _, _, c in sink.spans() if c.name.startswith("evaluate_")]
    events = {
        (c.trace_id, c.parent_span_id, event_attrs(e)["gen_ai.evaluation.name"]): event_attrs(e)
        for c in carriers
        for e in c.events
    }
    records = {
        (r.trace_id, r.span_id, attrs_of(r)["gen_ai.evaluation.name"]): attrs_of(r) for _, _, r in sink.log_records()
    }
    assert {r.event_name for _, _, r in sink.log_records()} == {"gen_ai.evaluation.result"}
    assert records == events  # same subjects, same attributes
    assert {scope.name for _, scope, _ in sink.log_records()} == {"collector-eval"}

    only_logs = service(evaluators=["goal_completeness"], exporters={"otlp": {"results_as": ["log"]}})
    _send_levels_session(only_logs.endpoint, "sess-only-logs")
    sink.wait_for(lambda s: len(s.log_records()) == 4 and only_logs.service.publisher.published == 1)
    assert len(sink.carriers()) == 1  # the first service's: the second sent its verdict as a log record only


def test_results_as_names_only_span_and_log():
    with pytest.raises(ConfigError, match=r"exporters.otlp.results_as: 'event' is not one of span, log"):
        config_from_dict({"exporters": {"otlp": {"results_as": ["span", "event"]}}})
    with pytest.raises(ConfigError, match=r"exporters.otlp.results_as: must name at least one"):
        config_from_dict({"exporters": {"otlp": {"results_as": []}}})


def test_a_new_revision_judges_only_new_spans(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service(evaluators=["goal_completeness", {"name": "failure_to_answer"}])
    provider = make_provider("chat-app", svc.endpoint)
    tracer = provider.get_tracer("t")

    def empty_answer(question: str):
        span = tracer.start_span(
            "ChatCompletion",
            attributes={
                "session.id": "sess-revisions",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": question,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "",
            },
        )
        span.end()
        return span.get_span_context().span_id.to_bytes(8, "big")

    first = empty_answer("first question")
    tracer.start_span("session end", attributes={"session.id": "sess-revisions", "session_status": "completed"}).end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    second = empty_answer("a late question")  # late span: revision 2
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 2)
    judged = [c.parent_span_id for _, _, c in sink.spans() if c.name == "evaluate_span"]
    assert sorted(judged) == sorted([first, second])  # each span judged once, across both revisions
