"""transcript.* through the running service: a mapping makes an in-house instrumentation judged, and
on_doubt: skip keeps the judge from a doubtful transcript."""

from __future__ import annotations

import json

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import ScopeSpans

from tests.support.app import goal_answer
from tests.support.spans import attrs_of, end_span, judge_prompt, request, span, trace_id

MAPPING = {"match": {"scope": "acme-llm"}, "shape": "openai_chat", "input": "acme.prompt", "output": "acme.reply"}


def _acme_request(session_id: str):
    """One model call recorded by an in-house library (scope acme-llm), then the end span."""
    call = span(
        trace_id(),
        "acme.call",
        **{
            "session.id": session_id,
            "acme.prompt": json.dumps([{"role": "user", "content": "Where is the Alfama district?"}]),
            "acme.reply": json.dumps({"role": "assistant", "content": "In Lisbon, by the river."}),
        },
    )
    req = request(end_span(session_id))
    req.resource_spans[0].scope_spans.append(ScopeSpans(scope=InstrumentationScope(name="acme-llm"), spans=[call]))
    return req


def test_a_mapping_makes_an_unknown_instrumentation_judged_by_the_service(service, sink, judge, client_for):
    judge.default = goal_answer(["find Alfama"], [])
    without = service()
    client_for(without.endpoint).export(_acme_request("sess-acme-unmapped"))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    event = attrs_of(sink.carriers()[0][2].events[0])
    assert event["collector_eval.evaluation.skip_reason"] == "no_content"
    assert judge.requests == []

    mapped = service(transcript={"mappings": [MAPPING]})
    client_for(mapped.endpoint).export(_acme_request("sess-acme-mapped"))
    sink.wait_for(lambda s: len(s.carriers()) == 2)
    prompt = judge_prompt(judge)
    assert "Where is the Alfama district?" in prompt and "In Lisbon, by the river." in prompt


def test_on_doubt_skip_keeps_the_judge_from_a_doubtful_session(service, sink, judge, client_for):
    svc = service(transcript={"on_doubt": "skip"})
    tid = trace_id()
    # A tool result with no call before it: the readers cannot make one consistent conversation.
    doubtful = span(
        tid,
        "ChatCompletion",
        **{
            "session.id": "sess-doubt",
            "openinference.span.kind": "LLM",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "What is the weather in Porto?",
            "llm.input_messages.1.message.role": "tool",
            "llm.input_messages.1.message.content": "sunny, 21 C",
            "llm.input_messages.1.message.tool_call_id": "call_missing",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "Sunny and warm.",
        },
    )
    client_for(svc.endpoint).export(request(doubtful, end_span("sess-doubt")))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    event = attrs_of(sink.carriers()[0][2].events[0])
    assert event["collector_eval.evaluation.skip_reason"] == "doubtful_transcript"
    assert event["collector_eval.transcript.warnings"]
    assert judge.requests == []
