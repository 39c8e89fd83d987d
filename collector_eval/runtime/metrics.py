"""Prometheus metrics of one Service, in a registry of its own (tests run several services in one
process, and a process-wide registry would mix their figures).

The components keep plain counters (ReceiverStats, Forwarder.forwarded, EvaluationWorker.
evaluations, ...) that a collector reads at scrape time: they need no metrics library and pay nothing
between scrapes. Figures that live in Redis (the job stream, the outbox) are read just before each
scrape by refresh(). Only the judge's latency is observed as it happens, into a histogram.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import ResponseError

from collector_eval.evaluation.worker import GROUP as EVALUATORS
from collector_eval.evaluation.worker import EvaluationWorker
from collector_eval.export.outbox import BackendPublisher, OutboxPublisher
from collector_eval.ingest.auth import BearerTokenAuth
from collector_eval.ingest.forwarder import Forwarder
from collector_eval.ingest.http import HttpReceiver
from collector_eval.ingest.receiver import ReceiverStats
from collector_eval.ingest.traces import TraceReceiver
from collector_eval.model import NO_RULE, Forwarding
from collector_eval.otlp.signals import Signal
from collector_eval.sessions.keys import Keys
from collector_eval.sessions.release import Releaser
from collector_eval.sessions.triggers import DuePoller
from collector_eval.store.client import REDIS_ERRORS, Client
from collector_eval.store.streams import StreamGroup


class Watched(Protocol):
    """What the metrics read of a running service: each component keeps its own counters, and the
    collector reads them at scrape time (no counter is copied, so none can drift)."""

    receiver: TraceReceiver | None
    http_receiver: HttpReceiver | None
    auth: BearerTokenAuth | None
    forwarder: Forwarder | None
    worker: EvaluationWorker | None
    jobs: list[StreamGroup]
    publisher: OutboxPublisher | None
    backend_publishers: list[BackendPublisher]
    poller: DuePoller | None
    releaser: Releaser | None


log = logging.getLogger(__name__)

PREFIX = "collector_eval"
# Judge calls take from a fraction of a second (a small local model) to minutes (retries, long sessions).
JUDGE_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
REDIS_TIMEOUT_S = 2


@dataclass
class RedisFigures:
    up: bool = False
    jobs_queued: int = 0
    jobs_pending: int = 0
    outbox_depth: int = 0
    outbox_overflows: int = 0
    sessions_held: int = 0  # forwarding.mode on_verdict: sessions holding spans, without a verdict yet
    # Per evaluation backend: verdicts waiting in its outbox, and verdicts it missed for a full one.
    backend_depth: dict[str, int] = field(default_factory=dict)
    backend_overflows: dict[str, int] = field(default_factory=dict)
    errors: int = 0  # failed refreshes


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=lambda: CollectorRegistry(auto_describe=True))
    redis_figures: RedisFigures = field(default_factory=RedisFigures)

    def __post_init__(self) -> None:
        self.judge_latency = Histogram(
            f"{PREFIX}_judge_request_duration_seconds",
            "Duration of one request to the judge server (each retry is a request of its own).",
            buckets=JUDGE_LATENCY_BUCKETS,
            registry=self.registry,
        )

    def watch(self, service: Watched) -> None:
        """Expose the counters of service's components (read at each scrape, so components started
        later are seen too)."""
        self.registry.register(_ServiceCollector(service, self.redis_figures))

    async def refresh(self, client: Client, keys: Keys, backends: list[str]) -> None:
        """Read the job stream and outbox figures from Redis; on failure keep none (redis_up 0)."""
        figures = self.redis_figures
        try:
            jobs_queued, outbox_depth, overflows, held, pending = await asyncio.wait_for(
                _read(client, keys), REDIS_TIMEOUT_S
            )
            depth, backend_overflows = await asyncio.wait_for(_read_backends(client, keys, backends), REDIS_TIMEOUT_S)
        except (TimeoutError, *REDIS_ERRORS, OSError) as exc:
            figures.up = False
            figures.errors += 1
            log.debug("metrics: cannot read Redis figures: %s", exc)
            return
        figures.up = True
        figures.jobs_queued, figures.jobs_pending = int(jobs_queued), int(pending)
        figures.outbox_depth, figures.outbox_overflows = int(outbox_depth), int(overflows or 0)
        figures.sessions_held = int(held)
        figures.backend_depth, figures.backend_overflows = depth, backend_overflows

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


async def _read(client: Client, keys: Keys) -> tuple:
    """Job, outbox and hold figures summed over the shards."""
    pipe = client.pipeline(transaction=False)
    for shard in keys.shards:
        pipe.xlen(shard.jobs)
        pipe.xlen(shard.outbox)
        pipe.get(shard.outbox_overflow)
        pipe.zcard(shard.hold)
    replies = await pipe.execute()
    jobs_queued, outbox_depth = sum(replies[0::4]), sum(replies[1::4])
    overflows = sum(int(n or 0) for n in replies[2::4])
    held = sum(replies[3::4])
    pending = 0
    for shard in keys.shards:
        try:
            pending += (await client.xpending(shard.jobs, EVALUATORS))["pending"]
        except ResponseError:  # NOGROUP: no worker has read the stream yet
            pass
    return jobs_queued, outbox_depth, overflows, held, pending


async def _read_backends(client: Client, keys: Keys, backends: list[str]) -> tuple[dict[str, int], dict[str, int]]:
    """Each evaluation backend's outbox depth and overflows, summed over the shards."""
    pipe = client.pipeline(transaction=False)
    for name in backends:
        for shard in keys.shards:
            pipe.xlen(shard.results(name))
            pipe.get(shard.results_overflow(name))
    replies = iter(await pipe.execute())
    depth: dict[str, int] = {}
    overflows: dict[str, int] = {}
    for name in backends:
        for _ in keys.shards:
            depth[name] = depth.get(name, 0) + int(next(replies))
            overflows[name] = overflows.get(name, 0) + int(next(replies) or 0)
    return depth, overflows


