"""The control API (collector_eval.v1.Control) against the running service: real Redis, real gRPC on
both ports, the real judge server; sessions go in through the OTLP receiver as apps send them."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
import redis

from collector_eval.model import SessionKey
from collector_eval.runtime.config import config_from_dict
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.keys import Keys
from collector_eval.store.server import EmbeddedRedis
from collector_eval.v1 import control_pb2 as pb
from tests.support.app import goal_answer, span_attrs
from tests.support.config import free_port
from tests.support.control import TENANT, send_turns, wait_until
from tests.support.service_thread import ServiceThread
from tests.support.spans import end_span, request


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value.code()


def test_a_session_from_buffered_to_ended_by_hand_to_judged(service, sink, judge, client_for, control):
    judge.default = goal_answer(["answer question 0", "answer question 1"], [])
    svc = service(session={"settle_delay_s": 0.5})
    ctl = control(svc.control_endpoint)
    trace_ids = send_turns(client_for(svc.endpoint), "sess-ctl-1")

    buffered = ctl.get(TENANT, "sess-ctl-1")
    assert buffered.state == pb.SESSION_STATE_BUFFERED
    assert (buffered.spans, buffered.revision, buffered.unjudged_spans) == (4, 0, 4)
    assert sorted(buffered.trace_ids) == sorted(t.hex() for t in trace_ids)
    assert buffered.id_attribute == "session.id" and buffered.end_span_id == ""
    assert not buffered.verdicts and 0 < buffered.ttl_s <= 86400

    before = time.time()
    ended = ctl.end(TENANT, "sess-ctl-1").session
    assert ended.state == pb.SESSION_STATE_SCHEDULED and ended.trigger == "control"
    # As an end span would: judged after the settle delay.
    assert before + 0.5 <= ended.due_at_unix <= time.time() + 0.5

    sink.wait_for(lambda s: len(s.carriers()) == 1)
    carrier = span_attrs(sink.carriers()[0][2])
    assert carrier["collector_eval.trigger"] == "control"
    assert carrier["collector_eval.revision"] == 1
    judged = wait_until(lambda: (s := ctl.get(TENANT, "sess-ctl-1")).state == pb.SESSION_STATE_JUDGED and s)
    assert (judged.revision, judged.unjudged_spans, judged.due_at_unix) == (1, 0, 0)
    (verdict,) = judged.verdicts
    (evaluation,) = verdict.evaluations
    assert verdict.revision == 1
    assert (evaluation.name, evaluation.status, evaluation.label) == ("goal_completeness", "ok", "complete")
    assert evaluation.score == pytest.approx(1.0)
    assert evaluation.explanation == "scripted verdict"
    assert evaluation.input_tokens == judge.prompt_tokens and evaluation.judge_model

    # Nothing new since the verdict: ending it again would judge nothing, and says so.
    assert code_of(lambda: ctl.end(TENANT, "sess-ctl-1")) == grpc.StatusCode.FAILED_PRECONDITION


def test_reevaluate_judges_again_as_a_new_revision(service, sink, judge, client_for, control):
    judge.push(goal_answer(["a"], []), goal_answer([], ["a"]))
    svc = service()
    client = client_for(svc.endpoint)
    send_turns(client, "sess-ctl-2")
    client.export(request(end_span("sess-ctl-2"), service_name=TENANT))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    ctl = control(svc.control_endpoint)
    wait_until(lambda: ctl.get(TENANT, "sess-ctl-2").state == pb.SESSION_STATE_JUDGED)

    reply = ctl.reevaluate(TENANT, "sess-ctl-2")
    assert reply.next_revision == 2
    assert reply.session.trigger == "control"

    sink.wait_for(lambda s: len(s.carriers()) == 2)
    second = span_attrs(sink.carriers()[1][2])
    assert (second["collector_eval.revision"], second["collector_eval.trigger"]) == (2, "control")
    assert second["session.evaluations.0.evaluation.label"] == "incomplete"
    judged = wait_until(lambda: len((s := ctl.get(TENANT, "sess-ctl-2")).verdicts) == 2 and s)
    assert [v.revision for v in judged.verdicts] == [1, 2]
    assert [v.evaluations[0].label for v in judged.verdicts] == ["complete", "incomplete"]
    assert len(judge.requests) == 2
    time.sleep(0.5)
    assert len(sink.carriers()) == 2  # one verdict per revision, no more


def test_reevaluate_is_refused_while_a_revision_is_being_judged(service, sink, judge, client_for, control):
    release = threading.Event()

    def slow(_request):
        release.wait(10)
        return goal_answer(["a"], [])

    judge.push(slow)
    svc = service()
    client = client_for(svc.endpoint)
    send_turns(client, "sess-ctl-3", turns=1)
    client.export(request(end_span("sess-ctl-3"), service_name=TENANT))
    ctl = control(svc.control_endpoint)
    try:
        judging = wait_until(lambda: (s := ctl.get(TENANT, "sess-ctl-3")).state == pb.SESSION_STATE_JUDGING and s)
        assert judging.revision == 1 and not judging.verdicts
        # Its commit would undo the forced revision: refused, and nothing else is scheduled.
        assert code_of(lambda: ctl.reevaluate(TENANT, "sess-ctl-3")) == grpc.StatusCode.FAILED_PRECONDITION
    finally:
        release.set()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert ctl.reevaluate(TENANT, "sess-ctl-3").next_revision == 2
    sink.wait_for(lambda s: len(s.carriers()) == 2)


def test_failed_evaluation_has_no_score_or_label(service, sink, judge, client_for, control):
    judge.default = "not json at all"
    svc = service(judge={"max_retries": 0})
    client = client_for(svc.endpoint)
    send_turns(client, "sess-ctl-4", turns=1)
    client.export(request(end_span("sess-ctl-4"), service_name=TENANT))
    ctl = control(svc.control_endpoint)
    judged = wait_until(lambda: (s := ctl.get(TENANT, "sess-ctl-4")).verdicts and s)
    (evaluation,) = judged.verdicts[0].evaluations
    assert (evaluation.status, evaluation.error_type) == ("error", "judge_unparseable")
    assert not evaluation.HasField("score") and not evaluation.HasField("label")


def test_unknown_session_and_bad_requests(service, control):
    svc = service()
    ctl = control(svc.control_endpoint)
    assert code_of(lambda: ctl.get(TENANT, "never-seen")) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: ctl.end(TENANT, "never-seen")) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: ctl.reevaluate(TENANT, "never-seen")) == grpc.StatusCode.NOT_FOUND
    assert code_of(lambda: ctl.get("", "never-seen")) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: ctl.list(limit=-1)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: ctl.list(page_token="not-a-token")) == grpc.StatusCode.INVALID_ARGUMENT


def test_list_sessions_by_tenant_and_by_id(service, client_for, control):
    svc = service()
    client = client_for(svc.endpoint)
    for name in ("s-1", "s-2", "s-3", "s-4", "s-5"):
        send_turns(client, name, turns=1)
    send_turns(client, "s-1", turns=1, tenant="other-app")
    send_turns(client, "xs-1", turns=1, tenant="other-app")  # an id that ends with another
    ctl = control(svc.control_endpoint)

    seen, token, pages = [], "", 0
    while True:
        page = ctl.list(limit=2, page_token=token, tenant=TENANT)
        assert len(page.sessions) <= 2
        seen += [(s.tenant, s.session_id) for s in page.sessions]
        pages, token = pages + 1, page.next_page_token
        if not token:
            break
    assert sorted(seen) == [(TENANT, f"s-{i}") for i in range(1, 6)]  # each once, across pages
    assert pages >= 3
    everything = ctl.list(limit=1000)
    assert len(everything.sessions) == 7 and not everything.next_page_token
    assert all(s.state == pb.SESSION_STATE_BUFFERED and s.spans == 2 for s in everything.sessions)
    assert sorted(s.tenant for s in ctl.list(session_id="s-1").sessions) == sorted(["other-app", TENANT])
    assert ctl.tenants_of("xs-1") == ["other-app"]
    (one,) = ctl.list(tenant="other-app", session_id="s-1").sessions
    assert (one.tenant, one.session_id) == ("other-app", "s-1")


def test_scan_pages_through_many_sessions_once_each(redis_url):
    """Past SCAN's batch size a listing spans several SCAN calls; pages cut inside a batch resume in it."""
    import asyncio

    import redis.asyncio as aioredis

    keys = Keys("scan-test")
    sessions = {SessionKey(f"t{i % 3}", f"id-{i}") for i in range(2500)}
    sync = redis.Redis.from_url(redis_url)
    pipe = sync.pipeline(transaction=False)
    for s in sessions:
        pipe.hset(keys.session(s), "n", 1)
        pipe.set(keys.session_result(s, 1), "{}")  # result keys are not sessions
    pipe.execute()

    async def page_through(limit: int, **filters) -> list[SessionKey]:
        client = aioredis.Redis.from_url(redis_url)
        buffer = SessionBuffer(client, keys, config_from_dict({}).session)
        found, token = [], ""
        try:
            while True:
                page, token = await buffer.scan_sessions(limit, token, **filters)
                assert len(page) <= limit
                found += page
                if not token:
                    return found
        finally:
            await client.aclose()

    try:
        for limit in (7, 1000):
            found = asyncio.run(page_through(limit))
            assert len(found) == len(set(found)) == len(sessions)
            assert set(found) == sessions
        only_t1 = asyncio.run(page_through(50, tenant="t1"))
        assert set(only_t1) == {s for s in sessions if s.tenant == "t1"}
    finally:
        for key in sync.scan_iter(match="scan-test:*", count=1000):
            sync.delete(key)
        sync.close()


