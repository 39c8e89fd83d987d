"""The factory for where forwarded telemetry and verdicts go: one client per configured exporter,
each carrying all three signals."""

from __future__ import annotations

from typing import Protocol

from collector_eval.export.file import FileExporter
from collector_eval.export.options import ExportersConfig
from collector_eval.export.otlp_grpc import OtlpGrpcClient
from collector_eval.export.otlp_http import OtlpHttpClient
from collector_eval.otlp.signals import Signal


class Destination(Protocol):
    sent: int
    dropped: int

    async def send(
        self, payload: bytes, signal: Signal = Signal.TRACES, max_elapsed_s: float | None = None
    ) -> bool: ...

    async def send_once(self, payload: bytes, signal: Signal = Signal.TRACES) -> bool: ...

    async def close(self) -> None: ...


def build_destinations(cfg: ExportersConfig) -> list[Destination]:
    """Fresh clients for every configured exporter (the console prints verdicts only, so it is not
    one of them)."""
    destinations: list[Destination] = []
    if cfg.otlp.endpoint:
        destinations.append(OtlpGrpcClient(cfg.otlp))
    if cfg.otlp_http.endpoint:
        destinations.append(OtlpHttpClient(cfg.otlp_http))
    if cfg.file.path:
        destinations.append(FileExporter(cfg.file.path))
    return destinations
