"""Logs and metrics through the running service, next to traces: OTLP/gRPC LogsService and
MetricsService, OTLP/HTTP /v1/logs and /v1/metrics (protobuf and JSON), the same status rules as
traces for bad input, forwarded unchanged to every exporter, and log records that name a trace read
into that trace's session."""

from __future__ import annotations

import json

import grpc
import pytest
from google.rpc import code_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2, metrics_service_pb2_grpc

from collector_eval.config.checks import ConfigError
from collector_eval.otlp.json_format import load_otlp_files, request_to_otlp_json
from collector_eval.otlp.signals import SPECS, Signal
from collector_eval.runtime.config import config_from_dict
from collector_eval.store.server import EmbeddedRedis
from tests.export.test_exporters import wait_until
from tests.ingest.test_http_receiver import JSON, post, status_of
from tests.support.app import goal_answer
from tests.support.config import free_port
from tests.support.http_sink import HttpSink
from tests.support.signals import log_record, logs_request, metrics_request
from tests.support.spans import end_span, judge_prompt, request, span, trace_id

TOKEN = "signals-test-token"


def _stubs(endpoint: str, channel_options=()):
    channel = grpc.insecure_channel(endpoint, options=list(channel_options))
    return channel, logs_service_pb2_grpc.LogsServiceStub(channel), metrics_service_pb2_grpc.MetricsServiceStub(channel)


def test_logs_and_metrics_over_grpc_are_acknowledged_and_forwarded_unchanged(service, sink, judge):
    svc = service()
    logs = logs_request(
        log_record("no trace"), log_record({"content": "hi"}, trace_id(), b"s" * 8, "gen_ai.user.message")
    )
    metrics = metrics_request(3, 4, exemplar_trace_id=trace_id())
    channel, logs_stub, metrics_stub = _stubs(svc.endpoint)
    with channel:
        assert logs_stub.Export(logs, timeout=10) == logs_service_pb2.ExportLogsServiceResponse()
        assert metrics_stub.Export(metrics, timeout=10) == metrics_service_pb2.ExportMetricsServiceResponse()
    sink.wait_for(lambda s: s.logs_requests and s.metrics_requests)
    assert sink.logs_requests == [logs]  # the very same requests, resource and scope included
    assert sink.metrics_requests == [metrics]
    assert sink.spans() == []
    stats = svc.service.receiver.stats
    assert (stats.log_records, stats.data_points) == (2, 2)


def test_logs_and_metrics_over_http_protobuf_and_json(service, sink, judge):
    svc = service()
    logs = logs_request(log_record("protobuf body", trace_id(), b"a" * 8))
    metrics = metrics_request(7)
    assert post(svc, logs.SerializeToString(), path="/v1/logs").status == 200
    assert post(svc, metrics.SerializeToString(), path="/v1/metrics").status == 200
    # OTLP/JSON: hex ids, in log records and in exemplars alike.
    json_logs = logs_request(log_record({"content": "json body"}, trace_id(), b"b" * 8, "gen_ai.user.message"))
    json_metrics = metrics_request(1, 2, exemplar_trace_id=trace_id())
    for path, message in (("/v1/logs", json_logs), ("/v1/metrics", json_metrics)):
        doc = request_to_otlp_json(message)
        assert len(json.dumps(doc).split('"traceId": "')[1].split('"')[0]) == 32  # hex on the wire
        reply = post(svc, json.dumps(doc).encode(), JSON, path=path)
        assert reply.status == 200, reply.body
        assert reply.headers["content-type"] == JSON
        assert json.loads(reply.body) == {}
    sink.wait_for(lambda s: len(s.logs_requests) == 2 and len(s.metrics_requests) == 2)
    # In any order: the forwarder's senders work in parallel.
    assert sorted(map(_encoded, sink.logs_requests)) == sorted(map(_encoded, [logs, json_logs]))
    assert sorted(map(_encoded, sink.metrics_requests)) == sorted(map(_encoded, [metrics, json_metrics]))


def _encoded(message) -> bytes:
    return message.SerializeToString(deterministic=True)


