"""Starts an aiohttp application on a host:port endpoint, on the running event loop: the one place the
service's HTTP servers (OTLP/HTTP receiver, telemetry) bind, so both fail the same clear way."""

from __future__ import annotations

import ssl

from aiohttp import web


async def start_site(
    app: web.Application,
    endpoint: str,
    key: str,
    *,
    share_port: bool = False,
    ssl_context: ssl.SSLContext | None = None,
    auto_decompress: bool = True,
) -> tuple[web.AppRunner, int]:
    """Serve app on endpoint ("host:port"; port 0: any free port); returns the runner and the bound
    port. key is the config key named in the error when the address cannot be bound."""
    host, _, port = endpoint.rpartition(":")
    # access_log off: one log line per Export request would drown every other record.
    runner = web.AppRunner(app, access_log=None, auto_decompress=auto_decompress, shutdown_timeout=2)
    await runner.setup()
    # reuse_port only among our own processes, as for gRPC: a stranger on the port must fail loudly.
    site = web.TCPSite(runner, host.strip("[]"), int(port), ssl_context=ssl_context, reuse_port=share_port or None)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise OSError(f"{key}: cannot listen on {endpoint} ({exc.strerror or exc})") from None
    return runner, runner.addresses[0][1]
