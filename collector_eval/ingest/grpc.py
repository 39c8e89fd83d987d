"""OTLP/gRPC: each signal's Export method on the ingest server, answering a receiver's refusals with
the status codes of the OTLP spec: INVALID_ARGUMENT for an undecodable request (not retryable),
UNAVAILABLE with RetryInfo when Redis or the downstream queue cannot take more (retryable).
RESOURCE_EXHAUSTED for a message over the size limit comes from gRPC itself."""

from __future__ import annotations

import grpc
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.duration_pb2 import Duration
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2

from collector_eval.ingest.receiver import RETRY_AFTER_S, Refusal, Refused, SignalReceiver, log_refused


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


def grpc_handler(receiver: SignalReceiver) -> grpc.GenericRpcHandler:
    """The receiver's signal service, its Export method taking the request's bytes undecoded: they
    are forwarded as they came."""

    async def export(raw: bytes, context: grpc.aio.ServicerContext) -> Message:
        try:
            response = await receiver.ingest(raw)
        except Refused as refused:
            if refused.reason == Refusal.INVALID:
                log_refused("OTLP/gRPC", receiver.signal, context.peer(), "INVALID_ARGUMENT", refused.message)
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, refused.message)
            await context.abort_with_status(_unavailable(refused.message))
            raise AssertionError("unreachable: abort_with_status raises") from None  # grpc has no annotations
        rejected, why = receiver.spec.rejected(response)
        if rejected:
            log_refused(
                "OTLP/gRPC", receiver.signal, context.peer(), "OK with partial_success", f"{rejected} refused: {why}"
            )
        return response

    return grpc.method_handlers_generic_handler(
        receiver.spec.service,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=None,
                response_serializer=receiver.spec.response.SerializeToString,
            )
        },
    )
