"""Starts an aiohttp application on a host:port endpoint, on the running event loop: the one place the
service's HTTP servers (OTLP/HTTP receiver, telemetry) bind, so both fail the same clear way."""

from __future__ import annotations

import logging
import ssl

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError


class _OneLineForBadHttp(logging.Filter):
    """aiohttp logs a request it cannot parse (a broken chunk size, a bad header) with a traceback,
    before any handler of ours runs: for a sender's malformed HTTP that is one warning line, as every
    other refusal is. Anything else aiohttp reports (a bug of ours) keeps its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            record.msg = f"{record.getMessage()}: malformed HTTP ({type(exc).__name__}: {exc.message})"
            record.args = ()
            record.exc_info = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


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
    server_log = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _OneLineForBadHttp) for f in server_log.filters):
        server_log.addFilter(_OneLineForBadHttp())
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
