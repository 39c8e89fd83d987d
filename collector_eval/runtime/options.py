"""Options of the service's own endpoints (telemetry.*, control.*)."""

from __future__ import annotations

from dataclasses import dataclass

from collector_eval.config.checks import check_endpoint


@dataclass
class TelemetryConfig:
    # Prometheus /metrics, /healthz and /readyz over plain HTTP; empty: off.
    metrics_endpoint: str = "127.0.0.1:8888"

    def validate(self, path: str) -> None:
        if self.metrics_endpoint:
            check_endpoint(self.metrics_endpoint, f"{path}.metrics_endpoint")


@dataclass
class ControlConfig:
    # The gRPC control API (collector-eval sessions ...); empty: off. It takes receiver.grpc's bearer
    # tokens and TLS, on its own port so that the ingest port can be exposed without it.
    endpoint: str = "127.0.0.1:4320"

    def validate(self, path: str) -> None:
        if self.endpoint:
            check_endpoint(self.endpoint, f"{path}.endpoint")
