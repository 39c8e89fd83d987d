"""Options of session routing, buffering and triggers (session.*, jobs.*)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from collector_eval.config.checks import ConfigError, check_non_negative, check_positive
from collector_eval.otlp._spans import MAX_KEYS


@dataclass
class EndMarkerConfig:
    attribute: str = "session_status"
    value: str = "completed"
    # List-valued attributes searched for the string "attribute:value" (OpenInference, Datadog tags).
    tag_attributes: list[str] = field(default_factory=lambda: ["tag.tags", "tags"])

    def validate(self, path: str) -> None:
        if not self.attribute:
            raise ConfigError(f"{path}.attribute: must not be empty")
        if len(self.tag_attributes) >= MAX_KEYS:
            raise ConfigError(f"{path}.tag_attributes: at most {MAX_KEYS - 1} keys, not {len(self.tag_attributes)}")


class OnBufferFull(StrEnum):
    """What a receiver does with a request Redis has no memory for (session.on_buffer_full)."""

    REFUSE = "refuse"  # UNAVAILABLE / 503: the sender retries, telemetry waits with it
    FORWARD = "forward"  # forwarded and acknowledged unbuffered; its sessions marked truncated


@dataclass
class SessionConfig:
    id_attributes: list[str] = field(
        default_factory=lambda: [
            "session.id",
            "gen_ai.conversation.id",
            "langfuse.session.id",
            "traceloop.association.properties.session_id",
            # Vercel AI SDK: experimental_telemetry.metadata.sessionId, on every ai.* span
            "ai.telemetry.metadata.sessionId",
            # MLflow: a `session_id` trace tag, on each trace's root span only
            "mlflow.traceTag.session_id",
        ]
    )
    tenant_attribute: str = "service.name"
    end: EndMarkerConfig = field(default_factory=EndMarkerConfig)
    settle_delay_s: float = 2
    # How long a session's spans are kept after its last span arrived.
    ttl_s: float = 86400
    # How long spans of a trace that has not (yet) joined a session are kept.
    orphan_trace_ttl_s: float = 600
    max_spans: int = 10000
    max_bytes: int = 32 * 1024 * 1024
    # Longer session ids are refused per span (partial_success), not truncated: a cut id could merge sessions.
    max_id_length: int = 256
    # Spans arriving after a session was judged: "reevaluate" judges it again as a new revision;
    # "ignore" keeps them (a later end span still judges them) without a new verdict of their own.
    late_spans: str = "reevaluate"
    # Judge a session that received no span for this long, ended or not (0: off).
    idle_timeout_s: float = 0
    # Judge a session this long after its first span, ended or not, and again each period (0: off).
    max_duration_s: float = 0
    # How buffered spans are kept in Redis: "lz4" (compressed) or "none".
    compression: str = "lz4"
    # Redis at its maxmemory (noeviction): "refuse" answers UNAVAILABLE, so telemetry stops with the
    # buffer; "forward" keeps telemetry flowing and loses only the evaluation of what was not buffered.
    on_buffer_full: str = "refuse"

    def validate(self, path: str) -> None:
        if self.compression not in ("lz4", "none"):
            raise ConfigError(f"{path}.compression: {self.compression!r} is not one of lz4, none")
        if self.on_buffer_full not in tuple(OnBufferFull):
            raise ConfigError(f"{path}.on_buffer_full: {self.on_buffer_full!r} is not one of {', '.join(OnBufferFull)}")
        if self.late_spans not in ("reevaluate", "ignore"):
            raise ConfigError(f"{path}.late_spans: {self.late_spans!r} is not one of reevaluate, ignore")
        check_non_negative(self.idle_timeout_s, f"{path}.idle_timeout_s")
        check_non_negative(self.max_duration_s, f"{path}.max_duration_s")
        if not self.id_attributes:
            raise ConfigError(f"{path}.id_attributes: must list at least one attribute key")
        if len(self.id_attributes) > MAX_KEYS:
            raise ConfigError(f"{path}.id_attributes: at most {MAX_KEYS} keys, not {len(self.id_attributes)}")
        if not self.tenant_attribute:
            raise ConfigError(f"{path}.tenant_attribute: must not be empty")
        check_non_negative(self.settle_delay_s, f"{path}.settle_delay_s")
        for name in ("ttl_s", "orphan_trace_ttl_s", "max_spans", "max_bytes", "max_id_length"):
            check_positive(getattr(self, name), f"{path}.{name}")


@dataclass
class JobsConfig:
    stream_max_len: int = 100000
    # How often sessions past their settle delay are moved to the job stream (and how long a worker
    # blocks waiting for a job).
    poll_interval_s: float = 0.2
    # Sessions judged at once by one process.
    workers: int = 8
    # How long after its process died a job (or an outbox entry) is taken over by another process.
    # A live process keeps the claims on what it works on fresh (every sixth of this), so a judge
    # call longer than this is never taken over; 30 s rather than minutes, since no judge call has
    # to fit in it any more, only a stall of the process's event loop.
    visibility_timeout_s: float = 30
    # This process's name in the stream groups, followed by its process index: "" takes $HOSTNAME,
    # else the host name (the pod name on Kubernetes). Stable across restarts, so a restarted
    # process takes back its own pending jobs at once; two live hosts must never share it.
    consumer_name: str = ""
    # Verdicts waiting for the downstream (the outbox stream). When full, new verdicts wait in their
    # jobs (counted and logged as outbox overflow) until the downstream drains it.
    outbox_max_len: int = 100000

    def validate(self, path: str) -> None:
        check_positive(self.stream_max_len, f"{path}.stream_max_len")
        check_positive(self.poll_interval_s, f"{path}.poll_interval_s")
        check_positive(self.workers, f"{path}.workers")
        check_positive(self.visibility_timeout_s, f"{path}.visibility_timeout_s")
        check_positive(self.outbox_max_len, f"{path}.outbox_max_len")