def test_control_takes_the_receivers_bearer_tokens(service, control):
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0", "auth": {"tokens": ["s3cret"]}}})
    assert code_of(lambda: control(svc.control_endpoint).list()) == grpc.StatusCode.UNAUTHENTICATED
    assert code_of(lambda: control(svc.control_endpoint, token="wrong").list()) == grpc.StatusCode.UNAUTHENTICATED
    assert list(control(svc.control_endpoint, token="s3cret").list().sessions) == []


def test_control_off_when_its_endpoint_is_empty(service):
    svc = service(control={"endpoint": ""})
    assert svc.service.control_port == 0


def test_control_port_taken_fails_start_naming_the_key(make_config):
    port = free_port()
    with socket_listening(port):
        st = ServiceThread(make_config(control={"endpoint": f"127.0.0.1:{port}"}))
        try:
            with pytest.raises(OSError, match=r"control\.endpoint"):
                st.start()
        finally:
            st.stop()


def test_redis_down_is_unavailable(make_config, control):
    own = EmbeddedRedis(port=free_port())
    url = own.start()
    svc = ServiceThread(make_config(redis={"url": url, "key_prefix": "down"})).start()
    try:
        ctl = control(svc.control_endpoint)
        assert list(ctl.list().sessions) == []
        own.stop()
        assert code_of(lambda: ctl.get(TENANT, "any")) == grpc.StatusCode.UNAVAILABLE
    finally:
        svc.stop()
        own.stop()


class socket_listening:
    def __init__(self, port: int):
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._sock.close()
