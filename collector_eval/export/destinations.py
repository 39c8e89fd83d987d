"""The factory for where forwarded telemetry and verdicts go: one client per configured exporter,
each carrying all three signals."""

from __future__ import annotations

import asyncio
import math
from typing import Protocol

from collector_eval.export.file import FileExporter
from collector_eval.export.options import DestinationConfig, ExportersConfig
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


def build_destinations(cfg: DestinationConfig) -> list[Destination]:
    """Fresh clients for every configured exporter, of the default set or of a named one (the console
    prints verdicts only, so it is not one of them)."""
    destinations: list[Destination] = []
    if cfg.otlp.endpoint:
        destinations.append(OtlpGrpcClient(cfg.otlp))
    if cfg.otlp_http.endpoint:
        destinations.append(OtlpHttpClient(cfg.otlp_http))
    if cfg.file.path:
        destinations.append(FileExporter(cfg.file.path))
    return destinations


class Routes:
    """The default exporters and the named ones (exporters.named), for what goes to either: held
    spans a keep rule routed, and their sessions' verdicts."""

    def __init__(self, default: list[Destination], named: dict[str, list[Destination]] | None = None):
        self.default = default
        self.named = named or {}

    @classmethod
    def build(cls, cfg: ExportersConfig) -> Routes:
        """Fresh clients for every configured exporter, default and named."""
        return cls(build_destinations(cfg), {name: build_destinations(named) for name, named in cfg.named.items()})

    def of(self, names: tuple[str, ...]) -> list[Destination]:
        """The named exporters' clients (a name no longer configured: none); no names: the default ones."""
        return [d for name in names for d in self.named.get(name, ())] if names else self.default

    async def send(self, names: tuple[str, ...], payload: bytes, signal: Signal = Signal.TRACES) -> bool:
        """Send to the named exporters (none: the default ones), retried for as long as they are
        unavailable; False once one refused it outright."""
        sent = await asyncio.gather(*(d.send(payload, signal, max_elapsed_s=math.inf) for d in self.of(names)))
        return all(sent)

    async def close(self) -> None:
        for destination in [*self.default, *(d for group in self.named.values() for d in group)]:
            await destination.close()