# A counter's label values: a tuple of strings, one per label (a Mapping's key type does not widen).
_Labels = TypeVar("_Labels", bound=tuple[str, ...])


def _counter(name: str, doc: str, labels: list[str], values: Mapping[_Labels, float]) -> Metric:
    family = CounterMetricFamily(f"{PREFIX}_{name}", doc, labels=labels)
    for label_values, value in values.items():
        family.add_metric(list(label_values), value)
    return family


def _gauge(name: str, doc: str, value: float) -> Metric:
    return GaugeMetricFamily(f"{PREFIX}_{name}", doc, value=value)


class _ServiceCollector(Collector):
    def __init__(self, service: Watched, redis_figures: RedisFigures):
        self._service = service
        self._redis = redis_figures

    def collect(self) -> Iterator[Metric]:
        svc = self._service
        receivers = {"grpc": svc.receiver, "http": svc.http_receiver}
        stats = {protocol: r.stats for protocol, r in receivers.items() if r is not None}
        grpc_unauthenticated = svc.auth.refused if svc.auth is not None else 0

        yield _counter(
            "spans_received",
            "Spans accepted: buffered in Redis and queued for forwarding.",
            ["protocol"],
            {(p,): s.spans for p, s in stats.items()},
        )
        yield _counter(
            "log_records_received",
            "Log records accepted: queued for forwarding, those with a trace id buffered with their trace.",
            ["protocol"],
            {(p,): s.log_records for p, s in stats.items()},
        )
        yield _counter(
            "metric_points_received",
            "Metric data points accepted: queued for forwarding.",
            ["protocol"],
            {(p,): s.data_points for p, s in stats.items()},
        )
        spans_refused: dict[tuple[str, ...], float] = {}
        requests_refused: dict[tuple[str, ...], float] = {}
        for p, s in stats.items():
            spans_refused[(p, "rejected")] = s.rejected_spans
            spans_refused[(p, "unavailable")] = s.refused_unavailable_spans
            requests_refused[(p, "invalid")] = s.refused_invalid
            requests_refused[(p, "unavailable")] = s.refused_unavailable
            requests_refused[(p, "too_large")] = s.refused_too_large
            unauthenticated = grpc_unauthenticated if p == "grpc" else s.refused_unauthenticated
            requests_refused[(p, "unauthenticated")] = unauthenticated
        yield _counter(
            "spans_refused",
            "Spans of decodable requests not accepted: rejected one by one (partial_success), or in a "
            "request refused as unavailable (the sender retries them).",
            ["protocol", "reason"],
            spans_refused,
        )
        yield _counter(
            "requests_refused", "Export requests refused whole, by reason.", ["protocol", "reason"], requests_refused
        )
        # session.on_buffer_full: forward: what Redis had no memory for went on without it.
        yield _counter(
            "requests_unbuffered",
            "Export requests acknowledged and forwarded without being buffered: Redis was full and "
            "session.on_buffer_full is forward (their sessions are marked truncated).",
            ["protocol"],
            {(p,): s.unbuffered_requests for p, s in stats.items()},
        )
        yield _counter(
            "spans_unbuffered",
            "Spans acknowledged and forwarded without being buffered (Redis full, session.on_buffer_full: forward).",
            ["protocol"],
            {(p,): s.unbuffered_spans for p, s in stats.items()},
        )
        yield _counter(
            "log_records_unbuffered",
            "Log records naming a trace acknowledged and forwarded without being buffered with it (Redis "
            "full, session.on_buffer_full: forward).",
            ["protocol"],
            {(p,): s.unbuffered_log_records for p, s in stats.items()},
        )
        yield _counter(
            "sessions_buffered",
            "Sessions that received spans, counted once per Export request.",
            [],
            {(): sum(s.sessions for s in stats.values())},
        )

        forwarder = svc.forwarder
        if forwarder is not None:
            forwarded, dropped = forwarder.forwarded, forwarder.dropped
            yield _counter("spans_forwarded", "Spans the downstream accepted.", [], {(): forwarded[Signal.TRACES]})
            yield _counter(
                "spans_forward_dropped",
                "Spans given up on after exporters.otlp.max_elapsed_s of retries, or refused by the downstream.",
                [],
                {(): dropped[Signal.TRACES]},
            )
            yield _counter(
                "items_forwarded",
                "Spans, log records and metric data points the downstream accepted, by signal.",
                ["signal"],
                {(signal.value,): forwarded[signal] for signal in Signal},
            )
            yield _counter(
                "items_forward_dropped",
                "Spans, log records and metric data points given up on, by signal.",
                ["signal"],
                {(signal.value,): dropped[signal] for signal in Signal},
            )
            yield _gauge("forward_queue_depth", "Export requests waiting to be forwarded.", forwarder.depth)

        worker = svc.worker
        if worker is not None:
            yield _counter(
                "evaluations",
                "Evaluator runs, by evaluator and outcome (ok, error, skipped).",
                ["evaluator", "outcome"],
                dict(worker.evaluations),
            )
            yield _counter(
                "judge_tokens",
                "Judge tokens spent, failed attempts included.",
                ["type"],
                {("input",): worker.judge_tokens["input"], ("output",): worker.judge_tokens["output"]},
            )
            yield _counter("verdicts", "Verdicts committed to the outbox.", [], {(): worker.verdicts})
        if svc.jobs:
            yield _counter(
                "jobs_reclaimed",
                "Jobs taken over from a consumer that died.",
                [],
                {(): sum(j.reclaimed for j in svc.jobs)},
            )
        publisher = svc.publisher
        if publisher is not None:
            yield _counter(
                "verdicts_published", "Verdicts the downstream (or stdout) took.", [], {(): publisher.published}
            )
            yield _counter("verdicts_dropped", "Verdicts the downstream refused outright.", [], {(): publisher.dropped})
        # Every family even with no backend on: a dashboard's query finds it, at zero.
        backends = svc.backend_publishers
        yield _counter(
            "backend_results_sent",
            "Results an evaluation backend took, by backend.",
            ["backend"],
            {(p.backend.name,): p.sent for p in backends},
        )
        yield _counter(
            "backend_retries",
            "Attempts an evaluation backend asked to retry (429, 5xx, no connection), by backend.",
            ["backend"],
            {(p.backend.name,): p.retried for p in backends},
        )
        yield _counter(
            "backend_results_failed",
            "Results an evaluation backend refused outright, by backend.",
            ["backend"],
            {(p.backend.name,): p.failed for p in backends},
        )

        yield from _forwarding(svc, stats)

        redis_errors = {
            ("receiver",): sum(s.redis_errors for s in stats.values()),
            ("worker",): worker.redis_errors if worker is not None else 0,
            ("outbox",): (publisher.redis_errors if publisher is not None else 0)
            + sum(p.redis_errors for p in svc.backend_publishers),
            ("triggers",): svc.poller.redis_errors if svc.poller is not None else 0,
            ("releaser",): svc.releaser.redis_errors if svc.releaser is not None else 0,
            ("metrics",): self._redis.errors,
        }
        yield _counter("redis_errors", "Redis commands that failed, by component.", ["component"], redis_errors)

        figures = self._redis
        yield _gauge("redis_up", "1 when Redis answered the figures read for this scrape.", int(figures.up))
        if figures.up:
            yield _gauge(
                "jobs_queued", "Evaluation jobs in the job stream (waiting or being judged).", figures.jobs_queued
            )
            yield _gauge(
                "jobs_pending", "Evaluation jobs taken by a worker and not yet acknowledged.", figures.jobs_pending
            )
            yield _gauge("outbox_depth", "Verdicts in the outbox waiting for the downstream.", figures.outbox_depth)
            yield _gauge(
                "forwarding_sessions_held",
                "Sessions holding spans in Redis without a verdict yet (forwarding.mode on_verdict, all replicas).",
                figures.sessions_held,
            )
            yield _counter(
                "outbox_overflows",
                "Verdicts that waited because the outbox was full (all replicas).",
                [],
                {(): figures.outbox_overflows},
            )
            depth = GaugeMetricFamily(
                f"{PREFIX}_backend_queue_depth",
                "Verdicts waiting in an evaluation backend's outbox (all replicas), by backend.",
                labels=["backend"],
            )
            for name, value in figures.backend_depth.items():
                depth.add_metric([name], value)
            yield depth
            yield _counter(
                "backend_overflows",
                "Verdicts an evaluation backend missed because its outbox was full (all replicas), by backend.",
                ["backend"],
                {(name,): n for name, n in figures.backend_overflows.items()},
            )


