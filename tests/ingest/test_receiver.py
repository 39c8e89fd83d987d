"""OTLP/gRPC protocol edge cases against the running service, with a raw grpc client."""

from __future__ import annotations

import random
import time

import grpc
import pytest
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import (
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from collector_eval.store.server import EmbeddedRedis
from tests.support.config import free_port
from tests.support.spans import (
    any_value,
    attrs_of,
    end_span,
    judge_prompt,
    llm_span,
    request,
    sink_span_ids,
    span,
    trace_id,
)

# --------------------------------------------------------------------------------------------- builders


# -------------------------------------------------------------------------------------------- the tests


def test_overlong_session_id_rejects_only_that_span(service, sink, judge, client_for):
    svc = service(session={"settle_delay_s": 0.2, "max_id_length": 8})
    tid = trace_id()
    ok_a = llm_span(tid, "hello", "hi", **{"session.id": "short-1"})
    bad = llm_span(trace_id(), "secret", "never", **{"session.id": "much-too-long-session-id"})
    ok_b = span(trace_id(), "no-session")  # no id at all: accepted too
    response = client_for(svc.endpoint).export(request(ok_a, bad, ok_b))
    assert response.partial_success.rejected_spans == 1
    message = response.partial_success.error_message
    assert "8" in message and "limit" in message, message
    assert "session.id" in message

    sink.wait_for(lambda s: {ok_a.span_id, ok_b.span_id} <= sink_span_ids(s))
    # The accepted spans of that request went downstream in one export, without the rejected one.
    assert bad.span_id not in sink_span_ids(sink)
    forwarded = {s.span_id: s for _, _, s in sink.spans()}
    assert forwarded[ok_a.span_id] == ok_a and forwarded[ok_b.span_id] == ok_b


def test_overlong_session_id_on_the_resource_rejects_its_spans(service, sink, judge, client_for):
    svc = service(session={"settle_delay_s": 0.2, "max_id_length": 8})
    req = request(span(trace_id(), "a"), span(trace_id(), "b"))
    req.resource_spans[0].resource.attributes.append(KeyValue(key="session.id", value=any_value("x" * 9)))
    good = span(trace_id(), "c")
    req.resource_spans.append(ResourceSpans(resource=Resource(), scope_spans=[ScopeSpans(spans=[good])]))
    response = client_for(svc.endpoint).export(req)
    assert response.partial_success.rejected_spans == 2
    sink.wait_for(lambda s: good.span_id in sink_span_ids(s))
    assert len(sink.spans()) == 1


@pytest.mark.parametrize("empty_last", [True, False], ids=["empty-span-last", "empty-span-first"])
def test_spans_with_bad_trace_ids_are_rejected_not_an_error(service, sink, judge, client_for, empty_last):
    svc = service()
    good = span(trace_id(), "good")
    short = span(trace_id(), "short-trace-id")
    short.trace_id = b"\x01" * 8
    empty = Span()  # no trace id at all, encoded as zero bytes
    spans = [good, short, empty] if empty_last else [empty, short, good]
    response = client_for(svc.endpoint).export(request(*spans))
    assert response.partial_success.rejected_spans == 2
    assert "trace id" in response.partial_success.error_message
    sink.wait_for(lambda s: good.span_id in sink_span_ids(s))
    assert [s.name for _, _, s in sink.spans()] == ["good"]


def test_empty_span_before_another_resource_is_rejected(service, sink, judge, client_for):
    # The bytes after an empty span (the next ResourceSpans: tag 0x0A, length 16) must not be read
    # as that span's trace id.
    svc = service()
    good = span(trace_id(), "good")
    req = request(Span())
    req.resource_spans.append(ResourceSpans(schema_url="y" * 14))
    assert len(req.resource_spans[1].SerializeToString()) == 16
    req.resource_spans.append(request(good).resource_spans[0])
    response = client_for(svc.endpoint).export(req)
    assert response.partial_success.rejected_spans == 1
    sink.wait_for(lambda s: good.span_id in sink_span_ids(s))
    assert [s.name for _, _, s in sink.spans()] == ["good"]


def test_message_over_the_size_limit_is_resource_exhausted(service, sink, judge, client_for):
    # 0.01 MiB is 10485 bytes.
    svc = service(receiver={"grpc": {"endpoint": "127.0.0.1:0", "max_recv_msg_size_mib": 0.01}})
    client = client_for(svc.endpoint)
    big = span(trace_id(), "big", **{"input.value": "x" * 20_000})
    with pytest.raises(grpc.RpcError) as info:
        client.export(request(big))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    # The service keeps serving, on the same channel too.
    small = span(trace_id(), "small")
    assert client.export(request(small)) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: small.span_id in sink_span_ids(s))
    assert big.span_id not in sink_span_ids(sink)


