"""OTLP/gRPC exporter client: sends serialized Export requests of any signal as they are (no
re-serialisation), retrying what the OTLP spec calls retryable with backoff, honouring RetryInfo."""

from __future__ import annotations

import logging

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from collector_eval.export.delivery import DELIVERED, Exporter, Outcome
from collector_eval.export.options import OtlpExporterConfig
from collector_eval.net.tls import channel_credentials
from collector_eval.otlp.signals import SPECS, Signal

log = logging.getLogger(__name__)

# Per the OTLP spec; RESOURCE_EXHAUSTED only when the server says when to retry.
RETRYABLE = {
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


class OtlpGrpcClient(Exporter):
    def __init__(self, cfg: OtlpExporterConfig):
        super().__init__(f"downstream {cfg.endpoint}", cfg.max_elapsed_s)
        self._cfg = cfg
        options = [
            ("grpc.max_send_message_length", -1),
            ("grpc.max_receive_message_length", 16 << 20),
            # gRPC's default reconnect backoff grows to two minutes: a downstream back from an outage
            # would wait that long for the queued requests.
            ("grpc.initial_reconnect_backoff_ms", 250),
            ("grpc.max_reconnect_backoff_ms", 5000),
        ]
        compression = grpc.Compression.Gzip if cfg.compression == "gzip" else grpc.Compression.NoCompression
        if cfg.insecure:
            self._channel = grpc.aio.insecure_channel(cfg.endpoint, options=options, compression=compression)
        else:
            credentials = channel_credentials(cfg.ca_file, "exporters.otlp.ca_file")
            self._channel = grpc.aio.secure_channel(cfg.endpoint, credentials, options=options, compression=compression)
        self._exports = {
            signal: self._channel.unary_unary(
                spec.export_method,
                request_serializer=None,  # payloads are already serialized bytes
                response_deserializer=spec.response.FromString,
            )
            for signal, spec in SPECS.items()
        }
        self._metadata = tuple((k.lower(), v) for k, v in cfg.headers.items())

    async def _attempt(self, payload: bytes, signal: Signal) -> Outcome:
        try:
            response = await self._exports[signal](payload, timeout=self._cfg.timeout_s, metadata=self._metadata)
        except grpc.aio.AioRpcError as err:
            delay = _retry_delay(err)
            reason = f"{err.code().name}: {err.details()}"
            return Outcome(retry=delay is not None or err.code() in RETRYABLE, delay_s=delay, reason=reason)
        rejected, message = SPECS[signal].rejected(response)
        if rejected:
            log.warning("downstream %s rejected %d %s: %s", self._cfg.endpoint, rejected, SPECS[signal].items, message)
        return DELIVERED

    async def close(self) -> None:
        await self._channel.close()


def _retry_delay(err: grpc.aio.AioRpcError) -> float | None:
    """The server's RetryInfo delay, if it sent one (rich status details or the bare trailer)."""
    try:
        status = rpc_status.from_call(err)
    except ValueError:
        status = None
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                return info.retry_delay.ToTimedelta().total_seconds()
    for key, value in err.trailing_metadata() or ():
        if key == "google.rpc.retryinfo-bin":
            return error_details_pb2.RetryInfo.FromString(value).retry_delay.ToTimedelta().total_seconds()
    return None
