"""OTLP/gRPC receiver: TraceService/Export. A request is acknowledged only once its spans are buffered
in Redis and queued for forwarding, so an acknowledgement means nothing is lost.

Status codes follow the OTLP spec: INVALID_ARGUMENT for an undecodable request (not retryable),
RESOURCE_EXHAUSTED from gRPC itself for a message over the size limit, UNAVAILABLE with RetryInfo when
Redis or the downstream queue cannot take more (retryable), partial_success for individual bad spans.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

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
from redis.exceptions import RedisError

from collector_eval.config import GrpcReceiverConfig
from collector_eval.forwarder import Forwarder
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.router import SessionRouter

log = logging.getLogger("collector_eval.receiver")

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
RETRY_AFTER_S = 1


@dataclass
class ReceiverStats:
    requests: int = 0
    spans: int = 0
    rejected_spans: int = 0
    refused_unavailable: int = 0
    refused_invalid: int = 0


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
    def __init__(self, router: SessionRouter, buffer: SessionBuffer, forwarder: Forwarder):
        self._router = router
        self._buffer = buffer
        self._forwarder = forwarder
        self.stats = ReceiverStats()

    async def export(self, raw: bytes, context: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        self.stats.requests += 1
        try:
            request = ExportTraceServiceRequest.FromString(raw)
        except DecodeError as exc:
            self.stats.refused_invalid += 1
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"not an ExportTraceServiceRequest: {exc}")
        routed = self._router.route(request, raw)
        if not self._forwarder.try_reserve():
            self.stats.refused_unavailable += 1
            await context.abort_with_status(_unavailable("downstream queue is full; retry later"))
        try:
            await self._buffer.store(routed)
        except RedisError as exc:
            self._forwarder.release()
            self.stats.refused_unavailable += 1
            log.warning("redis unavailable, refusing export: %s", exc)
            await context.abort_with_status(_unavailable(f"session buffer unavailable: {type(exc).__name__}"))
        except BaseException:
            self._forwarder.release()
            raise
        rejected = routed.rejected
        if rejected.count:
            # Rejected spans are not accepted, so they are not forwarded either.
            self._forwarder.submit_reserved(_without_rejected(routed))
        else:
            self._forwarder.submit_reserved(raw)
        accepted = sum(c.span_count for c in routed.chunks.values())
        self.stats.spans += accepted
        self.stats.rejected_spans += rejected.count
        if rejected.count:
            return ExportTraceServiceResponse(
                partial_success=ExportTracePartialSuccess(rejected_spans=rejected.count, error_message=rejected.message)
            )
        return ExportTraceServiceResponse()

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


async def start_grpc_server(
    cfg: GrpcReceiverConfig, handlers: list[grpc.GenericRpcHandler], share_port: bool = False
) -> tuple[grpc.aio.Server, int]:
    max_bytes = int(cfg.max_recv_msg_size_mib * 1024 * 1024)
    server = grpc.aio.server(
        # SO_REUSEPORT only among our own processes: otherwise a second service on a taken port must
        # fail loudly, not share it by accident.
        options=[("grpc.max_receive_message_length", max_bytes), ("grpc.so_reuseport", int(share_port))],
    )
    server.add_generic_rpc_handlers(handlers)
    try:
        port = server.add_insecure_port(cfg.endpoint)
    except RuntimeError as exc:  # grpc's bind failure: a taken port, an address not on this host
        raise OSError(f"receiver.grpc.endpoint: cannot listen on {cfg.endpoint} ({exc})") from None
    await server.start()
    return server, port
