"""`collector-eval serve`: run the service, in one process or several sharing the port."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import subprocess
import sys

import uvloop

from collector_eval.runtime import logs, secrets
from collector_eval.runtime.config import load_config
from collector_eval.store.client import REDIS_ERRORS
from collector_eval.store.server import EmbeddedRedis, RedisServerError

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    serve = sub.add_parser("serve", help="run the service (OTLP/gRPC in, spans and verdicts out)")
    serve.add_argument(
        "--config", metavar="FILE", help="YAML config file; every key is optional (default: built-in defaults)"
    )
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument(
        "--log-format",
        default="json",
        choices=["json", "text"],
        help="stderr logs: one JSON object per line (default), or text",
    )
    # Set by the first process for the others it starts when `processes` > 1.
    serve.add_argument("--redis-url", help=argparse.SUPPRESS)
    serve.add_argument("--process-index", type=int, default=0, help=argparse.SUPPRESS)
    serve.set_defaults(
        run=lambda args: serve_until_stopped(
            args.config, args.log_level, args.redis_url, args.log_format, args.process_index
        )
    )


def serve_until_stopped(
    config_path: str | None,
    log_level: str,
    redis_url: str | None,
    log_format: str = "json",
    process_index: int = 0,
) -> int:
    # Here, not at the top: the other commands (and --help) need not import the service and openai.
    from collector_eval.runtime.service import Service

    cfg = load_config(config_path)
    logs.configure(log_level, log_format)
    # Before the first record: tokens, header values and the judge's key never reach the log.
    secrets.install(secrets.collect_secrets(cfg))
    embedded: EmbeddedRedis | None = None
    others: list[subprocess.Popen] = []

    async def run() -> None:
        service = Service(cfg, process_index)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        # A process started by the first one stops when the first dies: the restarted first starts
        # processes under the same consumer names, which must never be two live processes'.
        watch = asyncio.create_task(_stop_when_orphaned(stop)) if process_index else None
        try:
            await service.start()
        except BaseException:
            # A failed start (port taken, Redis unreachable) must not leave an embedded redis-server behind.
            await service.stop()
            raise
        # What start-up allocated lives as long as the process: out of the collector's sight, full
        # collections no longer walk it, which took Export acknowledgements' p99 from 43-86 ms to 18-19 ms.
        gc.freeze()
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            if watch is not None:
                watch.cancel()
            await service.stop()

    try:
        if redis_url:
            cfg.redis.url = redis_url
            # A process started by the first one: the first serves the telemetry endpoint; counters
            # are per process, so they would differ from scrape to scrape on a shared port.
            cfg.telemetry.metrics_endpoint = ""
        elif cfg.processes > 1:
            if not cfg.redis.url:
                # One embedded Redis for all processes, owned by this one.
                embedded = EmbeddedRedis(cfg.redis.embedded_binary)
                cfg.redis.url = embedded.start()
            command = [
                sys.executable,
                "-m",
                "collector_eval.cli",
                "serve",
                "--log-level",
                log_level,
                "--log-format",
                log_format,
            ]
            command += ["--redis-url", cfg.redis.url] + (["--config", config_path] if config_path else [])
            # Each with its index: its consumer name is <host>-<index>, the same after a restart.
            others = [subprocess.Popen([*command, "--process-index", str(i)]) for i in range(1, cfg.processes)]
        # uvloop: the same asyncio, a fifth more spans a second through the service (bench/ingest.py,
        # every span its own trace, alternated runs: 64,000-76,000 with asyncio's own loop, 86,000-89,000).
        uvloop.run(run())
    except (
        OSError,
        RuntimeError,
        RedisServerError,
        *REDIS_ERRORS,
    ) as exc:  # grpc: RuntimeError on a port it cannot bind
        print(f"collector-eval: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in others:
            proc.send_signal(signal.SIGTERM)
        for proc in others:
            proc.wait()
        if embedded is not None:
            embedded.stop()
    return 0


async def _stop_when_orphaned(stop: asyncio.Event) -> None:
    parent = os.getppid()
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.warning("the first process is gone; stopping")
    stop.set()
