"""End to end: the real OpenTelemetry SDK sends a multi-turn session to the service (real redis-server),
the judge is a real local OpenAI-compatible server, the downstream a real OTLP/gRPC server."""

from __future__ import annotations

import json
import time

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.trace import set_span_in_context

from tests.support.app import (
    TURNS,
    event_attrs,
    goal_answer,
    make_provider,
    send_session,
    span_attrs,
)
from tests.support.otlp_sink import OtlpSink
from tests.support.spans import attrs_of


def test_session_judged_and_every_span_forwarded_unchanged(service, sink, judge):
    judge.default = goal_answer(["name the puppy", "list vaccines"], ["book a vet appointment"])
    svc = service()
    reference = OtlpSink().start()  # receives exactly what the SDK sent, straight from the SDK
    try:
        provider = make_provider("chat-app", svc.endpoint, reference.endpoint)
        end = send_session(provider, "sess-e2e-1")
        sink.wait_for(lambda s: len(s.carriers()) == 1)
        sent = {span.span_id: (res, scope, span) for res, scope, span in reference.spans()}
        received = {
            span.span_id: (res, scope, span) for res, scope, span in sink.spans() if span.name != "evaluate_session"
        }
        assert len(sent) == 7
        assert received == sent  # protobuf equality: spans, their resources and scopes unchanged

        time.sleep(0.5)  # no second verdict trickles in
        carriers = sink.carriers()
        assert len(carriers) == 1
        resource, scope, carrier = carriers[0]
        assert carrier.trace_id == end.get_span_context().trace_id.to_bytes(16, "big")
        assert carrier.parent_span_id == end.get_span_context().span_id.to_bytes(8, "big")
        assert attrs_of(resource)["service.name"] == "chat-app"
        assert resource == sent[carrier.parent_span_id][0]
        attrs = span_attrs(carrier)
        assert attrs["openinference.span.kind"] == "EVALUATOR"
        assert attrs["session.id"] == "sess-e2e-1"
        assert attrs["gen_ai.request.model"] == "gpt-4o-mini"
        assert attrs["gen_ai.usage.input_tokens"] == judge.prompt_tokens
        assert attrs["gen_ai.usage.output_tokens"] == judge.completion_tokens
        assert attrs["session.evaluations.0.evaluation.name"] == "goal_completeness"
        assert attrs["session.evaluations.0.evaluation.label"] == "complete"
        assert attrs["session.evaluations.0.evaluation.score"] == pytest.approx(2 / 3)
        (event,) = carrier.events
        assert event.name == "gen_ai.evaluation.result"
        ev = event_attrs(event)
        assert ev["gen_ai.evaluation.name"] == "goal_completeness"
        assert ev["gen_ai.evaluation.score.label"] == "complete"
        assert ev["gen_ai.evaluation.score.value"] == pytest.approx(2 / 3)
        assert ev["gen_ai.evaluation.explanation"] == "scripted verdict"
        assert json.loads(ev["gen_ai.evaluation.goal_completeness.unresolved_intentions"]) == ["book a vet appointment"]
        assert "error.type" not in ev

        # The judge saw the conversation, not raw spans.
        (request,) = judge.requests
        prompt = "\n".join(m["content"] for m in request["messages"])
        for user, assistant in TURNS:
            assert user in prompt and assistant in prompt
        provider.shutdown()
    finally:
        reference.stop()


