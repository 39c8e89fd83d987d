"""A real OTLP/HTTP downstream for tests."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)


class HttpSink:
    """A real OTLP/HTTP receiver: POST /v1/traces, /v1/logs and /v1/metrics, protobuf bodies, gzip
    or not; it can answer 503 with Retry-After a given number of times first."""

    def __init__(self, refuse_first: int = 0):
        self.requests: list[ExportTraceServiceRequest] = []
        self.logs_requests: list[ExportLogsServiceRequest] = []
        self.metrics_requests: list[ExportMetricsServiceRequest] = []
        self.headers: list[dict] = []
        self.refused = 0
        self._refuse_first = refuse_first
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.refused < self._refuse_first:
            self.refused += 1
            return web.Response(status=503, headers={"Retry-After": "0"})
        # aiohttp has already undone Content-Encoding: gzip by the time the body is read.
        self.headers.append(dict(request.headers))
        if request.path == "/v1/logs":
            self.logs_requests.append(ExportLogsServiceRequest.FromString(body))
        elif request.path == "/v1/metrics":
            self.metrics_requests.append(ExportMetricsServiceRequest.FromString(body))
        else:
            self.requests.append(ExportTraceServiceRequest.FromString(body))
        return web.Response(body=b"", content_type="application/x-protobuf")

    def start(self) -> HttpSink:
        self._thread.start()

        async def serve():
            app = web.Application()
            for path in ("/v1/traces", "/v1/logs", "/v1/metrics"):
                app.router.add_post(path, self._handle)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            return site._server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        self.url = f"http://127.0.0.1:{self.port}/v1/traces"
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def spans(self) -> list:
        return [s for r in list(self.requests) for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