def test_spans_without_session_id_forwarded_unchanged_and_never_judged(service, sink, judge, client_for):
    svc = service()
    client = client_for(svc.endpoint)
    tid = trace_id()
    root = span(tid, "root", **{"http.route": "/chat", "count": 3})
    child = llm_span(tid, "what time is it?", "noon", parent=root.span_id)
    # An end marker without a session id cannot end anything.
    marker = span(trace_id(), "session end", session_status="completed", **{"tag.tags": ["session_status:completed"]})
    plain = request(root, child, marker)
    assert client.export(plain) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: len(s.requests) >= 1)
    assert sink.requests[0] == plain  # the very same request, resource and scope included

    # A real session afterwards is the clock: once its verdict is out, the plain spans had every chance.
    time.sleep(0.4)  # past the settle delay the plain end marker would have used
    sid = "sess-after-plain"
    client.export(request(llm_span(trace_id(), "real question", "real answer", **{"session.id": sid}), end_span(sid)))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    time.sleep(0.3)
    assert len(sink.carriers()) == 1
    assert attrs_of(sink.carriers()[0][2])["session.id"] == sid
    assert len(judge.requests) == 1
    assert "what time is it?" not in judge_prompt(judge)


def test_gzip_compressed_requests_are_accepted(service, sink, judge, client_for):
    svc = service()
    client = client_for(svc.endpoint, compression=grpc.Compression.Gzip)
    sid = "sess-gzip"
    spans = [
        llm_span(trace_id(), "compress this question " * 50, "compressed answer", **{"session.id": sid}),
        end_span(sid),
    ]
    assert client.export(request(*spans), compression=grpc.Compression.Gzip) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    assert {s.span_id for s in spans} <= sink_span_ids(sink)
    assert "compressed answer" in judge_prompt(judge)


def test_children_before_the_root_join_the_session(service, sink, judge, client_for):
    svc = service()
    client = client_for(svc.endpoint)
    sid = "sess-root-last"
    tid = trace_id()
    root = span(tid, "chat_turn", **{"session.id": sid})
    llm = llm_span(tid, "children first question", "children first answer", parent=root.span_id)
    tool = span(tid, "lookup", parent=root.span_id, **{"openinference.span.kind": "TOOL", "tool.name": "lookup"})
    # Exported as a BatchSpanProcessor does: the children end first, the root with the id later.
    assert client.export(request(llm, tool)) == ExportTraceServiceResponse()
    assert client.export(request(root)) == ExportTraceServiceResponse()
    assert client.export(request(end_span(sid))) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    prompt = judge_prompt(judge)
    assert "children first question" in prompt and "children first answer" in prompt


def test_end_marker_inside_a_list_valued_tag_attribute(service, sink, judge, client_for):
    svc = service()
    client = client_for(svc.endpoint)
    sid = "sess-tags"
    turn = llm_span(trace_id(), "tagged question", "tagged answer", **{"session.id": sid})
    end = span(trace_id(), "session end", **{"session.id": sid, "tag.tags": ["x", "session_status:completed"]})
    client.export(request(turn))
    client.export(request(end))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    carrier = sink.carriers()[0][2]
    assert carrier.parent_span_id == end.span_id and carrier.trace_id == end.trace_id
    assert attrs_of(carrier)["session.id"] == sid
    assert "tagged answer" in judge_prompt(judge)


def test_tag_list_without_the_end_marker_does_not_end(service, sink, judge, client_for):
    svc = service()
    client = client_for(svc.endpoint)
    sid = "sess-tags-no-end"
    client.export(
        request(llm_span(trace_id(), "q", "a", **{"session.id": sid, "tag.tags": ["x", "session_status:open"]}))
    )
    # A second session that does end is the clock for the first.
    time.sleep(0.4)
    other = "sess-tags-end"
    client.export(request(llm_span(trace_id(), "q2", "a2", **{"session.id": other}), end_span(other)))
    sink.wait_for(lambda s: len(s.carriers()) == 1)
    time.sleep(0.3)
    assert [attrs_of(c[2])["session.id"] for c in sink.carriers()] == [other]


