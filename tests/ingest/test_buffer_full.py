"""session.on_buffer_full against a real redis-server at its maxmemory (noeviction), loaded past it
(issue 16): "refuse" answers UNAVAILABLE and loses nothing it acknowledged; "forward" acknowledges
and forwards every span, counts what it could not buffer, and marks the sessions that lost spans
truncated (reason buffer_full) once Redis has room, so their verdicts say so."""

from __future__ import annotations

import base64
import os

import grpc
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from collector_eval.config.checks import ConfigError
from collector_eval.model import SessionKey
from collector_eval.otlp.signals import SPECS, Signal
from collector_eval.runtime.config import config_from_dict
from collector_eval.sessions.keys import Keys
from collector_eval.store.server import EmbeddedRedis
from tests.support.config import free_port
from tests.support.http_client import http_request
from tests.support.signals import log_record, logs_request
from tests.support.spans import attrs_of, end_span, request, sink_span_ids, span, trace_id

TENANT = "receiver-test"  # tests.support.spans.request's service.name
SESSIONS = 8
BEFORE, WHILE_FULL = 16, 96  # requests sent before and after Redis is full
SPAN_BYTES = 16_000  # base64 of random bytes: LZ4 keeps about all of it


@pytest.fixture
def full_redis():
    """A private redis-server with maxmemory 2 MB above what it uses empty, noeviction. The BEFORE
    requests take 0.7-0.8 MB there (their chunks, 0.4 MB, and the connections' buffers, which grow with
    the first)."""
    server = EmbeddedRedis(port=free_port())
    url = server.start()
    client = redis.Redis.from_url(url)
    client.config_set("maxmemory", client.info("memory")["used_memory"] + (2 << 20))
    client.config_set("maxmemory-policy", "noeviction")
    yield url, client
    client.close()
    server.stop()


def _fill(client: redis.Redis) -> None:
    """Past maxmemory for good. Loading it with spans alone leaves it hovering at the limit, where one
    request is refused and the next taken (test_store_checks covers that); a filler key keeps every
    write refused, so what is asserted is on_buffer_full alone."""
    limit = int(client.config_get("maxmemory")["maxmemory"])
    client.config_set("maxmemory", "0")
    client.set("filler", b"f" * 3_000_000)
    client.config_set("maxmemory", limit)
    assert client.info("memory")["used_memory"] > limit


def _room(client: redis.Redis) -> None:
    # The limit lifted too: the spans buffered before the filler already take Redis close to it,
    # and judging a session writes more.
    client.delete("filler")
    client.config_set("maxmemory", "0")


def _export(channel: grpc.Channel, signal: Signal, raw: bytes) -> grpc.StatusCode:
    call = channel.unary_unary(SPECS[signal].export_method, request_serializer=None, response_deserializer=None)
    try:
        call(raw, timeout=15)
        return grpc.StatusCode.OK
    except grpc.RpcError as err:
        return err.code()


def _requests(prefix: str, count: int) -> list[tuple[str, bytes, bytes]]:
    """count requests of one big span each, round robin over SESSIONS sessions: (session, span id, body)."""
    out = []
    for i in range(count):
        sid = f"{prefix}-{i % SESSIONS}"
        value = base64.b64encode(os.urandom(SPAN_BYTES)).decode()
        big = span(trace_id(), "big", **{"session.id": sid, "input.value": value})
        out.append((sid, big.span_id, request(big).SerializeToString()))
    return out


def _send(svc, requests: list[tuple[str, bytes, bytes]]) -> list[grpc.StatusCode]:
    with grpc.insecure_channel(svc.endpoint) as channel:
        return [_export(channel, Signal.TRACES, raw) for _, _, raw in requests]


def _metric(svc, name: str, protocol: str = "grpc") -> float:
    body = http_request("GET", svc.service.telemetry.port, "/metrics").body.decode()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and sample.labels.get("protocol") == protocol:
                return sample.value
    raise AssertionError(f"{name} not exposed")


def _ids(requests) -> set[bytes]:
    return {span_id for _, span_id, _ in requests}


