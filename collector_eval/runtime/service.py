"""The factory: builds every component from one Config and runs them together."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack

from collector_eval.aio import cancel_all
from collector_eval.config.checks import parse_endpoint
from collector_eval.control.server import start_control_server
from collector_eval.evaluation.evaluators import build_evaluators
from collector_eval.evaluation.judge.client import Judge
from collector_eval.evaluation.judging import SessionJudging
from collector_eval.evaluation.worker import GROUP as EVALUATORS
from collector_eval.evaluation.worker import EvaluationWorker
from collector_eval.export.destinations import Routes, build_destinations
from collector_eval.export.forwarding.options import WithoutSession
from collector_eval.export.options import ResultForm
from collector_eval.export.outbox import GROUP as PUBLISHERS
from collector_eval.export.outbox import BackendPublisher, OutboxPublisher
from collector_eval.ingest.auth import BearerTokenAuth, load_tokens
from collector_eval.ingest.buffer_full import BufferFull
from collector_eval.ingest.forwarder import Forwarder
from collector_eval.ingest.grpc import grpc_handler
from collector_eval.ingest.http import HttpReceiver, start_http_receiver
from collector_eval.ingest.logs import LogsReceiver
from collector_eval.ingest.metrics import MetricsReceiver
from collector_eval.ingest.options import Acknowledge
from collector_eval.ingest.receiver import ReceiverStats, SignalReceiver
from collector_eval.ingest.traces import TraceReceiver
from collector_eval.net.grpc_server import start_grpc_server
from collector_eval.net.tls import server_ssl_context
from collector_eval.runtime.config import Config
from collector_eval.runtime.telemetry import Telemetry
from collector_eval.sessions.buffer import SessionBuffer
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.options import OnBufferFull
from collector_eval.sessions.release import GROUP as RELEASERS
from collector_eval.sessions.release import Releaser
from collector_eval.sessions.router import SessionRouter
from collector_eval.sessions.scripts import load_scripts
from collector_eval.sessions.triggers import DuePoller, Overdue
from collector_eval.store.client import connect
from collector_eval.store.server import EmbeddedRedis
from collector_eval.store.streams import StreamGroup, consumer_identity

log = logging.getLogger(__name__)

DRAIN_TIMEOUT_S = 10


class Service:
    """The service: every component built from one Config, started in order and stopped in reverse
    (an AsyncExitStack records each stop as its component starts, so a failed start stops exactly
    what had started). Attributes are the running components, for telemetry and tests to read."""

    def __init__(self, cfg: Config, process_index: int = 0):
        self.cfg = cfg
        # The same name after a restart, another for each process of `serve` (see consumer_identity).
        self.consumer = consumer_identity(cfg.jobs.consumer_name, process_index)
        self.port = self.http_port = self.control_port = 0
        self.auth: BearerTokenAuth | None = None
        self.telemetry: Telemetry | None = None
        self.forwarder: Forwarder | None = None
        self.publisher: OutboxPublisher | None = None
        self.backend_publishers: list[BackendPublisher] = []
        self.judge: Judge | None = None
        self.jobs: list[StreamGroup] = []  # one per shard
        self.worker: EvaluationWorker | None = None
        self.poller: DuePoller | None = None
        self.releaser: Releaser | None = None  # forwarding.mode on_verdict only
        self.receiver: TraceReceiver | None = None  # gRPC's; its counters are those of all three signals
        self.http_receiver: HttpReceiver | None = None
        self._stack = AsyncExitStack()

    async def start(self) -> None:
        cfg, stack = self.cfg, self._stack
        # Before anything starts: an unreadable tokens_file must not leave a redis-server behind.
        tokens = load_tokens(cfg.receiver.grpc.auth)
        self.auth = BearerTokenAuth(tokens) if tokens else None
        url = cfg.redis.url
        if not url:
            embedded = EmbeddedRedis(cfg.redis.embedded_binary)
            url = await asyncio.to_thread(embedded.start)
            stack.push_async_callback(asyncio.to_thread, embedded.stop)
            log.info("started embedded redis-server at %s", url)
        redis = connect(cfg.redis, url)
        stack.push_async_callback(redis.aclose)
        await redis.ping()
        await load_scripts(redis)
        keys = Keys(cfg.redis.key_prefix, cfg.redis.shard_count)
        self.telemetry = Telemetry(cfg, self, redis, keys)
        holds = cfg.forwarding.holds  # spans wait in Redis for their verdict
        buffer = SessionBuffer(redis, keys, cfg.session, cfg.forwarding.hold_max_s if holds else None)

        exporters = cfg.exporters
        self.forwarder = Forwarder(
            build_destinations(exporters),
            exporters.otlp.queue_size,
            exporters.otlp.num_consumers,
            confirm=cfg.receiver.acknowledge == Acknowledge.FORWARDED,
        )
        self.forwarder.start()
        stack.push_async_callback(self.forwarder.stop, DRAIN_TIMEOUT_S)
        visibility = cfg.jobs.visibility_timeout_s
        # Verdicts get clients of their own: a queue of forwarded spans must not hold them up.
        verdict_destinations = Routes.build(exporters)
        stack.push_async_callback(verdict_destinations.close)
        self.publisher = OutboxPublisher(
            [StreamGroup(redis, shard.outbox, PUBLISHERS, visibility, self.consumer) for shard in keys.shards],
            verdict_destinations,
            exporters.console.enabled or not exporters.downstream_configured,
            cfg.jobs.poll_interval_s,
            as_spans=ResultForm.SPAN in exporters.otlp.results_as,
        )

        self.judge = Judge(cfg.judge)
        stack.push_async_callback(self.judge.aclose)
        self.judge.on_request = self.telemetry.metrics.judge_latency.observe
        evaluators = build_evaluators(cfg.evaluators)
        if not self.judge.enabled and any(ev.needs_judge for ev in evaluators):
            log.warning("judge evaluators are off: %s", self.judge.disabled_reason)

        backends = exporters.build_backends()
        for backend in backends:
            stack.push_async_callback(backend.close)
        self.backend_publishers = [
            BackendPublisher(
                backend,
                [
                    StreamGroup(redis, shard.results(backend.name), PUBLISHERS, visibility, self.consumer)
                    for shard in keys.shards
                ],
                cfg.jobs.poll_interval_s,
            )
            for backend in backends
        ]

        self.jobs = [StreamGroup(redis, shard.jobs, EVALUATORS, visibility, self.consumer) for shard in keys.shards]
        log.info("reading jobs and verdicts as consumer %s", self.consumer)
        judging = SessionJudging(
            evaluators, self.judge, cfg.judge.model, cfg.judge.max_input_tokens, cfg.redaction, cfg.transcript
        )
        self.worker = EvaluationWorker(
            cfg.jobs,
            buffer,
            self.jobs,
            judging,
            tuple(b.name for b in backends),
            result_logs=ResultForm.LOG in exporters.otlp.results_as,
            forwarding=cfg.forwarding if holds else None,
        )
        stack.push_async_callback(self.worker.stop)
        consumers = [self.publisher, *self.backend_publishers]
        if holds:
            # Held spans get clients of their own too: a release waits on no verdict and no arrival.
            span_routes = Routes.build(exporters)
            stack.push_async_callback(span_routes.close)
            self.releaser = Releaser(
                redis,
                keys,
                [StreamGroup(redis, shard.release, RELEASERS, visibility, self.consumer) for shard in keys.shards],
                span_routes.send,
                cfg.jobs.poll_interval_s,
                visibility,
            )
            consumers.append(self.releaser)
        for consumer in consumers:
            stack.push_async_callback(consumer.stop)
        overdue = Overdue(cfg.session, cfg.forwarding.without_session == WithoutSession.DROP) if holds else None
        self.poller = DuePoller(redis, keys, cfg.jobs, overdue)
        tasks = [
            asyncio.create_task(self.poller.run()),
            asyncio.create_task(self.worker.run()),
            *(asyncio.create_task(c.run()) for c in consumers),
        ]
        stack.push_async_callback(cancel_all, tasks)

        # session.on_buffer_full: forward: the truncation marks owed, one set for every receiver.
        full = BufferFull(buffer) if cfg.session.on_buffer_full == OnBufferFull.FORWARD else None

        def receivers() -> list[SignalReceiver]:
            # One set per protocol, sharing its counters, over the same router, buffer and queue.
            stats = ReceiverStats()
            assert self.forwarder is not None and self.poller is not None
            return [
                TraceReceiver(
                    SessionRouter(cfg.session), buffer, self.forwarder, self.poller.wake, stats, full, hold=holds
                ),
                LogsReceiver(buffer, self.forwarder, stats, full),
                MetricsReceiver(self.forwarder, stats),
            ]

        grpc_receivers = receivers()
        self.receiver = next(r for r in grpc_receivers if isinstance(r, TraceReceiver))
        server, self.port = await start_grpc_server(
            cfg.receiver.grpc.endpoint,
            cfg.receiver.grpc.tls,
            [*map(grpc_handler, grpc_receivers), *self.telemetry.grpc_health.handlers()],
            cfg.receiver.grpc.max_recv_msg_size_mib,
            share_port=cfg.processes > 1,
            interceptors=[self.auth] if self.auth else [],
        )
        stack.push_async_callback(server.stop, 2)
        log.info("receiving OTLP/gRPC on %s", _listening(cfg.receiver.grpc.endpoint, self.port))
        if cfg.receiver.http.endpoint:
            self.http_receiver = HttpReceiver(receivers(), cfg.receiver.http.max_request_size_mib, self.auth)
            runner, self.http_port = await start_http_receiver(
                cfg.receiver.http, self.http_receiver, cfg.processes > 1, server_ssl_context(cfg.receiver.grpc.tls)
            )
            stack.push_async_callback(runner.cleanup)
            log.info("receiving OTLP/HTTP on %s", _listening(cfg.receiver.http.endpoint, self.http_port))
        await self.telemetry.start()
        stack.push_async_callback(self.telemetry.stop)
        if self.telemetry.port:
            log.info("metrics and health on %s", _listening(cfg.telemetry.metrics_endpoint, self.telemetry.port))
        if cfg.control.endpoint:
            control, self.control_port = await start_control_server(
                cfg.control.endpoint, cfg.receiver.grpc.tls, cfg.processes > 1, buffer, self.auth
            )
            stack.push_async_callback(control.stop, 1)
            log.info("control API on %s", _listening(cfg.control.endpoint, self.control_port))

    async def stop(self) -> None:
        await self._stack.aclose()


def _listening(endpoint: str, port: int) -> str:
    """The configured host with the port actually bound (port 0 in the config: the one picked)."""
    host, _ = parse_endpoint(endpoint)
    return f"{host}:{port}"