def _wrong_type_with_bad_utf8() -> bytes:
    # A valid Span whose trace_id bytes happen to be a ResourceSpans with a schema_url (a string
    # field) of invalid UTF-8: as an ExportTraceServiceRequest, field 1 holds exactly that.
    raw = Span(trace_id=b"\x1a\x02\xff\xfe").SerializeToString()
    Span.FromString(raw)  # a valid message of its own type
    return raw


def _random_bytes() -> bytes:
    return random.Random(1234).randbytes(512)


@pytest.mark.parametrize(
    "make_payload, why",
    [(_random_bytes, "at byte "), (_wrong_type_with_bad_utf8, "not UTF-8 (at byte 4, in ResourceSpans.schema_url)")],
    ids=["random", "bad-utf8"],
)
def test_undecodable_request_is_invalid_argument(service, sink, judge, client_for, make_payload, why):
    payload = make_payload()
    with pytest.raises(DecodeError):
        ExportTraceServiceRequest.FromString(payload)  # the precondition: it really is undecodable
    svc = service()
    client = client_for(svc.endpoint)
    with pytest.raises(grpc.RpcError) as info:
        client.export(payload)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details().startswith("not an ExportTraceServiceRequest: ") and why in info.value.details()
    # The service keeps serving on the same channel.
    after = span(trace_id(), "after")
    assert client.export(request(after)) == ExportTraceServiceResponse()
    sink.wait_for(lambda s: after.span_id in sink_span_ids(s))
    assert len(sink.spans()) == 1


def test_redis_unreachable_is_unavailable_with_retry_info(service, sink, judge, client_for):
    private = EmbeddedRedis(port=free_port())
    url = private.start()
    try:
        svc = service(redis={"url": url})
        client = client_for(svc.endpoint)
        warmup = span(trace_id(), "warmup")
        assert client.export(request(warmup)) == ExportTraceServiceResponse()
        sink.wait_for(lambda s: warmup.span_id in sink_span_ids(s))
    finally:
        private.stop()

    lost = llm_span(trace_id(), "q", "a", **{"session.id": "sess-no-redis"})
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        client.export(request(lost))
    assert time.monotonic() - started < 10
    err = info.value
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    trailers = dict(err.trailing_metadata())

    assert "google.rpc.retryinfo-bin" in trailers
    retry = error_details_pb2.RetryInfo.FromString(trailers["google.rpc.retryinfo-bin"])
    assert retry.retry_delay.seconds > 0 or retry.retry_delay.nanos > 0

    assert "grpc-status-details-bin" in trailers
    rich = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
    assert rich.code == code_pb2.UNAVAILABLE
    infos = []
    for detail in rich.details:
        if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            info_msg = error_details_pb2.RetryInfo()
            detail.Unpack(info_msg)
            infos.append(info_msg)
    assert infos == [retry]

    # Refused means not acknowledged, so not forwarded either.
    time.sleep(0.5)
    assert lost.span_id not in sink_span_ids(sink)
    assert sink_span_ids(sink) == {warmup.span_id}


def test_service_recovers_when_redis_comes_back(service, sink, judge, client_for):
    port = free_port()
    first = EmbeddedRedis(port=port)
    url = first.start()
    second = None
    try:
        svc = service(redis={"url": url})
        client = client_for(svc.endpoint)
        first.stop()
        with pytest.raises(grpc.RpcError) as info:
            client.export(request(span(trace_id(), "while-down")))
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE

        # A fresh, empty redis-server on the same address: no data, no loaded scripts.
        second = EmbeddedRedis(port=port)
        second.start()
        sid = "sess-redis-back"
        turn = llm_span(trace_id(), "after the outage", "answered", **{"session.id": sid})
        deadline = time.monotonic() + 10
        while True:
            try:
                client.export(request(turn, end_span(sid)))
                break
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.UNAVAILABLE
                assert time.monotonic() < deadline, "never accepted again after Redis came back"
                time.sleep(0.2)
        sink.wait_for(lambda s: len(s.carriers()) == 1, timeout_s=10)
        assert "after the outage" in judge_prompt(judge)
    finally:
        first.stop()
        if second is not None:
            second.stop()