def test_refuse_answers_unavailable_and_loses_nothing_acknowledged(service, sink, judge, full_redis):
    url, client = full_redis
    svc = service(redis={"url": url})  # session.on_buffer_full: refuse, the default
    before, during = _requests("full-refuse", BEFORE), _requests("full-refuse", WHILE_FULL)
    assert set(_send(svc, before)) == {grpc.StatusCode.OK}
    _fill(client)
    assert set(_send(svc, during)) == {grpc.StatusCode.UNAVAILABLE}
    with grpc.insecure_channel(svc.endpoint) as channel:
        raw = logs_request(log_record("refused too", trace_id(), b"s" * 8)).SerializeToString()
        assert _export(channel, Signal.LOGS, raw) == grpc.StatusCode.UNAVAILABLE
    sink.wait_for(lambda s: _ids(before) <= sink_span_ids(s))
    assert not _ids(during) & sink_span_ids(sink)  # refused: nothing went downstream, the sender keeps them
    stats = svc.service.receiver.stats
    assert stats.refused_unavailable == WHILE_FULL + 1 and stats.unbuffered_requests == 0
    assert _metric(svc, "collector_eval_spans_unbuffered_total") == 0
    # Room again: the sender's retries pass, and every span arrives once.
    _room(client)
    assert set(_send(svc, during)) == {grpc.StatusCode.OK}
    sink.wait_for(lambda s: _ids(before + during) <= sink_span_ids(s))
    assert len(sink.spans()) == BEFORE + WHILE_FULL


def test_forward_acknowledges_every_request_and_marks_its_sessions_truncated(service, sink, judge, full_redis):
    url, client = full_redis
    svc = service(redis={"url": url}, session={"on_buffer_full": "forward"})
    before, during = _requests("full-forward", BEFORE), _requests("full-forward", WHILE_FULL)
    assert set(_send(svc, before)) == {grpc.StatusCode.OK}
    _fill(client)
    assert set(_send(svc, during)) == {grpc.StatusCode.OK}
    # Log records naming a trace, while Redis is full: acknowledged and forwarded too.
    logs = logs_request(log_record("unbuffered", trace_id(), b"s" * 8), log_record("no trace"))
    with grpc.insecure_channel(svc.endpoint) as channel:
        assert _export(channel, Signal.LOGS, logs.SerializeToString()) == grpc.StatusCode.OK
    # The downstream receives every span sent.
    sink.wait_for(lambda s: _ids(before + during) <= sink_span_ids(s) and s.logs_requests == [logs])
    assert len(sink.spans()) == BEFORE + WHILE_FULL

    stats = svc.service.receiver.stats
    assert (stats.spans, stats.unbuffered_spans) == (BEFORE + WHILE_FULL, WHILE_FULL)
    assert (stats.unbuffered_requests, stats.unbuffered_log_records) == (WHILE_FULL + 1, 1)
    assert _metric(svc, "collector_eval_spans_unbuffered_total") == WHILE_FULL
    assert _metric(svc, "collector_eval_requests_unbuffered_total") == WHILE_FULL + 1
    assert _metric(svc, "collector_eval_log_records_unbuffered_total") == 1

    # Room again: the next request Redis takes pays the marks owed.
    keys = Keys(svc.service.cfg.redis.key_prefix)
    session_keys = [keys.session(SessionKey(TENANT, f"full-forward-{i}")) for i in range(SESSIONS)]
    assert not any(client.hexists(key, "truncated") for key in session_keys)
    _room(client)
    assert _send(svc, _requests("after", 1)) == [grpc.StatusCode.OK]
    for key in session_keys:
        n, truncated = client.hmget(key, ["n", "truncated"])
        assert (int(n) >> 32, truncated) == (BEFORE // SESSIONS, b"buffer_full")
        assert 0 < client.ttl(key) <= svc.service.cfg.session.ttl_s
    # The log record's trace, which no session had claimed, is marked with the orphans' TTL.
    trace_key = keys.trace(logs.resource_logs[0].scope_logs[0].log_records[0].trace_id)
    assert client.hget(trace_key, "truncated") == b"buffer_full"
    assert 0 < client.ttl(trace_key) <= svc.service.cfg.session.orphan_trace_ttl_s
    # A verdict says it saw part of the conversation.
    sid = "full-forward-0"
    assert _send(svc, [("", b"", request(end_span(sid)).SerializeToString())]) == [grpc.StatusCode.OK]
    sink.wait_for(lambda s: any(attrs_of(c)["session.id"] == sid for _, _, c in s.carriers()))
    (carrier,) = [c for _, _, c in sink.carriers() if attrs_of(c)["session.id"] == sid]
    assert attrs_of(carrier)["collector_eval.session.truncated"] is True


def test_on_buffer_full_is_refuse_or_forward(make_config):
    assert make_config().session.on_buffer_full == "refuse"
    with pytest.raises(ConfigError, match="session.on_buffer_full: 'drop' is not one of refuse, forward"):
        config_from_dict({"session": {"on_buffer_full": "drop"}})