def test_session_id_only_on_root_span(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service()
    send_session(make_provider("chat-app", svc.endpoint), "sess-root-only", id_on_root_only=True)
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    prompt = judge.requests[0]["messages"][-1]["content"]
    # The LLM spans carry no id: their messages reach the judge only if their traces joined the session.
    assert "Which vaccines does a puppy need?" in prompt and "Distemper" in prompt


def test_two_tenants_with_the_same_session_id_stay_apart(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service()
    send_session(make_provider("app-one", svc.endpoint), "42")
    send_session(make_provider("app-two", svc.endpoint), "42")
    sink.wait_for(lambda s: len(s.carriers()) == 2)
    tenants = sorted(span_attrs(c)["collector_eval.tenant"] for _, _, c in sink.carriers())
    assert tenants == ["app-one", "app-two"]
    for request in judge.requests:
        # Each judge call saw one session's three user turns, not six.
        assert request["messages"][-1]["content"].count("Suggest a name for my puppy.") == 1


def test_end_span_twice_gives_one_verdict(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service()
    send_session(make_provider("chat-app", svc.endpoint), "sess-twice", end_twice=True)
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    time.sleep(1.0)  # well past the settle delay and several poll intervals
    assert len(sink.carriers()) == 1
    assert len(judge.requests) == 1


def test_spans_arriving_during_settle_delay_are_judged(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service(session={"settle_delay_s": 1.5})
    provider = make_provider("chat-app", svc.endpoint)
    tracer = provider.get_tracer("test-app")
    tracer.start_span("session end", attributes={"session.id": "sess-late", "session_status": "completed"}).end()
    time.sleep(0.3)
    tracer.start_span(
        "ChatCompletion",
        attributes={
            "session.id": "sess-late",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "a late question",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "a late answer",
        },
    ).end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert "a late answer" in judge.requests[0]["messages"][-1]["content"]


def test_judge_rejecting_json_schema_falls_back(service, sink, judge):
    judge.default = goal_answer(["a", "b"], ["c", "d", "e"])
    judge.reject_json_schema = True
    svc = service()
    send_session(make_provider("chat-app", svc.endpoint), "sess-fallback")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    ev = event_attrs(sink.carriers()[0][2].events[0])
    assert ev["gen_ai.evaluation.score.label"] == "incomplete"
    assert ev["gen_ai.evaluation.score.value"] == pytest.approx(0.4)
    assert [r.get("response_format", {}).get("type") for r in judge.requests] == ["json_schema", "json_object"]


def test_judge_answering_garbage_is_an_error_never_a_score(service, sink, judge):
    judge.default = "I think the user was happy, roughly 7/10."
    svc = service(judge={"max_retries": 1})
    send_session(make_provider("chat-app", svc.endpoint), "sess-garbage")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    carrier = sink.carriers()[0][2]
    ev = event_attrs(carrier.events[0])
    assert ev["error.type"] == "judge_unparseable"
    assert ev["collector_eval.evaluation.status"] == "error"
    assert "gen_ai.evaluation.score.value" not in ev and "gen_ai.evaluation.score.label" not in ev
    assert "session.evaluations.0.evaluation.score" not in span_attrs(carrier)
    assert len(judge.requests) == 2  # one try plus max_retries


def test_no_judge_key_says_skipped(service, sink, judge, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    svc = service(judge={"base_url": judge.url, "api_key_env": "OPENAI_API_KEY"})
    send_session(make_provider("chat-app", svc.endpoint), "sess-nokey")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    ev = event_attrs(sink.carriers()[0][2].events[0])
    assert ev["collector_eval.evaluation.status"] == "skipped"
    assert ev["collector_eval.evaluation.skip_reason"] == "judge_disabled"
    assert "OPENAI_API_KEY" in ev["gen_ai.evaluation.explanation"]
    assert "gen_ai.evaluation.score.value" not in ev
    assert judge.requests == []


def test_malformed_request_is_invalid_argument_and_service_keeps_serving(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service()
    channel = grpc.insecure_channel(svc.endpoint)
    export = channel.unary_unary(
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        request_serializer=None,
        response_deserializer=trace_service_pb2.ExportTraceServiceResponse.FromString,
    )
    with pytest.raises(grpc.RpcError) as info:
        export(b"\xff\xff\xff\xff not a protobuf", timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in info.value.details()
    channel.close()
    send_session(make_provider("chat-app", svc.endpoint), "sess-after-garbage")
    sink.wait_for(lambda s: len(s.carriers()) == 1)


def test_end_marker_on_a_child_span_ends_the_session_its_root_names_later(service, sink, judge):
    """The end span carries no session id; its trace names the session only on the root, which is
    exported afterwards, in another request (SimpleSpanProcessor: one request per span)."""
    judge.default = goal_answer(["a"], [])
    svc = service()
    provider = make_provider("chat-app", svc.endpoint)
    tracer = provider.get_tracer("test-app")
    with tracer.start_as_current_span("chat_turn", attributes={"gen_ai.conversation.id": "conv-child-end"}) as root:
        tracer.start_span(
            "chat",
            context=set_span_in_context(root),
            attributes={
                "gen_ai.input.messages": json.dumps(
                    [{"role": "user", "parts": [{"type": "text", "content": "hello there"}]}]
                ),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": "hi!"}]}]
                ),
            },
        ).end()
        tracer.start_span("finish", context=set_span_in_context(root), attributes={"session_status": "completed"}).end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    carrier = sink.carriers()[0][2]
    assert span_attrs(carrier)["gen_ai.conversation.id"] == "conv-child-end"
    assert carrier.parent_span_id == [s for _, _, s in sink.spans() if s.name == "finish"][0].span_id
    assert "hello there" in judge.requests[0]["messages"][-1]["content"]
