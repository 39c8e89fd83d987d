"""Langfuse and Datadog fed by the service itself: a session sent over OTLP, judged, and its verdict
written to local servers of both documented endpoints, each once, while one of them is down for a
while first."""

from __future__ import annotations

from tests.export.backends.fake_http import InThread
from tests.export.backends.test_datadog import API_KEY, FakeDatadog
from tests.export.backends.test_langfuse import PUBLIC, SECRET, FakeLangfuse
from tests.support.app import goal_answer, make_provider, send_session
from tests.support.control import wait_until


def test_a_verdict_reaches_langfuse_and_datadog_once_each_through_an_outage(service, judge, sink, monkeypatch):
    judge.default = goal_answer(["name the puppy"], ["book a vet"])
    monkeypatch.setenv("LANGFUSE_PUBLIC_KEY", PUBLIC)
    monkeypatch.setenv("LANGFUSE_SECRET_KEY", SECRET)
    monkeypatch.setenv("DD_API_KEY", API_KEY)
    with InThread(FakeLangfuse()) as langfuse, InThread(FakeDatadog()) as datadog:
        datadog.answer_first(503, times=3, headers={"Retry-After": "0"})  # down for a while
        svc = service(
            exporters={
                "langfuse": {"endpoint": langfuse.url},
                "datadog": {"endpoint": datadog.url, "ml_app": "puppy-bot"},
            }
        )
        send_session(make_provider("chat-app", svc.endpoint), "sess-backends")
        sink.wait_for(lambda s: len(s.carriers()) == 1)
        ((_, _, carrier),) = sink.carriers()  # a child of the span that ended the session
        wait_until(lambda: langfuse.scores and datadog.metrics, timeout_s=30)
        scores = list(langfuse.scores.values())
        assert all(s["sessionId"] == "sess-backends" for s in scores)
        assert {s["name"] for s in scores} == {"goal_completeness"}
        assert len(langfuse.posts) == len(scores)  # each score written once
        (metric,) = datadog.metrics
        assert metric["label"] == "goal_completeness" and metric["ml_app"] == "puppy-bot"
        assert metric["join_on"]["span"] == {
            "trace_id": str(int.from_bytes(carrier.trace_id, "big")),
            "span_id": str(int.from_bytes(carrier.parent_span_id, "big")),
        }
        assert metric["assessment"] in ("pass", "fail") and metric["reasoning"]
        assert datadog.requests == 3 + 1
