"""Telemetry of the running service: Prometheus /metrics scraped over real HTTP, /healthz and /readyz,
and grpc.health.v1 on the ingest port, as Redis and the downstream come and go."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import grpc
import pytest
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client.parser import text_string_to_metric_families

from collector_eval.evaluation.worker import GROUP as EVALUATORS
from collector_eval.model import SessionKey
from collector_eval.sessions.keys import Keys, session_member
from collector_eval.store.server import EmbeddedRedis
from tests.support.config import free_port
from tests.support.http_client import http_request
from tests.support.metrics import scrape
from tests.support.service_thread import ServiceThread
from tests.support.spans import Client, end_span, llm_span, request, span, trace_id

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def value(samples, name: str, **labels) -> float:
    return samples[(f"collector_eval_{name}", tuple(sorted(labels.items())))]


def wait_for_metric(svc, predicate, timeout_s: float = 10):
    deadline = time.monotonic() + timeout_s
    while True:
        samples = scrape(svc)
        if predicate(samples):
            return samples
        assert time.monotonic() < deadline, "metrics never reached the expected values"
        time.sleep(0.05)


def health_status(endpoint: str, service: str = "") -> int:
    with grpc.insecure_channel(endpoint) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def test_counters_move_by_what_one_session_did(service, sink, judge):
    svc = service(session={"settle_delay_s": 0.2, "max_id_length": 16})
    before = scrape(svc)
    assert value(before, "spans_received_total", protocol="grpc") == 0
    assert value(before, "redis_up") == 1

    sid = "sess-metrics"
    turns = [llm_span(trace_id(), f"question {i}", f"answer {i}", **{"session.id": sid}) for i in range(3)]
    rejected = span(trace_id(), "rejected", **{"session.id": "x" * 17})
    client = Client(svc.endpoint)
    try:
        response = client.export(request(*turns, rejected, span(trace_id(), "no-session")))
        assert response.partial_success.rejected_spans == 1
        client.export(request(end_span(sid)))
    finally:
        client.close()
    # An undecodable request over HTTP, refused as invalid.
    assert (
        http_request(
            "POST", svc.service.http_port, "/v1/traces", b"\xff" * 40, {"Content-Type": "application/x-protobuf"}
        ).status
        == 400
    )
    sink.wait_for(lambda s: len(s.carriers()) == 1)

    after = wait_for_metric(
        svc,
        lambda m: value(m, "verdicts_published_total") == 1 and value(m, "spans_forwarded_total") == 5,
    )
    assert value(after, "spans_received_total", protocol="grpc") == 5  # 3 turns, a span without session, the end span
    assert value(after, "spans_received_total", protocol="http") == 0
    assert value(after, "spans_refused_total", protocol="grpc", reason="rejected") == 1
    assert value(after, "spans_refused_total", protocol="grpc", reason="unavailable") == 0
    assert value(after, "requests_refused_total", protocol="http", reason="invalid") == 1
    assert value(after, "requests_refused_total", protocol="grpc", reason="invalid") == 0
    assert value(after, "sessions_buffered_total") == 2  # the session, in each of the two requests
    assert value(after, "evaluations_total", evaluator="goal_completeness", outcome="ok") == 1
    assert ("collector_eval_evaluations_total", (("evaluator", "goal_completeness"), ("outcome", "error"))) not in after
    assert value(after, "judge_tokens_total", type="input") == judge.prompt_tokens
    assert value(after, "judge_tokens_total", type="output") == judge.completion_tokens
    assert value(after, "judge_request_duration_seconds_count") == len(judge.requests) == 1
    assert 0 < value(after, "judge_request_duration_seconds_sum") < 5
    assert value(after, "verdicts_total") == 1
    assert value(after, "jobs_queued") == 0 and value(after, "jobs_pending") == 0
    assert value(after, "outbox_depth") == 0
    assert value(after, "forward_queue_depth") == 0
    assert value(after, "redis_errors_total", component="receiver") == 0


def test_jobs_reclaimed_from_a_dead_consumer(make_config, sink, judge):
    cfg = make_config(jobs={"poll_interval_s": 0.05, "visibility_timeout_s": 0.05})
    keys = Keys(cfg.redis.key_prefix)
    client = redis.Redis.from_url(cfg.redis.url)
    try:
        # A job that a consumer took and never acknowledged: it died.
        client.xgroup_create(keys.shards[0].jobs, EVALUATORS, id="0", mkstream=True)
        client.xadd(keys.shards[0].jobs, {"session": session_member(SessionKey("t", "gone"))})
        client.xreadgroup(EVALUATORS, "dead-consumer", {keys.shards[0].jobs: ">"}, count=1)
        assert client.xpending(keys.shards[0].jobs, EVALUATORS)["pending"] == 1
        time.sleep(0.1)  # idle past the visibility timeout
        st = ServiceThread(cfg).start()
        try:
            samples = wait_for_metric(st, lambda m: value(m, "jobs_reclaimed_total") == 1)
            assert value(samples, "redis_up") == 1
            # The session had expired, so the job was acknowledged without a verdict.
            wait_for_metric(st, lambda m: value(m, "jobs_queued") == 0 and value(m, "jobs_pending") == 0)
            assert value(scrape(st), "verdicts_total") == 0
        finally:
            st.stop()
    finally:
        client.close()


def test_health_and_readiness_follow_redis(service, sink, judge):
    private = EmbeddedRedis(port=free_port())
    url = private.start()
    try:
        svc = service(redis={"url": url})
        port = svc.service.telemetry.port
        alive = http_request("GET", port, "/healthz")
        assert alive.status == 200 and json.loads(alive.body) == {"status": "alive"}
        ready = http_request("GET", port, "/readyz")
        assert ready.status == 200
        assert json.loads(ready.body) == {"status": "ready", "checks": {"redis": "ok", "downstream": "ok"}}
        assert health_status(svc.endpoint) == health_pb2.HealthCheckResponse.SERVING
        assert health_status(svc.endpoint, TRACE_SERVICE) == health_pb2.HealthCheckResponse.SERVING
    finally:
        private.stop()

    not_ready = http_request("GET", port, "/readyz")
    assert not_ready.status == 503
    body = json.loads(not_ready.body)
    assert body["status"] == "not ready"
    assert body["checks"]["redis"] != "ok" and body["checks"]["downstream"] == "ok"
    assert http_request("GET", port, "/healthz").status == 200  # alive, only not ready

    deadline = time.monotonic() + 10
    while health_status(svc.endpoint) != health_pb2.HealthCheckResponse.NOT_SERVING:
        assert time.monotonic() < deadline, "gRPC health never went NOT_SERVING without Redis"
        time.sleep(0.1)
    assert health_status(svc.endpoint, TRACE_SERVICE) == health_pb2.HealthCheckResponse.NOT_SERVING
    samples = scrape(svc)
    assert value(samples, "redis_up") == 0
    assert value(samples, "redis_errors_total", component="metrics") >= 1
    assert ("collector_eval_jobs_queued", ()) not in samples  # no stale figure while Redis is away


def test_readiness_names_an_unreachable_downstream(service, sink, judge):
    nobody = f"127.0.0.1:{free_port()}"
    svc = service(exporters={"otlp": {"endpoint": nobody}})
    reply = http_request("GET", svc.service.telemetry.port, "/readyz")
    assert reply.status == 503
    checks = json.loads(reply.body)["checks"]
    assert checks["redis"] == "ok"
    assert nobody in checks["downstream"]
    # Spans still flow in: the receiver takes them while the exporter retries.
    assert health_status(svc.endpoint) == health_pb2.HealthCheckResponse.SERVING


def test_each_service_has_its_own_registry(service, sink, judge):
    first, second = service(), service()
    client = Client(first.endpoint)
    try:
        client.export(request(span(trace_id(), "only-first")))
    finally:
        client.close()
    wait_for_metric(first, lambda m: value(m, "spans_received_total", protocol="grpc") == 1)
    assert value(scrape(second), "spans_received_total", protocol="grpc") == 0


def test_telemetry_is_off_with_an_empty_endpoint(service, sink, judge):
    svc = service(telemetry={"metrics_endpoint": ""})
    assert svc.service.telemetry.port == 0
    # gRPC health does not depend on the telemetry endpoint.
    assert health_status(svc.endpoint) == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize("section", ["telemetry", "receiver"])
def test_a_taken_port_fails_the_start_naming_its_key(make_config, section):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"127.0.0.1:{taken.getsockname()[1]}"
        if section == "telemetry":
            cfg = make_config(telemetry={"metrics_endpoint": endpoint})
            name = "telemetry.metrics_endpoint"
        else:
            cfg = make_config(receiver={"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": endpoint}})
            name = "receiver.http.endpoint"
        st = ServiceThread(cfg)
        try:
            with pytest.raises(OSError, match=f"{name}: cannot listen on {endpoint}"):
                st.start()
        finally:
            st.stop()


def test_readme_lists_every_metric_with_its_type(service, sink, judge):
    operations = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()
    table = operations[operations.index("\n## Metrics\n") : operations.index("\n## Health\n")]
    documented = dict(re.findall(r"^\| `(collector_eval_\w+)` \| (\w+) \|", table, re.M))
    svc = service()
    reply = http_request("GET", svc.service.telemetry.port, "/metrics")
    exposed = {}
    for family in text_string_to_metric_families(reply.body.decode()):
        if family.name.endswith("_created"):
            continue  # the histogram's creation time, which the text parser reads as a family of its own
        name = family.name + "_total" if family.type == "counter" else family.name
        exposed[name] = family.type
    assert exposed == documented
