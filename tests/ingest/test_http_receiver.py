"""OTLP/HTTP receiver (POST /v1/traces) against the running service: protobuf and OTLP/JSON bodies,
gzip, the OTLP/HTTP status codes, bearer tokens, and a session judged through the SDK's HTTP exporter."""

from __future__ import annotations

import gzip
import json
import random
import shlex
import ssl
import time
from pathlib import Path

import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from collector_eval.otlp.json_format import request_to_otlp_json
from collector_eval.store.server import EmbeddedRedis
from tests.support.app import TURNS, goal_answer, send_session
from tests.support.config import free_port
from tests.support.http_client import Reply, http_request
from tests.support.pki import CertificateAuthority
from tests.support.spans import (
    end_span,
    judge_prompt,
    llm_span,
    request,
    sink_span_ids,
    span,
    trace_id,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
TOKEN = "http-test-token-1"
OPERATIONS = (Path(__file__).resolve().parents[2] / "docs" / "operations.md").read_text()


def post(svc, body: bytes, content_type: str = PROTOBUF, path: str = "/v1/traces", **headers: str) -> Reply:
    headers = {"Content-Type": content_type, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return http_request("POST", svc.service.http_port, path, body, headers)


def post_json(svc, doc: dict, **headers: str) -> Reply:
    return post(svc, json.dumps(doc).encode(), JSON, **headers)


def status_of(reply: Reply) -> status_pb2.Status:
    """The google.rpc.Status an error answer carries, in the request's encoding."""
    if reply.headers["content-type"].startswith(JSON):
        return json_format.Parse(reply.body, status_pb2.Status())
    assert reply.headers["content-type"].startswith(PROTOBUF)
    return status_pb2.Status.FromString(reply.body)


def test_protobuf_request_acknowledged_and_forwarded_unchanged(service, sink, judge):
    svc = service()
    sent = request(span(trace_id(), "root", **{"http.route": "/chat"}), llm_span(trace_id(), "q", "a"))
    reply = post(svc, sent.SerializeToString())
    assert reply.status == 200
    assert reply.headers["content-type"] == PROTOBUF
    assert ExportTraceServiceResponse.FromString(reply.body) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: len(s.requests) == 1)
    assert sink.requests[0] == sent  # the very same request, resource and scope included


def test_otlp_json_with_hex_ids_and_integer_enums(service, sink, judge):
    svc = service()
    doc = {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-app"}}]},
                "scopeSpans": [
                    {
                        "scope": {"name": "json-test"},
                        "spans": [
                            {
                                "traceId": "5b8efff798038103d269b633813fc60c",
                                "spanId": "eee19b7ec3c1b174",
                                "parentSpanId": "",
                                "name": "GET /chat",
                                "kind": 2,
                                "startTimeUnixNano": "1700000000000000000",
                                "endTimeUnixNano": 1700000000000001000,
                                "attributes": [{"key": "count", "value": {"intValue": "3"}}],
                                "status": {"code": 1},
                                "someFutureField": True,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    reply = post_json(svc, doc)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == JSON
    assert json.loads(reply.body) == {}
    sink.wait_for(lambda s: len(s.spans()) == 1)
    resource, scope, got = sink.spans()[0]
    assert got.trace_id == bytes.fromhex("5b8efff798038103d269b633813fc60c")
    assert got.span_id == bytes.fromhex("eee19b7ec3c1b174")
    assert got.kind == Span.SPAN_KIND_SERVER
    assert got.status.code == 1
    assert got.start_time_unix_nano == 1700000000000000000 and got.end_time_unix_nano == 1700000000000001000
    assert got.attributes[0].value.int_value == 3
    assert resource.attributes[0].value.string_value == "json-app" and scope.name == "json-test"


def test_json_round_trip_of_a_whole_request(service, sink, judge):
    svc = service()
    sent = request(
        span(trace_id(), "root"), llm_span(trace_id(), "json question", "json answer", **{"session.id": "j"})
    )
    reply = post_json(svc, request_to_otlp_json(sent))
    assert reply.status == 200
    sink.wait_for(lambda s: len(s.requests) == 1)
    assert sink.requests[0] == sent


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_gzip_bodies_are_accepted(service, sink, judge, encoding):
    svc = service()
    sid = f"sess-http-gzip-{encoding[-4:]}"
    sent = request(llm_span(trace_id(), "compress this " * 100, "gzip answer", **{"session.id": sid}), end_span(sid))
    raw = sent.SerializeToString() if encoding == PROTOBUF else json.dumps(request_to_otlp_json(sent)).encode()
    body = gzip.compress(raw)
    assert len(body) < len(raw)
    reply = post(svc, body, encoding, Content_Encoding="gzip")
    assert reply.status == 200, reply.body
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert {s.span_id for rs in sent.resource_spans for ss in rs.scope_spans for s in ss.spans} <= sink_span_ids(sink)
    assert "gzip answer" in judge_prompt(judge)


@pytest.mark.parametrize("encoding", [PROTOBUF, JSON])
def test_partial_success_in_the_request_encoding(service, sink, judge, encoding):
    svc = service(session={"settle_delay_s": 0.2, "max_id_length": 8})
    good = span(trace_id(), "good")
    bad = span(trace_id(), "bad", **{"session.id": "far-too-long-session-id"})
    sent = request(good, bad)
    if encoding == PROTOBUF:
        reply = post(svc, sent.SerializeToString())
        response = ExportTraceServiceResponse.FromString(reply.body)
    else:
        reply = post_json(svc, request_to_otlp_json(sent))
        response = json_format.Parse(reply.body, ExportTraceServiceResponse())
    assert reply.status == 200
    assert reply.headers["content-type"] == encoding
    assert response.partial_success.rejected_spans == 1
    assert "session.id" in response.partial_success.error_message
    sink.wait_for(lambda s: good.span_id in sink_span_ids(s))
    assert bad.span_id not in sink_span_ids(sink)


def _random_protobuf() -> tuple[bytes, str, dict]:
    return random.Random(99).randbytes(512), PROTOBUF, {}


def _json_syntax_error() -> tuple[bytes, str, dict]:
    return b'{"resourceSpans": [', JSON, {}


def _json_bad_hex_id() -> tuple[bytes, str, dict]:
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not-hex", "spanId": "eee19b7ec3c1b174"}]}]}]}
    return json.dumps(doc).encode(), JSON, {}


def _json_that_names_a_file() -> tuple[bytes, str, dict]:
    # Must be refused as not JSON, never opened as a path on the server.
    return b"/etc/hostname", JSON, {}


def _broken_gzip() -> tuple[bytes, str, dict]:
    return gzip.compress(request(span(trace_id())).SerializeToString())[:-6], PROTOBUF, {"Content-Encoding": "gzip"}


@pytest.mark.parametrize(
    "make", [_random_protobuf, _json_syntax_error, _json_bad_hex_id, _json_that_names_a_file, _broken_gzip]
)
def test_undecodable_body_is_400_with_a_status(service, sink, judge, make):
    svc = service()
    body, content_type, headers = make()
    reply = post(svc, body, content_type, **{k.replace("-", "_"): v for k, v in headers.items()})
    assert reply.status == 400, reply.body
    assert reply.headers["content-type"] == content_type
    status = status_of(reply)
    assert status.code == code_pb2.INVALID_ARGUMENT and status.message
    # The service keeps serving, and forwarded nothing of the bad request.
    after = span(trace_id(), "after")
    assert post(svc, request(after).SerializeToString()).status == 200
    sink.wait_for(lambda s: after.span_id in sink_span_ids(s))
    assert len(sink.spans()) == 1


def test_body_over_the_limit_is_413_compressed_or_not(service, sink, judge):
    # 0.01 MiB is 10485 bytes, after decompression.
    svc = service(
        receiver={
            "grpc": {"endpoint": "127.0.0.1:0"},
            "http": {"endpoint": "127.0.0.1:0", "max_request_size_mib": 0.01},
        }
    )
    big = request(span(trace_id(), "big", **{"input.value": "x" * 20_000})).SerializeToString()
    reply = post(svc, big)
    assert reply.status == 413
    assert status_of(reply).code == code_pb2.RESOURCE_EXHAUSTED
    # A small gzip body that inflates past the limit is refused too.
    bomb = gzip.compress(big)
    assert len(bomb) < 10_000
    assert post(svc, bomb, Content_Encoding="gzip").status == 413
    # Under the limit, compressed or not, it passes.
    small = request(span(trace_id(), "small", **{"input.value": "y" * 5_000})).SerializeToString()
    assert post(svc, small).status == 200
    assert post(svc, gzip.compress(small), Content_Encoding="gzip").status == 200
    sink.wait_for(lambda s: len(s.requests) == 2)
    assert {s.name for _, _, s in sink.spans()} == {"small"}


def test_other_content_types_and_encodings_are_415(service, sink, judge):
    svc = service()
    body = request(span(trace_id(), "x")).SerializeToString()
    assert post(svc, body, "text/plain").status == 415
    assert post(svc, body, "application/grpc").status == 415
    assert post(svc, body, PROTOBUF, Content_Encoding="br").status == 415
    # Parameters of a supported type are fine.
    assert post(svc, b"{}", "application/json; charset=utf-8").status == 200
    # Only POST to a signal's path is an export.
    assert post(svc, body, path="/v1/profiles").status == 404
    assert http_request("GET", svc.service.http_port, "/v1/traces").status == 405
    time.sleep(0.3)
    assert sink.spans() == []


def test_bearer_token_required_when_receiver_auth_is_configured(service, sink, judge):
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0", "auth": {"tokens": [TOKEN]}}})
    denied = span(trace_id(), "denied")
    body = request(denied).SerializeToString()
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        reply = post(svc, body, **headers)
        assert reply.status == 401, headers
        assert reply.headers["www-authenticate"] == "Bearer"
        assert status_of(reply).code == code_pb2.UNAUTHENTICATED
    json_reply = post(svc, b"{}", JSON)
    assert json_reply.status == 401 and status_of(json_reply).code == code_pb2.UNAUTHENTICATED
    accepted = span(trace_id(), "accepted")
    assert post(svc, request(accepted).SerializeToString(), Authorization=f"Bearer {TOKEN}").status == 200
    sink.wait_for(lambda s: accepted.span_id in sink_span_ids(s))
    assert denied.span_id not in sink_span_ids(sink)
    assert svc.service.http_receiver.stats.refused_unauthenticated == 5


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mutual-tls"])
def test_receiver_tls_applies_to_http_too(service, sink, judge, tmp_path, mutual):
    ca = CertificateAuthority(tmp_path, "http-ca")
    server, client = ca.issue("server", server=True), ca.issue("client", server=False)
    tls = {"cert_file": str(server.cert_file), "key_file": str(server.key_file)}
    if mutual:
        tls["client_ca_file"] = str(ca.cert_file)
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0", "tls": tls}})
    port = svc.service.http_port
    body = request(span(trace_id(), "over-tls")).SerializeToString()
    headers = {"Content-Type": PROTOBUF}

    trusting = ssl.create_default_context(cafile=str(ca.cert_file))
    if mutual:
        # Without a client certificate the handshake fails (TLS 1.3 may report it at the first read).
        with pytest.raises((ssl.SSLError, ConnectionError)):
            http_request("POST", port, "/v1/traces", body, headers, tls=trusting)
        trusting.load_cert_chain(str(client.cert_file), str(client.key_file))
    assert http_request("POST", port, "/v1/traces", body, headers, tls=trusting).status == 200
    # Plaintext gets no answer, and a client that does not trust the CA refuses the server.
    with pytest.raises((ConnectionError, OSError)):
        http_request("POST", port, "/v1/traces", body, headers)
    with pytest.raises(ssl.SSLCertVerificationError):
        http_request("POST", port, "/v1/traces", body, headers, tls=ssl.create_default_context())
    sink.wait_for(lambda s: len(s.spans()) == 1)


def test_redis_unreachable_is_503_with_retry_after(service, sink, judge):
    private = EmbeddedRedis(port=free_port())
    url = private.start()
    try:
        svc = service(redis={"url": url})
        warmup = span(trace_id(), "warmup")
        assert post(svc, request(warmup).SerializeToString()).status == 200
        sink.wait_for(lambda s: warmup.span_id in sink_span_ids(s))
    finally:
        private.stop()
    lost = llm_span(trace_id(), "q", "a", **{"session.id": "sess-http-no-redis"})
    for encoding in (PROTOBUF, JSON):
        sent = request(lost)
        body = sent.SerializeToString() if encoding == PROTOBUF else json.dumps(request_to_otlp_json(sent)).encode()
        started = time.monotonic()
        reply = post(svc, body, encoding)
        assert time.monotonic() - started < 10
        assert reply.status == 503
        assert reply.headers["retry-after"] == "1"
        assert reply.headers["content-type"] == encoding
        assert status_of(reply).code == code_pb2.UNAVAILABLE
    # Refused means not acknowledged, so not forwarded either.
    time.sleep(0.5)
    assert sink_span_ids(sink) == {warmup.span_id}
    stats = svc.service.http_receiver.stats
    assert stats.refused_unavailable == 2 and stats.redis_errors == 2


def test_http_receiver_is_off_with_an_empty_endpoint(service, sink, judge):
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0"}, "http": {"endpoint": ""}})
    assert svc.service.http_receiver is None and svc.service.http_port == 0


def test_session_judged_end_to_end_through_the_sdk_http_exporter(service, sink, judge, monkeypatch):
    """The SDK's OTLP/HTTP exporter configured only by the environment variables docs/operations.md gives."""
    (line,) = [l for l in OPERATIONS.splitlines() if "OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf" in l]
    documented = dict(word.split("=", 1) for word in shlex.split(line) if word.startswith("OTEL_"))
    assert documented == {
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318",
    }
    judge.default = goal_answer(["name the puppy", "list vaccines"], ["book a vet appointment"])
    svc = service()
    for name, value in documented.items():
        monkeypatch.setenv(name, value.replace(":4318", f":{svc.service.http_port}"))
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    provider = TracerProvider(resource=Resource.create({"service.name": "http-app"}))
    provider.add_span_processor(SimpleSpanProcessor(HttpSpanExporter()))
    try:
        end = send_session(provider, "sess-http-e2e")
        sink.wait_for(lambda s: len(s.carriers()) == 1)
    finally:
        provider.shutdown()
    app_spans = [s for _, _, s in sink.spans() if s.name != "evaluate_session"]
    assert len(app_spans) == 7  # 3 turns of root + LLM span, and the end span: all forwarded
    (_, _, carrier) = sink.carriers()[0]
    assert carrier.parent_span_id == end.get_span_context().span_id.to_bytes(8, "big")
    (event,) = carrier.events
    attrs = {kv.key: kv.value for kv in event.attributes}
    assert attrs["gen_ai.evaluation.score.label"].string_value == "complete"
    prompt = judge_prompt(judge)
    for user, assistant in TURNS:
        assert user in prompt and assistant in prompt
