"""Hostile bodies on every decoder path (issue 16): OTLP/HTTP with protobuf and OTLP/JSON bodies, and
OTLP/gRPC, for traces, logs and metrics. Each gets the documented answer (400/INVALID_ARGUMENT when
undecodable, 413/RESOURCE_EXHAUSTED when too large) and one warning, never a 500 or a traceback, and a
good request passes right after (tests/ingest/hostile.py's Probe checks all three)."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket

import grpc
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from collector_eval.otlp.json_format import request_to_otlp_json
from collector_eval.otlp.signals import SPECS, Signal
from tests.ingest.hostile import (
    Probe,
    deep_json_value,
    deep_value,
    good,
    json_item,
    json_with_value,
    key_value,
    with_attribute,
)
from tests.ingest.test_http_receiver import JSON, PROTOBUF, post
from tests.support.signals import log_record, logs_request, metrics_request
from tests.support.spans import request, span, trace_id
from tests.support.wire import length_delimited

INVALID = grpc.StatusCode.INVALID_ARGUMENT
TOO_LARGE = grpc.StatusCode.RESOURCE_EXHAUSTED
OK = grpc.StatusCode.OK
MIB = 1 << 20


@pytest.fixture
def probe(service, sink, judge, caplog) -> Probe:
    # 1 MiB limits on both protocols, so that "too large" costs little to build.
    svc = service(
        receiver={
            "grpc": {"endpoint": "127.0.0.1:0", "max_recv_msg_size_mib": 1},
            "http": {"endpoint": "127.0.0.1:0", "max_request_size_mib": 1},
        }
    )
    return Probe(svc, caplog)


@pytest.mark.parametrize("kind", ["array", "kvlist"])
def test_nesting_5000_levels_deep(probe, kind):
    # json.loads raises RecursionError at this depth; protobuf stops at its own limit (100).
    for signal in Signal:
        raw = with_attribute(signal, key_value(b"deep", deep_value(5000, kind)))
        probe.http(signal, raw, PROTOBUF, 400)
        probe.grpc(signal, raw, INVALID)
        probe.http(signal, json_with_value(signal, deep_json_value(5000, kind)), JSON, 400)
    # JSON nested deeply outside any field, and in the second of two JSON lines.
    probe.http(Signal.TRACES, b'{"resourceSpans": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON, 400)
    probe.http(Signal.LOGS, b"{}\n" + b"[" * 5000 + b"]" * 5000, JSON, 400)


def test_huge_numbers_of_attributes(probe, sink):
    for signal in Signal:
        many = [key_value(b"k%d" % i, deep_value(0)) for i in range(150_000)]  # about 2 MiB
        over = with_attribute(signal, *many)
        assert len(over) > MIB
        probe.http(signal, over, PROTOBUF, 413)
        probe.http(signal, gzip.compress(over), PROTOBUF, 413, Content_Encoding="gzip")
        probe.grpc(signal, over, TOO_LARGE, lines=None)
        # Under the limit it is a valid request like any other: accepted, nothing logged.
        under = with_attribute(signal, *many[:40_000])
        probe.http(signal, under, PROTOBUF, 200, lines=0)
        probe.grpc(signal, under, OK, lines=0)
        values = ", ".join(f'{{"key": "k{i}", "value": {{"intValue": "{i}"}}}}' for i in range(40_000))
        doc = json_with_value(signal, '{"stringValue": "x"}')
        json_over = doc.replace(b'[{"key": "k", "value": {"stringValue": "x"}}]', f"[{values}]".encode())
        assert len(json_over) > MIB
        probe.http(signal, json_over, JSON, 413)
        values = ", ".join(f'{{"key": "k{i}", "value": {{"intValue": "{i}"}}}}' for i in range(10_000))
        json_under = doc.replace(b'[{"key": "k", "value": {"stringValue": "x"}}]', f"[{values}]".encode())
        probe.http(signal, json_under, JSON, 200, lines=0)


def test_ids_of_the_wrong_length(probe):
    short_trace, long_span = "ab" * 15, "ab" * 9
    # OTLP/JSON: an id that is not hex of its length makes the body undecodable.
    for signal, field, value in [
        (Signal.TRACES, "traceId", short_trace),
        (Signal.TRACES, "spanId", long_span),
        (Signal.TRACES, "parentSpanId", "abc"),
        (Signal.LOGS, "traceId", short_trace),
        (Signal.LOGS, "spanId", long_span),
    ]:
        doc = request_to_otlp_json(good(signal) if signal == Signal.TRACES else logs_request(log_record("x")))
        json_item(doc, signal)[field] = value
        probe.http(signal, json.dumps(doc).encode(), JSON, 400)
    doc = request_to_otlp_json(metrics_request(1, exemplar_trace_id=trace_id()))
    json_item(doc, Signal.METRICS)["exemplars"][0]["traceId"] = short_trace
    probe.http(Signal.METRICS, json.dumps(doc).encode(), JSON, 400)
    # Protobuf: a span whose trace id is not 16 bytes is refused alone (partial_success); the
    # request's other spans pass.
    fine = span(trace_id(), "fine")
    raw = request(span(b"\x01" * 15, "short"), fine).SerializeToString()
    probe.http(Signal.TRACES, raw, PROTOBUF, 200)
    probe.grpc(Signal.TRACES, raw, OK)
    reply = post(probe.svc, raw)
    assert ExportTraceServiceResponse.FromString(reply.body).partial_success.rejected_spans == 1
    reply = post(probe.svc, json.dumps(request_to_otlp_json(request(span(trace_id(), "j")))).encode(), JSON)
    assert json_format.Parse(reply.body, ExportTraceServiceResponse()) == ExportTraceServiceResponse()
    # A log record or exemplar naming no valid trace is only forwarded (never buffered with a trace).
    for signal, message in [
        (Signal.LOGS, logs_request(log_record("x", b"\x01" * 15, b"\x02" * 3))),
        (Signal.METRICS, metrics_request(1, exemplar_trace_id=b"\x01" * 3)),
    ]:
        probe.http(signal, message.SerializeToString(), PROTOBUF, 200, lines=0)
        probe.grpc(signal, message.SerializeToString(), OK, lines=0)


def test_invalid_utf8(probe):
    for signal in Signal:
        # In a protobuf string field (an attribute's key, then its value).
        for raw in (
            with_attribute(signal, key_value(b"\xff\xfe", deep_value(0))),
            with_attribute(signal, key_value(b"k", b"\x0a\x02\xc3\x28")),
        ):
            probe.http(signal, raw, PROTOBUF, 400)
            probe.grpc(signal, raw, INVALID)
        # A JSON body that is not UTF-8, and one whose string escapes a lone surrogate.
        body = json_with_value(signal, '{"stringValue": "@@"}')
        probe.http(signal, body.replace(b"@@", b"\xff\xfe"), JSON, 400)
        probe.http(signal, body.replace(b"@@", b"\\udc80"), JSON, 400)


def _wrong_types(signal: Signal) -> list[bytes]:
    key = SPECS[signal].json_key
    bodies = [b"[1]", b"null", b'"text"', b"5", b"{", json.dumps({key: 5}).encode(), json.dumps({key: [5]}).encode()]
    bodies += [json.dumps({key: [None]}).encode(), json.dumps({key: [{"resource": 5}]}).encode()]
    time = "startTimeUnixNano" if signal == Signal.TRACES else "timeUnixNano"
    for field, value in [
        (time, "abc"),
        (time, 1e300),
        (time, -1),
        (time, 10**40),
        ("attributes", {"a": 1}),
        ("attributes", [{"key": 5}]),
        ("attributes", [{"key": "k", "value": {"intValue": "abc"}}]),
        ("attributes", [{"key": "k", "value": {"intValue": 1, "stringValue": "two of a oneof"}}]),
        ("attributes", [{"key": "k", "value": {"doubleValue": {}}}]),
        ("attributes", [{"key": "k", "value": {"arrayValue": {"values": 5}}}]),
        ("flags", True),
        ("flags", 1.5),
        ("droppedAttributesCount", -1) if signal != Signal.METRICS else ("asDouble", "many"),
        ("traceId" if signal != Signal.METRICS else "exemplars", 5 if signal != Signal.METRICS else {"a": 1}),
    ]:
        doc = request_to_otlp_json(good(signal))
        json_item(doc, signal)[field] = value
        bodies.append(json.dumps(doc).encode())
    bodies.append(json_with_value(signal, "NaN"))
    bodies.append(json_with_value(signal, '{"intValue": ' + "9" * 5000 + "}"))  # past int's 4300 digits
    return bodies


def test_wrong_json_types(probe):
    for signal in Signal:
        for body in _wrong_types(signal):
            probe.http(signal, body, JSON, 400)
    # A name JSON does not give an enum, and fields it does not know, are not errors.
    doc = request_to_otlp_json(good(Signal.TRACES))
    json_item(doc, Signal.TRACES).update(kind=3, someFutureField={"a": [1]})
    probe.http(Signal.TRACES, json.dumps(doc).encode(), JSON, 200, lines=0)


def test_gzip_bomb(probe):
    bomb = gzip.compress(b"\0" * (64 * MIB), 9)  # 64 MiB in about 64 KiB
    assert len(bomb) < 100_000
    members = gzip.compress(b"\0" * (MIB // 2)) * 3  # three members, each under the limit
    for signal in Signal:
        for content_type in (PROTOBUF, JSON):
            probe.http(signal, bomb, content_type, 413, Content_Encoding="gzip")
            probe.http(signal, members, content_type, 413, Content_Encoding="gzip")
        # gRPC decompresses (grpc-encoding: gzip) with its own limit on the result.
        big = with_attribute(signal, key_value(b"k", length_delimited(1, [b"x" * (2 * MIB)])))
        probe.grpc(signal, big, TOO_LARGE, lines=None, compress=True)


def test_body_that_stops_midway(probe):
    for signal in Signal:
        raw = with_attribute(signal, *(key_value(b"k%d" % i, deep_value(1)) for i in range(50)))
        cut = raw[: len(raw) // 2]
        probe.http(signal, cut, PROTOBUF, 400)
        probe.grpc(signal, cut, INVALID)
        text = json.dumps(request_to_otlp_json(good(signal))).encode()
        probe.http(signal, text[: len(text) // 2], JSON, 400)
        for content_type, body in ((PROTOBUF, raw), (JSON, text)):
            probe.http(signal, gzip.compress(body)[:-10], content_type, 400, Content_Encoding="gzip")
    # The connection itself ends before the body does: Content-Length not reached, or a chunked body
    # without its last chunk. aiohttp closes the connection at the sender's end of stream, so nobody
    # reads an answer; what is checked is the one line, never a traceback.
    port = probe.svc.service.http_port
    body = good(Signal.TRACES).SerializeToString()
    for head, sent in (
        (f"Content-Length: {len(body) + 100}\r\n", body),
        ("Transfer-Encoding: chunked\r\n", b"%x\r\n" % len(body) + body + b"\r\n"),
    ):
        probe.caplog.clear()
        assert _half_sent(port, head, sent) in (0, 400)
        probe.svc.call(asyncio.sleep(0.2))  # the handler finishes after the connection is gone
        probe._one_line(f"HTTP body cut short ({head.strip()})", 1)
        assert post(probe.svc, good(Signal.TRACES).SerializeToString()).status == 200
    # Chunked framing broken inside the body (a chunk size that is not hex): aiohttp refuses it before
    # any handler runs; its log is one line too, no traceback.
    probe.caplog.clear()
    assert _half_sent(port, "Transfer-Encoding: chunked\r\n", b"zz\r\n" + body + b"\r\n0\r\n\r\n") in (0, 400)
    probe.svc.call(asyncio.sleep(0.2))
    bad = [r for r in probe.caplog.records if r.name == "aiohttp.server"]
    assert len(bad) == 1 and bad[0].exc_info is None and "malformed HTTP" in bad[0].getMessage(), bad
    assert post(probe.svc, good(Signal.TRACES).SerializeToString()).status == 200


def _half_sent(port: int, head: str, body: bytes) -> int:
    """Send a request whose body stops short, close the sending side, and read the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + head.encode()
            + b"\r\n"
            + body
        )
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    return int(reply.split(b" ", 2)[1]) if reply else 0
