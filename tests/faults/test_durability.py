"""Verdicts are durable: late spans make new revisions, quiet sessions are judged, and a downstream
outage or a full outbox delays verdicts without losing or doubling any. With receiver.acknowledge:
forwarded, an acknowledged span has reached the downstream."""

from __future__ import annotations

import time

import grpc
import pytest
import redis

from collector_eval.sessions.keys import Keys
from tests.support.app import goal_answer, make_provider, send_session, span_attrs
from tests.support.otlp_sink import OtlpSink
from tests.support.spans import end_span, llm_span, request, trace_id


def test_late_spans_are_judged_as_a_new_revision(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service()
    provider = make_provider("chat-app", svc.endpoint)
    send_session(provider, "sess-late-rev")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    provider.get_tracer("t").start_span(
        "ChatCompletion",
        attributes={
            "session.id": "sess-late-rev",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "one more thing",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "sure, here it is",
        },
    ).end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 2)
    first, second = sorted((span_attrs(c) for _, _, c in sink.carriers()), key=lambda a: a["collector_eval.revision"])
    assert (first["collector_eval.revision"], first["collector_eval.trigger"]) == (1, "end_span")
    assert (second["collector_eval.revision"], second["collector_eval.trigger"]) == (2, "late_spans")
    assert "sure, here it is" in judge.requests[-1]["messages"][-1]["content"]
    time.sleep(1.0)
    assert len(sink.carriers()) == 2


def test_late_spans_ignored_when_configured(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service(session={"late_spans": "ignore"})
    provider = make_provider("chat-app", svc.endpoint)
    send_session(provider, "sess-late-ignored")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    provider.get_tracer("t").start_span("ChatCompletion", attributes={"session.id": "sess-late-ignored"}).end()
    provider.force_flush()
    time.sleep(1.5)
    assert len(sink.carriers()) == 1 and len(judge.requests) == 1


def test_idle_session_without_end_span_is_judged(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service(session={"idle_timeout_s": 0.5})
    provider = make_provider("chat-app", svc.endpoint)
    tracer = provider.get_tracer("t")
    last = None
    for question in ("first question", "second question"):
        last = tracer.start_span(
            "ChatCompletion",
            attributes={
                "session.id": "sess-idle",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.content": question,
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.content": "an answer",
            },
        )
        last.end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    carrier = sink.carriers()[0][2]
    assert span_attrs(carrier)["collector_eval.trigger"] == "idle_timeout"
    # With no end span, the verdict hangs under the session's last span.
    assert carrier.parent_span_id == last.get_span_context().span_id.to_bytes(8, "big")
    time.sleep(1.0)
    assert len(sink.carriers()) == 1  # judged once: nothing new arrived since


def test_max_duration_judges_a_session_that_never_ends(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service(session={"max_duration_s": 0.5})
    provider = make_provider("chat-app", svc.endpoint)
    provider.get_tracer("t").start_span(
        "ChatCompletion",
        attributes={
            "session.id": "sess-long",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "still talking",
        },
    ).end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert span_attrs(sink.carriers()[0][2])["collector_eval.trigger"] == "max_duration"


def test_downstream_outage_delays_verdicts_and_loses_none(service, sink, judge):
    judge.default = goal_answer(["a"], [])
    svc = service()
    port = sink.port
    sink.stop()
    provider = make_provider("chat-app", svc.endpoint)
    for i in range(3):
        send_session(provider, f"sess-outage-{i}")
    time.sleep(2.0)  # judged meanwhile; the verdicts wait in the outbox
    assert len(judge.requests) == 3
    revived = OtlpSink(port).start()
    try:
        revived.wait_for(lambda s: len(s.carriers()) == 3, timeout_s=30)
        time.sleep(0.5)
        carriers = revived.carriers()
        assert sorted(span_attrs(c)["session.id"] for _, _, c in carriers) == [f"sess-outage-{i}" for i in range(3)]
    finally:
        revived.stop()


def test_full_outbox_holds_verdicts_back_counts_and_delivers_later(service, sink, judge, redis_url):
    judge.default = goal_answer(["a"], [])
    svc = service(jobs={"outbox_max_len": 1, "visibility_timeout_s": 1})
    port = sink.port
    sink.stop()
    provider = make_provider("chat-app", svc.endpoint)
    send_session(provider, "sess-full-1")
    send_session(provider, "sess-full-2")
    prefix = svc.service.cfg.redis.key_prefix
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not client.get(Keys(prefix).shards[0].outbox_overflow):
        time.sleep(0.1)
    assert int(client.get(Keys(prefix).shards[0].outbox_overflow)) >= 1
    revived = OtlpSink(port).start()
    try:
        revived.wait_for(lambda s: len(s.carriers()) == 2, timeout_s=30)
        time.sleep(1.5)
        assert sorted(span_attrs(c)["session.id"] for _, _, c in revived.carriers()) == ["sess-full-1", "sess-full-2"]
    finally:
        revived.stop()


def test_acknowledged_only_once_forwarded_when_configured(service, sink, judge, client_for):
    judge.default = goal_answer(["a"], [])
    svc = service(receiver={"acknowledge": "forwarded"})
    client = client_for(svc.endpoint)
    tid = trace_id()
    client.export(request(llm_span(tid, "hello", "hi there", **{"session.id": "sess-fwd"}), service_name="fwd-app"))
    # No waiting: the acknowledgement came after the downstream took the span.
    assert [s.name for _, _, s in sink.spans()] == ["ChatCompletion"]

    # A downstream that does not take the request: the sender is told to retry, nothing is queued.
    sink.failures = [(grpc.StatusCode.UNAVAILABLE, None)]
    end = request(end_span("sess-fwd"), service_name="fwd-app")
    with pytest.raises(grpc.RpcError) as refused:
        client.export(end)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    time.sleep(0.5)
    # Its spans are buffered, so the session may be judged already; they were not forwarded.
    assert [s.name for _, _, s in sink.spans() if s.name != "evaluate_session"] == ["ChatCompletion"]

    # The retry goes through; the end span, buffered by both attempts, is judged once and loaded once.
    client.export(end)
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    names = sorted(s.name for _, _, s in sink.spans() if s.name != "evaluate_session")
    assert names == ["ChatCompletion", "session end"]
    attrs = span_attrs(sink.carriers()[0][2])
    assert attrs["collector_eval.session.spans"] == 2
    time.sleep(0.5)
    assert len(sink.carriers()) == 1


def test_a_loop_step_failing_outside_redis_errors_is_logged_and_the_loop_goes_on(service, sink, judge, caplog):
    """The client library can fail in ways of its own (an AttributeError from a connection torn down
    under a command while a Cluster node restarted): the loops log it and go on judging."""
    judge.default = goal_answer(["a"], [])
    svc = service()
    for target, name in ((svc.service.jobs[0], "read"), (svc.service.poller, "dispatch_once")):
        real = getattr(target, name)
        calls = {"n": 0}

        async def fails_once(*args, _real=real, _calls=calls, **kwargs):
            _calls["n"] += 1
            if _calls["n"] == 1:
                raise AttributeError("'NoneType' object has no attribute 'writelines'")
            return await _real(*args, **kwargs)

        setattr(target, name, fails_once)
    send_session(make_provider("chat-app", svc.endpoint), "sess-goes-on")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert span_attrs(sink.carriers()[0][2])["session.id"] == "sess-goes-on"
    logged = {r.getMessage(): r for r in caplog.records if r.levelname == "ERROR"}
    for what in ("cannot read jobs", "cannot dispatch due sessions"):
        assert what in logged and isinstance(logged[what].exc_info[1], AttributeError), sorted(logged)