def _forwarding(svc: Watched, stats: Mapping[str, ReceiverStats]) -> Iterator[Metric]:
    """forwarding.mode on_verdict: where every held span went. Every family even in immediate mode,
    at zero: a dashboard's query finds it."""
    worker, poller, releaser = svc.worker, svc.poller, svc.releaser
    yield _counter(
        "spans_held",
        "Spans accepted and held in Redis for their session's verdict (not forwarded on arrival).",
        ["protocol"],
        {(p,): s.held_spans for p, s in stats.items()},
    )
    decisions: Counter[tuple[str, str]] = Counter(worker.decisions if worker is not None else {})
    if poller is not None:
        decisions[(Forwarding.KEPT.value, str(NO_RULE))] += poller.sessions_overdue
    yield _counter(
        "forwarding_sessions",
        "Forwarding decisions, by decision and the index of the keep rule that made it (-1: no rule "
        "matched, or, kept, no verdict within forwarding.hold_max_s).",
        ["decision", "rule"],
        decisions,
    )
    yield _counter(
        "forwarding_spans_dropped",
        "Held spans dropped by a decision, by the keep rule that decided (-1: none matched).",
        ["rule"],
        {(rule,): n for rule, n in (worker.spans_dropped if worker is not None else {}).items()},
    )
    kept = releaser.spans_kept if releaser is not None else 0
    yield _counter("forwarding_spans_kept", "Held spans of kept sessions the downstream took.", [], {(): kept})
    yield _counter(
        "forwarding_bytes_kept",
        "Bytes (OTLP, uncompressed) of held spans of kept sessions the downstream took.",
        [],
        {(): releaser.bytes_kept if releaser is not None else 0},
    )
    yield _counter(
        "forwarding_spans_late",
        "Of forwarding_spans_kept, the spans that arrived after their session was kept.",
        [],
        {(): releaser.spans_late if releaser is not None else 0},
    )
    yield _counter(
        "forwarding_spans_refused",
        "Held spans a downstream refused outright on release (not retried).",
        [],
        {(): releaser.spans_refused if releaser is not None else 0},
    )
    yield _counter(
        "forwarding_traces_without_session",
        "Traces whose orphan TTL passed without a session: forwarded or dropped (forwarding.without_session).",
        ["outcome"],
        {
            ("forwarded",): poller.traces_forwarded if poller is not None else 0,
            ("dropped",): poller.traces_dropped if poller is not None else 0,
        },
    )
    yield _counter(
        "forwarding_spans_without_session",
        "Spans of traces without a session the downstream took.",
        [],
        {(): releaser.spans_without_session if releaser is not None else 0},
    )
