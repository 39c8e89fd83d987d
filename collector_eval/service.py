"""The factory: builds every component from one Config and runs them together."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from collector_eval.aio import cancel_all
from collector_eval.auth import BearerTokenAuth, load_tokens
from collector_eval.config import Config
from collector_eval.control.server import start_control_server
from collector_eval.evaluators import build_evaluators
from collector_eval.export.destinations import build_destinations
from collector_eval.export.outbox import GROUP as PUBLISHERS
from collector_eval.export.outbox import OutboxPublisher
from collector_eval.forwarder import Forwarder
from collector_eval.http_receiver import HttpTraceReceiver, start_http_receiver
from collector_eval.jobs import StreamGroup
from collector_eval.judge import Judge
from collector_eval.receiver import TraceReceiver, start_grpc_server
from collector_eval.redis_client import Client, connect
from collector_eval.redis_server import EmbeddedRedis
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.router import SessionRouter
from collector_eval.sessions.scripts import load_scripts
from collector_eval.sessions.triggers import DuePoller
from collector_eval.telemetry import Telemetry
from collector_eval.tls import server_ssl_context
from collector_eval.worker import GROUP as EVALUATORS
from collector_eval.worker import EvaluationWorker

log = logging.getLogger("collector_eval")

DRAIN_TIMEOUT_S = 10


@dataclass
class Service:
    cfg: Config
    port: int = 0
    receiver: TraceReceiver | None = None
    worker: EvaluationWorker | None = None
    publisher: OutboxPublisher | None = None
    _verdict_destinations: list = field(default_factory=list)
    judge: Judge | None = None
    auth: BearerTokenAuth | None = None
    _embedded: EmbeddedRedis | None = None
    _redis: Client | None = None
    _server: object = None
    control_port: int = 0
    _control_server: object = None
    _forwarder: Forwarder | None = None
    http_receiver: HttpTraceReceiver | None = None
    http_port: int = 0
    _http_runner: object = None
    telemetry: Telemetry | None = None
    poller: DuePoller | None = None
    jobs: list[StreamGroup] = field(default_factory=list)  # one per shard
    _tasks: list[asyncio.Task] = field(default_factory=list)

    async def start(self) -> None:
        cfg = self.cfg
        # Before anything starts: an unreadable tokens_file must not leave a redis-server behind.
        tokens = load_tokens(cfg.receiver.grpc.auth)
        self.auth = BearerTokenAuth(tokens) if tokens else None
        url = cfg.redis.url
        if not url:
            self._embedded = EmbeddedRedis(cfg.redis.embedded_binary)
            url = await asyncio.to_thread(self._embedded.start)
            log.info("started embedded redis-server at %s", url)
        self._redis = connect(cfg.redis, url)
        await self._redis.ping()
        await load_scripts(self._redis)
        keys = Keys(cfg.redis.key_prefix, cfg.redis.shard_count)
        self.telemetry = Telemetry(cfg, self, self._redis, keys)
        buffer = SessionBuffer(self._redis, keys, cfg.session)

        exporters = cfg.exporters
        self._forwarder = Forwarder(
            build_destinations(exporters),
            exporters.otlp.queue_size,
            exporters.otlp.num_consumers,
            confirm=cfg.receiver.acknowledge == "forwarded",
        )
        self._forwarder.start()
        visibility = cfg.jobs.visibility_timeout_s
        # Verdicts get clients of their own: a queue of forwarded spans must not hold them up.
        self._verdict_destinations = build_destinations(exporters)
        self.publisher = OutboxPublisher(
            [StreamGroup(self._redis, shard.outbox, PUBLISHERS, visibility) for shard in keys.shards],
            self._verdict_destinations,
            exporters.console.enabled or not exporters.downstream_configured,
            cfg.jobs.poll_interval_s,
        )

        self.judge = Judge(cfg.judge)
        self.judge.on_request = self.telemetry.metrics.judge_latency.observe
        evaluators = build_evaluators(cfg.evaluators)
        if not self.judge.enabled and any(ev.needs_judge for ev in evaluators):
            log.warning("judge evaluators are off: %s", self.judge.disabled_reason)

        self.jobs = [StreamGroup(self._redis, shard.jobs, EVALUATORS, visibility) for shard in keys.shards]
        self.worker = EvaluationWorker(cfg, buffer, self.jobs, evaluators, self.judge)
        self.poller = DuePoller(self._redis, keys, cfg.jobs)
        self._tasks = [
            asyncio.create_task(self.poller.run()),
            asyncio.create_task(self.worker.run()),
            asyncio.create_task(self.publisher.run()),
        ]
        self.receiver = TraceReceiver(SessionRouter(cfg.session), buffer, self._forwarder, self.poller.wake)
        self._server, self.port = await start_grpc_server(
            cfg.receiver.grpc,
            [self.receiver.handler(), *self.telemetry.grpc_health.handlers()],
            share_port=cfg.processes > 1,
            interceptors=[self.auth] if self.auth else [],
        )
        log.info("receiving OTLP/gRPC on %s", cfg.receiver.grpc.endpoint.rsplit(":", 1)[0] + f":{self.port}")
        if cfg.receiver.http.endpoint:
            # A TraceReceiver of its own (counters per protocol) over the same router, buffer and queue.
            self.http_receiver = HttpTraceReceiver(
                TraceReceiver(SessionRouter(cfg.session), buffer, self._forwarder, self.poller.wake),
                cfg.receiver.http.max_request_size_mib,
                self.auth,
            )
            self._http_runner, self.http_port = await start_http_receiver(
                cfg.receiver.http, self.http_receiver, cfg.processes > 1, server_ssl_context(cfg.receiver.grpc.tls)
            )
            log.info("receiving OTLP/HTTP on %s", cfg.receiver.http.endpoint.rsplit(":", 1)[0] + f":{self.http_port}")
        await self.telemetry.start()
        if self.telemetry.port:
            log.info("metrics and health on %s", cfg.telemetry.metrics_endpoint.rsplit(":", 1)[0] + f":{self.telemetry.port}")
        if cfg.control.endpoint:
            self._control_server, self.control_port = await start_control_server(cfg, buffer, self.auth)
            log.info("control API on %s", cfg.control.endpoint.rsplit(":", 1)[0] + f":{self.control_port}")

    @property
    def forwarder(self) -> Forwarder | None:
        return self._forwarder

    async def stop(self) -> None:
        if self.telemetry is not None:
            await self.telemetry.stop()
        if self._http_runner is not None:
            await self._http_runner.cleanup()
        if self._control_server is not None:
            await self._control_server.stop(grace=1)
        if self._server is not None:
            await self._server.stop(grace=2)
        await cancel_all(self._tasks)
        if self.worker is not None:
            await self.worker.stop()
        if self._forwarder is not None:
            await self._forwarder.stop(DRAIN_TIMEOUT_S)
        for destination in self._verdict_destinations:
            await destination.close()
        if self.judge is not None:
            await self.judge.aclose()
        if self._redis is not None:
            await self._redis.aclose()
        if self._embedded is not None:
            await asyncio.to_thread(self._embedded.stop)