def test_bad_log_and_metric_requests_get_the_trace_status_codes_and_nothing_is_forwarded(service, sink, judge):
    svc = service(
        receiver={
            "grpc": {"max_recv_msg_size_mib": 1, "auth": {"tokens": [TOKEN]}},
            "http": {"max_request_size_mib": 1},
        }
    )
    good = {"/v1/logs": logs_request(log_record("fine")), "/v1/metrics": metrics_request(1)}
    big_logs = logs_request(log_record("x" * (2 << 20)))
    auth = (("authorization", f"Bearer {TOKEN}"),)
    channel, logs_stub, _ = _stubs(svc.endpoint)
    with channel:
        for signal in (Signal.LOGS, Signal.METRICS):
            # Undecodable: INVALID_ARGUMENT, not to be retried.
            raw = channel.unary_unary(SPECS[signal].export_method, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as info:
                raw(b"\xff\xff\xff", timeout=10, metadata=auth)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "not an Export" in info.value.details()
            # No token: UNAUTHENTICATED.
            with pytest.raises(grpc.RpcError) as info:
                raw(b"", timeout=10)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        # Over the size limit: RESOURCE_EXHAUSTED, from gRPC itself.
        with pytest.raises(grpc.RpcError) as info:
            logs_stub.Export(big_logs, timeout=10, metadata=auth)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for path, message in good.items():
        reply = post(svc, b"\x0a\xff", path=path, **bearer)
        assert reply.status == 400 and status_of(reply).code == code_pb2.INVALID_ARGUMENT
        reply = post(svc, b'{"resourceLogs": 5}' if path == "/v1/logs" else b"[1]", JSON, path=path, **bearer)
        assert reply.status == 400 and "OTLP/JSON" in status_of(reply).message
        assert post(svc, message.SerializeToString(), "text/plain", path=path, **bearer).status == 415
        reply = post(svc, message.SerializeToString(), path=path)
        assert reply.status == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert post(svc, big_logs.SerializeToString(), path="/v1/logs", **bearer).status == 413
    assert sink.logs_requests == [] and sink.metrics_requests == []
    # The same requests, well formed and with the token, pass.
    for path, message in good.items():
        assert post(svc, message.SerializeToString(), path=path, **bearer).status == 200
    sink.wait_for(lambda s: len(s.logs_requests) == 1 and len(s.metrics_requests) == 1)


def test_with_redis_down_metrics_and_traceless_logs_pass_and_logs_of_a_trace_wait(service, sink, judge):
    redis = EmbeddedRedis(port=free_port())
    url = redis.start()
    svc = service(redis={"url": url})
    redis.stop()
    channel, logs_stub, metrics_stub = _stubs(svc.endpoint)
    with channel:
        metrics_stub.Export(metrics_request(5), timeout=10)
        logs_stub.Export(logs_request(log_record("no trace, no buffering")), timeout=10)
        with pytest.raises(grpc.RpcError) as info:
            logs_stub.Export(logs_request(log_record("of a trace", trace_id(), b"c" * 8)), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE  # retried by the sender, not lost
    sink.wait_for(lambda s: len(s.logs_requests) == 1 and len(s.metrics_requests) == 1)
    assert svc.service.receiver.stats.refused_unavailable == 1


def test_log_records_of_a_trace_are_read_into_its_session(service, sink, judge, client_for):
    """The GenAI per-message log events of opentelemetry-instrumentation-openai-v2: content only in log
    records, linked to the chat span by trace and span id; the session id only on the app's root span."""
    judge.default = goal_answer(["name"], [])
    svc = service()
    sid = "sess-logs-1"
    tid, chat_id = trace_id(), b"\x01" * 8
    root = span(tid, "chat_turn", **{"session.id": sid})
    chat = span(
        tid, "chat gpt-4o-mini", parent=root.span_id, **{"gen_ai.operation.name": "chat", "gen_ai.system": "openai"}
    )
    chat.span_id = chat_id
    logs = logs_request(
        log_record(
            {"content": "Name a colour of the sea."}, tid, chat_id, "gen_ai.user.message", **{"gen_ai.system": "openai"}
        ),
        log_record(
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Teal, mostly."}},
            tid,
            chat_id,
            "gen_ai.choice",
            **{"gen_ai.system": "openai"},
        ),
    )
    channel, logs_stub, _ = _stubs(svc.endpoint)
    with channel:
        logs_stub.Export(logs, timeout=10)  # before the spans: the trace has not joined its session yet
    client_for(svc.endpoint).export(request(root, chat, end_span(sid)))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    prompt = judge_prompt(judge)
    assert "Name a colour of the sea." in prompt and "Teal, mostly." in prompt


def test_otlp_http_and_file_exporters_carry_logs_and_metrics(service, judge, tmp_path):
    http = HttpSink().start()
    out = tmp_path / "out.jsonl"
    try:
        svc = service(
            exporters={"otlp": {"endpoint": ""}, "otlp_http": {"endpoint": http.url}, "file": {"path": str(out)}}
        )
        logs = logs_request(log_record({"content": "to every exporter"}, trace_id(), b"d" * 8, "gen_ai.user.message"))
        metrics = metrics_request(11, exemplar_trace_id=trace_id())
        assert post(svc, logs.SerializeToString(), path="/v1/logs").status == 200
        assert post(svc, metrics.SerializeToString(), path="/v1/metrics").status == 200
        wait_until(lambda: http.logs_requests and http.metrics_requests)
        assert http.logs_requests == [logs] and http.metrics_requests == [metrics]
        wait_until(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
    finally:
        http.stop()
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(next(iter(doc)) for doc in lines) == ["resourceLogs", "resourceMetrics"]
    # Hex ids in the file, as OTLP/JSON has them; the log line reads back as it was sent, as
    # `collector-eval transcript` reads it.
    logs_line = next(doc for doc in lines if "resourceLogs" in doc)
    record = logs.resource_logs[0].scope_logs[0].log_records[0]
    assert logs_line["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] == record.trace_id.hex()
    _, read_back = load_otlp_files([out])
    assert read_back == logs


def test_otlp_http_exporter_needs_logs_and_metrics_urls_it_cannot_derive():
    base = {"exporters": {"otlp_http": {"endpoint": "http://127.0.0.1:9/custom/spans"}}}
    with pytest.raises(ConfigError, match=r"exporters.otlp_http.logs_endpoint: must be set"):
        config_from_dict(base)
    cfg = config_from_dict(
        {
            "exporters": {
                "otlp_http": {
                    "endpoint": "http://127.0.0.1:9/custom/spans",
                    "logs_endpoint": "http://127.0.0.1:9/custom/logs",
                    "metrics_endpoint": "http://127.0.0.1:9/custom/metrics",
                }
            }
        }
    )
    assert cfg.exporters.otlp_http.logs_endpoint.endswith("/custom/logs")
    with pytest.raises(ConfigError, match=r"exporters.otlp_http.metrics_endpoint: 'ftp://x' is not an http"):
        config_from_dict(
            {"exporters": {"otlp_http": {"endpoint": "http://h/v1/traces", "metrics_endpoint": "ftp://x"}}}
        )
