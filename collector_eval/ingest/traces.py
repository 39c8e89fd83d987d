"""OTLP/gRPC receiver: TraceService/Export. A request is acknowledged only once its spans are buffered
in Redis and queued for forwarding, so an acknowledgement means nothing is lost.

Status codes follow the OTLP spec: INVALID_ARGUMENT for an undecodable request (not retryable),
RESOURCE_EXHAUSTED from gRPC itself for a message over the size limit, UNAVAILABLE with RetryInfo when
Redis or the downstream queue cannot take more (retryable), partial_success for individual bad spans.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import DecodeError
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from collector_eval.ingest.forwarder import Forwarder
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.router import SessionRouter
from collector_eval.store.client import REDIS_ERRORS

log = logging.getLogger(__name__)

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
RETRY_AFTER_S = 1


@dataclass
class ReceiverStats:
    """Plain counters, read by the metrics collector at scrape time (the receiver needs no metrics library)."""

    requests: int = 0
    spans: int = 0  # accepted: buffered and queued for forwarding
    rejected_spans: int = 0  # refused one by one (partial_success)
    sessions: int = 0  # sessions that received spans, counted once per request
    refused_unavailable: int = 0  # requests
    refused_unavailable_spans: int = 0  # the spans of those requests
    refused_invalid: int = 0
    # Counted by the OTLP/HTTP receiver only: gRPC refuses these before the receiver sees the request.
    refused_too_large: int = 0
    refused_unauthenticated: int = 0
    redis_errors: int = 0


class Refusal(StrEnum):
    INVALID = "invalid"  # undecodable: the sender must not retry
    UNAVAILABLE = "unavailable"  # Redis or the downstream cannot take more: retry later


class Refused(Exception):
    """A request that is not acknowledged: `reason` is invalid (do not retry) or unavailable (retry later)."""

    def __init__(self, reason: Refusal, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message


class _Status(grpc.Status):
    def __init__(self, code: grpc.StatusCode, details: str, trailing_metadata):
        self.code = code
        self.details = details
        self.trailing_metadata = trailing_metadata


def _unavailable(message: str) -> _Status:
    """UNAVAILABLE with RetryInfo both in the rich status and as the bare trailer some clients read."""
    info = error_details_pb2.RetryInfo(retry_delay=Duration(seconds=RETRY_AFTER_S))
    detail = AnyProto()
    detail.Pack(info)
    rich = status_pb2.Status(code=code_pb2.UNAVAILABLE, message=message, details=[detail])
    return _Status(
        grpc.StatusCode.UNAVAILABLE,
        message,
        (("grpc-status-details-bin", rich.SerializeToString()), ("google.rpc.retryinfo-bin", info.SerializeToString())),
    )


class TraceReceiver:
    def __init__(
        self,
        router: SessionRouter,
        buffer: SessionBuffer,
        forwarder: Forwarder,
        on_scheduled: Callable[[], None] = lambda: None,
    ):
        self._router = router
        self._buffer = buffer
        self._forwarder = forwarder
        self._on_scheduled = on_scheduled  # a session was scheduled for judging
        self.stats = ReceiverStats()

    async def ingest(self, raw: bytes, request: ExportTraceServiceRequest | None = None) -> ExportTraceServiceResponse:
        """Route, buffer and queue one request (raw: its protobuf bytes; request: raw decoded, when the
        caller has it already). Returns once the spans are buffered and queued, so every protocol
        acknowledges on the same terms; raises Refused when the request is not acknowledged."""
        self.stats.requests += 1
        if request is None:
            try:
                request = ExportTraceServiceRequest.FromString(raw)
            except DecodeError as exc:
                self.stats.refused_invalid += 1
                raise Refused(Refusal.INVALID, f"not an ExportTraceServiceRequest: {exc}") from None
        try:
            routed = self._router.route(request, raw)
        except ValueError as exc:  # bytes protobuf tolerates but the span slicer cannot follow
            self.stats.refused_invalid += 1
            raise Refused(Refusal.INVALID, f"cannot split the request into spans: {exc}") from None
        if not self._forwarder.try_reserve():
            self._refuse_unavailable(routed)
            raise Refused(Refusal.UNAVAILABLE, "downstream queue is full; retry later")
        try:
            if await self._buffer.store(routed):
                self._on_scheduled()
        except REDIS_ERRORS as exc:
            self._forwarder.release()
            self.stats.redis_errors += 1
            self._refuse_unavailable(routed)
            log.warning("redis unavailable, refusing export: %s", exc)
            raise Refused(Refusal.UNAVAILABLE, f"session buffer unavailable: {type(exc).__name__}") from None
        except BaseException:
            self._forwarder.release()
            raise
        rejected = routed.rejected
        accepted = sum(c.span_count for c in routed.chunks.values())
        # Rejected spans are not accepted, so they are not forwarded either.
        confirmed = self._forwarder.submit_reserved(_without_rejected(routed) if rejected.count else raw, accepted)
        if confirmed is not None and not await confirmed:
            # Buffered already: the retry buffers its spans again, and a session loads each span once.
            self._refuse_unavailable(routed)
            raise Refused(Refusal.UNAVAILABLE, "the downstream did not take the spans; retry later")
        self.stats.spans += accepted
        self.stats.rejected_spans += rejected.count
        self.stats.sessions += len({c.session for c in routed.chunks.values() if c.session is not None})
        if rejected.count:
            return ExportTraceServiceResponse(
                partial_success=ExportTracePartialSuccess(rejected_spans=rejected.count, error_message=rejected.message)
            )
        return ExportTraceServiceResponse()

    def _refuse_unavailable(self, routed) -> None:
        self.stats.refused_unavailable += 1
        self.stats.refused_unavailable_spans += routed.rejected.count + sum(
            c.span_count for c in routed.chunks.values()
        )

    async def export(self, raw: bytes, context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        try:
            return await self.ingest(raw)
        except Refused as refused:
            if refused.reason == Refusal.INVALID:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refused.message)
            await context.abort_with_status(_unavailable(refused.message))
            raise AssertionError("unreachable: abort_with_status raises") from None  # grpc has no annotations

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self.export,
                    request_deserializer=None,  # keep the bytes: they are forwarded as they came
                    response_serializer=ExportTraceServiceResponse.SerializeToString,
                )
            },
        )


def _without_rejected(routed) -> bytes:
    # TracesData and ExportTraceServiceRequest share their wire layout: chunks concatenate into a request.
    return b"".join(chunk.payload() for chunk in routed.chunks.values())
