"""Options of the exporters (exporters.*)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from collector_eval.config.checks import ConfigError, check_endpoint, check_positive
from collector_eval.export.backends.base import Backend
from collector_eval.export.backends.datadog import DatadogConfig, build_datadog
from collector_eval.export.backends.langfuse import LangfuseConfig, build_langfuse
from collector_eval.export.backends.phoenix import PhoenixConfig, build_phoenix
from collector_eval.otlp.signals import SPECS, Signal

TRACES_PATH = SPECS[Signal.TRACES].path


class ResultForm(StrEnum):
    """How verdicts go to the OTLP exporters."""

    SPAN = "span"  # carrier spans with gen_ai.evaluation.result span events
    LOG = "log"  # one OTLP log record per result, event gen_ai.evaluation.result, on the judged span


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
    # How verdicts go to every OTLP exporter (otlp, otlp_http, file): carrier spans, log records, or both.
    results_as: list[str] = field(default_factory=lambda: [ResultForm.SPAN.value])

    def validate(self, path: str) -> None:
        if not self.results_as:
            raise ConfigError(f"{path}.results_as: must name at least one of span, log")
        for form in self.results_as:
            if form not in ResultForm.__members__.values():
                raise ConfigError(f"{path}.results_as: {form!r} is not one of span, log")
        if self.endpoint:
            check_endpoint(self.endpoint, f"{path}.endpoint")
        if self.ca_file and self.insecure:
            # Otherwise the CA would be ignored and the exporter would send in plaintext.
            raise ConfigError(f"{path}.ca_file: set, but {path}.insecure is true; set insecure: false to use TLS")
        if self.compression not in ("none", "gzip"):
            raise ConfigError(f"{path}.compression: {self.compression!r} is not one of none, gzip")
        check_positive(self.timeout_s, f"{path}.timeout_s")
        check_positive(self.queue_size, f"{path}.queue_size")
        check_positive(self.num_consumers, f"{path}.num_consumers")
        check_positive(self.max_elapsed_s, f"{path}.max_elapsed_s")


@dataclass
class OtlpHttpExporterConfig:
    # The OTLP/HTTP traces URL, e.g. "http://127.0.0.1:4318/v1/traces"; empty: off.
    endpoint: str = ""
    # Where log records and metrics go; empty: endpoint with its /v1/traces ending made /v1/logs or
    # /v1/metrics (an endpoint with another ending needs these set).
    logs_endpoint: str = ""
    metrics_endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10
    compression: str = "none"  # none | gzip
    # Retry a failed export with exponential backoff for at most this long before dropping (and counting) it.
    max_elapsed_s: float = 300
    # PEM roots that verify an https endpoint's certificate; empty: the system's.
    ca_file: str = ""

    def url(self, signal: Signal) -> str:
        """Where a signal's requests go."""
        if signal == Signal.TRACES:
            return self.endpoint
        explicit = self.logs_endpoint if signal == Signal.LOGS else self.metrics_endpoint
        return explicit or self.endpoint.removesuffix(TRACES_PATH) + SPECS[signal].path

    def validate(self, path: str) -> None:
        for key in ("endpoint", "logs_endpoint", "metrics_endpoint"):
            url = getattr(self, key)
            if url and not url.startswith(("http://", "https://")):
                raise ConfigError(f"{path}.{key}: {url!r} is not an http:// or https:// URL")
        if self.endpoint and not self.endpoint.endswith(TRACES_PATH):
            for key in ("logs_endpoint", "metrics_endpoint"):
                if not getattr(self, key):
                    raise ConfigError(
                        f"{path}.{key}: must be set, {path}.endpoint {self.endpoint!r} does not end with "
                        f"{TRACES_PATH} to derive it from"
                    )
        if self.compression not in ("none", "gzip"):
            raise ConfigError(f"{path}.compression: {self.compression!r} is not one of none, gzip")
        check_positive(self.timeout_s, f"{path}.timeout_s")
        check_positive(self.max_elapsed_s, f"{path}.max_elapsed_s")


@dataclass
class ConsoleExporterConfig:
    # Verdicts to stdout, one JSON object per line; on by itself when no other exporter is configured.
    enabled: bool = False


@dataclass
class FileExporterConfig:
    # Every forwarded request and every verdict appended as OTLP/JSON lines; empty: off.
    path: str = ""


@dataclass
class DestinationConfig:
    """The OTLP exporters of one destination: the default one (exporters.*) or a named one."""

    otlp: OtlpExporterConfig = field(default_factory=OtlpExporterConfig)
    otlp_http: OtlpHttpExporterConfig = field(default_factory=OtlpHttpExporterConfig)
    file: FileExporterConfig = field(default_factory=FileExporterConfig)

    @property
    def downstream_configured(self) -> bool:
        return bool(self.otlp.endpoint or self.otlp_http.endpoint or self.file.path)

    def validate(self, path: str) -> None:
        self.otlp.validate(f"{path}.otlp")
        self.otlp_http.validate(f"{path}.otlp_http")


@dataclass
class NamedExporterConfig(DestinationConfig):
    """exporters.named.<name>: a destination of its own, which only the sessions a forwarding.keep
    rule sends there reach (with their verdicts)."""

    def validate(self, path: str) -> None:
        super().validate(path)
        if not self.downstream_configured:
            raise ConfigError(f"{path}: names no exporter; set otlp.endpoint, otlp_http.endpoint or file.path")


@dataclass
class ExportersConfig(DestinationConfig):
    console: ConsoleExporterConfig = field(default_factory=ConsoleExporterConfig)
    # Exporters by name, for forwarding.keep rules that route the sessions they keep (see
    # NamedExporterConfig); nothing else is sent to them.
    named: dict[str, NamedExporterConfig] = field(default_factory=dict)
    # The evaluation backends: verdicts written natively where their users look, each from its own outbox.
    phoenix: PhoenixConfig = field(default_factory=PhoenixConfig)
    langfuse: LangfuseConfig = field(default_factory=LangfuseConfig)
    datadog: DatadogConfig = field(default_factory=DatadogConfig)

    def validate(self, path: str) -> None:
        super().validate(path)
        self.phoenix.validate(f"{path}.phoenix")
        self.langfuse.validate(f"{path}.langfuse")
        self.datadog.validate(f"{path}.datadog")
        for name, named in self.named.items():
            if not name or not name.replace("_", "").replace("-", "").isalnum():
                # Names travel in a Redis field joined by "," and ":".
                raise ConfigError(f"{path}.named: {name!r} is not a name of letters, digits, _ and -")
            named.validate(f"{path}.named.{name}")

    def build_backends(self) -> list[Backend]:
        """A client for every enabled evaluation backend (its keys read from the environment now)."""
        builders: list[tuple[bool, Callable[[], Backend]]] = [
            (self.phoenix.enabled, lambda: build_phoenix(self.phoenix)),
            (self.langfuse.enabled, lambda: build_langfuse(self.langfuse)),
            (self.datadog.enabled, lambda: build_datadog(self.datadog)),
        ]
        return [build() for enabled, build in builders if enabled]
