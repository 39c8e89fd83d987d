"""The forwarder's OTLP/gRPC exporter against a real downstream that refuses, then accepts."""

from __future__ import annotations

import asyncio
import time

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)

from collector_eval.export.options import OtlpExporterConfig
from collector_eval.export.otlp_grpc import OtlpGrpcClient
from collector_eval.ingest.forwarder import Forwarder
from collector_eval.otlp.signals import Signal


def request_bytes(name: str) -> bytes:
    req = ExportTraceServiceRequest()
    req.resource_spans.add().scope_spans.add().spans.add(trace_id=b"t" * 16, span_id=b"s" * 8, name=name)
    return req.SerializeToString()


def test_unavailable_is_retried_honouring_retry_info(sink):
    sink.failures = [(grpc.StatusCode.UNAVAILABLE, 0.3), (grpc.StatusCode.UNAVAILABLE, None)]

    async def run():
        client = OtlpGrpcClient(OtlpExporterConfig(endpoint=sink.endpoint, max_elapsed_s=10))
        start = time.monotonic()
        ok = await client.send(request_bytes("a"))
        await client.close()
        return ok, time.monotonic() - start

    ok, elapsed = asyncio.run(run())
    assert ok
    assert sink.refused == 2
    assert [s.name for _, _, s in sink.spans()] == ["a"]
    assert elapsed >= 0.3  # waited as long as the downstream asked


def test_resource_exhausted_with_retry_info_is_retried(sink):
    sink.failures = [(grpc.StatusCode.RESOURCE_EXHAUSTED, 0.05)]

    async def run():
        client = OtlpGrpcClient(OtlpExporterConfig(endpoint=sink.endpoint))
        ok = await client.send(request_bytes("b"))
        await client.close()
        return ok

    assert asyncio.run(run())
    assert [s.name for _, _, s in sink.spans()] == ["b"]


def test_permanent_error_is_dropped_and_counted(sink):
    sink.failures = [(grpc.StatusCode.INVALID_ARGUMENT, None)]

    async def run():
        client = OtlpGrpcClient(OtlpExporterConfig(endpoint=sink.endpoint))
        ok = await client.send(request_bytes("c"))
        await client.close()
        return ok, client.dropped

    ok, dropped = asyncio.run(run())
    assert not ok and dropped == 1
    assert sink.spans() == []


def test_forwarder_delivers_in_the_background_and_refuses_when_full(sink):
    sink.failures = [(grpc.StatusCode.UNAVAILABLE, 0.2)]

    async def run():
        forwarder = Forwarder([OtlpGrpcClient(OtlpExporterConfig(endpoint=sink.endpoint))], capacity=2, senders=1)
        forwarder.start()
        assert forwarder.try_reserve() and forwarder.try_reserve()
        assert not forwarder.try_reserve()  # full: a receiver answers UNAVAILABLE
        forwarder.submit_reserved(request_bytes("d"), 1, Signal.TRACES)
        forwarder.release()  # a receiver that could not buffer its request gives its slot back
        assert forwarder.try_reserve()
        forwarder.submit_reserved(request_bytes("e"), 1, Signal.TRACES)
        await forwarder.stop(drain_timeout_s=10)

    asyncio.run(run())
    assert sorted(s.name for _, _, s in sink.spans()) == ["d", "e"]
