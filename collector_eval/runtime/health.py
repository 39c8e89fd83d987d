"""Health: the checks behind /readyz, and grpc.health.v1 on the ingest gRPC server.

Ready means the service can acknowledge spans and deliver them: Redis answers PING (nothing is
acknowledged without it) and the downstream, when there is one, accepts a TCP connection. The gRPC
Health service reports SERVING while Redis answers, re-checked every HEALTH_INTERVAL_S.
"""

from __future__ import annotations

import asyncio
import logging

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from collector_eval.otlp.signals import SPECS, Signal
from collector_eval.store.client import REDIS_ERRORS, Client

log = logging.getLogger(__name__)

# Often enough that a probe sees a Redis outage within seconds; one PING a second costs Redis nothing.
HEALTH_INTERVAL_S = 1.0
CHECK_TIMEOUT_S = 2.0


async def check_redis(client: Client) -> str | None:
    """None when Redis answers PING, else why not."""
    try:
        await asyncio.wait_for(client.ping(), CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"no answer to PING within {CHECK_TIMEOUT_S:g}s"
    except (*REDIS_ERRORS, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def check_downstream(endpoint: str) -> str | None:
    """None when endpoint ("host:port") accepts a TCP connection, else why not."""
    host, _, port = endpoint.rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), CHECK_TIMEOUT_S)
    except TimeoutError:
        return f"no connection to {endpoint} within {CHECK_TIMEOUT_S:g}s"
    except OSError as exc:
        return f"cannot connect to {endpoint}: {exc.strerror or exc}"
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass  # the check is done; how the probe connection ended does not matter
    return None


async def readiness(client: Client, downstream: str) -> tuple[bool, dict[str, str]]:
    """(ready, check -> "ok" or the reason); downstream empty: none configured, not checked."""
    checks = {"redis": check_redis(client)}
    if downstream:
        checks["downstream"] = check_downstream(downstream)
    errors = dict(zip(checks, await asyncio.gather(*checks.values())))
    return all(e is None for e in errors.values()), {k: e or "ok" for k, e in errors.items()}


class _HandlerSink:
    """Stands in for a grpc server in a generated add_*Servicer_to_server call and keeps its handlers,
    so the servicer can go on a server that start_grpc_server builds with its other handlers."""

    def __init__(self) -> None:
        self.handlers: list[grpc.GenericRpcHandler] = []

    def add_generic_rpc_handlers(self, handlers) -> None:
        self.handlers.extend(handlers)

    def add_registered_method_handlers(self, service: str, handlers) -> None:
        pass  # the generic handler serves the same methods


class GrpcHealth:
    def __init__(self, client: Client):
        self._redis = client
        self.servicer = health.aio.HealthServicer()

    def handlers(self) -> list[grpc.GenericRpcHandler]:
        sink = _HandlerSink()
        health_pb2_grpc.add_HealthServicer_to_server(self.servicer, sink)
        return sink.handlers

    async def update(self) -> bool:
        error = await check_redis(self._redis)
        status = health_pb2.HealthCheckResponse.SERVING if error is None else health_pb2.HealthCheckResponse.NOT_SERVING
        # "" is the server as a whole, what a probe without a service name asks about. Metrics are
        # only forwarded: they do not need Redis.
        for service in ("", SPECS[Signal.TRACES].service, SPECS[Signal.LOGS].service):
            await self.servicer.set(service, status)
        await self.servicer.set(SPECS[Signal.METRICS].service, health_pb2.HealthCheckResponse.SERVING)
        return error is None

    async def run(self) -> None:
        serving = True
        while True:
            ok = await self.update()
            if ok != serving:
                log.warning(
                    "gRPC health: %s", "SERVING (Redis answers again)" if ok else "NOT_SERVING (Redis does not answer)"
                )
                serving = ok
            await asyncio.sleep(HEALTH_INTERVAL_S)

    async def shutdown(self) -> None:
        await self.servicer.enter_graceful_shutdown()
