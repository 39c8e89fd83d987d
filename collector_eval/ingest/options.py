"""Options of the receivers (receiver.*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from collector_eval.config.checks import ConfigError, check_endpoint, check_positive
from collector_eval.net.options import GrpcAuthConfig, GrpcTlsConfig


@dataclass
class GrpcReceiverConfig:
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: float = 16
    auth: GrpcAuthConfig = field(default_factory=GrpcAuthConfig)
    tls: GrpcTlsConfig = field(default_factory=GrpcTlsConfig)

    def validate(self, path: str) -> None:
        check_endpoint(self.endpoint, f"{path}.endpoint")
        check_positive(self.max_recv_msg_size_mib, f"{path}.max_recv_msg_size_mib")
        self.auth.validate(f"{path}.auth")
        self.tls.validate(f"{path}.tls")


@dataclass
class HttpReceiverConfig:
    # OTLP/HTTP (POST /v1/traces); empty: off. Auth and TLS are receiver.grpc's.
    endpoint: str = "127.0.0.1:4318"
    # Largest request body accepted, after gzip decompression, in MiB; larger ones get 413.
    max_request_size_mib: float = 16

    def validate(self, path: str) -> None:
        if self.endpoint:
            check_endpoint(self.endpoint, f"{path}.endpoint")
        check_positive(self.max_request_size_mib, f"{path}.max_request_size_mib")


class Acknowledge(StrEnum):
    """When an Export is acknowledged (receiver.acknowledge)."""

    QUEUED = "queued"
    FORWARDED = "forwarded"


@dataclass
class ReceiverConfig:
    grpc: GrpcReceiverConfig = field(default_factory=GrpcReceiverConfig)
    http: HttpReceiverConfig = field(default_factory=HttpReceiverConfig)
    # When an Export is acknowledged: "queued", once its spans are buffered in Redis and queued for
    # the downstream (what the queue holds is lost if the process dies); "forwarded", once every
    # downstream has taken them too (one attempt each; the sender retries what was not taken).
    acknowledge: str = "queued"

    def validate(self, path: str) -> None:
        self.grpc.validate(f"{path}.grpc")
        self.http.validate(f"{path}.http")
        if self.acknowledge not in tuple(Acknowledge):
            raise ConfigError(f"{path}.acknowledge: {self.acknowledge!r} is not one of {', '.join(Acknowledge)}")
