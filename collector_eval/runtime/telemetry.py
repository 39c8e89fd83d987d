"""The service watched from outside: Prometheus `/metrics`, `/healthz` (alive) and `/readyz` (Redis and
the downstream reachable) on telemetry.metrics_endpoint, and grpc.health.v1 for the ingest server.

Plain HTTP without authentication, as Prometheus scrapes and kubelet probes expect; the default
endpoint is on 127.0.0.1, so only what runs beside the service (or in its pod) reaches it.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from collector_eval.aio import cancel_all
from collector_eval.net.http_server import start_site
from collector_eval.runtime.config import Config
from collector_eval.runtime.health import GrpcHealth, readiness
from collector_eval.runtime.metrics import Metrics, Watched
from collector_eval.sessions.keys import Keys
from collector_eval.store.client import Client


class Telemetry:
    def __init__(self, cfg: Config, service: Watched, client: Client, keys: Keys):
        self._cfg = cfg
        self._service = service
        self._redis = client
        self._keys = keys
        self.metrics = Metrics()
        self.metrics.watch(service)
        self.grpc_health = GrpcHealth(client)
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        # The first verdict before the loop, so a probe never sees the servicer's SERVING-by-default.
        await self.grpc_health.update()
        self._task = asyncio.create_task(self.grpc_health.run())
        if self._cfg.telemetry.metrics_endpoint:
            self._runner, self.port = await start_site(
                self._app(), self._cfg.telemetry.metrics_endpoint, "telemetry.metrics_endpoint"
            )

    async def stop(self) -> None:
        await self.grpc_health.shutdown()  # NOT_SERVING from here on: the service is going away
        if self._task is not None:
            await cancel_all([self._task])
        if self._runner is not None:
            await self._runner.cleanup()

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        backends = [p.backend.name for p in self._service.backend_publishers]
        await self.metrics.refresh(self._redis, self._keys, backends)
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, checks = await readiness(self._redis, self._cfg.exporters.otlp.endpoint)
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return web.json_response(body, status=200 if ready else 503)
