"""The Redis buffer as a user of the service sees it: TTLs on every key, caps, truncation reported."""

from __future__ import annotations

import time

import redis
from opentelemetry import trace

from collector_eval.sessions.keys import Keys
from tests.support.app import event_attrs, make_provider, send_session, span_attrs


def test_every_session_and_trace_key_has_a_ttl(service, sink, judge, redis_url):
    svc = service(session={"ttl_s": 500, "orphan_trace_ttl_s": 60})
    provider = make_provider("chat-app", svc.endpoint)
    send_session(provider, "sess-ttl")
    # A trace that never joins a session.
    provider.get_tracer("t").start_span("no session here").end()
    provider.force_flush()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    prefix = svc.service.cfg.redis.key_prefix
    client = redis.Redis.from_url(redis_url)
    ttls = {key: client.ttl(key) for key in client.scan_iter(f"{prefix}:*")}
    session_keys = [k for k in ttls if b"}:s:" in k]
    trace_keys = [k for k in ttls if b"}:t:" in k]
    assert session_keys and trace_keys
    for key in session_keys:
        assert 0 < ttls[key] <= 500, key
    for key in trace_keys:
        assert 0 < ttls[key] <= 60, key
    # The trigger sets empty as sessions are dispatched, the orphan set as its traces' TTLs pass (the
    # poller trims it); the job and outbox streams are capped by length.
    shard = Keys(prefix).shards[0]
    queues = (shard.due, shard.orphans, shard.jobs, shard.outbox)
    assert {k for k in ttls if ttls[k] < 0} <= {q.encode() for q in queues}


def test_span_cap_truncates_and_the_verdict_says_so(service, sink, judge):
    svc = service(session={"max_spans": 3})
    send_session(make_provider("chat-app", svc.endpoint), "sess-capped")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    carrier = sink.carriers()[0][2]
    attrs = span_attrs(carrier)
    assert attrs["collector_eval.session.truncated"] is True
    assert attrs["collector_eval.session.spans"] <= 3
    # Every span is still forwarded: caps bound what is kept for judging, not what passes through.
    assert len([s for _, _, s in sink.spans() if s.name != "evaluate_session"]) == 7
    assert event_attrs(carrier.events[0])["gen_ai.evaluation.name"] == "goal_completeness"


def test_uncapped_session_is_not_marked_truncated(service, sink, judge):
    svc = service()
    send_session(make_provider("chat-app", svc.endpoint), "sess-whole")
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    attrs = span_attrs(sink.carriers()[0][2])
    assert attrs["collector_eval.session.truncated"] is False
    assert attrs["collector_eval.session.spans"] == 7


def _stored_chunk_bytes(client, prefix: str) -> int:
    total = 0
    for key in client.scan_iter(Keys(prefix).session_pattern(), _type="hash"):
        for field in client.hkeys(key):
            if field.startswith(b"c"):
                total += client.hstrlen(key, field)
    return total


def test_lz4_compression_stores_less_and_judges_the_same(service, sink, judge, redis_url):
    client = redis.Redis.from_url(redis_url)
    sizes = {}
    for mode in ("none", "lz4"):
        svc = service(session={"compression": mode})
        send_session(make_provider("chat-app", svc.endpoint), f"sess-{mode}")
        sink.wait_for(lambda s, m=mode: any(span_attrs(c)["session.id"] == f"sess-{m}" for _, _, c in s.carriers()))
        sizes[mode] = _stored_chunk_bytes(client, svc.service.cfg.redis.key_prefix)
    assert 0 < sizes["lz4"] < sizes["none"]
    carriers = {span_attrs(c)["session.id"]: span_attrs(c) for _, _, c in sink.carriers()}
    assert (
        carriers["sess-lz4"]["collector_eval.session.spans"]
        == carriers["sess-none"]["collector_eval.session.spans"]
        == 7
    )
    assert [len(r["messages"][-1]["content"]) for r in judge.requests][0] == len(
        judge.requests[1]["messages"][-1]["content"]
    )


def test_the_orphan_set_holds_a_waiting_trace_until_it_joins_or_its_ttl_passes(service, sink, judge, redis_url):
    svc = service(session={"orphan_trace_ttl_s": 1})
    provider = make_provider("chat-app", svc.endpoint)
    tracer = provider.get_tracer("t")
    lone = tracer.start_span("no session here")
    lone.end()
    root = tracer.start_span("chat_turn", attributes={"session.id": "sess-orphans"})
    tracer.start_span("child first", context=trace.set_span_in_context(root)).end()
    provider.force_flush()
    client = redis.Redis.from_url(redis_url)
    orphans = Keys(svc.service.cfg.redis.key_prefix).shards[0].orphans
    assert client.zcard(orphans) == 2  # the lone trace, and the child's until its root names the session
    root.end()
    provider.force_flush()
    # The joined trace left at once; the lone one leaves once its TTL has passed.
    assert client.zrange(orphans, 0, -1) == [format(lone.get_span_context().trace_id, "032x").encode()]
    deadline = time.monotonic() + 10
    while client.zcard(orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.zcard(orphans) == 0
